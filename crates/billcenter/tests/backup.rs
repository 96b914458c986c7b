//! `billcenter backup`: a consistent copy of a SQLite store made while a server writes to it;
//! the copy opens as a store of its own and `verify` finds it clean.

mod support;

use std::process::Command;
use std::sync::Arc;

use serde_json::json;
use support::{BIN, CATALOG, Server};

const NOW: &str = "2026-11-10T09:00:00+08:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_top_ups_arrive_is_consistent_and_verifies() {
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let (status, _) = server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some(NOW), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    server.ok("POST", "/api/v1/accounts", NOW, json!({"id": "acme", "name": "Acme"})).await;
    let server = Arc::new(server);
    let writer = {
        let server = server.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                server.ok("POST", "/api/v1/accounts/acme/top-ups", NOW, json!({"amount": "1.00"})).await;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let copy = server.dir.path().join("copy.db");
    let made = server.cli(&["backup", "--output", copy.to_str().unwrap()]);
    assert!(made.starts_with("backed up to "), "{made}");
    writer.await.unwrap();

    // The copy is a store of its own: clean, and a prefix of what the server went on to write.
    let on_copy = |args: &[&str]| {
        let out = Command::new(BIN).arg("--db").arg(&copy).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let verify = on_copy(&["verify"]);
    assert!(verify.contains("every account's ledger is an unbroken hash chain") && verify.ends_with("verify: clean\n"), "{verify}");
    // The list, then its summary: the first JSON value is the rows.
    let listed = on_copy(&["--now", "2026-11-11T00:00:00Z", "--json", "list", "transactions", "--account", "acme"]);
    let rows: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&listed).into_iter().next().unwrap().unwrap();
    let top_ups: Vec<&serde_json::Value> = rows.iter().filter(|r| r["type"] == "top_up").collect();
    assert!(!top_ups.is_empty() && top_ups.len() <= 200, "{} top-ups copied", top_ups.len());
    let last_balance =
        top_ups.iter().map(|r| r["balance after"].as_str().unwrap()).max_by_key(|b| b.replace('.', "").parse::<i64>().unwrap());
    assert_eq!(last_balance, Some(format!("{}.00", top_ups.len()).as_str()), "whole top-ups only, each once");
    let (_, live) = server.call("GET", "/api/v1/accounts/acme", Some(&server.operator), None, None).await;
    assert_eq!(live["cash"], "200.00", "the server went on writing");

    // A backup never overwrites a file.
    let again = Command::new(BIN).args(&server.store).args(["backup", "--output", copy.to_str().unwrap()]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"), "{}", String::from_utf8_lossy(&again.stderr));
}
