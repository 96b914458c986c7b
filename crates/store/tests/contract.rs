//! The store contract: the same tests, unchanged, against the SQLite file and PostgreSQL.

use jiff::Timestamp;
use jiff::civil::{Date, date};
use store::{AccountRow, Counters, Idempotency, RecordClaim, Store, StoreError, UsageDailyRow, WorkspaceRow};

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(&dir.path().join("c.db")).await.unwrap(), dir)
}

async fn postgres() -> (Store, tempfile::TempDir) {
    let url = store::testing::fresh_pg_database().await;
    (Store::connect(&url, &store::PgSettings::default()).await.unwrap(), tempfile::tempdir().unwrap())
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn account(id: &str) -> AccountRow {
    AccountRow {
        account_id: id.into(),
        name: format!("{id} Ltd"),
        currency: "CNY".into(),
        time_zone: "Asia/Shanghai".into(),
        created_at: t("2026-10-01T01:00:00Z"),
        first_day: date(2026, 10, 1),
        billed_through: None,
        cash: 0,
        state: "active".into(),
        overdue_since: None,
        counters: Counters::START,
        ledger_head: String::new(),
    }
}

fn daily(account: &str, quantity: i64, late: bool) -> UsageDailyRow {
    UsageDailyRow {
        account_id: account.into(),
        billing_day: date(2026, 10, 2),
        workspace_id: "w".into(),
        item: "sms".into(),
        dims: String::new(),
        quantity,
        late,
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $name() { let (store, _dir) = super::sqlite().await; super::$name(store).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $name() { let (store, _dir) = super::postgres().await; super::$name(store).await; })*
        }
    };
}

contract!(
    accounts_round_trip_and_batch_updates,
    duplicates_are_named,
    uncommitted_work_is_gone,
    daily_usage_merges_sums_maxima_and_late,
    idempotency_states,
    leases_expire,
    sums_are_integers,
    batch_reads_keep_to_their_range,
    instruments_update_in_bulk,
    lines_round_trip_through_their_groups,
    usage_keys_come_in_byte_order,
    pages_of_lines_and_their_sums
);

/// The day's usage keys come in the byte order of their texts, the order rating takes them
/// in, also from a PostgreSQL database whose text sorts by language.
async fn usage_keys_come_in_byte_order(store: Store) {
    let keys = [("w1", "sms", ""), ("W2", "sms", ""), ("w-3", "log_events", "retention_days=7"), ("w_4", "sms", "")];
    let mut keys: Vec<(String, String, String)> = keys.iter().map(|&(w, i, d)| (w.into(), i.into(), d.into())).collect();
    keys.extend(["Log_events", "log_events", "log-events", "sms"].map(|i| ("w1".to_owned(), i.to_owned(), String::new())));
    keys.extend(
        ["retention_days=30", "retention_days=7", "Retention_days=7"].map(|d| ("W2".to_owned(), "log_events".to_owned(), d.to_owned())),
    );
    keys.sort();
    keys.dedup();
    let rows: Vec<UsageDailyRow> = keys
        .iter()
        .rev()
        .map(|(w, i, d)| UsageDailyRow { workspace_id: w.clone(), item: i.clone(), dims: d.clone(), ..daily("a", 1, false) })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.merge_usage_daily(&rows, false).await.unwrap();
    let read: Vec<(String, String, String)> = tx
        .usage_daily_between(&["a"], None, date(2026, 10, 31))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.workspace_id, r.item, r.dims))
        .collect();
    assert_eq!(read, keys);
    let late: Vec<UsageDailyRow> = rows.iter().map(|r| UsageDailyRow { late: true, ..r.clone() }).collect();
    tx.merge_usage_daily(&late, false).await.unwrap();
    let read: Vec<(String, String, String)> =
        tx.late_usage("a", "a").await.unwrap().into_iter().map(|r| (r.workspace_id, r.item, r.dims)).collect();
    assert_eq!(read, keys);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn usage_keys_come_in_byte_order_from_a_database_sorting_by_language() {
    let url = store::testing::fresh_pg_database_sorting_by_language().await;
    usage_keys_come_in_byte_order(Store::connect(&url, &store::PgSettings::default()).await.unwrap()).await;
}

async fn accounts_round_trip_and_batch_updates(store: Store) {
    let mut tx = store.begin().await.unwrap();
    for id in ["a1", "a2", "a3"] {
        tx.insert_account(&account(id)).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let mut rows = tx.accounts_after("a1", 10).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.account_id.as_str()).collect::<Vec<_>>(), ["a2", "a3"]);
    for r in &mut rows {
        r.cash = -1234;
        r.billed_through = Some(date(2026, 10, 5));
        r.state = "overdue".into();
        r.counters.next_line = 42;
    }
    // Every column written back: a day and none, each counter its own value.
    rows[0].overdue_since = Some(date(2026, 10, 3));
    let c = &mut rows[0].counters;
    (c.next_tx, c.next_instrument, c.next_invoice, c.next_event, c.next_package) = (7, 8, 9, 10, 11);
    tx.update_accounts(&rows).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let a2 = tx.account("a2").await.unwrap().unwrap();
    assert_eq!((a2.cash, a2.billed_through, a2.state.as_str(), a2.counters.next_line), (-1234, Some(date(2026, 10, 5)), "overdue", 42));
    assert_eq!(a2, rows[0]);
    assert_eq!(tx.account("a3").await.unwrap().unwrap().overdue_since, None);
    assert_eq!(tx.account("a1").await.unwrap().unwrap(), account("a1"));
    assert!(tx.account("zz").await.unwrap().is_none());
    let some = tx.accounts(&["a3", "zz", "a1", "a3"]).await.unwrap();
    assert_eq!(some.iter().map(|r| r.account_id.as_str()).collect::<Vec<_>>(), ["a1", "a3"], "those that exist, once, in id order");
    assert_eq!(some[1], rows[1]);
    assert_eq!(tx.max_billed_through().await.unwrap(), Some(date(2026, 10, 5)));
    tx.commit().await.unwrap();
}

async fn duplicates_are_named(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&account("a1")).await.unwrap();
    let w = WorkspaceRow { workspace_id: "w".into(), account_id: "a1".into(), name: "w".into(), created_at: t("2026-10-01T00:00:00Z") };
    tx.insert_workspace(&w).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(tx.insert_account(&account("a1")).await, Err(StoreError::Duplicate { what: "billing account", .. })));
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(tx.insert_workspace(&w).await, Err(StoreError::Duplicate { what: "workspace", .. })));
    drop(tx);
    // Bulk writes name a duplicate too, and leave the connection fit for the next transaction.
    let bill = |day: Date| store::DailyBillRow {
        account_id: "a1".into(),
        billing_day: day,
        settled_at: t("2026-10-03T00:00:00Z"),
        line_count: 0,
        total: 0,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_daily_bills(&[bill(date(2026, 10, 2))]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    match tx.insert_daily_bills(&[bill(date(2026, 10, 1)), bill(date(2026, 10, 2))]).await {
        Err(StoreError::Duplicate { what: "daily bill", key }) => assert!(key.contains("a1/2026-10-02"), "{key}"),
        other => panic!("expected a duplicate daily bill, got {other:?}"),
    }
    drop(tx);
    // Among many rows too (on SQLite they go in groups to a statement).
    let many: Vec<store::DailyBillRow> = (0..200).map(|k| bill(date(2026, 8, 1) + jiff::Span::new().days(k))).collect();
    let mut tx = store.begin().await.unwrap();
    match tx.insert_daily_bills(&many).await {
        Err(StoreError::Duplicate { what: "daily bill", key }) => assert!(key.contains("a1/2026-10-02"), "{key}"),
        other => panic!("expected a duplicate daily bill, got {other:?}"),
    }
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    tx.insert_daily_bills(&[bill(date(2026, 10, 3))]).await.unwrap();
    let new: Vec<store::DailyBillRow> = (0..150).map(|k| bill(date(2027, 1, 1) + jiff::Span::new().days(k))).collect();
    tx.insert_daily_bills(&new).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.mismatched_daily_bills().await.unwrap(), (152, vec![]), "the first and the later bills, not the failed writes'");
    tx.commit().await.unwrap();
}

async fn uncommitted_work_is_gone(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&account("a1")).await.unwrap();
    drop(tx);
    let mut tx = store.read().await.unwrap();
    assert!(tx.account("a1").await.unwrap().is_none());
}

async fn daily_usage_merges_sums_maxima_and_late(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.merge_usage_daily(&[daily("a", 5, false)], false).await.unwrap();
    tx.merge_usage_daily(&[daily("a", 7, false)], false).await.unwrap();
    tx.merge_usage_daily(&[daily("m", 5, false)], true).await.unwrap();
    tx.merge_usage_daily(&[daily("m", 3, true)], true).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let rows = tx.usage_daily_between(&["m", "a", "z"], None, date(2026, 10, 31)).await.unwrap();
    assert_eq!(rows.iter().map(|r| (r.account_id.as_str(), r.quantity, r.late)).collect::<Vec<_>>(), [("a", 12, false), ("m", 5, false)]);
    // A late sample below the peak changes nothing; above it, it marks the key late.
    tx.merge_usage_daily(&[daily("m", 9, true)], true).await.unwrap();
    tx.merge_usage_daily(&[daily("a", 1, true)], false).await.unwrap();
    let late = tx.late_usage("a", "m").await.unwrap();
    assert_eq!(late.iter().map(|r| (r.account_id.as_str(), r.quantity)).collect::<Vec<_>>(), [("a", 13), ("m", 9)]);
    tx.clear_late("a", date(2026, 10, 2)).await.unwrap();
    assert_eq!(tx.late_usage("a", "m").await.unwrap().len(), 1);
    // Record ids: a new id is stored with its fingerprint; a stored one answers its own.
    let claim = |account_id, record_id, fingerprint| RecordClaim { account_id, record_id, fingerprint };
    assert_eq!(tx.claim_record_ids(&[claim("a", "r1", 7), claim("a", "r2", 8)]).await.unwrap(), [None, None]);
    assert_eq!(
        tx.claim_record_ids(&[claim("a", "r2", 9), claim("a", "r3", 1), claim("b", "r1", 5), claim("a", "r1", 7)]).await.unwrap(),
        [Some(8), None, None, Some(7)],
        "ids are per account; the answer keeps the order given"
    );
    // Past one statement's rows (PostgreSQL writes them in chunks): every other id is stored.
    let ids: Vec<String> = (0..2500).map(|i| format!("bulk-{i}")).collect();
    let odd: Vec<RecordClaim> = ids.iter().enumerate().filter(|(i, _)| i % 2 == 1).map(|(i, id)| claim("a", id, i as i64)).collect();
    assert!(tx.claim_record_ids(&odd).await.unwrap().iter().all(Option::is_none));
    let all: Vec<RecordClaim> = ids.iter().enumerate().map(|(i, id)| claim("a", id, 100_000 + i as i64)).collect();
    let answer = tx.claim_record_ids(&all).await.unwrap();
    assert_eq!(answer, (0..2500).map(|i| (i % 2 == 1).then_some(i as i64)).collect::<Vec<_>>());
    // New ids go in whole groups on SQLite: a stored id among them, and a short group at the
    // end, are answered one by one, and every new id is stored exactly once.
    let ids: Vec<String> = (0..1000).map(|i| format!("mixed-{i}")).collect();
    let stored = [70, 71, 500, 999];
    let earlier: Vec<RecordClaim> = stored.iter().map(|&i| claim("b", &ids[i], 1 + i as i64)).collect();
    assert!(tx.claim_record_ids(&earlier).await.unwrap().iter().all(Option::is_none));
    let all: Vec<RecordClaim> = ids.iter().enumerate().map(|(i, id)| claim("b", id, 5_000 + i as i64)).collect();
    let answer = tx.claim_record_ids(&all).await.unwrap();
    assert_eq!(answer, (0..1000).map(|i| stored.contains(&i).then_some(1 + i as i64)).collect::<Vec<_>>());
    let again = tx.claim_record_ids(&all).await.unwrap();
    let kept = |i: usize| if stored.contains(&i) { 1 + i as i64 } else { 5_000 + i as i64 };
    assert_eq!(again, (0..1000).map(|i| Some(kept(i))).collect::<Vec<_>>());
    tx.commit().await.unwrap();
}

async fn idempotency_states(store: Store) {
    let at = t("2026-10-01T00:00:00Z");
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.idempotency_begin("k1", "pay", "h1", at).await.unwrap(), Idempotency::New);
    assert_eq!(tx.idempotency_begin("k1", "pay", "h1", at).await.unwrap(), Idempotency::InProgress);
    assert_eq!(tx.idempotency_begin("k1", "pay", "h2", at).await.unwrap(), Idempotency::Mismatch);
    tx.idempotency_finish("k1", "pay", 201, "{}").await.unwrap();
    assert_eq!(tx.idempotency_begin("k1", "pay", "h1", at).await.unwrap(), Idempotency::Replay { status: 201, response: "{}".into() });
    assert_eq!(tx.idempotency_begin("k2", "pay", "h9", at).await.unwrap(), Idempotency::New, "keys are per caller");
    tx.commit().await.unwrap();
}

async fn leases_expire(store: Store) {
    let mut tx = store.begin().await.unwrap();
    assert!(tx.acquire_lease("job", "a", t("2026-10-01T00:00:00Z"), t("2026-10-01T00:10:00Z")).await.unwrap());
    assert!(!tx.acquire_lease("job", "b", t("2026-10-01T00:05:00Z"), t("2026-10-01T00:15:00Z")).await.unwrap());
    assert!(tx.acquire_lease("job", "a", t("2026-10-01T00:05:00Z"), t("2026-10-01T00:15:00Z")).await.unwrap(), "the holder renews");
    assert!(tx.acquire_lease("job", "b", t("2026-10-01T00:15:00Z"), t("2026-10-01T00:25:00Z")).await.unwrap(), "expired: another takes it");
    tx.commit().await.unwrap();
}

/// A one-unit SMS line paid in cash, on the account's workspace `<account>-w`.
fn expense_line(account: &str, no: i64, day: Date, charge_type: &str, gross: i64) -> store::ExpenseLineRow {
    store::ExpenseLineRow {
        account_id: account.into(),
        line_no: no,
        billing_day: day,
        usage_day: day,
        workspace_id: format!("{account}-w"),
        item: "sms".into(),
        dims: String::new(),
        charge_type: charge_type.into(),
        quantity: 1,
        covered: 0,
        chargeable: 1,
        priced_dims: String::new(),
        unit_price: Some(1_000_000),
        money: store::TotalsRow { gross, rounding_discount: 0, coupon: 0, card: 0, cash: gross, arrears: 0 },
        document: "DB".into(),
    }
}

/// The nightly run's and ingestion's batch reads return exactly the accounts, months and
/// workspaces asked for; a month's running line totals add up over separate writes.
async fn batch_reads_keep_to_their_range(store: Store) {
    let mut tx = store.begin().await.unwrap();
    let line = |account: &str, no: i64, day: Date, charge_type: &str, gross: i64| store::ExpenseLineRow {
        money: store::TotalsRow { gross, coupon: 1, card: 2, cash: gross - 3, ..Default::default() },
        ..expense_line(account, no, day, charge_type, gross)
    };
    let at = t("2026-10-01T00:00:00Z");
    for a in ["a1", "a2", "a3"] {
        tx.insert_account(&account(a)).await.unwrap();
        let ws = WorkspaceRow { workspace_id: format!("{a}-w"), account_id: a.into(), name: "w".into(), created_at: at };
        tx.insert_workspace(&ws).await.unwrap();
        let lines = [
            line(a, 1, date(2026, 9, 30), "pay_as_you_go", 100),
            line(a, 2, date(2026, 10, 1), "pay_as_you_go", 200),
            line(a, 3, date(2026, 10, 1), "annual_package", 400),
            // The first line's key again, another line apart: one running total.
            line(a, 4, date(2026, 10, 1), "pay_as_you_go", 50),
            line(a, 5, date(2026, 10, 31), "pay_as_you_go", 800),
            line(a, 6, date(2026, 11, 1), "pay_as_you_go", 1600),
        ];
        // Two writes: the month's running totals add up across them.
        tx.insert_lines(&lines[..4]).await.unwrap();
        tx.insert_lines(&lines[4..]).await.unwrap();
    }
    let october = tx.month_line_totals(&["a2", "a1"], "2026-10").await.unwrap();
    let seen: Vec<(&str, &str, i64)> = october.iter().map(|r| (r.account_id.as_str(), r.charge_type.as_str(), r.totals.gross)).collect();
    assert_eq!(
        seen,
        [("a1", "annual_package", 400), ("a1", "pay_as_you_go", 1050), ("a2", "annual_package", 400), ("a2", "pay_as_you_go", 1050)]
    );
    let sums = tx.month_sums(&["a2", "zz", "a1"], "2026-10").await.unwrap();
    let october = store::TotalsRow { gross: 1450, rounding_discount: 0, coupon: 4, card: 8, cash: 1438, arrears: 0 };
    assert_eq!(sums, [("a1".to_owned(), october), ("a2".to_owned(), october)], "per account, in account order");
    assert!(tx.month_sums(&["a1"], "2026-12").await.unwrap().is_empty());
    let paid = tx.day_paid(date(2026, 10, 1)).await.unwrap();
    assert_eq!(paid, ["a1", "a2", "a3"].map(|a| (a.to_owned(), [250, 2, 4, 244, 0])).to_vec(), "pay-as-you-go lines only");
    let mut found = tx.workspace_accounts(&["a3-w", "a1-w", "nope"]).await.unwrap();
    found.sort();
    assert_eq!(found, [("a1-w".to_owned(), "a1".to_owned()), ("a3-w".to_owned(), "a3".to_owned())]);
    let header = store::InvoiceRow {
        account_id: "a2".into(),
        month: "2026-10".into(),
        invoice_no: "INV-a2".into(),
        issued_at: at,
        totals: store::TotalsRow { gross: 1400, rounding_discount: 0, coupon: 2, card: 4, cash: 1394, arrears: 0 },
        cards_total: 0,
        invoiceable: 1394,
    };
    tx.insert_invoices(&[header], &[]).await.unwrap();
    assert_eq!(tx.invoiced_between("a1", "a3", "2026-10").await.unwrap(), ["a2"]);
    assert!(tx.invoiced_between("a3", "a3", "2026-10").await.unwrap().is_empty());
    assert!(tx.invoiced_between("a1", "a3", "2026-11").await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

async fn sums_are_integers(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&account("a1")).await.unwrap();
    let line = |no: i64, gross: i64| store::ExpenseLineRow {
        money: store::TotalsRow { gross, cash: gross, rounding_discount: 12_345_678, ..Default::default() },
        ..expense_line("a1", no, date(2026, 10, 2), "pay_as_you_go", gross)
    };
    tx.insert_lines(&[line(1, 4_000_000_000_000), line(2, 5_000_000_000_000)]).await.unwrap();
    let totals = tx.month_line_totals(&["a1"], "2026-10").await.unwrap();
    assert_eq!(totals[0].totals.gross, 9_000_000_000_000);
    assert_eq!(totals[0].totals.rounding_discount, 24_691_356);
    let monthly = tx.monthly_line_totals("a1").await.unwrap();
    assert_eq!(monthly, vec![("2026-10".to_owned(), totals[0].totals)]);
    tx.commit().await.unwrap();
}

/// What a page of detailed expenses and the overview read: the days with lines newest first,
/// a day's newest lines below a line, an account's month totals by group, gross by day and item.
async fn pages_of_lines_and_their_sums(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&account("a1")).await.unwrap();
    tx.insert_account(&account("a2")).await.unwrap();
    let lines: Vec<store::ExpenseLineRow> = [(1, 2), (2, 2), (3, 2), (4, 5), (5, 5)]
        .iter()
        .map(|(no, day)| expense_line("a1", *no, date(2026, 10, *day), "pay_as_you_go", 100 * no))
        .chain([expense_line("a1", 6, date(2026, 11, 1), "adjustment", 7), expense_line("a2", 1, date(2026, 10, 9), "pay_as_you_go", 1)])
        .collect();
    tx.insert_lines(&lines).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let days = tx.expense_days_before("a1", None, None, 10).await.unwrap();
    assert_eq!(days, vec![date(2026, 11, 1), date(2026, 10, 5), date(2026, 10, 2)]);
    assert_eq!(tx.expense_days_before("a1", Some(date(2026, 11, 1)), None, 1).await.unwrap(), vec![date(2026, 10, 5)]);
    assert_eq!(tx.expense_days_before("a1", None, Some(date(2026, 10, 3)), 10).await.unwrap(), vec![date(2026, 11, 1), date(2026, 10, 5)]);
    let filter = store::LineFilter::default();
    let newest = tx.newest_expense_lines("a1", date(2026, 10, 2), &filter, Some(3), 1).await.unwrap();
    assert_eq!(newest.iter().map(|l| l.line_no).collect::<Vec<_>>(), vec![2]);
    let all = tx.newest_expense_lines("a1", date(2026, 10, 2), &filter, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|l| l.line_no).collect::<Vec<_>>(), vec![3, 2, 1]);
    let groups = tx.account_month_groups("a1").await.unwrap();
    let sums: Vec<(&str, &str, i64)> = groups.iter().map(|g| (g.month.as_str(), g.charge_type.as_str(), g.totals.gross)).collect();
    assert_eq!(sums, vec![("2026-10", "pay_as_you_go", 1_500), ("2026-11", "adjustment", 7)]);
    let daily = tx.daily_item_gross("a1", date(2026, 10, 1), date(2026, 11, 1)).await.unwrap();
    assert_eq!(daily, vec![(date(2026, 10, 2), "sms".to_owned(), 600), (date(2026, 10, 5), "sms".to_owned(), 900)]);
    tx.commit().await.unwrap();
}

/// The nightly run writes every changed instrument of a batch at once: each row gets its own
/// balance and state, and only the named instruments change.
async fn instruments_update_in_bulk(store: Store) {
    let instrument = |account: &str, id: i64| store::InstrumentRow {
        account_id: account.into(),
        instrument_id: id,
        kind: "regular".into(),
        origin: "granted".into(),
        code: format!("CPN-{id}"),
        face_value: 5000,
        balance: 5000,
        valid_from: date(2026, 10, 1),
        valid_until: date(2026, 10, 31),
        scope: None,
        active: true,
        created_at: "2026-10-01T00:00:00Z".parse().unwrap(),
    };
    let mut tx = store.begin().await.unwrap();
    for id in ["a1", "a2"] {
        tx.insert_account(&account(id)).await.unwrap();
    }
    for (account, id) in [("a1", 1), ("a1", 2), ("a2", 1)] {
        tx.insert_instrument(&instrument(account, id)).await.unwrap();
    }
    let update = |account: &str, id: i64, balance: i64, active: bool| store::InstrumentBalance {
        account_id: account.into(),
        instrument_id: id,
        balance,
        active,
    };
    tx.update_instruments(&[update("a1", 2, 1234, true), update("a2", 1, 0, false)]).await.unwrap();
    tx.update_instruments(&[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let all: Vec<(String, i64, i64, bool)> = tx
        .instruments_between("", "\u{10ffff}")
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.account_id, i.instrument_id, i.balance, i.active))
        .collect();
    assert_eq!(all, [("a1".into(), 1, 5000, true), ("a1".into(), 2, 1234, true), ("a2".into(), 1, 0, false)]);
    tx.commit().await.unwrap();
}

/// Lines are stored in groups (per account, billing day, usage day and document) and read
/// back one by one, every column as written: texts JSON must escape, no unit price, large
/// amounts; filters and the usage-day reading of late usage see through the groups.
async fn lines_round_trip_through_their_groups(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_account(&account("a1")).await.unwrap();
    let (oct2, oct3) = (date(2026, 10, 2), date(2026, 10, 3));
    let mut lines = vec![
        expense_line("a1", 1, oct2, "pay_as_you_go", 100),
        store::ExpenseLineRow {
            workspace_id: "w \"quoted\" \\ back\tslash \u{1} 工作区".into(),
            dims: "retention=30d".into(),
            priced_dims: "retention=30d".into(),
            unit_price: None,
            ..expense_line("a1", 2, oct2, "annual_package", 0)
        },
        // The next day's bill: its own day's line, then a correction of October 2.
        expense_line("a1", 3, oct3, "pay_as_you_go", 4_000_000_000_000),
        store::ExpenseLineRow {
            usage_day: oct2,
            charge_type: "adjustment".into(),
            quantity: 5,
            ..expense_line("a1", 4, oct3, "adjustment", 250)
        },
        store::ExpenseLineRow { document: "DB-2".into(), ..expense_line("a1", 5, oct3, "pay_as_you_go", 7) },
    ];
    lines[2].money.rounding_discount = -99_999_999;
    tx.insert_lines(&lines).await.unwrap();
    let all = tx.expense_lines("a1", &store::LineFilter::default()).await.unwrap();
    assert_eq!(all, lines);
    let filter = store::LineFilter { from: Some(oct3), charge_type: Some("adjustment".into()), ..Default::default() };
    assert_eq!(tx.expense_lines("a1", &filter).await.unwrap(), [lines[3].clone()]);
    let filter = store::LineFilter { to: Some(oct3), workspace: Some(lines[1].workspace_id.clone()), ..Default::default() };
    assert_eq!(tx.expense_lines("a1", &filter).await.unwrap(), [lines[1].clone()]);
    // October 2's usage so far: its own pay-as-you-go line and the correction billed on the
    // 3rd (annual package lines do not count).
    let billed = tx.billed_usage("a1", oct2).await.unwrap();
    let billed: Vec<(&str, i64)> = billed.iter().map(|b| (b.workspace_id.as_str(), b.quantity)).collect();
    assert_eq!(billed, [("a1-w", 6)]);
    // A later write of the same day adds groups; a page of a day's newest lines, read from the
    // groups' ends, is what the full read gives for every filter, bound and length.
    let later = [
        store::ExpenseLineRow { item: "cdn".into(), ..expense_line("a1", 6, oct3, "pay_as_you_go", 9) },
        expense_line("a1", 7, oct3, "pay_as_you_go", 11),
    ];
    tx.insert_lines(&later).await.unwrap();
    let filters = [
        store::LineFilter::default(),
        store::LineFilter { charge_type: Some("adjustment".into()), ..Default::default() },
        store::LineFilter { workspace: Some(lines[1].workspace_id.clone()), ..Default::default() },
        store::LineFilter { item: Some("sms".into()), ..Default::default() },
        store::LineFilter { item: Some("cdn".into()), ..Default::default() },
    ];
    let mut pages = 0;
    for day in [oct2, oct3] {
        for filter in &filters {
            let of_day = store::LineFilter { from: Some(day), to: Some(day.tomorrow().unwrap()), ..filter.clone() };
            let every = tx.expense_lines("a1", &of_day).await.unwrap();
            for below in [None, Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), Some(7), Some(8)] {
                for limit in 1..=5 {
                    let page = tx.newest_expense_lines("a1", day, filter, below, limit).await.unwrap();
                    let expected: Vec<_> =
                        every.iter().rev().filter(|l| below.is_none_or(|b| l.line_no < b)).take(limit as usize).cloned().collect();
                    assert_eq!(page, expected, "{day} {filter:?} below {below:?} limit {limit}");
                    pages += usize::from(!page.is_empty());
                }
            }
        }
    }
    assert!(pages > 100, "the pages compared hold lines ({pages})");
    tx.commit().await.unwrap();
}
