//! The hostile input catalogue: bad inputs to the API, the CLI, catalog files and usage files,
//! each with the error code and the field it must be answered with, and the proof that nothing
//! of it was stored (the SQLite store counts every committed write transaction).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::{BIN, CATALOG, Server};

const NOW: &str = "2026-11-20T09:00:00+08:00";

/// Committed write transactions of the store so far.
async fn writes(db: &Path) -> i64 {
    let store = store::Store::open(db).await.unwrap();
    let mut tx = store.read().await.unwrap();
    let n = tx.write_sequence().await.unwrap().expect("a SQLite store counts its writes");
    tx.commit().await.unwrap();
    store.close().await;
    n
}

/// One bad request to the API: what it sends and the answer it must get.
struct Api {
    method: &'static str,
    path: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn api(method: &'static str, path: &str, body: impl Into<Vec<u8>>, status: u16, code: &'static str, field: Option<&'static str>) -> Api {
    Api { method, path: path.to_owned(), body: body.into(), headers: Vec::new(), status, code, field }
}

fn post(path: &str, body: Value, status: u16, code: &'static str, field: &'static str) -> Api {
    api("POST", path, body.to_string(), status, code, Some(field))
}

fn get(path: &str, status: u16, code: &'static str, field: Option<&'static str>) -> Api {
    api("GET", path, Vec::new(), status, code, field)
}

fn record(id: &str, workspace: &str, timestamp: &str, quantity: Value) -> Value {
    json!({"record_id": id, "workspace": workspace, "item": "log_events", "timestamp": timestamp, "quantity": quantity,
           "dimensions": {"retention_days": "7"}})
}

fn api_cases() -> Vec<Api> {
    let top_up = "/api/v1/accounts/acme/top-ups";
    let coupon = |over: Value| {
        let mut b = json!({"amount": "5.00", "kind": "regular", "valid_from": "2026-11-20", "valid_until": "2026-12-31"});
        b.as_object_mut().unwrap().extend(over.as_object().unwrap().clone());
        b
    };
    let tax = |over: Value| {
        let mut b = json!({"amount": "1.00", "title": "Acme Ltd", "tax_id": "91330100MA2AAAAA1X", "email": "tax@acme.example"});
        b.as_object_mut().unwrap().extend(over.as_object().unwrap().clone());
        b
    };
    let usage = |records: Vec<Value>| json!({"records": records});
    let ts = "2026-11-20T09:30:00+08:00";
    let mut nested = String::new();
    for _ in 0..5000 {
        nested.push('[');
    }
    let mut cases = vec![
        // Amounts: plain decimals only, the currency's decimals, in range, more than zero.
        post(top_up, json!({"amount": "1e3"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "1E3"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "1,000.00"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "1_000"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": ".5"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "-5.00"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "+5.00"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": " 5.00"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "NaN"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "0x10"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "99999999999999999999"}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "999999999999999"}), 422, "invalid_input", "amount"),
        post(top_up, json!({"amount": "0"}), 422, "invalid_input", "amount"),
        post(top_up, json!({"amount": "0.00"}), 422, "invalid_input", "amount"),
        post(top_up, json!({"amount": "1.001"}), 422, "invalid_input", "amount"),
        post(top_up, json!({"amount": 100}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": 1.5}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": null}), 400, "invalid_input", "amount"),
        post(top_up, json!({}), 400, "invalid_input", "amount"),
        post(top_up, json!({"amount": "1.00", "extra": 1}), 400, "invalid_input", "extra"),
        post(top_up, json!({"amount": "1.00", "channel": "cheque"}), 400, "invalid_input", "channel"),
        post(top_up, json!({"amount": "1.00", "channel": "online\u{0}"}), 400, "invalid_input", "channel"),
        post(top_up, json!([{"amount": "1.00"}]), 400, "invalid_input", "body"),
        post(top_up, json!(["1.00"]), 400, "invalid_input", "body"),
        api("POST", top_up, "amount=1.00", 400, "malformed_json", None),
        api("POST", top_up, vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], 400, "malformed_json", None),
        api("POST", top_up, nested.clone(), 400, "malformed_json", None),
        api("POST", top_up, "", 400, "malformed_json", None),
        Api {
            headers: vec![("idempotency-key", "a key".into())],
            ..post(top_up, json!({"amount": "1.00"}), 400, "invalid_input", "Idempotency-Key")
        },
        Api {
            headers: vec![("idempotency-key", "k".repeat(256))],
            ..post(top_up, json!({"amount": "1.00"}), 400, "invalid_input", "Idempotency-Key")
        },
        // Paths and filters given SQL, markup and path traversal.
        post("/api/v1/accounts/acme'%20OR%20'1'='1/top-ups", json!({"amount": "1.00"}), 404, "not_found", "body"),
        post("/api/v1/accounts/..%2F..%2Fetc%2Fpasswd/top-ups", json!({"amount": "1.00"}), 404, "not_found", "body"),
        post("/api/v1/accounts/%3Cscript%3E/top-ups", json!({"amount": "1.00"}), 404, "not_found", "body"),
        get("/api/v1/accounts/acme%00/lists/expenses", 404, "not_found", None),
        get("/api/v1/accounts/acme/lists/..%2F..%2Fetc", 404, "not_found", None),
        get("/api/v1/accounts/acme/lists/expenses;DROP%20TABLE%20account", 404, "not_found", None),
        get("/api/v1/accounts/acme/lists/expenses?month=2026-2", 400, "invalid_input", Some("month")),
        get("/api/v1/accounts/acme/lists/expenses?month=2026-11'--", 400, "invalid_input", Some("month")),
        get("/api/v1/accounts/acme/lists/transactions?from=2026-02-30", 400, "invalid_input", Some("from")),
        get("/api/v1/accounts/acme/lists/transactions?from=2027-02-29", 400, "invalid_input", Some("from")),
        get("/api/v1/accounts/acme/lists/transactions?from=2026-11-20&to=2026-11-01", 422, "invalid_input", Some("to")),
        get("/api/v1/accounts/acme/lists/expenses?workspace=%27%20OR%201%3D1", 400, "invalid_input", Some("workspace")),
        get("/api/v1/accounts/acme/lists/expenses?item=%3Cimg%20src%3Dx%3E", 400, "invalid_input", Some("item")),
        get("/api/v1/accounts/acme/lists/coupons?status=%3Cscript%3E", 400, "invalid_input", Some("status")),
        get("/api/v1/accounts/acme/lists/coupons?status=requested", 422, "invalid_input", Some("status")),
        get("/api/v1/accounts/acme/lists/transactions?type=top_up%27", 400, "invalid_input", Some("type")),
        get("/api/v1/accounts/acme/lists/transactions?fund=CPN-x", 400, "invalid_input", Some("fund")),
        get("/api/v1/accounts/acme/lists/transactions?limit=0", 400, "invalid_input", Some("limit")),
        get("/api/v1/accounts/acme/lists/transactions?limit=1001", 400, "invalid_input", Some("limit")),
        get("/api/v1/accounts/acme/lists/transactions?limit=-1", 400, "invalid_input", Some("limit")),
        get("/api/v1/accounts/acme/lists/transactions?limit=1e2", 400, "invalid_input", Some("limit")),
        get("/api/v1/accounts/acme/lists/transactions?cursor=o-1", 400, "invalid_input", Some("cursor")),
        get("/api/v1/accounts/acme/exports/expenses?format=pdf", 400, "invalid_input", Some("format")),
        get("/api/v1/accounts/acme/invoices/2026-13/pdf", 400, "invalid_input", Some("month")),
        get("/api/v1/accounts/acme/invoices/..%2F2026-10/pdf", 400, "invalid_input", Some("month")),
        get("/api/v1/accounts/acme/focus/2026-11?format=xml", 400, "invalid_input", Some("format")),
        get("/api/v1/webhooks/1%20OR%201=1/deliveries", 404, "not_found", None),
        // Accounts.
        post("/api/v1/accounts", json!({"id": "", "name": "x"}), 400, "invalid_input", "id"),
        post("/api/v1/accounts", json!({"id": "a b", "name": "x"}), 400, "invalid_input", "id"),
        post("/api/v1/accounts", json!({"id": "a".repeat(65), "name": "x"}), 400, "invalid_input", "id"),
        post("/api/v1/accounts", json!({"id": "a/../b", "name": "x"}), 400, "invalid_input", "id"),
        post("/api/v1/accounts", json!({"id": "acme", "name": "again"}), 409, "already_exists", "id"),
        post("/api/v1/accounts", json!({"id": "zed", "name": "x", "time_zone": "Mars/Olympus"}), 422, "invalid_input", "time_zone"),
        post("/api/v1/accounts", json!({"id": "zed", "name": "x", "time_zone": "../../etc/localtime"}), 400, "invalid_input", "time_zone"),
        post("/api/v1/accounts", json!({"id": "zed", "name": "x", "currency": "cny"}), 400, "invalid_input", "currency"),
        post("/api/v1/accounts", json!({"id": "zed", "name": "x", "currency": "XXX"}), 422, "invalid_input", "currency"),
        post("/api/v1/accounts", json!({"id": "zed", "name": "a\u{0}b"}), 400, "invalid_input", "name"),
        post("/api/v1/accounts", json!({"id": "zed", "name": "n".repeat(201)}), 400, "invalid_input", "name"),
        post("/api/v1/accounts", json!({"id": "zed", "name": "   "}), 422, "invalid_input", "name"),
        // Coupons, cards, packages, packs.
        post("/api/v1/accounts/acme/coupons", coupon(json!({"valid_from": "2027-02-29"})), 400, "invalid_input", "valid_from"),
        post("/api/v1/accounts/acme/coupons", coupon(json!({"valid_until": "2026-11-01"})), 422, "invalid_input", "valid_until"),
        post("/api/v1/accounts/acme/coupons", coupon(json!({"kind": "gift"})), 400, "invalid_input", "kind"),
        post("/api/v1/accounts/acme/coupons", coupon(json!({"items": ["nope"]})), 422, "invalid_input", "items"),
        post("/api/v1/accounts/acme/coupons", coupon(json!({"amount": "0.001"})), 422, "invalid_input", "amount"),
        post(
            "/api/v1/accounts/acme/cards",
            json!({"amount": "150", "valid_from": "2026-11-20", "valid_until": "2027-11-19", "purchase": false}),
            422,
            "invalid_input",
            "amount",
        ),
        post(
            "/api/v1/accounts/acme/cards",
            json!({"amount": "100", "valid_from": "2026-11-20", "valid_until": "2027-11-19", "purchase": "yes"}),
            400,
            "invalid_input",
            "purchase",
        ),
        post("/api/v1/accounts/acme/packages", json!({"package": "platinum", "start": "2026-12-01"}), 422, "invalid_input", "package"),
        post("/api/v1/accounts/acme/packages", json!({"package": "starter", "start": "2020-01-01"}), 422, "invalid_input", "start"),
        post("/api/v1/accounts/acme/packages", json!({"package": "starter", "start": "2026-13-01"}), 400, "invalid_input", "start"),
        post("/api/v1/accounts/acme/packs", json!({"pack": "nope"}), 422, "invalid_input", "pack"),
        post("/api/v1/accounts/acme/packs", json!({"pack": "log_events_5b"}), 409, "insufficient_funds", "pack"),
        // Tax invoices and refunds.
        post("/api/v1/accounts/acme/tax-invoices", tax(json!({"tax_id": "123"})), 400, "invalid_input", "tax_id"),
        post("/api/v1/accounts/acme/tax-invoices", tax(json!({"email": "no-at"})), 400, "invalid_input", "email"),
        post("/api/v1/accounts/acme/tax-invoices", tax(json!({"kind": "vat"})), 400, "invalid_input", "kind"),
        post("/api/v1/accounts/acme/tax-invoices", tax(json!({"months": ["2026-13"]})), 400, "invalid_input", "months[0]"),
        post("/api/v1/accounts/acme/tax-invoices", tax(json!({"amount": "9999.00"})), 409, "insufficient_funds", "amount"),
        // A tax invoice's PDF: a PDF file within 4 MiB, for a request that exists.
        api("PUT", "/api/v1/accounts/acme/tax-invoices/1/pdf", "", 400, "invalid_input", Some("pdf")),
        api("PUT", "/api/v1/accounts/acme/tax-invoices/1/pdf", "not a PDF", 422, "invalid_input", Some("pdf")),
        api("PUT", "/api/v1/accounts/acme/tax-invoices/1/pdf", b"%PDF-1.7\n no end marker".to_vec(), 422, "invalid_input", Some("pdf")),
        api(
            "PUT",
            "/api/v1/accounts/acme/tax-invoices/1/pdf",
            [b"%PDF-1.7\n".as_slice(), &vec![b'0'; 4 * 1024 * 1024], b"\n%%EOF"].concat(),
            422,
            "invalid_input",
            Some("pdf"),
        ),
        api("PUT", "/api/v1/accounts/acme/tax-invoices/1/pdf", "%PDF-1.7\n%%EOF", 404, "not_found", None),
        api("PUT", "/api/v1/accounts/acme/tax-invoices/0/pdf", "%PDF-1.7\n%%EOF", 404, "not_found", None),
        api("PUT", "/api/v1/accounts/acme/tax-invoices/..%2F1/pdf", "%PDF-1.7\n%%EOF", 404, "not_found", None),
        get("/api/v1/accounts/acme/tax-invoices/1/pdf", 404, "not_found", None),
        post(
            "/api/v1/accounts/acme/refunds",
            json!({"amount": "99999.00", "reason": "more than the cash"}),
            409,
            "insufficient_funds",
            "amount",
        ),
        post("/api/v1/accounts/acme/refunds", json!({"amount": "1.00", "reason": ""}), 422, "invalid_input", "reason"),
        // Webhooks and alerts.
        post("/api/v1/webhooks", json!({"url": "javascript:alert(1)", "events": ["invoice.issued"]}), 400, "invalid_input", "url"),
        post("/api/v1/webhooks", json!({"url": "https://x.example/h", "events": ["nope"]}), 400, "invalid_input", "events[0]"),
        api("PUT", "/api/v1/accounts/acme/alerts", json!({"low_balance": "abc"}).to_string(), 400, "invalid_input", Some("low_balance")),
        api(
            "PUT",
            "/api/v1/accounts/acme/alerts",
            json!({"high_daily_spend": {"nope": "1.00"}}).to_string(),
            422,
            "invalid_input",
            Some("high_daily_spend.nope"),
        ),
        // Catalogs.
        api("POST", "/api/v1/catalog", "", 400, "invalid_input", Some("body")),
        api("POST", "/api/v1/catalog", "currency = 1", 422, "invalid_input", Some("catalog")),
        api("POST", "/api/v1/catalog", vec![0xff, 0xfe, 0x00], 400, "invalid_input", Some("body")),
        // Usage batches: a record the document does not allow refuses the batch.
        post("/api/v1/usage", usage(vec![record("h1", "acme-ws", ts, json!("1e3"))]), 400, "invalid_input", "records[0].quantity"),
        post("/api/v1/usage", usage(vec![record("h1", "acme-ws", ts, json!(-1))]), 400, "invalid_input", "records[0].quantity"),
        post("/api/v1/usage", usage(vec![record("h1", "acme-ws", ts, json!(0.5))]), 400, "invalid_input", "records[0].quantity"),
        post(
            "/api/v1/usage",
            usage(vec![record("h1", "acme-ws", "2026-11-20 08:00", json!("1"))]),
            400,
            "invalid_input",
            "records[0].timestamp",
        ),
        post(
            "/api/v1/usage",
            usage(vec![record("h1", "acme-ws", "2026-03-08T02:30:00", json!("1"))]),
            400,
            "invalid_input",
            "records[0].timestamp",
        ),
        post(
            "/api/v1/usage",
            usage(vec![record(&"r".repeat(129), "acme-ws", ts, json!("1"))]),
            400,
            "invalid_input",
            "records[0].record_id",
        ),
        post("/api/v1/usage", usage(vec![record("h\u{0}1", "acme-ws", ts, json!("1"))]), 400, "invalid_input", "records[0].record_id"),
        post("/api/v1/usage", usage(vec![json!(["h1", "acme-ws"])]), 400, "invalid_input", "records[0]"),
        post(
            "/api/v1/usage",
            usage(vec![record("h1", "=cmd|' /C calc'!A0", ts, json!("1"))]),
            400,
            "invalid_input",
            "records[0].workspace",
        ),
        post(
            "/api/v1/usage",
            usage(vec![record("h1", "acme-ws", "9999-12-31T23:59:59Z", json!("1"))]),
            400,
            "invalid_input",
            "records[0].timestamp",
        ),
        post("/api/v1/usage", usage(vec![record("h1", "acme-ws", ts, json!("1.1234567"))]), 400, "invalid_input", "records[0].quantity"),
        post(
            "/api/v1/usage",
            usage(vec![record("h1", "acme-ws", ts, json!(9_007_199_254_740_992u64))]),
            400,
            "invalid_input",
            "records[0].quantity",
        ),
        post("/api/v1/usage", usage(vec![json!({"record_id": "h1"})]), 400, "invalid_input", "records[0].workspace"),
        post("/api/v1/usage", json!({"records": vec![record("x", "acme-ws", ts, json!("1")); 10_001]}), 413, "payload_too_large", "body"),
        api("POST", "/api/v1/usage/ndjson", "", 400, "invalid_input", Some("body")),
        api("POST", "/api/v1/usage/ndjson", "\n \n", 422, "invalid_input", Some("body")),
    ];
    // 413 and NDJSON answers name no field.
    for c in &mut cases {
        if c.code == "payload_too_large" || c.code == "not_found" {
            c.field = None;
        }
    }
    cases
}

/// Bad records the document allows, refused one by one (200 with each in `rejected`).
fn rejected_records() -> Vec<(Value, &'static str)> {
    let ts = "2026-11-20T09:30:00+08:00";
    vec![
        (record("h2", "nope", ts, json!("1")), "workspace"),
        (record("h5", "acme-ws", "1900-01-01T00:00:00Z", json!("1")), "timestamp"),
        (record("h6", "acme-ws", "2026-12-20T08:00:00+08:00", json!("1")), "timestamp"),
        (record("known", "acme-ws", ts, json!("2")), "record_id"),
        (record("h7", "acme-ws", "9999-12-30T00:00:00Z", json!("1")), "timestamp"),
        (json!({"record_id": "h8", "workspace": "acme-ws", "item": "nope", "timestamp": ts, "quantity": "1"}), "item"),
        (
            json!({"record_id": "h9", "workspace": "acme-ws", "item": "log_events", "timestamp": ts, "quantity": "1", "dimensions": {"retention_days": "9999"}}),
            "dimensions",
        ),
    ]
}

/// Bad CLI invocations: the arguments and the field of the error.
fn cli_cases(dir: &Path) -> Vec<(Vec<String>, &'static str)> {
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_string_lossy().into_owned()
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let header = "record_id,workspace,item,timestamp,quantity\n";
    vec![
        (s(&["topup", "--account", "acme", "--amount", "1e3"]), "amount"),
        (s(&["topup", "--account", "acme", "--amount", "1.001"]), "amount"),
        (s(&["topup", "--account", "acme", "--amount=-1"]), "amount"),
        (s(&["topup", "--account", "acme", "--amount", "1.00", "--channel", "cheque"]), "channel"),
        (s(&["topup", "--account", "acme", "--amount", "1.00", "--channel", "online\u{202e}"]), "channel"),
        (s(&["account", "create", "--id", "a b", "--name", "x"]), "id"),
        (s(&["account", "create", "--id", "zed", "--name", "x", "--tz", "Mars/Olympus"]), "time_zone"),
        (
            s(&[
                "coupon",
                "issue",
                "--account",
                "acme",
                "--amount",
                "1.00",
                "--kind",
                "regular",
                "--valid-from",
                "2027-02-29",
                "--valid-until",
                "2027-03-31",
            ]),
            "valid_from",
        ),
        (
            s(&["card", "grant", "--account", "acme", "--amount", "150", "--valid-from", "2026-11-20", "--valid-until", "2027-11-19"]),
            "amount",
        ),
        (s(&["package", "buy", "--account", "acme", "--package", "platinum", "--start", "2026-12-01"]), "package"),
        (s(&["refund", "--account", "acme", "--amount", "99999.00", "--reason", "x"]), "amount"),
        (s(&["catalog", "import", &file("c1.toml", b"currency = 1\n")]), "catalog"),
        (s(&["catalog", "import", &file("c2.toml", b"\xff\xfe not text")]), "file"),
        (s(&["catalog", "import", &file("c3.toml", CATALOG.replacen("price = \"", "price = \"-", 1).as_bytes())]), "catalog"),
        (s(&["catalog", "import", &dir.join("missing.toml").to_string_lossy()]), "file"),
        (s(&["usage", "import", &file("u1.csv", b"id,ws,item,ts,q\nr,acme-ws,sms,2026-11-20T01:30:00Z,1\n")]), "file"),
        (
            s(&["usage", "import", &file("u2.csv", format!("{header}\"r\nx\",acme-ws,sms,2026-11-20T01:30:00Z,1\n").as_bytes())]),
            "record_id",
        ),
        (
            s(&["usage", "import", &file("u3.csv", format!("{header}=1+1,=cmd|' /C calc'!A0,sms,2026-11-20T01:30:00Z,1\n").as_bytes())]),
            "workspace",
        ),
        (s(&["usage", "import", &file("u4.csv", format!("{header}r,acme-ws,sms,2026-11-20T01:30:00Z,1e3\n").as_bytes())]), "quantity"),
        (s(&["usage", "import", &file("u5.ndjson", b"{\"record_id\": \"r\", \"workspace\": [1]}\n")]), "record"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_with_its_code_and_field_and_nothing_is_stored() {
    let server = Server::start(&["--scheduler-interval-secs", "0"]);
    let db = server.db();
    let (status, _) = server.raw("POST", "/api/v1/catalog", Some(&server.operator), Some(NOW), Some(CATALOG.into()), &[]).await;
    assert_eq!(status, 200);
    server.ok("POST", "/api/v1/accounts", NOW, json!({"id": "acme", "name": "Acme"})).await;
    server.ok("POST", "/api/v1/accounts/acme/workspaces", NOW, json!({"id": "acme-ws"})).await;
    server.ok("POST", "/api/v1/accounts/acme/top-ups", NOW, json!({"amount": "100.00"})).await;
    let known = json!({"records": [record("known", "acme-ws", "2026-11-20T09:30:00+08:00", json!("1"))]});
    assert_eq!(server.ok("POST", "/api/v1/usage", NOW, known).await["accepted"], 1);

    let mut tried = 0;
    let mut wrong = Vec::new();
    for c in api_cases() {
        let before = writes(&db).await;
        let mut req = server.http.request(c.method.parse().unwrap(), format!("{}{}", server.base, c.path));
        req = req.header("authorization", format!("Bearer {}", server.operator)).header("billcenter-now", NOW);
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        let r = req.body(c.body.clone()).send().await.unwrap();
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        let got = (status, answer["error"]["code"].as_str().unwrap_or(""), answer["error"]["field"].as_str());
        let shown = String::from_utf8_lossy(&c.body).chars().take(120).collect::<String>();
        if got != (c.status, c.code, c.field) {
            wrong.push(format!("{} {} {shown}: got {got:?}, expected {:?} ({answer})", c.method, c.path, (c.status, c.code, c.field)));
        }
        if writes(&db).await != before {
            wrong.push(format!("{} {} {shown}: something was stored", c.method, c.path));
        }
        tried += 1;
    }
    for (r, field) in rejected_records() {
        let before = writes(&db).await;
        let (status, answer) =
            server.call("POST", "/api/v1/usage", Some(&server.operator), Some(NOW), Some(json!({"records": [r]}).to_string())).await;
        let got = (status, answer["accepted"].as_u64(), answer["rejected"][0]["field"].as_str());
        if got != (200, Some(0), Some(field)) {
            wrong.push(format!("usage record {r}: got {got:?} ({answer}), expected it rejected under {field}"));
        }
        if writes(&db).await != before {
            wrong.push(format!("usage record {r}: something was stored"));
        }
        tried += 1;
    }
    let files = tempfile::tempdir().unwrap();
    for (args, field) in cli_cases(files.path()) {
        let before = writes(&db).await;
        let out = Command::new(BIN).arg("--db").arg(&db).args(["--now", NOW, "--json"]).args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // A refused command exits non-zero with the error; an import reports its refused records.
        let got_field = answer["error"]["field"].as_str().or(answer["rejected"][0]["field"].as_str());
        let refused = !out.status.success() || answer["accepted"] == 0;
        if got_field != Some(field) || !refused {
            wrong.push(format!(
                "billcenter {args:?}: exit {:?}, {text} {} (expected field {field})",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if writes(&db).await != before {
            wrong.push(format!("billcenter {args:?}: something was stored"));
        }
        tried += 1;
    }
    assert!(wrong.is_empty(), "{} of {tried} bad inputs were not refused as they should be:\n{}", wrong.len(), wrong.join("\n"));
    assert!(tried >= 120, "{tried} bad inputs tried");
    let verify = server.cli(&["verify"]);
    assert!(verify.ends_with("verify: clean\n"), "{verify}");
}
