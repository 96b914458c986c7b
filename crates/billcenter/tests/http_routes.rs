//! The HTTP API over real HTTP against a running `billcenter serve`: every route of the
//! router answers its success and its errors, keys stay inside their scope (the tests walk the
//! route table of the OpenAPI document, so a new route cannot be forgotten), and the server
//! stops gracefully.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{CATALOG, Server};

const NOW: &str = "2026-10-31T09:00:00+08:00";

/// Every (method, path) of the router, from the document generated from it.
async fn route_table(server: &Server) -> Vec<(String, String)> {
    let (status, doc) = server.call("GET", "/api/v1/openapi.json", None, None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

async fn setup(server: &Server) -> String {
    let (status, _) = server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some(NOW), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    for id in ["acme", "other"] {
        server.ok("POST", "/api/v1/accounts", NOW, json!({"id": id, "name": id})).await;
        server.ok("POST", &format!("/api/v1/accounts/{id}/workspaces"), NOW, json!({"id": format!("{id}-ws")})).await;
        server.ok("POST", &format!("/api/v1/accounts/{id}/top-ups"), NOW, json!({"amount": "100.00"})).await;
    }
    support::cli(&server.db(), &["key", "create", "--account", "acme"]).lines().next().unwrap().to_owned()
}

fn concrete(path: &str, account: &str) -> String {
    path.replace("{account}", account)
        .replace("{list}", "invoices")
        .replace("{id}", "1")
        .replace("{month}", "2026-10")
        .replace("{decision}", "issue")
}

/// Routes an account key may use on its own account; every other route is the operator's.
const ACCOUNT_ROUTES: [(&str, &str); 11] = [
    ("GET", "/api/v1/accounts/{account}"),
    ("GET", "/api/v1/accounts/{account}/workspaces"),
    ("GET", "/api/v1/accounts/{account}/lists/{list}"),
    ("GET", "/api/v1/accounts/{account}/exports/{list}"),
    ("GET", "/api/v1/accounts/{account}/invoices/{month}/pdf"),
    ("GET", "/api/v1/accounts/{account}/focus/{month}"),
    ("POST", "/api/v1/accounts/{account}/coupon-codes/redeem"),
    ("POST", "/api/v1/accounts/{account}/tax-invoices"),
    ("GET", "/api/v1/accounts/{account}/tax-invoices/{id}/pdf"),
    ("POST", "/api/v1/accounts/{account}/packs"),
    ("GET", "/api/v1/catalog"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_stay_inside_their_scope_on_every_route() {
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let account_key = setup(&server).await;
    let routes = route_table(&server).await;
    assert!(routes.len() >= 20, "{routes:?}");
    for (method, path) in &routes {
        // No key, or a key that does not exist: 401 everywhere.
        for key in [None, Some("bck_000000000000_nope")] {
            let (status, body) = server.call(method, &concrete(path, "acme"), key, None, Some("{}".into())).await;
            assert_eq!(status, 401, "{method} {path} without a valid key: {body}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        // Another account's objects do not exist for an account key.
        if path.contains("{account}") {
            let (status, body) = server.call(method, &concrete(path, "other"), Some(&account_key), None, Some("{}".into())).await;
            assert_eq!(status, 404, "{method} {path} on another account: {body}");
            assert_eq!(body["error"]["code"], "not_found");
        }
        // On its own account it may use only the customer's routes.
        let allowed = ACCOUNT_ROUTES.contains(&(method.as_str(), path.as_str()));
        let (status, body) = server.call(method, &concrete(path, "acme"), Some(&account_key), None, Some("{}".into())).await;
        if allowed {
            assert!(status != 401 && status != 403 && status < 500, "{method} {path} for its own account: {status} {body}");
        } else {
            assert_eq!(status, 403, "{method} {path} is the operator's: {body}");
            assert_eq!(body["error"]["code"], "forbidden");
        }
    }
    // The operator sees both accounts; the account key reads its own list.
    // The list's default range is the 30 days before the request's moment: the test clock's.
    let (status, body) = server.call("GET", "/api/v1/accounts/acme/lists/transactions", Some(&account_key), Some(NOW), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["type"], "top_up");
    let (status, _) = server.call("GET", "/api/v1/accounts/other", Some(&server.operator), None, None).await;
    assert_eq!(status, 200);
}

/// (method, route, concrete path, body, expected status, expected error code)
type Case<'a> = (&'a str, &'a str, String, String, u16, Option<&'a str>);

/// One call per route that succeeds and one that fails, with the status and error code each
/// must answer. The set of routes exercised must equal the router's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_its_success_and_its_errors() {
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let op = server.operator.clone();
    let mut exercised: BTreeSet<(String, String)> = BTreeSet::new();
    let usage = |id: &str, ts: &str, q: &str| json!({"record_id": id, "workspace": "acme-ws", "item": "log_events", "timestamp": ts, "quantity": q, "dimensions": {"retention_days": "7"}});
    let cases: Vec<Case> = vec![
        ("POST", "/api/v1/catalog", "/api/v1/catalog".into(), "currency = 1".into(), 422, Some("invalid_input")),
        ("POST", "/api/v1/catalog", "/api/v1/catalog".into(), CATALOG.into(), 200, None),
        ("GET", "/api/v1/catalog", "/api/v1/catalog".into(), String::new(), 200, None),
        ("POST", "/api/v1/accounts", "/api/v1/accounts".into(), json!({"id": "acme", "name": "Acme"}).to_string(), 201, None),
        (
            "POST",
            "/api/v1/accounts",
            "/api/v1/accounts".into(),
            json!({"id": "acme", "name": "Acme"}).to_string(),
            409,
            Some("already_exists"),
        ),
        (
            "POST",
            "/api/v1/accounts",
            "/api/v1/accounts".into(),
            json!({"id": "x", "name": "X", "time_zone": "Mars/Base"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        ("POST", "/api/v1/accounts", "/api/v1/accounts".into(), "{not json".into(), 400, Some("malformed_json")),
        ("GET", "/api/v1/accounts", "/api/v1/accounts?limit=1".into(), String::new(), 200, None),
        ("GET", "/api/v1/accounts", "/api/v1/accounts?limit=0".into(), String::new(), 400, Some("invalid_input")),
        ("GET", "/api/v1/accounts/{account}", "/api/v1/accounts/acme".into(), String::new(), 200, None),
        ("GET", "/api/v1/accounts/{account}", "/api/v1/accounts/nobody".into(), String::new(), 404, Some("not_found")),
        (
            "POST",
            "/api/v1/accounts/{account}/workspaces",
            "/api/v1/accounts/acme/workspaces".into(),
            json!({"id": "acme-ws"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/workspaces",
            "/api/v1/accounts/acme/workspaces".into(),
            json!({"id": "acme-ws"}).to_string(),
            409,
            Some("already_exists"),
        ),
        ("GET", "/api/v1/accounts/{account}/workspaces", "/api/v1/accounts/acme/workspaces".into(), String::new(), 200, None),
        (
            "GET",
            "/api/v1/accounts/{account}/workspaces",
            "/api/v1/accounts/nobody/workspaces".into(),
            String::new(),
            404,
            Some("not_found"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/top-ups",
            "/api/v1/accounts/acme/top-ups".into(),
            json!({"amount": "50.00"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/top-ups",
            "/api/v1/accounts/acme/top-ups".into(),
            json!({"amount": "1.001"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/coupons",
            "/api/v1/accounts/acme/coupons".into(),
            json!({"amount": "5.00", "kind": "regular", "valid_from": "2026-11-01", "valid_until": "2026-11-30"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/coupons",
            "/api/v1/accounts/acme/coupons".into(),
            json!({"amount": "5.00", "kind": "regular", "valid_from": "2026-11-30", "valid_until": "2026-11-01"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/coupon-codes",
            "/api/v1/coupon-codes".into(),
            json!({"code": "WELCOME-1", "amount": "8.00", "kind": "regular", "valid_from": "2026-11-01", "valid_until": "2026-12-31"})
                .to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/coupon-codes",
            "/api/v1/coupon-codes".into(),
            json!({"code": "WELCOME-1", "amount": "8.00", "kind": "regular", "valid_from": "2026-11-01", "valid_until": "2026-12-31"})
                .to_string(),
            409,
            Some("already_exists"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/coupon-codes/redeem",
            "/api/v1/accounts/acme/coupon-codes/redeem".into(),
            json!({"code": "WELCOME-1"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/coupon-codes/redeem",
            "/api/v1/accounts/acme/coupon-codes/redeem".into(),
            json!({"code": "WELCOME-1"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/cards",
            "/api/v1/accounts/acme/cards".into(),
            json!({"amount": "100", "valid_from": "2026-11-01", "valid_until": "2026-12-31", "purchase": false}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/cards",
            "/api/v1/accounts/acme/cards".into(),
            json!({"amount": "500", "valid_from": "2026-11-01", "valid_until": "2026-12-31", "purchase": true}).to_string(),
            409,
            Some("insufficient_funds"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/packages",
            "/api/v1/accounts/acme/packages".into(),
            json!({"package": "starter", "start": "2026-11-01"}).to_string(),
            409,
            Some("insufficient_funds"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/packages",
            "/api/v1/accounts/acme/packages".into(),
            json!({"package": "platinum", "start": "2026-11-01"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/packs",
            "/api/v1/accounts/acme/packs".into(),
            json!({"pack": "log_events_5b"}).to_string(),
            409,
            Some("insufficient_funds"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/packs",
            "/api/v1/accounts/acme/packs".into(),
            json!({"pack": "log_events_1t"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/packs/grant",
            "/api/v1/accounts/acme/packs/grant".into(),
            json!({"pack": "log_events_500m", "start": "2026-12-01"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/packs/grant",
            "/api/v1/accounts/acme/packs/grant".into(),
            json!({"pack": "log_events_500m", "start": "2020-01-01"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/packages/upgrade",
            "/api/v1/accounts/acme/packages/upgrade".into(),
            json!({"package": "growth"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "PUT",
            "/api/v1/accounts/{account}/alerts",
            "/api/v1/accounts/acme/alerts".into(),
            json!({"low_balance": "20.00", "high_daily_spend": {"log_events": "1.00"}}).to_string(),
            204,
            None,
        ),
        (
            "PUT",
            "/api/v1/accounts/{account}/alerts",
            "/api/v1/accounts/acme/alerts".into(),
            json!({"high_daily_spend": {"gpu": "1.00"}}).to_string(),
            422,
            Some("invalid_input"),
        ),
        // A record the document does not allow refuses the batch; one the calendar refuses
        // (a day before the account existed) is rejected alone.
        (
            "POST",
            "/api/v1/usage",
            "/api/v1/usage".into(),
            json!({"records": [usage("u1", "2026-11-01T10:00:00+08:00", "3000000"), usage("u2", "2026-11-01T10:00:00+08:00", "-1")]})
                .to_string(),
            400,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/usage",
            "/api/v1/usage".into(),
            json!({"records": [usage("u1", "2026-11-01T10:00:00+08:00", "3000000"), usage("u2", "2020-11-01T10:00:00+08:00", "1")]})
                .to_string(),
            200,
            None,
        ),
        (
            "POST",
            "/api/v1/usage",
            "/api/v1/usage".into(),
            json!({"records": vec![usage("x", "2026-11-01T10:00:00+08:00", "1"); 10_001]}).to_string(),
            413,
            Some("payload_too_large"),
        ),
        (
            "POST",
            "/api/v1/usage/ndjson",
            "/api/v1/usage/ndjson".into(),
            format!(
                "{}\n\n{}\nnot json\n",
                usage("n1", "2026-11-01T11:00:00+08:00", "1000000"),
                usage("u1", "2026-11-01T10:00:00+08:00", "3000000")
            ),
            200,
            None,
        ),
        (
            "POST",
            "/api/v1/webhooks",
            "/api/v1/webhooks".into(),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["invoice.issued"]}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/webhooks",
            "/api/v1/webhooks".into(),
            json!({"url": "ftp://x", "events": ["invoice.issued"]}).to_string(),
            400,
            Some("invalid_input"),
        ),
        ("GET", "/api/v1/webhooks", "/api/v1/webhooks".into(), String::new(), 200, None),
        ("GET", "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/1/deliveries".into(), String::new(), 200, None),
        (
            "GET",
            "/api/v1/webhooks/{id}/deliveries",
            "/api/v1/webhooks/1/deliveries?cursor=bad".into(),
            String::new(),
            400,
            Some("invalid_input"),
        ),
        ("POST", "/api/v1/run", "/api/v1/run".into(), json!({"now": "2026-11-02T00:30:00+08:00"}).to_string(), 200, None),
        ("POST", "/api/v1/run", "/api/v1/run".into(), json!({"now": "soon"}).to_string(), 400, Some("invalid_input")),
        (
            "GET",
            "/api/v1/accounts/{account}/lists/{list}",
            "/api/v1/accounts/acme/lists/expenses?month=2026-11".into(),
            String::new(),
            200,
            None,
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/lists/{list}",
            "/api/v1/accounts/acme/lists/receipts".into(),
            String::new(),
            404,
            Some("not_found"),
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/lists/{list}",
            "/api/v1/accounts/acme/lists/expenses?month=2026-13".into(),
            String::new(),
            400,
            Some("invalid_input"),
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/exports/{list}",
            "/api/v1/accounts/acme/exports/expenses?format=csv".into(),
            String::new(),
            200,
            None,
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/exports/{list}",
            "/api/v1/accounts/acme/exports/expenses?format=pdf".into(),
            String::new(),
            400,
            Some("invalid_input"),
        ),
        // November has lines after the run: its provisional invoice prints.
        (
            "GET",
            "/api/v1/accounts/{account}/invoices/{month}/pdf",
            "/api/v1/accounts/acme/invoices/2026-11/pdf".into(),
            String::new(),
            200,
            None,
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/invoices/{month}/pdf",
            "/api/v1/accounts/acme/invoices/2020-01/pdf".into(),
            String::new(),
            404,
            Some("not_found"),
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/invoices/{month}/pdf",
            "/api/v1/accounts/acme/invoices/2026-13/pdf".into(),
            String::new(),
            400,
            Some("invalid_input"),
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/focus/{month}",
            "/api/v1/accounts/acme/focus/2026-11?format=parquet".into(),
            String::new(),
            200,
            None,
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/focus/{month}",
            "/api/v1/accounts/acme/focus/2026-11?format=xml".into(),
            String::new(),
            400,
            Some("invalid_input"),
        ),
        // A card bought with cash in November is invoiceable once November's invoice is issued
        // (on December 4).
        (
            "POST",
            "/api/v1/accounts/{account}/top-ups",
            "/api/v1/accounts/acme/top-ups".into(),
            json!({"amount": "150.00"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/cards",
            "/api/v1/accounts/acme/cards".into(),
            json!({"amount": "100", "valid_from": "2026-11-01", "valid_until": "2027-10-31", "purchase": true}).to_string(),
            201,
            None,
        ),
        // December 4: November's invoice is issued, its cash invoiceable.
        ("POST", "/api/v1/run", "/api/v1/run".into(), json!({"now": "2026-12-04T00:30:00+08:00"}).to_string(), 200, None),
        (
            "POST",
            "/api/v1/accounts/{account}/tax-invoices",
            "/api/v1/accounts/acme/tax-invoices".into(),
            json!({"amount": "1.00", "title": "Acme Ltd", "tax_id": "91330100MA2AAAAA1X", "email": "tax@acme.example"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/tax-invoices",
            "/api/v1/accounts/acme/tax-invoices".into(),
            json!({"amount": "99999.00", "title": "Acme Ltd", "tax_id": "91330100MA2AAAAA1X", "email": "tax@acme.example"}).to_string(),
            409,
            Some("insufficient_funds"),
        ),
        // A PDF belongs to an issued tax invoice only.
        (
            "PUT",
            "/api/v1/accounts/{account}/tax-invoices/{id}/pdf",
            "/api/v1/accounts/acme/tax-invoices/1/pdf".into(),
            "%PDF-1.4\n%%EOF\n".into(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/tax-invoices/{id}/{decision}",
            "/api/v1/accounts/acme/tax-invoices/1/issue".into(),
            json!({"number": "24332000000000000001"}).to_string(),
            200,
            None,
        ),
        (
            "PUT",
            "/api/v1/accounts/{account}/tax-invoices/{id}/pdf",
            "/api/v1/accounts/acme/tax-invoices/1/pdf".into(),
            "plain text, not a PDF".into(),
            422,
            Some("invalid_input"),
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/tax-invoices/{id}/pdf",
            "/api/v1/accounts/acme/tax-invoices/1/pdf".into(),
            String::new(),
            404,
            Some("not_found"),
        ),
        (
            "PUT",
            "/api/v1/accounts/{account}/tax-invoices/{id}/pdf",
            "/api/v1/accounts/acme/tax-invoices/1/pdf".into(),
            "%PDF-1.4\n%%EOF\n".into(),
            200,
            None,
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/tax-invoices/{id}/pdf",
            "/api/v1/accounts/acme/tax-invoices/1/pdf".into(),
            String::new(),
            200,
            None,
        ),
        (
            "PUT",
            "/api/v1/accounts/{account}/tax-invoices/{id}/pdf",
            "/api/v1/accounts/acme/tax-invoices/7/pdf".into(),
            "%PDF-1.4\n%%EOF\n".into(),
            404,
            Some("not_found"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/tax-invoices/{id}/{decision}",
            "/api/v1/accounts/acme/tax-invoices/1/reject".into(),
            json!({"reason": "already issued"}).to_string(),
            422,
            Some("invalid_input"),
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/tax-invoices/{id}/{decision}",
            "/api/v1/accounts/acme/tax-invoices/7/reverse".into(),
            json!({"reason": "no such request"}).to_string(),
            404,
            Some("not_found"),
        ),
        (
            "GET",
            "/api/v1/accounts/{account}/lists/{list}",
            "/api/v1/accounts/acme/lists/tax-invoices?status=issued".into(),
            String::new(),
            200,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/refunds",
            "/api/v1/accounts/acme/refunds".into(),
            json!({"amount": "1.00", "reason": "goodwill"}).to_string(),
            201,
            None,
        ),
        (
            "POST",
            "/api/v1/accounts/{account}/refunds",
            "/api/v1/accounts/acme/refunds".into(),
            json!({"amount": "100000.00", "reason": "more than the cash"}).to_string(),
            409,
            Some("insufficient_funds"),
        ),
        ("POST", "/api/v1/verify", "/api/v1/verify".into(), String::new(), 200, None),
    ];
    let (_, doc) = server.call("GET", "/api/v1/openapi.json", None, None, None).await;
    let mut wrong = Vec::new();
    for (method, route, path, body, expected, code) in &cases {
        let now = if path.ends_with("/usage") || path.ends_with("/ndjson") { "2026-11-01T12:00:00+08:00" } else { NOW };
        let (status, text) = server.raw(method, path, Some(&op), Some(now), (!body.is_empty()).then(|| body.clone()), &[]).await;
        if status != *expected {
            wrong.push(format!("{method} {path} {body}: {status} (expected {expected}): {text}"));
        }
        // The document lists every status the route answers, and the error code among the
        // codes it names for that status.
        let documented = &doc["paths"][*route][method.to_lowercase()]["responses"][status.to_string()];
        assert!(documented.is_object(), "{method} {route} answers {status}, which its document does not list");
        if let Some(code) = code {
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
            if v["error"]["code"] != *code {
                wrong.push(format!("{method} {path} {body}: code {} (expected {code}): {text}", v["error"]["code"]));
            }
            assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
            let codes = &doc["components"]["schemas"][format!("Error{status}")]["properties"]["error"]["properties"]["code"]["enum"];
            assert!(
                codes.as_array().is_some_and(|c| c.contains(&v["error"]["code"])),
                "{method} {route}: {status} {text} not among {codes}"
            );
        }
        exercised.insert((method.to_string(), route.to_string()));
    }
    assert!(wrong.is_empty(), "answers other than expected:\n{}", wrong.join("\n"));
    let routes: BTreeSet<(String, String)> = route_table(&server).await.into_iter().collect();
    assert_eq!(exercised, routes, "every route of the router has its cases here");

    // What the calls did, checked through the lists.
    let (_, expenses) = server.call("GET", "/api/v1/accounts/acme/lists/expenses", Some(&op), None, None).await;
    assert_eq!(expenses["items"][0]["quantity"], "4000000", "u1 once (the NDJSON repeat was a duplicate) plus n1");
    assert_eq!(expenses["items"][0]["gross"], "4.80");
    let (_, events) = server.call("GET", "/api/v1/accounts/acme/lists/events", Some(&op), None, None).await;
    let kinds: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"spend.high") && kinds.contains(&"daily_bill.settled"), "{kinds:?}");
    assert!(kinds.contains(&"tax_invoice.pdf_attached"), "{kinds:?}");
    // The attached PDF: its bytes back, and its SHA-256 on the request.
    let (status, pdf) = server.raw("GET", "/api/v1/accounts/acme/tax-invoices/1/pdf", Some(&op), None, None, &[]).await;
    assert_eq!((status, pdf.as_str()), (200, "%PDF-1.4\n%%EOF\n"));
    let (_, requests) = server.call("GET", "/api/v1/accounts/acme/lists/tax-invoices", Some(&op), None, None).await;
    let sha = requests["items"][0]["pdf_sha256"].as_str().unwrap_or_default();
    assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{requests}");
    let (status, view) = server.call("PUT", "/api/v1/accounts/acme/tax-invoices/1/pdf", Some(&op), None, Some(pdf)).await;
    assert_eq!((status, view["pdf_sha256"].as_str()), (200, Some(sha)), "{view}");
    let (_, verify) = server.call("POST", "/api/v1/verify", Some(&op), None, None).await;
    assert_eq!(verify["clean"], true);
    let (status, text) = server.raw("GET", "/api/v1/accounts/acme/exports/coupons", Some(&op), None, None, &[]).await;
    assert_eq!(status, 200);
    assert!(text.starts_with('\u{feff}') && text.contains("\r\n") && !text.contains("WELCOME") && text.contains("CPN-2"), "{text}");
    // The same list as a spreadsheet: its own media type, a file name, the same codes.
    let resp = server
        .http
        .get(format!("{}/api/v1/accounts/acme/exports/coupons?format=xlsx", server.base))
        .header("authorization", format!("Bearer {op}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], billcenter_http::XLSX_TYPE);
    assert!(resp.headers()["content-disposition"].to_str().unwrap().contains("acme-coupons.xlsx"));
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut book: calamine::Xlsx<_> = calamine::Reader::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut book, "List").unwrap();
    let codes: Vec<String> = sheet.rows().skip(1).map(|r| r[0].to_string()).collect();
    assert!(codes.contains(&"CPN-2".to_owned()) && !codes.contains(&"WELCOME".to_owned()), "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_replay_and_refuse_other_bodies() {
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    setup(&server).await;
    let op = server.operator.clone();
    let top_up = |amount: &str| json!({"amount": amount}).to_string();
    let key = [("idempotency-key", "pay-7")];
    let first = server.raw("POST", "/api/v1/accounts/acme/top-ups", Some(&op), Some(NOW), Some(top_up("7.00")), &key).await;
    let again = server.raw("POST", "/api/v1/accounts/acme/top-ups", Some(&op), Some(NOW), Some(top_up("7.00")), &key).await;
    assert_eq!(first.0, 201);
    assert_eq!(first, again);
    let other = server.raw("POST", "/api/v1/accounts/acme/top-ups", Some(&op), Some(NOW), Some(top_up("8.00")), &key).await;
    assert_eq!(other.0, 422);
    assert!(other.1.contains("idempotency_conflict"));
    // A refused request is answered the same way again, and stored nothing.
    let bad = [("idempotency-key", "bad-1")];
    let refused = server.raw("POST", "/api/v1/accounts/acme/top-ups", Some(&op), Some(NOW), Some(top_up("0.001")), &bad).await;
    let refused_again = server.raw("POST", "/api/v1/accounts/acme/top-ups", Some(&op), Some(NOW), Some(top_up("0.001")), &bad).await;
    assert_eq!(refused.0, 422);
    assert_eq!(refused, refused_again);
    let (_, account) = server.call("GET", "/api/v1/accounts/acme", Some(&op), None, None).await;
    assert_eq!(account["cash"], "107.00", "100.00 from setup and 7.00 once");
    let (_, list) = server.call("GET", "/api/v1/accounts/acme/lists/transactions?limit=1", Some(&op), Some(NOW), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let cursor = list["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) =
        server.call("GET", &format!("/api/v1/accounts/acme/lists/transactions?limit=1&cursor={cursor}"), Some(&op), Some(NOW), None).await;
    assert_eq!(next["items"][0]["amount"], "7.00");
    assert!(next["next_cursor"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_rejections_keep_the_error_shape() {
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let op = server.operator.clone();
    let (status, body) = server.call("PATCH", "/api/v1/accounts", Some(&op), None, None).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let (status, body) = server.call("GET", "/api/v1/nothing-here", Some(&op), None, None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    // The server answers an oversized body before it has read it all and closes the
    // connection; the client may see the reset before the answer, so a transport error is
    // tried again, each time on a connection of its own.
    let huge = format!("{{\"records\": [\"{}\"]}}", "x".repeat(17 * 1024 * 1024));
    let mut answer = None;
    for _ in 0..10 {
        let client = reqwest::Client::new();
        let sent = client
            .post(format!("{}/api/v1/usage", server.base))
            .header("authorization", format!("Bearer {op}"))
            .body(huge.clone())
            .send()
            .await;
        if let Ok(resp) = sent {
            answer = Some((resp.status().as_u16(), resp.json::<Value>().await.unwrap()));
            break;
        }
    }
    let (status, body) = answer.expect("an answer to the oversized body");
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_ids_and_the_docs_page_is_served() {
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let resp = server.http.get(format!("{}/api/v1/accounts", server.base)).send().await.unwrap();
    assert!(resp.headers().get("x-request-id").is_some_and(|v| !v.is_empty()));
    let docs = server.http.get(format!("{}/api/v1/docs/", server.base)).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));
    let (ok, out) = server.stop();
    assert!(ok);
    assert!(out.contains("stopped"), "{out}");
}

/// The scheduler inside `serve` bills ended days by the real clock without being asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_in_serve_bills_ended_days_by_itself() {
    let server = Server::start(&["--scheduler-interval-secs", "1"]);
    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72)).to_string();
    let (status, _) = server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some(&past), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    server.ok("POST", "/api/v1/accounts", &past, json!({"id": "acme", "name": "Acme", "time_zone": "UTC"})).await;
    let mut billed = Value::Null;
    for _ in 0..100 {
        let (_, account) = server.call("GET", "/api/v1/accounts/acme", Some(&server.operator), None, None).await;
        billed = account["billed_through"].clone();
        if !billed.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Created three days ago: at least the two days that ended more than 30 minutes ago are billed.
    let billed: jiff::civil::Date = billed.as_str().expect("the scheduler billed the account").parse().unwrap();
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    assert!(billed >= today.checked_sub(jiff::ToSpan::days(2)).unwrap(), "billed through {billed}");
    assert!(billed < today);
}
