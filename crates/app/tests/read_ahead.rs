//! The nightly run reads its next batch beside the current one's writes (SQLite). A top-up and
//! late-arriving usage that commit between two batches must still be billed as if they had
//! come before the night began: the read-ahead is thrown away when anything else committed.
//! And an account another transaction holds when its batch comes by is billed by the same run.

use app::App;
use app::lists::ExpenseFilter;
use app::run::RunOptions;
use app::usage::{QuantityText, UsageInput};
use jiff::Timestamp;

const ACCOUNTS: [&str; 3] = ["a1", "a2", "a3"];

fn usage(record_id: &str, workspace: &str, quantity: &str) -> UsageInput {
    UsageInput {
        record_id: record_id.into(),
        workspace: workspace.into(),
        item: "network_hosts".into(),
        timestamp: "2026-10-01T12:00:00+08:00".into(),
        quantity: QuantityText(quantity.into()),
        dimensions: Default::default(),
    }
}

async fn accounts_with_usage(dir: &std::path::Path) -> App {
    let app = App::open(&dir.join("b.db")).await.unwrap();
    let t0: Timestamp = "2026-09-30T02:00:00Z".parse().unwrap();
    app.import_catalog(t0, include_str!("../../../catalog/demo.toml")).await.unwrap();
    for id in ACCOUNTS {
        app.create_account(t0, id, id, "CNY", "Asia/Shanghai").await.unwrap();
        app.create_workspace(t0, id, &format!("{id}-w"), None).await.unwrap();
        app.top_up(t0, id, "1.00", "online").await.unwrap();
        let sent: Timestamp = "2026-10-01T05:00:00Z".parse().unwrap();
        let report = app.ingest(sent, vec![(1, usage(&format!("{id}-r1"), &format!("{id}-w"), "3"))]).await.unwrap();
        assert_eq!(report.accepted, 1, "{:?}", report.rejected);
    }
    app
}

/// What arrives for `a2` on the night: a top-up, and usage of the day being billed.
async fn a2_arrivals(app: &App) {
    let at: Timestamp = "2026-10-01T17:00:00Z".parse().unwrap();
    app.top_up(at, "a2", "5.00", "online").await.unwrap();
    assert_eq!(app.ingest(at, vec![(1, usage("a2-r2", "a2-w", "4"))]).await.unwrap().accepted, 1);
}

/// Each account's cash and its expense lines, as the Billing Center lists them.
async fn outcome(app: &App) -> Vec<(i64, Vec<Vec<export::Cell>>)> {
    let mut seen = Vec::new();
    for id in ACCOUNTS {
        let cash = app.account(id).await.unwrap().row.cash;
        let lines = app.list_expenses(id, &ExpenseFilter::default()).await.unwrap().rows;
        seen.push((cash, lines));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_commits_between_two_batches_is_billed_as_if_it_came_before_the_night() {
    let night: Timestamp = "2026-10-01T17:30:00Z".parse().unwrap();
    let options = RunOptions { batch_accounts: 1, ..RunOptions::default() };

    // Told before the night: the reference.
    let before = tempfile::tempdir().unwrap();
    let app = accounts_with_usage(before.path()).await;
    a2_arrivals(&app).await;
    let report = app.run(night, options, &mut |_, _| {}).await.unwrap();
    assert_eq!(report.accounts_billed, 3);
    let expected = outcome(&app).await;
    app.close().await;

    // Told after the night billed `a1`, while `a2` (the next batch) was being read ahead.
    let during = tempfile::tempdir().unwrap();
    let app = accounts_with_usage(during.path()).await;
    let handle = tokio::runtime::Handle::current();
    let mut told = false;
    let report = app
        .run(night, options, &mut |seen, _| {
            if seen == 1 {
                tokio::task::block_in_place(|| handle.block_on(a2_arrivals(&app)));
                told = true;
            }
        })
        .await
        .unwrap();
    assert!(told);
    assert_eq!(report.accounts_billed, 3);
    let got = outcome(&app).await;
    assert_eq!(got, expected);
    // `a2` paid 7 hosts from 6.00: the top-up and the usage both counted.
    assert_eq!(got[1].1.len(), 1, "one line for a2's one key");
    assert!(app.verify().await.unwrap().is_clean());
    app.close().await;
}

/// On PostgreSQL a batch skips the accounts another transaction holds (`SKIP LOCKED`): the run
/// goes round again while any account is due, so an account locked when its batch came by is
/// still billed by the same run once the lock is let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_locked_when_its_batch_comes_is_billed_by_the_same_run() {
    let url = store::testing::fresh_pg_database().await;
    let app = App::connect(&url, &store::PgSettings::default()).await.unwrap();
    let t0: Timestamp = "2026-09-30T02:00:00Z".parse().unwrap();
    app.import_catalog(t0, include_str!("../../../catalog/demo.toml")).await.unwrap();
    for id in ACCOUNTS {
        app.create_account(t0, id, id, "CNY", "Asia/Shanghai").await.unwrap();
        app.create_workspace(t0, id, &format!("{id}-w"), None).await.unwrap();
    }
    // Another writer holds a2's row (a write transaction reads it FOR UPDATE) while the run starts.
    let other = store::Store::connect(&url, &store::PgSettings::default()).await.unwrap();
    let mut held = other.begin().await.unwrap();
    let locked = held.accounts_after("a1", 1).await.unwrap();
    assert_eq!(locked[0].account_id, "a2");
    let night: Timestamp = "2026-10-02T01:00:00Z".parse().unwrap();
    let run = {
        let app = app.clone();
        tokio::spawn(async move { app.run(night, RunOptions::default(), &mut |_, _| {}).await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    held.commit().await.unwrap();
    let report = run.await.unwrap();
    assert_eq!(report.accounts_billed, ACCOUNTS.len(), "{report:?}");
    assert_eq!(app.pending_accounts(night, jiff::SignedDuration::ZERO).await.unwrap(), 0);
}
