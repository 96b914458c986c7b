//! Requests and jobs that race, over real HTTP, on SQLite and on PostgreSQL: one
//! Idempotency-Key sent by 50 clients at once has exactly one effect (the others get the first
//! answer, or 409 while it is in flight, never a second effect); top-ups racing on one account
//! all count once; resource packs bought at once get one number each and are paid once; the
//! nightly run that issues invoices races a second run, usage ingestion,
//! top-ups, cards and coupons on every account, and nothing is lost or counted twice; two
//! `serve` processes with their schedulers on bill like one run.

mod support;

use serde_json::json;
use support::{CATALOG, Server};

const NOW: &str = "2026-11-10T09:00:00+08:00";
const CLIENTS: usize = 50;

async fn races(server: Server) {
    let (status, _) = server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some(NOW), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    server.ok("POST", "/api/v1/accounts", NOW, json!({"id": "acme", "name": "Acme"})).await;
    let server = std::sync::Arc::new(server);

    // One key, one body, fifty clients at once.
    let body = json!({"amount": "10.00", "channel": "online"}).to_string();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (server, body) = (server.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let headers = [("idempotency-key", "race-1"), ("content-type", "application/json")];
            server.raw("POST", "/api/v1/accounts/acme/top-ups", Some(&server.operator), Some(NOW), Some(body), &headers).await
        }));
    }
    let mut created = Vec::new();
    let mut in_flight = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status {
            201 => created.push(text),
            409 => {
                assert!(text.contains("idempotency_in_progress"), "{text}");
                in_flight += 1;
            }
            other => panic!("a racing client got {other}: {text}"),
        }
    }
    assert!(!created.is_empty(), "one client at least gets the answer");
    assert!(created.iter().all(|t| *t == created[0]), "every answer is the first one: {created:?}");
    assert_eq!(created.len() + in_flight, CLIENTS);
    let (_, account) = server.call("GET", "/api/v1/accounts/acme", Some(&server.operator), None, None).await;
    assert_eq!(account["cash"], "10.00", "one effect");

    // Fifty different keys racing on the same account: every top-up counts, once.
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("many-{i}");
            let headers = [("idempotency-key", key.as_str()), ("content-type", "application/json")];
            let body = json!({"amount": "1.01"}).to_string();
            server.raw("POST", "/api/v1/accounts/acme/top-ups", Some(&server.operator), Some(NOW), Some(body), &headers).await
        }));
    }
    for t in tasks {
        let (status, text) = t.await.unwrap();
        assert_eq!(status, 201, "{text}");
    }
    let (_, account) = server.call("GET", "/api/v1/accounts/acme", Some(&server.operator), None, None).await;
    assert_eq!(account["cash"], "60.50", "10.00 + 50 × 1.01");
    let (_, page) =
        server.call("GET", "/api/v1/accounts/acme/lists/transactions?limit=1000", Some(&server.operator), Some(NOW), None).await;
    let top_ups = page["items"].as_array().unwrap().iter().filter(|r| r["type"] == "top_up").count();
    assert_eq!(top_ups, 1 + CLIENTS, "{page}");

    // Twelve resource packs bought at once with the cash for ten: ten are sold, numbered 1 to 10
    // once each (numbers are taken under the account's row), two are refused, and the cash
    // pays exactly ten.
    server.ok("POST", "/api/v1/accounts/acme/top-ups", NOW, json!({"amount": "6000.00"})).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"pack": "log_events_500m"}).to_string();
            server.raw("POST", "/api/v1/accounts/acme/packs", Some(&server.operator), Some(NOW), Some(body), &[]).await
        }));
    }
    let mut numbers = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status {
            201 => numbers.push(serde_json::from_str::<serde_json::Value>(&text).unwrap()["number"].as_str().unwrap().to_owned()),
            409 => {
                assert!(text.contains("insufficient_funds"), "{text}");
                refused += 1;
            }
            other => panic!("a racing purchase got {other}: {text}"),
        }
    }
    numbers.sort_by_key(|n| n.trim_start_matches("RP-").parse::<u32>().unwrap());
    assert_eq!(numbers, (1..=10).map(|n| format!("RP-{n}")).collect::<Vec<_>>(), "ten packs, each number once");
    assert_eq!(refused, 2);
    let (_, account) = server.call("GET", "/api/v1/accounts/acme", Some(&server.operator), None, None).await;
    assert_eq!(account["cash"], "60.50", "the cash paid ten packs of 600.00");
    let verify = server.cli(&["verify"]);
    assert!(verify.contains("verify: clean"), "{verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_one_effect_and_racing_top_ups_on_sqlite() {
    races(Server::start(&["--scheduler-interval-secs", "0"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_one_effect_and_racing_top_ups_on_postgres() {
    let url = store::testing::fresh_pg_database().await;
    races(Server::start_on(Some(&url), &["--scheduler-interval-secs", "0"])).await;
}

const ACCOUNTS: usize = 40;
const BILL_NIGHT: &str = "2026-12-04T01:00:00Z";

/// One account's usage records (sms and log events) of November's days `days`, ids tagged.
fn november(account: usize, days: std::ops::RangeInclusive<u32>, tag: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for day in days {
        let at = format!("2026-11-{day:02}T12:00:00+08:00");
        out.push(json!({"record_id": format!("{tag}s{day}"), "workspace": format!("a{account}-ws"), "item": "sms", "timestamp": at,
            "quantity": (40 + account * 3 + day as usize).to_string()}));
        out.push(json!({"record_id": format!("{tag}l{day}"), "workspace": format!("a{account}-ws"), "item": "log_events", "timestamp": at,
            "quantity": (1_000_000 + account * 10_007 + day as usize * 333).to_string(), "dimensions": {"retention_days": "7"}}));
    }
    out
}

/// Sums of the records' quantities by item.
fn by_item(records: &[serde_json::Value]) -> std::collections::BTreeMap<String, rust_decimal::Decimal> {
    let mut sums = std::collections::BTreeMap::new();
    for r in records {
        *sums.entry(r["item"].as_str().unwrap().to_owned()).or_default() +=
            r["quantity"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
    }
    sums
}

/// The nightly run that bills November and issues its invoices races, on every account at once:
/// a second run, usage streaming in (November 30 and late records of days being billed), top-ups,
/// card grants and purchases, coupons issued and coupon codes redeemed. Afterwards (and after the
/// next night, which bills the late usage) every record is billed once, every top-up, card and
/// coupon is there once, each account has one November invoice, and `verify` is clean.
async fn money_paths_race_the_night(server: Server) {
    let (status, _) =
        server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some("2026-10-31T00:00:00Z"), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    let t0 = "2026-11-01T00:00:00+08:00";
    let mut ingested: Vec<Vec<serde_json::Value>> = Vec::new();
    for a in 0..ACCOUNTS {
        let id = format!("a{a}");
        server.ok("POST", "/api/v1/accounts", t0, json!({"id": id, "name": format!("Racer {a}"), "time_zone": "Asia/Shanghai"})).await;
        server.ok("POST", &format!("/api/v1/accounts/{id}/workspaces"), t0, json!({"id": format!("a{a}-ws"), "name": "prod"})).await;
        server.ok("POST", &format!("/api/v1/accounts/{id}/top-ups"), t0, json!({"amount": "150.00"})).await;
        server
            .ok("POST", "/api/v1/coupon-codes", t0, json!({"amount": "5.00", "kind": "regular", "valid_from": "2026-11-01", "valid_until": "2026-12-31", "code": format!("RACE-{a}")}))
            .await;
        let records = november(a, 1..=29, "");
        let report = server.ok("POST", "/api/v1/usage", "2026-11-30T01:00:00+08:00", json!({"records": records})).await;
        assert_eq!(report["accepted"], records.len(), "{report}");
        ingested.push(records);
    }
    let server = std::sync::Arc::new(server);

    let mut tasks: Vec<tokio::task::JoinHandle<(String, u16, String)>> = Vec::new();
    let post = |path: String, body: serde_json::Value, at: &'static str| {
        let server = server.clone();
        tokio::spawn(async move {
            static SENT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let key = format!("race-{}", SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let headers = [("idempotency-key", key.as_str()), ("content-type", "application/json")];
            let (status, text) = server.raw("POST", &path, Some(&server.operator), Some(at), Some(body.to_string()), &headers).await;
            (path, status, text)
        })
    };
    // Two nightly runs at once, and everything else while they run.
    for _ in 0..2 {
        tasks.push(post("/api/v1/run".into(), json!({"now": BILL_NIGHT}), BILL_NIGHT));
    }
    // A stream of NDJSON bodies, one after another as fast as they are answered, until both
    // runs have ended: every account's month again under new ids each time.
    let runs_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = {
        let (server, runs_done) = (server.clone(), runs_done.clone());
        tokio::spawn(async move {
            let mut sent: Vec<Vec<serde_json::Value>> = vec![Vec::new(); ACCOUNTS];
            let mut bodies = 0;
            while bodies < 3 || !runs_done.load(std::sync::atomic::Ordering::SeqCst) {
                let batch: Vec<Vec<serde_json::Value>> = (0..ACCOUNTS).map(|a| november(a, 1..=30, &format!("fast{bodies}-"))).collect();
                let body: String = batch.iter().flatten().map(|r| r.to_string() + "\n").collect();
                let (status, report) =
                    server.call("POST", "/api/v1/usage/ndjson", Some(&server.operator), Some(BILL_NIGHT), Some(body)).await;
                assert_eq!((status, report["accepted"].as_u64()), (200, Some(ACCOUNTS as u64 * 60)), "{report}");
                for (a, records) in batch.into_iter().enumerate() {
                    sent[a].extend(records);
                }
                bodies += 1;
            }
            (bodies, sent)
        })
    };
    for (a, records) in ingested.iter_mut().enumerate() {
        let id = format!("a{a}");
        let late = november(a, 1..=30, "late-");
        records.extend(late.iter().cloned());
        for chunk in late.chunks(12) {
            tasks.push(post("/api/v1/usage".into(), json!({"records": chunk}), BILL_NIGHT));
        }
        for n in 0..3 {
            tasks.push(post(format!("/api/v1/accounts/{id}/top-ups"), json!({"amount": format!("7.0{n}")}), BILL_NIGHT));
        }
        let card = |purchase: bool| json!({"amount": "100", "valid_from": "2026-12-01", "valid_until": "2027-11-30", "purchase": purchase});
        tasks.push(post(format!("/api/v1/accounts/{id}/cards"), card(false), BILL_NIGHT));
        tasks.push(post(format!("/api/v1/accounts/{id}/cards"), card(true), BILL_NIGHT));
        let coupon = json!({"amount": "3.00", "kind": "regular", "valid_from": "2026-11-01", "valid_until": "2026-12-31"});
        tasks.push(post(format!("/api/v1/accounts/{id}/coupons"), coupon, BILL_NIGHT));
        tasks.push(post(format!("/api/v1/accounts/{id}/coupon-codes/redeem"), json!({"code": format!("RACE-{a}")}), BILL_NIGHT));
    }
    let mut cards_bought = [0usize; ACCOUNTS];
    let mut invoices_issued = 0;
    let (runs, others): (Vec<_>, Vec<_>) = tasks.into_iter().enumerate().partition(|(i, _)| *i < 2);
    let mut answers = Vec::new();
    for (_, t) in runs {
        answers.push(t.await.unwrap());
    }
    runs_done.store(true, std::sync::atomic::Ordering::SeqCst);
    for (_, t) in others {
        answers.push(t.await.unwrap());
    }
    let (bodies, streamed) = stream.await.unwrap();
    eprintln!("{bodies} NDJSON bodies of {} records streamed while the runs ran", ACCOUNTS * 60);
    for (records, more) in ingested.iter_mut().zip(streamed) {
        records.extend(more);
    }
    for (path, status, text) in answers {
        match (path.as_str(), status) {
            ("/api/v1/run", 200) => {
                invoices_issued += serde_json::from_str::<serde_json::Value>(&text).unwrap()["invoices_issued"].as_u64().unwrap()
            }
            ("/api/v1/usage", 200) => {
                let report: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!((report["accepted"].as_u64(), report["rejected"].as_array().map(Vec::len)), (Some(12), Some(0)), "{report}");
            }
            (p, 201) if p.ends_with("/cards") && text.contains("\"purchased\"") => {
                cards_bought[p.split('/').nth(4).unwrap()[1..].parse::<usize>().unwrap()] += 1;
            }
            (p, 409) if p.ends_with("/cards") => assert!(text.contains("insufficient_funds"), "{text}"),
            (_, 201) => {}
            (p, s) => panic!("{p} answered {s}: {text}"),
        }
    }
    // Every account billed by one of the two runs: on PostgreSQL a pass skips an account a
    // racing write holds, and the run goes round again while any is due.
    assert_eq!(invoices_issued, ACCOUNTS as u64, "each November invoice issued once, by one of the racing runs");
    // The next night bills what came in late.
    let next = server.ok("POST", "/api/v1/run", "2026-12-05T01:00:00Z", json!({"now": "2026-12-05T01:00:00Z"})).await;
    assert_eq!(next["invoices_issued"], 0, "{next}");
    let verify = server.cli(&["verify"]);
    assert!(verify.contains("verify: clean"), "{verify}");
    for (a, records) in ingested.iter().enumerate() {
        let list = |name: &str| {
            let server = server.clone();
            let path = format!("/api/v1/accounts/a{a}/lists/{name}{}", if name.contains('?') { "" } else { "?limit=1000" });
            async move {
                let (status, page) = server.call("GET", &path, Some(&server.operator), Some("2026-12-05T02:00:00Z"), None).await;
                assert_eq!(status, 200, "{path}: {page}");
                page["items"].as_array().unwrap().clone()
            }
        };
        let mut billed = std::collections::BTreeMap::<String, rust_decimal::Decimal>::new();
        for line in list("expenses").await {
            *billed.entry(line["item"].as_str().unwrap().to_owned()).or_default() +=
                line["quantity"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
        }
        assert_eq!(billed, by_item(records), "account a{a}: every record billed once");
        let invoices = list("invoices").await;
        assert_eq!(invoices.iter().filter(|i| i["month"] == "2026-11").count(), 1, "a{a}: {invoices:?}");
        let transactions = list("transactions?from=2026-10-01&limit=1000").await;
        assert_eq!(transactions.iter().filter(|t| t["type"] == "top_up").count(), 4, "a{a}: {transactions:?}");
        assert_eq!(list("cards").await.len(), 1 + cards_bought[a], "a{a}: the granted card and any bought one");
        assert_eq!(list("coupons").await.len(), 2, "a{a}: the issued coupon and the redeemed code");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_paths_race_the_night_on_sqlite() {
    money_paths_race_the_night(Server::start(&["--scheduler-interval-secs", "0"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_paths_race_the_night_on_postgres() {
    let url = store::testing::fresh_pg_database().await;
    money_paths_race_the_night(Server::start_on(Some(&url), &["--scheduler-interval-secs", "0"])).await;
}

/// Two `serve` processes on one store, both with the scheduler on, bill November and issue its
/// invoices exactly as one `billcenter run` does on a copy of the same input: every stored row
/// of every account equal. (The scheduler's lease lets one of them run at a time; the run's
/// own claims keep two overlapping runs from billing twice, which the test above races.)
async fn two_schedulers_bill_like_one_run(store: &[&str]) {
    const ACCOUNTS: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let catalog = file("catalog.toml", CATALOG.into());
    let mut csv = String::from("id,name,currency,time_zone,workspaces\n");
    for a in 0..ACCOUNTS {
        csv += &format!("a{a},Scheduled {a},CNY,{},a{a}-ws\n", ["Asia/Shanghai", "UTC", "America/New_York"][a % 3]);
    }
    let accounts = file("accounts.csv", csv);
    let usage = file("usage.ndjson", (0..ACCOUNTS).flat_map(|a| november(a, 1..=30, "")).map(|r| r.to_string() + "\n").collect());
    let reference = dir.path().join("reference.db").to_string_lossy().into_owned();
    let prepare = |store: &[&str]| {
        let cli = |now: &str, args: &[&str]| {
            let out = std::process::Command::new(support::BIN).args(store).args(["--now", now]).args(args).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        cli("2026-10-31T00:00:00Z", &["catalog", "import", &catalog]);
        cli("2026-10-31T00:00:00Z", &["account", "import", &accounts]);
        for a in (0..ACCOUNTS).step_by(7) {
            cli("2026-10-31T00:00:00Z", &["topup", "--account", &format!("a{a}"), "--amount", "90.00"]);
        }
        cli("2026-12-01T06:00:00Z", &["usage", "import", &usage]);
    };
    prepare(&["--db", &reference]);
    support::cli(std::path::Path::new(&reference), &["--now", BILL_NIGHT, "run"]);
    prepare(store);

    let scheduled = ["--now", BILL_NIGHT, "--scheduler-interval-secs", "1", "--run-delay-minutes", "0"];
    let (first, second) = (Server::start_on_store(store, &scheduled), Server::start_on_store(store, &scheduled));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    // Billed through the last day ended in each account's zone (its invoice is issued with it).
    let ended = |a: usize| if a % 3 == 2 { "2026-12-02" } else { "2026-12-03" };
    'wait: loop {
        assert!(std::time::Instant::now() < deadline, "the schedulers did not bill every account in 3 minutes");
        for a in (0..ACCOUNTS).rev() {
            let (_, account) = first.call("GET", &format!("/api/v1/accounts/a{a}"), Some(&first.operator), None, None).await;
            if account["billed_through"] != ended(a) {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue 'wait;
            }
        }
        break;
    }
    // A tick more for each, then both stop as an operator stops them.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert!(first.stop().0 && second.stop().0, "both servers stop cleanly");

    let open = |store: &[&str]| {
        let (flag, at) = (store[0].to_owned(), store[1].to_owned());
        async move {
            match flag.as_str() {
                "--db" => app::App::open(std::path::Path::new(&at)).await.unwrap(),
                _ => app::App::connect(&at, &store::PgSettings::default()).await.unwrap(),
            }
        }
    };
    let (one, two) = (open(&["--db", &reference]).await, open(store).await);
    let verify = two.verify().await.unwrap();
    assert!(verify.is_clean(), "{verify:#?}");
    let (left, right) = (one.dump().await.unwrap(), two.dump().await.unwrap());
    support::assert_same_dumps(&left, &right, ("one run", "two schedulers"));
    let invoices = &left.iter().find(|(t, _)| t == "invoice").expect("an invoice table").1;
    assert_eq!(invoices.len(), ACCOUNTS - ACCOUNTS / 3, "one November invoice per account whose December 3 has ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_bill_like_one_run_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db").to_string_lossy().into_owned();
    two_schedulers_bill_like_one_run(&["--db", &db]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_bill_like_one_run_on_postgres() {
    let url = store::testing::fresh_pg_database().await;
    two_schedulers_bill_like_one_run(&["--database-url", &url]).await;
}
