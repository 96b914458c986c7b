//! The benchmark workload and the in-process jobs that `cargo xtask bench` times
//! (see `bench/README.md`). Hidden from the CLI's help: it is for measuring, not for operating.
//!
//! `bench setup` fills a database with N accounts (1 to 3 workspaces each; a third with a
//! coupon and a prepaid card; some with cash; 1 in 100 on a Starter package) and writes one
//! day of hourly usage for every workspace × billable item as NDJSON, all from a fixed seed.
//! `bench job` reads that day into memory once and times two passes over the same records:
//! the floor (one pass summing quantities per account) and billcenter's engine (aggregate per
//! key, rate with the catalog prices, deduct in waterfall order), and checks the engine's
//! per-account totals against what the nightly run stored.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use app::App;
use app::funds::{CardRequest, CouponRequest};
use billing::money::to_scaled;
use billing::{Aggregation, Catalog, Dims, Funds, KeyUsage, LineDraft};
use jiff::Timestamp;
use rust_decimal::Decimal;

pub const CATALOG: &str = include_str!("../../../catalog/demo.toml");
/// The benchmark's billing day, and the moments around it (Asia/Shanghai).
pub const DAY: &str = "2026-11-01";
pub const SETUP_AT: &str = "2026-11-01T00:00:00+08:00";
pub const INGEST_AT: &str = "2026-11-02T00:10:00+08:00";
pub const RUN_AT: &str = "2026-11-02T00:30:00+08:00";

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

/// Creates the accounts and their funds, and writes the day's usage to `usage_path`.
/// Returns the number of usage records written.
pub async fn setup(app: &App, accounts: usize, seed: u64, usage_path: &Path) -> Result<usize> {
    let at: Timestamp = SETUP_AT.parse()?;
    app.import_catalog(at, CATALOG).await?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rows = Vec::with_capacity(accounts);
    let mut workspaces_of = Vec::with_capacity(accounts);
    for i in 0..accounts {
        let n = rng.usize(1..=3);
        let ws: Vec<String> = (0..n).map(|k| format!("{}-w{k}", account_id(i))).collect();
        rows.push((account_id(i), format!("Bench {i}"), "CNY".to_owned(), "Asia/Shanghai".to_owned(), ws.clone()));
        workspaces_of.push(ws);
    }
    for chunk in rows.chunks(5_000) {
        app.import_accounts(at, chunk).await?;
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
    let file = std::fs::File::create(usage_path).with_context(|| format!("cannot write {}", usage_path.display()))?;
    let mut out = BufWriter::new(file);
    let day: jiff::civil::Date = DAY.parse()?;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai")?;
    let hours: Vec<String> =
        (0..24).map(|h| day.at(h, 0, 0, 0).to_zoned(tz.clone()).map(|z| z.timestamp().to_string())).collect::<Result<_, _>>()?;
    let mut records = 0;
    for (i, workspaces) in workspaces_of.iter().enumerate() {
        for ws in workspaces {
            for (item, retentions, daily) in ITEMS {
                let retention = (!retentions.is_empty()).then(|| retentions[rng.usize(..retentions.len())]);
                let scale = rng.i64(50..150);
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
                    records += 1;
                }
            }
        }
    }
    out.flush()?;
    Ok(records)
}

/// One record in memory, as both jobs read it.
struct Record {
    account: u32,
    key: u32,
    quantity: i64,
}

/// Timings (seconds) and checks of the in-process jobs.
pub struct JobReport {
    pub records: usize,
    pub floor_s: f64,
    pub engine_s: f64,
    pub engine_total_minor: i64,
    pub floor_checksum: i64,
    pub matches_nightly_run: bool,
}

/// Reads the day once, then times the floor and the engine over the same memory image.
pub async fn job(app: &App, usage_path: &Path) -> Result<JobReport> {
    let catalog: Catalog = app.catalog().await?;
    let accounts = app.accounts().await?;
    let index: HashMap<String, u32> = accounts.iter().enumerate().map(|(i, a)| (a.id().to_owned(), i as u32)).collect();
    // Keys: (workspace, item, dims) interned; records carry indices.
    let mut keys: Vec<(String, String, Dims)> = Vec::new();
    let mut key_index: HashMap<(String, String, String), u32> = HashMap::new();
    let mut records = Vec::new();
    let reader = std::io::BufReader::new(std::fs::File::open(usage_path)?);
    for line in reader.lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let ws = v["workspace"].as_str().unwrap_or_default().to_owned();
        let account = ws.split("-w").next().unwrap_or_default().to_owned();
        let item = v["item"].as_str().unwrap_or_default().to_owned();
        let dims = v["dimensions"]["retention_days"].as_str().map(|r| format!("retention_days={r}")).unwrap_or_default();
        let q: Decimal = v["quantity"].as_str().unwrap_or("0").parse()?;
        let k = (ws.clone(), item.clone(), dims.clone());
        let next = key_index.len() as u32;
        let key = *key_index.entry(k).or_insert_with(|| {
            keys.push((ws, item, Dims::from_canonical(&dims)));
            next
        });
        records.push(Record { account: index[&account], key, quantity: to_scaled(q, 6).unwrap_or(0) });
    }

    // The floor: one pass, summing every record's quantity into its account.
    let start = Instant::now();
    let mut sums = vec![0i64; accounts.len()];
    for r in &records {
        sums[r.account as usize] += r.quantity;
    }
    let floor_s = start.elapsed().as_secs_f64();
    let floor_checksum = sums.iter().fold(0i64, |a, s| a.wrapping_add(*s));

    // The engine: per account (records are clustered by account), aggregate per key by the
    // item's aggregation, rate the day with the catalog (and the account's package), and
    // deduct in waterfall order from the account's funds.
    let day: jiff::civil::Date = DAY.parse()?;
    let mut funds_of: Vec<Funds> = Vec::with_capacity(accounts.len());
    let mut packages = vec![false; accounts.len()];
    for (i, a) in accounts.iter().enumerate() {
        funds_of.push(app.funds_snapshot(a.id()).await?);
        packages[i] = app.has_package_on(a.id(), day).await?;
    }
    let aggregation: Vec<Aggregation> = keys.iter().map(|(_, item, _)| catalog.items[item].aggregation).collect();
    let starter = catalog.packages.get("starter");
    let start = Instant::now();
    let mut totals = vec![0i64; accounts.len()];
    let mut i = 0;
    let mut agg: Vec<(u32, i64)> = Vec::new();
    while i < records.len() {
        let account = records[i].account;
        agg.clear();
        while i < records.len() && records[i].account == account {
            let r = &records[i];
            match agg.iter_mut().find(|(k, _)| *k == r.key) {
                Some((_, q)) => *q = aggregation[r.key as usize].fold(*q, r.quantity),
                None => agg.push((r.key, r.quantity)),
            }
            i += 1;
        }
        let mut usage: Vec<KeyUsage> = agg
            .iter()
            .map(|(k, q)| {
                let (ws, item, dims) = &keys[*k as usize];
                KeyUsage {
                    workspace: ws.clone(),
                    item: item.clone(),
                    dims: dims.clone(),
                    quantity: billing::money::from_scaled(*q, 6),
                    billed: None,
                }
            })
            .collect();
        usage.sort_by(|a, b| (&a.workspace, &a.item, &a.dims).cmp(&(&b.workspace, &b.item, &b.dims)));
        let plan = if packages[account as usize] { starter } else { None };
        let rated = billing::rate_day(&catalog, day, plan, &Default::default(), &usage)?;
        let drafts: Vec<LineDraft> = rated
            .into_iter()
            .map(|line| LineDraft {
                day,
                original_day: None,
                charge_type: billing::ChargeType::PayAsYouGo,
                coupon_eligible: catalog.items[&line.item].coupon_eligible,
                rated: line,
            })
            .collect();
        let mut standing = billing::Standing::ACTIVE;
        let bill = billing::settle_day(&mut funds_of[account as usize], &mut standing, day, drafts);
        totals[account as usize] = bill.total().minor();
    }
    let engine_s = start.elapsed().as_secs_f64();

    let stored = app.day_totals(day).await?;
    let matches_nightly_run = accounts.iter().enumerate().all(|(i, a)| stored.get(a.id()).copied().unwrap_or(0) == totals[i]);
    Ok(JobReport {
        records: records.len(),
        floor_s,
        engine_s,
        engine_total_minor: totals.iter().sum(),
        floor_checksum,
        matches_nightly_run,
    })
}

/// The peak resident set of this process so far, in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}
