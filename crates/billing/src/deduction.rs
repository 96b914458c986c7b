//! The deduction waterfall (SPEC 4.5): regular coupons, discount coupons, prepaid cards, cash
//! while positive, and what remains becomes arrears.

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::money::Amount;
use crate::period::Validity;

/// The kinds of stored value, in the order they pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstrumentKind {
    RegularCoupon,
    DiscountCoupon,
    PrepaidCard,
}

impl InstrumentKind {
    pub fn is_coupon(self) -> bool {
        !matches!(self, InstrumentKind::PrepaidCard)
    }
}

/// A coupon or prepaid card as the waterfall sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    pub kind: InstrumentKind,
    /// Account-local number; the oldest instrument has the smallest.
    pub id: i64,
    pub balance: Amount,
    pub validity: Validity,
    /// Billable items (or package codes) it may pay; `None` for all.
    pub scope: Option<BTreeSet<String>>,
    /// False once expired and written off.
    pub active: bool,
}

impl Instrument {
    fn pays(&self, charge: &Charge<'_>) -> bool {
        self.active
            && self.balance.is_positive()
            && self.validity.covers(charge.day)
            && (!self.kind.is_coupon() || charge.coupon_eligible)
            && self.scope.as_ref().is_none_or(|s| s.contains(charge.item))
    }
}

/// One amount to pay: an expense line (or a package purchase) of a billing day.
#[derive(Clone, Copy, Debug)]
pub struct Charge<'a> {
    pub day: Date,
    pub item: &'a str,
    pub coupon_eligible: bool,
    pub amount: Amount,
}

/// How one charge was paid. `amount = coupon + card + cash + arrears`; what each instrument
/// gave is a `Draw`, kept beside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deduction {
    pub coupon: Amount,
    pub card: Amount,
    /// Cash paid while the balance was positive; for a credit (negative charge), the credit.
    pub cash: Amount,
    pub arrears: Amount,
}

impl Deduction {
    pub fn total(&self) -> Amount {
        self.coupon + self.card + self.cash + self.arrears
    }
}

/// What one instrument gave to a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    pub kind: InstrumentKind,
    pub id: i64,
    pub amount: Amount,
}

/// An account's funds at settlement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Funds {
    pub instruments: Vec<Instrument>,
    pub cash: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeductionError {
    #[error("insufficient funds: {} minor units short", short.0)]
    InsufficientFunds { short: Amount },
}

impl Funds {
    /// Pays one charge in waterfall order, appending what each instrument gave to `draws` in
    /// the order drawn. With `allow_arrears` false (package purchases) a charge the funds
    /// cannot cover fails and changes nothing.
    pub fn deduct(&mut self, charge: &Charge<'_>, allow_arrears: bool, draws: &mut Vec<Draw>) -> Result<Deduction, DeductionError> {
        if !charge.amount.is_positive() {
            // A credit or nothing: no instrument takes part.
            return Ok(self.deduct_from_cash(charge.amount));
        }
        if !allow_arrears {
            let available: Amount =
                self.instruments.iter().filter(|s| s.pays(charge)).map(|s| s.balance).sum::<Amount>() + self.cash.max(Amount::ZERO);
            if available < charge.amount {
                return Err(DeductionError::InsufficientFunds { short: charge.amount - available });
            }
        }
        // The instruments pay one after another in waterfall order: each time the first of
        // those that may pay (`next_payer`). An instrument drawn either pays the rest of the
        // charge or is spent and pays nothing more, so the others keep the order they had
        // when the charge came (a sort of the payers, without sorting them).
        let mut due = charge.amount;
        let mut deduction = Deduction::default();
        while due.is_positive()
            && let Some(i) = self.next_payer(charge)
        {
            let instrument = &mut self.instruments[i];
            let take = due.min(instrument.balance);
            instrument.balance -= take;
            due -= take;
            if instrument.kind.is_coupon() {
                deduction.coupon += take;
            } else {
                deduction.card += take;
            }
            draws.push(Draw { kind: instrument.kind, id: instrument.id, amount: take });
        }
        self.cash_then_arrears(due, &mut deduction);
        assert_eq!(deduction.total(), charge.amount, "a deduction pays its charge exactly");
        assert!(allow_arrears || deduction.arrears.is_zero());
        Ok(deduction)
    }

    /// The instrument that pays a charge next: of those that may pay it, the first by kind
    /// (regular coupons, discount coupons, cards), then the earliest to expire, the smallest
    /// balance, the oldest.
    fn next_payer(&self, charge: &Charge<'_>) -> Option<usize> {
        let order = |s: &Instrument| (s.kind, s.validity.until, s.balance, s.id);
        let mut best: Option<(usize, &Instrument)> = None;
        for (i, s) in self.instruments.iter().enumerate() {
            if s.pays(charge) && best.is_none_or(|(_, b)| order(s) < order(b)) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Whether any instrument could pay anything at all (active, with a balance). When none
    /// can, every charge of a bill is paid by `deduct_from_cash`, as `deduct` would pay it.
    pub fn instruments_can_pay(&self) -> bool {
        self.instruments.iter().any(|i| i.active && i.balance.is_positive())
    }

    /// `deduct(charge, true, _)` where no instrument pays: a credit (late usage that lowered a
    /// volume-priced line) goes back to cash, nothing is drawn for nothing, and a positive
    /// amount is paid by cash while positive, the rest as arrears.
    pub fn deduct_from_cash(&mut self, amount: Amount) -> Deduction {
        let mut deduction = Deduction::default();
        if amount.is_negative() {
            self.cash += -amount;
            deduction.cash = amount;
        } else {
            self.cash_then_arrears(amount, &mut deduction);
        }
        deduction
    }

    /// The last steps of the waterfall: cash while positive, then arrears.
    fn cash_then_arrears(&mut self, due: Amount, deduction: &mut Deduction) {
        let cash = due.min(self.cash.max(Amount::ZERO));
        deduction.cash = cash;
        deduction.arrears = due - cash;
        self.cash -= due;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn coupon(kind: InstrumentKind, id: i64, balance: i64, until: Date) -> Instrument {
        Instrument {
            kind,
            id,
            balance: Amount(balance),
            validity: Validity::new(date(2026, 1, 1), until).unwrap(),
            scope: None,
            active: true,
        }
    }

    #[test]
    fn waterfall_order_and_arrears() {
        let mut funds = Funds {
            instruments: vec![
                coupon(InstrumentKind::PrepaidCard, 3, 500, date(2026, 12, 31)),
                coupon(InstrumentKind::RegularCoupon, 2, 300, date(2026, 12, 31)),
                coupon(InstrumentKind::RegularCoupon, 1, 300, date(2026, 11, 30)),
                coupon(InstrumentKind::DiscountCoupon, 4, 100, date(2026, 11, 1)),
            ],
            cash: Amount(200),
        };
        let charge = Charge { day: date(2026, 11, 1), item: "log_events", coupon_eligible: true, amount: Amount(2000) };
        let mut draws = Vec::new();
        let d = funds.deduct(&charge, true, &mut draws).unwrap();
        let drawn: Vec<_> = draws.iter().map(|d| (d.kind, d.id, d.amount)).collect();
        assert_eq!(
            drawn,
            [
                (InstrumentKind::RegularCoupon, 1, Amount(300)),
                (InstrumentKind::RegularCoupon, 2, Amount(300)),
                (InstrumentKind::DiscountCoupon, 4, Amount(100)),
                (InstrumentKind::PrepaidCard, 3, Amount(500)),
            ]
        );
        assert_eq!((d.coupon, d.card, d.cash, d.arrears), (Amount(700), Amount(500), Amount(200), Amount(600)));
        assert_eq!(funds.cash, Amount(-600));
    }

    #[test]
    fn coupons_skip_ineligible_items_and_days_outside_validity() {
        let mut funds = Funds { instruments: vec![coupon(InstrumentKind::RegularCoupon, 1, 300, date(2026, 10, 31))], cash: Amount(1000) };
        let sms = Charge { day: date(2026, 10, 30), item: "sms", coupon_eligible: false, amount: Amount(100) };
        assert_eq!(funds.deduct(&sms, true, &mut Vec::new()).unwrap().cash, Amount(100));
        let late = Charge { day: date(2026, 11, 1), item: "log_events", coupon_eligible: true, amount: Amount(100) };
        assert_eq!(funds.deduct(&late, true, &mut Vec::new()).unwrap().coupon, Amount(0));
        let last_day = Charge { day: date(2026, 10, 31), item: "log_events", coupon_eligible: true, amount: Amount(100) };
        assert_eq!(funds.deduct(&last_day, true, &mut Vec::new()).unwrap().coupon, Amount(100));
    }

    #[test]
    fn no_arrears_purchase_fails_cleanly() {
        let mut funds = Funds { instruments: vec![], cash: Amount(100) };
        let before = funds.clone();
        let charge = Charge { day: date(2026, 11, 1), item: "starter", coupon_eligible: true, amount: Amount(101) };
        let mut draws = Vec::new();
        assert_eq!(funds.deduct(&charge, false, &mut draws), Err(DeductionError::InsufficientFunds { short: Amount(1) }));
        assert_eq!((funds, draws), (before, vec![]));
    }
}
