//! The routes of `/api/v1`. Each handler checks the caller's scope, translates the request
//! into one use case and its result into JSON.

use std::collections::BTreeMap;

use app::funds::{CardRequest, CouponRequest, NewInstrument};
use app::lists::{ExpenseFilter, InvoiceFilter, TransactionFilter};
use app::packs::PackOrigin;
use app::run::RunOptions;
use app::usage::UsageInput;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json as j;
use store::Idempotency;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::{ApiError, ApiState, Auth, DEFAULT_PAGE, MAX_BODY_BYTES, MAX_JSON_RECORDS, MAX_NDJSON_RECORDS, St, json};

pub fn api() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(import_catalog, get_catalog))
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_account))
        .routes(routes!(create_workspace, list_workspaces))
        .routes(routes!(ingest_json))
        .routes(routes!(ingest_ndjson))
        .routes(routes!(top_up))
        .routes(routes!(issue_coupon))
        .routes(routes!(create_coupon_code))
        .routes(routes!(redeem_coupon_code))
        .routes(routes!(add_card))
        .routes(routes!(buy_package))
        .routes(routes!(upgrade_package))
        .routes(routes!(buy_pack))
        .routes(routes!(grant_pack))
        .routes(routes!(set_alerts))
        .routes(routes!(request_tax_invoice))
        .routes(routes!(decide_tax_invoice))
        .routes(routes!(refund))
        .routes(routes!(get_list))
        .routes(routes!(export_list))
        .routes(routes!(invoice_pdf))
        .routes(routes!(focus_file))
        .routes(routes!(verify))
        .routes(routes!(run))
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(list_deliveries))
}

/// Parses a JSON body into the route's request type, with a clear 400 when it is not.
fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("request body: {e}")))
}

/// Runs a money-moving operation under the request's `Idempotency-Key`, if it has one: the
/// same key and body answer the first response again; the same key with another body is 422.
async fn idempotent<F>(state: &ApiState, auth: &Auth, headers: &HeaderMap, body: &Bytes, op: F) -> Response
where
    F: Future<Output = ApiResult<(StatusCode, serde_json::Value)>>,
{
    let Some(key) = headers.get("idempotency-key").map(|v| v.to_str().unwrap_or_default().to_owned()) else {
        return match op.await {
            Ok((status, value)) => json(status, value),
            Err(e) => e.into_response(),
        };
    };
    let caller = auth.0.key_id().to_owned();
    match state.app.idempotency_begin(state.clock.now(), &caller, &key, body).await {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(Idempotency::Replay { status, response }) => {
            let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
            return (status, [(header::CONTENT_TYPE, "application/json")], response).into_response();
        }
        Ok(Idempotency::Mismatch) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_conflict",
                "this Idempotency-Key was used with another request",
            )
            .into_response();
        }
        Ok(Idempotency::InProgress) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_conflict",
                "a request with this Idempotency-Key is in progress",
            )
            .into_response();
        }
        Ok(Idempotency::New) => {}
    }
    let (status, value) = match op.await {
        Ok(ok) => ok,
        Err(e) if e.status.is_server_error() => {
            let _ = state.app.idempotency_end(&caller, &key, None).await;
            return e.into_response();
        }
        Err(e) => (e.status, serde_json::to_value(e.body()).expect("error bodies serialise")),
    };
    let text = value.to_string();
    if let Err(e) = state.app.idempotency_end(&caller, &key, Some((status.as_u16(), &text))).await {
        return ApiError::from(e).into_response();
    }
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// A POST on one account that moves money: scope checks (`operator_only` for the operator's
/// operations), the request clock, the body parsed as `T`, all under the Idempotency-Key.
async fn money_post<T, F, Fut>(
    st: &ApiState,
    auth: &Auth,
    headers: &HeaderMap,
    account: &str,
    body: &Bytes,
    operator_only: bool,
    op: F,
) -> ApiResult<Response>
where
    T: for<'de> Deserialize<'de>,
    F: FnOnce(jiff::Timestamp, T) -> Fut,
    Fut: Future<Output = ApiResult<(StatusCode, serde_json::Value)>>,
{
    auth.account(account)?;
    if operator_only {
        auth.operator()?;
    }
    let now = st.now(headers)?;
    Ok(idempotent(st, auth, headers, body, async move { op(now, parse::<T>(body)?).await }).await)
}

// ---- catalog -----------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
struct CatalogSummary {
    items: usize,
    price_versions: usize,
    packages: usize,
    changed: bool,
}

/// Import a catalog (the TOML format of docs/catalog.md).
#[utoipa::path(post, path = "/api/v1/catalog", tag = "catalog", security(("api_key" = [])),
    request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = CatalogSummary), (status = 422, body = ErrorBody)))]
async fn import_catalog(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("catalog", "the body is not UTF-8"))?;
    let s = st.app.import_catalog(now, text).await?;
    Ok(json(StatusCode::OK, j!({"items": s.items, "price_versions": s.price_versions, "packages": s.packages, "changed": s.changed})))
}

/// The catalog in force: billable items and packages.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", security(("api_key" = [])),
    responses((status = 200, body = serde_json::Value), (status = 401, body = ErrorBody)))]
async fn get_catalog(State(st): St, _auth: Auth) -> ApiResult<Response> {
    let c = st.app.catalog().await?;
    let items: Vec<_> = c
        .items
        .values()
        .map(|i| {
            j!({"code": i.code, "name": i.name, "unit": i.unit, "unit_size": i.unit_size.to_string(), "aggregation": i.aggregation.as_str(),
                "dimension": i.dimension.as_ref().map(|(k, v)| j!({"key": k, "values": v.keys().collect::<Vec<_>>()})), "coupons": i.coupon_eligible})
        })
        .collect();
    let packages: Vec<_> = c.packages.values().map(|p| j!({"code": p.code, "name": p.name, "price": c.currency.format(p.price)})).collect();
    let packs: Vec<_> = c
        .packs
        .values()
        .map(|p| {
            j!({"code": p.code, "name": p.name, "item": p.item, "volume": p.volume.to_decimal().normalize().to_string(),
                "price": c.currency.format(p.price), "valid_months": p.valid_months})
        })
        .collect();
    Ok(json(StatusCode::OK, j!({"currency": c.currency.code(), "items": items, "packages": packages, "packs": packs})))
}

// ---- accounts and workspaces -------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    id: String,
    name: String,
    /// ISO 4217; default CNY.
    currency: Option<String>,
    /// IANA time zone; default Asia/Shanghai.
    time_zone: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct AccountView {
    id: String,
    name: String,
    currency: String,
    time_zone: String,
    first_day: String,
    billed_through: Option<String>,
    cash: String,
    state: String,
}

fn account_view(a: &app::Account) -> serde_json::Value {
    j!({"id": a.id(), "name": a.row.name, "currency": a.row.currency, "time_zone": a.row.time_zone, "first_day": a.row.first_day.to_string(),
        "billed_through": a.row.billed_through.map(|d| d.to_string()), "cash": a.currency.format(billing::Amount(a.row.cash)), "state": a.row.state})
}

/// Create a billing account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", security(("api_key" = [])), request_body = CreateAccount,
    responses((status = 201, body = AccountView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_account(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let req: CreateAccount = parse(&body)?;
    let a = st
        .app
        .create_account(
            now,
            &req.id,
            &req.name,
            req.currency.as_deref().unwrap_or("CNY"),
            req.time_zone.as_deref().unwrap_or("Asia/Shanghai"),
        )
        .await?;
    Ok(json(StatusCode::CREATED, account_view(&a)))
}

#[derive(Deserialize, IntoParams)]
struct Page {
    /// Rows per page, 1 to 1,000 (default 100).
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn page<T: Clone>(rows: &[T], p: &Page) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 1000"));
    }
    let start = match &p.cursor {
        None => 0,
        Some(c) => c
            .strip_prefix("o")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::invalid("cursor", "not a cursor of this list"))?,
    };
    let end = (start + limit).min(rows.len());
    let next = (end < rows.len()).then(|| format!("o{end}"));
    Ok((rows.get(start..end).unwrap_or_default().to_vec(), next))
}

/// List billing accounts (operator).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", security(("api_key" = [])), params(Page),
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody)))]
async fn list_accounts(State(st): St, auth: Auth, Query(p): Query<Page>) -> ApiResult<Response> {
    auth.operator()?;
    let accounts = st.app.accounts().await?;
    let (rows, next) = page(&accounts, &p)?;
    Ok(json(StatusCode::OK, j!({"items": rows.iter().map(account_view).collect::<Vec<_>>(), "next_cursor": next})))
}

/// One billing account with its balances and standing.
#[utoipa::path(get, path = "/api/v1/accounts/{account}", tag = "accounts", security(("api_key" = [])),
    params(("account" = String, Path)), responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)))]
async fn get_account(State(st): St, auth: Auth, Path(account): Path<String>) -> ApiResult<Response> {
    auth.account(&account)?;
    Ok(json(StatusCode::OK, account_view(&st.app.account(&account).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateWorkspace {
    id: String,
    name: Option<String>,
}

/// Create a workspace of an account.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/workspaces", tag = "accounts", security(("api_key" = [])),
    params(("account" = String, Path)), request_body = CreateWorkspace,
    responses((status = 201, body = serde_json::Value), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_workspace(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    auth.account(&account)?;
    auth.operator()?;
    let now = st.now(&headers)?;
    let req: CreateWorkspace = parse(&body)?;
    let w = st.app.create_workspace(now, &account, &req.id, req.name.as_deref()).await?;
    Ok(json(StatusCode::CREATED, j!({"id": w.workspace_id, "account": w.account_id, "name": w.name})))
}

/// The workspaces of an account.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/workspaces", tag = "accounts", security(("api_key" = [])),
    params(("account" = String, Path)), responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
async fn list_workspaces(State(st): St, auth: Auth, Path(account): Path<String>) -> ApiResult<Response> {
    auth.account(&account)?;
    let rows = st.app.workspaces(&account).await?;
    let items: Vec<_> = rows.iter().map(|w| j!({"id": w.workspace_id, "name": w.name})).collect();
    Ok(json(StatusCode::OK, j!({"items": items})))
}

// ---- usage -------------------------------------------------------------------------------

/// One usage record (fields as in the CLI's NDJSON format).
#[derive(ToSchema)]
#[allow(dead_code)]
struct UsageRecord {
    record_id: String,
    workspace: String,
    item: String,
    /// RFC 3339.
    timestamp: String,
    /// A decimal string (a JSON number is read by its digits).
    quantity: String,
    dimensions: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UsageBatch {
    #[schema(value_type = Vec<UsageRecord>)]
    records: Vec<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
struct IngestReport {
    accepted: usize,
    duplicate: usize,
    rejected: Vec<RejectedRecord>,
}

#[derive(Serialize, ToSchema)]
struct RejectedRecord {
    /// Position in the batch, from 0.
    index: usize,
    field: String,
    reason: String,
}

async fn ingest_inputs(
    st: &ApiState,
    now: jiff::Timestamp,
    inputs: Vec<(usize, UsageInput)>,
    rejected: Vec<app::usage::Rejected>,
) -> ApiResult<Response> {
    Ok(ingest_answer(st.app.ingest(now, inputs).await?, rejected))
}

/// The answer to an ingest: the store's report with the records that could not be read.
fn ingest_answer(mut report: app::usage::IngestReport, mut unreadable: Vec<app::usage::Rejected>) -> Response {
    report.rejected.append(&mut unreadable);
    report.rejected.sort_by_key(|r| r.position);
    let rejected: Vec<_> = report.rejected.iter().map(|r| j!({"index": r.position, "field": r.field, "reason": r.reason})).collect();
    json(StatusCode::OK, j!({"accepted": report.accepted, "duplicate": report.duplicate, "rejected": rejected}))
}

/// Ingest a batch of up to 10,000 usage records; idempotent by `record_id`. The batch is stored
/// in one transaction: never half.
#[utoipa::path(post, path = "/api/v1/usage", tag = "usage", security(("api_key" = [])), request_body = UsageBatch,
    responses((status = 200, body = IngestReport), (status = 413, body = ErrorBody), (status = 400, body = ErrorBody)))]
async fn ingest_json(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let batch: UsageBatch = parse(&body)?;
    if batch.records.len() > MAX_JSON_RECORDS {
        return Err(ApiError::too_large(format!("a batch holds at most {MAX_JSON_RECORDS} records; use /api/v1/usage/ndjson for more")));
    }
    let mut inputs = Vec::with_capacity(batch.records.len());
    let mut rejected = Vec::new();
    for (index, value) in batch.records.into_iter().enumerate() {
        match serde_json::from_value::<UsageInput>(value) {
            Ok(input) => inputs.push((index, input)),
            Err(e) => rejected.push(app::usage::Rejected { position: index, field: "record".into(), reason: e.to_string() }),
        }
    }
    ingest_inputs(&st, now, inputs, rejected).await
}

/// Ingest a streamed NDJSON body of up to 1,000,000 usage records, one JSON object per line.
/// Records are stored in transactions of 10,000; the answer counts them all.
#[utoipa::path(post, path = "/api/v1/usage/ndjson", tag = "usage", security(("api_key" = [])),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = IngestReport), (status = 413, body = ErrorBody)))]
async fn ingest_ndjson(State(st): St, auth: Auth, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let mut stream = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut inputs = Vec::new();
    let mut rejected = Vec::new();
    let mut total = 0usize;
    let mut line_no = 0usize;
    let mut stored = app::usage::IngestReport::default();
    // Each full chunk is stored by a task of its own while the next is read and parsed; one
    // chunk is stored at a time, in order.
    let mut storing: Option<tokio::task::JoinHandle<Result<app::usage::IngestReport, app::AppError>>> = None;
    loop {
        let chunk = stream.next().await;
        let done = chunk.is_none();
        if let Some(chunk) = chunk {
            let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("reading the body: {e}")))?;
            buffer.extend_from_slice(&chunk);
            if buffer.len() > MAX_BODY_BYTES && !buffer.contains(&b'\n') {
                return Err(ApiError::too_large("one NDJSON line is over the body limit"));
            }
        }
        let mut consumed = 0;
        while let Some(pos) = buffer[consumed..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|p| p + consumed)
            .or(if done && consumed < buffer.len() { Some(buffer.len()) } else { None })
        {
            let line = &buffer[consumed..pos];
            consumed = (pos + 1).min(buffer.len());
            if line.iter().all(u8::is_ascii_whitespace) {
                if pos == buffer.len() {
                    break;
                }
                continue;
            }
            let index = line_no;
            line_no += 1;
            total += 1;
            if total > MAX_NDJSON_RECORDS {
                return Err(ApiError::too_large(format!("an NDJSON body holds at most {MAX_NDJSON_RECORDS} records")));
            }
            match serde_json::from_slice::<UsageInput>(line) {
                Ok(input) => inputs.push(app::usage::Prepared::new(index, input)),
                Err(e) => rejected.push(app::usage::Rejected { position: index, field: "record".into(), reason: e.to_string() }),
            }
            if pos == buffer.len() {
                break;
            }
        }
        buffer.drain(..consumed.min(buffer.len()));
        if inputs.len() >= app::usage::IMPORT_BATCH || (done && !inputs.is_empty()) {
            let chunk = std::mem::take(&mut inputs);
            if let Some(previous) = storing.take() {
                stored.absorb(previous.await.expect("an ingest task does not panic")?);
            }
            let app = st.app.clone();
            storing = Some(tokio::spawn(async move { app.ingest_prepared(now, &chunk).await }));
        }
        if done {
            break;
        }
    }
    if let Some(last) = storing {
        stored.absorb(last.await.expect("an ingest task does not panic")?);
    }
    Ok(ingest_answer(stored, rejected))
}

// ---- funds -------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TopUp {
    /// Decimal string with at most the currency's decimals.
    amount: String,
    /// bank_transfer (default), online or manual_adjustment.
    channel: Option<String>,
}

/// Add cash to an account; arrears are repaid first.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/top-ups", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = TopUp,
    responses((status = 201, body = serde_json::Value), (status = 422, body = ErrorBody)))]
async fn top_up(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: TopUp| async move {
        let r = app.top_up(now, id, &req.amount, req.channel.as_deref().unwrap_or("bank_transfer")).await?;
        Ok((StatusCode::CREATED, j!({"document": r.document, "amount": r.amount, "cash": r.cash_after, "state": r.state})))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CouponBody {
    amount: String,
    /// regular or discount.
    kind: String,
    valid_from: String,
    valid_until: String,
    /// Billable items it may pay; empty for all.
    #[serde(default)]
    items: Vec<String>,
    /// For activation codes: the code to create (default generated).
    #[serde(default)]
    code: Option<String>,
}

impl CouponBody {
    fn request(&self) -> CouponRequest {
        CouponRequest {
            amount: self.amount.clone(),
            kind: self.kind.clone(),
            valid_from: self.valid_from.clone(),
            valid_until: self.valid_until.clone(),
            items: self.items.clone(),
        }
    }
}

fn instrument_view(i: &NewInstrument) -> serde_json::Value {
    j!({"code": i.row.code, "kind": i.row.kind, "origin": i.row.origin, "face_value": i.face_value, "valid_from": i.row.valid_from.to_string(),
        "valid_until": i.row.valid_until.to_string(), "scope": i.row.scope})
}

/// Issue a coupon to an account.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/coupons", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = CouponBody,
    responses((status = 201, body = serde_json::Value), (status = 422, body = ErrorBody)))]
async fn issue_coupon(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: CouponBody| async move {
        let c = app.issue_coupon(now, id, req.request()).await?;
        Ok((StatusCode::CREATED, instrument_view(&c)))
    })
    .await
}

/// Create a coupon activation code that one customer may redeem.
#[utoipa::path(post, path = "/api/v1/coupon-codes", tag = "funds", security(("api_key" = [])), request_body = CouponBody,
    responses((status = 201, body = serde_json::Value), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_coupon_code(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let req: CouponBody = parse(&body)?;
    let code = st.app.create_coupon_code(now, req.code.as_deref(), &req.request()).await?;
    Ok(json(StatusCode::CREATED, j!({"code": code})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Redeem {
    code: String,
}

/// Redeem an activation code for the account (account keys may do this for their own account).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/coupon-codes/redeem", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = Redeem,
    responses((status = 201, body = serde_json::Value), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn redeem_coupon_code(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, false, move |now, req: Redeem| async move {
        let c = app.redeem_coupon_code(now, id, &req.code).await?;
        Ok((StatusCode::CREATED, instrument_view(&c)))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CardBody {
    /// A multiple of 100 of the currency.
    amount: String,
    valid_from: String,
    valid_until: String,
    /// true: bought with cash; false: granted by the operator.
    purchase: bool,
}

/// Sell or grant a prepaid card.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/cards", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = CardBody,
    responses((status = 201, body = serde_json::Value), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_card(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: CardBody| async move {
        let r = CardRequest { amount: req.amount, valid_from: req.valid_from, valid_until: req.valid_until, purchase: req.purchase };
        let c = app.add_card(now, id, r).await?;
        Ok((StatusCode::CREATED, instrument_view(&c)))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PackageBody {
    package: String,
    /// The first day it covers (YYYY-MM-DD), today or later.
    start: String,
}

/// Sell an annual package: paid upfront, never into arrears.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packages", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = PackageBody,
    responses((status = 201, body = serde_json::Value), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn buy_package(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: PackageBody| async move {
        let p = app.buy_package(now, id, &req.package, &req.start).await?;
        let until = billing::period::previous_day(p.end_day);
        Ok((StatusCode::CREATED, j!({"number": format!("PKG-{}", p.package_no), "package": p.plan, "start": p.start_day.to_string(), "until": until.to_string()})))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PackBody {
    /// The catalog's code of the resource pack.
    pack: String,
    /// The first day it covers (YYYY-MM-DD, in the account's zone), today or later; today when
    /// left out.
    start: Option<String>,
}

async fn add_pack(st: &ApiState, auth: &Auth, headers: &HeaderMap, account: &str, body: &Bytes, origin: PackOrigin) -> ApiResult<Response> {
    let app = &st.app;
    money_post(st, auth, headers, account, body, origin == PackOrigin::Granted, move |now, req: PackBody| async move {
        let p = app.add_pack(now, account, &req.pack, req.start.as_deref(), origin).await?;
        let volume = app::packs::quantity_text(p.volume);
        Ok((
            StatusCode::CREATED,
            j!({"number": format!("RP-{}", p.pack_no), "pack": p.offer, "item": p.item, "volume": volume,
                "valid_from": p.valid_from.to_string(), "valid_until": p.valid_until.to_string(), "origin": p.origin}),
        ))
    })
    .await
}

/// Buy a resource pack: paid now by coupons, then cards, then cash, never into arrears. The
/// account's own key may buy one.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packs", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = PackBody,
    responses((status = 201, body = serde_json::Value), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn buy_pack(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    add_pack(&st, &auth, &headers, &account, &body, PackOrigin::Bought).await
}

/// Grant a resource pack (operators only): no money moves.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packs/grant", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = PackBody,
    responses((status = 201, body = serde_json::Value), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn grant_pack(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    add_pack(&st, &auth, &headers, &account, &body, PackOrigin::Granted).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    /// The dearer plan to move to today.
    package: String,
}

/// Upgrade the annual package in force today: the old one ends today and its unused days are
/// credited to cash pro rata by day; the new one starts today, paid like a purchase.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packages/upgrade", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = UpgradeBody,
    responses((status = 201, body = serde_json::Value), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upgrade_package(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: UpgradeBody| async move {
        let u = app.upgrade_package(now, id, &req.package).await?;
        let until = billing::period::previous_day(u.new.end_day);
        Ok((
            StatusCode::CREATED,
            j!({"ended": format!("PKG-{}", u.ended.package_no), "ended_on": u.ended.end_day.to_string(), "credit": u.credit,
                "number": format!("PKG-{}", u.new.package_no), "package": u.new.plan, "start": u.new.start_day.to_string(), "until": until.to_string()}),
        ))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Alerts {
    /// `balance.low` fires when spendable funds fall below this amount.
    low_balance: Option<String>,
    /// `spend.high` fires when an item's daily amount reaches its threshold.
    #[serde(default)]
    high_daily_spend: BTreeMap<String, String>,
}

/// Set the account's alert thresholds.
#[utoipa::path(put, path = "/api/v1/accounts/{account}/alerts", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path)), request_body = Alerts,
    responses((status = 204), (status = 422, body = ErrorBody)))]
async fn set_alerts(State(st): St, auth: Auth, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    auth.account(&account)?;
    auth.operator()?;
    let req: Alerts = parse(&body)?;
    if let Some(t) = &req.low_balance {
        st.app.set_alert(&account, None, t).await?;
    }
    for (item, t) in &req.high_daily_spend {
        st.app.set_alert(&account, Some(item), t).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- tax invoices and refunds ------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaxInvoiceBody {
    /// Decimal string with at most the currency's decimals.
    amount: String,
    /// Months (`YYYY-MM`) with issued invoices to draw on, oldest first; all when absent.
    #[serde(default)]
    months: Vec<String>,
    /// ordinary (default) or special_vat.
    #[serde(default)]
    kind: Option<String>,
    /// The buyer's name as printed.
    title: String,
    /// The buyer's taxpayer id (15 to 20 letters and digits).
    tax_id: String,
    /// Required for special_vat.
    #[serde(default)]
    address: Option<String>,
    email: String,
}

fn tax_invoice_view(account: &app::Account, r: &store::TaxInvoiceRow) -> serde_json::Value {
    j!({"account": r.account_id, "request": r.request_no, "amount": account.currency.format(billing::Amount(r.amount)), "status": r.status,
        "kind": r.kind, "title": r.title, "tax_id": r.tax_id, "tax_invoice_no": r.invoice_no, "issued_on": r.issued_on, "reason": r.reason})
}

/// Request a tax invoice drawn on the invoiceable amount of issued months (account keys may, for
/// their own account). The amount is held until an operator issues or rejects it.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/tax-invoices", tag = "tax invoices", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = TaxInvoiceBody,
    responses((status = 201, body = serde_json::Value), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn request_tax_invoice(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, false, move |now, req: TaxInvoiceBody| async move {
        let r = app::tax_invoice::TaxInvoiceRequest {
            amount: req.amount,
            months: req.months,
            kind: req.kind.unwrap_or_default(),
            title: req.title,
            tax_id: req.tax_id,
            address: req.address.unwrap_or_default(),
            email: req.email,
        };
        let row = app.request_tax_invoice(now, id, &r).await?;
        Ok((StatusCode::CREATED, tax_invoice_view(&app.account(id).await?, &row)))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaxInvoiceDecision {
    /// The tax invoice's number (issue).
    #[serde(default)]
    number: Option<String>,
    /// The day printed on it, YYYY-MM-DD (issue; today in the account's zone when absent).
    #[serde(default)]
    date: Option<String>,
    /// Why (reject, reverse).
    #[serde(default)]
    reason: Option<String>,
}

/// An operator's decision on a request: `issue` it, `reject` it (its amount returns) or
/// `reverse` an issued one (red-letter; its amount returns).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/tax-invoices/{id}/{decision}", tag = "tax invoices", security(("api_key" = [])),
    params(("account" = String, Path), ("id" = i64, Path, description = "the request number"),
        ("decision" = String, Path, description = "issue | reject | reverse"), ("Idempotency-Key" = Option<String>, Header)),
    request_body = TaxInvoiceDecision,
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decide_tax_invoice(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path((account, id, decision)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let (app, account_id) = (&st.app, account.as_str());
    let request_no: i64 = id.parse().map_err(|_| ApiError::not_found(&format!("tax invoice request `{id}`")))?;
    if !matches!(decision.as_str(), "issue" | "reject" | "reverse") {
        return Err(ApiError::not_found(&format!("decision `{decision}` (issue, reject or reverse)")));
    }
    money_post(&st, &auth, &headers, account_id, &body, true, move |now, req: TaxInvoiceDecision| async move {
        let reason = req.reason.unwrap_or_default();
        let d = match decision.as_str() {
            "issue" => {
                app::tax_invoice::Decision::Issue { invoice_no: req.number.unwrap_or_default(), issued_on: req.date.unwrap_or_default() }
            }
            "reject" => app::tax_invoice::Decision::Reject { reason },
            _ => app::tax_invoice::Decision::Reverse { reason },
        };
        let row = app.decide_tax_invoice(now, account_id, request_no, &d).await?;
        Ok((StatusCode::OK, tax_invoice_view(&app.account(account_id).await?, &row)))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// Decimal string; at most the account's cash.
    amount: String,
    reason: String,
}

/// Pay cash back to a customer. What is refunded is no longer invoiceable, as far as tax
/// invoices do not already hold it.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/refunds", tag = "funds", security(("api_key" = [])),
    params(("account" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = RefundBody,
    responses((status = 201, body = serde_json::Value), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn refund(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: RefundBody| async move {
        let r = app.refund(now, id, &req.amount, &req.reason).await?;
        Ok((
            StatusCode::CREATED,
            j!({"refund": r.refund.refund_no, "amount": r.amount, "cash": r.cash_after, "invoiceable_reduced": r.invoiceable_reduced}),
        ))
    })
    .await
}

// ---- lists and exports -------------------------------------------------------------------

/// The media type of an XLSX workbook.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[derive(Deserialize, serde::Serialize, IntoParams, Default, Clone)]
pub(crate) struct ListQuery {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) month: Option<String>,
    pub(crate) workspace: Option<String>,
    pub(crate) item: Option<String>,
    pub(crate) charge_type: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) fund: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) limit: Option<usize>,
    pub(crate) cursor: Option<String>,
    /// Exports only: csv (default), xlsx or json.
    pub(crate) format: Option<String>,
}

impl ListQuery {
    /// The detailed expenses' part of the filter.
    pub(crate) fn expense_filter(&self) -> ExpenseFilter {
        ExpenseFilter {
            month: self.month.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            workspace: self.workspace.clone(),
            item: self.item.clone(),
            charge_type: self.charge_type.clone(),
        }
    }

    /// The filter as a document states it.
    pub(crate) fn filter_text(&self) -> String {
        app::lists::describe_filter(&[
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("month", self.month.as_deref()),
            ("workspace", self.workspace.as_deref()),
            ("item", self.item.as_deref()),
            ("charge_type", self.charge_type.as_deref()),
            ("type", self.kind.as_deref()),
            ("fund", self.fund.as_deref()),
            ("status", self.status.as_deref()),
        ])
    }
}

/// The lists an account has, as `{list}` in the list and export routes.
pub const LISTS: [&str; 10] =
    ["invoices", "expenses", "transactions", "coupons", "cards", "packs", "balances", "events", "tax-invoices", "invoiceable"];

pub(crate) async fn tables(
    st: &ApiState,
    now: jiff::Timestamp,
    account: &str,
    list: &str,
    q: &ListQuery,
) -> ApiResult<(export::Table, Option<export::Table>)> {
    if !LISTS.contains(&list) {
        return Err(ApiError::not_found(&format!("list `{list}` (one of {})", LISTS.join(", "))));
    }
    Ok(match list {
        "invoices" => (st.app.list_invoices(account, &InvoiceFilter { from: q.from.clone(), to: q.to.clone() }).await?, None),
        "expenses" => {
            let f = q.expense_filter();
            (st.app.list_expenses(account, &f).await?, None)
        }
        "transactions" => {
            let f = TransactionFilter { from: q.from.clone(), to: q.to.clone(), kind: q.kind.clone(), fund: q.fund.clone() };
            let (rows, summary) = st.app.list_transactions(now, account, &f).await?;
            (rows, Some(summary))
        }
        "coupons" => (st.app.list_instruments(now, account, false, q.status.as_deref()).await?, None),
        "cards" => (st.app.list_instruments(now, account, true, q.status.as_deref()).await?, None),
        "packs" => (st.app.list_packs(now, account, q.status.as_deref()).await?, None),
        "balances" => (st.app.balances(now, account).await?, None),
        "events" => (st.app.list_events(account).await?, None),
        "tax-invoices" => (st.app.list_tax_invoices(account, q.status.as_deref()).await?, Some(st.app.invoiceable(account).await?)),
        "invoiceable" => (st.app.invoiceable(account).await?, None),
        _ => unreachable!("checked against LISTS above"),
    })
}

/// One of the Billing Center's lists (invoices, expenses, transactions, coupons, cards,
/// balances, events) with its filters, a page at a time.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/lists/{list}", tag = "lists", security(("api_key" = [])),
    params(("account" = String, Path), ("list" = String, Path, description = "invoices | expenses | transactions | coupons | cards | packs | balances | events | tax-invoices | invoiceable"), ListQuery),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_list(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path((account, list)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    auth.account(&account)?;
    let now = st.now(&headers)?;
    let (table, summary) = tables(&st, now, &account, &list, &q).await?;
    let a = st.app.account(&account).await?;
    let rows = table.json_rows();
    let (items, next) = page(&rows, &Page { limit: q.limit, cursor: q.cursor.clone() })?;
    Ok(json(
        StatusCode::OK,
        j!({"account": account, "list": list, "currency": a.row.currency, "time_zone": a.row.time_zone, "columns": table.columns, "keys": table.keys(),
            "items": items, "next_cursor": next, "summary": summary.map(|s| s.json_rows())}),
    ))
}

/// Export a list with the current filter, all pages: CSV (UTF-8 with BOM, formula injection
/// neutralised), XLSX (typed cells, totals row, About sheet) or JSON.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/exports/{list}", tag = "lists", security(("api_key" = [])),
    params(("account" = String, Path), ("list" = String, Path), ListQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
async fn export_list(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path((account, list)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    auth.account(&account)?;
    let now = st.now(&headers)?;
    export_file(&st, now, &account, &list, &q).await
}

/// One monthly invoice as a PDF: issued and paid invoices with their number and issue date,
/// the open month as a provisional statement (watermarked). The same invoice gives the same
/// bytes every time.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/invoices/{month}/pdf", tag = "lists", security(("api_key" = [])),
    params(("account" = String, Path), ("month" = String, Path, description = "YYYY-MM")),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn invoice_pdf(State(st): St, auth: Auth, Path((account, month)): Path<(String, String)>) -> ApiResult<Response> {
    auth.account(&account)?;
    invoice_pdf_file(&st, &account, &month).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct FocusQuery {
    /// `csv` (default) or `parquet`.
    format: Option<String>,
}

/// A month of one account as a FOCUS 1.2 cost and usage file: every expense line, the credits
/// coupons and prepaid cards gave, and the cards bought; CSV or Parquet.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/focus/{month}", tag = "lists", security(("api_key" = [])),
    params(("account" = String, Path), ("month" = String, Path, description = "YYYY-MM"), FocusQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 200, content_type = "application/vnd.apache.parquet", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn focus_file(
    State(st): St,
    auth: Auth,
    Path((account, month)): Path<(String, String)>,
    Query(q): Query<FocusQuery>,
) -> ApiResult<Response> {
    auth.account(&account)?;
    focus_download(&st, &account, &month, q.format.as_deref().unwrap_or("csv")).await
}

/// A FOCUS file of one account's month as a download (the API's route and the expenses page's
/// Export menu).
pub(crate) async fn focus_download(st: &ApiState, account: &str, month: &str, format: &str) -> ApiResult<Response> {
    let (extension, content_type) = match format {
        "csv" | "focus" => ("csv", "text/csv; charset=utf-8"),
        "parquet" => ("parquet", "application/vnd.apache.parquet"),
        other => return Err(ApiError::invalid("format", format!("`{other}` is not csv or parquet"))),
    };
    let mut out = Vec::new();
    st.app.write_focus(month, Some(account), extension == "parquet", &mut out).await?;
    let disposition = format!("attachment; filename=\"{account}-focus-{month}.{extension}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], out).into_response())
}

/// The PDF of one invoice as a download (the API's route and the invoice page's download).
pub(crate) async fn invoice_pdf_file(st: &ApiState, account: &str, month: &str) -> ApiResult<Response> {
    let doc = st.app.invoice_document(account, month).await?;
    // Laying out pages is CPU work: it runs beside the request threads.
    let internal = |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
    let pdf = tokio::task::spawn_blocking(move || export::invoice_pdf(&doc)).await.map_err(|e| internal(&e))?.map_err(|e| internal(&e))?;
    let disposition = format!("attachment; filename=\"{account}-invoice-{month}.pdf\"");
    Ok(([(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, disposition)], pdf).into_response())
}

/// A list's export as a file download (the API's export route and the pages' Export menu):
/// CSV, XLSX or JSON of every row of the filter. Detailed expenses stream a billing day at a
/// time, so a month of millions of lines is never held as a table.
pub(crate) async fn export_file(st: &ApiState, now: jiff::Timestamp, account: &str, list: &str, q: &ListQuery) -> ApiResult<Response> {
    let (format, content_type) = match q.format.as_deref().unwrap_or("csv") {
        "csv" => ("csv", "text/csv; charset=utf-8"),
        "json" => ("json", "application/json"),
        "xlsx" => ("xlsx", XLSX_TYPE),
        other => return Err(ApiError::invalid("format", format!("`{other}` is not csv, xlsx or json"))),
    };
    let mut out = Vec::new();
    let internal = |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
    if list == "expenses" && format != "json" {
        let filter = q.expense_filter();
        st.app.write_expenses(now, account, &filter, &q.filter_text(), format == "xlsx", &mut out).await?;
    } else {
        let (table, _) = tables(st, now, account, list, q).await?;
        match format {
            "xlsx" => {
                let about = st.app.export_about(now, account, list, q.filter_text()).await?;
                export::write_xlsx(&table, about, &mut out).map_err(|e| internal(&e))?;
            }
            "json" => export::write(&table, export::Format::Json, &mut out).map_err(|e| internal(&e))?,
            _ => export::write(&table, export::Format::Csv, &mut out).map_err(|e| internal(&e))?,
        }
    }
    let disposition = format!("attachment; filename=\"{account}-{list}.{format}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], out).into_response())
}

// ---- operations --------------------------------------------------------------------------

/// Recompute every balance and total; `clean` is false at any difference.
#[utoipa::path(post, path = "/api/v1/verify", tag = "operations", security(("api_key" = [])),
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody)))]
async fn verify(State(st): St, auth: Auth) -> ApiResult<Response> {
    auth.operator()?;
    let r = st.app.verify().await?;
    let checks: Vec<_> = r.checks.iter().map(|c| j!({"check": c.name, "checked": c.checked, "problems": c.problems})).collect();
    Ok(json(StatusCode::OK, j!({"clean": r.is_clean(), "checks": checks})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// The moment to run as of (RFC 3339).
    now: String,
}

/// Run the nightly job as of an explicit moment. Only on a server started with `--test-clock`.
#[utoipa::path(post, path = "/api/v1/run", tag = "operations", security(("api_key" = [])), request_body = RunBody,
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn run(State(st): St, auth: Auth, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    if !st.test_clock {
        return Err(ApiError::not_found("route (start the server with --test-clock)"));
    }
    let req: RunBody = parse(&body)?;
    let now: jiff::Timestamp =
        req.now.parse().map_err(|_| ApiError::invalid("now", format!("`{}` is not an RFC 3339 timestamp", req.now)))?;
    let options = RunOptions { invoice_day: st.invoice_day, ..RunOptions::default() };
    let r = st.app.run(now, options, &mut |_, _| {}).await?;
    Ok(json(
        StatusCode::OK,
        j!({"accounts": r.accounts_billed, "days": r.days_billed, "lines": r.lines, "adjustment_lines": r.adjustment_lines,
            "invoices_issued": r.invoices_issued, "instruments_expired": r.instruments_expired, "state_changes": r.state_changes}),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
    /// Event names: account.overdue, account.suspended, account.reactivated, balance.low,
    /// spend.high, invoice.issued, daily_bill.settled.
    events: Vec<String>,
}

/// Register a webhook endpoint; the answer carries its signing secret (shown once).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("api_key" = [])), request_body = WebhookBody,
    responses((status = 201, body = serde_json::Value), (status = 422, body = ErrorBody)))]
async fn create_webhook(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let req: WebhookBody = parse(&body)?;
    let e = st.app.create_endpoint(now, &req.url, &req.events).await?;
    Ok(json(StatusCode::CREATED, j!({"id": e.endpoint_id, "url": e.url, "events": req.events, "secret": e.secret})))
}

/// The registered webhook endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("api_key" = [])),
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody)))]
async fn list_webhooks(State(st): St, auth: Auth) -> ApiResult<Response> {
    auth.operator()?;
    let items: Vec<_> = st
        .app
        .endpoints()
        .await?
        .iter()
        .map(|e| j!({"id": e.endpoint_id, "url": e.url, "events": e.events.split(',').collect::<Vec<_>>()}))
        .collect();
    Ok(json(StatusCode::OK, j!({"items": items})))
}

/// The delivery log of one endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("api_key" = [])),
    params(("id" = i64, Path), Page), responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody)))]
async fn list_deliveries(State(st): St, auth: Auth, Path(id): Path<i64>, Query(p): Query<Page>) -> ApiResult<Response> {
    auth.operator()?;
    let rows = st.app.deliveries(id, 100_000).await?;
    let (rows, next) = page(&rows, &p)?;
    let items: Vec<_> = rows
        .iter()
        .map(|d| {
            j!({"message_id": d.message_id, "account": d.account_id, "event_no": d.event_no, "attempts": d.attempts,
                "delivered_at": d.delivered_at.map(|t| t.to_string()), "next_attempt": d.next_attempt.to_string(),
                "last_status": d.last_status, "last_error": d.last_error})
        })
        .collect();
    Ok(json(StatusCode::OK, j!({"items": items, "next_cursor": next})))
}
