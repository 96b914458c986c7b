//! The five lists of the Billing Center (SPEC 5), with their filters, as exportable tables.
//! Column names state the currency and time zone wherever they apply.

use std::collections::BTreeMap;

use billing::invoice::outstanding_oldest_first;
use billing::money::{EXACT_SCALE, from_scaled};
use billing::{Amount, Catalog, Month, TxKind};
use export::{Amounts, Cell, InvoiceDocument, InvoiceLine, Table, WorkspaceLines};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use store::{InstrumentRow, LineFilter};

use crate::context::{Account, load_account, load_catalog, parse_date};
use crate::usage::QUANTITY_SCALE;
use crate::{App, AppError, Result};

/// Instruments ending within this many days stand out.
pub const EXPIRING_SOON_DAYS: i64 = 7;

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ExpenseFilter {
    pub month: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub workspace: Option<String>,
    pub item: Option<String>,
    pub charge_type: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    /// RFC 3339 instants or dates (a date means its start in the account's zone); `[from, to)`.
    pub from: Option<String>,
    pub to: Option<String>,
    pub kind: Option<String>,
    /// `cash`, `coupon`, `card`, or one instrument's code such as `CPN-3` or `PC-4`.
    pub fund: Option<String>,
}

pub(crate) fn month_arg(field: &str, text: &str) -> Result<Month> {
    Month::parse(text).ok_or_else(|| AppError::invalid(field, format!("`{text}` is not a month (YYYY-MM)")))
}

fn money(account: &Account, minor: i64) -> Cell {
    Cell::money(account.currency.format(Amount(minor)))
}

fn decimal(v: rust_decimal::Decimal) -> String {
    v.normalize().to_string()
}

/// A line's or invoice's rounding discount, kept to eight decimals of the major unit.
fn discount(v: i64) -> Cell {
    Cell::number(decimal(from_scaled(v, EXACT_SCALE)))
}

/// An instant as the wall-clock time of the account's zone.
fn instant(account: &Account, at: Timestamp) -> Cell {
    Cell::time(at.to_zoned(account.tz.clone()).datetime())
}

/// An instant argument: RFC 3339, or a date meaning its first moment in the account's zone.
fn instant_arg(account: &Account, field: &str, text: &str) -> Result<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let day =
        parse_date(field, text).map_err(|_| AppError::invalid(field, format!("`{text}` is neither an RFC 3339 instant nor a date")))?;
    Ok(billing::period::day_start(day, &account.tz))
}

pub fn fund_label(book: &str, fund_id: i64) -> String {
    match book {
        "coupon" => format!("coupon CPN-{fund_id}"),
        "card" => format!("prepaid card PC-{fund_id}"),
        other => other.to_owned(),
    }
}

/// What an account's coupons (or prepaid cards) can pay today: the balances of those active
/// and not past their validity.
pub(crate) fn usable_balance(instruments: &[InstrumentRow], today: Date, cards: bool) -> i64 {
    instruments.iter().filter(|i| i.active && (i.kind == "card") == cards && i.valid_until >= today).map(|i| i.balance).sum()
}

/// An instrument's status as the customer reads it on `today`.
pub fn instrument_status(i: &InstrumentRow, today: Date) -> &'static str {
    if !i.active {
        "expired"
    } else if i.balance == 0 {
        "used_up"
    } else if today < i.valid_from {
        "not_yet_valid"
    } else {
        "active"
    }
}

/// Days an instrument has left on `today`, today and its last day counted; 0 once expired.
pub(crate) fn days_left(i: &InstrumentRow, today: Date) -> i64 {
    if i.active { billing::Validity { from: i.valid_from, until: i.valid_until }.days_left(today) } else { 0 }
}

/// Whether an instrument's balance expires soon: it can pay today and has at most
/// `EXPIRING_SOON_DAYS` left.
pub(crate) fn expires_soon(i: &InstrumentRow, today: Date) -> bool {
    instrument_status(i, today) == "active" && days_left(i, today) <= EXPIRING_SOON_DAYS
}

/// A filter as a document shows it: the options given, as `name=value` separated by spaces.
pub fn describe_filter(options: &[(&str, Option<&str>)]) -> String {
    let given: Vec<String> = options.iter().filter_map(|(name, value)| value.map(|v| format!("{name}={v}"))).collect();
    given.join(" ")
}

/// A list's title as a document names it.
pub fn list_title(list: &str) -> &'static str {
    match list {
        "invoices" => "Monthly invoices",
        "expenses" => "Detailed expenses",
        "transactions" => "Income and expenditure",
        "coupons" => "Coupons",
        "cards" => "Prepaid cards",
        "packs" => "Resource packs",
        "tax-invoices" => "Tax invoices",
        "invoiceable" => "Invoiceable amounts",
        "balances" => "Balances",
        "events" => "Events",
        _ => "List",
    }
}

impl App {
    /// What an exported document of one account's list says about itself: the account, its
    /// currency and zone, the filter as given, and when it was made.
    pub async fn export_about(&self, now: Timestamp, account_id: &str, list: &str, filter: String) -> Result<export::About> {
        let account = self.account(account_id).await?;
        Ok(export::About {
            list: list_title(list).to_owned(),
            account_id: account.id().to_owned(),
            account_name: account.row.name.clone(),
            currency: account.currency.code().to_owned(),
            currency_digits: account.currency.exponent(),
            time_zone: account.row.time_zone.clone(),
            filter,
            made_at: format!("{} ({})", now.to_zoned(account.tz.clone()).strftime("%Y-%m-%d %H:%M:%S"), account.row.time_zone),
        })
    }

    /// Monthly invoices: issued ones as issued, open months as provisional.
    pub async fn list_invoices(&self, account_id: &str, filter: &InvoiceFilter) -> Result<Table> {
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let from = filter.from.as_deref().map(|t| month_arg("from", t)).transpose()?;
        let to = filter.to.as_deref().map(|t| month_arg("to", t)).transpose()?;
        let issued: BTreeMap<String, store::InvoiceRow> =
            tx.invoices(account_id).await?.into_iter().map(|i| (i.month.clone(), i)).collect();
        // The running month totals, not the lines: an invoice list reads a row per month.
        let mut months: BTreeMap<String, (store::TotalsRow, i64)> = BTreeMap::new();
        for g in tx.account_month_groups(account_id).await? {
            months.entry(g.month).or_default().0 += g.totals;
        }
        for card in tx.instruments(account_id).await?.iter().filter(|i| i.kind == "card" && i.origin == "purchased") {
            let month = Month::of(account.today(card.created_at)).to_string();
            months.entry(month).or_default().1 += card.face_value;
        }
        tx.commit().await?;
        // Outstanding arrears are repaid oldest first, month by month.
        let arrears: Vec<Amount> = months.values().map(|(t, _)| Amount(t.arrears)).collect();
        let debt = Amount(-account.row.cash.min(0));
        let outstanding = outstanding_oldest_first(&arrears, debt);
        let c = account.currency.code();
        let mut table = Table::new(&[
            "month",
            "invoice no",
            "status",
            &format!("gross ({c})"),
            "rounding discount",
            "coupons",
            "prepaid cards",
            "cash",
            "arrears",
            "outstanding",
            "cards bought",
            "invoiceable",
            &format!("issued at ({})", account.row.time_zone),
        ])
        .with_totals(&[
            "gross",
            "rounding_discount",
            "coupons",
            "prepaid_cards",
            "cash",
            "arrears",
            "outstanding",
            "cards_bought",
            "invoiceable",
        ]);
        for ((month, (totals, cards)), outstanding) in months.iter().zip(outstanding) {
            let m = Month::parse(month).expect("stored months are valid");
            if from.is_some_and(|f| m < f) || to.is_some_and(|t| m > t) {
                continue;
            }
            let (status, number, totals, cards, invoiceable, issued_at) = match issued.get(month) {
                Some(inv) => {
                    let status = if outstanding.is_zero() { "paid" } else { "issued" };
                    (status, inv.invoice_no.clone(), inv.totals, inv.cards_total, inv.invoiceable, instant(&account, inv.issued_at))
                }
                None => ("provisional", String::new(), *totals, *cards, totals.cash + cards, Cell::text("")),
            };
            table.push(vec![
                Cell::text(month.clone()),
                Cell::text(number),
                Cell::text(status),
                money(&account, totals.gross),
                discount(totals.rounding_discount),
                money(&account, totals.coupon),
                money(&account, totals.card),
                money(&account, totals.cash),
                money(&account, totals.arrears),
                money(&account, outstanding.minor()),
                money(&account, cards),
                money(&account, invoiceable),
                issued_at,
            ]);
        }
        Ok(table)
    }

    /// Detailed expenses: one row per expense line.
    pub async fn list_expenses(&self, account_id: &str, filter: &ExpenseFilter) -> Result<Table> {
        let lf = line_filter(filter)?;
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let catalog = load_catalog(&mut tx).await?;
        let lines = tx.expense_lines(account_id, &lf).await?;
        tx.commit().await?;
        Ok(expense_table(&account, &catalog, &lines))
    }

    /// The detailed expenses' columns for one account (its currency and zone in their names).
    pub async fn expense_columns(&self, account_id: &str) -> Result<Table> {
        Ok(expense_columns(&self.account(account_id).await?))
    }

    /// Detailed expenses for a file of any size: each row handed to `row`, one billing day's
    /// lines at a time, all read in one transaction (so the file is one consistent picture)
    /// and never all held at once. Returns the rows written.
    pub async fn stream_expenses(
        &self,
        now: Timestamp,
        account_id: &str,
        filter: &ExpenseFilter,
        row: &mut (dyn FnMut(&[Cell]) -> std::io::Result<()> + Send),
    ) -> Result<usize> {
        let lf = line_filter(filter)?;
        let output = |e: std::io::Error| AppError::invalid("output", e.to_string());
        let mut tx = self.store.read_scan().await?;
        let account = load_account(&mut tx, account_id).await?;
        let catalog = load_catalog(&mut tx).await?;
        // Lines exist from the account's first day to its last billed day (or today's package
        // purchase, whichever is later).
        let last = account.row.billed_through.unwrap_or(account.row.first_day).max(account.today(now));
        let mut day = lf.from.unwrap_or(account.row.first_day).max(account.row.first_day);
        let end = lf.to.unwrap_or_else(|| billing::period::next_day(last)).min(billing::period::next_day(last));
        let mut written = 0;
        while day < end {
            let next = billing::period::next_day(day);
            let lines = tx.expense_lines(account_id, &LineFilter { from: Some(day), to: Some(next), ..lf.clone() }).await?;
            for l in &lines {
                row(&expense_row(&account, &catalog, l)).map_err(output)?;
            }
            written += lines.len();
            day = next;
        }
        tx.commit().await?;
        Ok(written)
    }
}

impl App {
    /// Writes detailed expenses as CSV, or as XLSX when `xlsx`, streamed a billing day at a
    /// time (see [`App::stream_expenses`]). Returns the rows written.
    pub async fn write_expenses(
        &self,
        now: Timestamp,
        account_id: &str,
        filter: &ExpenseFilter,
        filter_text: &str,
        xlsx: bool,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<usize> {
        let output = |e: &dyn std::fmt::Display| AppError::invalid("output", e.to_string());
        let columns = self.expense_columns(account_id).await?;
        if xlsx {
            let about = self.export_about(now, account_id, "expenses", filter_text.to_owned()).await?;
            let mut sheet = export::XlsxSheet::new(&columns.columns, &columns.totals, about).map_err(|e| output(&e))?;
            let rows = self.stream_expenses(now, account_id, filter, &mut |r| sheet.push(r).map_err(std::io::Error::other)).await?;
            sheet.finish(out).map_err(|e| output(&e))?;
            return Ok(rows);
        }
        let mut sheet = export::CsvSheet::new(&columns.columns, std::io::BufWriter::new(out)).map_err(|e| output(&e))?;
        let rows = self.stream_expenses(now, account_id, filter, &mut |r| sheet.push(r)).await?;
        sheet.finish().map_err(|e| output(&e))?;
        Ok(rows)
    }
}

/// Where a page of detailed expenses continues: before line `line_no` of `day`, then the
/// days before it. Written `YYYY-MM-DD.N`.
fn expense_cursor(text: &str) -> Result<(Date, i64)> {
    let bad = || AppError::invalid("cursor", format!("`{text}` is not a page of this list"));
    let (day, line) = text.split_once('.').ok_or_else(bad)?;
    Ok((day.parse().map_err(|_| bad())?, line.parse().map_err(|_| bad())?))
}

impl App {
    /// One page of detailed expenses, newest first: at most `limit` lines after `cursor` (the
    /// previous page's answer), read a billing day at a time from the newest day the filter
    /// allows; the filter's other days are not read. Returns the page and the next cursor.
    pub async fn expense_page(
        &self,
        account_id: &str,
        filter: &ExpenseFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Table, Option<String>)> {
        let lf = line_filter(filter)?;
        let resume = cursor.map(expense_cursor).transpose()?;
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let catalog = load_catalog(&mut tx).await?;
        // One line more than the page holds tells whether a next page exists.
        let mut taken: Vec<(Date, i64, Vec<Cell>)> = Vec::new();
        // Days before this bound are read next (the cursor's own day first, if any).
        let mut bound = match resume {
            Some((day, _)) => Some(billing::period::next_day(day)),
            None => lf.to,
        };
        'days: loop {
            let days = tx.expense_days_before(account_id, bound, lf.from, 31).await?;
            let Some(&oldest) = days.last() else { break };
            for day in days {
                let below = resume.filter(|(d, _)| *d == day).map(|(_, n)| n);
                let wanted = (limit + 1 - taken.len()) as i64;
                for l in tx.newest_expense_lines(account_id, day, &lf, below, wanted).await? {
                    taken.push((day, l.line_no, expense_row(&account, &catalog, &l)));
                }
                if taken.len() > limit {
                    break 'days;
                }
            }
            bound = Some(oldest);
        }
        tx.commit().await?;
        let next = if taken.len() > limit {
            taken.pop();
            taken.last().map(|(day, line, _)| format!("{day}.{line}"))
        } else {
            None
        };
        let mut table = expense_columns(&account);
        for (_, _, row) in taken {
            table.push(row);
        }
        Ok((table, next))
    }

    /// The totals of every detailed expense a filter keeps. A filter of whole months (or none)
    /// reads the running month totals, not the lines; a day range sums its lines.
    pub async fn expense_totals(&self, account_id: &str, filter: &ExpenseFilter) -> Result<store::TotalsRow> {
        let lf = line_filter(filter)?;
        let mut tx = self.store.read().await?;
        load_account(&mut tx, account_id).await?;
        let mut sum = store::TotalsRow::default();
        if filter.from.is_none() && filter.to.is_none() {
            let keep = |v: &Option<String>, x: &str| v.as_deref().is_none_or(|v| v == x);
            for g in tx.account_month_groups(account_id).await? {
                if keep(&filter.month, &g.month)
                    && keep(&lf.workspace, &g.workspace_id)
                    && keep(&lf.item, &g.item)
                    && keep(&lf.charge_type, &g.charge_type)
                {
                    sum += g.totals;
                }
            }
        } else {
            for l in tx.expense_lines(account_id, &lf).await? {
                sum += l.money;
            }
        }
        tx.commit().await?;
        Ok(sum)
    }
}

/// The store's filter of the expenses list's filter; refuses what is malformed.
fn line_filter(filter: &ExpenseFilter) -> Result<LineFilter> {
    let mut lf = LineFilter::default();
    if let Some(m) = &filter.month {
        let days = month_arg("month", m)?.days();
        lf.from = Some(days.start);
        lf.to = Some(days.end);
    }
    if let Some(f) = &filter.from {
        lf.from = Some(parse_date("from", f)?);
    }
    if let Some(t) = &filter.to {
        // The command line names the last day wanted; the range stays half-open.
        lf.to = Some(billing::period::next_day(parse_date("to", t)?));
    }
    if let Some(ct) = &filter.charge_type {
        billing::ChargeType::parse(ct)
            .ok_or_else(|| AppError::invalid("charge-type", format!("`{ct}` is not pay_as_you_go, annual_package or adjustment")))?;
    }
    lf.workspace = filter.workspace.clone();
    lf.item = filter.item.clone();
    lf.charge_type = filter.charge_type.clone();
    Ok(lf)
}

impl App {
    /// Income and expenditure: the customer's side of the ledger, with a summary by fund and
    /// type. The default range is the 30 days before `now`.
    pub async fn list_transactions(&self, now: Timestamp, account_id: &str, filter: &TransactionFilter) -> Result<(Table, Table)> {
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let to = filter.to.as_deref().map(|t| instant_arg(&account, "to", t)).transpose()?.unwrap_or(now + SignedDuration::from_secs(1));
        let from = match filter.from.as_deref() {
            Some(t) => instant_arg(&account, "from", t)?,
            None => now - SignedDuration::from_hours(24 * 30),
        };
        if from >= to {
            return Err(AppError::invalid("to", "the range ends before it starts"));
        }
        if let Some(kind) = &filter.kind {
            TxKind::parse(kind).ok_or_else(|| AppError::invalid("type", format!("`{kind}` is not a transaction type")))?;
        }
        let fund = filter.fund.as_deref().map(parse_fund).transpose()?;
        let entries = tx.ledger_entries((account_id, account_id), Some(from), Some(to), true).await?;
        tx.commit().await?;
        let c = account.currency.code();
        let mut table = Table::new(&[
            &format!("time ({})", account.row.time_zone),
            "transaction no",
            "type",
            "fund",
            "direction",
            &format!("amount ({c})"),
            "balance after",
            "related document",
            "remark",
        ]);
        let mut summary: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for (t, e) in entries {
            if filter.kind.as_ref().is_some_and(|k| *k != t.kind) {
                continue;
            }
            if let Some((book, id)) = &fund
                && (e.book != *book || id.is_some_and(|id| id != e.fund_id))
            {
                continue;
            }
            let label = fund_label(&e.book, e.fund_id);
            let income = e.amount > 0;
            let s = summary.entry((e.book.clone(), t.kind.clone())).or_default();
            if income {
                s.0 += e.amount
            } else {
                s.1 += -e.amount
            }
            table.push(vec![
                instant(&account, t.posted_at),
                Cell::text(format!("TX-{:06}", t.tx_no)),
                Cell::text(t.kind.clone()),
                Cell::text(label),
                Cell::text(if income { "income" } else { "expenditure" }),
                money(&account, e.amount.abs()),
                money(&account, e.balance_after.expect("fund entries carry their balance")),
                Cell::text(t.document.clone()),
                Cell::text(t.remark.clone()),
            ]);
        }
        let mut totals = Table::new(&["fund", "type", &format!("income ({c})"), "expenditure", "net"]);
        for ((book, kind), (income, spent)) in summary {
            totals.push(vec![
                Cell::text(book),
                Cell::text(kind),
                money(&account, income),
                money(&account, spent),
                money(&account, income - spent),
            ]);
        }
        Ok((table, totals))
    }

    /// Coupons, or prepaid cards, of an account, optionally of one status.
    pub async fn list_instruments(&self, now: Timestamp, account_id: &str, cards: bool, status: Option<&str>) -> Result<Table> {
        if let Some(s) = status.filter(|s| !INSTRUMENT_STATUSES.contains(s)) {
            return Err(AppError::invalid("status", format!("`{s}` is not one of {}", INSTRUMENT_STATUSES.join(", "))));
        }
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let instruments = tx.instruments(account_id).await?;
        tx.commit().await?;
        let today = account.today(now);
        let c = account.currency.code();
        let mut table = if cards {
            Table::new(&[
                "card no",
                &format!("denomination ({c})"),
                "balance",
                "valid from",
                "valid until",
                &format!("purchased at ({})", account.row.time_zone),
                "origin",
                "status",
                "days left",
                "expiring soon",
            ])
            .with_totals(&["denomination", "balance"])
        } else {
            Table::new(&[
                "code",
                "kind",
                &format!("face value ({c})"),
                "balance",
                "valid from",
                "valid until",
                "status",
                "days left",
                "expiring soon",
                "scope",
            ])
            .with_totals(&["face_value", "balance"])
        };
        for i in instruments.iter().filter(|i| (i.kind == "card") == cards) {
            let st = instrument_status(i, today);
            if status.is_some_and(|s| s != st) {
                continue;
            }
            let left = days_left(i, today);
            let soon = if expires_soon(i, today) { "yes" } else { "" };
            let common = [money(&account, i.face_value), money(&account, i.balance), Cell::date(i.valid_from), Cell::date(i.valid_until)];
            let row = if cards {
                let mut r = vec![Cell::text(i.code.clone())];
                r.extend(common);
                r.extend([
                    instant(&account, i.created_at),
                    Cell::text(i.origin.clone()),
                    Cell::text(st),
                    Cell::number(left.to_string()),
                    Cell::text(soon),
                ]);
                r
            } else {
                let mut r = vec![Cell::text(i.code.clone()), Cell::text(i.kind.clone())];
                r.extend(common);
                r.extend([
                    Cell::text(st),
                    Cell::number(left.to_string()),
                    Cell::text(soon),
                    Cell::text(i.scope.clone().unwrap_or_else(|| "all items".into())),
                ]);
                r
            };
            table.push(row);
        }
        Ok(table)
    }

    /// State changes and issued invoices, as they will be sent to webhooks.
    pub async fn list_events(&self, account_id: &str) -> Result<Table> {
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let events = tx.events(account_id).await?;
        tx.commit().await?;
        let mut table = Table::new(&["event no", "event", &format!("date ({})", account.row.time_zone), "detail"]);
        for e in events {
            table.push(vec![Cell::number(e.event_no.to_string()), Cell::text(e.kind), Cell::date(e.happened_on), Cell::text(e.detail)]);
        }
        Ok(table)
    }

    /// The account's balances and standing, for the top of every page and the CLI.
    pub async fn balances(&self, now: Timestamp, account_id: &str) -> Result<Table> {
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let instruments = tx.instruments(account_id).await?;
        tx.commit().await?;
        let today = account.today(now);
        let usable = |cards: bool| usable_balance(&instruments, today, cards);
        let c = account.currency.code();
        let mut table =
            Table::new(&["account", &format!("cash ({c})"), "coupons", "prepaid cards", "arrears", "state", "billed through", "time zone"]);
        table.push(vec![
            Cell::text(account.id()),
            money(&account, account.row.cash),
            money(&account, usable(false)),
            money(&account, usable(true)),
            money(&account, -account.row.cash.min(0)),
            Cell::text(account.row.state.clone()),
            account.row.billed_through.map_or(Cell::text(""), Cell::date),
            Cell::text(account.row.time_zone.clone()),
        ]);
        Ok(table)
    }
}

/// The statuses a coupon or a prepaid card can be in.
pub const INSTRUMENT_STATUSES: [&str; 4] = ["active", "not_yet_valid", "used_up", "expired"];

/// Every status a list can be filtered by (coupons and cards, resource packs, tax invoices),
/// each once.
pub fn statuses() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = INSTRUMENT_STATUSES.to_vec();
    all.extend(crate::packs::PACK_STATUSES);
    all.extend(billing::TaxInvoiceStatus::ALL.iter().map(|s| s.as_str()));
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|s| seen.insert(*s));
    all
}

fn parse_fund(text: &str) -> Result<(String, Option<i64>)> {
    let bad = || AppError::invalid("fund", format!("`{text}` is not cash, coupon, card, CPN-<n> or PC-<n>"));
    match text {
        "cash" | "coupon" | "card" => Ok((text.to_owned(), None)),
        _ => {
            let (book, n) = if let Some(n) = text.strip_prefix("CPN-") {
                ("coupon", n)
            } else if let Some(n) = text.strip_prefix("PC-") {
                ("card", n)
            } else {
                return Err(bad());
            };
            Ok((book.to_owned(), Some(n.parse().map_err(|_| bad())?)))
        }
    }
}

/// The detailed expenses' columns (no rows yet), with the columns their totals row sums.
fn expense_columns(account: &Account) -> Table {
    let c = account.currency.code();
    Table::new(&[
        &format!("billing day ({})", account.row.time_zone),
        "workspace",
        "item",
        "dimensions",
        "quantity",
        "unit",
        "package covered",
        "priced quantity",
        "priced at",
        &format!("unit price ({c})"),
        "gross",
        "rounding discount",
        "coupon",
        "prepaid card",
        "cash",
        "arrears",
        "charge type",
        "usage day",
        "line no",
        "document",
    ])
    .with_totals(&["gross", "rounding_discount", "coupon", "prepaid_card", "cash", "arrears"])
}

/// One expense line as the list shows it.
fn expense_row(account: &Account, catalog: &Catalog, l: &store::ExpenseLineRow) -> Vec<Cell> {
    let (unit, priced_at) = match catalog.items.get(&l.item) {
        Some(item) => (item.unit.clone(), if l.priced_dims == l.dims { String::new() } else { l.priced_dims.clone() }),
        None if catalog.packs.contains_key(&l.item) => ("pack".to_owned(), String::new()),
        None => ("package".to_owned(), String::new()),
    };
    let q = |v: i64| Cell::number(decimal(from_scaled(v, QUANTITY_SCALE)));
    vec![
        Cell::date(l.billing_day),
        Cell::text(l.workspace_id.clone()),
        Cell::text(l.item.clone()),
        Cell::text(l.dims.clone()),
        q(l.quantity),
        Cell::text(unit),
        q(l.covered),
        q(l.chargeable),
        Cell::text(priced_at),
        Cell::number(l.unit_price.map(|p| decimal(from_scaled(p, QUANTITY_SCALE))).unwrap_or_default()),
        money(account, l.money.gross),
        discount(l.money.rounding_discount),
        money(account, l.money.coupon),
        money(account, l.money.card),
        money(account, l.money.cash),
        money(account, l.money.arrears),
        Cell::text(l.charge_type.clone()),
        if l.usage_day == l.billing_day { Cell::text("") } else { Cell::date(l.usage_day) },
        Cell::number(l.line_no.to_string()),
        Cell::text(l.document.clone()),
    ]
}

fn expense_table(account: &Account, catalog: &Catalog, lines: &[store::ExpenseLineRow]) -> Table {
    let mut table = expense_columns(account);
    for l in lines {
        table.push(expense_row(account, catalog, l));
    }
    table
}

/// One month's invoice as the Billing Center shows it: its summary row (the invoices list's
/// columns), its lines grouped by workspace × billable item × charge type, and the prepaid
/// cards bought in the month.
#[derive(Clone, Debug)]
pub struct InvoiceDetail {
    pub account: Account,
    pub month: Month,
    /// The invoices list's columns and this month's row of it.
    pub summary: Table,
    pub lines: Vec<store::InvoiceLineRow>,
    /// Code, face value and the day bought (in the account's zone).
    pub cards: Vec<(String, i64, Date)>,
    /// The display name of every billable item and package of the catalog, by code.
    pub names: BTreeMap<String, String>,
}

impl App {
    /// The invoice of `month`: issued, paid or provisional. A month without activity is not found.
    pub async fn invoice_detail(&self, account_id: &str, month: &str) -> Result<InvoiceDetail> {
        let m = month_arg("month", month)?;
        let summary = self.list_invoices(account_id, &InvoiceFilter { from: Some(month.to_owned()), to: Some(month.to_owned()) }).await?;
        if summary.rows.is_empty() {
            return Err(AppError::NotFound { what: "invoice", key: format!("{account_id} {month}") });
        }
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let catalog = load_catalog(&mut tx).await?;
        let names = catalog
            .items
            .values()
            .map(|i| (i.code.clone(), i.name.clone()))
            .chain(catalog.packages.values().map(|p| (p.code.clone(), p.name.clone())))
            .collect();
        let lines = tx.month_line_totals(&[account_id], &m.to_string()).await?;
        let cards = tx
            .instruments(account_id)
            .await?
            .into_iter()
            .filter(|i| i.kind == "card" && i.origin == "purchased" && m.contains(account.today(i.created_at)))
            .map(|i| (i.code.clone(), i.face_value, account.today(i.created_at)))
            .collect();
        tx.commit().await?;
        Ok(InvoiceDetail { account, month: m, summary, lines, cards, names })
    }

    /// The invoice of `month` as printed: lines grouped by workspace with subtotals, the
    /// month's totals, the cards bought, and this App's issuer.
    pub async fn invoice_document(&self, account_id: &str, month: &str) -> Result<InvoiceDocument> {
        Ok(self.invoice_detail(account_id, month).await?.document(self.issuer()))
    }
}

/// A page of an invoice's workspaces: whole workspaces in id order, after a cursor.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspacePage<'a> {
    /// The lines of the page's workspaces.
    pub lines: &'a [store::InvoiceLineRow],
    /// Positions (1-based) of the page's first and last workspace, and how many there are.
    pub first: usize,
    pub last: usize,
    pub of: usize,
    /// The cursor of the next page (the page's last workspace), if one follows.
    pub next: Option<String>,
}

/// [`InvoiceDetail::workspace_page`] of lines in workspace order.
fn workspace_page<'a>(lines: &'a [store::InvoiceLineRow], after: Option<&str>, per_page: usize) -> WorkspacePage<'a> {
    let per_page = per_page.max(1);
    // Each workspace and where its lines start.
    let workspaces: Vec<(&str, usize)> = lines
        .chunk_by(|a, b| a.workspace_id == b.workspace_id)
        .scan(0, |at, run| {
            let start = *at;
            *at += run.len();
            Some((run[0].workspace_id.as_str(), start))
        })
        .collect();
    let skip = after.map_or(0, |a| workspaces.partition_point(|(w, _)| *w <= a));
    let shown = &workspaces[skip..];
    let taken = shown.len().min(per_page);
    let start = shown.first().map_or(lines.len(), |(_, at)| *at);
    let end = shown.get(taken).map_or(lines.len(), |(_, at)| *at);
    WorkspacePage {
        lines: &lines[start..end],
        first: if taken == 0 { 0 } else { skip + 1 },
        last: if taken == 0 { 0 } else { skip + taken },
        of: workspaces.len(),
        next: (shown.len() > taken).then(|| shown[taken - 1].0.to_owned()),
    }
}

impl InvoiceDetail {
    /// The workspaces after `after` (from the first when `None`), at most `per_page` of them,
    /// each with all its lines. An account of thousands of workspaces shows its invoice a
    /// page at a time.
    pub fn workspace_page(&self, after: Option<&str>, per_page: usize) -> WorkspacePage<'_> {
        workspace_page(&self.lines, after, per_page)
    }

    /// The invoice as a document: every amount as display text (thousands grouped), the lines
    /// grouped by workspace (in the order the store gives them: workspace, then item).
    pub fn document(&self, issuer: &export::Issuer) -> InvoiceDocument {
        self.document_of(issuer, &self.lines)
    }

    /// [`InvoiceDetail::document`] of some of its lines (a page of workspaces): the summary
    /// is still the whole month's.
    pub fn document_of(&self, issuer: &export::Issuer, lines: &[store::InvoiceLineRow]) -> InvoiceDocument {
        let keys = self.summary.keys();
        let row = &self.summary.rows[0];
        let get = |key: &str| keys.iter().position(|k| k == key).map(|c| row[c].as_str().to_owned()).unwrap_or_default();
        let cur = self.account.currency;
        let amount = |minor: i64| export::group_thousands(&cur.format(Amount(minor)));
        let amounts = |t: &store::TotalsRow| Amounts {
            gross: amount(t.gross),
            rounding_discount: decimal(from_scaled(t.rounding_discount, EXACT_SCALE)),
            coupons: amount(t.coupon),
            prepaid_cards: amount(t.card),
            cash: amount(t.cash),
            arrears: amount(t.arrears),
        };
        let mut workspaces: Vec<(String, Vec<InvoiceLine>, store::TotalsRow)> = Vec::new();
        for l in lines {
            if workspaces.last().is_none_or(|(w, _, _)| *w != l.workspace_id) {
                workspaces.push((l.workspace_id.clone(), Vec::new(), store::TotalsRow::default()));
            }
            let (_, lines, subtotal) = workspaces.last_mut().expect("a group was just pushed");
            *subtotal += l.totals;
            lines.push(InvoiceLine {
                item: l.item.clone(),
                item_name: self.names.get(&l.item).cloned().unwrap_or_else(|| l.item.clone()),
                charge_type: l.charge_type.clone(),
                amounts: amounts(&l.totals),
            });
        }
        let mut month = store::TotalsRow::default();
        for l in lines {
            month += l.totals;
        }
        let days = self.month.days();
        let status = get("status");
        let issued_on = if status == "provisional" { String::new() } else { get("issued_at").chars().take(10).collect() };
        InvoiceDocument {
            issuer: issuer.clone(),
            account_id: self.account.row.account_id.clone(),
            account_name: self.account.row.name.clone(),
            currency: cur.code().to_owned(),
            time_zone: self.account.row.time_zone.clone(),
            number: get("invoice_no"),
            issued_on,
            status,
            month: self.month.to_string(),
            period: (days.start.to_string(), days.end.yesterday().expect("a month ends after it starts").to_string()),
            workspaces: workspaces
                .into_iter()
                .map(|(workspace, lines, subtotal)| WorkspaceLines { workspace, lines, subtotal: amounts(&subtotal) })
                .collect(),
            totals: amounts(&month),
            outstanding: export::group_thousands(&get("outstanding")),
            invoiceable: export::group_thousands(&get("invoiceable")),
            cards_total: export::group_thousands(&get("cards_bought")),
            cards: self.cards.iter().map(|(code, face, day)| (code.clone(), amount(*face), day.to_string())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::workspace_page;

    fn lines(workspaces: &[(&str, usize)]) -> Vec<store::InvoiceLineRow> {
        workspaces
            .iter()
            .flat_map(|(w, items)| {
                (0..*items).map(move |i| store::InvoiceLineRow {
                    account_id: "a".into(),
                    month: "2026-11".into(),
                    workspace_id: (*w).into(),
                    item: format!("item{i}"),
                    charge_type: "pay_as_you_go".into(),
                    totals: store::TotalsRow::default(),
                })
            })
            .collect()
    }

    /// Following the cursors visits every workspace once, whole, in order.
    #[test]
    fn workspace_pages_follow_each_other() {
        let all = lines(&[("w1", 2), ("w2", 1), ("w3", 3), ("w4", 1), ("w5", 2)]);
        let first = workspace_page(&all, None, 2);
        assert_eq!((first.first, first.last, first.of, first.lines.len()), (1, 2, 5, 3));
        assert_eq!(first.next.as_deref(), Some("w2"));
        let second = workspace_page(&all, first.next.as_deref(), 2);
        assert_eq!((second.first, second.last, second.lines.len()), (3, 4, 4));
        assert!(second.lines.iter().all(|l| l.workspace_id == "w3" || l.workspace_id == "w4"));
        let third = workspace_page(&all, second.next.as_deref(), 2);
        assert_eq!((third.first, third.last, third.lines.len(), third.next), (5, 5, 2, None));
        // A cursor between workspaces (one since removed) starts after it; past the end, none.
        assert_eq!(workspace_page(&all, Some("w25"), 2).first, 3);
        let past = workspace_page(&all, Some("w9"), 2);
        assert_eq!((past.first, past.last, past.lines.len(), past.next), (0, 0, 0, None));
        assert_eq!(workspace_page(&[], None, 2).of, 0);
    }
}
