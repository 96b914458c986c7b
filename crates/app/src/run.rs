//! The nightly run: for every account, each billing day that has ended and is not yet billed
//! is rated, settled and written to the ledger; late usage is rated as adjustments; instruments
//! that ended are written off; standings move; due monthly invoices are issued.
//!
//! Accounts are processed in batches in id order, one database transaction per batch, with
//! every read of a batch a range query over `[first, last]` account ids. Each account-day is
//! billed exactly once: `daily_bill` is keyed by (account, day), and `billed_through` only
//! moves forward inside the same transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use billing::money::to_scaled;
use billing::period::{last_ended_day, next_day, previous_day};
use billing::{
    Amount, Billed, Book, Catalog, ChargeType, DayPrices, Invoice, KeyUsage, LineTotals, Month, PackPool, PackagePlan, Quantity, RatedLine,
    Transaction, settle_day,
};
use jiff::Timestamp;
use jiff::civil::Date;
use store::{
    DailyBillRow, EventRow, ExpenseLineRow, InstrumentRow, InvoiceCardRow, InvoiceRow, LedgerEntryRow, LedgerTxRow, PackageRow, TotalsRow,
    Tx, UsageDailyRow,
};

use crate::context::{Account, LedgerWriter, funds_of, instrument_book, load_catalog};
use crate::funds::{set_standing, standing_of, state_event};
use crate::usage::QUANTITY_SCALE;
use crate::{App, Result};

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Accounts per database transaction. 10,000 by default: a commit costs a WAL sync and
    /// a checkpoint, and the pages a batch shares (month totals, the tops of the line tree)
    /// are written once per commit; at 2,000 a 50,000-account night took ~13 s, at 10,000
    /// ~9 s. With the next batch read and billed ahead (two batches in memory: peak RSS
    /// ~600 MiB at 1,000,000 accounts), 5,000, 20,000 and 50,000 were no faster.
    pub batch_accounts: usize,
    /// Account-days a batch bills at most (at least one account): a catch-up run over many
    /// days would otherwise hold every day of `batch_accounts` accounts at once (10,000
    /// accounts × 32 days at 100,000 accounts peaked at 2.9 GiB). A night's batch (one day
    /// each) is bounded by `batch_accounts` first.
    pub batch_account_days: usize,
    /// The monthly invoice for month M is issued once this day of M+1 has ended.
    pub invoice_day: i8,
    /// A day is billed once this long has passed after it ended (the scheduler's 00:30).
    pub delay: jiff::SignedDuration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { batch_accounts: 10_000, batch_account_days: 50_000, invoice_day: 3, delay: jiff::SignedDuration::ZERO }
    }
}

/// Backoff before another attempt of a transaction: 10 ms, doubling per attempt.
/// Passes over the accounts a run makes at most (see `App::run`).
const RUN_PASSES: u32 = 4;

async fn backoff(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(10u64 << attempt.min(6))).await;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub accounts_seen: usize,
    pub accounts_billed: usize,
    pub days_billed: usize,
    pub lines: usize,
    pub adjustment_lines: usize,
    pub instruments_expired: usize,
    pub invoices_issued: usize,
    pub state_changes: usize,
}

impl RunReport {
    fn add(&mut self, other: &RunReport) {
        self.accounts_seen += other.accounts_seen;
        self.accounts_billed += other.accounts_billed;
        self.days_billed += other.days_billed;
        self.lines += other.lines;
        self.adjustment_lines += other.adjustment_lines;
        self.instruments_expired += other.instruments_expired;
        self.invoices_issued += other.invoices_issued;
        self.state_changes += other.state_changes;
    }
}

/// Rows a batch writes, gathered in memory and written in bulk.
#[derive(Default)]
struct Pending {
    lines: Vec<ExpenseLineRow<Arc<str>>>,
    bills: Vec<DailyBillRow>,
    events: Vec<EventRow>,
    txs: Vec<LedgerTxRow>,
    entries: Vec<LedgerEntryRow>,
    accounts: Vec<store::AccountRow>,
    invoices: Vec<InvoiceRow>,
    invoice_cards: Vec<InvoiceCardRow>,
    /// Instruments whose balance or state changed.
    instruments: Vec<store::InstrumentBalance>,
    /// Usage days whose late keys were rated: (account, usage day).
    rated_late: Vec<(String, Date)>,
    /// Annual packages renewed automatically.
    packages: Vec<PackageRow>,
    /// What `resource_pack` lines took from each pack, and the packs' volume left after.
    pack_draws: Vec<store::PackDrawRow>,
    packs: Vec<store::PackRemaining>,
}

/// Rows handed from the billing thread to the writer: the lines already prepared there
/// (their groups' JSON and month sums made, the line rows freed), so that the writing thread
/// only writes.
struct Handover {
    lines: store::PreparedLines,
    rest: Pending,
}

impl Handover {
    fn of(mut pending: Pending) -> Handover {
        let lines = store::PreparedLines::new(&std::mem::take(&mut pending.lines));
        Handover { lines, rest: pending }
    }

    /// Writes the rows in the batch's transaction; each handover is written once.
    async fn flush(self, tx: &mut Tx) -> Result<()> {
        tx.insert_prepared_lines(&self.lines).await?;
        self.rest.flush(tx).await
    }
}

impl Pending {
    /// An empty buffer with room for as many rows as `like` holds: the next handover is about
    /// as big, and vectors grown by doubling copy their rows and fault fresh memory in again.
    fn sized_like(like: &Pending) -> Pending {
        Pending {
            lines: Vec::with_capacity(like.lines.len()),
            bills: Vec::with_capacity(like.bills.len()),
            events: Vec::with_capacity(like.events.len()),
            txs: Vec::with_capacity(like.txs.len()),
            entries: Vec::with_capacity(like.entries.len()),
            accounts: Vec::with_capacity(like.accounts.len()),
            ..Pending::default()
        }
    }

    /// Writes the rows other than lines (see `Handover`).
    async fn flush(self, tx: &mut Tx) -> Result<()> {
        debug_assert!(self.lines.is_empty(), "lines are written prepared");
        tx.insert_daily_bills(&self.bills).await?;
        tx.insert_events(&self.events).await?;
        tx.insert_ledger(&self.txs, &self.entries).await?;
        tx.update_accounts(&self.accounts).await?;
        tx.insert_invoices(&self.invoices, &self.invoice_cards).await?;
        tx.update_instruments(&self.instruments).await?;
        for (account_id, day) in &self.rated_late {
            tx.clear_late(account_id, *day).await?;
        }
        for p in &self.packages {
            tx.insert_package(p).await?;
        }
        tx.insert_pack_draws(&self.pack_draws).await?;
        tx.update_pack_remaining(&self.packs).await?;
        Ok(())
    }
}

/// A daily usage row as a rating key, made of the day's shared texts (`DayPrices::usage_key`);
/// `workspace` keeps the last row's workspace for the next (an account's rows come workspace
/// by workspace), so a workspace's keys share its text too.
fn key_usage(prices: &DayPrices<'_>, workspace: &mut Option<Arc<str>>, row: &UsageDailyRow, billed: Option<Billed>) -> KeyUsage {
    let ws = match workspace {
        Some(w) if **w == *row.workspace_id => w.clone(),
        _ => workspace.insert(row.workspace_id.as_str().into()).clone(),
    };
    KeyUsage::new(prices, Arc::new(prices.usage_key(ws, &row.item, &row.dims)), Quantity(row.quantity), billed)
}

/// Rating takes a day's keys sorted and distinct (the package's fill order and the order
/// lines are paid in) and checks it only where a package fills (and in debug builds): the
/// keys the database hands over are checked here, where they were just made (the rows'
/// `ORDER BY` must agree with the keys' text order).
fn in_rating_order(keys: &[KeyUsage]) {
    assert!(keys.windows(2).all(|w| w[0].key < w[1].key), "a day's usage rows come sorted by workspace, item and dimensions, once each");
}

/// An account's packs with volume left, as rating draws on them (in the same order).
pub(crate) fn pack_pool(packs: &[store::PackRow]) -> PackPool {
    PackPool::new(
        packs
            .iter()
            .map(|p| billing::Pack {
                no: p.pack_no,
                item: p.item.clone(),
                validity: billing::Validity { from: p.valid_from, until: p.valid_until },
                volume: Quantity(p.volume),
                remaining: Quantity(p.remaining),
            })
            .collect(),
    )
}

/// The package plan covering a day, if any.
fn plan_on<'c>(catalog: &'c Catalog, packages: &[PackageRow], day: Date) -> Option<&'c PackagePlan> {
    packages.iter().find(|p| p.start_day <= day && day < p.end_day).and_then(|p| catalog.packages.get(&p.plan))
}

impl App {
    /// Runs the nightly job as of `now`. Running it again at the same `now` changes nothing.
    pub async fn run(&self, now: Timestamp, options: RunOptions, progress: &mut (dyn FnMut(usize, usize) + Send)) -> Result<RunReport> {
        let mut report = RunReport::default();
        let total = {
            let mut tx = self.store.read().await?;
            let n = tx.count_accounts().await?;
            tx.commit().await?;
            usize::try_from(n).unwrap_or(0)
        };
        // No zone ends a day earlier than UTC+14: an account billed through that zone's last
        // ended day has nothing due, whatever its own zone.
        let earliest_zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(14));
        let due_before = last_ended_day(now - options.delay, &earliest_zone);
        // On PostgreSQL a pass skips the accounts another transaction holds (a top-up, another
        // run's batch): while any account is still due, another pass, a moment later.
        for pass in 1..=RUN_PASSES {
            self.run_pass(now, options, due_before, total, &mut report, progress).await?;
            if pass == RUN_PASSES || self.pending_accounts(now, options.delay).await? == 0 {
                break;
            }
            backoff(pass + 3).await;
        }
        Ok(report)
    }

    /// One pass over every account in id order, a batch (one transaction) at a time.
    async fn run_pass(
        &self,
        now: Timestamp,
        options: RunOptions,
        due_before: Date,
        total: usize,
        report: &mut RunReport,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<()> {
        let mut after = String::new();
        // The next batch, read beside this one's writes (SQLite; see `Ahead`).
        let mut ahead: Option<Ahead> = None;
        loop {
            // A batch that fails transiently (serialization failure, deadlock, lock timeout) is
            // rolled back whole and tried again; its report counts only once it commits.
            let mut attempt = 0u32;
            let outcome = loop {
                let mut batch_report = RunReport::default();
                match self.run_one_batch(now, options, &after, due_before, ahead.take(), &mut batch_report).await {
                    Err(crate::AppError::Store(e)) if e.is_transient() && attempt < 5 => {
                        attempt += 1;
                        backoff(attempt).await;
                    }
                    other => break other.map(|last| (last, batch_report)),
                }
            };
            let (Some((last, next)), batch_report) = outcome? else { break };
            after = last;
            ahead = next;
            report.add(&batch_report);
            progress(report.accounts_seen, total);
        }
        Ok(())
    }

    /// Claims and bills one batch in one transaction: the last account id claimed and the
    /// next batch being read, or `None` when nothing was left.
    async fn run_one_batch(
        &self,
        now: Timestamp,
        options: RunOptions,
        after: &str,
        due_before: Date,
        ahead: Option<Ahead>,
        report: &mut RunReport,
    ) -> Result<Option<(String, Option<Ahead>)>> {
        let mut tx = self.store.begin().await?;
        let sequence = tx.write_sequence().await?;
        let ready = match ahead {
            Some(ahead) => ahead.take(sequence).await?,
            None => None,
        };
        // While this batch is written, the next one (after `last`) is read and billed on a
        // connection and threads of their own, where writes are sequenced (SQLite).
        let ahead_of =
            |last: &str| sequence.map(|sequence| Ahead::start(self.store.clone(), now, options, last.to_owned(), due_before, sequence));
        if let Some(billed) = ready {
            // Read and billed ahead, and still current: only the writes are left.
            let Some(billed) = billed else {
                tx.commit().await?;
                return Ok(None);
            };
            let next = ahead_of(&billed.last);
            report.accounts_seen += billed.seen;
            for handover in billed.handovers {
                handover.flush(&mut tx).await?;
            }
            report.add(&billed.report);
            tx.commit().await?;
            return Ok(Some((billed.last, next)));
        }
        let Some(read) = read_batch(&mut tx, now, options, after, due_before).await? else {
            tx.commit().await?;
            return Ok(None);
        };
        let last = read.last.clone();
        let next = ahead_of(&last);
        report.accounts_seen += read.seen;
        self.bill_batch(&mut tx, now, options, read, report).await?;
        tx.commit().await?;
        Ok(Some((last, next)))
    }

    /// How many accounts have a billing day due at `now` (claimed by a worker or not). A
    /// worker that finds nothing to bill waits for this to reach zero before it calls the
    /// night done, so accounts freed by a worker that died are never left behind.
    pub async fn pending_accounts(&self, now: Timestamp, delay: jiff::SignedDuration) -> Result<usize> {
        let earliest_zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(14));
        let due_before = last_ended_day(now - delay, &earliest_zone);
        let mut tx = self.store.read().await?;
        let mut pending = 0;
        let mut after = String::new();
        loop {
            let batch = tx.claim_accounts(&after, due_before, 5_000).await?;
            let Some(last) = batch.last() else { break };
            after = last.account_id.clone();
            for row in batch {
                let account = Account::from_row(row)?;
                let from = account.row.billed_through.map(next_day).unwrap_or(account.row.first_day);
                if from <= last_ended_day(now - delay, &account.tz) {
                    pending += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(pending)
    }

    /// Bills a batch read by `read_batch` and writes its rows in `tx`.
    async fn bill_batch(&self, tx: &mut Tx, now: Timestamp, options: RunOptions, read: BatchRead, report: &mut RunReport) -> Result<()> {
        let BatchRead { catalog: Some(catalog), usage, work, .. } = read else { return Ok(()) };
        // The accounts are billed on a thread of their own, which hands over the rows of every
        // `WRITE_ACCOUNTS` accounts; this task writes them meanwhile, in this transaction.
        let (rows, mut written) = tokio::sync::mpsc::channel::<Handover>(2);
        let billing =
            tokio::task::spawn_blocking(move || bill_all(&catalog, &usage, work, now, options, |h| rows.blocking_send(h).is_ok()));
        while let Some(handover) = written.recv().await {
            handover.flush(tx).await?;
        }
        // A broken invariant in billing (an assertion) stays a panic of the run.
        let billed = billing.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        report.add(&billed);
        Ok(())
    }
}

/// Accounts billed per handover to the writer.
const WRITE_ACCOUNTS: usize = 1_000;

/// Bills a batch's accounts (no database access), handing the rows of every `WRITE_ACCOUNTS`
/// accounts to `hand`; stops when `hand` refuses them (the writer stopped on an error of its
/// own, which it reports).
fn bill_all(
    catalog: &Catalog,
    usage: &[UsageDailyRow],
    work: Vec<(Account, Date, Date, AccountWork)>,
    now: Timestamp,
    options: RunOptions,
    mut hand: impl FnMut(Handover) -> bool,
) -> Result<RunReport> {
    let mut report = RunReport::default();
    let mut pending = Pending::default();
    // The catalog as each day prices it, resolved once for the whole batch.
    let mut day_prices: BTreeMap<Date, billing::DayPrices<'_>> = BTreeMap::new();
    for (mut account, from, through, account_work) in work {
        let usage = &usage[account_work.usage.clone()];
        bill_account(catalog, usage, &mut day_prices, now, options, &mut account, from, through, account_work, &mut pending, &mut report)?;
        report.accounts_billed += 1;
        if pending.accounts.len() >= WRITE_ACCOUNTS {
            let next = Pending::sized_like(&pending);
            if !hand(Handover::of(std::mem::replace(&mut pending, next))) {
                return Ok(report);
            }
        }
    }
    hand(Handover::of(pending));
    Ok(report)
}

/// Claims the batch after `after` and reads everything its billing needs; `None` when no
/// account is left.
async fn read_batch(tx: &mut Tx, now: Timestamp, options: RunOptions, after: &str, due_before: Date) -> Result<Option<BatchRead>> {
    let batch = tx.claim_accounts(after, due_before, options.batch_accounts as i64).await?;
    if batch.is_empty() {
        return Ok(None);
    }
    // Accounts in id order until the batch holds `batch_account_days`; those after are
    // claimed again by the next batch, which starts after the last one kept.
    let (mut last, mut seen, mut days_held) = (String::new(), 0, 0);
    let mut due = Vec::new();
    for row in batch {
        let account = Account::from_row(row)?;
        let from = account.row.billed_through.map(next_day).unwrap_or(account.row.first_day);
        let through = last_ended_day(now - options.delay, &account.tz);
        let days = if from <= through { usize::try_from((through - from).get_days()).expect("from <= through") + 1 } else { 0 };
        if days > 0 && !due.is_empty() && days_held + days > options.batch_account_days {
            break;
        }
        days_held += days;
        account.id().clone_into(&mut last);
        seen += 1;
        if days > 0 {
            due.push((account, from, through));
        }
    }
    let (Some(first), Some(last_due)) = (due.first(), due.last()) else {
        return Ok(Some(BatchRead { last, seen, catalog: None, usage: Vec::new(), work: Vec::new() }));
    };
    let (first_id, last_id) = (first.0.id().to_owned(), last_due.0.id().to_owned());
    let catalog = load_catalog(tx).await?;
    let after = due.iter().map(|(_, from, _)| previous_day(*from)).min().expect("non-empty");
    let through = due.iter().map(|(_, _, through)| *through).max().expect("non-empty");
    let ids: Vec<&str> = due.iter().map(|(a, _, _)| a.id()).collect();
    // The batch's usage stays one vector (in account order); each account gets its range.
    let usage = tx.usage_daily_between(&ids, Some(after), through).await?;
    let mut usage_of: HashMap<&str, std::ops::Range<usize>> = HashMap::with_capacity(ids.len());
    let mut at = 0;
    for run in usage.chunk_by(|a, b| a.account_id == b.account_id) {
        usage_of.insert(&run[0].account_id, at..at + run.len());
        at += run.len();
    }
    let mut late = group(tx.late_usage(&first_id, &last_id).await?, |r| r.account_id.clone());
    let mut instruments = group(tx.active_instruments(&first_id, &last_id).await?, |r| r.account_id.clone());
    let mut packages = group(tx.packages_between(&first_id, &last_id).await?, |r| r.account_id.clone());
    let mut packs = group(tx.packs_left_between(&first_id, &last_id).await?, |r| r.account_id.clone());
    let mut alerts = group(tx.alerts_between(&first_id, &last_id).await?, |r| r.0.clone());
    // The invoices this batch may issue: every month whose invoice day falls in a due
    // range. Their inputs are read for the whole batch at once.
    let mut months = std::collections::BTreeSet::new();
    for (_, from, through) in &due {
        let mut day = *from;
        while day <= *through {
            if day.day() == options.invoice_day {
                months.insert(Month::of(day).previous());
            }
            day = next_day(day);
        }
    }
    let mut invoicing: HashMap<String, Invoicing> = HashMap::new();
    for month in &months {
        for (account_id, totals) in tx.month_sums(&ids, &month.to_string()).await? {
            invoicing.entry(account_id).or_default().lines.insert(*month, totals);
        }
        for account_id in tx.invoiced_between(&first_id, &last_id, &month.to_string()).await? {
            invoicing.entry(account_id).or_default().issued.insert(*month);
        }
    }
    if !months.is_empty() {
        for card in tx.purchased_cards_between(&first_id, &last_id).await? {
            invoicing.entry(card.account_id.clone()).or_default().cards.push(card);
        }
    }
    // Late usage is rare: what its days billed before, and whether their months are
    // invoiced, is read here, so that billing needs nothing more from the database.
    let mut late_reads: HashMap<String, LateBilled> = HashMap::new();
    for (account_id, rows) in &late {
        let days: std::collections::BTreeSet<Date> = rows.iter().map(|r| r.billing_day).collect();
        let months: std::collections::BTreeSet<Month> = days.iter().map(|d| Month::of(*d)).collect();
        let read = late_reads.entry(account_id.clone()).or_default();
        for day in days {
            read.days.insert(day, tx.billed_usage(account_id, day).await?);
        }
        for month in months {
            if tx.invoice_exists(account_id, &month.to_string()).await? {
                read.invoiced.insert(month);
            }
        }
    }
    let mut work: Vec<(Account, Date, Date, AccountWork)> = Vec::with_capacity(due.len());
    for (account, from, through) in due {
        let id = account.id();
        let account_work = AccountWork {
            usage: usage_of.remove(id).unwrap_or_default(),
            late: late.remove(id).unwrap_or_default(),
            late_billed: late_reads.remove(id).unwrap_or_default(),
            instruments: instruments.remove(id).unwrap_or_default(),
            packages: packages.remove(id).unwrap_or_default(),
            packs: packs.remove(id).unwrap_or_default(),
            alerts: alerts.remove(id).unwrap_or_default().into_iter().map(|(_, item, threshold)| (item, threshold)).collect(),
            invoicing: invoicing.remove(id).unwrap_or_default(),
        };
        work.push((account, from, through, account_work));
    }
    drop(usage_of);
    Ok(Some(BatchRead { last, seen, catalog: Some(catalog), usage, work }))
}

/// A batch's accounts and everything billing them needs, read before anything is billed.
struct BatchRead {
    /// The last account id claimed: the next batch starts after it.
    last: String,
    /// Accounts the batch took (claimed and kept), due or not.
    seen: usize,
    /// The catalog, when any account is due.
    catalog: Option<Arc<Catalog>>,
    /// The daily usage of the days to bill, by account, then day, then key.
    usage: Vec<UsageDailyRow>,
    work: Vec<(Account, Date, Date, AccountWork)>,
}

/// The next batch, read on a connection of its own while the current one is billed and
/// written (on SQLite a reader beside the writer sees the last committed state; the batches'
/// accounts are disjoint, so the current batch changes nothing the next one reads). It is
/// used only if nothing but the current batch committed since the read's snapshot
/// (`Tx::write_sequence`); otherwise the next batch reads again in its own transaction.
struct Ahead {
    /// The write sequence inside the transaction during which the read was started.
    during: i64,
    read: tokio::task::JoinHandle<Result<(i64, Option<BilledAhead>)>>,
}

/// A batch read and billed ahead: its rows, ready to write.
struct BilledAhead {
    last: String,
    seen: usize,
    handovers: Vec<Handover>,
    report: RunReport,
}

impl Ahead {
    /// Reads the batch after `after` and bills it, on a connection and a thread of their own:
    /// billing needs nothing but what was read, so it may run before its batch's transaction
    /// begins (and is thrown away with the read when that is not current).
    fn start(store: store::Store, now: Timestamp, options: RunOptions, after: String, due_before: Date, during: i64) -> Ahead {
        let read = tokio::spawn(async move {
            let mut tx = store.read().await?;
            let seen = tx.write_sequence().await?.expect("read ahead only where writes are sequenced");
            let read = read_batch(&mut tx, now, options, &after, due_before).await?;
            tx.commit().await?;
            let Some(read) = read else { return Ok((seen, None)) };
            let BatchRead { last, seen: claimed, catalog, usage, work } = read;
            let Some(catalog) = catalog else {
                return Ok((seen, Some(BilledAhead { last, seen: claimed, handovers: Vec::new(), report: RunReport::default() })));
            };
            // Billed in two halves on two threads: the writer's core is free whenever the
            // current batch's writes are done before this one is billed.
            let usage = Arc::new(usage);
            let mut work = work;
            let second = work.split_off(work.len() / 2);
            let half = |work: Vec<(Account, Date, Date, AccountWork)>| {
                let (catalog, usage) = (catalog.clone(), usage.clone());
                tokio::task::spawn_blocking(move || {
                    let mut handovers = Vec::new();
                    let report = bill_all(&catalog, &usage, work, now, options, |h| {
                        handovers.push(h);
                        true
                    })?;
                    Ok::<_, crate::AppError>((handovers, report))
                })
            };
            let (first, second) = (half(work), half(second));
            let mut handovers = Vec::new();
            let mut report = RunReport::default();
            for billing in [first, second] {
                let (mut part, part_report) = billing.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
                handovers.append(&mut part);
                report.add(&part_report);
            }
            Ok((seen, Some(BilledAhead { last, seen: claimed, handovers, report })))
        });
        Ahead { during, read }
    }

    /// What was read and billed, if it is still current in a transaction that sees write
    /// sequence `now` (`None`: read again). A read or billing that failed is done again in
    /// the batch's transaction, and fails there if it must.
    async fn take(self, now: Option<i64>) -> Result<Option<Option<BilledAhead>>> {
        let Some(now) = now else { return Ok(None) };
        match self.read.await {
            Ok(Ok((seen, billed))) => Ok(still_current(self.during, seen, now).then_some(billed)),
            Ok(Err(_)) => Ok(None),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(None),
        }
    }
}

/// Whether a snapshot that saw write sequence `seen`, begun while a writer's transaction that
/// saw `during` held the write lock, still shows what a transaction seeing `now` sees of
/// other accounts: nothing committed since the snapshot, or only that writer's transaction.
fn still_current(during: i64, seen: i64, now: i64) -> bool {
    seen == now || (seen == during && now == during + 1)
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> String) -> HashMap<String, Vec<T>> {
    let mut map: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}

struct AccountWork {
    /// Where the account's daily usage of the days to bill is in the batch's (sorted by day
    /// then key).
    usage: std::ops::Range<usize>,
    /// Keys changed after their day was billed.
    late: Vec<UsageDailyRow>,
    late_billed: LateBilled,
    instruments: Vec<InstrumentRow>,
    packages: Vec<PackageRow>,
    /// Resource packs with volume left.
    packs: Vec<store::PackRow>,
    /// Alert thresholds: item `""` is low balance, others high daily spend of that item.
    alerts: BTreeMap<String, i64>,
    invoicing: Invoicing,
}

/// What the days of an account's late usage billed before, read with the batch.
#[derive(Default)]
struct LateBilled {
    /// What the lines of each late usage day billed so far.
    days: HashMap<Date, Vec<store::BilledUsageRow>>,
    /// Months of late usage days whose invoice an earlier run issued.
    invoiced: std::collections::BTreeSet<Month>,
}

/// What the invoices a batch may issue are made of, read before the batch bills anything.
#[derive(Default)]
struct Invoicing {
    /// The sum of the lines stored by earlier runs, by month (absent: no lines).
    lines: HashMap<Month, TotalsRow>,
    /// Months whose invoice is already issued.
    issued: std::collections::BTreeSet<Month>,
    /// Prepaid cards the account bought, active or not.
    cards: Vec<InstrumentRow>,
}

fn event(row: &mut store::AccountRow, kind: &str, day: Date, now: Timestamp, detail: String) -> EventRow {
    EventRow {
        account_id: row.account_id.clone(),
        event_no: store::take(&mut row.counters.next_event),
        kind: kind.to_owned(),
        happened_on: day,
        created_at: now,
        detail,
    }
}

/// `coupon.expiring_soon` and `card.expiring_soon` after billing day `day`: a coupon or card
/// with a balance left has `EXPIRING_SOON_DAYS` days left from the next day on (announced once,
/// on the day its last seven days begin), or fewer when it was added on `day` (announced on the
/// day it was added), so no balance expires unannounced.
#[allow(clippy::too_many_arguments)]
fn expiry_notices(
    funds: &billing::Funds,
    stored: &[InstrumentRow],
    zone: &jiff::tz::TimeZone,
    currency: billing::Currency,
    row: &mut store::AccountRow,
    day: Date,
    now: Timestamp,
    pending: &mut Pending,
) {
    let tomorrow = next_day(day);
    for i in funds.instruments.iter().filter(|i| i.active && i.balance.is_positive()) {
        let left = i.validity.days_left(tomorrow);
        if left == 0 || left > crate::lists::EXPIRING_SOON_DAYS {
            continue;
        }
        let Some(s) = stored.iter().find(|s| s.instrument_id == i.id) else { continue };
        if left < crate::lists::EXPIRING_SOON_DAYS && s.created_at.to_zoned(zone.clone()).date() != day {
            continue;
        }
        let kind = if i.kind.is_coupon() { "coupon.expiring_soon" } else { "card.expiring_soon" };
        let detail = format!("{} {} left, valid until {}", s.code, currency.format(i.balance), s.valid_until);
        pending.events.push(event(row, kind, day, now, detail));
    }
}

/// Days before a package's end on which a reminder goes out, unless its next term is bought.
pub const RENEWAL_REMINDER_DAYS: [i32; 2] = [30, 7];

/// The annual packages' part of billing day `day`: a `package.renewal_due` reminder 30 and 7
/// days before a package ends (unless its next term is bought), and on its last day the next
/// term of a package that renews itself, paid by the waterfall without arrears (its line, ledger
/// transaction and package row; `package.renewed`), or `package.renewal_failed` when the funds
/// cannot pay for it.
#[allow(clippy::too_many_arguments)]
fn renewals(
    catalog: &Catalog,
    currency: billing::Currency,
    packages: &mut Vec<PackageRow>,
    funds: &mut billing::Funds,
    ledger: &mut LedgerWriter,
    row: &mut store::AccountRow,
    day: Date,
    now: Timestamp,
    pending: &mut Pending,
) {
    let tomorrow = next_day(day);
    let mut due: Vec<PackageRow> = Vec::new();
    for p in packages.iter() {
        if packages.iter().any(|q| q.start_day == p.end_day) {
            continue;
        }
        let ends = p.end_day.yesterday().expect("a package ends after it starts");
        for before in RENEWAL_REMINDER_DAYS {
            if p.end_day.checked_sub(jiff::Span::new().days(before)).is_ok_and(|d| d == day) {
                let how = if p.auto_renew { "renews itself" } else { "renew before then" };
                pending.events.push(event(
                    row,
                    "package.renewal_due",
                    day,
                    now,
                    format!("PKG-{} {} ends {ends}: {how}", p.package_no, p.plan),
                ));
            }
        }
        if p.auto_renew && p.end_day == tomorrow {
            due.push(p.clone());
        }
    }
    for old in due {
        let Some(plan) = catalog.packages.get(&old.plan) else { continue };
        let charge = billing::Charge { day, item: &plan.code, coupon_eligible: true, amount: plan.price };
        let mut draws = Vec::new();
        let Ok(deduction) = funds.deduct(&charge, false, &mut draws) else {
            pending.events.push(event(
                row,
                "package.renewal_failed",
                day,
                now,
                format!("PKG-{} {}: funds too low", old.package_no, old.plan),
            ));
            continue;
        };
        let package_no = store::take(&mut row.counters.next_package);
        let document = format!("PKG-{package_no}");
        let remark = format!("annual package {} renewed", plan.name);
        ledger.post(row, &Transaction::deduction(std::slice::from_ref(&deduction), &draws), now, &document, &remark);
        let line = crate::funds::package_line(row, day, plan, &deduction, &document, currency.exponent());
        pending.lines.push(line);
        let end_day = old.end_day.checked_add(jiff::Span::new().years(1)).expect("package terms are far from the end of time");
        let renewed = PackageRow {
            account_id: row.account_id.clone(),
            package_no,
            plan: plan.code.clone(),
            start_day: old.end_day,
            end_day,
            price: plan.price.minor(),
            purchased_at: now,
            auto_renew: true,
        };
        let last = end_day.yesterday().expect("a package ends after it starts");
        pending.events.push(event(row, "package.renewed", day, now, format!("{document} {} {} to {last}", plan.code, old.end_day)));
        packages.push(renewed.clone());
        pending.packages.push(renewed);
    }
}

/// What the account can still spend without arrears: cash while positive and active instruments.
fn spendable(funds: &billing::Funds) -> i64 {
    funds.cash.minor().max(0) + funds.instruments.iter().filter(|i| i.active).map(|i| i.balance.minor()).sum::<i64>()
}

/// The late usage of one usage day, keyed at that day's prices, with what rating it needs.
struct LateDay<'c> {
    prices: DayPrices<'c>,
    plan: Option<&'c PackagePlan>,
    quota_used: BTreeMap<String, Quantity>,
    keys: Vec<KeyUsage>,
    /// The day its adjustment lines are dated on.
    billing_day: Date,
}

/// Adjustment drafts for late usage, to be settled with the last day this run bills, after
/// the day's own lines in `drafts`.
fn rate_late<'k>(late: &'k [LateDay<'_>], packs: &mut PackPool, drafts: &mut Vec<RatedLine<'k>>) -> Result<()> {
    for day in late {
        let first = drafts.len();
        billing::rate_day_into(&day.prices, day.plan, &day.quota_used, packs, &day.keys, drafts)
            .map_err(|e| crate::AppError::invalid("catalog", e.to_string()))?;
        for line in &mut drafts[first..] {
            debug_assert!(
                matches!(line.charge_type, ChargeType::Adjustment | ChargeType::ResourcePack),
                "late usage is rated against what was billed"
            );
            line.billing_day = day.billing_day;
        }
    }
    Ok(())
}

/// The late usage of the account by usage day, to rate with the last day this run bills;
/// the usage days go to `rated_late`.
fn late_days<'c>(
    catalog: &'c Catalog,
    account: &Account,
    bill_day: Date,
    work: &mut AccountWork,
    rated_late: &mut Vec<(String, Date)>,
) -> Vec<LateDay<'c>> {
    let mut by_day: BTreeMap<Date, Vec<&UsageDailyRow>> = BTreeMap::new();
    for row in &work.late {
        by_day.entry(row.billing_day).or_default().push(row);
    }
    let mut days = Vec::new();
    for (usage_day, rows) in by_day {
        let billed: HashMap<(String, String, String), Billed> = work
            .late_billed
            .days
            .remove(&usage_day)
            .expect("what a late usage day billed was read with the batch")
            .into_iter()
            .map(|b| {
                let billed = Billed { quantity: Quantity(b.quantity), covered: Quantity(b.covered), chargeable: Quantity(b.chargeable) };
                ((b.workspace_id, b.item, b.dims), billed)
            })
            .collect();
        let mut quota_used: BTreeMap<String, Quantity> = BTreeMap::new();
        for ((_, item, _), b) in &billed {
            *quota_used.entry(item.clone()).or_default() += b.covered;
        }
        let prices = catalog.on(usage_day);
        let mut workspace = None;
        let keys: Vec<KeyUsage> = rows
            .iter()
            .map(|r| {
                let before = billed.get(&(r.workspace_id.clone(), r.item.clone(), r.dims.clone())).copied().unwrap_or_default();
                key_usage(&prices, &mut workspace, r, Some(before))
            })
            .collect();
        let plan = plan_on(catalog, &work.packages, usage_day);
        // Usage of an invoiced month is a correction dated on the day it is rated; otherwise
        // the adjustment keeps its own billing day and lands on its month's invoice.
        // Invoices this batch issued are written with the batch: ask the batch first.
        let month = Month::of(usage_day);
        let invoiced = work.invoicing.issued.contains(&month) || work.late_billed.invoiced.contains(&month);
        let billing_day = if invoiced { bill_day } else { usage_day };
        in_rating_order(&keys);
        days.push(LateDay { prices, plan, quota_used, keys, billing_day });
        rated_late.push((account.id().to_owned(), usage_day));
    }
    days
}

/// Bills one account's due days from what the batch read: no database access, so a batch's
/// accounts are billed on a thread of their own while their rows are written.
#[allow(clippy::too_many_arguments)]
fn bill_account<'c>(
    catalog: &'c Catalog,
    usage: &[UsageDailyRow],
    day_prices: &mut BTreeMap<Date, billing::DayPrices<'c>>,
    now: Timestamp,
    options: RunOptions,
    account: &mut Account,
    from: Date,
    through: Date,
    mut work: AccountWork,
    pending: &mut Pending,
    report: &mut RunReport,
) -> Result<()> {
    let mut funds = funds_of(account.row.cash, &work.instruments)?;
    let mut standing = standing_of(&account.row)?;
    let mut ledger = LedgerWriter::new(
        &account.row.account_id,
        std::iter::once((Book::Cash, account.row.cash)).chain(work.instruments.iter().map(|i| (instrument_book(i), i.balance))),
    );
    let account_currency = account.currency;
    let zone = account.tz.clone();
    // Texts every line of the account shares.
    let account_id: Arc<str> = account.id().into();
    let pay_as_you_go: Arc<str> = ChargeType::PayAsYouGo.as_str().into();
    let mut workspace = None;
    // This account's lines are the buffer's lines from here on.
    let first_line = pending.lines.len();
    let mut packs = pack_pool(&work.packs);
    let mut day = from;
    let mut cursor = 0;
    while day <= through {
        // Today's usage: the rows are sorted by day, then workspace, item and dimensions.
        while cursor < usage.len() && usage[cursor].billing_day < day {
            cursor += 1;
        }
        let start = cursor;
        while cursor < usage.len() && usage[cursor].billing_day == day {
            cursor += 1;
        }
        let prices = day_prices.entry(day).or_insert_with(|| catalog.on(day));
        let keys: Vec<KeyUsage> = usage[start..cursor].iter().map(|r| key_usage(prices, &mut workspace, r, None)).collect();
        in_rating_order(&keys);
        let plan = plan_on(catalog, &work.packages, day);
        let packs_before: Vec<Quantity> = packs.packs.iter().map(|p| p.remaining).collect();
        let mut drafts = billing::rate_day(prices, plan, &BTreeMap::new(), &mut packs, &keys)
            .map_err(|e| crate::AppError::invalid("catalog", e.to_string()))?;
        // Late usage is rated with the last day this run bills: the day on which it is rated.
        let late = if day == through && !work.late.is_empty() {
            late_days(catalog, account, day, &mut work, &mut pending.rated_late)
        } else {
            Vec::new()
        };
        let own = drafts.len();
        rate_late(&late, &mut packs, &mut drafts)?;
        report.adjustment_lines += drafts[own..].iter().filter(|l| l.charge_type == ChargeType::Adjustment).count();
        let spendable_before = spendable(&funds);
        let bill = settle_day(&mut funds, &mut standing, day, drafts);
        let document = format!("DB-{}", day.strftime("%Y%m%d"));
        let shared_document: Arc<str> = document.as_str().into();
        let row = &mut account.row;
        for line in bill.lines() {
            let rated = line.rated;
            let t = line.totals();
            let charge_type = match rated.charge_type {
                ChargeType::PayAsYouGo => pay_as_you_go.clone(),
                other => other.as_str().into(),
            };
            let line_no = store::take(&mut row.counters.next_line);
            for draw in &rated.pack_draws {
                pending.pack_draws.push(store::PackDrawRow {
                    account_id: row.account_id.clone(),
                    line_no,
                    pack_no: draw.pack_no,
                    quantity: draw.quantity.0,
                });
            }
            pending.lines.push(ExpenseLineRow {
                account_id: account_id.clone(),
                line_no,
                billing_day: rated.billing_day,
                usage_day: rated.usage_day,
                workspace_id: rated.key.workspace.clone(),
                item: rated.key.item.clone(),
                dims: rated.key.dims.shared_text().clone(),
                charge_type,
                quantity: rated.quantity.0,
                covered: rated.covered.0,
                chargeable: rated.chargeable.0,
                priced_dims: rated.priced_dims().shared_text().clone(),
                unit_price: rated.unit_price.map(|p| to_scaled(p, QUANTITY_SCALE).expect("unit prices keep six decimals")),
                money: TotalsRow::from(&t),
                document: shared_document.clone(),
            });
        }
        report.lines += bill.lines().len();
        if let Some(deduction) = &bill.deduction {
            ledger.post(row, deduction, now, &document, &format!("daily bill {day}"));
        }
        if let Some(refund) = &bill.refund {
            ledger.post(row, refund, now, &document, &format!("late usage credit {day}"));
        }
        pending.bills.push(DailyBillRow {
            account_id: row.account_id.clone(),
            billing_day: day,
            settled_at: now,
            line_count: bill.lines().len() as i64,
            total: bill.total().minor(),
        });
        if !bill.is_empty() {
            let detail = format!("{document} {}", account_currency.format(bill.total()));
            pending.events.push(event(row, "daily_bill.settled", day, now, detail));
            let mut by_item: BTreeMap<&str, i64> = BTreeMap::new();
            for line in bill.lines() {
                *by_item.entry(&*line.rated.key.item).or_default() += line.rated.rounded.amount.minor();
            }
            for (item, spent) in by_item {
                if work.alerts.get(item).is_some_and(|threshold| spent >= *threshold) {
                    pending.events.push(event(row, "spend.high", day, now, format!("{item} {}", account_currency.format(Amount(spent)))));
                }
            }
        }
        if let Some(threshold) = work.alerts.get("") {
            let after = spendable(&funds);
            if spendable_before >= *threshold && after < *threshold {
                pending.events.push(event(row, "balance.low", day, now, account_currency.format(Amount(after))));
            }
        }
        // The pool holds the account's packs in the order they were read (`pack_pool`).
        for ((pack, before), stored) in packs.packs.iter().zip(&packs_before).zip(&work.packs) {
            for milestone in billing::pack::milestones(pack.volume, *before, pack.remaining) {
                let left =
                    format!("{} of {} left", crate::packs::quantity_text(pack.remaining.0), crate::packs::quantity_text(pack.volume.0));
                let detail = format!("RP-{} {} {}: {left}", pack.no, stored.offer, pack.item);
                pending.events.push(event(row, milestone.event_kind(), day, now, detail));
            }
        }
        if let Some(change) = bill.state_change {
            pending.events.push(state_event(&row.account_id, &mut row.counters.next_event, change, day, now));
            report.state_changes += 1;
        }
        for expired in funds.expire_through(day) {
            let stored = work.instruments.iter().find(|i| i.instrument_id == expired.id).expect("expired instruments were loaded");
            report.instruments_expired += 1;
            if expired.rest.is_zero() {
                continue;
            }
            let posting = if expired.kind.is_coupon() {
                Transaction::coupon_expired(expired.id, expired.rest)
            } else {
                Transaction::card_expired(expired.id, expired.rest, stored.origin == "granted")
            };
            ledger.post(row, &posting, now, &stored.code, &format!("expired after {}", stored.valid_until));
        }
        expiry_notices(&funds, &work.instruments, &zone, account_currency, row, day, now, pending);
        renewals(catalog, account_currency, &mut work.packages, &mut funds, &mut ledger, row, day, now, pending);
        row.cash = funds.cash.minor();
        set_standing(row, standing);
        if day.day() == options.invoice_day
            && issue_invoice(account, &mut work.invoicing, Month::of(day).previous(), day, now, pending, first_line)
        {
            report.invoices_issued += 1;
        }
        report.days_billed += 1;
        day = next_day(day);
    }
    for stored in &work.instruments {
        let current = funds
            .instruments
            .iter()
            .find(|i| i.id == stored.instrument_id && i.kind == crate::context::instrument_kind(&stored.kind).expect("loaded"));
        let current = current.expect("the same instruments");
        if current.balance.minor() != stored.balance || current.active != stored.active {
            pending.instruments.push(store::InstrumentBalance {
                account_id: stored.account_id.clone(),
                instrument_id: stored.instrument_id,
                balance: current.balance.minor(),
                active: current.active,
            });
        }
    }
    for (pack, stored) in packs.packs.iter().zip(&work.packs) {
        if pack.remaining.0 != stored.remaining {
            pending.packs.push(store::PackRemaining {
                account_id: stored.account_id.clone(),
                pack_no: stored.pack_no,
                remaining: pack.remaining.0,
            });
        }
    }
    // The ledger's running cash must agree with the waterfall's: two views, one truth.
    assert_eq!(ledger.balance(Book::Cash), account.row.cash, "ledger and funds disagree on cash for {}", account.id());
    pending.txs.append(&mut ledger.txs);
    pending.entries.append(&mut ledger.entries);
    account.row.billed_through = Some(through);
    pending.accounts.push(account.row.clone());
    Ok(())
}

/// Issues the invoice of `month` when it had activity and is not issued yet.
fn issue_invoice(
    account: &mut Account,
    invoicing: &mut Invoicing,
    month: Month,
    issued_on: Date,
    now: Timestamp,
    pending: &mut Pending,
    first_line: usize,
) -> bool {
    let month_text = month.to_string();
    if invoicing.issued.contains(&month) {
        return false;
    }
    let days = month.days();
    // The month's lines: those stored by earlier runs (summed), and this account's lines of
    // this run that are still waiting in the batch's buffer.
    let stored = invoicing.lines.remove(&month).map(LineTotals::from);
    let unwritten = pending.lines[first_line..].iter().filter(|l| days.contains(l.billing_day)).map(|l| LineTotals::from(l.money));
    let cards: Vec<billing::invoice::CardBought> = invoicing
        .cards
        .iter()
        .filter(|i| month.contains(account.today(i.created_at)))
        .map(|i| billing::invoice::CardBought { card_id: i.instrument_id, face_value: Amount(i.face_value) })
        .collect();
    let Some(invoice) = Invoice::assemble(month, stored.into_iter().chain(unwritten), cards) else { return false };
    let row = &mut account.row;
    let invoice_no = billing::invoice::invoice_number(month, &row.account_id, store::take(&mut row.counters.next_invoice));
    let header = InvoiceRow {
        account_id: row.account_id.clone(),
        month: month_text.clone(),
        invoice_no: invoice_no.clone(),
        issued_at: now,
        totals: TotalsRow::from(&invoice.totals),
        cards_total: invoice.cards_total.minor(),
        invoiceable: invoice.invoiceable.minor(),
    };
    let cards: Vec<InvoiceCardRow> = invoice
        .cards
        .iter()
        .map(|c| InvoiceCardRow {
            account_id: row.account_id.clone(),
            month: month_text.clone(),
            instrument_id: c.card_id,
            face_value: c.face_value.minor(),
        })
        .collect();
    pending.invoices.push(header);
    pending.invoice_cards.extend(cards);
    invoicing.issued.insert(month);
    pending.events.push(EventRow {
        account_id: row.account_id.clone(),
        event_no: store::take(&mut row.counters.next_event),
        kind: "invoice.issued".into(),
        happened_on: issued_on,
        created_at: now,
        detail: invoice_no,
    });
    true
}
