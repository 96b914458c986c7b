//! `serve` under load: with 500 connections at once against a limit of 4 requests in flight,
//! what is over the limit is answered at once with `503 overloaded` and `Retry-After` instead
//! of waiting in an unbounded queue, the rest are answered, and `/healthz` and `/readyz` keep
//! answering throughout.

mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::{CATALOG, Server};

const NOW: &str = "2026-11-10T09:00:00+08:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_its_limit_the_server_sheds_and_keeps_answering_health_checks() {
    let server = Server::start(&["--scheduler-interval-secs", "0", "--max-in-flight", "4"]);
    let (status, _) = server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some(NOW), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    server.ok("POST", "/api/v1/accounts", NOW, json!({"id": "acme", "name": "Acme"})).await;
    let server = Arc::new(server);
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();

    let mut storm = Vec::new();
    for _ in 0..500 {
        let (server, http) = (server.clone(), http.clone());
        storm.push(tokio::spawn(async move {
            let r = http
                .get(format!("{}/api/v1/accounts/acme/lists/transactions", server.base))
                .header("authorization", format!("Bearer {}", server.operator))
                .send()
                .await
                .expect("every connection is answered");
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, retry, body)
        }));
    }
    let mut health = Vec::new();
    for path in ["/healthz", "/readyz"].iter().cycle().take(40) {
        let (server, http) = (server.clone(), http.clone());
        health.push(tokio::spawn(async move { http.get(format!("{}{path}", server.base)).send().await.map(|r| r.status().as_u16()) }));
    }
    let (mut answered, mut shed) = (0, 0);
    for t in storm {
        match t.await.unwrap() {
            (200, _, _) => answered += 1,
            (503, retry, body) => {
                assert_eq!(retry.as_deref(), Some("1"), "a shed request says when to try again");
                assert_eq!(body["error"]["code"], "overloaded", "{body}");
                shed += 1;
            }
            other => panic!("under load: {other:?}"),
        }
    }
    for t in health {
        assert_eq!(t.await.unwrap().expect("health checks are answered"), 200, "health checks stay outside the limit");
    }
    assert!(shed > 0, "over its limit the server sheds ({answered} answered)");
    assert!(answered > 0, "and answers what it takes ({shed} shed)");
    // Afterwards it answers as usual.
    let (status, _) = server.call("GET", "/api/v1/accounts/acme", Some(&server.operator), None, None).await;
    assert_eq!(status, 200);
    let (status, ready) = server.call("GET", "/readyz", None, None, None).await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
}
