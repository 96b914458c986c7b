//! The double-entry ledger: every money movement is a transaction whose postings sum to zero,
//! between the account's funds (cash, each coupon, each card) and the operator's books.

use std::fmt;

use crate::deduction::{Deduction, Draw, InstrumentKind};
use crate::money::Amount;

/// Where a posting lands. The first three are the customer's funds; the rest are the
/// operator's books, which the customer never sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Book {
    Cash,
    Coupon(i64),
    Card(i64),
    /// Usage and packages earned.
    Revenue,
    /// Money received from customers (top-ups).
    Receipts,
    /// Coupons and granted cards handed out; their unused rest comes back on expiry.
    Promotion,
    /// The unused rest of bought cards that expired.
    Breakage,
}

impl Book {
    /// The book's kind as stored (`cash`, `coupon`, `card`, `revenue`, ...).
    pub fn kind(self) -> &'static str {
        match self {
            Book::Cash => "cash",
            Book::Coupon(_) => "coupon",
            Book::Card(_) => "card",
            Book::Revenue => "revenue",
            Book::Receipts => "receipts",
            Book::Promotion => "promotion",
            Book::Breakage => "breakage",
        }
    }

    /// The fund's account-local number (coupons and cards), 0 for the others.
    pub fn fund_id(self) -> i64 {
        match self {
            Book::Coupon(id) | Book::Card(id) => id,
            _ => 0,
        }
    }

    /// Whether the book is one of the customer's funds.
    pub fn is_fund(self) -> bool {
        matches!(self, Book::Cash | Book::Coupon(_) | Book::Card(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxKind {
    TopUp,
    Deduction,
    CouponIssued,
    CouponExpired,
    CardPurchased,
    CardGranted,
    CardExpired,
    Refund,
    /// Cash paid back to the customer by the operator.
    CashRefund,
    Adjustment,
}

impl TxKind {
    pub const ALL: [TxKind; 10] = [
        TxKind::TopUp,
        TxKind::Deduction,
        TxKind::CouponIssued,
        TxKind::CouponExpired,
        TxKind::CardPurchased,
        TxKind::CardGranted,
        TxKind::CardExpired,
        TxKind::Refund,
        TxKind::CashRefund,
        TxKind::Adjustment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::TopUp => "top_up",
            TxKind::Deduction => "deduction",
            TxKind::CouponIssued => "coupon_issued",
            TxKind::CouponExpired => "coupon_expired",
            TxKind::CardPurchased => "card_purchased",
            TxKind::CardGranted => "card_granted",
            TxKind::CardExpired => "card_expired",
            TxKind::Refund => "refund",
            TxKind::CashRefund => "cash_refund",
            TxKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(text: &str) -> Option<TxKind> {
        TxKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for TxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    pub book: Book,
    /// Positive raises the book's balance; for a fund, that is income to the customer.
    pub amount: Amount,
}

/// A balanced set of postings. It can only be built balanced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    kind: TxKind,
    postings: Vec<Posting>,
}

impl Transaction {
    /// Builds a transaction; zero postings are dropped. Panics when unbalanced: that is a
    /// programming error, never an input error.
    pub fn new(kind: TxKind, postings: impl IntoIterator<Item = Posting>) -> Transaction {
        let postings: Vec<Posting> = postings.into_iter().filter(|p| !p.amount.is_zero()).collect();
        let sum: Amount = postings.iter().map(|p| p.amount).sum();
        assert!(sum.is_zero(), "ledger transaction {kind} does not balance: {postings:?}");
        Transaction { kind, postings }
    }

    pub fn kind(&self) -> TxKind {
        self.kind
    }

    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    pub fn top_up(amount: Amount) -> Transaction {
        assert!(amount.is_positive());
        Transaction::new(TxKind::TopUp, [Posting { book: Book::Cash, amount }, Posting { book: Book::Receipts, amount: -amount }])
    }

    /// A credit back to cash, e.g. a late-usage line that lowered a volume-priced day.
    pub fn refund(amount: Amount) -> Transaction {
        assert!(amount.is_positive());
        Transaction::new(TxKind::Refund, [Posting { book: Book::Cash, amount }, Posting { book: Book::Revenue, amount: -amount }])
    }

    /// Cash paid back to the customer: it leaves the cash fund and the receipts it came in by.
    pub fn cash_refund(amount: Amount) -> Transaction {
        assert!(amount.is_positive());
        Transaction::new(TxKind::CashRefund, [Posting { book: Book::Cash, amount: -amount }, Posting { book: Book::Receipts, amount }])
    }

    /// The deduction of a set of charges (a daily bill or a package purchase) and what the
    /// instruments gave to them: one posting per fund touched, and revenue credited once for
    /// the whole set. Credits (negative charges) are not part of it (see `refund`).
    pub fn deduction<'a>(deductions: impl IntoIterator<Item = &'a Deduction>, draws: &[Draw]) -> Transaction {
        let from_cash = deductions.into_iter().filter(|d| !d.total().is_negative()).map(|d| d.cash + d.arrears).sum();
        Transaction::deduction_of(from_cash, draws)
    }

    /// `deduction` of charges whose cash and arrears parts sum to `from_cash` and to which
    /// the instruments gave `draws`: revenue is the two together.
    pub fn deduction_of(from_cash: Amount, draws: &[Draw]) -> Transaction {
        // Funds touched, in book order: cash first, then the few instruments drawn.
        let mut by_book: Vec<Posting> = Vec::with_capacity(4);
        by_book.push(Posting { book: Book::Cash, amount: -from_cash });
        let mut revenue = from_cash;
        for draw in draws {
            revenue += draw.amount;
            let book = if draw.kind == InstrumentKind::PrepaidCard { Book::Card(draw.id) } else { Book::Coupon(draw.id) };
            match by_book.iter_mut().find(|p| p.book == book) {
                Some(p) => p.amount -= draw.amount,
                None => by_book.push(Posting { book, amount: -draw.amount }),
            }
        }
        by_book.sort_by_key(|p| p.book);
        by_book.push(Posting { book: Book::Revenue, amount: revenue });
        Transaction::new(TxKind::Deduction, by_book)
    }

    pub fn coupon_issued(id: i64, amount: Amount) -> Transaction {
        Transaction::new(
            TxKind::CouponIssued,
            [Posting { book: Book::Coupon(id), amount }, Posting { book: Book::Promotion, amount: -amount }],
        )
    }

    pub fn coupon_expired(id: i64, rest: Amount) -> Transaction {
        Transaction::new(
            TxKind::CouponExpired,
            [Posting { book: Book::Coupon(id), amount: -rest }, Posting { book: Book::Promotion, amount: rest }],
        )
    }

    pub fn card_purchased(id: i64, amount: Amount) -> Transaction {
        Transaction::new(TxKind::CardPurchased, [Posting { book: Book::Cash, amount: -amount }, Posting { book: Book::Card(id), amount }])
    }

    pub fn card_granted(id: i64, amount: Amount) -> Transaction {
        Transaction::new(
            TxKind::CardGranted,
            [Posting { book: Book::Card(id), amount }, Posting { book: Book::Promotion, amount: -amount }],
        )
    }

    /// A bought card's rest is breakage; a granted card's rest returns to promotion.
    pub fn card_expired(id: i64, rest: Amount, granted: bool) -> Transaction {
        let counter = if granted { Book::Promotion } else { Book::Breakage };
        Transaction::new(TxKind::CardExpired, [Posting { book: Book::Card(id), amount: -rest }, Posting { book: counter, amount: rest }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deduction_credits_revenue_once_and_balances() {
        let d1 = Deduction { coupon: Amount(100), card: Amount(50), cash: Amount(10), arrears: Amount(5) };
        let draws = [
            Draw { kind: InstrumentKind::RegularCoupon, id: 1, amount: Amount(100) },
            Draw { kind: InstrumentKind::PrepaidCard, id: 2, amount: Amount(50) },
        ];
        let d2 = Deduction { cash: Amount(0), arrears: Amount(40), ..Deduction::default() };
        let tx = Transaction::deduction(&[d1, d2], &draws);
        assert_eq!(
            tx.postings(),
            &[
                Posting { book: Book::Cash, amount: Amount(-55) },
                Posting { book: Book::Coupon(1), amount: Amount(-100) },
                Posting { book: Book::Card(2), amount: Amount(-50) },
                Posting { book: Book::Revenue, amount: Amount(205) },
            ]
        );
    }

    #[test]
    #[should_panic(expected = "does not balance")]
    fn unbalanced_transactions_are_refused() {
        Transaction::new(TxKind::Adjustment, [Posting { book: Book::Cash, amount: Amount(1) }]);
    }
}
