//! Property tests over whole billing stories on a real SQLite file: any sequence of top-ups,
//! coupons, cards, usage and runs keeps every invariant `verify` checks; running the days one
//! at a time equals one run over all of them; a second run changes nothing.

use app::App;
use app::funds::{CardRequest, CouponRequest};
use app::lists::{ExpenseFilter, InvoiceFilter, TransactionFilter};
use app::run::RunOptions;
use app::usage::{QuantityText, UsageInput};
use export::Table;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use proptest::prelude::*;

const CATALOG: &str = include_str!("../../../catalog/demo.toml");
const START: Date = date(2026, 9, 25);
const DAYS: i32 = 45;

#[derive(Debug, Clone)]
enum Op {
    TopUp { minor: i64 },
    Coupon { minor: i64, discount: bool, from: i32, len: i32, sms_only: bool },
    Card { hundreds: i64, from: i32, len: i32, buy: bool },
    Usage { day: i32, hour: i8, item: u8, quantity: i64, workspace: bool },
    Package,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (1..20_000i64).prop_map(|minor| Op::TopUp { minor }),
        1 => (1..5_000i64, any::<bool>(), 0..DAYS, 0..40i32, any::<bool>())
            .prop_map(|(minor, discount, from, len, sms_only)| Op::Coupon { minor, discount, from, len, sms_only }),
        1 => (1..4i64, 0..DAYS, 0..40i32, any::<bool>()).prop_map(|(hundreds, from, len, buy)| Op::Card { hundreds, from, len, buy }),
        4 => (0..DAYS, 0..24i8, 0..6u8, 0..3_000_000i64, any::<bool>())
            .prop_map(|(day, hour, item, quantity, workspace)| Op::Usage { day, hour, item, quantity, workspace }),
        1 => Just(Op::Package),
    ]
}

/// Items with the dimension value each stream uses.
const STREAMS: [(&str, Option<&str>); 6] = [
    ("log_events", Some("30")),
    ("log_events", Some("7")),
    ("sms", None),
    ("time_series", Some("3")),
    ("apm_traces", Some("14")),
    ("task_calls", None),
];

fn tz() -> TimeZone {
    TimeZone::get("Asia/Shanghai").unwrap()
}

fn at(day: Date, hour: i8) -> Timestamp {
    day.at(hour, 0, 0, 0).to_zoned(tz()).unwrap().timestamp()
}

fn day(offset: i32) -> Date {
    START.checked_add(offset.days()).unwrap()
}

async fn setup(dir: &std::path::Path) -> App {
    let app = App::open(&dir.join("billing.db")).await.unwrap();
    let t0 = at(START, 0);
    app.import_catalog(t0, CATALOG).await.unwrap();
    app.create_account(t0, "acme", "Acme", "CNY", "Asia/Shanghai").await.unwrap();
    app.create_workspace(t0, "acme", "a-ws", None).await.unwrap();
    app.create_workspace(t0, "acme", "b-ws", None).await.unwrap();
    app
}

/// Applies one operation at `now`. Refusals (insufficient funds, overlapping package) are
/// legitimate outcomes and store nothing; anything else must succeed.
async fn apply(app: &App, now: Timestamp, n: usize, op: &Op) {
    let result = match op {
        Op::TopUp { minor } => app.top_up(now, "acme", &format!("{}.{:02}", minor / 100, minor % 100), "online").await.map(|_| ()),
        Op::Coupon { minor, discount, from, len, sms_only } => {
            let req = CouponRequest {
                amount: format!("{}.{:02}", minor / 100, minor % 100),
                kind: if *discount { "discount" } else { "regular" }.into(),
                valid_from: day(*from).to_string(),
                valid_until: day(from + len).to_string(),
                items: if *sms_only { vec!["sms".into(), "time_series".into()] } else { vec![] },
            };
            app.issue_coupon(now, "acme", req).await.map(|_| ())
        }
        Op::Card { hundreds, from, len, buy } => {
            let req = CardRequest {
                amount: (hundreds * 100).to_string(),
                valid_from: day(*from).to_string(),
                valid_until: day(from + len).to_string(),
                purchase: *buy,
            };
            app.add_card(now, "acme", req).await.map(|_| ())
        }
        Op::Usage { day: d, hour, item, quantity, workspace } => {
            let input = usage(n, *d, *hour, *item, *quantity, *workspace);
            let report = app.ingest(now, vec![(1, input)]).await.unwrap();
            assert!(report.rejected.iter().all(|r| r.field == "timestamp"), "{:?}", report.rejected);
            Ok(())
        }
        Op::Package => {
            let start = app.account("acme").await.unwrap().today(now);
            app.buy_package(now, "acme", "starter", &start.to_string()).await.map(|_| ())
        }
    };
    match result {
        Ok(()) | Err(app::AppError::InsufficientFunds { .. }) => {}
        Err(app::AppError::Invalid { field, .. }) if field == "start" || field == "valid-until" => {}
        Err(e) => panic!("{op:?}: {e}"),
    }
}

/// Record `n`: a sample of a stream on a workspace at an hour of a day.
fn usage(n: usize, d: i32, hour: i8, stream: u8, quantity: i64, workspace: bool) -> UsageInput {
    let (item, retention) = STREAMS[stream as usize];
    UsageInput {
        record_id: format!("r{n}"),
        workspace: if workspace { "a-ws" } else { "b-ws" }.into(),
        item: item.into(),
        timestamp: at(day(d), hour).to_string(),
        quantity: QuantityText(quantity.to_string()),
        dimensions: retention.map(|r| [("retention_days".to_owned(), r.to_owned())].into()).unwrap_or_default(),
    }
}

/// Every list of the account, without the columns that record when something happened.
async fn snapshot(app: &App, now: Timestamp) -> Vec<Table> {
    let drop_time = |mut t: Table| {
        let keep: Vec<usize> =
            (0..t.columns.len()).filter(|&i| !t.columns[i].starts_with("time") && !t.columns[i].starts_with("issued at")).collect();
        t.columns = keep.iter().map(|&i| t.columns[i].clone()).collect();
        t.rows = t.rows.iter().map(|r| keep.iter().map(|&i| r[i].clone()).collect()).collect();
        t
    };
    let all = TransactionFilter { from: Some("2000-01-01".into()), ..Default::default() };
    let (transactions, summary) = app.list_transactions(now, "acme", &all).await.unwrap();
    vec![
        app.list_expenses("acme", &ExpenseFilter::default()).await.unwrap(),
        drop_time(app.list_invoices("acme", &InvoiceFilter::default()).await.unwrap()),
        drop_time(transactions),
        summary,
        app.list_instruments(now, "acme", false, None).await.unwrap(),
        app.list_instruments(now, "acme", true, None).await.unwrap(),
        app.balances(now, "acme").await.unwrap(),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Operations interleaved with nightly runs, usage arriving late included: `verify` is
    /// clean after every run, and a second run at the same moment changes nothing.
    #[test]
    fn any_story_keeps_every_invariant(ops in prop::collection::vec((0..DAYS + 10, op()), 1..40), runs in prop::collection::vec(0..DAYS + 10, 1..6)) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let app = setup(dir.path()).await;
            // Events in time order: operations at 10:00, runs at 00:30 of their day.
            let mut events: Vec<(Timestamp, Option<(usize, Op)>)> = ops.iter().enumerate().map(|(n, (d, op))| (at(day(*d), 10), Some((n, op.clone())))).collect();
            events.extend(runs.iter().map(|d| (day(*d).at(0, 30, 0, 0).to_zoned(tz()).unwrap().timestamp(), None)));
            events.sort_by_key(|(t, e)| (*t, e.as_ref().map(|(n, _)| *n)));
            for (now, event) in events {
                match event {
                    Some((n, op)) => apply(&app, now, n, &op).await,
                    None => {
                        app.run(now, RunOptions::default(), &mut |_, _| {}).await.unwrap();
                        let report = app.verify().await.unwrap();
                        assert!(report.is_clean(), "{report:#?}");
                        let before = snapshot(&app, now).await;
                        let again = app.run(now, RunOptions::default(), &mut |_, _| {}).await.unwrap();
                        assert_eq!(again.days_billed + again.lines + again.invoices_issued, 0);
                        assert_eq!(snapshot(&app, now).await, before);
                    }
                }
            }
            app.close().await;
        });
    }

    /// A batch's records fold into the day's usage as the same records sent one at a time do,
    /// in any order and with records of one key apart: sums add, peaks win, and a repeated
    /// record counts once.
    #[test]
    fn a_batch_folds_like_single_records(
        samples in prop::collection::vec((0..3i32, 0..24i8, 0..6u8, 0..3_000_000i64, any::<bool>()), 1..60),
        turn in 0..60usize,
    ) {
        runtime().block_on(async {
            let now = at(day(4), 1);
            let single = tempfile::tempdir().unwrap();
            let batched = tempfile::tempdir().unwrap();
            let (a, b) = (setup(single.path()).await, setup(batched.path()).await);
            let inputs: Vec<UsageInput> =
                samples.iter().enumerate().map(|(n, (d, hour, stream, quantity, ws))| usage(n, *d, *hour, *stream, *quantity, *ws)).collect();
            for input in &inputs {
                let report = a.ingest(now, vec![(1, input.clone())]).await.unwrap();
                assert_eq!(report.accepted, 1, "{:?}", report.rejected);
            }
            let mut batch = inputs.clone();
            batch.rotate_left(turn % inputs.len());
            batch.push(batch[0].clone());
            let report = b.ingest(now, batch.into_iter().enumerate().collect()).await.unwrap();
            assert_eq!((report.accepted, report.duplicate, report.rejected.len()), (inputs.len(), 1, 0));
            for app in [&a, &b] {
                app.run(now, RunOptions::default(), &mut |_, _| {}).await.unwrap();
            }
            assert_eq!(snapshot(&a, now).await, snapshot(&b, now).await);
            a.close().await;
            b.close().await;
        });
    }

    /// With all usage known up front, running the nights one at a time gives the same lines,
    /// deductions, ledger, invoices and balances as one run over all of them.
    #[test]
    fn day_by_day_equals_one_run(ops in prop::collection::vec((0..1i32, op()), 1..30)) {
        runtime().block_on(async {
            let end = at(day(DAYS), 1);
            let daily = tempfile::tempdir().unwrap();
            let once = tempfile::tempdir().unwrap();
            let (a, b) = (setup(daily.path()).await, setup(once.path()).await);
            for app in [&a, &b] {
                for (n, (_, op)) in ops.iter().enumerate() {
                    let now = if matches!(op, Op::Usage { .. }) { end } else { at(START, 10) };
                    apply(app, now, n, op).await;
                }
            }
            for d in 1..=DAYS {
                a.run(day(d).at(0, 30, 0, 0).to_zoned(tz()).unwrap().timestamp(), RunOptions::default(), &mut |_, _| {}).await.unwrap();
            }
            a.run(end, RunOptions::default(), &mut |_, _| {}).await.unwrap();
            b.run(end, RunOptions::default(), &mut |_, _| {}).await.unwrap();
            assert!(a.verify().await.unwrap().is_clean());
            assert!(b.verify().await.unwrap().is_clean());
            assert_eq!(snapshot(&a, end).await, snapshot(&b, end).await);
            a.close().await;
            b.close().await;
        });
    }
}
