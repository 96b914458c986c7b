//! Requests that race over real HTTP, on SQLite and on PostgreSQL: one Idempotency-Key sent by
//! 50 clients at once has exactly one effect (the others get the first answer, or 409 while it
//! is in flight, never a second effect), and top-ups racing on one account all count once.

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
