//! Settling one daily bill: its lines are paid one after another in a fixed order, the
//! deductions become one ledger transaction, and the account's standing moves.

use jiff::civil::Date;

use crate::account::{Standing, StateChange};
use crate::deduction::{Charge, Deduction, Draw, Funds, InstrumentKind};
use crate::invoice::LineTotals;
use crate::ledger::Transaction;
use crate::money::Amount;
use crate::rating::RatedLine;

/// An expense line and how it was paid: a view of one line of a `DailyBill`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettledLine<'a, 'k> {
    pub rated: &'a RatedLine<'k>,
    pub deduction: &'a Deduction,
}

impl SettledLine<'_, '_> {
    pub fn totals(&self) -> LineTotals {
        LineTotals {
            gross: self.rated.rounded.amount,
            rounding_discount: self.rated.rounded.rounding_discount,
            coupon: self.deduction.coupon,
            card: self.deduction.card,
            cash: self.deduction.cash,
            arrears: self.deduction.arrears,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyBill<'k> {
    pub day: Date,
    /// The lines in the order they were paid, and beside them how each was paid.
    rated: Vec<RatedLine<'k>>,
    deductions: Vec<Deduction>,
    /// What the instruments gave to the lines, in the order drawn.
    draws: Vec<Draw>,
    /// The deduction of all charged lines, when any line charged money.
    pub deduction: Option<Transaction>,
    /// Credits back to cash from late usage that lowered a line.
    pub refund: Option<Transaction>,
    pub state_change: Option<StateChange>,
}

impl<'k> DailyBill<'k> {
    pub fn lines(&self) -> impl ExactSizeIterator<Item = SettledLine<'_, 'k>> {
        self.rated.iter().zip(&self.deductions).map(|(rated, deduction)| SettledLine { rated, deduction })
    }

    pub fn is_empty(&self) -> bool {
        self.rated.is_empty()
    }

    pub fn total(&self) -> Amount {
        self.rated.iter().map(|l| l.rounded.amount).sum()
    }

    /// What the instruments gave to the bill's lines, in the order drawn.
    pub fn draws(&self) -> &[Draw] {
        &self.draws
    }

    /// The bill's vectors, emptied, to rate and settle the next bill into (`rate_day_into`,
    /// `settle_day_reusing`) without allocating them again.
    pub fn recycle(self) -> (Vec<RatedLine<'k>>, Spare) {
        let (mut rated, mut deductions, mut draws) = (self.rated, self.deductions, self.draws);
        rated.clear();
        deductions.clear();
        draws.clear();
        (rated, Spare { deductions, draws })
    }
}

/// A settled bill's vectors of deductions and draws, emptied (`DailyBill::recycle`), for the
/// next bill to be settled into; `Spare::default()` to start.
#[derive(Debug, Default)]
pub struct Spare {
    deductions: Vec<Deduction>,
    draws: Vec<Draw>,
}

/// Pays the lines of `day` in order and moves the standing. The lines must already be in the
/// fixed order (the caller sorts by workspace, item, dimensions); each is paid as of its own
/// billing day. The lines are kept where they are: the bill takes the vector as it is.
pub fn settle_day<'k>(funds: &mut Funds, standing: &mut Standing, day: Date, rated: Vec<RatedLine<'k>>) -> DailyBill<'k> {
    settle_day_reusing(funds, standing, day, rated, Spare::default())
}

/// `settle_day`, with the deductions and draws written into the vectors of an earlier bill
/// (`DailyBill::recycle`).
pub fn settle_day_reusing<'k>(
    funds: &mut Funds,
    standing: &mut Standing,
    day: Date,
    rated: Vec<RatedLine<'k>>,
    spare: Spare,
) -> DailyBill<'k> {
    let Spare { mut deductions, mut draws } = spare;
    assert!(deductions.is_empty() && draws.is_empty(), "a bill's deductions start empty");
    deductions.reserve(rated.len());
    // A deduction pays its charge exactly (`Funds::deduct` asserts it), so a line's amount is
    // its deduction's total: charged lines and credits are told apart by the amount. Credits
    // go back to cash as a refund; the other lines' cash and arrears parts and the draws make
    // the bill's deduction.
    let (mut charged, mut credit, mut from_cash) = (false, Amount::ZERO, Amount::ZERO);
    let mut paid = |amount: Amount, deduction: Deduction| {
        if amount.is_negative() {
            credit += amount;
        } else {
            charged |= amount.is_positive();
            from_cash += deduction.cash + deduction.arrears;
        }
        deductions.push(deduction);
    };
    // Instruments only lose balance while a bill is paid: when none can pay its first line,
    // none pays any (most accounts hold none), and cash alone pays the bill.
    if funds.instruments_can_pay() {
        // A line's key is the one memory paying it would otherwise read (and wait for) per
        // line: it is read only where an instrument is limited to some items and asks for it.
        let scoped = funds.instruments.iter().any(|i| i.scope.is_some());
        for line in &rated {
            let item = if scoped { &*line.key.item } else { "" };
            let charge = Charge { day: line.billing_day, item, coupon_eligible: line.coupon_eligible, amount: line.rounded.amount };
            paid(charge.amount, funds.deduct(&charge, true, &mut draws).expect("usage lines may create arrears"));
        }
    } else {
        for line in &rated {
            paid(line.rounded.amount, funds.deduct_from_cash(line.rounded.amount));
        }
    }
    let deduction = charged.then(|| Transaction::deduction_of(from_cash, &draws));
    let refund = credit.is_negative().then(|| Transaction::refund(-credit));
    let state_change = standing.update(funds.cash, day);
    DailyBill { day, rated, deductions, draws, deduction, refund, state_change }
}

/// An instrument written off because its validity ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expired {
    pub kind: InstrumentKind,
    pub id: i64,
    pub rest: Amount,
}

impl Funds {
    /// Writes off every active instrument whose last valid day is on or before `day`.
    pub fn expire_through(&mut self, day: Date) -> Vec<Expired> {
        let mut expired = Vec::new();
        for instrument in self.instruments.iter_mut().filter(|i| i.active && i.validity.until <= day) {
            expired.push(Expired { kind: instrument.kind, id: instrument.id, rest: instrument.balance });
            instrument.active = false;
            instrument.balance = Amount::ZERO;
        }
        expired
    }
}
