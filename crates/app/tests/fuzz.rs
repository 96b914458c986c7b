//! Fuzzing on stable Rust, driven by proptest: the usage file readers (CSV and NDJSON), the
//! catalog file, money and quantity parsing and the lists' filters get arbitrary bytes and
//! mutations of valid inputs. None may panic, and each keeps its promise: a parsed amount
//! prints back as itself, a quantity is never negative, a filter is answered or refused but
//! never breaks a query. `cargo xtask ci` runs a short pass; a long one is
//! `BILLCENTER_FUZZ_CASES=200000 cargo test --release -p app --test fuzz`. A failing case is
//! kept in `fuzz.proptest-regressions` and run first from then on.

use std::sync::OnceLock;

use app::App;
use app::lists::{ExpenseFilter, InvoiceFilter, TransactionFilter};
use app::usage::read_usage_chunks;
use billing::Currency;
use jiff::Timestamp;
use proptest::prelude::*;

const CATALOG: &str = include_str!("../../../catalog/demo.toml");
const CSV: &str = "record_id,workspace,item,timestamp,quantity,retention_days\n\
                   r1,acme-prod,log_events,2026-11-20T10:00:00+08:00,2000000,7\n\
                   r2,acme-prod,sms,2026-11-20T10:05:00Z,12.5,\n";
const NDJSON: &str = "{\"record_id\":\"n1\",\"workspace\":\"acme-prod\",\"item\":\"sms\",\"timestamp\":\"2026-11-20T10:00:00Z\",\"quantity\":\"3\"}\n\
                      {\"record_id\":\"n2\",\"workspace\":\"acme-prod\",\"item\":\"log_events\",\"timestamp\":\"2026-11-20T10:00:00Z\",\"quantity\":7,\"dimensions\":{\"retention_days\":\"7\"}}\n";

fn config() -> ProptestConfig {
    let cases = std::env::var("BILLCENTER_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Arbitrary bytes, or `valid` with a few bytes replaced, inserted or cut.
fn mutated(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        edits.prop_map(move |edits| {
            let mut bytes = valid.as_bytes().to_vec();
            for (at, byte, how) in edits {
                let i = at.index(bytes.len().max(1)).min(bytes.len());
                match how {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => bytes.push(byte),
                }
            }
            bytes
        }),
    ]
}

/// Text that looks like what a field could hold, and text that does not.
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{1,4}-[0-9]{1,2}(-[0-9]{1,2})?",
        "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,3})?",
        "(cash|coupon|card|CPN-|PC-)[0-9a-z-]{0,20}",
        "[a-z_]{0,20}",
        Just("' OR 1=1 --".to_owned()),
        Just("%00\u{0}".to_owned()),
    ]
}

/// Every record of a usage file becomes one read record or one rejection, in file order.
fn read(bytes: &[u8], ndjson: bool) -> Result<Vec<usize>, app::AppError> {
    let mut positions = Vec::new();
    read_usage_chunks(bytes, ndjson, |(good, bad)| {
        positions.extend(good.iter().map(|p| p.position).chain(bad.iter().map(|r| r.position)));
        // A quantity read is never negative.
        assert!(good.iter().all(|p| p.quantity().is_none_or(|q| q >= 0)));
        true
    })?;
    Ok(positions)
}

/// A file that can be read answers each of its records once, as read or as refused.
fn each_record_answered_once(bytes: &[u8], ndjson: bool) -> Result<(), TestCaseError> {
    if let Ok(mut positions) = read(bytes, ndjson) {
        let n = positions.len();
        positions.sort_unstable();
        positions.dedup();
        prop_assert_eq!(positions.len(), n, "each record is answered once");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn usage_csv_reading_never_panics(bytes in mutated(CSV)) {
        each_record_answered_once(&bytes, false)?;
    }

    #[test]
    fn usage_ndjson_reading_never_panics(bytes in mutated(NDJSON)) {
        each_record_answered_once(&bytes, true)?;
    }

    #[test]
    fn catalog_files_never_panic(bytes in mutated(CATALOG)) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = app::catalog_file::parse(text);
        }
    }

    #[test]
    fn an_amount_parsed_prints_back_as_itself(text in field_text(), jpy in any::<bool>()) {
        let currency = Currency::parse(if jpy { "JPY" } else { "CNY" }).unwrap();
        if let Ok(amount) = currency.parse_amount(&text) {
            prop_assert_eq!(currency.parse_amount(&currency.format(amount)), Ok(amount));
            prop_assert!(!text.contains(['e', 'E', '_', ',']), "{} is not a plain decimal", text);
        }
    }

    #[test]
    fn a_quantity_read_is_never_negative(text in field_text()) {
        let input = app::usage::UsageInput {
            record_id: "r".into(),
            workspace: "w".into(),
            item: "sms".into(),
            timestamp: "2026-11-20T10:00:00Z".into(),
            quantity: app::usage::QuantityText(text),
            dimensions: Default::default(),
        };
        let prepared = app::usage::Prepared::new(0, input);
        if let Some(q) = prepared.quantity() {
            prop_assert!(q >= 0);
        }
    }
}

/// A small store the filter cases read: the demo catalog, one account with a top-up.
fn store() -> &'static (tokio::runtime::Runtime, App, tempfile::TempDir) {
    static STORE: OnceLock<(tokio::runtime::Runtime, App, tempfile::TempDir)> = OnceLock::new();
    STORE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let app = rt.block_on(async {
            let app = App::open(&dir.path().join("fuzz.db")).await.unwrap();
            let t0: Timestamp = "2026-11-01T02:00:00Z".parse().unwrap();
            app.import_catalog(t0, CATALOG).await.unwrap();
            app.create_account(t0, "acme", "Acme", "CNY", "Asia/Shanghai").await.unwrap();
            app.create_workspace(t0, "acme", "acme-prod", None).await.unwrap();
            app.top_up(t0, "acme", "100.00", "online").await.unwrap();
            app
        });
        (rt, app, dir)
    })
}

fn refused_or_answered<T>(r: Result<T, app::AppError>) -> Result<(), TestCaseError> {
    match r {
        Ok(_) | Err(app::AppError::Invalid { .. }) | Err(app::AppError::NotFound { .. }) => Ok(()),
        Err(other) => Err(TestCaseError::fail(format!("a filter broke a query: {other}"))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: config().cases / 4, ..config() })]

    #[test]
    fn list_filters_are_answered_or_refused(a in field_text(), b in field_text(), c in field_text(), d in field_text()) {
        let (rt, app, _) = store();
        let now: Timestamp = "2026-11-20T02:00:00Z".parse().unwrap();
        let some = |s: &String| (!s.is_empty()).then(|| s.clone());
        let expenses = ExpenseFilter { month: some(&a), from: some(&b), to: None, workspace: some(&c), item: some(&d), charge_type: some(&a) };
        refused_or_answered(rt.block_on(app.list_expenses("acme", &expenses)))?;
        let transactions = TransactionFilter { from: some(&a), to: some(&b), kind: some(&c), fund: some(&d) };
        refused_or_answered(rt.block_on(app.list_transactions(now, "acme", &transactions)))?;
        refused_or_answered(rt.block_on(app.list_invoices("acme", &InvoiceFilter { from: some(&b), to: some(&a) })))?;
        refused_or_answered(rt.block_on(app.list_instruments(now, "acme", false, Some(c.as_str()))))?;
        refused_or_answered(rt.block_on(app.list_packs(now, "acme", Some(d.as_str()))))?;
    }
}
