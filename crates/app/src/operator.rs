//! Operator use cases behind the HTTP API: API keys, coupon activation codes, webhook
//! endpoints and the event outbox, alert thresholds, idempotency records and job leases.

use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use store::{ApiKeyRow, CouponCodeRow, DeliveryRow, EndpointRow, EventRow, Idempotency};

use crate::context::{load_account, load_catalog};
use crate::funds::{CouponRequest, NewInstrument, check_coupon, issue_coupon_in};
use crate::{App, AppError, Result};

/// Every event a webhook endpoint may subscribe to.
pub const EVENTS: [&str; 21] = [
    "account.overdue",
    "account.suspended",
    "account.reactivated",
    "balance.low",
    "spend.high",
    "invoice.issued",
    "daily_bill.settled",
    "coupon.expiring_soon",
    "card.expiring_soon",
    "tax_invoice.requested",
    "tax_invoice.issued",
    "tax_invoice.rejected",
    "tax_invoice.reversed",
    "tax_invoice.pdf_attached",
    "package.renewal_due",
    "package.renewed",
    "package.renewal_failed",
    "resource_pack.bought",
    "resource_pack.granted",
    "resource_pack.used_80",
    "resource_pack.used_up",
];

/// Who is calling, after authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Operator { key_id: String },
    Account { key_id: String, account_id: String },
}

impl Caller {
    pub fn key_id(&self) -> &str {
        match self {
            Caller::Operator { key_id } | Caller::Account { key_id, .. } => key_id,
        }
    }
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    buf
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a text, hex-encoded.
pub fn sha256_hex(text: &[u8]) -> String {
    hex(&Sha256::digest(text))
}

/// Compares two strings in time independent of where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A webhook message as Standard Webhooks defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub timestamp: i64,
    pub payload: String,
    pub url: String,
    pub secret: String,
}

impl App {
    /// Creates an API key and returns it; only its hash is stored, so it is shown once.
    pub async fn create_key(&self, now: Timestamp, account_id: Option<&str>) -> Result<String> {
        let mut tx = self.store.begin().await?;
        if let Some(id) = account_id {
            load_account(&mut tx, id).await?;
        }
        let key_id = hex(&random_bytes::<6>());
        let secret = hex(&random_bytes::<24>());
        let scope = if account_id.is_some() { "account" } else { "operator" };
        tx.insert_api_key(&ApiKeyRow {
            key_id: key_id.clone(),
            secret_hash: sha256_hex(secret.as_bytes()),
            scope: scope.into(),
            account_id: account_id.map(str::to_owned),
            created_at: now,
        })
        .await?;
        tx.commit().await?;
        Ok(format!("bck_{key_id}_{secret}"))
    }

    /// Resolves a bearer token to its caller; `None` for a missing, malformed or unknown key.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>> {
        let Some((key_id, secret)) = token.strip_prefix("bck_").and_then(|t| t.split_once('_')) else { return Ok(None) };
        let mut tx = self.store.read().await?;
        let key = tx.api_key(key_id).await?;
        tx.commit().await?;
        Ok(key.filter(|k| same(&k.secret_hash, &sha256_hex(secret.as_bytes()))).map(|k| match k.account_id {
            Some(account_id) => Caller::Account { key_id: k.key_id, account_id },
            None => Caller::Operator { key_id: k.key_id },
        }))
    }

    /// Creates an activation code for a coupon (any account may redeem it once).
    pub async fn create_coupon_code(&self, now: Timestamp, code: Option<&str>, req: &CouponRequest) -> Result<String> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        check_coupon(&catalog, catalog.currency, req)?;
        let code = match code {
            Some(c) if !c.is_empty() && c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') => c.to_owned(),
            Some(c) => return Err(AppError::invalid("code", format!("`{c}` must be 1 to 64 letters, digits or '-'"))),
            None => hex(&random_bytes::<8>()).to_uppercase(),
        };
        tx.insert_coupon_code(&CouponCodeRow {
            code: code.clone(),
            kind: req.kind.clone(),
            amount: req.amount.clone(),
            valid_from: req.valid_from.clone(),
            valid_until: req.valid_until.clone(),
            scope: (!req.items.is_empty()).then(|| req.items.join(",")),
            created_at: now,
            redeemed_by: None,
        })
        .await?;
        tx.commit().await?;
        Ok(code)
    }

    /// Redeems an activation code for an account: the coupon is issued in the same transaction.
    pub async fn redeem_coupon_code(&self, now: Timestamp, account_id: &str, code: &str) -> Result<NewInstrument> {
        let mut tx = self.store.begin().await?;
        let row = tx.coupon_code(code).await?.ok_or_else(|| AppError::NotFound { what: "coupon code", key: code.to_owned() })?;
        if row.redeemed_by.is_some() || !tx.redeem_coupon_code(code, account_id, now).await? {
            return Err(AppError::invalid("code", format!("`{code}` was already redeemed")));
        }
        let req = CouponRequest {
            amount: row.amount,
            kind: row.kind,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            items: row.scope.map(|s| s.split(',').map(str::to_owned).collect()).unwrap_or_default(),
        };
        let issued = issue_coupon_in(&mut tx, now, account_id, &req, "activated").await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Sets an account's alert thresholds: `item` None for the low-balance alert.
    pub async fn set_alert(&self, account_id: &str, item: Option<&str>, threshold: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let account = load_account(&mut tx, account_id).await?;
        if let Some(item) = item {
            load_catalog(&mut tx).await?.item(item).map_err(|e| AppError::invalid("item", e.to_string()))?;
        }
        let amount = account.currency.parse_amount(threshold).map_err(|e| AppError::invalid("threshold", e.to_string()))?;
        tx.set_alert(account_id, item.unwrap_or(""), amount.minor()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Registers a webhook endpoint for some events; returns it with its signing secret.
    pub async fn create_endpoint(&self, now: Timestamp, url: &str, events: &[String]) -> Result<EndpointRow> {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
            return Err(AppError::invalid("url", format!("`{url}` is not an http(s) URL")));
        }
        if events.is_empty() {
            return Err(AppError::invalid("events", "name at least one event"));
        }
        if let Some(e) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(AppError::invalid("events", format!("`{e}` is not one of {}", EVENTS.join(", "))));
        }
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(random_bytes::<24>()));
        let mut tx = self.store.begin().await?;
        let id = tx.insert_endpoint(url, &events.join(","), &secret, now).await?;
        tx.commit().await?;
        Ok(EndpointRow { endpoint_id: id, url: url.to_owned(), events: events.join(","), secret, created_at: now })
    }

    pub async fn endpoints(&self) -> Result<Vec<EndpointRow>> {
        let mut tx = self.store.read().await?;
        let rows = tx.endpoints().await?;
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn deliveries(&self, endpoint_id: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        let mut tx = self.store.read().await?;
        let rows = tx.deliveries(endpoint_id, limit).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Turns new events of the outbox into one delivery per subscribed endpoint.
    pub async fn pump_outbox(&self, now: Timestamp) -> Result<usize> {
        // Most ticks find nothing: they look in a read transaction and take no write lock.
        let mut look = self.store.read().await?;
        let waiting = !look.outbox_events(1).await?.is_empty();
        look.commit().await?;
        if !waiting {
            return Ok(0);
        }
        let mut tx = self.store.begin().await?;
        let endpoints = tx.endpoints().await?;
        let events = tx.outbox_events(1_000).await?;
        let mut created = 0;
        for e in &events {
            for ep in endpoints.iter().filter(|ep| ep.events.split(',').any(|k| k == e.kind)) {
                tx.insert_delivery(&DeliveryRow {
                    endpoint_id: ep.endpoint_id,
                    account_id: e.account_id.clone(),
                    event_no: e.event_no,
                    message_id: message_id(e),
                    attempts: 0,
                    next_attempt: now,
                    delivered_at: None,
                    last_status: None,
                    last_error: None,
                })
                .await?;
                created += 1;
            }
            tx.advance_outbox(&e.account_id, e.event_no).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Deliveries due at `now`, with the message to send for each.
    pub async fn due_messages(&self, now: Timestamp, limit: i64) -> Result<Vec<(DeliveryRow, Message)>> {
        let mut tx = self.store.read().await?;
        let endpoints = tx.endpoints().await?;
        let mut out = Vec::new();
        for d in tx.due_deliveries(now, limit).await? {
            let (Some(ep), Some(event)) =
                (endpoints.iter().find(|e| e.endpoint_id == d.endpoint_id), tx.event(&d.account_id, d.event_no).await?)
            else {
                continue;
            };
            let payload = serde_json::json!({
                "type": event.kind,
                "timestamp": event.created_at.to_string(),
                "data": {"account_id": event.account_id, "event_no": event.event_no, "date": event.happened_on.to_string(), "detail": event.detail},
            });
            let message = Message {
                id: d.message_id.clone(),
                timestamp: event.created_at.as_second(),
                payload: payload.to_string(),
                url: ep.url.clone(),
                secret: ep.secret.clone(),
            };
            out.push((d, message));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records a delivery attempt. Failures are retried with exponential backoff (1 s,
    /// doubling, at most one hour apart); nothing is ever dropped.
    pub async fn record_delivery(&self, now: Timestamp, d: &DeliveryRow, status: Option<u16>, error: Option<&str>) -> Result<()> {
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let backoff = SignedDuration::from_secs(1i64 << d.attempts.clamp(0, 12)).min(SignedDuration::from_hours(1));
        let mut tx = self.store.begin().await?;
        tx.record_attempt(d, status.map(i64::from), error, ok.then_some(now), if ok { now } else { now + backoff }).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims an idempotency key for a caller and a request (hashed).
    pub async fn idempotency_begin(&self, now: Timestamp, caller: &str, key: &str, request: &[u8]) -> Result<Idempotency> {
        if key.is_empty() || key.len() > 255 {
            return Err(AppError::invalid("Idempotency-Key", "must be 1 to 255 characters"));
        }
        let mut tx = self.store.begin().await?;
        let state = tx.idempotency_begin(caller, key, &sha256_hex(request), now).await?;
        tx.commit().await?;
        Ok(state)
    }

    /// Stores the response of a request made under an idempotency key, or frees the key when
    /// the request failed on the server's side (so it may be retried).
    pub async fn idempotency_end(&self, caller: &str, key: &str, outcome: Option<(u16, &str)>) -> Result<()> {
        let mut tx = self.store.begin().await?;
        match outcome {
            Some((status, body)) => tx.idempotency_finish(caller, key, i64::from(status), body).await?,
            None => tx.idempotency_abort(caller, key).await?,
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes or renews a lease on a job for `ttl`; false while another holder has it.
    pub async fn acquire_lease(&self, now: Timestamp, job: &str, holder: &str, ttl: SignedDuration) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        let ok = tx.acquire_lease(job, holder, now, now + ttl).await?;
        tx.commit().await?;
        Ok(ok)
    }

    pub async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.release_lease(job, holder).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The stable id of an event's webhook message: the same event always has the same id.
fn message_id(e: &EventRow) -> String {
    format!("msg_{}_{}", e.account_id, e.event_no)
}
