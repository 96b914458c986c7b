//! billcenter over HTTP: the operator and customer JSON API under `/api/v1` (described by the
//! OpenAPI document it serves), the nightly scheduler and webhook delivery. This is the only
//! crate that knows HTTP and JSON; handlers translate requests into use cases of `app`.

mod contract;
mod error;
mod routes;
pub mod scheduler;
pub mod web;
pub mod webhooks;

use std::time::Duration;

use app::App;
use app::operator::Caller;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, ERROR_CODES};
pub use routes::{LISTS, XLSX_TYPE};

/// Largest request body accepted (the NDJSON bulk route streams past it).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Records in one JSON usage batch.
pub const MAX_JSON_RECORDS: usize = 10_000;
/// Records in one NDJSON usage body.
pub const MAX_NDJSON_RECORDS: usize = 1_000_000;
/// The longest a request may take before it is answered `408 request_timeout`.
pub const REQUEST_TIME: Duration = Duration::from_secs(300);
/// Rows per page of a list unless `limit` says otherwise (at most 1,000).
pub const DEFAULT_PAGE: usize = 100;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    /// When set, a request may act at the moment named in its `Billcenter-Now` header and
    /// `POST /api/v1/run` is available.
    pub test_clock: bool,
    pub invoice_day: i8,
    /// The product's clock: what a request acts at when it names no moment of its own.
    pub clock: app::Clock,
}

impl ApiState {
    /// The moment a request acts at: the real clock, or the test clock's header.
    fn now(&self, headers: &HeaderMap) -> Result<Timestamp, ApiError> {
        match headers.get("billcenter-now") {
            Some(v) if self.test_clock => {
                let text = v.to_str().unwrap_or_default();
                text.parse().map_err(|_| ApiError::invalid("Billcenter-Now", format!("`{text}` is not an RFC 3339 timestamp")))
            }
            _ => Ok(self.clock.now()),
        }
    }
}

/// The authenticated caller of a request.
pub struct Auth(pub Caller);

impl FromRequestParts<ApiState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        match state.app.authenticate(token.trim()).await? {
            Some(caller) => Ok(Auth(caller)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

impl Auth {
    /// Operations only the operator may perform.
    pub fn operator(&self) -> Result<(), ApiError> {
        match &self.0 {
            Caller::Operator { .. } => Ok(()),
            Caller::Account { .. } => Err(ApiError::forbidden()),
        }
    }

    /// Objects of one account: an account key sees only its own, and another account's
    /// objects do not exist for it.
    pub fn account(&self, account_id: &str) -> Result<(), ApiError> {
        // An id the document does not allow names no account.
        if !contract::ID.allows(account_id) {
            return Err(ApiError::not_found("billing account"));
        }
        match &self.0 {
            Caller::Operator { .. } => Ok(()),
            Caller::Account { account_id: own, .. } if own == account_id => Ok(()),
            Caller::Account { .. } => Err(ApiError::not_found("billing account")),
        }
    }
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        let codes: Vec<String> = ERROR_CODES.iter().map(|(code, status, what)| format!("- `{code}` ({status}): {what}")).collect();
        openapi.info.title = "billcenter API".into();
        openapi.info.description = Some(format!(
            "The operator and customer API of billcenter. Amounts are decimal strings in the account currency; times are RFC 3339. \
             Every POST that moves money accepts an `Idempotency-Key` header. Lists page with `limit` and `cursor`.\n\nError codes:\n{}",
            codes.join("\n")
        ));
    }
}

/// The OpenAPI document of the API: generated from the routes' annotations and types, then
/// finished by the contract (every error each operation answers, the links between them).
pub fn document() -> serde_json::Value {
    let (_, mut api) = routes::api().split_for_parts();
    utoipa::Modify::modify(&SecurityAddon, &mut api);
    let mut doc = serde_json::to_value(&api).expect("the document serialises");
    contract::finish(&mut doc);
    doc
}

/// Requests in flight at once unless `serve` is told otherwise; more are answered 503.
pub const MAX_IN_FLIGHT: usize = 512;

/// The router with every route of the API, and the OpenAPI document generated from it.
pub fn router(state: ApiState) -> (Router, serde_json::Value) {
    router_with(state, MAX_IN_FLIGHT)
}

/// Liveness: the process answers.
async fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers too.
async fn readyz(axum::extract::State(st): axum::extract::State<ApiState>) -> Response {
    match st.app.ready().await {
        Ok(()) => json(StatusCode::OK, serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            let mut r = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the database does not answer").into_response();
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
            r
        }
    }
}

/// Too many requests in flight: refused at once rather than queued.
async fn overloaded(_: tower::BoxError) -> Response {
    let mut r =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the server is at its limit of requests in flight; try again shortly")
            .into_response();
    r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    r
}

/// [`router`] with `max_in_flight` requests at once: the API and the pages shed what is over
/// it with `503 overloaded` and `Retry-After`; `/healthz` and `/readyz` stay outside the limit,
/// so a load balancer hears the server while it sheds.
pub fn router_with(state: ApiState, max_in_flight: usize) -> (Router, serde_json::Value) {
    let api = document();
    let (api_router, _) = routes::api().split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    let router = api_router
        .merge(SwaggerUi::new("/api/v1/docs").external_url_unchecked("/api/v1/openapi.json", api.clone()))
        .merge(web::router())
        .fallback(|uri: axum::http::Uri, headers: HeaderMap| async move {
            if uri.path().starts_with("/api/") { ApiError::not_found("route").into_response() } else { web::not_found(headers).await }
        })
        .layer(axum::middleware::map_response(error_shape))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIME))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(max_in_flight.max(1)),
        )
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<axum::body::Body>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %request.method(), uri = %request.uri())
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state);
    (router, api)
}

/// Gives the framework's own rejections (body over the limit, wrong method) the API's error
/// shape, so every error a client sees is `{"error": {...}}`.
async fn error_shape(response: Response) -> Response {
    // JSON errors are the API's own; HTML is a page of the Billing Center.
    let is_json = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html"));
    if is_json || response.status().is_success() || response.status().is_redirection() {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(format!("the body is over the {MAX_BODY_BYTES}-byte limit")).into_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route has no such method").into_response()
        }
        StatusCode::REQUEST_TIMEOUT => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request took longer than the server allows").into_response()
        }
        // The framework's own refusals of a path or query it cannot read.
        status if status.is_client_error() => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", "the request's path or query could not be read").into_response()
        }
        _ => response,
    }
}

/// Answers a JSON value with a status.
pub(crate) fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

pub(crate) type St = State<ApiState>;

/// How `serve` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: String,
    /// Where requests, the scheduler and webhook delivery read "now".
    pub clock: app::Clock,
    pub test_clock: bool,
    pub invoice_day: i8,
    /// How long after a billing day ends the scheduler bills it.
    pub run_delay: jiff::SignedDuration,
    /// Scheduler tick interval; `None` turns the scheduler off.
    pub scheduler_interval: Option<Duration>,
    /// Requests in flight at once; more are answered `503` with `Retry-After`.
    pub max_in_flight: usize,
}

/// Serves the API, the scheduler and webhook delivery until SIGINT or SIGTERM; then finishes
/// the requests in flight and the scheduler's current tick. `announce` hears the bound address.
pub async fn serve(app: App, config: ServeConfig, announce: &mut dyn FnMut(std::net::SocketAddr)) -> std::io::Result<()> {
    let state = ApiState { app: app.clone(), test_clock: config.test_clock, invoice_day: config.invoice_day, clock: config.clock };
    let (router, _) = router_with(state, config.max_in_flight);
    let listener = tokio::net::TcpListener::bind(&config.listen).await?;
    let address = listener.local_addr()?;
    announce(address);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    if let Some(interval) = config.scheduler_interval {
        let scheduler = scheduler::SchedulerConfig {
            interval,
            delay: config.run_delay,
            invoice_day: config.invoice_day,
            holder: format!("{}-{}", address, std::process::id()),
            lease: jiff::SignedDuration::from_mins(15),
        };
        workers.push(tokio::spawn(scheduler::run(app.clone(), config.clock, scheduler, stopped.clone())));
    }
    workers.push(tokio::spawn(webhooks::run(app.clone(), config.clock, stopped.clone())));
    let shutdown = async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: finishing requests and jobs in flight");
    };
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
    let _ = stop.send(true);
    for w in workers {
        let _ = w.await;
    }
    Ok(())
}
