//! Persistence for billcenter: one `Store` over an embedded SQLite file. This is the only
//! crate that contains SQL. Every table of account data carries `account_id` first in its key,
//! and every query touches one account or a contiguous batch of accounts.
//!
//! Encoding at this boundary: amounts are minor units (`i64`), quantities and unit prices are
//! integers scaled by 10^6, rounding discounts integers scaled by 10^8, dates ISO text and
//! instants microseconds since the epoch. No floating point is ever read or written.

mod bulk;
mod operator;
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
                        Some(i) => month_sums[i].1 += l.totals(),
                        None => {
                            index.insert(key, month_sums.len());
                            month_sums.push((key, l.totals()));
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

    // ---- catalog -------------------------------------------------------------------------

    pub async fn latest_catalog(&mut self) -> Result<Option<String>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT source FROM catalog_version ORDER BY version DESC LIMIT 1").fetch_optional(&mut *conn).await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    pub async fn insert_catalog(&mut self, source: &str, at: Timestamp) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO catalog_version (version, source, imported_at) SELECT COALESCE(MAX(version), 0) + 1, $1, $2 FROM catalog_version",
            )
            .bind(source)
            .bind(micros(at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// The latest billing day billed for any account, which bounds catalog changes.
    pub async fn max_billed_through(&mut self) -> Result<Option<Date>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT MAX(billed_through) FROM billing_account").fetch_one(&mut *conn).await?;
            opt_day(row.get(0))
        })
    }

    // ---- accounts and workspaces -----------------------------------------------------------

    pub async fn insert_account(&mut self, a: &AccountRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO billing_account (account_id, name, currency, time_zone, created_at, first_day) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&a.account_id)
            .bind(&a.name)
            .bind(&a.currency)
            .bind(&a.time_zone)
            .bind(micros(a.created_at))
            .bind(day_text(a.first_day))
            .execute(&mut *conn)
            .await;
            inserted(result, "billing account", || a.account_id.clone())
        })
    }

    const ACCOUNT_COLUMNS: &'static str = "account_id, name, currency, time_zone, created_at, first_day, billed_through, cash, state, overdue_since, next_line, next_tx, next_instrument, next_invoice, next_event, next_package";

    fn account_row(r: &impl Cols) -> Result<AccountRow> {
        Ok(AccountRow {
            account_id: r.col(0),
            name: r.col(1),
            currency: r.col(2),
            time_zone: r.col(3),
            created_at: from_micros(r.col(4))?,
            first_day: parse_day(&r.text(5))?,
            billed_through: opt_day(r.col(6))?,
            cash: r.col(7),
            state: r.col(8),
            overdue_since: opt_day(r.col(9))?,
            counters: Counters {
                next_line: r.col(10),
                next_tx: r.col(11),
                next_instrument: r.col(12),
                next_invoice: r.col(13),
                next_event: r.col(14),
                next_package: r.col(15),
            },
        })
    }

    pub async fn account(&mut self, account_id: &str) -> Result<Option<AccountRow>> {
        let lock = self.lock_clause();
        on!(self, conn => {
            let sql = format!("SELECT {} FROM billing_account WHERE account_id = $1{lock}", Self::ACCOUNT_COLUMNS);
            let row = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_optional(&mut *conn).await?;
            row.as_ref().map(Self::account_row).transpose()
        })
    }

    /// The given accounts that exist, in id order, read in chunks of sorted ids; on PostgreSQL
    /// locked in that order, as every writer locks accounts, so two transactions never wait on
    /// each other in a cycle.
    pub async fn accounts(&mut self, account_ids: &[&str]) -> Result<Vec<AccountRow>> {
        let lock = self.lock_clause();
        let mut sorted = account_ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut found = Vec::with_capacity(sorted.len());
        for chunk in sorted.chunks(INSERT_CHUNK) {
            match &mut self.inner {
                // Read in place (see `bulk`): ingestion reads a chunk's accounts per chunk.
                TxInner::Sqlite(tx) => {
                    let sql = format!(
                        "SELECT {} FROM billing_account WHERE account_id IN ({}) ORDER BY account_id",
                        Self::ACCOUNT_COLUMNS,
                        bulk::parameters(1, chunk.len())
                    );
                    found.extend(bulk::sqlite_rows(tx, &sql, chunk, |r| Self::account_row(r)).await?);
                }
                TxInner::Postgres(tx) => {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new(format!(
                        "SELECT {} FROM billing_account WHERE account_id IN (",
                        Self::ACCOUNT_COLUMNS
                    ));
                    push_id_list(&mut q, chunk);
                    q.push(" ORDER BY account_id").push(lock);
                    for r in q.build().fetch_all(&mut **tx).await? {
                        found.push(Self::account_row(&r)?);
                    }
                }
            }
        }
        Ok(found)
    }

    /// The next batch of accounts in id order after `after` (keyset pagination).
    pub async fn accounts_after(&mut self, after: &str, limit: i64) -> Result<Vec<AccountRow>> {
        let lock = self.lock_clause();
        on!(self, conn => {
            let sql = format!("SELECT {} FROM billing_account WHERE account_id > $1 ORDER BY account_id LIMIT $2{lock}", Self::ACCOUNT_COLUMNS);
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(after).bind(limit).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::account_row).collect()
        })
    }

    /// Claims the next batch of accounts in id order after `after` that may have days to
    /// bill (never billed, or billed before `due_before`). On PostgreSQL the rows are locked
    /// and rows another worker holds are skipped (`FOR UPDATE SKIP LOCKED`): the claim lasts
    /// as long as the transaction, and a worker that dies releases it with its connection.
    /// On SQLite the write transaction itself is the claim.
    pub async fn claim_accounts(&mut self, after: &str, due_before: Date, limit: i64) -> Result<Vec<AccountRow>> {
        let lock = if self.lock_clause().is_empty() { "" } else { " FOR UPDATE SKIP LOCKED" };
        // A batch's worth of accounts (the night claims 10,000 at a time).
        let sql = format!(
            "SELECT {} FROM billing_account WHERE account_id > $1 AND (billed_through IS NULL OR billed_through < $2) \
             ORDER BY account_id LIMIT {limit}{lock}",
            Self::ACCOUNT_COLUMNS
        );
        text_rows!(self, sql, [after, day_text(due_before).as_str()], Self::account_row)
    }

    /// Writes back an account's balances, standing, billing progress and counters.
    pub async fn update_account(&mut self, a: &AccountRow) -> Result<()> {
        on!(self, conn => {
            let c = &a.counters;
            sqlx::query::<Db>(
                "UPDATE billing_account SET billed_through = $2, cash = $3, state = $4, overdue_since = $5, next_line = $6, next_tx = $7, \
                 next_instrument = $8, next_invoice = $9, next_event = $10, next_package = $11 WHERE account_id = $1",
            )
            .bind(&a.account_id)
            .bind(a.billed_through.map(day_text))
            .bind(a.cash)
            .bind(&a.state)
            .bind(a.overdue_since.map(day_text))
            .bind(c.next_line)
            .bind(c.next_tx)
            .bind(c.next_instrument)
            .bind(c.next_invoice)
            .bind(c.next_event)
            .bind(c.next_package)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// Writes back many accounts at once (one statement per chunk), as the nightly run does.
    pub async fn update_accounts(&mut self, accounts: &[AccountRow]) -> Result<()> {
        if let TxInner::Sqlite(tx) = &mut self.inner {
            // One prepared statement, executed per account on the transaction's connection.
            let sql = "UPDATE billing_account SET billed_through = ?2, cash = ?3, state = ?4, overdue_since = ?5, next_line = ?6, \
                       next_tx = ?7, next_instrument = ?8, next_invoice = ?9, next_event = ?10, next_package = ?11 WHERE account_id = ?1";
            return bulk::sqlite_each(tx, sql, accounts, "account").await;
        }
        on!(self, conn => {
            for chunk in accounts.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new(
                    "UPDATE billing_account SET billed_through = v.column2, cash = v.column3, state = v.column4, overdue_since = v.column5, \
                     next_line = v.column6, next_tx = v.column7, next_instrument = v.column8, next_invoice = v.column9, next_event = v.column10, \
                     next_package = v.column11 FROM (",
                );
                q.push_values(chunk, |mut b, a| {
                    let c = &a.counters;
                    b.push_bind(a.account_id.clone())
                        .push_bind(a.billed_through.map(day_text))
                        .push_bind(a.cash)
                        .push_bind(a.state.clone())
                        .push_bind(a.overdue_since.map(day_text))
                        .push_bind(c.next_line)
                        .push_bind(c.next_tx)
                        .push_bind(c.next_instrument)
                        .push_bind(c.next_invoice)
                        .push_bind(c.next_event)
                        .push_bind(c.next_package);
                });
                q.push(") AS v WHERE billing_account.account_id = v.column1");
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        })
    }

    pub async fn insert_workspace(&mut self, w: &WorkspaceRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>("INSERT INTO workspace (workspace_id, account_id, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&w.workspace_id)
                .bind(&w.account_id)
                .bind(&w.name)
                .bind(micros(w.created_at))
                .execute(&mut *conn)
                .await;
            inserted(result, "workspace", || w.workspace_id.clone())
        })
    }

    pub async fn workspaces(&mut self, account_id: &str) -> Result<Vec<WorkspaceRow>> {
        on!(self, conn => {
            let rows =
                sqlx::query::<Db>("SELECT workspace_id, account_id, name, created_at FROM workspace WHERE account_id = $1 ORDER BY workspace_id")
                    .bind(account_id)
                    .fetch_all(&mut *conn)
                    .await?;
            rows.iter()
                .map(|r| Ok(WorkspaceRow { workspace_id: r.get(0), account_id: r.get(1), name: r.get(2), created_at: from_micros(r.get(3))? }))
                .collect()
        })
    }

    /// The workspace directory for the given workspaces: workspace id to account id, for
    /// those that exist.
    pub async fn workspace_accounts(&mut self, workspace_ids: &[&str]) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for chunk in workspace_ids.chunks(INSERT_CHUNK) {
            match &mut self.inner {
                TxInner::Sqlite(tx) => {
                    let sql = format!(
                        "SELECT workspace_id, account_id FROM workspace WHERE workspace_id IN ({})",
                        bulk::parameters(1, chunk.len())
                    );
                    found.extend(bulk::sqlite_rows(tx, &sql, chunk, |r| Ok((r.col(0), r.col(1)))).await?);
                }
                TxInner::Postgres(tx) => {
                    let mut q =
                        QueryBuilder::<sqlx::Postgres>::new("SELECT workspace_id, account_id FROM workspace WHERE workspace_id IN (");
                    push_id_list(&mut q, chunk);
                    let rows = q.build().fetch_all(&mut **tx).await?;
                    found.extend(rows.iter().map(|r| (r.get(0), r.get(1))));
                }
            }
        }
        Ok(found)
    }

    // ---- usage -----------------------------------------------------------------------------

    /// Claims the record ids of a batch of usage (each pair at most once): an id new here is
    /// stored with its fingerprint (`None` in the answer); an id seen before answers the
    /// fingerprint stored with it. In the order given.
    pub async fn claim_record_ids(&mut self, claims: &[RecordClaim<'_>]) -> Result<Vec<Option<i64>>> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => bulk::sqlite_claims(tx, claims).await,
            TxInner::Postgres(tx) => bulk::postgres_claims(tx, claims).await,
        }
    }

    /// Folds a batch's aggregates of one kind into the daily usage: for `max` items the larger
    /// peak wins, otherwise quantities add. A row sent with `late` (its day is already billed)
    /// marks the key late when it changes the stored quantity.
    pub async fn merge_usage_daily(&mut self, rows: &[UsageDailyRow], max: bool) -> Result<()> {
        let conflict = if max {
            "ON CONFLICT (account_id, billing_day, workspace_id, item, dims) DO UPDATE SET \
             late = CASE WHEN excluded.late = 1 AND excluded.quantity > usage_daily.quantity THEN 1 ELSE usage_daily.late END, \
             quantity = CASE WHEN excluded.quantity > usage_daily.quantity THEN excluded.quantity ELSE usage_daily.quantity END"
        } else {
            "ON CONFLICT (account_id, billing_day, workspace_id, item, dims) DO UPDATE SET \
             late = CASE WHEN excluded.late = 1 AND excluded.quantity > 0 THEN 1 ELSE usage_daily.late END, \
             quantity = usage_daily.quantity + excluded.quantity"
        };
        bulk!(self, rows, conflict, "daily usage")
    }

    /// Daily usage of a batch of accounts `[first, last]` for days in `(after, through]`.
    /// The daily usage of the given accounts on the days after `after` through `through`, in
    /// (account, day, key) order. One key seek per account: a range over account ids would
    /// read every day each account ever had.
    pub async fn usage_daily_between(&mut self, account_ids: &[&str], after: Option<Date>, through: Date) -> Result<Vec<UsageDailyRow>> {
        const HEAD: &str = "SELECT account_id, billing_day, workspace_id, item, dims, quantity, late FROM usage_daily WHERE billing_day > ";
        const ORDER: &str = " ORDER BY account_id, billing_day, workspace_id, item, dims";
        // Room for a day's usage of every account up front (unused room is never touched, so
        // costs no memory): the night's biggest read, grown by doubling, copied its rows
        // several times over.
        let days = after.map_or(1, |a| (through - a).get_days().max(1) as usize);
        let mut found = Vec::with_capacity(account_ids.len().saturating_mul(days).saturating_mul(USAGE_KEYS_EXPECTED).min(1 << 22));
        let (after, through) = (after.map(day_text).unwrap_or_default(), day_text(through));
        for chunk in account_ids.chunks(INSERT_CHUNK) {
            match &mut self.inner {
                TxInner::Sqlite(tx) => {
                    // The night's biggest read: rows mapped in place (see `bulk`).
                    let sql = format!("{HEAD}?1 AND billing_day <= ?2 AND account_id IN ({}){ORDER}", bulk::parameters(3, chunk.len()));
                    let binds: Vec<&str> = [after.as_str(), through.as_str()].into_iter().chain(chunk.iter().copied()).collect();
                    bulk::sqlite_rows_into(tx, &sql, &binds, &mut found, |r| usage_daily_row(r)).await?;
                }
                TxInner::Postgres(tx) => {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new(HEAD);
                    q.push_bind(after.as_str()).push(" AND billing_day <= ").push_bind(through.as_str()).push(" AND account_id IN (");
                    push_id_list(&mut q, chunk);
                    q.push(ORDER);
                    for r in &q.build().fetch_all(&mut **tx).await? {
                        found.push(usage_daily_row(r)?);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Keys of a batch of accounts that changed after their day was billed.
    pub async fn late_usage(&mut self, first: &str, last: &str) -> Result<Vec<UsageDailyRow>> {
        let sql = "SELECT account_id, billing_day, workspace_id, item, dims, quantity, late FROM usage_daily \
                   WHERE account_id >= $1 AND account_id <= $2 AND late = 1 ORDER BY account_id, billing_day, workspace_id, item, dims";
        text_rows!(self, sql, [first, last], usage_daily_row)
    }

    pub async fn clear_late(&mut self, account_id: &str, day: Date) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE usage_daily SET late = 0 WHERE account_id = $1 AND billing_day = $2 AND late = 1")
                .bind(account_id)
                .bind(day_text(day))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// What the lines of one usage day billed so far, per workspace × item × dimensions.
    pub async fn billed_usage(&mut self, account_id: &str, usage_day: Date) -> Result<Vec<BilledUsageRow>> {
        on!(self, conn => {
            // The lines of a usage day are those billed on it for it, and those billed on
            // another day for it (found through the partial index of such lines).
            let rows = sqlx::query::<Db>(
                "SELECT workspace_id, item, dims, CAST(SUM(quantity) AS BIGINT), CAST(SUM(covered) AS BIGINT), CAST(SUM(chargeable) AS BIGINT) FROM ( \
                   SELECT workspace_id, item, dims, quantity, covered, chargeable, charge_type FROM expense_line \
                     WHERE account_id = $1 AND billing_day = $2 AND usage_day = billing_day \
                   UNION ALL SELECT workspace_id, item, dims, quantity, covered, chargeable, charge_type FROM expense_line \
                     WHERE account_id = $1 AND usage_day = $2 AND usage_day <> billing_day) AS day_lines \
                 WHERE charge_type <> 'annual_package' GROUP BY workspace_id, item, dims",
            )
            .bind(account_id)
            .bind(day_text(usage_day))
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .iter()
                .map(|r| BilledUsageRow {
                    workspace_id: r.get(0),
                    item: r.get(1),
                    dims: r.get(2),
                    quantity: r.get(3),
                    covered: r.get(4),
                    chargeable: r.get(5),
                })
                .collect())
        })
    }

    // ---- bills, lines, ledger --------------------------------------------------------------

    pub async fn insert_daily_bills(&mut self, bills: &[DailyBillRow]) -> Result<()> {
        bulk!(self, bills, "", "daily bill")
    }

    /// Writes expense lines and adds them to their months' running totals
    /// (`month_total_group`), in the same transaction.
    pub async fn insert_lines(&mut self, lines: &[ExpenseLineRow]) -> Result<()> {
        self.insert_prepared_lines(&PreparedLines::new(lines)).await
    }

    /// `insert_lines` for lines prepared before (on another thread, as the nightly run does).
    pub async fn insert_prepared_lines(&mut self, prepared: &PreparedLines) -> Result<()> {
        let month_text = |(year, month): (i16, i8)| format!("{year:04}-{month:02}");
        // Each account-month's stored totals, with these added, written back whole.
        let mut ids: Vec<&str> = prepared.sums.keys().map(|(account_id, _)| account_id.as_str()).collect();
        ids.dedup();
        let months: std::collections::BTreeSet<String> = prepared.sums.keys().map(|(_, month)| month_text(*month)).collect();
        let months: Vec<&str> = months.iter().map(String::as_str).collect();
        let mut stored = self.month_total_groups(&ids, &months).await?;
        let mut rows = Vec::with_capacity(prepared.sums.len());
        for ((account_id, month), added) in &prepared.sums {
            let month = month_text(*month);
            let totals = match stored.remove(&(account_id.clone(), month.clone())) {
                Some(text) => {
                    let mut totals = bulk::parse_group_totals(account_id, &month, &text)?;
                    for (key, sum) in added {
                        *totals.entry(key.clone()).or_default() += *sum;
                    }
                    bulk::group_totals_json(&totals)
                }
                None => bulk::group_totals_json(added),
            };
            rows.push(bulk::MonthTotalGroup { account_id, month, totals });
        }
        bulk!(self, &rows, bulk::MONTH_TOTAL_REPLACES, "month total")?;
        bulk!(self, &prepared.groups, "", "expense line")
    }

    /// The stored month totals (JSON) of the given accounts and months, by (account, month).
    async fn month_total_groups(
        &mut self,
        account_ids: &[&str],
        months: &[&str],
    ) -> Result<std::collections::HashMap<(String, String), String>> {
        let mut found = std::collections::HashMap::new();
        if months.is_empty() {
            return Ok(found);
        }
        if let TxInner::Sqlite(tx) = &mut self.inner {
            for chunk in account_ids.chunks(INSERT_CHUNK) {
                let sql = format!(
                    "SELECT account_id, month, totals FROM month_total_group WHERE month IN ({}) AND account_id IN ({})",
                    bulk::parameters(1, months.len()),
                    bulk::parameters(months.len() + 1, chunk.len())
                );
                let binds: Vec<&str> = months.iter().chain(chunk).copied().collect();
                for (key, totals) in bulk::sqlite_rows(tx, &sql, &binds, |r| Ok(((r.col(0), r.col(1)), r.col(2)))).await? {
                    found.insert(key, totals);
                }
            }
            return Ok(found);
        }
        on!(self, conn => {
            for chunk in account_ids.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new("SELECT account_id, month, totals FROM month_total_group WHERE month IN (");
                push_id_list(&mut q, months);
                q.push(" AND account_id IN (");
                push_id_list(&mut q, chunk);
                for r in q.build().fetch_all(&mut *conn).await? {
                    found.insert((r.get(0), r.get(1)), r.get(2));
                }
            }
            Ok(found)
        })
    }

    pub async fn insert_ledger(&mut self, txs: &[LedgerTxRow], entries: &[LedgerEntryRow]) -> Result<()> {
        bulk!(self, txs, "", "ledger transaction")?;
        bulk!(self, entries, "", "ledger entry")
    }

    // ---- instruments and packages ------------------------------------------------------------

    pub async fn insert_instrument(&mut self, i: &InstrumentRow) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO instrument (account_id, instrument_id, kind, origin, code, face_value, balance, valid_from, valid_until, scope, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&i.account_id)
            .bind(i.instrument_id)
            .bind(&i.kind)
            .bind(&i.origin)
            .bind(&i.code)
            .bind(i.face_value)
            .bind(i.balance)
            .bind(day_text(i.valid_from))
            .bind(day_text(i.valid_until))
            .bind(&i.scope)
            .bind(i64::from(i.active))
            .bind(micros(i.created_at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    const INSTRUMENT_COLUMNS: &'static str =
        "account_id, instrument_id, kind, origin, code, face_value, balance, valid_from, valid_until, scope, active, created_at";

    fn instrument_row(r: &impl Cols) -> Result<InstrumentRow> {
        Ok(InstrumentRow {
            account_id: r.col(0),
            instrument_id: r.col(1),
            kind: r.col(2),
            origin: r.col(3),
            code: r.col(4),
            face_value: r.col(5),
            balance: r.col(6),
            valid_from: parse_day(&r.text(7))?,
            valid_until: parse_day(&r.text(8))?,
            scope: r.col(9),
            active: r.int(10) != 0,
            created_at: from_micros(r.col(11))?,
        })
    }

    /// Active instruments of a batch of accounts `[first, last]`.
    pub async fn active_instruments(&mut self, first: &str, last: &str) -> Result<Vec<InstrumentRow>> {
        let sql = format!(
            "SELECT {} FROM instrument WHERE account_id >= $1 AND account_id <= $2 AND active = 1 ORDER BY account_id, instrument_id",
            Self::INSTRUMENT_COLUMNS
        );
        text_rows!(self, sql, [first, last], Self::instrument_row)
    }

    /// The prepaid cards bought by the accounts in `[first, last]`, active or not.
    pub async fn purchased_cards_between(&mut self, first: &str, last: &str) -> Result<Vec<InstrumentRow>> {
        let sql = format!(
            "SELECT {} FROM instrument WHERE account_id >= $1 AND account_id <= $2 AND kind = 'card' AND origin = 'purchased' \
             ORDER BY account_id, instrument_id",
            Self::INSTRUMENT_COLUMNS
        );
        text_rows!(self, sql, [first, last], Self::instrument_row)
    }

    /// Every instrument of one account, oldest first.
    pub async fn instruments(&mut self, account_id: &str) -> Result<Vec<InstrumentRow>> {
        on!(self, conn => {
            let sql = format!("SELECT {} FROM instrument WHERE account_id = $1 ORDER BY instrument_id", Self::INSTRUMENT_COLUMNS);
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::instrument_row).collect()
        })
    }

    pub async fn update_instrument(&mut self, account_id: &str, instrument_id: i64, balance: i64, active: bool) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE instrument SET balance = $3, active = $4 WHERE account_id = $1 AND instrument_id = $2")
                .bind(account_id)
                .bind(instrument_id)
                .bind(balance)
                .bind(i64::from(active))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Writes many instruments' balances and states at once (the nightly run's).
    pub async fn update_instruments(&mut self, updates: &[InstrumentBalance]) -> Result<()> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let sql = "UPDATE instrument SET balance = ?3, active = ?4 WHERE account_id = ?1 AND instrument_id = ?2";
                bulk::sqlite_each(tx, sql, updates, "instrument").await
            }
            TxInner::Postgres(tx) => {
                for chunk in updates.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new("UPDATE instrument SET balance = v.column3, active = v.column4 FROM (");
                    q.push_values(chunk, |mut b, u| {
                        b.push_bind(u.account_id.as_str()).push_bind(u.instrument_id).push_bind(u.balance).push_bind(i64::from(u.active));
                    });
                    q.push(") AS v WHERE instrument.account_id = v.column1 AND instrument.instrument_id = v.column2");
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }
        }
    }

    pub async fn insert_package(&mut self, p: &PackageRow) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO package (account_id, package_no, plan, start_day, end_day, price, purchased_at, auto_renew) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
                .bind(&p.account_id)
                .bind(p.package_no)
                .bind(&p.plan)
                .bind(day_text(p.start_day))
                .bind(day_text(p.end_day))
                .bind(p.price)
                .bind(micros(p.purchased_at))
                .bind(i64::from(p.auto_renew))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Sets whether a package renews itself at its end.
    pub async fn set_package_auto_renew(&mut self, account_id: &str, package_no: i64, auto_renew: bool) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE package SET auto_renew = $3 WHERE account_id = $1 AND package_no = $2")
                .bind(account_id)
                .bind(package_no)
                .bind(i64::from(auto_renew))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Ends a package early (an upgrade): it covers days before `end_day` only.
    pub async fn end_package(&mut self, account_id: &str, package_no: i64, end_day: Date) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE package SET end_day = $3 WHERE account_id = $1 AND package_no = $2")
                .bind(account_id)
                .bind(package_no)
                .bind(day_text(end_day))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Packages of a batch of accounts `[first, last]`.
    pub async fn packages_between(&mut self, first: &str, last: &str) -> Result<Vec<PackageRow>> {
        let sql = "SELECT account_id, package_no, plan, start_day, end_day, price, purchased_at, auto_renew FROM package \
                   WHERE account_id >= $1 AND account_id <= $2 ORDER BY account_id, package_no";
        text_rows!(self, sql, [first, last], Self::package_row)
    }

    fn package_row(r: &impl Cols) -> Result<PackageRow> {
        Ok(PackageRow {
            account_id: r.col(0),
            package_no: r.col(1),
            plan: r.col(2),
            start_day: parse_day(&r.text(3))?,
            end_day: parse_day(&r.text(4))?,
            price: r.col(5),
            purchased_at: from_micros(r.col(6))?,
            auto_renew: r.int(7) != 0,
        })
    }

    // ---- invoices and events -----------------------------------------------------------------

    /// Writes issued invoices and the cards they list, many per statement. An invoice's lines
    /// are its month's running totals (`month_line_totals`), frozen by issuing it.
    pub async fn insert_invoices(&mut self, invoices: &[InvoiceRow], cards: &[InvoiceCardRow]) -> Result<()> {
        on!(self, conn => {
            for chunk in invoices.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO invoice (account_id, month, invoice_no, issued_at, gross, rounding_discount, coupon, card, cash, arrears, cards_total, invoiceable) ",
                );
                q.push_values(chunk, |mut b, inv| {
                    let t = &inv.totals;
                    b.push_bind(inv.account_id.as_str())
                        .push_bind(inv.month.as_str())
                        .push_bind(inv.invoice_no.as_str())
                        .push_bind(micros(inv.issued_at))
                        .push_bind(t.gross)
                        .push_bind(t.rounding_discount)
                        .push_bind(t.coupon)
                        .push_bind(t.card)
                        .push_bind(t.cash)
                        .push_bind(t.arrears)
                        .push_bind(inv.cards_total)
                        .push_bind(inv.invoiceable);
                });
                if let Err(e) = q.build().execute(&mut *conn).await {
                    return Err(if is_unique_violation(&e) {
                        let keys: Vec<String> = chunk.iter().map(|i| format!("{}/{}", i.account_id, i.month)).collect();
                        StoreError::Duplicate { what: "invoice", key: format!("one of {}", keys.join(", ")) }
                    } else {
                        e.into()
                    });
                }
            }
            for chunk in cards.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new("INSERT INTO invoice_card (account_id, month, instrument_id, face_value) ");
                q.push_values(chunk, |mut b, c| {
                    b.push_bind(c.account_id.as_str()).push_bind(c.month.as_str()).push_bind(c.instrument_id).push_bind(c.face_value);
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        })
    }

    /// The accounts in `[first_id, last_id]` whose invoice of `month` is issued.
    pub async fn invoiced_between(&mut self, first_id: &str, last_id: &str, month: &str) -> Result<Vec<String>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT account_id FROM invoice WHERE account_id >= $1 AND account_id <= $2 AND month = $3")
                .bind(first_id)
                .bind(last_id)
                .bind(month)
                .fetch_all(&mut *conn)
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    pub async fn invoice_exists(&mut self, account_id: &str, month: &str) -> Result<bool> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT 1 FROM invoice WHERE account_id = $1 AND month = $2")
                .bind(account_id)
                .bind(month)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(row.is_some())
        })
    }

    /// A month's line sums per workspace × item × charge type of the given accounts, in
    /// (account, workspace, item, charge type) order, from the running totals.
    pub async fn month_line_totals(&mut self, account_ids: &[&str], month: &str) -> Result<Vec<InvoiceLineRow>> {
        // Each account-month's stored row parsed here (in byte order of its keys), not
        // expanded row by row by the `month_line_total` view: an account of thousands of
        // workspaces reads one row.
        let stored = self.month_total_groups(account_ids, &[month]).await?;
        let mut accounts: Vec<(String, String)> = stored.into_iter().map(|((account_id, _), text)| (account_id, text)).collect();
        accounts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut found = Vec::new();
        for (account_id, text) in accounts {
            for ((workspace_id, item, charge_type), totals) in bulk::parse_group_totals(&account_id, month, &text)? {
                found.push(InvoiceLineRow {
                    account_id: account_id.clone(),
                    month: month.to_owned(),
                    workspace_id,
                    item,
                    charge_type,
                    totals,
                });
            }
        }
        Ok(found)
    }

    /// A month's running totals summed per account, for the given accounts, in account order.
    /// An account without lines in the month is absent. (Summed here from each account-month's
    /// row: one row read per account, not a row per group expanded by the view.)
    pub async fn month_sums(&mut self, account_ids: &[&str], month: &str) -> Result<Vec<(String, TotalsRow)>> {
        let stored = self.month_total_groups(account_ids, &[month]).await?;
        let mut found = stored
            .into_iter()
            .map(|((account_id, month), text)| {
                let groups = bulk::parse_group_totals(&account_id, &month, &text)?;
                let mut sum = TotalsRow::default();
                for totals in groups.into_values() {
                    sum += totals;
                }
                Ok((account_id, sum))
            })
            .collect::<Result<Vec<_>>>()?;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// Every running month total whose lines do not add up to it (or lines with no total):
    /// (account, month, workspace, item, charge type, kept, summed from the lines).
    pub async fn month_total_drift(&mut self) -> Result<Vec<(InvoiceLineRow, TotalsRow)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "WITH summed AS (SELECT account_id, SUBSTR(billing_day, 1, 7) AS month, workspace_id, item, charge_type, \
                   CAST(SUM(gross) AS BIGINT) AS gross, CAST(SUM(rounding_discount) AS BIGINT) AS rounding_discount, \
                   CAST(SUM(coupon) AS BIGINT) AS coupon, CAST(SUM(card) AS BIGINT) AS card, CAST(SUM(cash) AS BIGINT) AS cash, \
                   CAST(SUM(arrears) AS BIGINT) AS arrears \
                 FROM expense_line GROUP BY account_id, SUBSTR(billing_day, 1, 7), workspace_id, item, charge_type), \
                 keys AS (SELECT account_id, month, workspace_id, item, charge_type FROM summed \
                   UNION SELECT account_id, month, workspace_id, item, charge_type FROM month_line_total) \
                 SELECT k.account_id, k.month, k.workspace_id, k.item, k.charge_type, \
                   COALESCE(t.gross, 0), COALESCE(t.rounding_discount, 0), COALESCE(t.coupon, 0), COALESCE(t.card, 0), COALESCE(t.cash, 0), COALESCE(t.arrears, 0), \
                   COALESCE(s.gross, 0), COALESCE(s.rounding_discount, 0), COALESCE(s.coupon, 0), COALESCE(s.card, 0), COALESCE(s.cash, 0), COALESCE(s.arrears, 0) \
                 FROM keys k \
                 LEFT JOIN month_line_total t ON t.account_id = k.account_id AND t.month = k.month AND t.workspace_id = k.workspace_id AND t.item = k.item AND t.charge_type = k.charge_type \
                 LEFT JOIN summed s ON s.account_id = k.account_id AND s.month = k.month AND s.workspace_id = k.workspace_id AND s.item = k.item AND s.charge_type = k.charge_type \
                 WHERE t.account_id IS NULL OR s.account_id IS NULL OR t.gross <> s.gross OR t.rounding_discount <> s.rounding_discount \
                   OR t.coupon <> s.coupon OR t.card <> s.card OR t.cash <> s.cash OR t.arrears <> s.arrears \
                 ORDER BY k.account_id, k.month, k.workspace_id, k.item, k.charge_type",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .iter()
                .map(|r| (month_group_row(r), r.totals_at(11)))
                .collect())
        })
    }

    /// The gross by account, billing day and item that the line groups keep beside their lines
    /// (what the daily spend chart reads) where it differs from the lines' own sum: the number
    /// of line groups, and each difference as (account, day, item, kept, summed from the lines).
    pub async fn day_item_drift(&mut self) -> Result<(i64, Vec<(String, String, String, i64, i64)>)> {
        on!(self, conn => {
            let groups: i64 = sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM expense_line_group").fetch_one(&mut *conn).await?;
            let rows = sqlx::query::<Db>(
                "WITH summed AS (SELECT account_id, billing_day, item, CAST(SUM(gross) AS BIGINT) AS gross \
                   FROM expense_line GROUP BY account_id, billing_day, item), \
                 kept AS (SELECT account_id, billing_day, item, CAST(SUM(gross) AS BIGINT) AS gross \
                   FROM line_group_item_gross GROUP BY account_id, billing_day, item), \
                 keys AS (SELECT account_id, billing_day, item FROM summed UNION SELECT account_id, billing_day, item FROM kept) \
                 SELECT k.account_id, k.billing_day, k.item, COALESCE(t.gross, 0), COALESCE(s.gross, 0) \
                 FROM keys k \
                 LEFT JOIN kept t ON t.account_id = k.account_id AND t.billing_day = k.billing_day AND t.item = k.item \
                 LEFT JOIN summed s ON s.account_id = k.account_id AND s.billing_day = k.billing_day AND s.item = k.item \
                 WHERE t.account_id IS NULL OR s.account_id IS NULL OR t.gross <> s.gross \
                 ORDER BY k.account_id, k.billing_day, k.item",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok((groups, rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect()))
        })
    }

    pub async fn invoices(&mut self, account_id: &str) -> Result<Vec<InvoiceRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, month, invoice_no, issued_at, gross, rounding_discount, coupon, card, cash, arrears, cards_total, invoiceable \
                 FROM invoice WHERE account_id = $1 ORDER BY month",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(InvoiceRow {
                        account_id: r.get(0),
                        month: r.get(1),
                        invoice_no: r.get(2),
                        issued_at: from_micros(r.get(3))?,
                        totals: r.totals_at(4),
                        cards_total: r.get(10),
                        invoiceable: r.get(11),
                    })
                })
                .collect()
        })
    }

    /// Expense line totals per month (`YYYY-MM` of the billing day), oldest first.
    pub async fn monthly_line_totals(&mut self, account_id: &str) -> Result<Vec<(String, TotalsRow)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT SUBSTR(billing_day, 1, 7) AS month, CAST(SUM(gross) AS BIGINT), CAST(SUM(rounding_discount) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) \
                 FROM expense_line WHERE account_id = $1 GROUP BY SUBSTR(billing_day, 1, 7) ORDER BY month",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let totals = r.totals_at(1);
                    (r.get(0), totals)
                })
                .collect())
        })
    }

    /// An account's running month totals by workspace × item × charge type, every month it
    /// has lines, in month order: what its lines sum to without reading them.
    pub async fn account_month_groups(&mut self, account_id: &str) -> Result<Vec<InvoiceLineRow>> {
        let stored: Vec<(String, String)> = on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT month, totals FROM month_total_group WHERE account_id = $1 ORDER BY month")
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await?;
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        });
        let mut found = Vec::new();
        for (month, text) in stored {
            for ((workspace_id, item, charge_type), totals) in bulk::parse_group_totals(account_id, &month, &text)? {
                found.push(InvoiceLineRow {
                    account_id: account_id.to_owned(),
                    month: month.clone(),
                    workspace_id,
                    item,
                    charge_type,
                    totals,
                });
            }
        }
        Ok(found)
    }

    /// Gross by billing day and item in `[from, to)`: what a daily spend chart draws, from the
    /// sums each line group keeps (`line_group_item_gross`), not from the lines.
    pub async fn daily_item_gross(&mut self, account_id: &str, from: Date, to: Date) -> Result<Vec<(Date, String, i64)>> {
        let rows: Vec<(String, String, i64)> = on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT billing_day, item, CAST(SUM(gross) AS BIGINT) FROM line_group_item_gross \
                 WHERE account_id = $1 AND billing_day >= $2 AND billing_day < $3 GROUP BY billing_day, item ORDER BY billing_day, item",
            )
            .bind(account_id)
            .bind(day_text(from))
            .bind(day_text(to))
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
        });
        rows.into_iter().map(|(day, item, gross)| Ok((parse_day(&day)?, item, gross))).collect()
    }

    /// The newest lines of one billing day that a filter keeps, below line `below` when given,
    /// at most `limit` of them, newest first. Reads the day's line groups newest first and
    /// parses only as many lines from each group's end as it needs: a page of a day of tens of
    /// thousands of lines does not expand them all. (A group's lines are numbered above every
    /// earlier group's of the account: groups are runs of the lines in number order.)
    pub async fn newest_expense_lines(
        &mut self,
        account_id: &str,
        day: Date,
        filter: &LineFilter,
        below: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ExpenseLineRow>> {
        let groups: Vec<(i64, String, String, String)> = on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT first_line, usage_day, document, lines FROM expense_line_group \
                 WHERE account_id = $1 AND billing_day = $2 AND first_line < $3 ORDER BY first_line DESC",
            )
            .bind(account_id)
            .bind(day_text(day))
            .bind(below.unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
        });
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut found = Vec::new();
        for (first_line, usage_day, document, lines) in &groups {
            if found.len() >= limit {
                break;
            }
            let group =
                bulk::GroupOfLines { account_id, billing_day: day, usage_day: parse_day(usage_day)?, document, first_line: *first_line };
            group.newest(lines, filter, below, limit, &mut found)?;
        }
        Ok(found)
    }

    /// The billing days before `before` (all when `None`) and from `from` on, on which the
    /// account has expense lines, newest first, at most `limit` of them.
    pub async fn expense_days_before(
        &mut self,
        account_id: &str,
        before: Option<Date>,
        from: Option<Date>,
        limit: i64,
    ) -> Result<Vec<Date>> {
        let days: Vec<String> = on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT DISTINCT billing_day FROM expense_line_group WHERE account_id = $1 AND billing_day < $2 AND billing_day >= $3 \
                 ORDER BY billing_day DESC LIMIT $4",
            )
            .bind(account_id)
            .bind(before.map_or_else(|| "9999-12-31".to_owned(), day_text))
            .bind(from.map_or_else(|| "0000-01-01".to_owned(), day_text))
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(|r| r.get(0)).collect()
        });
        days.iter().map(|d| parse_day(d)).collect()
    }

    /// Expense lines of one account with billing day in `[from, to)` and optional filters,
    /// in billing day and line order.
    pub async fn expense_lines(&mut self, account_id: &str, filter: &LineFilter) -> Result<Vec<ExpenseLineRow>> {
        on!(self, conn => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT account_id, line_no, billing_day, usage_day, workspace_id, item, dims, charge_type, quantity, covered, chargeable, \
                 priced_dims, unit_price, gross, rounding_discount, coupon, card, cash, arrears, document FROM expense_line WHERE account_id = ",
            );
            q.push_bind(account_id.to_owned());
            if let Some(from) = filter.from {
                q.push(" AND billing_day >= ").push_bind(day_text(from));
            }
            if let Some(to) = filter.to {
                q.push(" AND billing_day < ").push_bind(day_text(to));
            }
            if let Some(w) = &filter.workspace {
                q.push(" AND workspace_id = ").push_bind(w.clone());
            }
            if let Some(i) = &filter.item {
                q.push(" AND item = ").push_bind(i.clone());
            }
            if let Some(c) = &filter.charge_type {
                q.push(" AND charge_type = ").push_bind(c.clone());
            }
            q.push(" ORDER BY billing_day, line_no");
            let rows = q.build().fetch_all(&mut *conn).await?;
            rows.iter()
                .map(|r| {
                    Ok(ExpenseLineRow {
                        account_id: r.get(0),
                        line_no: r.get(1),
                        billing_day: parse_day(&r.get::<String, _>(2))?,
                        usage_day: parse_day(&r.get::<String, _>(3))?,
                        workspace_id: r.get(4),
                        item: r.get(5),
                        dims: r.get(6),
                        charge_type: r.get(7),
                        quantity: r.get(8),
                        covered: r.get(9),
                        chargeable: r.get(10),
                        priced_dims: r.get(11),
                        unit_price: r.get(12),
                        gross: r.get(13),
                        rounding_discount: r.get(14),
                        coupon: r.get(15),
                        card: r.get(16),
                        cash: r.get(17),
                        arrears: r.get(18),
                        document: r.get(19),
                    })
                })
                .collect()
        })
    }

    /// Ledger entries of one account with their transaction, posted in `[from, to)`, oldest
    /// first; `funds_only` keeps the customer's side (cash, coupons, cards).
    pub async fn ledger_entries(
        &mut self,
        account_id: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        funds_only: bool,
    ) -> Result<Vec<(LedgerTxRow, LedgerEntryRow)>> {
        on!(self, conn => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT t.account_id, t.tx_no, t.kind, t.posted_at, t.document, t.remark, e.entry_no, e.book, e.fund_id, e.amount, e.balance_after \
                 FROM ledger_tx t JOIN ledger_entry e ON e.account_id = t.account_id AND e.tx_no = t.tx_no WHERE t.account_id = ",
            );
            q.push_bind(account_id.to_owned());
            if let Some(from) = from {
                q.push(" AND t.posted_at >= ").push_bind(micros(from));
            }
            if let Some(to) = to {
                q.push(" AND t.posted_at < ").push_bind(micros(to));
            }
            if funds_only {
                q.push(" AND e.book IN ('cash', 'coupon', 'card')");
            }
            q.push(" ORDER BY t.tx_no, e.entry_no");
            let rows = q.build().fetch_all(&mut *conn).await?;
            rows.iter()
                .map(|r| {
                    let tx = LedgerTxRow {
                        account_id: r.get(0),
                        tx_no: r.get(1),
                        kind: r.get(2),
                        posted_at: from_micros(r.get(3))?,
                        document: r.get(4),
                        remark: r.get(5),
                    };
                    let entry = LedgerEntryRow {
                        account_id: tx.account_id.clone(),
                        tx_no: tx.tx_no,
                        entry_no: r.get(6),
                        book: r.get(7),
                        fund_id: r.get(8),
                        amount: r.get(9),
                        balance_after: r.get(10),
                    };
                    Ok((tx, entry))
                })
                .collect()
        })
    }

    pub async fn events(&mut self, account_id: &str) -> Result<Vec<EventRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, event_no, kind, happened_on, created_at, detail FROM account_event WHERE account_id = $1 ORDER BY event_no",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(event_row).collect()
        })
    }

    // ---- whole-store checks (verify) ---------------------------------------------------------

    /// Transactions whose postings do not sum to zero, and how many transactions there are.
    pub async fn unbalanced_transactions(&mut self) -> Result<(i64, Vec<(String, i64, i64)>)> {
        on!(self, conn => {
            let count: i64 = sqlx::query::<Db>("SELECT COUNT(*) FROM ledger_tx").fetch_one(&mut *conn).await?.get(0);
            let rows =
                sqlx::query::<Db>("SELECT account_id, tx_no, CAST(SUM(amount) AS BIGINT) FROM ledger_entry GROUP BY account_id, tx_no HAVING CAST(SUM(amount) AS BIGINT) <> 0")
                    .fetch_all(&mut *conn)
                    .await?;
            Ok((count, rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()))
        })
    }

    /// Every fund entry in posting order per fund: (account, book, fund id, amount, balance after).
    pub async fn fund_entries(&mut self) -> Result<Vec<(String, String, i64, i64, Option<i64>)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, book, fund_id, amount, balance_after FROM ledger_entry WHERE book IN ('cash', 'coupon', 'card') \
                 ORDER BY account_id, book, fund_id, tx_no, entry_no",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect())
        })
    }

    /// Every account's stored cash.
    pub async fn all_cash(&mut self) -> Result<Vec<(String, i64)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT account_id, cash FROM billing_account ORDER BY account_id").fetch_all(&mut *conn).await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Every instrument of every account.
    pub async fn all_instruments(&mut self) -> Result<Vec<InstrumentRow>> {
        on!(self, conn => {
            let sql = format!("SELECT {} FROM instrument ORDER BY account_id, instrument_id", Self::INSTRUMENT_COLUMNS);
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::instrument_row).collect()
        })
    }

    /// Lines whose amount differs from their deductions plus arrears, and how many lines there are.
    pub async fn unsettled_lines(&mut self) -> Result<(i64, Vec<(String, i64)>)> {
        on!(self, conn => {
            let count: i64 = sqlx::query::<Db>("SELECT COUNT(*) FROM expense_line").fetch_one(&mut *conn).await?.get(0);
            let rows = sqlx::query::<Db>("SELECT account_id, line_no FROM expense_line WHERE gross <> coupon + card + cash + arrears")
                .fetch_all(&mut *conn)
                .await?;
            Ok((count, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
        })
    }

    /// Line numbers an account uses for more than one line (the key is account, billing day
    /// and line: the database does not keep numbers unique by itself).
    pub async fn reused_line_numbers(&mut self) -> Result<Vec<(String, i64)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, line_no FROM expense_line GROUP BY account_id, line_no HAVING COUNT(*) > 1 ORDER BY account_id, line_no",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Expense line totals per account and month, and running totals per account and month.
    pub async fn month_totals_everywhere(&mut self) -> Result<(Vec<(String, String, TotalsRow)>, Vec<(String, String, TotalsRow)>)> {
        on!(self, conn => {
            let totals = |r: &<Db as sqlx::Database>::Row| r.totals_at(2);
            let lines = sqlx::query::<Db>(
                "SELECT account_id, SUBSTR(billing_day, 1, 7), CAST(SUM(gross) AS BIGINT), CAST(SUM(rounding_discount) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) \
                 FROM expense_line GROUP BY account_id, SUBSTR(billing_day, 1, 7)",
            )
            .fetch_all(&mut *conn)
            .await?;
            let invoiced = sqlx::query::<Db>(
                "SELECT account_id, month, CAST(SUM(gross) AS BIGINT), CAST(SUM(rounding_discount) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) \
                 FROM month_line_total GROUP BY account_id, month",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok((
                lines.iter().map(|r| (r.get(0), r.get(1), totals(r))).collect(),
                invoiced.iter().map(|r| (r.get(0), r.get(1), totals(r))).collect(),
            ))
        })
    }

    /// Every invoice of every account.
    pub async fn all_invoices(&mut self) -> Result<Vec<InvoiceRow>> {
        let ids: Vec<String> = on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT DISTINCT account_id FROM invoice ORDER BY account_id").fetch_all(&mut *conn).await?;
            rows.iter().map(|r| r.get(0)).collect()
        });
        let mut all = Vec::new();
        for id in ids {
            all.extend(self.invoices(&id).await?);
        }
        Ok(all)
    }

    /// Daily bills whose total differs from the sum of the lines they settled.
    pub async fn mismatched_daily_bills(&mut self) -> Result<(i64, Vec<(String, String)>)> {
        on!(self, conn => {
            let count: i64 = sqlx::query::<Db>("SELECT COUNT(*) FROM daily_bill").fetch_one(&mut *conn).await?.get(0);
            let rows = sqlx::query::<Db>(
                "SELECT b.account_id, b.billing_day FROM daily_bill b WHERE b.total <> (SELECT COALESCE(CAST(SUM(l.gross) AS BIGINT), 0) FROM expense_line l \
                 WHERE l.account_id = b.account_id AND l.document = 'DB-' || REPLACE(b.billing_day, '-', ''))",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok((count, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
        })
    }

    /// Every account's daily bill total for one billing day.
    /// What every account's pay-as-you-go lines of one billing day came to: gross, coupon,
    /// card, cash and arrears, in minor units, by account id.
    pub async fn day_paid(&mut self, day: Date) -> Result<Vec<(String, [i64; 5])>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, CAST(SUM(gross) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), \
                 CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) FROM expense_line WHERE billing_day = $1 AND charge_type = 'pay_as_you_go' \
                 GROUP BY account_id ORDER BY account_id",
            )
            .bind(day_text(day))
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)])).collect())
        })
    }

    pub async fn count_accounts(&mut self) -> Result<i64> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT COUNT(*) FROM billing_account").fetch_one(&mut *conn).await?;
            Ok(row.get(0))
        })
    }

    pub async fn insert_events(&mut self, events: &[EventRow]) -> Result<()> {
        bulk!(self, events, "", "account event")
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
