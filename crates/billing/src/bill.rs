//! Settling one daily bill: its lines are paid one after another in a fixed order, the
//! deductions become one ledger transaction, and the account's standing moves.

use jiff::civil::Date;

use crate::account::{Standing, StateChange};
use crate::deduction::{Charge, Deduction, Funds, InstrumentKind};
use crate::invoice::{ChargeType, LineTotals};
use crate::ledger::Transaction;
use crate::money::Amount;
use crate::rating::RatedLine;

/// A rated line waiting to be paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineDraft {
    /// The billing day the line is dated on (and judged by for instrument validity).
    pub day: Date,
    /// For a correction of an already invoiced month: the day the usage belonged to.
    pub original_day: Option<Date>,
    pub charge_type: ChargeType,
    pub rated: RatedLine,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledLine {
    pub draft: LineDraft,
    pub deduction: Deduction,
}

impl SettledLine {
    pub fn totals(&self) -> LineTotals {
        LineTotals {
            gross: self.draft.rated.rounded.amount,
            rounding_discount: self.draft.rated.rounded.rounding_discount,
            coupon: self.deduction.coupon,
            card: self.deduction.card,
            cash: self.deduction.cash,
            arrears: self.deduction.arrears,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyBill {
    pub day: Date,
    pub lines: Vec<SettledLine>,
    /// The deduction of all charged lines, when any line charged money.
    pub deduction: Option<Transaction>,
    /// Credits back to cash from late usage that lowered a line.
    pub refund: Option<Transaction>,
    pub state_change: Option<StateChange>,
}

impl DailyBill {
    pub fn total(&self) -> Amount {
        self.lines.iter().map(|l| l.draft.rated.rounded.amount).sum()
    }
}

/// Pays the drafts of `day` in order and moves the standing. Drafts must already be in the
/// fixed order (the caller sorts by workspace, item, dimensions).
pub fn settle_day(funds: &mut Funds, standing: &mut Standing, day: Date, drafts: impl IntoIterator<Item = LineDraft>) -> DailyBill {
    let drafts = drafts.into_iter();
    let mut lines = Vec::with_capacity(drafts.size_hint().0);
    for draft in drafts {
        let charge = Charge {
            day: draft.day,
            item: &draft.rated.key.item,
            coupon_eligible: draft.rated.coupon_eligible,
            amount: draft.rated.rounded.amount,
        };
        let deduction = funds.deduct(&charge, true).expect("usage lines may create arrears");
        lines.push(SettledLine { draft, deduction });
    }
    let charged = || lines.iter().map(|l| &l.deduction).filter(|d| d.total().is_positive());
    let credit: Amount = lines.iter().map(|l| l.deduction.total()).filter(|a| a.is_negative()).sum();
    let deduction = charged().next().is_some().then(|| Transaction::deduction(charged()));
    let refund = credit.is_negative().then(|| Transaction::refund(-credit));
    let state_change = standing.update(funds.cash, day);
    DailyBill { day, lines, deduction, refund, state_change }
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
