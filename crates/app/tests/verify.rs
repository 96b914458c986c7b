//! `verify` finds every kind of difference it promises to find: each test breaks one stored
//! fact behind the application's back and expects verify to name it.

use app::App;
use app::funds::{CardRequest, CouponRequest};
use app::run::RunOptions;
use app::usage::{QuantityText, UsageInput};
use jiff::Timestamp;
use sqlx::Connection;

async fn story(dir: &std::path::Path) -> App {
    let app = App::open(&dir.join("b.db")).await.unwrap();
    let t0: Timestamp = "2026-09-30T02:00:00Z".parse().unwrap();
    app.import_catalog(t0, include_str!("../../../catalog/demo.toml")).await.unwrap();
    app.create_account(t0, "acme", "Acme", "CNY", "Asia/Shanghai").await.unwrap();
    app.create_workspace(t0, "acme", "w", None).await.unwrap();
    app.top_up(t0, "acme", "10.00", "online").await.unwrap();
    let coupon = CouponRequest {
        amount: "3.00".into(),
        kind: "regular".into(),
        valid_from: "2026-10-01".into(),
        valid_until: "2026-10-31".into(),
        items: vec![],
    };
    app.issue_coupon(t0, "acme", coupon).await.unwrap();
    let card = CardRequest { amount: "100".into(), valid_from: "2026-10-01".into(), valid_until: "2026-12-31".into(), purchase: false };
    app.add_card(t0, "acme", card).await.unwrap();
    let usage: Vec<(usize, UsageInput)> = (1..=20)
        .map(|d| {
            let input = UsageInput {
                record_id: format!("h{d}"),
                workspace: "w".into(),
                item: "network_hosts".into(),
                timestamp: format!("2026-10-{d:02}T12:00:00+08:00"),
                quantity: QuantityText("3".into()),
                dimensions: Default::default(),
            };
            (d, input)
        })
        .collect();
    let late: Timestamp = "2026-10-21T00:00:00Z".parse().unwrap();
    assert_eq!(app.ingest(late, usage).await.unwrap().accepted, 20);
    app.run("2026-11-05T00:00:00Z".parse().unwrap(), RunOptions::default(), &mut |_, _| {}).await.unwrap();
    app
}

/// Checks that verify finds `app`'s store clean, runs `sql` on it behind the application's back
/// (it must change something), and returns what verify finds then.
async fn tampered(app: &App, dir: &std::path::Path, sql: &str) -> app::verify::VerifyReport {
    let report = app.verify().await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    let url = format!("sqlite://{}", dir.join("b.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let changed = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap().rows_affected();
    assert!(changed > 0, "{sql} changed nothing");
    conn.close().await.unwrap();
    app.verify().await.unwrap()
}

async fn corrupted(sql: &'static str, expected_check: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app = story(dir.path()).await;
    let report = tampered(&app, dir.path(), sql).await;
    assert!(!report.is_clean());
    let failing: Vec<&str> = report.checks.iter().filter(|c| !c.problems.is_empty()).map(|c| c.name).collect();
    assert!(failing.contains(&expected_check), "{sql}: expected `{expected_check}` to fail, got {failing:?}");
    app.close().await;
}

#[tokio::test]
async fn finds_a_cash_balance_that_differs_from_the_ledger() {
    corrupted("UPDATE billing_account SET cash = cash + 1", "fund balances equal the sum of their ledger entries").await;
}

#[tokio::test]
async fn finds_an_unbalanced_transaction() {
    corrupted("UPDATE ledger_entry SET amount = amount + 1 WHERE book = 'revenue' AND tx_no = 6", "ledger transactions sum to zero").await;
}

#[tokio::test]
async fn finds_a_wrong_balance_after() {
    corrupted(
        "UPDATE ledger_entry SET balance_after = balance_after - 1 WHERE book = 'card' AND tx_no = 7",
        "fund balances equal the sum of their ledger entries",
    )
    .await;
}

#[tokio::test]
async fn finds_a_line_not_equal_to_its_deductions() {
    // Line 3 is alone in its group (one line a day): its cash is the line's 15th value.
    corrupted(
        "UPDATE expense_line_group SET lines = json_set(lines, '$[0][14]', (lines ->> '$[0][14]') + 1) WHERE first_line = 3",
        "every expense line equals its deductions plus arrears",
    )
    .await;
}

#[tokio::test]
async fn finds_a_line_number_used_twice() {
    corrupted(
        "UPDATE expense_line_group SET lines = json_set(lines, '$[0][0]', 1) WHERE first_line = 3",
        "no line number is used twice in an account",
    )
    .await;
}

#[tokio::test]
async fn finds_a_negative_instrument() {
    corrupted("UPDATE instrument SET balance = -5 WHERE instrument_id = 1", "no coupon or card below zero or above its face value").await;
}

#[tokio::test]
async fn finds_an_invoice_that_differs_from_its_lines() {
    corrupted("UPDATE invoice SET gross = gross + 1", "every invoice equals the sum of its month's lines").await;
}

#[tokio::test]
async fn finds_a_daily_bill_that_differs_from_its_lines() {
    corrupted("UPDATE daily_bill SET total = total + 100 WHERE billing_day = '2026-10-05'", "every daily bill equals the sum of its lines")
        .await;
}

#[tokio::test]
async fn finds_a_month_total_that_differs_from_its_lines() {
    corrupted(
        // The month's only group (one workspace, one item): its coupon is the 6th value.
        "UPDATE month_total_group SET totals = json_set(totals, '$[0][5]', (totals ->> '$[0][5]') + 1) WHERE month = '2026-10'",
        "every month's running totals equal the sum of its lines",
    )
    .await;
}

#[tokio::test]
async fn finds_lines_without_a_month_total() {
    corrupted("DELETE FROM month_total_group WHERE month = '2026-10'", "every month's running totals equal the sum of its lines").await;
}

#[tokio::test]
async fn finds_an_invoiced_month_whose_lines_changed() {
    // An issued invoice's lines are its month's running totals: a change to them after
    // issuing breaks the invoice, whatever the lines say.
    corrupted(
        "UPDATE month_total_group SET totals = json_set(totals, '$[0][3]', (totals ->> '$[0][3]') + 1, '$[0][7]', (totals ->> '$[0][7]') + 1) \
         WHERE month = '2026-10'",
        "every invoice equals the sum of its month's lines",
    )
    .await;
}

#[tokio::test]
async fn finds_a_day_whose_chart_sum_differs_from_its_lines() {
    corrupted(
        // Line 3's group holds one item: its gross is the pair's second value.
        "UPDATE expense_line_group SET item_gross = json_set(item_gross, '$[0][1]', (item_gross ->> '$[0][1]') + 7) WHERE first_line = 3",
        "every day's gross by item (the spend chart's) equals the sum of its lines",
    )
    .await;
}

/// A pack's remaining volume changed behind the ledger of its draws, a draw removed, and a
/// `resource_pack` line's quantity changed: each is named.
#[tokio::test]
async fn finds_pack_volumes_that_differ_from_their_draws() {
    for (sql, expected) in [
        ("UPDATE resource_pack SET remaining = remaining - 1", "RP-1: volume 10000 less draws 300 is not its remaining 9699.999999"),
        ("DELETE FROM resource_pack_draw", "covered 100 by resource packs, its draws give 0"),
        (
            "UPDATE expense_line_group SET lines = json_set(lines, '$[1][5]', (lines ->> '$[1][5]') + 1) WHERE billing_day = '2026-11-06'",
            "covered 100.000001 by resource packs, its draws give 100",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let app = story(dir.path()).await;
        let t1: Timestamp = "2026-11-01T02:00:00Z".parse().unwrap();
        app.add_pack(t1, "acme", "sms_10k", None, app::packs::PackOrigin::Granted).await.unwrap();
        let sms: Vec<(usize, UsageInput)> = (1..=3)
            .map(|d| {
                let input = UsageInput {
                    record_id: format!("s{d}"),
                    workspace: "w".into(),
                    item: "sms".into(),
                    timestamp: format!("2026-11-{:02}T12:00:00+08:00", d + 4),
                    quantity: QuantityText("100".into()),
                    dimensions: Default::default(),
                };
                (d, input)
            })
            .collect();
        assert_eq!(app.ingest("2026-11-07T20:00:00Z".parse().unwrap(), sms).await.unwrap().accepted, 3);
        app.run("2026-11-08T00:00:00Z".parse().unwrap(), RunOptions::default(), &mut |_, _| {}).await.unwrap();
        let report = tampered(&app, dir.path(), sql).await;
        let check = report.checks.iter().find(|c| c.name.starts_with("every resource pack")).unwrap();
        assert!(check.problems.iter().any(|p| p.contains(expected)), "{sql}: {:?}", check.problems);
        app.close().await;
    }
}

const CHAIN: &str = "every account's ledger is an unbroken hash chain ending at the account's head";

/// What the chain check says of `sql`, and that no other check notices it.
async fn chain_problem(sql: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let app = story(dir.path()).await;
    let report = tampered(&app, dir.path(), sql).await;
    let failing: Vec<&app::verify::Check> = report.checks.iter().filter(|c| !c.problems.is_empty()).collect();
    let chain = failing.iter().find(|c| c.name == CHAIN).unwrap_or_else(|| panic!("{sql}: the chain holds: {report:#?}"));
    assert_eq!(chain.problems.len(), 1, "one problem per account: {:?}", chain.problems);
    app.close().await;
    chain.problems[0].clone()
}

#[tokio::test]
async fn the_hash_chain_names_the_first_ledger_transaction_changed_deleted_or_reordered() {
    // A change no balance shows: another remark, another time.
    let p = chain_problem("UPDATE ledger_tx SET remark = 'nothing to see' WHERE tx_no = 2").await;
    assert!(p.starts_with("acme: ledger transaction 2 ") && p.contains("was changed"), "{p}");
    let p = chain_problem("UPDATE ledger_tx SET posted_at = posted_at + 1 WHERE tx_no = 3").await;
    assert!(p.starts_with("acme: ledger transaction 3 "), "{p}");
    // An entry moved from one fund to another of the same kind.
    let p = chain_problem("UPDATE ledger_entry SET fund_id = fund_id + 100 WHERE tx_no = 2 AND book = 'coupon'").await;
    assert!(p.starts_with("acme: ledger transaction 2 "), "{p}");
    // A transaction deleted from the middle, with its entries.
    let p = chain_problem("DELETE FROM ledger_tx WHERE tx_no = 2; DELETE FROM ledger_entry WHERE tx_no = 2").await;
    assert_eq!(p, "acme: ledger transaction 2 is missing (the next one is 3)");
    // The last one deleted: the chain no longer reaches the account's head.
    let p = chain_problem(
        "DELETE FROM ledger_entry WHERE tx_no = (SELECT MAX(tx_no) FROM ledger_tx); DELETE FROM ledger_tx WHERE tx_no = (SELECT MAX(tx_no) FROM ledger_tx)",
    )
    .await;
    assert!(p.contains("ends before the account's chain head"), "{p}");
    // Two transactions swapped in order.
    let p = chain_problem(
        "UPDATE ledger_tx SET tx_no = -1 WHERE tx_no = 2; UPDATE ledger_tx SET tx_no = 2 WHERE tx_no = 3; UPDATE ledger_tx SET tx_no = 3 WHERE tx_no = -1; \
         UPDATE ledger_entry SET tx_no = -1 WHERE tx_no = 2; UPDATE ledger_entry SET tx_no = 2 WHERE tx_no = 3; UPDATE ledger_entry SET tx_no = 3 WHERE tx_no = -1",
    )
    .await;
    assert!(p.starts_with("acme: ledger transaction 2 ") && p.contains("out of order"), "{p}");
}

/// A tax invoice's PDF changed after it was attached is named by its request.
#[tokio::test]
async fn finds_a_tax_invoice_pdf_changed_after_it_was_attached() {
    let dir = tempfile::tempdir().unwrap();
    let app = story(dir.path()).await;
    // A card bought in November makes November invoiceable once its invoice is issued.
    let t1: Timestamp = "2026-11-10T02:00:00Z".parse().unwrap();
    app.top_up(t1, "acme", "200.00", "online").await.unwrap();
    let card = CardRequest { amount: "100".into(), valid_from: "2026-11-10".into(), valid_until: "2026-12-31".into(), purchase: true };
    app.add_card(t1, "acme", card).await.unwrap();
    let t2: Timestamp = "2026-12-05T00:00:00Z".parse().unwrap();
    app.run(t2, RunOptions::default(), &mut |_, _| {}).await.unwrap();
    let request = app::tax_invoice::TaxInvoiceRequest {
        amount: "100.00".into(),
        title: "Acme Ltd.".into(),
        tax_id: "91330106MA2K8F0J7P".into(),
        email: "tax@acme.example".into(),
        ..Default::default()
    };
    let row = app.request_tax_invoice(t2, "acme", &request).await.unwrap();
    let pdf = b"%PDF-1.4\n% issued by the tax authority\n%%EOF\n".to_vec();
    let issue = app::tax_invoice::Decision::Issue { invoice_no: "24332000000000000001".into(), issued_on: String::new(), pdf: Some(pdf) };
    app.decide_tax_invoice(t2, "acme", row.request_no, &issue).await.unwrap();
    let report = tampered(&app, dir.path(), "UPDATE tax_invoice_pdf SET content = CAST('%PDF-1.4 forged %%EOF' AS BLOB)").await;
    let check = report.checks.iter().find(|c| c.name.starts_with("every tax invoice PDF")).unwrap();
    assert_eq!(check.checked, 1);
    assert!(check.problems.iter().any(|p| p.starts_with("acme tax invoice request 1: its PDF hashes to")), "{:?}", check.problems);
    app.close().await;
}
