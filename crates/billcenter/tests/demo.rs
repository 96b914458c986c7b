//! The demo fills a database that tells the stories it promises, and ends with a clean verify.

async fn cli(dir: &std::path::Path, args: &[&str]) -> (u8, String) {
    let mut all = vec!["billcenter", "--db", "demo.db", "--now", "2026-11-26T04:00:00Z"];
    all.extend_from_slice(args);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = billcenter::cli::main(all.iter().map(|s| s.to_string()).collect(), dir, &mut out, &mut err).await;
    (code, String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_tells_its_stories() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = cli(dir.path(), &["demo", "--no-serve", "--days", "40"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verify: clean"), "{out}");
    assert!(out.contains("demo: 6 accounts, 40 days from 2026-10-17 to 2026-11-25"), "{out}");
    // A spreadsheet to open: acme's October, beside the database.
    assert!(out.contains("demo-acme-expenses-2026-10.xlsx (99 expense lines of acme in 2026-10)"), "{out}");
    let xlsx = std::fs::read(dir.path().join("demo-acme-expenses-2026-10.xlsx")).unwrap();
    assert!(xlsx.starts_with(b"PK"), "a workbook");

    // bolt ran into arrears and was suspended after the grace period.
    let (_, events) = cli(dir.path(), &["list", "events", "--account", "bolt"]).await;
    assert!(events.contains("account.overdue") && events.contains("account.suspended"), "{events}");
    // acme's annual package is on its invoices and covers part of its logs.
    let (_, expenses) = cli(dir.path(), &["list", "expenses", "--account", "acme", "--charge-type", "annual_package"]).await;
    assert!(expenses.contains("42000.00"), "{expenses}");
    // cedar's coupons and cards ended mid-month and were written off.
    let (_, coupons) = cli(dir.path(), &["list", "coupons", "--account", "cedar", "--status", "expired"]).await;
    assert!(coupons.contains("CPN-1") && coupons.contains("2026-11-15"), "{coupons}");
    // dune bills in New York time: at 04:00 UTC it is still 11-25 there, so 11-24 is its last ended day.
    let (_, balances) = cli(dir.path(), &["list", "balances", "--account", "dune"]).await;
    assert!(balances.contains("America/New_York") && balances.contains("2026-11-24"), "{balances}");
    // ember's late usage became adjustments, one of them a correction of an invoiced month.
    let (_, adjustments) = cli(dir.path(), &["list", "expenses", "--account", "ember", "--charge-type", "adjustment"]).await;
    assert!(adjustments.lines().count() > 3, "{adjustments}");
    let (_, invoices) = cli(dir.path(), &["list", "invoices", "--account", "ember"]).await;
    assert!(invoices.contains("INV-202610-ember-0001"), "{invoices}");

    // The demo is idempotent to run again: the night is already billed.
    let (code, out) = cli(dir.path(), &["run"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("billed 0 accounts"), "{out}");
    let (code, out) = cli(dir.path(), &["verify"]).await;
    assert_eq!(code, 0, "{out}");
}

/// The demo fills and verifies whatever day it runs on: every day from a leap day across a
/// month end, with the shortest demo (where the demo's mid-month expiry once fell before it began).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_on_any_day() {
    let mut day: jiff::civil::Date = "2028-02-24".parse().unwrap();
    while day <= "2028-03-18".parse().unwrap() {
        let dir = tempfile::tempdir().unwrap();
        let now = format!("{day}T23:59:59Z");
        let args = ["billcenter", "--db", "demo.db", "--now", &now, "demo", "--no-serve", "--days", "7"];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = billcenter::cli::main(args.iter().map(|s| s.to_string()).collect(), dir.path(), &mut out, &mut err).await;
        let text = String::from_utf8_lossy(&out).to_string() + &String::from_utf8_lossy(&err);
        assert_eq!(code, 0, "demo at {now}: {text}");
        assert!(text.contains("verify: clean"), "demo at {now}: {text}");
        day = day.tomorrow().unwrap();
    }
}

/// The demo and verify work on PostgreSQL as on the SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let url = store::testing::fresh_pg_database().await;
    let args = |extra: &[&str]| -> Vec<String> {
        let mut all = vec!["billcenter", "--database-url", &url, "--now", "2026-11-26T04:00:00Z"];
        all.extend_from_slice(extra);
        all.iter().map(|s| s.to_string()).collect()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = billcenter::cli::main(args(&["demo", "--no-serve", "--days", "20"]), dir.path(), &mut out, &mut err).await;
    let text = String::from_utf8_lossy(&out).to_string() + &String::from_utf8_lossy(&err);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("verify: clean"), "{text}");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(billcenter::cli::main(args(&["verify"]), dir.path(), &mut out, &mut err).await, 0);
}

/// The overview's daily chart (read from the daily bills' item totals and the packages bought)
/// draws, day by day and item by item, what the detailed expenses add up to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_chart_adds_up_the_lines() {
    use std::collections::BTreeMap;
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = cli(dir.path(), &["demo", "--no-serve", "--days", "40"]).await;
    assert_eq!(code, 0, "{out}");
    let app = app::App::open(&dir.path().join("demo.db")).await.unwrap();
    let now: jiff::Timestamp = "2026-11-26T04:00:00Z".parse().unwrap();
    let mut packages_seen = false;
    for account in ["acme", "bolt", "cedar", "dune", "ember", "fjord"] {
        let o = app.overview(now, account, 40, None).await.unwrap();
        let mut charted: BTreeMap<(String, String), rust_decimal::Decimal> = BTreeMap::new();
        for (day, values) in &o.daily {
            for (item, minor) in o.items.iter().zip(values) {
                if *minor != 0 {
                    charted.insert((day.to_string(), item.clone()), o.account.currency.to_decimal(billing::Amount(*minor)));
                }
            }
        }
        let (first, last) = (o.daily.first().unwrap().0, o.daily.last().unwrap().0);
        let filter = app::lists::ExpenseFilter { from: Some(first.to_string()), to: Some(last.to_string()), ..Default::default() };
        let lines = app.list_expenses(account, &filter).await.unwrap();
        let keys = lines.keys();
        let col = |name: &str| keys.iter().position(|k| k == name).unwrap();
        let (day, item, gross, kind) = (col("billing_day"), col("item"), col("gross"), col("charge_type"));
        let mut summed: BTreeMap<(String, String), rust_decimal::Decimal> = BTreeMap::new();
        for row in &lines.rows {
            packages_seen |= row[kind].as_str() == "annual_package";
            *summed.entry((row[day].as_str().to_owned(), row[item].as_str().to_owned())).or_default() +=
                rust_decimal::Decimal::from_str(row[gross].as_str()).unwrap();
        }
        summed.retain(|_, v| !v.is_zero());
        assert!(!summed.is_empty(), "{account} spent in the chart's days");
        assert_eq!(charted, summed, "{account}");
    }
    assert!(packages_seen, "a package bought in the chart's days is charted on its day");
}
