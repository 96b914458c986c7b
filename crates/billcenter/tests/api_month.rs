//! One whole month driven only through the HTTP API gives the same lists, to the cent and to
//! the byte of their CSV exports, as the same month driven through the CLI.

mod support;

use serde_json::json;
use support::{CATALOG, Server};

/// The story as (moment, CLI arguments, API method, API path, API body).
fn story() -> Vec<(&'static str, Vec<String>, &'static str, &'static str, String)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let t0 = "2026-10-01T09:00:00+08:00";
    vec![
        (
            t0,
            s(&["account", "create", "--id", "acme", "--name", "Acme"]),
            "POST",
            "/api/v1/accounts",
            json!({"id": "acme", "name": "Acme"}).to_string(),
        ),
        (
            t0,
            s(&["workspace", "create", "--account", "acme", "--id", "w1"]),
            "POST",
            "/api/v1/accounts/acme/workspaces",
            json!({"id": "w1"}).to_string(),
        ),
        (
            t0,
            s(&["workspace", "create", "--account", "acme", "--id", "w2"]),
            "POST",
            "/api/v1/accounts/acme/workspaces",
            json!({"id": "w2"}).to_string(),
        ),
        (
            t0,
            s(&["topup", "--account", "acme", "--amount", "300.00"]),
            "POST",
            "/api/v1/accounts/acme/top-ups",
            json!({"amount": "300.00"}).to_string(),
        ),
        (
            t0,
            s(&[
                "coupon",
                "issue",
                "--account",
                "acme",
                "--amount",
                "20.00",
                "--kind",
                "regular",
                "--valid-from",
                "2026-10-01",
                "--valid-until",
                "2026-10-31",
            ]),
            "POST",
            "/api/v1/accounts/acme/coupons",
            json!({"amount": "20.00", "kind": "regular", "valid_from": "2026-10-01", "valid_until": "2026-10-31"}).to_string(),
        ),
        (
            t0,
            s(&["card", "grant", "--account", "acme", "--amount", "100", "--valid-from", "2026-10-01", "--valid-until", "2026-12-31"]),
            "POST",
            "/api/v1/accounts/acme/cards",
            json!({"amount": "100", "valid_from": "2026-10-01", "valid_until": "2026-12-31", "purchase": false}).to_string(),
        ),
        ("2026-11-01T01:00:00+08:00", s(&["usage", "import", "usage.ndjson"]), "POST", "/api/v1/usage/ndjson", usage()),
        ("2026-11-04T00:30:00+08:00", s(&["run"]), "POST", "/api/v1/run", json!({"now": "2026-11-04T00:30:00+08:00"}).to_string()),
        (
            "2026-11-05T10:00:00+08:00",
            s(&["topup", "--account", "acme", "--amount", "50.00"]),
            "POST",
            "/api/v1/accounts/acme/top-ups",
            json!({"amount": "50.00"}).to_string(),
        ),
    ]
}

/// October's usage: logs, time series peaks and SMS, varying by day.
fn usage() -> String {
    let mut lines = Vec::new();
    for d in 1..=31 {
        let ts = |h: u32| format!("2026-10-{d:02}T{h:02}:00:00+08:00");
        lines.push(json!({"record_id": format!("l{d}"), "workspace": "w1", "item": "log_events", "timestamp": ts(9), "quantity": (1_000_000 + d * 137_777).to_string(), "dimensions": {"retention_days": "7"}}));
        lines.push(json!({"record_id": format!("t{d}"), "workspace": "w2", "item": "time_series", "timestamp": ts(12), "quantity": (3_000 + d * 71).to_string(), "dimensions": {"retention_days": "3"}}));
        lines.push(json!({"record_id": format!("s{d}"), "workspace": "w1", "item": "sms", "timestamp": ts(20), "quantity": (d % 7 * 3).to_string()}));
    }
    lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n") + "\n"
}

const LISTS: [&str; 7] = ["invoices", "expenses", "transactions", "coupons", "cards", "balances", "events"];
const END: &str = "2026-11-06T12:00:00+08:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_through_the_api_equals_the_cli_to_the_cent() {
    // Through the CLI, in process.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("catalog.toml"), CATALOG).unwrap();
    std::fs::write(dir.path().join("usage.ndjson"), usage()).unwrap();
    let cli = |now: &str, args: Vec<String>| {
        let dir = dir.path().to_owned();
        let now = now.to_owned();
        async move {
            let mut all = vec!["billcenter".to_owned(), "--db".into(), "cli.db".into(), "--now".into(), now];
            all.extend(args);
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = billcenter::cli::main(all.clone(), &dir, &mut out, &mut err).await;
            assert_eq!(code, 0, "{all:?}: {}", String::from_utf8_lossy(&err));
            out
        }
    };
    cli("2026-10-01T09:00:00+08:00", vec!["catalog".into(), "import".into(), "catalog.toml".into()]).await;
    for (now, args, ..) in story() {
        cli(now, args).await;
    }

    // Through the API.
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let (status, _) =
        server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some("2026-10-01T09:00:00+08:00"), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    for (now, _, method, path, body) in story() {
        let (status, text) = server.raw(method, path, Some(&server.operator), Some(now), Some(body), &[]).await;
        assert!((200..300).contains(&status), "{method} {path}: {text}");
        if path.contains("usage") {
            assert!(text.contains("\"accepted\":93"), "{text}");
        }
    }

    for list in LISTS {
        let mut args = vec!["export".to_owned(), list.to_owned(), "--account".into(), "acme".into(), "--format".into(), "csv".into()];
        let mut query = "format=csv".to_owned();
        if list == "transactions" {
            args.extend(["--from".into(), "2026-01-01".into()]);
            query.push_str("&from=2026-01-01");
        }
        let from_cli = String::from_utf8(cli(END, args).await).unwrap();
        let (status, from_api) =
            server.raw("GET", &format!("/api/v1/accounts/acme/exports/{list}?{query}"), Some(&server.operator), Some(END), None, &[]).await;
        assert_eq!(status, 200);
        assert!(from_cli.lines().count() > 1, "{list} is empty:\n{from_cli}");
        assert_eq!(from_api, from_cli, "{list} differs between the API and the CLI");
    }
    let invoices = String::from_utf8(cli(END, vec!["list".into(), "invoices".into(), "--account".into(), "acme".into()]).await).unwrap();
    assert!(invoices.contains("INV-202610-acme-0001"), "{invoices}");
}
