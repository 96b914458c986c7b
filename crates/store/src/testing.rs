//! Fresh databases for tests of every crate: a SQLite file in a temporary directory, or a new
//! database on the PostgreSQL server named by `BILLCENTER_TEST_PG` (an admin URL; `cargo xtask
//! ci` starts that server and sets it).

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

/// The admin URL of the test PostgreSQL server. Panics with instructions when it is not set:
/// the PostgreSQL tests are part of the suite, never skipped.
pub fn pg_admin_url() -> String {
    std::env::var("BILLCENTER_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "BILLCENTER_TEST_PG is not set: run `cargo xtask ci`, or `scripts/pg.sh start` and export BILLCENTER_TEST_PG=<url it prints>"
        )
    })
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_pg_database() -> String {
    create_pg_database("").await
}

/// `fresh_pg_database`, but its text sorts by language, as in a database created with a
/// locale other than C: ICU's root locale, where case and punctuation count only after the
/// letters (`w1` < `W2` < `w3`).
pub async fn fresh_pg_database_sorting_by_language() -> String {
    create_pg_database(" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'").await
}

async fn create_pg_database(options: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let admin = pg_admin_url();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = format!("bc_{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}{options}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin);
    format!("{base}/{name}")
}

/// The account tables with the columns and order that make a dump of them comparable
/// between two stores.
pub const ACCOUNT_TABLES: [(&str, &str, &str); 12] = [
    (
        "billing_account",
        "account_id, billed_through, cash, state, overdue_since, next_line, next_tx, next_instrument, next_invoice, next_event",
        "account_id",
    ),
    ("daily_bill", "account_id, billing_day, line_count, total, settled_at", "account_id, billing_day"),
    (
        "expense_line",
        "account_id, line_no, billing_day, usage_day, workspace_id, item, dims, charge_type, quantity, covered, chargeable, priced_dims, unit_price, gross, rounding_discount, coupon, card, cash, arrears, document",
        "account_id, line_no",
    ),
    ("ledger_tx", "account_id, tx_no, kind, posted_at, document, remark", "account_id, tx_no"),
    ("ledger_entry", "account_id, tx_no, entry_no, book, fund_id, amount, balance_after", "account_id, tx_no, entry_no"),
    ("instrument", "account_id, instrument_id, kind, balance, active", "account_id, instrument_id"),
    (
        "invoice",
        "account_id, month, invoice_no, issued_at, gross, rounding_discount, coupon, card, cash, arrears, cards_total, invoiceable",
        "account_id, month",
    ),
    (
        "month_line_total",
        "account_id, month, workspace_id, item, charge_type, gross, rounding_discount, coupon, card, cash, arrears",
        "account_id, month, workspace_id, item, charge_type",
    ),
    ("account_event", "account_id, event_no, kind, happened_on, detail", "account_id, event_no"),
    (
        "usage_daily",
        "account_id, billing_day, workspace_id, item, dims, quantity, late",
        "account_id, billing_day, workspace_id, item, dims",
    ),
    ("resource_pack", "account_id, pack_no, offer, item, volume, remaining, valid_from, valid_until, origin, price", "account_id, pack_no"),
    ("resource_pack_draw", "account_id, line_no, pack_no, quantity", "account_id, line_no, pack_no"),
];

impl crate::Tx {
    /// Every row of a table as one text line, in a fixed order: for comparing two stores.
    pub async fn dump(&mut self, table: &str, columns: &str, order: &str) -> crate::Result<Vec<String>> {
        let expr = columns.split(',').map(|c| format!("COALESCE(CAST({} AS TEXT), '-')", c.trim())).collect::<Vec<_>>().join(" || '|' || ");
        let sql = format!("SELECT {expr} FROM {table} ORDER BY {order}");
        crate::on!(self, conn => {
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
            Ok(rows.iter().map(|r| sqlx::Row::get::<String, _>(r, 0)).collect())
        })
    }
}
