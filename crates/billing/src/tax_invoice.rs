//! Tax invoices drawn on the invoiceable amount.
//!
//! Each issued monthly invoice makes its invoiceable amount (cash paid on the month's lines plus
//! the face value of cards bought in it, SPEC 4.8) available to tax invoices. A request draws
//! an amount from chosen months (or from every month, oldest first) and holds it while open; an
//! issued tax invoice keeps it; a rejection or a reversal gives it back. A cash refund lowers
//! what is invoiceable by the part of it still available, newest months first: never below what
//! tax invoices already hold.
//!
//! Everything here is arithmetic on integers of the currency's minor unit; the store keeps the
//! draws, this module decides them.

use std::collections::BTreeMap;
use std::fmt;

use crate::money::Amount;
use crate::period::Month;

/// The two kinds of tax invoice customers ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaxInvoiceKind {
    /// An ordinary VAT invoice (增值税普通发票).
    Ordinary,
    /// A special VAT invoice (增值税专用发票): the buyer deducts its input tax, so its address,
    /// telephone and bank account are printed on it and are required.
    SpecialVat,
}

impl TaxInvoiceKind {
    pub const ALL: [TaxInvoiceKind; 2] = [TaxInvoiceKind::Ordinary, TaxInvoiceKind::SpecialVat];

    pub fn as_str(self) -> &'static str {
        match self {
            TaxInvoiceKind::Ordinary => "ordinary",
            TaxInvoiceKind::SpecialVat => "special_vat",
        }
    }

    pub fn parse(text: &str) -> Option<TaxInvoiceKind> {
        TaxInvoiceKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Where a tax invoice request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaxInvoiceStatus {
    /// Waiting for the operator; its amount is held.
    Requested,
    /// Issued with a number; its amount stays drawn.
    Issued,
    /// Refused with a reason; its amount returned.
    Rejected,
    /// Issued, then cancelled by a red-letter reversal; its amount returned.
    Reversed,
}

impl TaxInvoiceStatus {
    pub const ALL: [TaxInvoiceStatus; 4] =
        [TaxInvoiceStatus::Requested, TaxInvoiceStatus::Issued, TaxInvoiceStatus::Rejected, TaxInvoiceStatus::Reversed];

    pub fn as_str(self) -> &'static str {
        match self {
            TaxInvoiceStatus::Requested => "requested",
            TaxInvoiceStatus::Issued => "issued",
            TaxInvoiceStatus::Rejected => "rejected",
            TaxInvoiceStatus::Reversed => "reversed",
        }
    }

    pub fn parse(text: &str) -> Option<TaxInvoiceStatus> {
        TaxInvoiceStatus::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether a request in this status holds (or keeps) its amount.
    pub fn draws(self) -> bool {
        matches!(self, TaxInvoiceStatus::Requested | TaxInvoiceStatus::Issued)
    }

    /// The status a decision moves a request to, or why it may not.
    pub fn decide(self, decision: TaxInvoiceDecision) -> Result<TaxInvoiceStatus, TaxInvoiceError> {
        match (self, decision) {
            (TaxInvoiceStatus::Requested, TaxInvoiceDecision::Issue) => Ok(TaxInvoiceStatus::Issued),
            (TaxInvoiceStatus::Requested, TaxInvoiceDecision::Reject) => Ok(TaxInvoiceStatus::Rejected),
            (TaxInvoiceStatus::Issued, TaxInvoiceDecision::Reverse) => Ok(TaxInvoiceStatus::Reversed),
            (status, decision) => Err(TaxInvoiceError::NotAllowed { status, decision }),
        }
    }
}

impl fmt::Display for TaxInvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operator does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaxInvoiceDecision {
    Issue,
    Reject,
    Reverse,
}

impl fmt::Display for TaxInvoiceDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaxInvoiceDecision::Issue => "issue",
            TaxInvoiceDecision::Reject => "reject",
            TaxInvoiceDecision::Reverse => "reverse",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaxInvoiceError {
    #[error("the amount must be positive")]
    NotPositive,
    #[error("{month} has no issued invoice to draw on")]
    NoInvoice { month: Month },
    #[error("{} minor units asked, more than the {} available to tax invoices", .asked.minor(), .available.minor())]
    MoreThanAvailable { asked: Amount, available: Amount },
    #[error("a request that is {status} cannot be {decision}d")]
    NotAllowed { status: TaxInvoiceStatus, decision: TaxInvoiceDecision },
}

/// An account's invoiceable amounts and what is drawn on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvoiceableBalance {
    /// Each issued month's invoiceable amount.
    invoiceable: BTreeMap<Month, i64>,
    /// What requests that hold their amount (requested or issued) drew from each month.
    drawn: BTreeMap<Month, i64>,
    /// What cash refunds took off each month.
    refunded: BTreeMap<Month, i64>,
}

impl InvoiceableBalance {
    /// The balance of issued months' invoiceable amounts; draws and refund reductions are added
    /// with [`InvoiceableBalance::add_draw`] and [`InvoiceableBalance::add_refund`].
    pub fn new(invoiceable: impl IntoIterator<Item = (Month, Amount)>) -> InvoiceableBalance {
        let mut b = InvoiceableBalance::default();
        for (month, amount) in invoiceable {
            *b.invoiceable.entry(month).or_insert(0) += amount.minor();
        }
        b
    }

    /// A stored draw of a request that holds its amount.
    pub fn add_draw(&mut self, month: Month, amount: Amount) {
        *self.drawn.entry(month).or_insert(0) += amount.minor();
    }

    /// A stored reduction of a cash refund.
    pub fn add_refund(&mut self, month: Month, amount: Amount) {
        *self.refunded.entry(month).or_insert(0) += amount.minor();
    }

    /// What a month still has for tax invoices.
    pub fn available_in(&self, month: Month) -> Amount {
        let of = |m: &BTreeMap<Month, i64>| m.get(&month).copied().unwrap_or(0);
        Amount(of(&self.invoiceable) - of(&self.drawn) - of(&self.refunded))
    }

    /// What every month together still has.
    pub fn available(&self) -> Amount {
        self.invoiceable.keys().map(|m| self.available_in(*m)).sum()
    }

    /// Every issued month's invoiceable amount, drawn and refunded, and what is left, oldest first.
    pub fn months(&self) -> Vec<(Month, Amount, Amount, Amount, Amount)> {
        self.invoiceable
            .iter()
            .map(|(m, total)| {
                let of = |map: &BTreeMap<Month, i64>| Amount(map.get(m).copied().unwrap_or(0));
                (*m, Amount(*total), of(&self.drawn), of(&self.refunded), self.available_in(*m))
            })
            .collect()
    }

    /// The draw of a request of `amount` on `months` (every month when `None`): from the oldest
    /// month first, each month at most what it has left. Refused when the months hold less.
    pub fn draw(&self, amount: Amount, months: Option<&[Month]>) -> Result<Vec<(Month, Amount)>, TaxInvoiceError> {
        if !amount.is_positive() {
            return Err(TaxInvoiceError::NotPositive);
        }
        let mut chosen: Vec<Month> = match months {
            Some(ms) => {
                if let Some(missing) = ms.iter().find(|m| !self.invoiceable.contains_key(m)) {
                    return Err(TaxInvoiceError::NoInvoice { month: *missing });
                }
                ms.to_vec()
            }
            None => self.invoiceable.keys().copied().collect(),
        };
        chosen.sort();
        chosen.dedup();
        let available: Amount = chosen.iter().map(|m| self.available_in(*m)).sum();
        if amount > available {
            return Err(TaxInvoiceError::MoreThanAvailable { asked: amount, available });
        }
        let mut left = amount.minor();
        let mut draw = Vec::new();
        for month in chosen {
            let take = left.min(self.available_in(month).minor());
            if take > 0 {
                draw.push((month, Amount(take)));
                left -= take;
            }
        }
        debug_assert_eq!(left, 0, "the months held the amount");
        Ok(draw)
    }

    /// What a cash refund of `amount` takes off the invoiceable amount: as much of it as is
    /// still available, from the newest month back. What tax invoices hold is never touched.
    pub fn refund_reduction(&self, amount: Amount) -> Vec<(Month, Amount)> {
        let mut left = amount.minor().max(0);
        let mut taken = Vec::new();
        for month in self.invoiceable.keys().rev() {
            if left == 0 {
                break;
            }
            let take = left.min(self.available_in(*month).minor().max(0));
            if take > 0 {
                taken.push((*month, Amount(take)));
                left -= take;
            }
        }
        taken
    }

    /// The months drawn or refunded beyond their invoiceable amount (a broken invariant, for
    /// `verify`), with how far below zero each is.
    pub fn overdrawn(&self) -> Vec<(Month, Amount)> {
        let months: std::collections::BTreeSet<Month> =
            self.invoiceable.keys().chain(self.drawn.keys()).chain(self.refunded.keys()).copied().collect();
        months.into_iter().map(|m| (m, self.available_in(m))).filter(|(_, left)| left.is_negative()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(text: &str) -> Month {
        Month::parse(text).unwrap()
    }

    fn balance() -> InvoiceableBalance {
        InvoiceableBalance::new([(m("2026-09"), Amount(10_000)), (m("2026-10"), Amount(25_000)), (m("2026-11"), Amount(5_000))])
    }

    #[test]
    fn a_request_draws_from_the_oldest_month_first() {
        let b = balance();
        assert_eq!(b.available(), Amount(40_000));
        assert_eq!(b.draw(Amount(12_000), None).unwrap(), [(m("2026-09"), Amount(10_000)), (m("2026-10"), Amount(2_000))]);
        let chosen = [m("2026-11"), m("2026-10")];
        assert_eq!(b.draw(Amount(27_000), Some(&chosen)).unwrap(), [(m("2026-10"), Amount(25_000)), (m("2026-11"), Amount(2_000))]);
    }

    #[test]
    fn a_request_beyond_what_its_months_hold_is_refused() {
        let mut b = balance();
        b.add_draw(m("2026-10"), Amount(20_000));
        let chosen = [m("2026-10")];
        assert_eq!(
            b.draw(Amount(5_001), Some(&chosen)),
            Err(TaxInvoiceError::MoreThanAvailable { asked: Amount(5_001), available: Amount(5_000) })
        );
        assert_eq!(b.draw(Amount(0), None), Err(TaxInvoiceError::NotPositive));
        assert_eq!(b.draw(Amount(1), Some(&[m("2026-12")])), Err(TaxInvoiceError::NoInvoice { month: m("2026-12") }));
        assert_eq!(b.draw(Amount(20_000), None).unwrap().iter().map(|(_, a)| a.minor()).sum::<i64>(), 20_000);
    }

    #[test]
    fn a_refund_takes_only_what_is_still_available_newest_first() {
        let mut b = balance();
        b.add_draw(m("2026-09"), Amount(10_000));
        b.add_draw(m("2026-10"), Amount(20_000));
        assert_eq!(b.refund_reduction(Amount(8_000)), [(m("2026-11"), Amount(5_000)), (m("2026-10"), Amount(3_000))]);
        // More than is left: what tax invoices hold stays.
        assert_eq!(b.refund_reduction(Amount(99_000)), [(m("2026-11"), Amount(5_000)), (m("2026-10"), Amount(5_000))]);
    }

    #[test]
    fn decisions_follow_the_request_lifecycle() {
        use TaxInvoiceDecision::*;
        use TaxInvoiceStatus::*;
        assert_eq!(Requested.decide(Issue), Ok(Issued));
        assert_eq!(Requested.decide(Reject), Ok(Rejected));
        assert_eq!(Issued.decide(Reverse), Ok(Reversed));
        for (status, decision) in [(Requested, Reverse), (Issued, Issue), (Issued, Reject), (Rejected, Issue), (Reversed, Reverse)] {
            assert_eq!(status.decide(decision), Err(TaxInvoiceError::NotAllowed { status, decision }));
        }
        assert!(Requested.draws() && Issued.draws() && !Rejected.draws() && !Reversed.draws());
    }

    proptest! {
        /// Whatever is drawn and refunded in whatever order, no month goes below zero, a draw
        /// takes exactly its amount, and a refund never takes more than is available.
        #[test]
        fn no_month_is_ever_overdrawn(steps in proptest::collection::vec((0u8..3, 1i64..30_000, 0usize..4), 1..40)) {
            let mut b = balance();
            let all = [m("2026-09"), m("2026-10"), m("2026-11")];
            for (kind, amount, pick) in steps {
                let before = b.available();
                match kind {
                    0 | 1 => {
                        let months: Option<Vec<Month>> = (pick < 3).then(|| all[pick..].to_vec());
                        match b.draw(Amount(amount), months.as_deref()) {
                            Ok(draw) => {
                                prop_assert_eq!(draw.iter().map(|(_, a)| a.minor()).sum::<i64>(), amount);
                                for (month, a) in draw {
                                    b.add_draw(month, a);
                                }
                                prop_assert_eq!(b.available(), before - Amount(amount));
                            }
                            Err(TaxInvoiceError::MoreThanAvailable { available, .. }) => prop_assert!(available < Amount(amount)),
                            Err(e) => prop_assert!(false, "{e}"),
                        }
                    }
                    _ => {
                        let taken = b.refund_reduction(Amount(amount));
                        let sum: i64 = taken.iter().map(|(_, a)| a.minor()).sum();
                        prop_assert_eq!(sum, amount.min(before.minor()));
                        for (month, a) in taken {
                            b.add_refund(month, a);
                        }
                    }
                }
                prop_assert!(b.overdrawn().is_empty());
            }
        }
    }
}
