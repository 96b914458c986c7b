//! A catch-up run (many days due per account) holds at most `batch_account_days` account-days
//! a batch, and bills exactly what one batch holding everything bills.

use app::App;
use app::lists::ExpenseFilter;
use app::run::RunOptions;
use app::usage::{QuantityText, UsageInput};
use jiff::Timestamp;

const ACCOUNTS: [&str; 4] = ["a1", "a2", "a3", "a4"];

fn usage(record_id: String, workspace: &str, day: u8, quantity: &str) -> UsageInput {
    UsageInput {
        record_id,
        workspace: workspace.into(),
        item: "log_events".into(),
        timestamp: format!("2026-10-{day:02}T12:00:00+08:00"),
        quantity: QuantityText(quantity.into()),
        dimensions: [("retention_days".to_owned(), "7".to_owned())].into(),
    }
}

/// Four accounts opened on September 30 with usage on October 1 to 5; `a3` was opened on
/// October 4, so the catch-up on October 6 finds 6, 6, 2 and 6 days due.
async fn accounts(dir: &std::path::Path) -> App {
    let app = App::open(&dir.join("b.db")).await.unwrap();
    let t0: Timestamp = "2026-09-30T02:00:00Z".parse().unwrap();
    app.import_catalog(t0, include_str!("../../../catalog/demo.toml")).await.unwrap();
    for (n, id) in ACCOUNTS.into_iter().enumerate() {
        let (opened, first): (Timestamp, u8) = if id == "a3" { ("2026-10-03T17:00:00Z".parse().unwrap(), 4) } else { (t0, 1) };
        app.create_account(opened, id, id, "CNY", "Asia/Shanghai").await.unwrap();
        app.create_workspace(opened, id, &format!("{id}-w"), None).await.unwrap();
        app.top_up(opened, id, "3.00", "online").await.unwrap();
        let records: Vec<_> = (first..=5u8)
            .map(|day| {
                (1, usage(format!("{id}-{day}"), &format!("{id}-w"), day, &format!("{}", 400_000 * (n + 1) + 70_001 * day as usize)))
            })
            .collect();
        let sent: Timestamp = "2026-10-05T05:00:00Z".parse().unwrap();
        let expected = records.len();
        assert_eq!(app.ingest(sent, records).await.unwrap().accepted, expected);
    }
    app
}

/// Each account's cash, expense lines and ledger, as the Billing Center lists them.
async fn outcome(app: &App) -> Vec<(i64, Vec<Vec<export::Cell>>, Vec<Vec<export::Cell>>)> {
    let mut seen = Vec::new();
    for id in ACCOUNTS {
        let cash = app.account(id).await.unwrap().row.cash;
        let lines = app.list_expenses(id, &ExpenseFilter::default()).await.unwrap().rows;
        let filter = app::lists::TransactionFilter { from: Some("2026-09-01".into()), ..Default::default() };
        let ledger = app.list_transactions("2026-10-06T00:00:00Z".parse().unwrap(), id, &filter).await.unwrap().0.rows;
        seen.push((cash, lines, ledger));
    }
    seen
}

/// Runs the catch-up of October 1–5 with a budget of account-days; returns the accounts seen
/// after each batch and the outcome.
async fn catch_up(batch_account_days: usize) -> (Vec<usize>, Vec<(i64, Vec<Vec<export::Cell>>, Vec<Vec<export::Cell>>)>) {
    let dir = tempfile::tempdir().unwrap();
    let app = accounts(dir.path()).await;
    let options = RunOptions { batch_account_days, ..RunOptions::default() };
    let mut batches = Vec::new();
    let report = app.run("2026-10-05T17:30:00Z".parse().unwrap(), options, &mut |seen, _| batches.push(seen)).await.unwrap();
    assert_eq!(report.accounts_billed, 4);
    let seen = outcome(&app).await;
    app.close().await;
    (batches, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_batch_holds_at_most_its_account_days_and_bills_the_same() {
    let (one_batch, expected) = catch_up(RunOptions::default().batch_account_days).await;
    assert_eq!(one_batch, vec![4]);
    assert!(expected.iter().all(|(_, lines, _)| !lines.is_empty()));
    // 12 account-days: a1 and a2 (6 + 6); then a3 and a4 (2 + 6).
    let (batches, seen) = catch_up(12).await;
    assert_eq!(batches, vec![2, 4]);
    assert_eq!(seen, expected);
    // 8: a1 (a2's 6 would pass 8); a2 and a3 (6 + 2); a4.
    let (batches, seen) = catch_up(8).await;
    assert_eq!(batches, vec![1, 3, 4]);
    assert_eq!(seen, expected);
    // An account with more days than the budget still makes a batch by itself.
    let (batches, seen) = catch_up(1).await;
    assert_eq!(batches, vec![1, 2, 3, 4]);
    assert_eq!(seen, expected);
}
