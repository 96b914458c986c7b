//! Users of the web Billing Center: creating them, signing in (with failures slowed and then
//! locked), sessions and signing out. Passwords are kept only as argon2id hashes; a session's
//! token only as its SHA-256.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use store::{WebSessionRow, WebUserRow};

use crate::operator::{random_bytes, sha256_hex};
use crate::{App, AppError, Result};

/// Failed sign-ins in a row after which an email is locked.
pub const LOCK_AFTER_FAILURES: i64 = 5;
/// How long a locked email stays locked.
pub const LOCK_FOR: SignedDuration = SignedDuration::from_mins(15);
/// How long a session lasts.
pub const SESSION_FOR: SignedDuration = SignedDuration::from_hours(12);
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Who is signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebUser {
    pub email: String,
    /// `None` for an operator, who sees every account.
    pub account_id: Option<String>,
}

impl WebUser {
    pub fn is_operator(&self) -> bool {
        self.account_id.is_none()
    }

    /// Whether this user may see the account's pages.
    pub fn may_see(&self, account_id: &str) -> bool {
        self.account_id.as_deref().is_none_or(|own| own == account_id)
    }
}

/// A session as a request finds it.
#[derive(Clone, Debug)]
pub struct WebSession {
    pub user: WebUser,
    /// The token every form that changes something must carry.
    pub csrf_token: String,
}

/// What a sign-in attempt came to.
#[derive(Clone, Debug)]
pub enum SignIn {
    /// A new session: the cookie's token (shown once) and the session.
    Ok { token: String, session: WebSession },
    /// Wrong email or password; `failures` in a row so far for a known email (0 otherwise).
    Refused { failures: i64 },
    /// Too many failures: refused until then, even with the right password.
    Locked { until: Timestamp },
}

fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Emails compare without regard to case and surrounding space.
fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn hash_password(password: &str) -> String {
    Argon2::default().hash_password(password.as_bytes()).expect("argon2id with default parameters hashes any password").to_string()
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl App {
    /// Creates a user of one billing account, or an operator user when `account_id` is `None`.
    pub async fn create_user(&self, now: Timestamp, email: &str, password: &str, account_id: Option<&str>) -> Result<WebUser> {
        let email = normalise_email(email);
        let valid_email = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
            && !email.contains(char::is_whitespace);
        if !valid_email {
            return Err(AppError::invalid("email", format!("`{email}` is not an email address")));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AppError::invalid("password", format!("must have at least {MIN_PASSWORD_CHARS} characters")));
        }
        let mut tx = self.store.begin().await?;
        if let Some(account) = account_id {
            tx.account(account).await?.ok_or_else(|| AppError::NotFound { what: "billing account", key: account.to_owned() })?;
        }
        tx.insert_web_user(&WebUserRow {
            email: email.clone(),
            password_hash: hash_password(password),
            scope: if account_id.is_some() { "account" } else { "operator" }.to_owned(),
            account_id: account_id.map(str::to_owned),
            failed_logins: 0,
            locked_until: None,
            created_at: now,
        })
        .await?;
        tx.commit().await?;
        Ok(WebUser { email, account_id: account_id.map(str::to_owned) })
    }

    /// Checks an email and password. A success starts a new session (a new token each time)
    /// and clears the failures; a failure counts, and the last allowed one locks the email.
    pub async fn sign_in(&self, now: Timestamp, email: &str, password: &str) -> Result<SignIn> {
        let email = normalise_email(email);
        let mut tx = self.store.begin().await?;
        let Some(user) = tx.web_user(&email).await? else {
            // Hash anyway, so an unknown email takes as long as a wrong password.
            let _ = password_matches(password, &hash_password("an unknown user's password"));
            tx.commit().await?;
            return Ok(SignIn::Refused { failures: 0 });
        };
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            tx.commit().await?;
            return Ok(SignIn::Locked { until });
        }
        if !password_matches(password, &user.password_hash) {
            let failures = if user.locked_until.is_some() { 1 } else { user.failed_logins + 1 };
            let lock = (failures >= LOCK_AFTER_FAILURES).then(|| now + LOCK_FOR);
            tx.set_web_user_failures(&email, failures, lock).await?;
            tx.commit().await?;
            return Ok(match lock {
                Some(until) => SignIn::Locked { until },
                None => SignIn::Refused { failures },
            });
        }
        tx.set_web_user_failures(&email, 0, None).await?;
        tx.delete_expired_web_sessions(now).await?;
        let token = token();
        let csrf_token = self::token();
        tx.insert_web_session(&WebSessionRow {
            token_hash: sha256_hex(token.as_bytes()),
            email: email.clone(),
            csrf_token: csrf_token.clone(),
            created_at: now,
            expires_at: now + SESSION_FOR,
        })
        .await?;
        tx.commit().await?;
        let user = WebUser { email, account_id: user.account_id };
        Ok(SignIn::Ok { token, session: WebSession { user, csrf_token } })
    }

    /// The session of a cookie's token, while it lasts.
    pub async fn web_session(&self, now: Timestamp, token: &str) -> Result<Option<WebSession>> {
        let mut tx = self.store.read().await?;
        let found = tx.web_session(&sha256_hex(token.as_bytes()), now).await?;
        tx.commit().await?;
        Ok(found.map(|(session, user)| WebSession {
            user: WebUser { email: user.email, account_id: user.account_id },
            csrf_token: session.csrf_token,
        }))
    }

    /// Ends a session.
    pub async fn sign_out(&self, token: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.delete_web_session(&sha256_hex(token.as_bytes())).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A fresh random token (256 bits, URL-safe base64): session cookies and CSRF tokens.
pub fn new_token() -> String {
    token()
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    crate::operator::same(a, b)
}
