//! Persistence for billcenter: one `Store` over an embedded SQLite file. This is the only
//! crate that contains SQL. Every table of account data carries `account_id` first in its key,
//! and every query touches one account or a contiguous batch of accounts.
//!
//! Encoding at this boundary: amounts are minor units (`i64`), quantities and unit prices are
//! integers scaled by 10^6, rounding discounts integers scaled by 10^8, dates ISO text and
//! instants microseconds since the epoch. No floating point is ever read or written.

mod bulk;
mod operator;
mod packs;
mod rows;
mod tax_invoice;
pub mod testing;
mod web;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlSafeStr};

pub use operator::*;
pub use packs::*;
pub use rows::*;
pub use tax_invoice::*;
pub use web::*;

/// Usage keys (workspace × item × dimensions) an account is expected to have on a day, for
/// reserving room: the benchmark's accounts have 12 to 36.
const USAGE_KEYS_EXPECTED: usize = 40;

/// Rows per multi-row INSERT: well under SQLite's 32,766 and PostgreSQL's 65,535 bound
/// variables at 20 columns.
const INSERT_CHUNK: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{what} `{key}` already exists")]
    Duplicate { what: &'static str, key: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// A failure another attempt of the same transaction may not hit: a serialization
    /// failure, a deadlock, or SQLite's busy lock.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40001" | "40P01" | "55P03" | "5" | "517" | "6"))
            }
            StoreError::Database(sqlx::Error::PoolTimedOut) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Settings of the PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PgSettings {
    pub max_connections: u32,
    /// `statement_timeout` of every session, in milliseconds (0: none).
    pub statement_timeout_ms: u64,
    /// `lock_timeout` of every session, in milliseconds (0: none).
    pub lock_timeout_ms: u64,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings { max_connections: 8, statement_timeout_ms: 300_000, lock_timeout_ms: 30_000 }
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// One store over either database: the embedded SQLite file or a PostgreSQL server. The SQL
/// text is shared; each statement is compiled for both drivers.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

fn migrator(dialect: &str) -> Migrator {
    let migration = |version, name: &'static str, sql: &'static str| {
        Migration::new(version, name.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let migrations = match dialect {
        "sqlite" => vec![
            migration(1, "schema", include_str!("../migrations/sqlite/0001_schema.sql")),
            migration(2, "operator", include_str!("../migrations/sqlite/0002_operator.sql")),
            migration(3, "month totals", include_str!("../migrations/sqlite/0003_month_totals.sql")),
            migration(4, "month line total", include_str!("../migrations/sqlite/0004_month_line_total.sql")),
            migration(5, "invoice lines are month totals", include_str!("../migrations/sqlite/0005_invoice_lines_are_month_totals.sql")),
            migration(6, "record ids keep a fingerprint", include_str!("../migrations/sqlite/0006_record_ids_keep_a_fingerprint.sql")),
            migration(7, "lines grouped per day", include_str!("../migrations/sqlite/0007_lines_grouped_per_day.sql")),
            migration(8, "month totals grouped", include_str!("../migrations/sqlite/0008_month_totals_grouped.sql")),
            migration(9, "usage daily without rowid", include_str!("../migrations/sqlite/0009_usage_daily_without_rowid.sql")),
            migration(10, "web users", include_str!("../migrations/sqlite/0010_web_users.sql")),
            migration(11, "line groups keep item gross", include_str!("../migrations/sqlite/0011_line_groups_keep_item_gross.sql")),
            migration(12, "tax invoices and refunds", include_str!("../migrations/sqlite/0012_tax_invoices_and_refunds.sql")),
            migration(13, "package auto renew", include_str!("../migrations/sqlite/0013_package_auto_renew.sql")),
            migration(14, "resource packs", include_str!("../migrations/sqlite/0014_resource_packs.sql")),
            migration(15, "ledger hash chain", include_str!("../migrations/sqlite/0015_ledger_hash_chain.sql")),
            migration(16, "tax invoice pdf", include_str!("../migrations/sqlite/0016_tax_invoice_pdf.sql")),
        ],
        _ => vec![
            migration(1, "schema", include_str!("../migrations/postgres/0001_schema.sql")),
            migration(2, "operator", include_str!("../migrations/postgres/0002_operator.sql")),
            migration(3, "month totals", include_str!("../migrations/postgres/0003_month_totals.sql")),
            migration(4, "month line total", include_str!("../migrations/postgres/0004_month_line_total.sql")),
            migration(5, "invoice lines are month totals", include_str!("../migrations/postgres/0005_invoice_lines_are_month_totals.sql")),
            migration(6, "record ids keep a fingerprint", include_str!("../migrations/postgres/0006_record_ids_keep_a_fingerprint.sql")),
            migration(7, "lines grouped per day", include_str!("../migrations/postgres/0007_lines_grouped_per_day.sql")),
            migration(8, "month totals grouped", include_str!("../migrations/postgres/0008_month_totals_grouped.sql")),
            migration(9, "usage keys compare by bytes", include_str!("../migrations/postgres/0009_usage_keys_compare_by_bytes.sql")),
            migration(10, "web users", include_str!("../migrations/postgres/0010_web_users.sql")),
            migration(11, "line groups keep item gross", include_str!("../migrations/postgres/0011_line_groups_keep_item_gross.sql")),
            migration(12, "tax invoices and refunds", include_str!("../migrations/postgres/0012_tax_invoices_and_refunds.sql")),
            migration(13, "package auto renew", include_str!("../migrations/postgres/0013_package_auto_renew.sql")),
            migration(14, "resource packs", include_str!("../migrations/postgres/0014_resource_packs.sql")),
            migration(15, "ledger hash chain", include_str!("../migrations/postgres/0015_ledger_hash_chain.sql")),
            migration(16, "tax invoice pdf", include_str!("../migrations/postgres/0016_tax_invoice_pdf.sql")),
        ],
    };
    Migrator::with_migrations(migrations)
}

impl Store {
    /// Opens (creating if missing) the SQLite file at `path`, in WAL mode with full
    /// durability, and applies the embedded migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // For a database created now: a day's expense lines of an account (~2.4 KB) fit
            // three to an 8 KiB page, one to a 4 KiB page (the 50,000-account night ~10%
            // faster, 469 → ~400 MB). 16 KiB pages bill no faster and make every small
            // transaction write more (creating 10,000 accounts: 4 KiB 9.4 s, 8 KiB 10.1 s,
            // 16 KiB 10.8 s). An existing database keeps its page size.
            .page_size(8192)
            // A nightly run touches every account's pages: a 128 MiB page cache and reads
            // through a memory map keep it from re-reading pages with a syscall each.
            // (USUAL_PRAGMAS says the same for a connection a long scan used.)
            .pragma("cache_size", "-131072")
            .pragma("mmap_size", "4294967296")
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        migrator("sqlite").run(&pool).await?;
        Ok(Store { pool: Pool::Sqlite(pool) })
    }

    /// Connects to PostgreSQL (`postgres://...`) and applies the embedded migrations.
    pub async fn connect(url: &str, settings: &PgSettings) -> Result<Store> {
        let statement = settings.statement_timeout_ms;
        let lock = settings.lock_timeout_ms;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute(sqlx::AssertSqlSafe(format!("SET statement_timeout = {statement}; SET lock_timeout = {lock}"))).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        migrator("postgres").run(&pool).await?;
        Ok(Store { pool: Pool::Postgres(pool) })
    }

    /// Begins a write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`);
    /// on PostgreSQL the accounts a transaction reads are locked (`FOR UPDATE`) instead.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx { inner: TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?), write: true, scan: false },
            Pool::Postgres(p) => Tx { inner: TxInner::Postgres(p.begin().await?), write: true, scan: false },
        })
    }

    /// Begins a read-only transaction: a consistent snapshot that takes no write lock.
    pub async fn read(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx { inner: TxInner::Sqlite(p.begin().await?), write: false, scan: false },
            Pool::Postgres(p) => Tx {
                inner: TxInner::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?),
                write: false,
                scan: false,
            },
        })
    }

    /// A read transaction for a long scan (an export of millions of lines): on SQLite its
    /// connection reads without the memory map and with a small page cache, so the pages it
    /// passes do not stay resident; committing it gives the connection its usual settings back.
    pub async fn read_scan(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                sqlx::raw_sql(SCAN_PRAGMAS).execute(&mut *conn).await?;
                let tx = sqlx::Transaction::begin(conn, None).await?;
                Tx { inner: TxInner::Sqlite(tx), write: false, scan: true }
            }
            Pool::Postgres(_) => self.read().await?,
        })
    }

    /// Writes a consistent copy of a SQLite store to `path` while it stays in use (a read
    /// transaction's snapshot, written with `VACUUM INTO`); `Ok(false)` on PostgreSQL, whose
    /// copies are made with its own tools (`pg_dump`).
    pub async fn backup(&self, path: &std::path::Path) -> Result<bool> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                sqlx::query("VACUUM INTO ?").bind(path.to_string_lossy().into_owned()).execute(&mut *conn).await?;
                Ok(true)
            }
            Pool::Postgres(_) => Ok(false),
        }
    }

    pub async fn close(self) {
        match self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// One database transaction; every use case runs in exactly one.
pub struct Tx {
    inner: TxInner,
    write: bool,
    /// A long scan's transaction (`Store::read_scan`): its connection's settings are put back
    /// when it commits.
    scan: bool,
}

/// A long scan's connection settings, and the usual ones (`Store::open`) it gets back.
const SCAN_PRAGMAS: &str = "PRAGMA mmap_size = 0; PRAGMA cache_size = -8192;";
const USUAL_PRAGMAS: &str = "PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -131072;";

/// Runs a block once per driver: inside it, `Db` is that driver's database type and `$c` the
/// connection of the transaction. The same SQL text is compiled for both.
/// The rows of a query whose parameters are all texts, each mapped by `$map` (a function of
/// either driver's row): on SQLite mapped in place (see `bulk`), not copied value by value
/// into driver rows first; on PostgreSQL through sqlx.
macro_rules! text_rows {
    ($self:ident, $sql:expr, [$($bind:expr),*], $map:path) => {
        match &mut $self.inner {
            crate::TxInner::Sqlite(tx) => bulk::sqlite_rows(tx, &$sql, &[$($bind),*], |r| $map(r)).await,
            crate::TxInner::Postgres(tx) => {
                let rows = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe($sql.to_string()))$(.bind($bind))*.fetch_all(&mut **tx).await?;
                rows.iter().map(|r| $map(r)).collect()
            }
        }
    };
}

macro_rules! on {
    ($self:ident, $c:ident => $body:block) => {
        match &mut $self.inner {
            crate::TxInner::Sqlite(tx) => {
                #[allow(unused)]
                type Db = sqlx::Sqlite;
                let $c = &mut **tx;
                $body
            }
            crate::TxInner::Postgres(tx) => {
                #[allow(unused)]
                type Db = sqlx::Postgres;
                let $c = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use on;

/// Writes rows in bulk by the driver's fastest path (see `bulk`).
macro_rules! bulk {
    ($self:ident, $rows:expr, $suffix:expr, $what:expr) => {
        match &mut $self.inner {
            crate::TxInner::Sqlite(tx) => crate::bulk::sqlite(&mut **tx, $rows, $suffix, $what).await,
            crate::TxInner::Postgres(tx) => crate::bulk::postgres(&mut **tx, $rows, $suffix, $what).await,
        }
    };
}

// The `Tx` methods by concern (each file an `impl Tx`); declared after the macros they use.
mod accounts;
mod checks;
mod funds;
mod invoices;
mod lines;
mod usage;

/// Typed column access shared by both drivers' rows.
pub(crate) trait Col<T> {
    fn col(&self, i: usize) -> T;
}

impl<T> Col<T> for sqlx::sqlite::SqliteRow
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    fn col(&self, i: usize) -> T {
        self.get(i)
    }
}

impl<T> Col<T> for sqlx::postgres::PgRow
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    fn col(&self, i: usize) -> T {
        self.get(i)
    }
}

/// A row of either driver, read by column position.
pub(crate) trait Cols: Col<String> + Col<i64> + Col<Option<String>> + Col<Option<i64>> {
    fn text(&self, i: usize) -> String {
        Col::<String>::col(self, i)
    }
    fn int(&self, i: usize) -> i64 {
        Col::<i64>::col(self, i)
    }
    fn opt_int(&self, i: usize) -> Option<i64> {
        Col::<Option<i64>>::col(self, i)
    }
    /// The six money columns gross, rounding discount, coupon, card, cash, arrears from `i` on.
    fn totals_at(&self, i: usize) -> TotalsRow {
        TotalsRow {
            gross: self.int(i),
            rounding_discount: self.int(i + 1),
            coupon: self.int(i + 2),
            card: self.int(i + 3),
            cash: self.int(i + 4),
            arrears: self.int(i + 5),
        }
    }
}

impl<R: Col<String> + Col<i64> + Col<Option<String>> + Col<Option<i64>>> Cols for R {}

async fn sqlite_write_sequence(conn: &mut sqlx::SqliteConnection) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>("PRAGMA user_version").fetch_one(conn).await?)
}

fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

fn from_micros(v: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A month's sums of one workspace × item × charge type, from columns (account, month,
/// workspace, item, charge type, six money columns).
fn month_group_row(r: &impl Cols) -> InvoiceLineRow {
    InvoiceLineRow {
        account_id: r.text(0),
        month: r.text(1),
        workspace_id: r.text(2),
        item: r.text(3),
        charge_type: r.text(4),
        totals: r.totals_at(5),
    }
}

/// Appends `v1, v2, ...)` to a query that ends in `IN (`: each id a bound value.
fn push_id_list<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, ids: &[&str])
where
    for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(")");
}

fn day_text(d: Date) -> String {
    d.to_string()
}

fn parse_day(text: &str) -> Result<Date> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("bad date `{text}`")))
}

fn opt_day(text: Option<String>) -> Result<Option<Date>> {
    text.as_deref().map(parse_day).transpose()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The result of an insert, with a unique-key violation named as the duplicate it is.
fn inserted<T>(result: std::result::Result<T, sqlx::Error>, what: &'static str, key: impl FnOnce() -> String) -> Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate { what, key: key() }),
        Err(e) => Err(e.into()),
    }
}

/// An `account_event` row from `account_id, event_no, kind, happened_on, created_at, detail`.
fn event_row(r: &impl Cols) -> Result<EventRow> {
    Ok(EventRow {
        account_id: r.text(0),
        event_no: r.int(1),
        kind: r.text(2),
        happened_on: parse_day(&r.text(3))?,
        created_at: from_micros(r.int(4))?,
        detail: r.text(5),
    })
}

/// Expense lines made ready to write: their groups as stored (`expense_line_group`, JSON made)
/// and their sums per account × month × (workspace, item, charge type). Pure work, no
/// database: the nightly run prepares a batch's lines on its billing thread.
pub struct PreparedLines {
    groups: Vec<bulk::LineGroup>,
    /// By account and month (year, month).
    sums: BTreeMap<(String, (i16, i8)), MonthSums>,
}

/// An account-month's sums by workspace × item × charge type.
type MonthSums = BTreeMap<bulk::TotalKey, TotalsRow>;

impl PreparedLines {
    /// Lines in writing order: each account's lines in number order.
    pub fn new<S: AsRef<str>>(lines: &[ExpenseLineRow<S>]) -> PreparedLines {
        let mut sums = BTreeMap::new();
        // An account's lines come together, a day's sorted by key: a line's sum is most often
        // the one before it (dimensions apart); else the index finds it, however many
        // workspaces the account has (a search through the month's sums made an account of
        // thousands of workspaces quadratic).
        let mut month_sums: Vec<((&str, &str, &str), TotalsRow)> = Vec::new();
        let mut index: std::collections::HashMap<(&str, &str, &str), usize> = std::collections::HashMap::new();
        for account in lines.chunk_by(|a, b| a.account_id.as_ref() == b.account_id.as_ref()) {
            let account_id = account[0].account_id.as_ref();
            for month in
                account.chunk_by(|a, b| (a.billing_day.year(), a.billing_day.month()) == (b.billing_day.year(), b.billing_day.month()))
            {
                month_sums.clear();
                index.clear();
                for l in month {
                    let key = (l.workspace_id.as_ref(), l.item.as_ref(), l.charge_type.as_ref());
                    let at = match month_sums.last() {
                        Some((last, _)) if *last == key => Some(month_sums.len() - 1),
                        _ => index.get(&key).copied(),
                    };
                    match at {
                        Some(i) => month_sums[i].1 += l.money,
                        None => {
                            index.insert(key, month_sums.len());
                            month_sums.push((key, l.money));
                        }
                    }
                }
                let day = month[0].billing_day;
                let added: &mut MonthSums = sums.entry((account_id.to_owned(), (day.year(), day.month()))).or_default();
                for ((w, i, c), sum) in month_sums.drain(..) {
                    *added.entry((w.to_owned(), i.to_owned(), c.to_owned())).or_default() += sum;
                }
            }
        }
        PreparedLines { groups: bulk::LineGroup::of(lines), sums }
    }
}

impl Tx {
    /// Asks the database one trivial question: it answers when it can serve.
    pub async fn ping(&mut self) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("SELECT 1").execute(conn).await?;
        });
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        match self.inner {
            TxInner::Sqlite(mut tx) => {
                if self.write {
                    // One more write transaction committed (see `write_sequence`).
                    let seq = sqlite_write_sequence(&mut tx).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {}", seq + 1))).execute(&mut *tx).await?;
                }
                if self.scan {
                    // Set now, they hold from the connection's next transaction on.
                    sqlx::raw_sql(USUAL_PRAGMAS).execute(&mut *tx).await?;
                }
                tx.commit().await?
            }
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// SQLite: how many write transactions have committed (the database header's
    /// `user_version`, one more with every commit of a [`Store::begin`] transaction). Two reads
    /// of the same value saw the same committed state, so a snapshot read beside a writer can
    /// be checked for being current (the nightly run reads its next batch that way).
    /// PostgreSQL: `None`, as its writers commit concurrently.
    pub async fn write_sequence(&mut self) -> Result<Option<i64>> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => Ok(Some(sqlite_write_sequence(tx).await?)),
            TxInner::Postgres(_) => Ok(None),
        }
    }

    /// `FOR UPDATE` where a write transaction on PostgreSQL must lock the accounts it reads
    /// (SQLite's write transactions already hold the database's write lock).
    fn lock_clause(&self) -> &'static str {
        match (&self.inner, self.write) {
            (TxInner::Postgres(_), true) => " FOR UPDATE",
            _ => "",
        }
    }
}

fn usage_daily_row(r: &impl Cols) -> Result<UsageDailyRow> {
    Ok(UsageDailyRow {
        account_id: r.col(0),
        billing_day: parse_day(&r.text(1))?,
        workspace_id: r.col(2),
        item: r.col(3),
        dims: r.col(4),
        quantity: r.col(5),
        late: r.int(6) != 0,
    })
}

#[cfg(test)]
mod tests {
    /// Every migration file of each dialect is applied, in its numbered order.
    #[test]
    fn every_migration_file_is_applied() {
        for dialect in ["sqlite", "postgres"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
            let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            files.sort();
            let applied: Vec<String> = super::migrator(dialect).iter().map(|m| format!("{:04}", m.version)).collect();
            let numbered: Vec<String> = files.iter().map(|f| f[..4].to_owned()).collect();
            assert_eq!(applied, numbered, "{dialect}: the migrator lists every file of {}", dir.display());
            for (m, file) in super::migrator(dialect).iter().zip(&files) {
                assert_eq!(m.sql.as_ref(), std::fs::read_to_string(dir.join(file)).unwrap(), "{file}");
            }
        }
    }

    /// Migration 0006 keeps every record id ingested before it, with fingerprint 0 ("content
    /// not known"), which ingestion counts as a duplicate of whatever is sent again.
    #[test]
    fn record_ids_stored_before_fingerprints_are_kept() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let migrations: Vec<_> = super::migrator("sqlite").iter().map(|m| (m.version, m.sql.as_ref().to_owned())).collect();
        for (version, sql) in &migrations {
            if *version == 6 {
                db.execute(
                    "INSERT INTO usage_record (account_id, record_id, workspace_id, item, dims, recorded_at, quantity, billing_day) \
                     VALUES ('a', 'r1', 'w', 'sms', '', 0, 1, '2026-11-01'), ('b', 'r1', 'w2', 'sms', '', 0, 2, '2026-11-01')",
                    [],
                )
                .unwrap();
            }
            db.execute_batch(sql).unwrap();
        }
        let mut stmt = db.prepare("SELECT account_id, record_id, fingerprint FROM usage_record_id ORDER BY account_id").unwrap();
        let rows: Vec<(String, String, i64)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
        assert_eq!(rows, [("a".into(), "r1".into(), 0), ("b".into(), "r1".into(), 0)]);
    }

    /// Migration 0009 keeps every daily usage row, late flags included, in the table now kept
    /// in key order, and its partial index of late keys answers as before.
    #[test]
    fn daily_usage_is_kept_by_key() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for m in super::migrator("sqlite").iter() {
            if m.version == 9 {
                db.execute_batch(
                    "INSERT INTO usage_daily (account_id, billing_day, workspace_id, item, dims, quantity, late) VALUES \
                     ('b', '2026-11-01', 'w', 'sms', '', 7, 0), ('a', '2026-11-02', 'w', 'sms', 'r=3', 5, 1), \
                     ('a', '2026-11-01', 'w', 'sms', '', 3, 0)",
                )
                .unwrap();
            }
            db.execute_batch(m.sql.as_ref()).unwrap();
        }
        let mut stmt = db.prepare("SELECT account_id, billing_day, dims, quantity, late FROM usage_daily").unwrap();
        let rows: Vec<(String, String, String, i64, i64)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).unwrap().map(Result::unwrap).collect();
        let row = |a: &str, d: &str, dims: &str, q, late| (a.to_owned(), d.to_owned(), dims.to_owned(), q, late);
        assert_eq!(
            rows,
            [row("a", "2026-11-01", "", 3, 0), row("a", "2026-11-02", "r=3", 5, 1), row("b", "2026-11-01", "", 7, 0)],
            "in key order"
        );
        let late: i64 = db.query_row("SELECT count(*) FROM usage_daily WHERE account_id = 'a' AND late = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(late, 1);
        let sql: String = db.query_row("SELECT sql FROM sqlite_master WHERE name = 'usage_daily'", [], |r| r.get(0)).unwrap();
        assert!(sql.ends_with("WITHOUT ROWID"), "{sql}");
    }

    /// Migration 0007 moves every line, with every column, into groups per account, billing
    /// day, usage day and document; the `expense_line` view shows them as before (texts that
    /// JSON must escape included). Only groups of another usage day are in the usage-day index.
    #[test]
    fn lines_stored_before_the_groups_are_kept() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let line = |no: i64, billing: &str, usage: &str, price: &str| {
            format!(
                "('a', {no}, '{billing}', '{usage}', 'w\"1', 'sms', 'tier=a\\b', 'pay_as_you_go', 1000000, 0, 1000000, '', {price}, 5, 0, 1, 2, 1, 1, 'DB-{}')",
                billing.replace('-', "")
            )
        };
        for m in super::migrator("sqlite").iter() {
            if m.version == 7 {
                let values = [
                    line(1, "2026-11-02", "2026-11-02", "50000"),
                    line(2, "2026-11-01", "2026-11-01", "NULL"),
                    line(3, "2026-11-02", "2026-10-30", "50000"),
                    line(4, "2026-11-02", "2026-11-02", "70000"),
                ];
                db.execute(&format!("INSERT INTO expense_line VALUES {}", values.join(", ")), []).unwrap();
            }
            db.execute_batch(m.sql.as_ref()).unwrap();
        }
        type Kept = (i64, String, String, String, String, Option<i64>, i64, i64, i64, i64, i64, String);
        let rows: Vec<Kept> = db
            .prepare(
                "SELECT line_no, billing_day, usage_day, workspace_id, dims, unit_price, gross, coupon, card, cash, arrears, document \
                 FROM expense_line ORDER BY billing_day, line_no",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let kept = |no: i64, billing: &str, usage: &str, price: Option<i64>| -> Kept {
            let document = format!("DB-{}", billing.replace('-', ""));
            (no, billing.into(), usage.into(), "w\"1".into(), "tier=a\\b".into(), price, 5, 1, 2, 1, 1, document)
        };
        assert_eq!(
            rows,
            [
                kept(2, "2026-11-01", "2026-11-01", None),
                kept(1, "2026-11-02", "2026-11-02", Some(50000)),
                kept(3, "2026-11-02", "2026-10-30", Some(50000)),
                kept(4, "2026-11-02", "2026-11-02", Some(70000)),
            ]
        );
        let groups: Vec<(String, i64, i64)> = db
            .prepare("SELECT billing_day, first_line, line_count FROM expense_line_group ORDER BY billing_day, first_line")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(groups, [("2026-11-01".into(), 2, 1), ("2026-11-02".into(), 1, 2), ("2026-11-02".into(), 3, 1)]);
        let other_day: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM expense_line_group INDEXED BY expense_line_group_other_day WHERE account_id = 'a' AND usage_day <> billing_day",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(other_day, 1);
    }

    /// Migration 0008 keeps every month total, one row per account and month; the
    /// `month_line_total` view shows the groups as before.
    #[test]
    fn month_totals_stored_before_the_groups_are_kept() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for m in super::migrator("sqlite").iter() {
            if m.version == 8 {
                db.execute(
                    "INSERT INTO month_line_total VALUES ('a', '2026-10', 'w2', 'sms', 'pay_as_you_go', 5, -1, 1, 1, 2, 1), \
                     ('a', '2026-10', 'w1', 'sms', 'adjustment', 7, 0, 0, 0, 7, 0), ('b', '2026-10', 'w', 'sms', 'pay_as_you_go', 3, 0, 0, 0, 0, 3)",
                    [],
                )
                .unwrap();
            }
            db.execute_batch(m.sql.as_ref()).unwrap();
        }
        let rows: Vec<(String, String, String, i64, i64, i64)> = db
            .prepare("SELECT account_id, workspace_id, charge_type, gross, rounding_discount, arrears FROM month_line_total ORDER BY account_id, workspace_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let row = |a: &str, w: &str, c: &str, g: i64, rd: i64, ar: i64| (a.to_owned(), w.to_owned(), c.to_owned(), g, rd, ar);
        assert_eq!(
            rows,
            [row("a", "w1", "adjustment", 7, 0, 0), row("a", "w2", "pay_as_you_go", 5, -1, 1), row("b", "w", "pay_as_you_go", 3, 0, 3)]
        );
        let groups: i64 = db.query_row("SELECT COUNT(*) FROM month_total_group", [], |r| r.get(0)).unwrap();
        assert_eq!(groups, 2, "one row per account and month");
    }

    /// Migration 0011 gives every stored line group its gross by item, summed from its lines.
    #[test]
    fn line_groups_stored_before_keep_their_gross_by_item() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for m in super::migrator("sqlite").iter() {
            if m.version == 11 {
                let line = |no: i64, item: &str, gross: i64| {
                    format!("[{no},\"w\",\"{item}\",\"\",\"pay_as_you_go\",1,0,1,\"\",1,{gross},0,0,0,{gross},0]")
                };
                let lines = format!("[{},{},{}]", line(1, "sms", 5), line(2, "cdn", 7), line(3, "sms", 11));
                db.execute(
                    "INSERT INTO expense_line_group (account_id, billing_day, first_line, usage_day, document, line_count, lines) \
                     VALUES ('a', '2026-11-02', 1, '2026-11-02', 'DB-20261102', 3, ?1)",
                    [&lines],
                )
                .unwrap();
            }
            db.execute_batch(m.sql.as_ref()).unwrap();
        }
        let kept: String = db.query_row("SELECT item_gross FROM expense_line_group", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, r#"[["cdn",7],["sms",16]]"#);
        let rows: Vec<(String, i64)> = db
            .prepare("SELECT item, gross FROM line_group_item_gross ORDER BY item")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, [("cdn".to_owned(), 7), ("sms".to_owned(), 16)]);
    }

    /// The PostgreSQL migrations are the SQLite ones with every integer column a BIGINT (and
    /// without SQLite's `WITHOUT ROWID` table option): the two dialects cannot drift apart
    /// unnoticed. Migrations 0007 and 0008 differ where JSON does (SQLite's `json_group_array`,
    /// `json_each`, PostgreSQL's `jsonb_agg`, `jsonb_array_elements`, casts of the view's
    /// columns); the contract tests run the same queries against both.
    #[test]
    fn dialect_migrations_say_the_same() {
        let pairs = [
            (include_str!("../migrations/sqlite/0001_schema.sql"), include_str!("../migrations/postgres/0001_schema.sql")),
            (include_str!("../migrations/sqlite/0002_operator.sql"), include_str!("../migrations/postgres/0002_operator.sql")),
            (include_str!("../migrations/sqlite/0003_month_totals.sql"), include_str!("../migrations/postgres/0003_month_totals.sql")),
            (
                include_str!("../migrations/sqlite/0004_month_line_total.sql"),
                include_str!("../migrations/postgres/0004_month_line_total.sql"),
            ),
            (
                include_str!("../migrations/sqlite/0005_invoice_lines_are_month_totals.sql"),
                include_str!("../migrations/postgres/0005_invoice_lines_are_month_totals.sql"),
            ),
            (
                include_str!("../migrations/sqlite/0006_record_ids_keep_a_fingerprint.sql"),
                include_str!("../migrations/postgres/0006_record_ids_keep_a_fingerprint.sql"),
            ),
            (
                include_str!("../migrations/sqlite/0012_tax_invoices_and_refunds.sql"),
                include_str!("../migrations/postgres/0012_tax_invoices_and_refunds.sql"),
            ),
            (
                include_str!("../migrations/sqlite/0013_package_auto_renew.sql"),
                include_str!("../migrations/postgres/0013_package_auto_renew.sql"),
            ),
            (include_str!("../migrations/sqlite/0014_resource_packs.sql"), include_str!("../migrations/postgres/0014_resource_packs.sql")),
        ];
        let normal = |sql: &str| -> Vec<String> {
            sql.lines()
                .filter(|l| !l.starts_with("--"))
                .map(|l| l.replace("INTEGER", "BIGINT").replace(" WITHOUT ROWID", "").split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        };
        for (sqlite, postgres) in pairs {
            assert_eq!(normal(sqlite), normal(postgres));
            assert!(
                !postgres.lines().filter(|l| !l.starts_with("--")).any(|l| l.contains("INTEGER")),
                "PostgreSQL reads INTEGER as int4, not i64"
            );
        }
    }
}
