//! The one error type of the API: every error answers `{"error": {"code", "message", "field"}}`
//! with a stable code. Internal details are logged, never returned.

use app::AppError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The error codes the API answers with, each with its status; stable across versions. A code
/// may come with two statuses: `invalid_input` is 400 when the request breaks the OpenAPI
/// document (a pattern, a length, an enumeration, a type) and 422 when the document allows it
/// but a rule of the account, the catalog or the calendar refuses it.
pub const ERROR_CODES: [(&str, u16, &str); 15] = [
    ("malformed_json", 400, "the body is not JSON"),
    ("invalid_input", 400, "a field breaks the document's rule for it (type, pattern, length, range, enumeration); `field` names it"),
    ("unauthorized", 401, "no key, or a key that does not exist"),
    ("forbidden", 403, "the key may not perform this operation"),
    ("not_found", 404, "no such object, or one the key may not see"),
    ("method_not_allowed", 405, "the route exists but not with this method"),
    ("request_timeout", 408, "the request took longer than the server allows"),
    ("already_exists", 409, "an object with this id exists"),
    ("insufficient_funds", 409, "the account's funds cannot pay for this"),
    ("idempotency_in_progress", 409, "a request with this Idempotency-Key is still in progress; send it again later"),
    ("payload_too_large", 413, "the body or the batch is over its limit"),
    ("invalid_input", 422, "the field keeps the document's rule but the account, the catalog or the calendar refuses it; `field` names it"),
    ("idempotency_conflict", 422, "the Idempotency-Key was used with another request"),
    ("internal", 500, "something failed on the server; it is logged"),
    ("overloaded", 503, "the server has as many requests in flight as it takes; send it again after `Retry-After` seconds"),
];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// One of the stable codes listed in the API description.
    pub code: String,
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), field: None }
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: "invalid_input", message: message.into(), field: Some(field.to_owned()) }
    }
    /// A field the OpenAPI document does not allow: 400, before any use case runs.
    pub fn malformed(field: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "invalid_input", message: message.into(), field: Some(field.to_owned()) }
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)")
    }
    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this key may not perform this operation")
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message.clone(), field: self.field.clone() } }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match &e {
            AppError::Invalid { field, reason } => ApiError::invalid(field, format!("{field}: {reason}")),
            AppError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            AppError::AlreadyExists { what, .. } => ApiError {
                status: StatusCode::CONFLICT,
                code: "already_exists",
                message: e.to_string(),
                // The request names what it creates by `id`, or an activation code by `code`.
                field: Some(if what.contains("code") { "code" } else { "id" }.to_owned()),
            },
            AppError::InsufficientFunds { field, .. } => ApiError {
                status: StatusCode::CONFLICT,
                code: "insufficient_funds",
                message: e.to_string(),
                field: Some((*field).to_owned()),
            },
            AppError::Store(inner) => {
                tracing::error!(error = %inner, "store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
