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
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let admin = pg_admin_url();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = format!("bc_{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create a test database");
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin);
    format!("{base}/{name}")
}
