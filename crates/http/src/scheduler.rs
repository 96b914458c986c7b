//! The scheduler inside `serve`: the nightly run for every account once its billing day has
//! ended plus the configured delay (00:30 by default), invoices, expiries and standings. Its
//! progress lives in the database (each account's `billed_through`), so a restart catches up
//! and never repeats; when several servers share a database, a lease with an expiry lets only
//! one of them run it at a time.

use std::time::Duration;

use app::App;
use app::run::RunOptions;
use jiff::{SignedDuration, Timestamp};

#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// How often to look for work.
    pub interval: Duration,
    /// How long after a billing day ends it is billed.
    pub delay: SignedDuration,
    pub invoice_day: i8,
    /// This process's name in the lease table.
    pub holder: String,
    /// How long a lease lasts without renewal.
    pub lease: SignedDuration,
}

/// Runs the nightly job once if this process holds (or can take) the lease.
pub async fn tick(app: &App, config: &SchedulerConfig, now: Timestamp) -> app::Result<Option<app::run::RunReport>> {
    if !app.acquire_lease(now, "nightly-run", &config.holder, config.lease).await? {
        return Ok(None);
    }
    let options = RunOptions { invoice_day: config.invoice_day, delay: config.delay, ..RunOptions::default() };
    let report = app.run(now, options, &mut |_, _| {}).await?;
    if report.days_billed > 0 {
        tracing::info!(
            accounts = report.accounts_billed,
            days = report.days_billed,
            lines = report.lines,
            invoices = report.invoices_issued,
            "nightly run"
        );
    }
    Ok(Some(report))
}

/// Ticks every `interval` until `shutdown` turns true; a tick in progress finishes first.
pub async fn run(app: App, clock: app::Clock, config: SchedulerConfig, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&app, &config, clock.now()).await {
            tracing::error!(error = %e, "scheduler tick failed; retrying next interval");
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = shutdown.changed() => {
                let _ = app.release_lease("nightly-run", &config.holder).await;
                return;
            }
        }
    }
}
