//! Users of the web Billing Center and their sessions.

use jiff::Timestamp;
use sqlx::Row;

use crate::{Result, Tx, from_micros, inserted, micros, on};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebUserRow {
    /// Lower-cased.
    pub email: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    /// `operator` or `account`.
    pub scope: String,
    pub account_id: Option<String>,
    /// Failed sign-ins in a row since the last success.
    pub failed_logins: i64,
    pub locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSessionRow {
    pub token_hash: String,
    pub email: String,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Tx {
    pub async fn insert_web_user(&mut self, u: &WebUserRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO web_user (email, password_hash, scope, account_id, failed_logins, locked_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(&u.scope)
            .bind(&u.account_id)
            .bind(u.failed_logins)
            .bind(u.locked_until.map(micros))
            .bind(micros(u.created_at))
            .execute(&mut *conn)
            .await;
            inserted(result, "user", || u.email.clone())
        })
    }

    pub async fn web_user(&mut self, email: &str) -> Result<Option<WebUserRow>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>(
                "SELECT email, password_hash, scope, account_id, failed_logins, locked_until, created_at FROM web_user WHERE email = $1",
            )
            .bind(email)
            .fetch_optional(&mut *conn)
            .await?;
            row.map(|r| {
                Ok(WebUserRow {
                    email: r.get(0),
                    password_hash: r.get(1),
                    scope: r.get(2),
                    account_id: r.get(3),
                    failed_logins: r.get(4),
                    locked_until: r.get::<Option<i64>, _>(5).map(from_micros).transpose()?,
                    created_at: from_micros(r.get(6))?,
                })
            })
            .transpose()
        })
    }

    /// Records the outcome of a sign-in: the failures in a row and any lock.
    pub async fn set_web_user_failures(&mut self, email: &str, failed_logins: i64, locked_until: Option<Timestamp>) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE web_user SET failed_logins = $2, locked_until = $3 WHERE email = $1")
                .bind(email)
                .bind(failed_logins)
                .bind(locked_until.map(micros))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    pub async fn insert_web_session(&mut self, s: &WebSessionRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO web_session (token_hash, email, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&s.token_hash)
            .bind(&s.email)
            .bind(&s.csrf_token)
            .bind(micros(s.created_at))
            .bind(micros(s.expires_at))
            .execute(&mut *conn)
            .await;
            inserted(result, "session", || String::from("(token)"))
        })
    }

    /// A session with its user, while it has not expired at `now`.
    pub async fn web_session(&mut self, token_hash: &str, now: Timestamp) -> Result<Option<(WebSessionRow, WebUserRow)>> {
        let session = on!(self, conn => {
            let row = sqlx::query::<Db>(
                "SELECT token_hash, email, csrf_token, created_at, expires_at FROM web_session WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(micros(now))
            .fetch_optional(&mut *conn)
            .await?;
            row.map(|r| -> Result<WebSessionRow> {
                Ok(WebSessionRow {
                    token_hash: r.get(0),
                    email: r.get(1),
                    csrf_token: r.get(2),
                    created_at: from_micros(r.get(3))?,
                    expires_at: from_micros(r.get(4))?,
                })
            })
            .transpose()?
        });
        let Some(session) = session else { return Ok(None) };
        Ok(self.web_user(&session.email).await?.map(|user| (session, user)))
    }

    pub async fn delete_web_session(&mut self, token_hash: &str) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("DELETE FROM web_session WHERE token_hash = $1").bind(token_hash).execute(&mut *conn).await?;
            Ok(())
        })
    }

    /// Removes the sessions that have expired by `now`.
    pub async fn delete_expired_web_sessions(&mut self, now: Timestamp) -> Result<u64> {
        on!(self, conn => {
            let done = sqlx::query::<Db>("DELETE FROM web_session WHERE expires_at <= $1").bind(micros(now)).execute(&mut *conn).await?;
            Ok(done.rows_affected())
        })
    }
}
