//! Monthly invoice assembly (SPEC 4.8): lines grouped by workspace × billable item × charge
//! type, the cards bought in the month, the invoiceable amount, numbering and status.

use std::fmt;

use crate::money::{Amount, RoundingDiscount};
use crate::period::Month;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChargeType {
    PayAsYouGo,
    AnnualPackage,
    Adjustment,
    /// A resource pack bought (no workspace, the pack's catalog code as its item), or the
    /// quantity of a usage key that packs covered (the key's workspace, item and dimensions,
    /// that quantity, nothing covered by the package or priced, no amount).
    ResourcePack,
}

impl ChargeType {
    pub const ALL: [ChargeType; 4] = [ChargeType::PayAsYouGo, ChargeType::AnnualPackage, ChargeType::Adjustment, ChargeType::ResourcePack];
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeType::PayAsYouGo => "pay_as_you_go",
            ChargeType::AnnualPackage => "annual_package",
            ChargeType::Adjustment => "adjustment",
            ChargeType::ResourcePack => "resource_pack",
        }
    }
    pub fn parse(text: &str) -> Option<ChargeType> {
        ChargeType::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for ChargeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The money columns shared by expense lines, invoice lines and invoice totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineTotals {
    pub gross: Amount,
    pub rounding_discount: RoundingDiscount,
    pub coupon: Amount,
    pub card: Amount,
    pub cash: Amount,
    pub arrears: Amount,
}

impl LineTotals {
    pub fn add(&mut self, other: &LineTotals) {
        self.gross += other.gross;
        self.rounding_discount += other.rounding_discount;
        self.coupon += other.coupon;
        self.card += other.card;
        self.cash += other.cash;
        self.arrears += other.arrears;
    }

    /// The line invariant: the amount equals its deductions plus arrears.
    pub fn is_settled(&self) -> bool {
        self.gross == self.coupon + self.card + self.cash + self.arrears
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardBought {
    pub card_id: i64,
    pub face_value: Amount,
}

/// An invoice's figures. Its lines are the month's expense lines summed per workspace ×
/// billable item × charge type, which the store keeps as running totals while the month is
/// open; issuing freezes them (late usage of an invoiced month is rated into an open month).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub month: Month,
    pub cards: Vec<CardBought>,
    pub totals: LineTotals,
    pub cards_total: Amount,
    /// Cash paid on the lines plus the face value of cards bought in the month.
    pub invoiceable: Amount,
}

impl Invoice {
    /// Sums a month's expense lines, or any grouping of them (each part a line or a sum of
    /// lines), with the cards bought in the month. Returns `None` when the month had no
    /// activity.
    pub fn assemble(month: Month, parts: impl IntoIterator<Item = LineTotals>, cards: Vec<CardBought>) -> Option<Invoice> {
        let mut totals = LineTotals::default();
        let mut any = false;
        for part in parts {
            assert!(part.is_settled(), "expense lines not settled: {part:?}");
            totals.add(&part);
            any = true;
        }
        if !any && cards.is_empty() {
            return None;
        }
        let cards_total: Amount = cards.iter().map(|c| c.face_value).sum();
        Some(Invoice { month, invoiceable: totals.cash + cards_total, cards, totals, cards_total })
    }
}

/// `INV-YYYYMM-<account>-<seq>`, the sequence counting the account's invoices from 1.
pub fn invoice_number(month: Month, account: &str, seq: i64) -> String {
    format!("INV-{}-{}-{:04}", month.compact(), account, seq)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvoiceStatus {
    Provisional,
    Issued,
    Paid,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Provisional => "provisional",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Paid => "paid",
        }
    }
}

/// Splits an account's current debt (arrears still unpaid, `-cash` when cash is negative)
/// across the arrears it came from, repaid oldest first. `arrears` lists the arrears each
/// period created, oldest first; the result is each period's outstanding amount.
pub fn outstanding_oldest_first(arrears: &[Amount], debt: Amount) -> Vec<Amount> {
    let mut left = debt.max(Amount::ZERO);
    let mut out = vec![Amount::ZERO; arrears.len()];
    // Repayment takes the oldest first, so what is still owed is the newest arrears.
    for (i, a) in arrears.iter().enumerate().rev() {
        let owed = left.min(*a);
        out[i] = owed;
        left -= owed;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repayment_takes_the_oldest_arrears_first() {
        // 10 owed from the first month, 5 repaid, then 10 more: 5 + 10 still owed.
        assert_eq!(outstanding_oldest_first(&[Amount(10), Amount(10)], Amount(15)), vec![Amount(5), Amount(10)]);
        assert_eq!(outstanding_oldest_first(&[Amount(10), Amount(0), Amount(3)], Amount(0)), vec![Amount::ZERO; 3]);
    }

    #[test]
    fn invoiceable_is_cash_plus_cards_bought() {
        let line = LineTotals {
            gross: Amount(100),
            coupon: Amount(20),
            card: Amount(30),
            cash: Amount(40),
            arrears: Amount(10),
            ..Default::default()
        };
        let inv =
            Invoice::assemble(Month { year: 2026, month: 11 }, [line, line], vec![CardBought { card_id: 1, face_value: Amount(50000) }])
                .unwrap();
        assert_eq!(inv.totals.gross, Amount(200));
        assert_eq!(inv.invoiceable, Amount(80 + 50000));
        assert!(Invoice::assemble(Month { year: 2026, month: 11 }, [], vec![]).is_none());
        assert_eq!(invoice_number(Month { year: 2026, month: 1 }, "acme", 3), "INV-202601-acme-0003");
    }
}
