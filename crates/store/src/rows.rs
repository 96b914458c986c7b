//! Plain rows as the store reads and writes them, in their storage encoding (see the crate doc).

use jiff::Timestamp;
use jiff::civil::Date;

/// Account-local sequences for lines, ledger transactions, instruments, invoices, events and
/// packages. They make numbers deterministic for the same input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub next_line: i64,
    pub next_tx: i64,
    pub next_instrument: i64,
    pub next_invoice: i64,
    pub next_event: i64,
    pub next_package: i64,
}

impl Counters {
    pub const START: Counters = Counters { next_line: 1, next_tx: 1, next_instrument: 1, next_invoice: 1, next_event: 1, next_package: 1 };
}

/// Takes the next number of a sequence.
pub fn take(seq: &mut i64) -> i64 {
    let n = *seq;
    *seq += 1;
    n
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    pub account_id: String,
    pub name: String,
    pub currency: String,
    pub time_zone: String,
    pub created_at: Timestamp,
    pub first_day: Date,
    pub billed_through: Option<Date>,
    pub cash: i64,
    pub state: String,
    pub overdue_since: Option<Date>,
    pub counters: Counters,
    /// The hash of the account's last ledger transaction (empty before the first).
    pub ledger_head: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceRow {
    pub workspace_id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// A usage record's id as ingestion claims it: the id, and a fingerprint of the record's
/// content that tells a repeat (a duplicate) from a different record under the same id (a
/// conflict). Fingerprint 0 means "content not known" (ids stored before fingerprints were).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordClaim<'a> {
    pub account_id: &'a str,
    pub record_id: &'a str,
    pub fingerprint: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageDailyRow {
    pub account_id: String,
    pub billing_day: Date,
    pub workspace_id: String,
    pub item: String,
    pub dims: String,
    /// Scaled by 10^6.
    pub quantity: i64,
    pub late: bool,
}

/// Sums of the lines billed for one usage key of one day (quantities scaled by 10^6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BilledUsageRow {
    pub workspace_id: String,
    pub item: String,
    pub dims: String,
    pub quantity: i64,
    pub covered: i64,
    pub chargeable: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyBillRow {
    pub account_id: String,
    pub billing_day: Date,
    pub settled_at: Timestamp,
    pub line_count: i64,
    pub total: i64,
}

/// An expense line as stored. Its texts are `String`s as read; the nightly run writes them
/// as shared texts (`Arc<str>`: a key's item, dimensions and workspace, the account id and
/// the day's document are shared by many lines, not copied into each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpenseLineRow<S = String> {
    pub account_id: S,
    pub line_no: i64,
    pub billing_day: Date,
    /// The day the usage belongs to; differs from `billing_day` for corrections of an
    /// invoiced month.
    pub usage_day: Date,
    pub workspace_id: S,
    pub item: S,
    pub dims: S,
    pub charge_type: S,
    pub quantity: i64,
    pub covered: i64,
    pub chargeable: i64,
    pub priced_dims: S,
    pub unit_price: Option<i64>,
    /// The line's money: the same columns an invoice and a month's running totals keep.
    pub money: TotalsRow,
    pub document: S,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerTxRow {
    pub account_id: String,
    pub tx_no: i64,
    pub kind: String,
    pub posted_at: Timestamp,
    pub document: String,
    pub remark: String,
    /// Covers this transaction, its entries and the previous transaction's hash.
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntryRow {
    pub account_id: String,
    pub tx_no: i64,
    pub entry_no: i64,
    pub book: String,
    pub fund_id: i64,
    pub amount: i64,
    /// The fund's balance after this entry; `None` on the operator's books.
    pub balance_after: Option<i64>,
}

/// What the nightly run changes of an instrument: its balance and whether it is active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentBalance {
    pub account_id: String,
    pub instrument_id: i64,
    pub balance: i64,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentRow {
    pub account_id: String,
    pub instrument_id: i64,
    /// `regular`, `discount` (coupons) or `card`.
    pub kind: String,
    /// `issued`, `activated` (coupons), `purchased`, `granted` (cards).
    pub origin: String,
    pub code: String,
    pub face_value: i64,
    pub balance: i64,
    pub valid_from: Date,
    pub valid_until: Date,
    /// Comma-separated billable items; `None` for all.
    pub scope: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRow {
    pub account_id: String,
    pub package_no: i64,
    pub plan: String,
    pub start_day: Date,
    /// Exclusive: the package covers `[start_day, end_day)`.
    pub end_day: Date,
    pub price: i64,
    pub purchased_at: Timestamp,
    /// Renews itself for another year at its end (the nightly run buys the next term).
    pub auto_renew: bool,
}

/// The money columns of an expense line, an invoice or invoice line and a month's running
/// totals, in storage encoding (minor units; the rounding discount scaled by 10^8 of the major
/// unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TotalsRow {
    pub gross: i64,
    pub rounding_discount: i64,
    pub coupon: i64,
    pub card: i64,
    pub cash: i64,
    pub arrears: i64,
}

/// The domain's money columns as stored, and back: the same six columns.
impl From<&billing::LineTotals> for TotalsRow {
    fn from(t: &billing::LineTotals) -> TotalsRow {
        TotalsRow {
            gross: t.gross.minor(),
            rounding_discount: t.rounding_discount.0,
            coupon: t.coupon.minor(),
            card: t.card.minor(),
            cash: t.cash.minor(),
            arrears: t.arrears.minor(),
        }
    }
}

impl From<TotalsRow> for billing::LineTotals {
    fn from(t: TotalsRow) -> billing::LineTotals {
        use billing::Amount;
        billing::LineTotals {
            gross: Amount(t.gross),
            rounding_discount: billing::RoundingDiscount(t.rounding_discount),
            coupon: Amount(t.coupon),
            card: Amount(t.card),
            cash: Amount(t.cash),
            arrears: Amount(t.arrears),
        }
    }
}

impl std::ops::AddAssign for TotalsRow {
    fn add_assign(&mut self, o: TotalsRow) {
        let add = |a: &mut i64, b: i64| *a = a.checked_add(b).expect("money sums fit i64");
        add(&mut self.gross, o.gross);
        add(&mut self.rounding_discount, o.rounding_discount);
        add(&mut self.coupon, o.coupon);
        add(&mut self.card, o.card);
        add(&mut self.cash, o.cash);
        add(&mut self.arrears, o.arrears);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceRow {
    pub account_id: String,
    pub month: String,
    pub invoice_no: String,
    pub issued_at: Timestamp,
    pub totals: TotalsRow,
    pub cards_total: i64,
    pub invoiceable: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceLineRow {
    pub account_id: String,
    pub month: String,
    pub workspace_id: String,
    pub item: String,
    pub charge_type: String,
    pub totals: TotalsRow,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceCardRow {
    pub account_id: String,
    pub month: String,
    pub instrument_id: i64,
    pub face_value: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub account_id: String,
    pub event_no: i64,
    pub kind: String,
    pub happened_on: Date,
    pub created_at: Timestamp,
    pub detail: String,
}

/// Filters of the detailed expenses list; the day range is half-open `[from, to)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineFilter {
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub workspace: Option<String>,
    pub item: Option<String>,
    pub charge_type: Option<String>,
}
