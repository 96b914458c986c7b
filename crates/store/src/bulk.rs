//! Bulk writes of the nightly run: each table's row is defined once (`BulkRow`: its columns
//! and how it binds them) and written by the driver's fastest path. On SQLite, one prepared
//! statement is executed per row on the transaction's own connection (through the handle sqlx
//! lends, with rusqlite's safe statements), values bound in place: no SQL text per chunk and
//! no copy of every value through sqlx's worker channel, which cost ~20 µs per expense line.
//! On PostgreSQL, rows go in multi-row INSERTs of `INSERT_CHUNK` rows.

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::QueryBuilder;

use crate::{INSERT_CHUNK, RecordClaim, Result, StoreError, day_text, is_unique_violation, micros};

/// Receives a row's values in column order.
pub(crate) trait Binder {
    fn int(&mut self, v: i64);
    fn opt_int(&mut self, v: Option<i64>);
    fn text(&mut self, v: &str);
    /// A calendar day, stored as ISO text (`2026-11-01`).
    fn day(&mut self, d: Date);
    fn opt_day(&mut self, d: Option<Date>);
    /// An instant, stored as microseconds since the epoch.
    fn instant(&mut self, t: Timestamp) {
        self.int(micros(t))
    }
}

/// A row of one table, written in bulk.
pub(crate) trait BulkRow {
    /// `table (column, ...)`.
    const INTO: &'static str;
    const COLUMNS: usize;
    fn bind(&self, b: &mut impl Binder);
    /// The row's key as an error message names it.
    fn key(&self) -> String;
}

/// `YYYY-MM-DD` without an allocation (years 0 to 9999; others as jiff writes them).
fn day_bytes(d: Date) -> Option<[u8; 10]> {
    let (y, m, dd) = (d.year(), d.month(), d.day());
    if !(0..=9999).contains(&y) {
        return None;
    }
    let digit = |v: i32| b'0' + v as u8;
    let y = i32::from(y);
    let (m, dd) = (i32::from(m), i32::from(dd));
    Some([
        digit(y / 1000),
        digit(y / 100 % 10),
        digit(y / 10 % 10),
        digit(y % 10),
        b'-',
        digit(m / 10),
        digit(m % 10),
        b'-',
        digit(dd / 10),
        digit(dd % 10),
    ])
}

struct SqliteBinder<'s, 'c> {
    stmt: &'s mut rusqlite::Statement<'c>,
    at: usize,
    failed: Option<rusqlite::Error>,
}

impl SqliteBinder<'_, '_> {
    fn put(&mut self, v: impl rusqlite::ToSql) {
        self.at += 1;
        if let Err(e) = self.stmt.raw_bind_parameter(self.at, v) {
            self.failed.get_or_insert(e);
        }
    }
}

impl Binder for SqliteBinder<'_, '_> {
    fn int(&mut self, v: i64) {
        self.put(v)
    }
    fn opt_int(&mut self, v: Option<i64>) {
        self.put(v)
    }
    fn text(&mut self, v: &str) {
        self.put(v)
    }
    fn day(&mut self, d: Date) {
        match day_bytes(d) {
            Some(bytes) => self.put(std::str::from_utf8(&bytes).expect("ASCII digits")),
            None => self.put(day_text(d)),
        }
    }
    fn opt_day(&mut self, d: Option<Date>) {
        match d {
            Some(d) => self.day(d),
            None => self.put(rusqlite::types::Null),
        }
    }
}

struct PgBinder<'b> {
    row: sqlx::query_builder::Separated<'b, sqlx::Postgres, &'static str>,
}

impl Binder for PgBinder<'_> {
    fn int(&mut self, v: i64) {
        self.row.push_bind(v);
    }
    fn opt_int(&mut self, v: Option<i64>) {
        self.row.push_bind(v);
    }
    fn text(&mut self, v: &str) {
        self.row.push_bind(v);
    }
    fn day(&mut self, d: Date) {
        self.row.push_bind(day_text(d));
    }
    fn opt_day(&mut self, d: Option<Date>) {
        self.row.push_bind(d.map(day_text));
    }
}

/// Reads rows on SQLite through the transaction's connection, as `sqlite` writes them: each
/// row mapped in place, without a copy of every value through sqlx's worker channel.
pub(crate) async fn sqlite_rows<T>(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
    binds: &[&str],
    map: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut found = Vec::new();
    sqlite_rows_into(conn, sql, binds, &mut found, map).await?;
    Ok(found)
}

/// `sqlite_rows`, appending to `found`.
pub(crate) async fn sqlite_rows_into<T>(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
    binds: &[&str],
    found: &mut Vec<T>,
    mut map: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<()> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: as in `sqlite`.
    let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let mut stmt = db.prepare(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(binds))?;
    while let Some(row) = rows.next()? {
        found.push(map(row)?);
    }
    Ok(())
}

impl<T: rusqlite::types::FromSql> crate::Col<T> for rusqlite::Row<'_> {
    fn col(&self, i: usize) -> T {
        self.get(i).unwrap_or_else(|e| panic!("column {i} of a row the store wrote: {e}"))
    }
}

/// A primary-key or unique violation (not any constraint: a NOT NULL failure is no duplicate).
fn is_sqlite_unique(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(f.extended_code, SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE))
}

/// Writes `rows` on SQLite; `suffix` follows the VALUES clause (an `ON CONFLICT` clause). Rows
/// go in `GROUP_PARAMETERS / columns` to a statement (a statement's own work, its cursor and
/// program start, is then paid once per group), the rest one by one. A group that fails on a
/// duplicate key is undone whole by SQLite and written again one row at a time, so the error
/// names the row: a duplicate key of a `what` row is `Duplicate`.
pub(crate) async fn sqlite<R: BulkRow>(conn: &mut sqlx::SqliteConnection, rows: &[R], suffix: &str, what: &'static str) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let group = (GROUP_PARAMETERS / R::COLUMNS).max(1);
    let mut handle = conn.lock_handle().await?;
    // SAFETY: as in `sqlite_each`.
    let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let insert = |rows: usize| format!("INSERT INTO {} VALUES {} {suffix}", R::INTO, placeholder_rows(R::COLUMNS, rows));
    let mut many = if rows.len() >= group { Some(db.prepare(&insert(group))?) } else { None };
    let mut one = None;
    for chunk in rows.chunks(group) {
        if let Some(many) = many.as_mut().filter(|_| chunk.len() == group) {
            let mut binder = SqliteBinder { stmt: many, at: 0, failed: None };
            for row in chunk {
                row.bind(&mut binder);
            }
            debug_assert_eq!(binder.at, R::COLUMNS * group, "{} binds every column", R::INTO);
            if let Some(e) = binder.failed {
                return Err(e.into());
            }
            match many.raw_execute() {
                Ok(_) => continue,
                Err(e) if is_sqlite_unique(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let one = match &mut one {
            Some(stmt) => stmt,
            None => one.insert(db.prepare(&insert(1))?),
        };
        each_row(one, chunk, what)?;
    }
    Ok(())
}

/// Parameters bound to one multi-row statement on SQLite.
const GROUP_PARAMETERS: usize = 240;

/// `(?1, ?2, ?3), (?4, ?5, ?6), ...`: `rows` rows of `columns` parameters.
fn placeholder_rows(columns: usize, rows: usize) -> String {
    (0..rows).map(|r| format!("({})", parameters(r * columns + 1, columns))).collect::<Vec<_>>().join(", ")
}

/// `?first, ?first+1, ...`: `n` SQLite parameters.
pub(crate) fn parameters(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// Executes `stmt` once per row, each bound to its parameters `?1`, `?2`, ... in column order.
fn each_row<R: BulkRow>(stmt: &mut rusqlite::Statement<'_>, rows: &[R], what: &'static str) -> Result<()> {
    for row in rows {
        let mut binder = SqliteBinder { stmt, at: 0, failed: None };
        row.bind(&mut binder);
        debug_assert_eq!(binder.at, R::COLUMNS, "{} binds every column", R::INTO);
        if let Some(e) = binder.failed {
            return Err(e.into());
        }
        if let Err(e) = stmt.raw_execute() {
            return Err(if is_sqlite_unique(&e) { StoreError::Duplicate { what, key: row.key() } } else { e.into() });
        }
    }
    Ok(())
}

/// Runs `sql` on SQLite once per row through one prepared statement, each row bound to its
/// parameters `?1`, `?2`, ... in column order.
pub(crate) async fn sqlite_each<R: BulkRow>(conn: &mut sqlx::SqliteConnection, sql: &str, rows: &[R], what: &'static str) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is sqlx's open connection, locked for us while `handle` lives (its
    // worker thread cannot touch it meanwhile); the rusqlite view of it neither closes it nor
    // outlives this function, and finalizes its statement before returning.
    let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let mut stmt = db.prepare(sql)?;
    each_row(&mut stmt, rows, what)
}

/// Writes `rows` on PostgreSQL in multi-row INSERTs; `suffix` follows each VALUES list.
pub(crate) async fn postgres<R: BulkRow>(conn: &mut sqlx::PgConnection, rows: &[R], suffix: &str, what: &'static str) -> Result<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(format!("INSERT INTO {} ", R::INTO));
        q.push_values(chunk, |row, r| r.bind(&mut PgBinder { row }));
        q.push(" ").push(suffix);
        if let Err(e) = q.build().execute(&mut *conn).await {
            return Err(if is_unique_violation(&e) {
                let keys: Vec<String> = chunk.iter().map(BulkRow::key).collect();
                StoreError::Duplicate { what, key: format!("one of {}", keys.join(", ")) }
            } else {
                e.into()
            });
        }
    }
    Ok(())
}

/// Claims record ids on SQLite: each id is inserted with its fingerprint unless stored
/// before; the answer holds, in order, `None` for an id new here and the stored fingerprint
/// for one seen before.
pub(crate) async fn sqlite_claims(conn: &mut sqlx::SqliteConnection, claims: &[RecordClaim<'_>]) -> Result<Vec<Option<i64>>> {
    let mut found = vec![None; claims.len()];
    if claims.is_empty() {
        return Ok(found);
    }
    let mut handle = conn.lock_handle().await?;
    // SAFETY: as in `sqlite`.
    let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let mut insert = db.prepare(&format!("INSERT INTO {CLAIM_INTO} VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"))?;
    let mut stored = db.prepare("SELECT fingerprint FROM usage_record_id WHERE account_id = ?1 AND record_id = ?2")?;
    use rusqlite::OptionalExtension;
    // New ids go in `CLAIM_GROUP` at a time, in one statement that stores all or none of them
    // (a stored id fails it whole); a group that failed, and the group after it, are claimed
    // one id at a time. A file sent again is all duplicates: after a duplicate, the next id
    // is looked up before it is inserted (one B-tree seek for another duplicate, instead of a
    // failed insert and then the look-up); after a new id, it is inserted straight away.
    // Prepared only when a whole group can be claimed (an API call often sends a few records).
    let mut many = if claims.len() >= CLAIM_GROUP {
        Some(db.prepare(&format!("INSERT INTO {CLAIM_INTO} VALUES {}", placeholder_rows(3, CLAIM_GROUP)))?)
    } else {
        None
    };
    let (mut after_duplicate, mut clean) = (false, true);
    for (g, group) in claims.chunks(CLAIM_GROUP).enumerate() {
        if let Some(many) = many.as_mut().filter(|_| clean && group.len() == CLAIM_GROUP) {
            let mut at = 0;
            for c in group {
                many.raw_bind_parameter(at + 1, c.account_id)?;
                many.raw_bind_parameter(at + 2, c.record_id)?;
                many.raw_bind_parameter(at + 3, c.fingerprint)?;
                at += 3;
            }
            match many.raw_execute() {
                Ok(_) => continue,
                Err(e) if is_sqlite_unique(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        clean = true;
        for (n, c) in group.iter().enumerate() {
            let key = (c.account_id, c.record_id);
            let seen = if after_duplicate { stored.query_row(key, |r| r.get(0)).optional()? } else { None };
            let answer = match seen {
                Some(fingerprint) => Some(fingerprint),
                None => {
                    insert.raw_bind_parameter(1, c.account_id)?;
                    insert.raw_bind_parameter(2, c.record_id)?;
                    insert.raw_bind_parameter(3, c.fingerprint)?;
                    match insert.raw_execute()? {
                        1 => None,
                        _ => Some(stored.query_row(key, |r| r.get(0))?),
                    }
                }
            };
            after_duplicate = answer.is_some();
            clean &= answer.is_none();
            found[g * CLAIM_GROUP + n] = answer;
        }
    }
    Ok(found)
}

/// Record ids claimed by one statement on SQLite (3 parameters each).
const CLAIM_GROUP: usize = 64;

/// Claims record ids on PostgreSQL, as `sqlite_claims` answers: a multi-row INSERT that skips
/// stored ids and returns the ones it wrote, then one read of the others' fingerprints.
pub(crate) async fn postgres_claims(conn: &mut sqlx::PgConnection, claims: &[RecordClaim<'_>]) -> Result<Vec<Option<i64>>> {
    use sqlx::Row;
    let mut found = Vec::with_capacity(claims.len());
    for chunk in claims.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(format!("INSERT INTO {CLAIM_INTO} "));
        q.push_values(chunk, |mut row, c| {
            row.push_bind(c.account_id).push_bind(c.record_id).push_bind(c.fingerprint);
        });
        q.push(" ON CONFLICT DO NOTHING RETURNING account_id, record_id");
        let rows = q.build().fetch_all(&mut *conn).await?;
        let written: std::collections::HashSet<(&str, &str)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let seen: Vec<&RecordClaim<'_>> = chunk.iter().filter(|c| !written.contains(&(c.account_id, c.record_id))).collect();
        let mut stored_rows = Vec::new();
        if !seen.is_empty() {
            let mut q = QueryBuilder::<sqlx::Postgres>::new(
                "SELECT account_id, record_id, fingerprint FROM usage_record_id WHERE (account_id, record_id) IN (",
            );
            let mut list = q.separated(", ");
            for c in &seen {
                list.push("(")
                    .push_bind_unseparated(c.account_id)
                    .push_unseparated(", ")
                    .push_bind_unseparated(c.record_id)
                    .push_unseparated(")");
            }
            q.push(")");
            stored_rows = q.build().fetch_all(&mut *conn).await?;
        }
        let stored: std::collections::HashMap<(&str, &str), i64> = stored_rows.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))).collect();
        found.extend(chunk.iter().map(|c| {
            let key = (c.account_id, c.record_id);
            (!written.contains(&key)).then(|| *stored.get(&key).expect("an id not written is stored"))
        }));
    }
    Ok(found)
}

const CLAIM_INTO: &str = "usage_record_id (account_id, record_id, fingerprint)";

/// A group of expense lines as `expense_line_group` stores them (migration 0007): the lines of
/// one account, billing day, usage day and document, as a JSON array of arrays.
pub(crate) struct LineGroup {
    account_id: String,
    billing_day: Date,
    first_line: i64,
    usage_day: Date,
    document: String,
    line_count: i64,
    lines: String,
    /// `[[item, gross], ...]` in item order (migration 0011).
    item_gross: String,
}

impl LineGroup {
    /// Lines in writing order, grouped: each run of consecutive lines with the same account,
    /// billing day, usage day and document is one group.
    pub(crate) fn of<S: AsRef<str>>(lines: &[crate::ExpenseLineRow<S>]) -> Vec<LineGroup> {
        lines
            .chunk_by(|a, b| {
                a.account_id.as_ref() == b.account_id.as_ref()
                    && a.billing_day == b.billing_day
                    && a.usage_day == b.usage_day
                    && a.document.as_ref() == b.document.as_ref()
            })
            .map(|run| {
                let first = &run[0];
                let account_id = first.account_id.as_ref();
                assert!(run.windows(2).all(|w| w[0].line_no < w[1].line_no), "{account_id}: lines are written in number order");
                LineGroup {
                    account_id: account_id.to_owned(),
                    billing_day: first.billing_day,
                    first_line: first.line_no,
                    usage_day: first.usage_day,
                    document: first.document.as_ref().to_owned(),
                    line_count: run.len() as i64,
                    lines: lines_json(run),
                    item_gross: item_gross_json(run),
                }
            })
            .collect()
    }
}

/// A stored line group's own columns, to read its lines back (the `expense_line` view's work,
/// done in Rust for the few lines a page needs).
pub(crate) struct GroupOfLines<'a> {
    pub account_id: &'a str,
    pub billing_day: Date,
    pub usage_day: Date,
    pub document: &'a str,
    pub first_line: i64,
}

/// A line as a group's JSON holds it (see `lines_json`).
type StoredLine = (i64, String, String, String, String, i64, i64, i64, String, Option<i64>, i64, i64, i64, i64, i64, i64);

/// The first values of a stored line (number, workspace, item, dimensions, charge type), the
/// rest passed over unread.
struct LineHead<'a> {
    line_no: i64,
    workspace_id: std::borrow::Cow<'a, str>,
    item: std::borrow::Cow<'a, str>,
    charge_type: std::borrow::Cow<'a, str>,
}

impl<'de> serde::Deserialize<'de> for LineHead<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Head;
        /// A text borrowed from the input when it has no escapes.
        #[derive(serde::Deserialize)]
        struct Text<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);
        impl<'de> serde::de::Visitor<'de> for Head {
            type Value = LineHead<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an expense line array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                let missing = || serde::de::Error::custom("a line ends before its charge type");
                let line_no: i64 = seq.next_element()?.ok_or_else(missing)?;
                let Text(workspace_id) = seq.next_element()?.ok_or_else(missing)?;
                let Text(item) = seq.next_element()?.ok_or_else(missing)?;
                let _dims: serde::de::IgnoredAny = seq.next_element()?.ok_or_else(missing)?;
                let Text(charge_type) = seq.next_element()?.ok_or_else(missing)?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(LineHead { line_no, workspace_id, item, charge_type })
            }
        }
        d.deserialize_seq(Head)
    }
}

impl GroupOfLines<'_> {
    /// Appends to `out` the group's lines that `filter` keeps (its workspace, item and charge
    /// type; the days are the caller's), numbered below `below` when given, newest first,
    /// until `out` holds `limit` lines. Only the lines looked at are parsed whole.
    pub(crate) fn newest(
        &self,
        text: &str,
        filter: &crate::LineFilter,
        below: Option<i64>,
        limit: usize,
        out: &mut Vec<crate::ExpenseLineRow>,
    ) -> Result<()> {
        let corrupt = |e: serde_json::Error| {
            StoreError::Corrupt(format!("lines of {} {} from line {}: {e}", self.account_id, self.billing_day, self.first_line))
        };
        let raw: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(corrupt)?;
        let keep = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let filtered = filter.workspace.is_some() || filter.item.is_some() || filter.charge_type.is_some();
        // A filter's values as every JSON writer writes them (plain printable ASCII, nothing to
        // escape): a line without one of them in its text cannot match, and is passed over
        // unparsed.
        let verbatim: Vec<String> = [&filter.workspace, &filter.item, &filter.charge_type]
            .into_iter()
            .flatten()
            .filter(|v| v.bytes().all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'/')))
            .map(|v| format!("\"{v}\""))
            .collect();
        let finders: Vec<memchr::memmem::Finder> = verbatim.iter().map(|v| memchr::memmem::Finder::new(v.as_bytes())).collect();
        for line in raw.iter().rev() {
            if out.len() >= limit {
                break;
            }
            if finders.iter().any(|f| f.find(line.get().as_bytes()).is_none()) {
                continue;
            }
            if filtered {
                // The line's number and keys first: most lines of a filtered page are passed over.
                let head: LineHead = serde_json::from_str(line.get()).map_err(corrupt)?;
                if below.is_some_and(|b| head.line_no >= b)
                    || !keep(&filter.workspace, &head.workspace_id)
                    || !keep(&filter.item, &head.item)
                    || !keep(&filter.charge_type, &head.charge_type)
                {
                    continue;
                }
            }
            let l: StoredLine = serde_json::from_str(line.get()).map_err(corrupt)?;
            let (line_no, workspace_id, item, dims, charge_type, quantity, covered, chargeable, priced_dims, unit_price) =
                (l.0, l.1, l.2, l.3, l.4, l.5, l.6, l.7, l.8, l.9);
            if below.is_some_and(|b| line_no >= b)
                || !keep(&filter.workspace, &workspace_id)
                || !keep(&filter.item, &item)
                || !keep(&filter.charge_type, &charge_type)
            {
                continue;
            }
            out.push(crate::ExpenseLineRow {
                account_id: self.account_id.to_owned(),
                line_no,
                billing_day: self.billing_day,
                usage_day: self.usage_day,
                workspace_id,
                item,
                dims,
                charge_type,
                quantity,
                covered,
                chargeable,
                priced_dims,
                unit_price,
                money: crate::TotalsRow { gross: l.10, rounding_discount: l.11, coupon: l.12, card: l.13, cash: l.14, arrears: l.15 },
                document: self.document.to_owned(),
            });
        }
        Ok(())
    }
}

/// The JSON of a group's lines, in the column order the `expense_line` view reads.
fn lines_json<S: AsRef<str>>(run: &[crate::ExpenseLineRow<S>]) -> String {
    let mut out = String::with_capacity(run.len() * 128);
    out.push('[');
    for (i, l) in run.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        json_int(&mut out, l.line_no);
        for text in [&l.workspace_id, &l.item, &l.dims, &l.charge_type] {
            out.push(',');
            json_text(&mut out, text.as_ref());
        }
        for n in [l.quantity, l.covered, l.chargeable] {
            out.push(',');
            json_int(&mut out, n);
        }
        out.push(',');
        json_text(&mut out, l.priced_dims.as_ref());
        match l.unit_price {
            Some(price) => {
                out.push(',');
                json_int(&mut out, price);
            }
            None => out.push_str(",null"),
        }
        for n in [l.money.gross, l.money.rounding_discount, l.money.coupon, l.money.card, l.money.cash, l.money.arrears] {
            out.push(',');
            json_int(&mut out, n);
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// The JSON of a group's gross by item: `[[item, gross], ...]` in item order.
fn item_gross_json<S: AsRef<str>>(run: &[crate::ExpenseLineRow<S>]) -> String {
    let mut sums: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for l in run {
        *sums.entry(l.item.as_ref()).or_insert(0) += l.money.gross;
    }
    let mut out = String::with_capacity(sums.len() * 24 + 2);
    out.push('[');
    for (i, (item, gross)) in sums.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        json_text(&mut out, item);
        out.push(',');
        json_int(&mut out, gross);
        out.push(']');
    }
    out.push(']');
    out
}

/// An integer in JSON.
fn json_int(out: &mut String, n: i64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// A JSON string (RFC 8259): quotes, backslashes and control characters escaped. Ids and codes
/// need none of it, and are copied whole.
fn json_text(out: &mut String, text: &str) {
    out.push('"');
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push_str(text);
    } else {
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    use std::fmt::Write;
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

impl BulkRow for LineGroup {
    const INTO: &'static str =
        "expense_line_group (account_id, billing_day, first_line, usage_day, document, line_count, lines, item_gross)";
    const COLUMNS: usize = 8;
    fn bind(&self, b: &mut impl Binder) {
        b.text(&self.account_id);
        b.day(self.billing_day);
        b.int(self.first_line);
        b.day(self.usage_day);
        b.text(&self.document);
        b.int(self.line_count);
        b.text(&self.lines);
        b.text(&self.item_gross);
    }
    fn key(&self) -> String {
        format!("{}/{}/line {}", self.account_id, self.billing_day, self.first_line)
    }
}

/// One month's running totals of an account as `month_total_group` stores them (migration
/// 0008): by workspace × item × charge type, as JSON.
pub(crate) struct MonthTotalGroup<'a> {
    pub account_id: &'a str,
    pub month: String,
    pub totals: String,
}

/// A running total's key: workspace, item, charge type.
pub(crate) type TotalKey = (String, String, String);

/// What an account-month's row does when it exists: the row written replaces it (its totals
/// were read and added to in the same transaction).
pub(crate) const MONTH_TOTAL_REPLACES: &str = "ON CONFLICT (account_id, month) DO UPDATE SET totals = excluded.totals";

impl BulkRow for MonthTotalGroup<'_> {
    const INTO: &'static str = "month_total_group (account_id, month, totals)";
    const COLUMNS: usize = 3;
    fn bind(&self, b: &mut impl Binder) {
        b.text(self.account_id);
        b.text(&self.month);
        b.text(&self.totals);
    }
    fn key(&self) -> String {
        format!("{}/{}", self.account_id, self.month)
    }
}

/// An account-month's totals as JSON: `[[workspace, item, charge type, gross,
/// rounding_discount, coupon, card, cash, arrears], ...]` in key order.
pub(crate) fn group_totals_json(totals: &std::collections::BTreeMap<TotalKey, crate::TotalsRow>) -> String {
    let mut out = String::with_capacity(totals.len() * 96);
    out.push('[');
    for (i, ((workspace, item, charge_type), t)) in totals.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for text in [workspace, item, charge_type] {
            json_text(&mut out, text);
            out.push(',');
        }
        json_int(&mut out, t.gross);
        for n in [t.rounding_discount, t.coupon, t.card, t.cash, t.arrears] {
            out.push(',');
            json_int(&mut out, n);
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// Reads what `group_totals_json` wrote for `account_id`'s `month`; anything else there is
/// corrupt storage.
pub(crate) fn parse_group_totals(
    account_id: &str,
    month: &str,
    text: &str,
) -> Result<std::collections::BTreeMap<TotalKey, crate::TotalsRow>> {
    type Stored = (String, String, String, i64, i64, i64, i64, i64, i64);
    let stored: Vec<Stored> =
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("month totals of {account_id} {month}: {e}")))?;
    Ok(stored
        .into_iter()
        .map(|(workspace, item, charge_type, gross, rounding_discount, coupon, card, cash, arrears)| {
            ((workspace, item, charge_type), crate::TotalsRow { gross, rounding_discount, coupon, card, cash, arrears })
        })
        .collect())
}

/// An instrument's new balance and state, as `UPDATE instrument` binds them.
impl BulkRow for crate::InstrumentBalance {
    const INTO: &'static str = "instrument (account_id, instrument_id, balance, active)";
    const COLUMNS: usize = 4;
    fn bind(&self, b: &mut impl Binder) {
        b.text(&self.account_id);
        b.int(self.instrument_id);
        b.int(self.balance);
        b.int(i64::from(self.active));
    }
    fn key(&self) -> String {
        format!("{}/{}", self.account_id, self.instrument_id)
    }
}

/// What the nightly run writes back of an account, as `update_accounts` binds it.
impl BulkRow for crate::AccountRow {
    const INTO: &'static str = "billing_account (account_id, billed_through, cash, state, overdue_since, next_line, next_tx, \
                                next_instrument, next_invoice, next_event, next_package, ledger_head)";
    const COLUMNS: usize = 12;
    fn bind(&self, b: &mut impl Binder) {
        let c = &self.counters;
        b.text(&self.account_id);
        b.opt_day(self.billed_through);
        b.int(self.cash);
        b.text(&self.state);
        b.opt_day(self.overdue_since);
        for counter in [c.next_line, c.next_tx, c.next_instrument, c.next_invoice, c.next_event, c.next_package] {
            b.int(counter);
        }
        b.text(&self.ledger_head);
    }
    fn key(&self) -> String {
        self.account_id.clone()
    }
}

impl BulkRow for crate::DailyBillRow {
    const INTO: &'static str = "daily_bill (account_id, billing_day, settled_at, line_count, total)";
    const COLUMNS: usize = 5;
    fn bind(&self, b: &mut impl Binder) {
        b.text(&self.account_id);
        b.day(self.billing_day);
        b.instant(self.settled_at);
        b.int(self.line_count);
        b.int(self.total);
    }
    fn key(&self) -> String {
        format!("{}/{}", self.account_id, self.billing_day)
    }
}

impl BulkRow for crate::LedgerTxRow {
    const INTO: &'static str = "ledger_tx (account_id, tx_no, kind, posted_at, document, remark, hash)";
    const COLUMNS: usize = 7;
    fn bind(&self, b: &mut impl Binder) {
        b.text(&self.account_id);
        b.int(self.tx_no);
        b.text(&self.kind);
        b.instant(self.posted_at);
        b.text(&self.document);
        b.text(&self.remark);
        b.text(&self.hash);
    }
    fn key(&self) -> String {
        format!("{}/{}", self.account_id, self.tx_no)
    }
}

impl BulkRow for crate::LedgerEntryRow {
    const INTO: &'static str = "ledger_entry (account_id, tx_no, entry_no, book, fund_id, amount, balance_after)";
    const COLUMNS: usize = 7;
    fn bind(&self, b: &mut impl Binder) {
        b.text(&self.account_id);
        b.int(self.tx_no);
        b.int(self.entry_no);
        b.text(&self.book);
        b.int(self.fund_id);
        b.int(self.amount);
        b.opt_int(self.balance_after);
    }
    fn key(&self) -> String {
        format!("{}/{}/{}", self.account_id, self.tx_no, self.entry_no)
    }
}

impl BulkRow for crate::EventRow {
    const INTO: &'static str = "account_event (account_id, event_no, kind, happened_on, created_at, detail)";
    const COLUMNS: usize = 6;
    fn bind(&self, b: &mut impl Binder) {
        b.text(&self.account_id);
        b.int(self.event_no);
        b.text(&self.kind);
        b.day(self.happened_on);
        b.instant(self.created_at);
        b.text(&self.detail);
    }
    fn key(&self) -> String {
        format!("{}/{}", self.account_id, self.event_no)
    }
}

impl BulkRow for crate::UsageDailyRow {
    const INTO: &'static str = "usage_daily (account_id, billing_day, workspace_id, item, dims, quantity, late)";
    const COLUMNS: usize = 7;
    fn bind(&self, b: &mut impl Binder) {
        b.text(&self.account_id);
        b.day(self.billing_day);
        b.text(&self.workspace_id);
        b.text(&self.item);
        b.text(&self.dims);
        b.int(self.quantity);
        b.int(i64::from(self.late));
    }
    fn key(&self) -> String {
        format!("{}/{}/{}/{}/{}", self.account_id, self.billing_day, self.workspace_id, self.item, self.dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters are numbered across a statement's rows, from where the caller's own end.
    #[test]
    fn placeholders_number_every_row() {
        assert_eq!(placeholder_rows(3, 2), "(?1, ?2, ?3), (?4, ?5, ?6)");
        assert_eq!(placeholder_rows(2, 1), "(?1, ?2)");
        assert_eq!(parameters(3, 2), "?3, ?4");
    }

    /// An account-month's totals read back exactly as written, texts JSON must escape
    /// included, in key order.
    #[test]
    fn month_totals_round_trip_through_json() {
        let t = |gross: i64| crate::TotalsRow { gross, rounding_discount: -gross, coupon: 1, card: 2, cash: gross - 3, arrears: 0 };
        let key = |w: &str, i: &str, c: &str| (w.to_owned(), i.to_owned(), c.to_owned());
        let totals: std::collections::BTreeMap<TotalKey, crate::TotalsRow> = [
            (key("w \"1\" \\ \n \u{1f} 工作区", "sms", "pay_as_you_go"), t(9_000_000_000_000)),
            (key("w2", "storage", "adjustment"), t(-5)),
            (key("w2", "storage", "pay_as_you_go"), t(0)),
        ]
        .into_iter()
        .collect();
        let json = group_totals_json(&totals);
        assert_eq!(parse_group_totals("a", "2026-10", &json).unwrap(), totals);
        assert_eq!(group_totals_json(&Default::default()), "[]");
        assert!(parse_group_totals("a", "2026-10", "[[\"w\", 1]]").is_err());
    }

    #[test]
    fn days_are_written_as_jiff_writes_them() {
        for d in
            [jiff::civil::date(2026, 11, 1), jiff::civil::date(1, 1, 9), jiff::civil::date(9999, 12, 31), jiff::civil::date(2024, 2, 29)]
        {
            assert_eq!(std::str::from_utf8(&day_bytes(d).unwrap()).unwrap(), day_text(d));
        }
        assert_eq!(day_bytes(jiff::civil::date(-5, 1, 1)), None);
    }
}
