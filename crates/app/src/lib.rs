//! billcenter's use cases. Each public operation runs in exactly one database transaction and
//! takes the moment it acts at (`now`) as an argument: this crate owns the clock for the
//! layers above it, and the domain below it never reads one.

pub mod catalog_file;
mod clock;
mod context;
mod focus;
pub mod funds;
pub mod lists;
pub mod operator;
pub mod overview;
pub mod packs;
pub mod run;
pub mod setup;
pub mod tax_invoice;
pub mod usage;
pub mod users;
pub mod verify;

pub use clock::Clock;
pub use context::{Account, App};

use store::StoreError;

/// Why a use case refused or failed. Every refusal names the field (or object) and the reason;
/// nothing of a refused request is stored.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{what} `{key}` not found")]
    NotFound { what: &'static str, key: String },
    #[error("{what} `{key}` already exists")]
    AlreadyExists { what: &'static str, key: String },
    #[error("{field}: insufficient funds, {available} available for {required}")]
    InsufficientFunds { field: &'static str, available: String, required: String },
    #[error(transparent)]
    Store(StoreError),
}

impl AppError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> AppError {
        AppError::Invalid { field: field.to_owned(), reason: reason.into() }
    }

    /// A stable, documented code for each kind of error (used by the CLI's JSON output and,
    /// later, the HTTP API).
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "invalid_input",
            AppError::NotFound { .. } => "not_found",
            AppError::AlreadyExists { .. } => "already_exists",
            AppError::InsufficientFunds { .. } => "insufficient_funds",
            AppError::Store(_) => "internal",
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::Duplicate { what, key } => AppError::AlreadyExists { what, key },
            other => AppError::Store(other),
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
