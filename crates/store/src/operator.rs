//! Operator tables: API keys, idempotency records, coupon codes, webhooks and their
//! deliveries from the event outbox, job leases, alert thresholds.

use jiff::Timestamp;
use sqlx::Row;

use crate::{Cols, EventRow, Result, Tx, event_row, from_micros, inserted, micros, on};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub key_id: String,
    pub secret_hash: String,
    /// `operator` or `account`.
    pub scope: String,
    pub account_id: Option<String>,
    pub created_at: Timestamp,
}

/// What an Idempotency-Key says about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// First time: the caller owns the key now and must finish or abort it.
    New,
    /// Seen and finished with the same request: answer the stored response again.
    Replay { status: i64, response: String },
    /// Seen with another request body.
    Mismatch,
    /// Seen and still being processed.
    InProgress,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CouponCodeRow {
    pub code: String,
    pub kind: String,
    pub amount: String,
    pub valid_from: String,
    pub valid_until: String,
    pub scope: Option<String>,
    pub created_at: Timestamp,
    pub redeemed_by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRow {
    pub endpoint_id: i64,
    pub url: String,
    /// Comma-separated event names.
    pub events: String,
    pub secret: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub endpoint_id: i64,
    pub account_id: String,
    pub event_no: i64,
    pub message_id: String,
    pub attempts: i64,
    pub next_attempt: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

impl Tx {
    pub async fn insert_api_key(&mut self, k: &ApiKeyRow) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("INSERT INTO api_key (key_id, secret_hash, scope, account_id, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&k.key_id)
                .bind(&k.secret_hash)
                .bind(&k.scope)
                .bind(&k.account_id)
                .bind(micros(k.created_at))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    pub async fn api_key(&mut self, key_id: &str) -> Result<Option<ApiKeyRow>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT key_id, secret_hash, scope, account_id, created_at FROM api_key WHERE key_id = $1")
                .bind(key_id)
                .fetch_optional(&mut *conn)
                .await?;
            row.map(|r| {
                Ok(ApiKeyRow {
                    key_id: r.get(0),
                    secret_hash: r.get(1),
                    scope: r.get(2),
                    account_id: r.get(3),
                    created_at: from_micros(r.get(4))?,
                })
            })
            .transpose()
        })
    }

    pub async fn idempotency_begin(&mut self, caller: &str, key: &str, request_hash: &str, at: Timestamp) -> Result<Idempotency> {
        on!(self, conn => {
            let inserted = sqlx::query::<Db>(
                "INSERT INTO idempotency (caller, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (caller, idem_key) DO NOTHING",
            )
            .bind(caller)
            .bind(key)
            .bind(request_hash)
            .bind(micros(at))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(Idempotency::New);
            }
            let row = sqlx::query::<Db>("SELECT request_hash, status, response FROM idempotency WHERE caller = $1 AND idem_key = $2")
                .bind(caller)
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
            let stored: String = row.get(0);
            if stored != request_hash {
                return Ok(Idempotency::Mismatch);
            }
            Ok(match (row.get::<Option<i64>, _>(1), row.get::<Option<String>, _>(2)) {
                (Some(status), Some(response)) => Idempotency::Replay { status, response },
                _ => Idempotency::InProgress,
            })
        })
    }

    pub async fn idempotency_finish(&mut self, caller: &str, key: &str, status: i64, response: &str) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE idempotency SET status = $3, response = $4 WHERE caller = $1 AND idem_key = $2")
                .bind(caller)
                .bind(key)
                .bind(status)
                .bind(response)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    pub async fn idempotency_abort(&mut self, caller: &str, key: &str) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("DELETE FROM idempotency WHERE caller = $1 AND idem_key = $2 AND status IS NULL")
                .bind(caller)
                .bind(key)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    pub async fn insert_coupon_code(&mut self, c: &CouponCodeRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO coupon_code (code, kind, amount, valid_from, valid_until, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&c.code)
            .bind(&c.kind)
            .bind(&c.amount)
            .bind(&c.valid_from)
            .bind(&c.valid_until)
            .bind(&c.scope)
            .bind(micros(c.created_at))
            .execute(&mut *conn)
            .await;
            inserted(result, "coupon code", || c.code.clone())
        })
    }

    pub async fn coupon_code(&mut self, code: &str) -> Result<Option<CouponCodeRow>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>(
                "SELECT code, kind, amount, valid_from, valid_until, scope, created_at, redeemed_by FROM coupon_code WHERE code = $1",
            )
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
            row.map(|r| {
                Ok(CouponCodeRow {
                    code: r.get(0),
                    kind: r.get(1),
                    amount: r.get(2),
                    valid_from: r.get(3),
                    valid_until: r.get(4),
                    scope: r.get(5),
                    created_at: from_micros(r.get(6))?,
                    redeemed_by: r.get(7),
                })
            })
            .transpose()
        })
    }

    /// Marks a code redeemed; false when somebody redeemed it first.
    pub async fn redeem_coupon_code(&mut self, code: &str, account_id: &str, at: Timestamp) -> Result<bool> {
        on!(self, conn => {
            let n = sqlx::query::<Db>("UPDATE coupon_code SET redeemed_by = $2, redeemed_at = $3 WHERE code = $1 AND redeemed_by IS NULL")
                .bind(code)
                .bind(account_id)
                .bind(micros(at))
                .execute(&mut *conn)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    pub async fn insert_endpoint(&mut self, url: &str, events: &str, secret: &str, at: Timestamp) -> Result<i64> {
        on!(self, conn => {
            let row = sqlx::query::<Db>(
                "INSERT INTO webhook_endpoint (endpoint_id, url, events, secret, created_at) \
                 SELECT COALESCE(MAX(endpoint_id), 0) + 1, $1, $2, $3, $4 FROM webhook_endpoint RETURNING endpoint_id",
            )
            .bind(url)
            .bind(events)
            .bind(secret)
            .bind(micros(at))
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.get(0))
        })
    }

    pub async fn endpoints(&mut self) -> Result<Vec<EndpointRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT endpoint_id, url, events, secret, created_at FROM webhook_endpoint ORDER BY endpoint_id")
                .fetch_all(&mut *conn)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(EndpointRow {
                        endpoint_id: r.get(0),
                        url: r.get(1),
                        events: r.get(2),
                        secret: r.get(3),
                        created_at: from_micros(r.get(4))?,
                    })
                })
                .collect()
        })
    }

    /// Events of any account not yet turned into deliveries, oldest first per account.
    pub async fn outbox_events(&mut self, limit: i64) -> Result<Vec<EventRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT e.account_id, e.event_no, e.kind, e.happened_on, e.created_at, e.detail FROM account_event e \
                 LEFT JOIN outbox_cursor c ON c.account_id = e.account_id WHERE e.event_no > COALESCE(c.event_no, 0) \
                 ORDER BY e.account_id, e.event_no LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(event_row).collect()
        })
    }

    pub async fn advance_outbox(&mut self, account_id: &str, event_no: i64) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO outbox_cursor (account_id, event_no) VALUES ($1, $2) \
                 ON CONFLICT (account_id) DO UPDATE SET event_no = excluded.event_no WHERE excluded.event_no > outbox_cursor.event_no",
            )
            .bind(account_id)
            .bind(event_no)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    pub async fn insert_delivery(&mut self, d: &DeliveryRow) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO webhook_delivery (endpoint_id, account_id, event_no, message_id, attempts, next_attempt) VALUES ($1, $2, $3, $4, 0, $5) \
                 ON CONFLICT (endpoint_id, account_id, event_no) DO NOTHING",
            )
            .bind(d.endpoint_id)
            .bind(&d.account_id)
            .bind(d.event_no)
            .bind(&d.message_id)
            .bind(micros(d.next_attempt))
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    const DELIVERY_COLUMNS: &'static str =
        "endpoint_id, account_id, event_no, message_id, attempts, next_attempt, delivered_at, last_status, last_error";

    fn delivery_row(r: &impl Cols) -> Result<DeliveryRow> {
        Ok(DeliveryRow {
            endpoint_id: r.col(0),
            account_id: r.col(1),
            event_no: r.col(2),
            message_id: r.col(3),
            attempts: r.col(4),
            next_attempt: from_micros(r.col(5))?,
            delivered_at: r.opt_int(6).map(from_micros).transpose()?,
            last_status: r.col(7),
            last_error: r.col(8),
        })
    }

    pub async fn due_deliveries(&mut self, now: Timestamp, limit: i64) -> Result<Vec<DeliveryRow>> {
        on!(self, conn => {
            let sql = format!(
                "SELECT {} FROM webhook_delivery WHERE delivered_at IS NULL AND next_attempt <= $1 ORDER BY next_attempt, account_id, event_no LIMIT $2",
                Self::DELIVERY_COLUMNS
            );
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(micros(now)).bind(limit).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::delivery_row).collect()
        })
    }

    pub async fn deliveries(&mut self, endpoint_id: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        on!(self, conn => {
            let sql = format!(
                "SELECT {} FROM webhook_delivery WHERE endpoint_id = $1 ORDER BY account_id, event_no LIMIT $2",
                Self::DELIVERY_COLUMNS
            );
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(endpoint_id).bind(limit).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::delivery_row).collect()
        })
    }

    pub async fn event(&mut self, account_id: &str, event_no: i64) -> Result<Option<EventRow>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>(
                "SELECT account_id, event_no, kind, happened_on, created_at, detail FROM account_event WHERE account_id = $1 AND event_no = $2",
            )
            .bind(account_id)
            .bind(event_no)
            .fetch_optional(&mut *conn)
            .await?;
            row.as_ref().map(event_row).transpose()
        })
    }

    /// Records one delivery attempt: delivered, or failed with the next attempt's time.
    pub async fn record_attempt(
        &mut self,
        d: &DeliveryRow,
        status: Option<i64>,
        error: Option<&str>,
        delivered_at: Option<Timestamp>,
        next_attempt: Timestamp,
    ) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "UPDATE webhook_delivery SET attempts = attempts + 1, last_status = $4, last_error = $5, delivered_at = $6, next_attempt = $7 \
                 WHERE endpoint_id = $1 AND account_id = $2 AND event_no = $3",
            )
            .bind(d.endpoint_id)
            .bind(&d.account_id)
            .bind(d.event_no)
            .bind(status)
            .bind(error)
            .bind(delivered_at.map(micros))
            .bind(micros(next_attempt))
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// Takes or renews the lease on `job` for `holder` until `until`; false when another
    /// holder's lease has not expired.
    pub async fn acquire_lease(&mut self, job: &str, holder: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
        on!(self, conn => {
            let n = sqlx::query::<Db>(
                "INSERT INTO job_lease (job, holder, expires_at) VALUES ($1, $2, $4) ON CONFLICT (job) DO UPDATE \
                 SET holder = excluded.holder, expires_at = excluded.expires_at WHERE job_lease.expires_at <= $3 OR job_lease.holder = excluded.holder",
            )
            .bind(job)
            .bind(holder)
            .bind(micros(now))
            .bind(micros(until))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    pub async fn release_lease(&mut self, job: &str, holder: &str) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("DELETE FROM job_lease WHERE job = $1 AND holder = $2").bind(job).bind(holder).execute(&mut *conn).await?;
            Ok(())
        })
    }

    /// Sets an alert threshold: item `""` is the low-balance threshold, any other item the
    /// high-spend threshold for that item's daily amount.
    pub async fn set_alert(&mut self, account_id: &str, item: &str, threshold: i64) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO account_alert (account_id, item, threshold) VALUES ($1, $2, $3) ON CONFLICT (account_id, item) DO UPDATE SET threshold = excluded.threshold",
            )
            .bind(account_id)
            .bind(item)
            .bind(threshold)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// Alert thresholds of a batch of accounts `[first, last]`: (account, item, threshold).
    pub async fn alerts_between(&mut self, first: &str, last: &str) -> Result<Vec<(String, String, i64)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, item, threshold FROM account_alert WHERE account_id >= $1 AND account_id <= $2 ORDER BY account_id, item",
            )
            .bind(first)
            .bind(last)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
        })
    }
}
