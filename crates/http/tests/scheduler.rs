//! The scheduler bills a day only after it ended plus the delay, keeps its progress in the
//! database (a restart catches up and never repeats), and a lease lets one process at a time
//! run the nightly job.

use std::time::Duration;

use app::App;
use billcenter_http::scheduler::{SchedulerConfig, tick};
use jiff::{SignedDuration, Timestamp};

fn config(holder: &str) -> SchedulerConfig {
    SchedulerConfig {
        interval: Duration::from_secs(60),
        delay: SignedDuration::from_mins(30),
        invoice_day: 3,
        holder: holder.into(),
        lease: SignedDuration::from_mins(15),
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[tokio::test]
async fn bills_after_the_delay_catches_up_and_shares_by_lease() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("s.db")).await.unwrap();
    let t0 = at("2026-10-01T09:00:00+08:00");
    app.import_catalog(t0, include_str!("../../../catalog/demo.toml")).await.unwrap();
    app.create_account(t0, "acme", "Acme", "CNY", "Asia/Shanghai").await.unwrap();

    // 00:20 on 10-02: 10-01 ended twenty minutes ago, within the 30-minute delay.
    let r = tick(&app, &config("a"), at("2026-10-02T00:20:00+08:00")).await.unwrap().unwrap();
    assert_eq!(r.days_billed, 0);
    let r = tick(&app, &config("a"), at("2026-10-02T00:31:00+08:00")).await.unwrap().unwrap();
    assert_eq!(r.days_billed, 1);

    // Another process cannot take the job while "a" holds the lease...
    assert!(tick(&app, &config("b"), at("2026-10-02T00:40:00+08:00")).await.unwrap().is_none());
    // ...and takes over once it has expired, catching up every missed day exactly once.
    let r = tick(&app, &config("b"), at("2026-10-06T00:40:00+08:00")).await.unwrap().unwrap();
    assert_eq!(r.days_billed, 4);
    let r = tick(&app, &config("b"), at("2026-10-06T00:45:00+08:00")).await.unwrap().unwrap();
    assert_eq!(r.days_billed, 0, "nothing is billed twice");
    assert_eq!(app.account("acme").await.unwrap().row.billed_through.unwrap().to_string(), "2026-10-05");

    // A fresh handle on the same file (a restart) sees the same progress.
    app.close().await;
    let app = App::open(&dir.path().join("s.db")).await.unwrap();
    assert!(tick(&app, &config("a"), at("2026-10-06T00:46:00+08:00")).await.unwrap().is_none(), "b still holds the lease");
    app.release_lease("nightly-run", "b").await.unwrap();
    let r = tick(&app, &config("a"), at("2026-10-06T00:47:00+08:00")).await.unwrap().unwrap();
    assert_eq!(r.days_billed, 0);
    assert!(app.verify().await.unwrap().is_clean());
}
