//! Resource packs: prepaid volume of one billable item, valid for a period.
//!
//! A pack covers usage that is left after an annual package's daily quota and before
//! pay-as-you-go: rating takes what a line would price off the packs of its item that are valid
//! on its usage day, earliest expiry first, then the smallest remaining volume, then the oldest
//! pack. A pack counts the quantity priced (at the dimension it is priced at) one for one, so
//! usage a package counts several times past its quota draws the same count from a pack.

use jiff::civil::Date;

use crate::money::Quantity;
use crate::period::Validity;

/// One pack an account holds, as rating draws on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pack {
    /// The account's number of the pack (`RP-<no>`).
    pub no: i64,
    /// The billable item it covers.
    pub item: String,
    pub validity: Validity,
    /// The volume bought or granted.
    pub volume: Quantity,
    pub remaining: Quantity,
}

impl Pack {
    /// Whether the pack can cover usage of `item` on `day`.
    fn covers(&self, item: &str, day: Date) -> bool {
        self.remaining.is_positive() && self.item == item && self.validity.covers(day)
    }

    /// The share of the volume used, in whole percent rounded down.
    pub fn used_percent(&self) -> i64 {
        if !self.volume.is_positive() {
            return 100;
        }
        let used = i128::from((self.volume - self.remaining).0);
        i64::try_from(used * 100 / i128::from(self.volume.0)).expect("a share of at most 100")
    }
}

/// What a line took from one pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackDraw {
    pub pack_no: i64,
    pub quantity: Quantity,
}

/// The packs of one account while its days are rated. Most accounts hold none: rating asks
/// `is_empty` before anything else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackPool {
    pub packs: Vec<Pack>,
}

/// A milestone a pack reached while it was drawn on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackMilestone {
    /// 80 % of the volume is used.
    MostlyUsed,
    /// Nothing is left.
    UsedUp,
}

impl PackMilestone {
    pub fn event_kind(self) -> &'static str {
        match self {
            PackMilestone::MostlyUsed => "resource_pack.used_80",
            PackMilestone::UsedUp => "resource_pack.used_up",
        }
    }
}

/// The milestones passed going from `before` to `after` remaining of `volume`, in the order
/// they were reached.
pub fn milestones(volume: Quantity, before: Quantity, after: Quantity) -> Vec<PackMilestone> {
    // 80 % used: at most a fifth remains.
    let mostly = |left: Quantity| i128::from(left.0) * 5 <= i128::from(volume.0);
    let mut passed = Vec::new();
    if !mostly(before) && mostly(after) {
        passed.push(PackMilestone::MostlyUsed);
    }
    if before.is_positive() && !after.is_positive() {
        passed.push(PackMilestone::UsedUp);
    }
    passed
}

impl PackPool {
    pub fn new(packs: Vec<Pack>) -> PackPool {
        for p in &packs {
            assert!(!p.remaining.is_negative() && p.remaining <= p.volume, "pack RP-{} keeps 0 to its volume", p.no);
        }
        PackPool { packs }
    }

    pub fn is_empty(&self) -> bool {
        self.packs.is_empty()
    }

    /// Covers up to `wanted` of `item` used on `day` from the packs valid then, earliest
    /// expiry first, then the smallest remaining, then the oldest; appends what each pack gave
    /// to `draws` and returns the quantity covered (at most `wanted`).
    pub fn cover(&mut self, item: &str, day: Date, wanted: Quantity, draws: &mut Vec<PackDraw>) -> Quantity {
        let mut covered = Quantity::ZERO;
        while covered < wanted {
            let next = self.packs.iter_mut().filter(|p| p.covers(item, day)).min_by_key(|p| (p.validity.until, p.remaining, p.no));
            let Some(pack) = next else { break };
            let take = (wanted - covered).min(pack.remaining);
            pack.remaining -= take;
            covered += take;
            draws.push(PackDraw { pack_no: pack.no, quantity: take });
        }
        covered
    }

    pub fn get(&self, no: i64) -> Option<&Pack> {
        self.packs.iter().find(|p| p.no == no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn pack(no: i64, item: &str, from: Date, until: Date, volume: i64, remaining: i64) -> Pack {
        Pack { no, item: item.into(), validity: Validity { from, until }, volume: Quantity(volume), remaining: Quantity(remaining) }
    }

    /// The pack ending first is drawn first, whatever its number; a pack of another item, one
    /// not yet valid and one past its last day give nothing.
    #[test]
    fn earliest_expiry_first_then_the_next() {
        let d = date(2026, 11, 10);
        let mut pool = PackPool::new(vec![
            pack(1, "log_events", date(2026, 11, 1), date(2027, 4, 30), 500, 500),
            pack(2, "log_events", date(2026, 10, 1), date(2026, 12, 31), 100, 100),
            pack(3, "sms", date(2026, 11, 1), date(2026, 11, 30), 900, 900),
            pack(4, "log_events", date(2026, 11, 11), date(2026, 11, 30), 900, 900),
            pack(5, "log_events", date(2026, 10, 1), date(2026, 11, 9), 900, 900),
        ]);
        let mut draws = Vec::new();
        assert_eq!(pool.cover("log_events", d, Quantity(250), &mut draws), Quantity(250));
        assert_eq!(draws, vec![PackDraw { pack_no: 2, quantity: Quantity(100) }, PackDraw { pack_no: 1, quantity: Quantity(150) }]);
        draws.clear();
        assert_eq!(pool.cover("log_events", d, Quantity(1000), &mut draws), Quantity(350));
        assert_eq!(draws, vec![PackDraw { pack_no: 1, quantity: Quantity(350) }]);
        assert_eq!(pool.cover("log_events", d, Quantity(1), &mut Vec::new()), Quantity::ZERO);
        assert_eq!(pool.get(3).unwrap().remaining, Quantity(900));
    }

    #[test]
    fn milestones_are_passed_once() {
        let v = Quantity(1000);
        assert_eq!(milestones(v, Quantity(1000), Quantity(201)), vec![]);
        assert_eq!(milestones(v, Quantity(201), Quantity(200)), vec![PackMilestone::MostlyUsed]);
        assert_eq!(milestones(v, Quantity(200), Quantity(1)), vec![]);
        assert_eq!(milestones(v, Quantity(1), Quantity(0)), vec![PackMilestone::UsedUp]);
        assert_eq!(milestones(v, Quantity(1000), Quantity(0)), vec![PackMilestone::MostlyUsed, PackMilestone::UsedUp]);
        assert_eq!(milestones(v, Quantity(0), Quantity(0)), vec![]);
    }

    proptest! {
        /// Volume is neither made nor lost: what the packs gave is what was covered, at most
        /// what was wanted, and each pack's remaining fell by exactly its draws.
        #[test]
        fn covering_moves_volume_exactly(
            volumes in proptest::collection::vec((1i64..1_000, 0i64..40), 1..6),
            wants in proptest::collection::vec(0i64..700, 1..20),
        ) {
            let start = date(2026, 1, 1);
            let packs: Vec<Pack> = volumes.iter().enumerate().map(|(i, (v, days))| {
                let until = start.checked_add(jiff::Span::new().days(*days)).unwrap();
                pack(i as i64 + 1, "x", start, until, *v, *v)
            }).collect();
            let mut pool = PackPool::new(packs.clone());
            let mut all = Vec::new();
            for (i, want) in wants.iter().enumerate() {
                let day = start.checked_add(jiff::Span::new().days(i as i64)).unwrap();
                let mut draws = Vec::new();
                let got = pool.cover("x", day, Quantity(*want), &mut draws);
                prop_assert!(got <= Quantity(*want));
                prop_assert_eq!(got, draws.iter().map(|d| d.quantity).fold(Quantity::ZERO, |a, b| a + b));
                for d in &draws {
                    prop_assert!(pool.get(d.pack_no).unwrap().validity.covers(day));
                }
                all.extend(draws);
            }
            for p in &packs {
                let drawn = all.iter().filter(|d| d.pack_no == p.no).map(|d| d.quantity.0).sum::<i64>();
                prop_assert_eq!(pool.get(p.no).unwrap().remaining, Quantity(p.volume.0 - drawn));
                prop_assert!(!pool.get(p.no).unwrap().remaining.is_negative());
            }
        }
    }
}
