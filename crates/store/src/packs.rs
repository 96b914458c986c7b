//! Resource packs and what expense lines drew from them (migration 0014).

use jiff::Timestamp;
use jiff::civil::Date;

use crate::{Cols, Result, Tx, day_text, from_micros, inserted, micros, on, parse_day};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackRow {
    pub account_id: String,
    pub pack_no: i64,
    /// The catalog offer it was bought or granted as.
    pub offer: String,
    pub item: String,
    /// Quantities scaled by 10^6.
    pub volume: i64,
    pub remaining: i64,
    pub valid_from: Date,
    /// The last day it covers.
    pub valid_until: Date,
    /// `bought` or `granted`.
    pub origin: String,
    /// Minor units paid (0 when granted).
    pub price: i64,
    pub created_at: Timestamp,
}

/// A pack's remaining volume after a run drew on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackRemaining {
    pub account_id: String,
    pub pack_no: i64,
    pub remaining: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackDrawRow {
    pub account_id: String,
    pub line_no: i64,
    pub pack_no: i64,
    pub quantity: i64,
}

const PACK_COLUMNS: &str = "account_id, pack_no, offer, item, volume, remaining, valid_from, valid_until, origin, price, created_at";

fn pack_row(r: &impl Cols) -> Result<PackRow> {
    Ok(PackRow {
        account_id: r.text(0),
        pack_no: r.int(1),
        offer: r.text(2),
        item: r.text(3),
        volume: r.int(4),
        remaining: r.int(5),
        valid_from: parse_day(&r.text(6))?,
        valid_until: parse_day(&r.text(7))?,
        origin: r.text(8),
        price: r.int(9),
        created_at: from_micros(r.int(10))?,
    })
}

impl Tx {
    /// The next free pack number of an account (taken under the account's row lock).
    pub async fn next_pack_no(&mut self, account_id: &str) -> Result<i64> {
        on!(self, conn => {
            Ok(sqlx::query_scalar::<Db, i64>("SELECT COALESCE(MAX(pack_no), 0) + 1 FROM resource_pack WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&mut *conn)
                .await?)
        })
    }

    pub async fn insert_pack(&mut self, p: &PackRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO resource_pack (account_id, pack_no, offer, item, volume, remaining, valid_from, valid_until, origin, price, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&p.account_id)
            .bind(p.pack_no)
            .bind(&p.offer)
            .bind(&p.item)
            .bind(p.volume)
            .bind(p.remaining)
            .bind(day_text(p.valid_from))
            .bind(day_text(p.valid_until))
            .bind(&p.origin)
            .bind(p.price)
            .bind(micros(p.created_at))
            .execute(&mut *conn)
            .await;
            inserted(result, "resource pack", || format!("{} RP-{}", p.account_id, p.pack_no))
        })
    }

    /// Packs of one account (every account when `None`), by account and number.
    pub async fn packs(&mut self, account_id: Option<&str>) -> Result<Vec<PackRow>> {
        on!(self, conn => {
            let sql = format!("SELECT {PACK_COLUMNS} FROM resource_pack WHERE ($1 IS NULL OR account_id = $1) ORDER BY account_id, pack_no");
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(&mut *conn).await?;
            rows.iter().map(pack_row).collect()
        })
    }

    /// Packs of a batch of accounts `[first, last]` with volume left, for the nightly run.
    pub async fn packs_left_between(&mut self, first: &str, last: &str) -> Result<Vec<PackRow>> {
        on!(self, conn => {
            let sql = format!(
                "SELECT {PACK_COLUMNS} FROM resource_pack WHERE account_id >= $1 AND account_id <= $2 AND remaining > 0 \
                 ORDER BY account_id, pack_no"
            );
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(first).bind(last).fetch_all(&mut *conn).await?;
            rows.iter().map(pack_row).collect()
        })
    }

    pub async fn update_pack_remaining(&mut self, updates: &[PackRemaining]) -> Result<()> {
        for u in updates {
            on!(self, conn => {
                sqlx::query::<Db>("UPDATE resource_pack SET remaining = $3 WHERE account_id = $1 AND pack_no = $2")
                    .bind(&u.account_id)
                    .bind(u.pack_no)
                    .bind(u.remaining)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        Ok(())
    }

    pub async fn insert_pack_draws(&mut self, draws: &[PackDrawRow]) -> Result<()> {
        for d in draws {
            on!(self, conn => {
                let result = sqlx::query::<Db>("INSERT INTO resource_pack_draw (account_id, line_no, pack_no, quantity) VALUES ($1, $2, $3, $4)")
                    .bind(&d.account_id)
                    .bind(d.line_no)
                    .bind(d.pack_no)
                    .bind(d.quantity)
                    .execute(&mut *conn)
                    .await;
                inserted(result, "resource pack draw", || format!("{} line {} RP-{}", d.account_id, d.line_no, d.pack_no))
            })?;
        }
        Ok(())
    }

    /// Every draw of one account (every account when `None`), by account, line and pack.
    pub async fn pack_draws(&mut self, account_id: Option<&str>) -> Result<Vec<PackDrawRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, line_no, pack_no, quantity FROM resource_pack_draw WHERE ($1 IS NULL OR account_id = $1) \
                 ORDER BY account_id, line_no, pack_no",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|r| Ok(PackDrawRow { account_id: r.text(0), line_no: r.int(1), pack_no: r.int(2), quantity: r.int(3) }))
                .collect()
        })
    }

    /// The quantity of every `resource_pack` line that drew on a pack (a usage key's), of one
    /// account or all: (account, line no, quantity).
    pub async fn pack_lines(&mut self, account_id: Option<&str>) -> Result<Vec<(String, i64, i64)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, CAST(line_no AS BIGINT), CAST(quantity AS BIGINT) FROM expense_line \
                 WHERE ($1 IS NULL OR account_id = $1) AND account_id IN (SELECT account_id FROM resource_pack) \
                   AND charge_type = 'resource_pack' AND workspace_id <> '' \
                 ORDER BY account_id, CAST(line_no AS BIGINT)",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.text(0), r.int(1), r.int(2))).collect())
        })
    }
}
