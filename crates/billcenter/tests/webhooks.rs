//! Webhooks delivered to a local receiver: signed as Standard Webhooks (checked here with an
//! independent HMAC), retried when the receiver fails, logged per endpoint, and never two
//! different messages under one id.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{CATALOG, Server};

#[derive(Default)]
struct Received {
    /// (endpoint, webhook-id, webhook-timestamp, webhook-signature, body)
    messages: Vec<(String, String, String, String, String)>,
    flaky_calls: u32,
}

type Shared = Arc<Mutex<Received>>;

async fn receive(State(state): State<Shared>, Path(name): Path<String>, headers: HeaderMap, body: String) -> StatusCode {
    let mut r = state.lock().unwrap();
    if name == "flaky" {
        r.flaky_calls += 1;
        if r.flaky_calls <= 2 {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    let h = |k: &str| headers.get(k).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    r.messages.push((name, h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"), body));
    StatusCode::OK
}

fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_receiver_signed_and_retried() {
    let received: Shared = Arc::default();
    let receiver = axum::Router::new().route("/hooks/{name}", axum::routing::post(receive)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_base = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let t0 = "2026-10-01T09:00:00+08:00";
    let (status, _) = server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some(t0), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    let good = server
        .ok(
            "POST",
            "/api/v1/webhooks",
            t0,
            json!({"url": format!("{hook_base}/good"), "events": ["account.overdue", "daily_bill.settled", "invoice.issued"]}),
        )
        .await;
    let flaky =
        server.ok("POST", "/api/v1/webhooks", t0, json!({"url": format!("{hook_base}/flaky"), "events": ["account.overdue"]})).await;
    server.ok("POST", "/api/v1/accounts", t0, json!({"id": "acme", "name": "Acme"})).await;
    server.ok("POST", "/api/v1/accounts/acme/workspaces", t0, json!({"id": "w"})).await;
    let record = json!({"record_id": "r1", "workspace": "w", "item": "sms", "timestamp": "2026-10-02T10:00:00+08:00", "quantity": "30"});
    server.ok("POST", "/api/v1/usage", "2026-10-02T12:00:00+08:00", json!({"records": [record]})).await;
    // Day 10-02 costs 3.00 with no funds: daily_bill.settled and account.overdue; then the
    // October invoice is issued on the run after November 3rd.
    server.ok("POST", "/api/v1/run", t0, json!({"now": "2026-11-04T00:30:00+08:00"})).await;

    // Wait until every delivery is done (the flaky receiver fails twice: 1 s, then 2 s backoff).
    let mut logs: BTreeMap<i64, Value> = BTreeMap::new();
    for _ in 0..200 {
        for id in [good["id"].as_i64().unwrap(), flaky["id"].as_i64().unwrap()] {
            let (_, log) = server.call("GET", &format!("/api/v1/webhooks/{id}/deliveries"), Some(&server.operator), None, None).await;
            logs.insert(id, log);
        }
        let delivered =
            |log: &Value| log["items"].as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|d| !d["delivered_at"].is_null()));
        if logs.values().all(delivered) && logs.values().map(|l| l["items"].as_array().unwrap().len()).sum::<usize>() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let good_log = &logs[&good["id"].as_i64().unwrap()];
    let flaky_log = &logs[&flaky["id"].as_i64().unwrap()];
    assert_eq!(good_log["items"].as_array().unwrap().len(), 3, "{good_log}");
    assert_eq!(flaky_log["items"].as_array().unwrap().len(), 1, "{flaky_log}");
    let flaky_delivery = &flaky_log["items"][0];
    assert_eq!(flaky_delivery["attempts"], 3, "{flaky_delivery}");
    assert_eq!(flaky_delivery["last_status"], 200);
    assert!(!flaky_delivery["delivered_at"].is_null());

    let r = received.lock().unwrap();
    let mut by_id: BTreeMap<(String, String), String> = BTreeMap::new();
    for (endpoint, id, timestamp, signature, body) in &r.messages {
        let secret = if endpoint == "good" { good["secret"].as_str().unwrap() } else { flaky["secret"].as_str().unwrap() };
        assert_eq!(*signature, expected_signature(secret, id, timestamp, body), "signature of {id}");
        // One id, one message: a redelivery carries exactly the same body.
        if let Some(previous) = by_id.insert((endpoint.clone(), id.clone()), body.clone()) {
            assert_eq!(previous, *body);
        }
    }
    let types: Vec<String> = r
        .messages
        .iter()
        .filter(|m| m.0 == "good")
        .map(|m| serde_json::from_str::<Value>(&m.4).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["daily_bill.settled", "account.overdue", "invoice.issued"]);
    let overdue: Value = serde_json::from_str(&r.messages.iter().find(|m| m.0 == "flaky").unwrap().4).unwrap();
    assert_eq!(overdue["data"]["account_id"], "acme");
    assert_eq!(overdue["data"]["date"], "2026-10-02");
    assert_eq!(r.flaky_calls, 3);
}
