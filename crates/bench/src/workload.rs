//! The benchmark workload and the in-process jobs that `cargo xtask bench` times
//! (see `bench/README.md`).
//!
//! `setup` fills a database with N accounts (1 to 3 workspaces each; a third with a
//! coupon and a prepaid card; some with cash; 1 in 100 on a Starter package) and writes one
//! day of hourly usage for every workspace × billable item as NDJSON, all from a fixed seed.
//! `job` reads that day into memory once and times two passes over the same records:
//! the floor (one pass summing quantities per account) and billcenter's engine (aggregate per
//! key, rate with the catalog prices, deduct in waterfall order); `check`, after the
//! nightly run, compares the engine's per-account totals and deductions with what it stored.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use app::App;
use app::funds::{CardRequest, CouponRequest};
use billing::money::to_scaled;
use billing::{Aggregation, Catalog, Funds, KeyUsage, PackagePlan};
use jiff::Timestamp;
use rust_decimal::Decimal;

pub const CATALOG: &str = include_str!("../../../catalog/demo.toml");
/// The benchmark's billing day, and the moment it is set up (Asia/Shanghai); `cargo xtask
/// bench` ingests and runs it after it ends.
pub const DAY: &str = "2026-11-01";
pub const SETUP_AT: &str = "2026-11-01T00:00:00+08:00";

/// Per item: the retention values a stream may use and a typical daily quantity.
const ITEMS: [(&str, &[&str], i64); 12] = [
    ("time_series", &["3", "7", "14", "30"], 5_000),
    ("log_events", &["3", "7", "14", "30", "60"], 20_000_000),
    ("apm_traces", &["3", "7", "14"], 3_000_000),
    ("apm_profiles", &["3", "7", "14"], 100_000),
    ("rum_pv", &["3", "7", "14"], 200_000),
    ("session_replay", &[], 1_000),
    ("synthetic_tests", &[], 20_000),
    ("task_calls", &[], 50_000),
    ("sms", &[], 30),
    ("network_hosts", &[], 5),
    ("data_forwarding", &[], 10),
    ("scheduled_reports", &[], 4),
];

pub fn account_id(i: usize) -> String {
    format!("b{i:07}")
}

/// Creates the accounts (with `workspaces(i)` workspaces each) and their funds: a regular
/// coupon and a granted prepaid card on a third, cash on half, a Starter package on 1 in 100.
/// Returns every account's workspaces.
async fn create_accounts(
    app: &App,
    accounts: usize,
    rng: &mut fastrand::Rng,
    mut workspaces: impl FnMut(&mut fastrand::Rng) -> usize,
) -> Result<Vec<Vec<String>>> {
    let at: Timestamp = SETUP_AT.parse()?;
    app.import_catalog(at, CATALOG).await?;
    let mut workspaces_of = Vec::with_capacity(accounts);
    for first in (0..accounts).step_by(5_000) {
        let mut rows = Vec::with_capacity(5_000);
        for i in first..accounts.min(first + 5_000) {
            let n = workspaces(rng);
            let ws: Vec<String> = (0..n).map(|k| format!("{}-w{k}", account_id(i))).collect();
            rows.push((account_id(i), format!("Bench {i}"), "CNY".to_owned(), "Asia/Shanghai".to_owned(), ws.clone()));
            workspaces_of.push(ws);
        }
        app.import_accounts(at, &rows).await?;
    }
    for i in 0..accounts {
        let id = account_id(i);
        if i % 3 == 0 {
            let coupon = CouponRequest {
                amount: "50.00".into(),
                kind: "regular".into(),
                valid_from: DAY.into(),
                valid_until: "2026-11-30".into(),
                items: vec![],
            };
            app.issue_coupon(at, &id, coupon).await?;
            let card = CardRequest { amount: "100".into(), valid_from: DAY.into(), valid_until: "2027-10-31".into(), purchase: false };
            app.add_card(at, &id, card).await?;
        }
        if i % 2 == 0 {
            app.top_up(at, &id, &format!("{}.00", rng.u32(10..500)), "bank_transfer").await?;
        }
        if i % 100 == 7 {
            app.top_up(at, &id, "42000.00", "bank_transfer").await?;
            app.buy_package(at, &id, "starter", DAY).await?;
        }
    }
    Ok(workspaces_of)
}

/// A usage stream's daily scale and, for items with a retention dimension, its retention.
fn stream(rng: &mut fastrand::Rng, retentions: &[&'static str]) -> (Option<&'static str>, i64) {
    let retention = (!retentions.is_empty()).then(|| retentions[rng.usize(..retentions.len())]);
    (retention, rng.i64(50..150))
}

/// Creates the accounts and their funds, and writes the day's usage to `usage_path` (NDJSON,
/// for ingestion) and beside it as `day.csv` (the file every contender of the job reads).
/// Returns the number of usage records written.
pub async fn setup(app: &App, accounts: usize, seed: u64, usage_path: &Path) -> Result<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let workspaces_of = create_accounts(app, accounts, &mut rng, |rng| rng.usize(1..=3)).await?;
    let file = std::fs::File::create(usage_path).with_context(|| format!("cannot write {}", usage_path.display()))?;
    let mut out = BufWriter::new(file);
    let csv_path = usage_path.with_extension("csv");
    let mut csv = BufWriter::new(std::fs::File::create(&csv_path).with_context(|| format!("cannot write {}", csv_path.display()))?);
    writeln!(csv, "account,workspace,item,retention,quantity_e6")?;
    let day: jiff::civil::Date = DAY.parse()?;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai")?;
    let hours: Vec<String> =
        (0..24).map(|h| day.at(h, 0, 0, 0).to_zoned(tz.clone()).map(|z| z.timestamp().to_string())).collect::<Result<_, _>>()?;
    let mut records = 0;
    for (i, workspaces) in workspaces_of.iter().enumerate() {
        let account = account_id(i);
        for ws in workspaces {
            for (item, retentions, daily) in ITEMS {
                let (retention, scale) = stream(&mut rng, retentions);
                for (h, ts) in hours.iter().enumerate() {
                    let noise = rng.i64(800..1200);
                    let q = if matches!(item, "time_series" | "session_replay" | "network_hosts") {
                        daily * scale / 100 * noise / 1000
                    } else {
                        daily * scale / 100 * noise / 1000 / 24
                    };
                    let dims = retention.map(|r| format!(r#","dimensions":{{"retention_days":"{r}"}}"#)).unwrap_or_default();
                    writeln!(
                        out,
                        r#"{{"record_id":"{i}-{ws}-{item}-{h}","workspace":"{ws}","item":"{item}","timestamp":"{ts}","quantity":"{q}"{dims}}}"#
                    )?;
                    writeln!(csv, "{account},{ws},{item},{},{}", retention.unwrap_or(""), q * 1_000_000)?;
                    records += 1;
                }
            }
        }
    }
    out.flush()?;
    csv.flush()?;
    Ok(records)
}

/// Daily aggregates of the fixtures, gathered and loaded 200,000 rows per transaction.
struct AggregateLoader<'a> {
    app: &'a App,
    rows: Vec<store::UsageDailyRow>,
    loaded: usize,
}

impl<'a> AggregateLoader<'a> {
    fn new(app: &'a App) -> Self {
        AggregateLoader { app, rows: Vec::new(), loaded: 0 }
    }

    /// One day's aggregate of `item` (at `retention`, if any) on an account's workspace.
    async fn push(
        &mut self,
        account: usize,
        day: jiff::civil::Date,
        workspace: &str,
        item: &str,
        retention: Option<&str>,
        quantity: i64,
    ) -> Result<()> {
        self.rows.push(store::UsageDailyRow {
            account_id: account_id(account),
            billing_day: day,
            workspace_id: workspace.to_owned(),
            item: item.to_owned(),
            dims: retention.map(|r| format!("retention_days={r}")).unwrap_or_default(),
            quantity: quantity * 1_000_000,
            late: false,
        });
        if self.rows.len() >= 200_000 {
            self.loaded += self.app.load_daily_usage(std::mem::take(&mut self.rows)).await?;
        }
        Ok(())
    }

    /// Loads what is left; returns the aggregates loaded in all.
    async fn finish(mut self) -> Result<usize> {
        self.loaded += self.app.load_daily_usage(std::mem::take(&mut self.rows)).await?;
        Ok(self.loaded)
    }
}

/// The fixture of the night "from pre-aggregated usage": the accounts and funds of `setup`,
/// two workspaces each, and the day's usage loaded directly as 20 daily aggregates per account
/// (the 12 items on the first workspace, the first 8 on the second). Returns the aggregates.
pub async fn setup_aggregated(app: &App, accounts: usize, seed: u64) -> Result<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let workspaces_of = create_accounts(app, accounts, &mut rng, |_| 2).await?;
    let day: jiff::civil::Date = DAY.parse()?;
    let mut loader = AggregateLoader::new(app);
    for (i, workspaces) in workspaces_of.iter().enumerate() {
        for (w, ws) in workspaces.iter().enumerate() {
            for (item, retentions, daily) in ITEMS.iter().take(if w == 0 { 12 } else { 8 }) {
                let (retention, scale) = stream(&mut rng, retentions);
                loader.push(i, day, ws, item, retention, daily * scale / 100).await?;
            }
        }
    }
    loader.finish().await
}

/// The fixture of a month's invoices: the accounts and funds of `setup` with one workspace
/// each, and every day of November 2026 loaded as daily aggregates of the 12 items (360 per
/// account). Returns the aggregates.
pub async fn setup_month(app: &App, accounts: usize, seed: u64) -> Result<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let workspaces_of = create_accounts(app, accounts, &mut rng, |_| 1).await?;
    let first: jiff::civil::Date = DAY.parse()?;
    let mut loader = AggregateLoader::new(app);
    for (i, workspaces) in workspaces_of.iter().enumerate() {
        for (item, retentions, daily) in ITEMS {
            let (retention, scale) = stream(&mut rng, retentions);
            for d in 0..30 {
                let day = first.checked_add(jiff::Span::new().days(d))?;
                loader.push(i, day, &workspaces[0], item, retention, daily * scale / 100 * rng.i64(800..1200) / 1000).await?;
            }
        }
    }
    loader.finish().await
}

/// The nightly run in this process, timed: seconds, its report and peak RSS (MiB).
pub async fn night(app: &App, now: Timestamp) -> Result<(f64, app::run::RunReport, Option<f64>)> {
    let start = Instant::now();
    let report = app.run(now, app::run::RunOptions::default(), &mut |_, _| {}).await?;
    Ok((start.elapsed().as_secs_f64(), report, peak_rss_mib()))
}

/// One record in memory, as both jobs read it.
struct Record {
    account: u32,
    key: u32,
    quantity: i64,
}

/// One day's records read from `day.csv` (the file every contender reads), interned: accounts
/// and usage keys become integers. Keys are numbered in (account, workspace, item,
/// dimensions) order, so an account's keys are one contiguous, rating-ordered run, and each
/// key's usage entry lives once in `keys` (the engine sets its quantity per day).
struct DayImage {
    keys: Vec<KeyUsage>,
    /// Each key's account.
    key_account: Vec<u32>,
    aggregation: Vec<Aggregation>,
    records: Vec<Record>,
}

fn read_day(path: &Path, index: &HashMap<String, u32>, prices: &billing::DayPrices<'_>) -> Result<DayImage> {
    let mut keys: Vec<(u32, KeyUsage)> = Vec::new();
    let mut key_index: HashMap<(String, String, String), u32> = HashMap::new();
    // Item codes and workspace ids are shared by every key that names them.
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    let mut records = Vec::new();
    let reader = std::io::BufReader::new(std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?);
    for line in reader.lines().skip(1) {
        let line = line?;
        let mut f = line.split(',');
        let mut next = || f.next().context("a usage row has five fields");
        let (account, ws, item, retention, q) = (next()?, next()?, next()?, next()?, next()?);
        let account = *index.get(account).with_context(|| format!("unknown account {account}"))?;
        let dims = if retention.is_empty() { String::new() } else { format!("retention_days={retention}") };
        let k = (ws.to_owned(), item.to_owned(), dims);
        let fresh = key_index.len() as u32;
        let key = *key_index.entry(k).or_insert_with_key(|(ws, item, dims)| {
            let mut name = |text: &String| names.entry(text.clone()).or_insert_with(|| text.as_str().into()).clone();
            let key = prices.usage_key(name(ws), item, dims);
            let usage = KeyUsage::new(prices, Arc::new(key), billing::Quantity::ZERO, None);
            keys.push((account, usage));
            fresh
        });
        records.push(Record { account, key, quantity: q.parse()? });
    }
    anyhow::ensure!(
        records.windows(2).all(|w| w[0].account <= w[1].account),
        "the day file lists each account's records together, accounts in order"
    );
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let ((a_account, a), (b_account, b)) = (&keys[a as usize], &keys[b as usize]);
        (a_account, &a.key).cmp(&(b_account, &b.key))
    });
    let mut renumber = vec![0u32; keys.len()];
    for (rank, &k) in order.iter().enumerate() {
        renumber[k as usize] = rank as u32;
    }
    for r in &mut records {
        r.key = renumber[r.key as usize];
    }
    let key_account: Vec<u32> = order.iter().map(|&k| keys[k as usize].0).collect();
    let mut slots: Vec<Option<KeyUsage>> = keys.into_iter().map(|(_, usage)| Some(usage)).collect();
    let keys: Vec<KeyUsage> = order.iter().map(|&k| slots[k as usize].take().expect("each key once")).collect();
    let aggregation = keys.iter().map(|k| prices.item(&k.key.item).map(|i| i.aggregation)).collect::<Result<_, _>>()?;
    Ok(DayImage { keys, key_account, aggregation, records })
}

/// What one account paid for the day, in minor units, as every contender reports it.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Paid {
    total: i64,
    coupon: i64,
    card: i64,
    cash: i64,
    arrears: i64,
}

/// Timings (seconds) and checks of the in-process jobs.
pub struct JobReport {
    pub records: usize,
    pub floor_s: f64,
    /// The engine on one thread.
    pub engine_s: f64,
    /// The engine on `cores` threads, each billing whole accounts.
    pub engine_cores_s: f64,
    /// The engine's pass over the records alone (aggregating per key), one thread.
    pub engine_fold_s: f64,
    /// Expense lines the engine rates and settles (keys with usage).
    pub lines: usize,
    pub cores: usize,
    pub engine_total_minor: i64,
    pub floor_checksum: i64,
}

/// Before the nightly run: reads the day once, then times the floor and the engine over the
/// same memory image, from the funds as they stand before the day is billed. Writes, beside `usage_path`, the reference data the SQL contenders read (`items.csv`,
/// `prices.csv`, `quotas.csv`, `factors.csv`, `accounts.csv`) and the engine's answer
/// (`engine.csv`: per account total, coupon, card, cash, arrears in minor units).
pub async fn job(app: &App, usage_path: &Path) -> Result<JobReport> {
    let catalog = app.catalog().await?;
    let accounts = app.accounts().await?;
    let index: HashMap<String, u32> = accounts.iter().enumerate().map(|(i, a)| (a.id().to_owned(), i as u32)).collect();
    let day: jiff::civil::Date = DAY.parse()?;
    let mut funds_of: Vec<Funds> = Vec::with_capacity(accounts.len());
    let mut packages = vec![false; accounts.len()];
    for (i, a) in accounts.iter().enumerate() {
        funds_of.push(app.funds_snapshot(a.id()).await?);
        packages[i] = app.has_package_on(a.id(), day).await?;
    }
    let dir = usage_path.parent().unwrap_or(Path::new("."));
    write_reference(dir, &catalog, &accounts, &funds_of, &packages)?;
    let catalog = &catalog;
    let prices = catalog.on(day);
    let DayImage { mut keys, key_account, aggregation, records } = read_day(&usage_path.with_extension("csv"), &index, &prices)?;

    // Each pass runs PASSES times over the same memory image; the median counts (the first
    // pass of either also pays for faulting the image into the cache).
    let mut floor_times = Vec::new();
    let mut floor_checksum = 0;
    for _ in 0..PASSES {
        let start = Instant::now();
        let sums = floor(&records, accounts.len());
        floor_times.push(start.elapsed().as_secs_f64());
        floor_checksum = sums.iter().fold(0i64, |a, s| a.wrapping_add(*s));
    }
    let plans: Vec<Option<&PackagePlan>> = packages.iter().map(|&p| if p { catalog.packages.get("starter") } else { None }).collect();
    let is_max: Vec<bool> = aggregation.iter().map(|a| *a == Aggregation::Max).collect();
    let of_key = KeyFacts { is_max: &is_max, account: &key_account };
    let passes = std::env::var("BENCH_PASSES").ok().and_then(|v| v.parse().ok()).unwrap_or(PASSES);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The engine on one thread (against the one-pass floor), then on every core (against
    // DuckDB, which uses every core); both must pay the same.
    let mut timed = |threads: usize| -> Result<(f64, Vec<Paid>)> {
        let (mut times, mut paid) = (Vec::new(), Vec::new());
        for _ in 0..passes {
            let mut funds = funds_of.clone();
            let start = Instant::now();
            paid = engine_day(&prices, of_key, threads, (&records, &mut keys), &plans, &mut funds)?;
            times.push(start.elapsed().as_secs_f64());
        }
        Ok((middle(times), paid))
    };
    let (engine_s, paid) = timed(1)?;
    let (engine_cores_s, paid_cores) = timed(cores)?;
    anyhow::ensure!(paid == paid_cores, "the engine paid differently on {cores} threads than on one");
    let floor_s = middle(floor_times);
    // The engine's first part alone, the same code over the whole day: what the engine adds
    // to the floor is then its pass over the records and its work per line.
    let mut fold_times = Vec::new();
    for _ in 0..passes {
        let start = Instant::now();
        let running = fold(&records, 0, &is_max);
        fold_times.push(start.elapsed().as_secs_f64());
        let same = running.iter().zip(&keys).all(|(&q, k)| k.quantity == billing::Quantity(q));
        anyhow::ensure!(same, "the fold alone gave other aggregates than the engine");
    }
    let engine_fold_s = middle(fold_times);
    let lines = keys.iter().filter(|k| !k.quantity.is_zero()).count();

    let mut out = BufWriter::new(std::fs::File::create(dir.join("engine.csv"))?);
    writeln!(out, "account,total,coupon,card,cash,arrears")?;
    for (a, p) in accounts.iter().zip(&paid) {
        writeln!(out, "{},{},{},{},{},{}", a.id(), p.total, p.coupon, p.card, p.cash, p.arrears)?;
    }
    out.flush()?;

    Ok(JobReport {
        records: records.len(),
        floor_s,
        engine_s,
        engine_cores_s,
        engine_fold_s,
        lines,
        cores,
        engine_total_minor: paid.iter().map(|p| p.total).sum(),
        floor_checksum,
    })
}

/// After the nightly run: whether every account's stored lines of the day add up to what the
/// engine job wrote to `engine.csv` (totals and each deduction). Returns the accounts compared.
pub async fn check(app: &App, usage_path: &Path) -> Result<usize> {
    let dir = usage_path.parent().unwrap_or(Path::new("."));
    let stored = app.day_paid(DAY.parse()?).await?;
    let text = std::fs::read_to_string(dir.join("engine.csv")).context("run `billcenter-bench job` before the nightly run")?;
    let mut compared = 0;
    for line in text.lines().skip(1) {
        let (account, rest) = line.split_once(',').context("an engine.csv row")?;
        let engine: Vec<i64> = rest.split(',').map(str::parse).collect::<Result<_, _>>()?;
        let run = stored.get(account).copied().unwrap_or_default();
        anyhow::ensure!(engine == run, "account {account}: the engine paid {engine:?}, the nightly run stored {run:?}");
        compared += 1;
    }
    anyhow::ensure!(compared == stored.len(), "the nightly run billed {} accounts, the engine {compared}", stored.len());
    Ok(compared)
}

/// How often each in-memory pass runs; the median counts.
const PASSES: usize = 5;

fn middle(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The floor: one pass over the records, summing every quantity into its account.
fn floor(records: &[Record], accounts: usize) -> Vec<i64> {
    let mut sums = vec![0i64; accounts];
    for r in records {
        sums[r.account as usize] += r.quantity;
    }
    sums
}

/// One thread's share of the day for the engine: whole accounts (`accounts` from
/// `account_base`), their records, their keys (from `key_base`), packages and funds.
struct Share<'a> {
    records: &'a [Record],
    account_base: usize,
    key_base: usize,
    keys: &'a mut [KeyUsage],
    plans: &'a [Option<&'a PackagePlan>],
    funds: &'a mut [Funds],
    paid: &'a mut [Paid],
}

/// Cuts the day into `parts` shares of about as many records each, on account boundaries.
/// Records list accounts in ascending order and keys are numbered in account order, so each
/// share's accounts and keys are one contiguous run.
fn shares<'a>(
    parts: usize,
    records: &'a [Record],
    mut keys: &'a mut [KeyUsage],
    mut plans: &'a [Option<&'a PackagePlan>],
    mut funds: &'a mut [Funds],
    mut paid: &'a mut [Paid],
) -> Vec<Share<'a>> {
    let mut out = Vec::with_capacity(parts);
    let (mut at, mut account_base, mut key_base) = (0, 0, 0);
    for part in 1..=parts {
        // The first record of the next share: the first record of an account at or after
        // this share's fair end (the end of the day for the last share).
        let mut end = (records.len() * part / parts).max(at);
        while end > at && end < records.len() && records[end].account == records[end - 1].account {
            end += 1;
        }
        let (next_account, next_key) = match records.get(end) {
            Some(first) => {
                let account = first.account;
                let lowest = records[end..].iter().take_while(|r| r.account == account).map(|r| r.key).min();
                (account as usize, lowest.expect("an account has a record") as usize)
            }
            None => (funds.len() + account_base, keys.len() + key_base),
        };
        let (k, rest_keys) = keys.split_at_mut(next_key - key_base);
        let (pl, rest_plans) = plans.split_at(next_account - account_base);
        let (f, rest_funds) = funds.split_at_mut(next_account - account_base);
        let (pd, rest_paid) = paid.split_at_mut(next_account - account_base);
        out.push(Share { records: &records[at..end], account_base, key_base, keys: k, plans: pl, funds: f, paid: pd });
        (keys, plans, funds, paid) = (rest_keys, rest_plans, rest_funds, rest_paid);
        (at, account_base, key_base) = (end, next_account, next_key);
    }
    out
}

/// billcenter's engine over one share of the day: one pass over the records, each folding
/// into its key's running aggregate by the item's aggregation (the floor's pass, with the
/// key for the account); then per account, its keys (a contiguous, rating-ordered run) are
/// rated with the catalog (and the account's package) and the lines deducted in waterfall
/// order from the account's funds.
fn engine(prices: &billing::DayPrices<'_>, of_key: KeyFacts<'_>, share: Share<'_>) -> Result<()> {
    let Share { records, account_base, key_base, keys, plans, funds, paid } = share;
    let day = prices.day;
    let n = keys.len();
    let key_account = &of_key.account[key_base..key_base + n];
    let running = fold(records, key_base, &of_key.is_max[key_base..key_base + n]);
    for (key, &q) in keys.iter_mut().zip(&running) {
        key.quantity = billing::Quantity(q);
    }
    let keys: &[KeyUsage] = keys;
    // One bill's vectors serve every account in turn.
    let (mut rated, mut spare) = (Vec::new(), billing::Spare::default());
    let no_quota_used = Default::default();
    // The bench's accounts hold no resource packs.
    let mut no_packs = billing::PackPool::default();
    let mut lo = 0;
    while lo < n {
        let account = key_account[lo];
        let hi = lo + key_account[lo..].iter().take_while(|&&a| a == account).count();
        let usage = &keys[lo..hi];
        lo = hi;
        let account = account as usize - account_base;
        billing::rate_day_into(prices, plans[account], &no_quota_used, &mut no_packs, usage, &mut rated)?;
        let mut standing = billing::Standing::ACTIVE;
        let bill = billing::settle_day_reusing(&mut funds[account], &mut standing, day, rated, spare);
        let p = &mut paid[account];
        for line in bill.lines() {
            let t = line.totals();
            p.total += t.gross.minor();
            p.coupon += t.coupon.minor();
            p.card += t.card.minor();
            p.cash += t.cash.minor();
            p.arrears += t.arrears.minor();
        }
        (rated, spare) = bill.recycle();
    }
    Ok(())
}

/// The engine's pass over the records of keys `key_base..key_base + is_max.len()`: each
/// folds into its key's running aggregate (at six decimals) by the item's aggregation.
fn fold(records: &[Record], key_base: usize, is_max: &[bool]) -> Vec<i64> {
    // Quantities are never negative, so 0 starts both a sum and a peak. A run of one key's
    // records folds in a loop of its own and touches the key's slot once (any order is
    // right; meters that send a key's samples together are cheaper).
    let mut running: Vec<i64> = vec![0; is_max.len()];
    let mut i = 0;
    while i < records.len() {
        let key = records[i].key;
        let k = key as usize - key_base;
        let run = records[i..].iter().take_while(|r| r.key == key);
        let (folded, len) = if is_max[k] {
            run.fold((running[k], 0), |(peak, n), r| (peak.max(r.quantity), n + 1))
        } else {
            run.fold((running[k], 0), |(sum, n), r| {
                (sum.checked_add(r.quantity).expect("a day's quantity fits i64 at six decimals"), n + 1)
            })
        };
        running[k] = folded;
        i += len;
    }
    running
}

/// What the engine knows of each key of the day by its number: whether its item aggregates by
/// peak (else by sum), and its account.
#[derive(Clone, Copy)]
struct KeyFacts<'a> {
    is_max: &'a [bool],
    account: &'a [u32],
}

/// The engine over the whole day on `threads` threads, each billing whole accounts.
fn engine_day(
    prices: &billing::DayPrices<'_>,
    of_key: KeyFacts<'_>,
    threads: usize,
    image: (&[Record], &mut [KeyUsage]),
    plans: &[Option<&PackagePlan>],
    funds: &mut [Funds],
) -> Result<Vec<Paid>> {
    let (records, keys) = image;
    let mut paid = vec![Paid::default(); funds.len()];
    let parts = shares(threads, records, keys, plans, funds, &mut paid);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts.into_iter().map(|share| scope.spawn(move || engine(prices, of_key, share))).collect();
        handles.into_iter().try_for_each(|h| h.join().expect("an engine thread does not panic"))
    })?;
    Ok(paid)
}

/// An exact decimal as an integer at `scale` decimals, or an error when it has more.
fn scaled_exact(value: Decimal, scale: u32, what: &str) -> Result<i64> {
    let scaled = to_scaled(value, scale).with_context(|| format!("{what} {value} does not fit"))?;
    anyhow::ensure!(billing::money::from_scaled(scaled, scale) == value, "{what} {value} has more than {scale} decimals");
    Ok(scaled)
}

/// Writes the catalog, package and funds the SQL contenders need, as CSV (see `bench/job.sql`).
/// Only what the benchmark workload uses is expressible there: per-unit prices without free
/// quantities, regular coupons, prepaid cards and cash; anything else is refused.
fn write_reference(dir: &Path, catalog: &Catalog, accounts: &[app::Account], funds: &[Funds], packages: &[bool]) -> Result<()> {
    let day: jiff::civil::Date = DAY.parse()?;
    let mut items = BufWriter::new(std::fs::File::create(dir.join("items.csv"))?);
    let mut prices = BufWriter::new(std::fs::File::create(dir.join("prices.csv"))?);
    writeln!(items, "item,unit_size,aggregation,coupon_eligible")?;
    writeln!(prices, "item,retention,rate_e4")?;
    for (code, item) in &catalog.items {
        let unit_size = scaled_exact(item.unit_size, 0, "unit size")?;
        writeln!(items, "{code},{unit_size},{},{}", item.aggregation.as_str(), item.coupon_eligible)?;
        let version = catalog.version(code, day)?;
        for (dims, price) in &version.rates {
            let rate = price.unit_price().context("the SQL job knows per-unit prices only")?;
            anyhow::ensure!(price.free_quantity.is_zero(), "the SQL job knows no free quantities");
            let retention = dims.get("retention_days").unwrap_or("");
            writeln!(prices, "{code},{retention},{}", scaled_exact(rate, 4, "rate")?)?;
        }
    }
    items.flush()?;
    prices.flush()?;
    let starter = catalog.packages.get("starter").context("the demo catalog has the starter package")?;
    let mut quotas = BufWriter::new(std::fs::File::create(dir.join("quotas.csv"))?);
    let mut factors = BufWriter::new(std::fs::File::create(dir.join("factors.csv"))?);
    writeln!(quotas, "item,quantity_e6,base_retention")?;
    writeln!(factors, "item,retention,factor")?;
    for (item, quota) in &starter.quotas {
        writeln!(quotas, "{item},{},{}", scaled_exact(quota.quantity, 6, "quota")?, quota.base.get("retention_days").unwrap_or(""))?;
        if quota.base.as_str().is_empty() {
            writeln!(factors, "{item},,1")?;
        }
        for (retention, factor) in &quota.factors {
            writeln!(factors, "{item},{retention},{}", scaled_exact(*factor, 0, "factor")?)?;
        }
    }
    quotas.flush()?;
    factors.flush()?;
    let mut out = BufWriter::new(std::fs::File::create(dir.join("accounts.csv"))?);
    writeln!(out, "account,package,coupon,card,cash")?;
    for ((a, f), package) in accounts.iter().zip(funds).zip(packages) {
        let (mut coupon, mut card) = (0, 0);
        for i in f.instruments.iter().filter(|i| i.active && i.validity.covers(day)) {
            anyhow::ensure!(i.scope.is_none(), "the SQL job knows unscoped instruments only");
            match i.kind {
                billing::InstrumentKind::RegularCoupon => coupon += i.balance.minor(),
                billing::InstrumentKind::PrepaidCard => card += i.balance.minor(),
                billing::InstrumentKind::DiscountCoupon => anyhow::bail!("the SQL job knows no discount coupons"),
            }
        }
        writeln!(out, "{},{package},{coupon},{card},{}", a.id(), f.cash.minor().max(0))?;
    }
    out.flush()?;
    Ok(())
}

/// The peak resident set of this process so far, in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// The export benchmark's account (`b0000000`): enough workspaces that November 2026 holds
/// about `lines` expense lines (workspaces × the 12 items × 30 days). Returns the aggregates.
pub async fn setup_export(app: &App, lines: usize, seed: u64) -> Result<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let per_account = (lines / (ITEMS.len() * 30)).max(1);
    let workspaces_of = create_accounts(app, 1, &mut rng, |_| per_account).await?;
    let first: jiff::civil::Date = DAY.parse()?;
    let mut loader = AggregateLoader::new(app);
    for workspace in &workspaces_of[0] {
        for (item, retentions, daily) in ITEMS {
            let (retention, scale) = stream(&mut rng, retentions);
            for d in 0..30 {
                let day = first.checked_add(jiff::Span::new().days(d))?;
                loader.push(0, day, workspace, item, retention, daily * scale / 100 * rng.i64(800..1200) / 1000).await?;
            }
        }
    }
    loader.finish().await
}

/// The Billing Center's pages of one account, rendered through the server's router in this
/// process (no network): each path's median time over `runs` requests, in milliseconds.
pub async fn pages(app: &App, now: Timestamp, account: &str, runs: usize) -> Result<Vec<(&'static str, f64)>> {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let email = format!("bench@{account}.example");
    let password = "the bench's own password";
    match app.create_user(now, &email, password, Some(account)).await {
        Ok(_) | Err(app::AppError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let app::users::SignIn::Ok { token, .. } = app.sign_in(now, &email, password).await? else {
        anyhow::bail!("the bench user cannot sign in");
    };
    let state = billcenter_http::ApiState { app: app.clone(), test_clock: false, invoice_day: 3, clock: app::Clock::Fixed(now) };
    let (router, _) = billcenter_http::router(state);
    let pages: [(&'static str, String); 7] = [
        ("overview", format!("/accounts/{account}/")),
        ("expenses", format!("/accounts/{account}/expenses")),
        ("expenses_month", format!("/accounts/{account}/expenses?month=2026-11")),
        // One workspace of the account's many: a page of its lines reads days of the others'.
        ("expenses_workspace", format!("/accounts/{account}/expenses?month=2026-11&workspace={account}-w0")),
        ("invoices", format!("/accounts/{account}/invoices")),
        ("invoice", format!("/accounts/{account}/invoices/2026-11")),
        ("transactions", format!("/accounts/{account}/transactions")),
    ];
    let mut medians = Vec::new();
    for (name, path) in pages {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let request = Request::get(&path).header("cookie", format!("bc_session={token}")).body(Body::empty())?;
            let start = Instant::now();
            let response = router.clone().oneshot(request).await?;
            let status = response.status();
            axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status == 200, "{path} answered {status}");
        }
        times.sort_by(|a, b| a.partial_cmp(b).expect("times are numbers"));
        medians.push((name, times[times.len() / 2]));
    }
    Ok(medians)
}
