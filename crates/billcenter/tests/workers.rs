//! Three `billcenter worker` processes and one `billcenter serve` on one PostgreSQL database
//! bill 10,000 accounts over 3 days while one worker is killed mid-run: every account-day is
//! billed exactly once, verify is clean, and every stored row (hence every list of every
//! account) equals a single-process SQLite run of the same input.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use app::App;
use app::run::RunOptions;
use app::usage::{QuantityText, UsageInput};
use serde_json::json;
use support::{BIN, CATALOG};

const ACCOUNTS: usize = 10_000;
const T0: &str = "2026-10-01T00:00:00Z";
const T1: &str = "2026-10-04T06:00:00Z";
const ZONES: [&str; 3] = ["Asia/Shanghai", "UTC", "America/New_York"];

fn accounts_csv() -> String {
    let mut out = String::from("id,name,currency,time_zone,workspaces\n");
    for i in 0..ACCOUNTS {
        out.push_str(&format!("a{i:05},Account {i},CNY,{},w{i:05}\n", ZONES[i % 3]));
    }
    out
}

fn usage() -> Vec<UsageInput> {
    let mut records = Vec::new();
    for day in 1..=3 {
        for i in 0..ACCOUNTS {
            let ts = format!("2026-10-{day:02}T12:00:00Z");
            records.push(UsageInput {
                record_id: format!("s{day}-{i}"),
                workspace: format!("w{i:05}"),
                item: "sms".into(),
                timestamp: ts.clone(),
                quantity: QuantityText(((i * 7 + day) % 50).to_string()),
                dimensions: Default::default(),
            });
            records.push(UsageInput {
                record_id: format!("l{day}-{i}"),
                workspace: format!("w{i:05}"),
                item: "log_events".into(),
                timestamp: ts,
                quantity: QuantityText((1_000_000 + i * 1_234 + day * 77_777).to_string()),
                dimensions: [("retention_days".to_owned(), "7".to_owned())].into(),
            });
        }
    }
    records
}

fn ndjson(records: &[UsageInput]) -> String {
    records
        .iter()
        .map(|r| {
            let mut v = json!({"record_id": r.record_id, "workspace": r.workspace, "item": r.item, "timestamp": r.timestamp, "quantity": r.quantity.0});
            if !r.dimensions.is_empty() {
                v["dimensions"] = json!(r.dimensions);
            }
            v.to_string() + "\n"
        })
        .collect()
}

fn cli(args: &[&str]) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_and_a_killed_one_bill_like_one_process() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("catalog.toml"), CATALOG).unwrap();
    std::fs::write(dir.path().join("accounts.csv"), accounts_csv()).unwrap();
    let catalog = dir.path().join("catalog.toml").display().to_string();
    let accounts = dir.path().join("accounts.csv").display().to_string();
    let records = usage();

    // The reference: one process on SQLite.
    let sqlite = dir.path().join("reference.db").display().to_string();
    cli(&["--db", &sqlite, "--now", T0, "catalog", "import", &catalog]);
    cli(&["--db", &sqlite, "--now", T0, "account", "import", &accounts]);
    let reference = App::open(std::path::Path::new(&sqlite)).await.unwrap();
    let batch: Vec<(usize, UsageInput)> = records.iter().cloned().enumerate().collect();
    assert_eq!(reference.ingest(T1.parse().unwrap(), batch).await.unwrap().accepted, 6 * ACCOUNTS);
    for i in (0..ACCOUNTS).step_by(97) {
        reference.top_up(T1.parse().unwrap(), &format!("a{i:05}"), "20.00", "online").await.unwrap();
    }
    reference.run(T1.parse().unwrap(), RunOptions::default(), &mut |_, _| {}).await.unwrap();

    // The same input on PostgreSQL: setup by CLI, usage and top-ups over HTTP, billing by workers.
    let url = store::testing::fresh_pg_database().await;
    cli(&["--database-url", &url, "--now", T0, "catalog", "import", &catalog]);
    cli(&["--database-url", &url, "--now", T0, "account", "import", &accounts]);
    let operator =
        String::from_utf8(Command::new(BIN).args(["--database-url", &url, "key", "create", "--operator"]).output().unwrap().stdout)
            .unwrap();
    let operator = operator.lines().next().unwrap().to_owned();
    let mut serve = Command::new(BIN)
        .args(["--database-url", &url, "serve", "--listen", "127.0.0.1:0", "--test-clock", "--scheduler-interval-secs", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(serve.stdout.as_mut().unwrap()), &mut line).unwrap();
    let base = format!("http://{}", line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap());
    let http = reqwest::Client::new();
    let post_usage = |records: &[UsageInput]| {
        let request = http
            .post(format!("{base}/api/v1/usage/ndjson"))
            .header("authorization", format!("Bearer {operator}"))
            .header("billcenter-now", T1)
            .body(ndjson(records));
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let report = post_usage(&records).await;
    assert_eq!(report["accepted"], 6 * ACCOUNTS, "{report}");
    // The body sent again, one record changed in its third chunk: the rest are duplicates and
    // the changed one a conflict, named by its index, and nothing is stored twice.
    let mut again = records.clone();
    again[25_000].quantity = QuantityText("999".into());
    let report = post_usage(&again).await;
    assert_eq!((report["accepted"].as_u64(), report["duplicate"].as_u64()), (Some(0), Some(6 * ACCOUNTS as u64 - 1)), "{report}");
    assert_eq!(
        report["rejected"],
        json!([{"index": 25_000, "field": "record_id", "reason": format!("`{}` was already ingested with other content", records[25_000].record_id)}])
    );
    for i in (0..ACCOUNTS).step_by(97) {
        let status = http
            .post(format!("{base}/api/v1/accounts/a{i:05}/top-ups"))
            .header("authorization", format!("Bearer {operator}"))
            .header("billcenter-now", T1)
            .body(json!({"amount": "20.00", "channel": "online"}).to_string())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }

    let worker = || {
        Command::new(BIN)
            .args(["--database-url", &url, "--now", T1, "worker", "--once", "--run-delay-minutes", "0", "--batch", "200"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut workers = vec![worker(), worker(), worker()];
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut victim = workers.remove(0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "worker: {}", String::from_utf8_lossy(&out.stderr));
        eprintln!("surviving {}", String::from_utf8_lossy(&out.stdout).trim());
    }

    let postgres = App::connect(&url, &store::PgSettings::default()).await.unwrap();
    let verify = postgres.verify().await.unwrap();
    assert!(verify.is_clean(), "{verify:#?}");
    let (left, right) = (reference.dump().await.unwrap(), postgres.dump().await.unwrap());
    support::assert_same_dumps(&left, &right, ("SQLite", "PostgreSQL"));
    let bills = &left.iter().find(|(t, _)| t == "daily_bill").unwrap().1;
    let new_york = ACCOUNTS / 3;
    assert_eq!(bills.len(), 3 * ACCOUNTS + new_york, "each account-day once (New York's first day is 09-30)");
    let _ = serve.kill();
    let _ = serve.wait();
}
