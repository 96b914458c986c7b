//! The routes of `/api/v1`. Each handler checks the caller's scope, translates the request
//! into one use case and its result into JSON.

use std::collections::BTreeMap;

use app::funds::{CardRequest, CouponRequest, NewInstrument};
use app::lists::{ExpenseFilter, InvoiceFilter, TransactionFilter};
use app::packs::PackOrigin;
use app::run::RunOptions;
use app::usage::UsageInput;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use store::Idempotency;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract::{
    self, AmountText, Channel, Code, CouponKind, CurrencyCode, Day, Email, Event, Id, Month, Name, TaxId, TaxKind, Text, Url, Zone,
};
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
        .routes(routes!(attach_tax_invoice_pdf, tax_invoice_pdf))
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

/// Parses a JSON body into the route's request type (see [`contract::parse`]).
fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    contract::parse(body)
}

/// Runs a money-moving operation under the request's `Idempotency-Key`, if it has one: the
/// same key and body answer the first response again; the same key with another body is 422.
async fn idempotent<F>(state: &ApiState, auth: &Auth, headers: &HeaderMap, body: &Bytes, op: F) -> Response
where
    F: Future<Output = ApiResult<(StatusCode, serde_json::Value)>>,
{
    let key = match headers.get("idempotency-key").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()) {
        Some(key) => match contract::IDEMPOTENCY_KEY.check("Idempotency-Key", &key) {
            Ok(()) => Some(key),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let Some(key) = key else {
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
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is in progress; send it again when it has answered",
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
/// operations), the request clock, the body parsed as `T`, then the operation under the
/// Idempotency-Key.
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
    // A request the document refuses is answered before its key is looked at, and the key
    // keeps no record of it.
    let req = parse::<T>(body)?;
    Ok(idempotent(st, auth, headers, body, async move { op(now, req).await }).await)
}

// ---- catalog -----------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
struct CatalogSummary {
    #[schema(example = 6)]
    items: usize,
    #[schema(example = 9)]
    price_versions: usize,
    #[schema(example = 3)]
    packages: usize,
    /// False when the file was the catalog in force already.
    changed: bool,
}

/// Import a catalog (the TOML format of docs/catalog.md).
#[utoipa::path(post, path = "/api/v1/catalog", tag = "catalog", security(("api_key" = [])),
    request_body(content = contract::TextBody, content_type = "application/toml",
        example = "currency = \"CNY\"\n\n[items.sms]\nname = \"SMS\"\nunit = \"message\"\nprice = \"0.045\"\n"),
    responses((status = 200, body = CatalogSummary), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_catalog(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let s = st.app.import_catalog(now, contract::text_body(&body)?).await?;
    answer(StatusCode::OK, &CatalogSummary { items: s.items, price_versions: s.price_versions, packages: s.packages, changed: s.changed })
}

#[derive(Serialize, ToSchema)]
struct CatalogView {
    #[schema(example = "CNY")]
    currency: String,
    items: Vec<CatalogItem>,
    packages: Vec<PackageOffer>,
    packs: Vec<PackOffer>,
}

#[derive(Serialize, ToSchema)]
struct CatalogItem {
    #[schema(example = "log_events")]
    code: String,
    #[schema(example = "Log events")]
    name: String,
    #[schema(example = "event")]
    unit: String,
    /// Units per priced unit, a decimal string.
    #[schema(example = "1000000")]
    unit_size: String,
    /// sum or max.
    #[schema(example = "sum")]
    aggregation: String,
    /// The item's one pricing dimension, if it has one, with its values.
    dimension: Option<CatalogDimension>,
    /// Whether coupons may pay for it.
    coupons: bool,
}

#[derive(Serialize, ToSchema)]
struct CatalogDimension {
    #[schema(example = "retention_days")]
    key: String,
    values: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct PackageOffer {
    #[schema(example = "starter")]
    code: String,
    #[schema(example = "Starter")]
    name: String,
    /// A decimal string in the catalog's currency.
    #[schema(example = "12000.00")]
    price: String,
}

#[derive(Serialize, ToSchema)]
struct PackOffer {
    #[schema(example = "log_events_500m")]
    code: String,
    #[schema(example = "500 M log events")]
    name: String,
    #[schema(example = "log_events")]
    item: String,
    /// The quantity it covers, a decimal string.
    #[schema(example = "500000000")]
    volume: String,
    #[schema(example = "900.00")]
    price: String,
    #[schema(example = 12)]
    valid_months: i8,
}

/// The catalog in force: billable items, packages and resource packs.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", security(("api_key" = [])),
    responses((status = 200, body = CatalogView)))]
async fn get_catalog(State(st): St, _auth: Auth) -> ApiResult<Response> {
    let c = st.app.catalog().await?;
    let items = c
        .items
        .values()
        .map(|i| CatalogItem {
            code: i.code.clone(),
            name: i.name.clone(),
            unit: i.unit.clone(),
            unit_size: i.unit_size.to_string(),
            aggregation: i.aggregation.as_str().to_owned(),
            dimension: i.dimension.as_ref().map(|(k, v)| CatalogDimension { key: k.clone(), values: v.keys().cloned().collect() }),
            coupons: i.coupon_eligible,
        })
        .collect();
    let packages = c
        .packages
        .values()
        .map(|p| PackageOffer { code: p.code.clone(), name: p.name.clone(), price: c.currency.format(p.price) })
        .collect();
    let packs = c
        .packs
        .values()
        .map(|p| PackOffer {
            code: p.code.clone(),
            name: p.name.clone(),
            item: p.item.clone(),
            volume: p.volume.to_decimal().normalize().to_string(),
            price: c.currency.format(p.price),
            valid_months: p.valid_months,
        })
        .collect();
    answer(StatusCode::OK, &CatalogView { currency: c.currency.code().to_owned(), items, packages, packs })
}

/// Answers a typed body with a status.
fn answer<T: Serialize>(status: StatusCode, body: &T) -> ApiResult<Response> {
    Ok(json(status, serde_json::to_value(body).expect("answers serialise")))
}

// ---- accounts and workspaces -------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    id: Id,
    name: Name,
    /// ISO 4217; default CNY.
    currency: Option<CurrencyCode>,
    /// IANA time zone; default Asia/Shanghai.
    time_zone: Option<Zone>,
}

#[derive(Serialize, ToSchema)]
struct AccountView {
    #[schema(example = "acme")]
    id: String,
    #[schema(example = "Acme Ltd")]
    name: String,
    #[schema(example = "CNY")]
    currency: String,
    #[schema(example = "Asia/Shanghai")]
    time_zone: String,
    /// The first billing day (YYYY-MM-DD).
    #[schema(example = "2026-11-01")]
    first_day: String,
    /// The last billing day billed, if any.
    #[schema(example = "2026-11-30")]
    billed_through: Option<String>,
    /// The cash balance, a decimal string.
    #[schema(example = "1200.00")]
    cash: String,
    /// normal, overdue or suspended.
    #[schema(example = "normal")]
    state: String,
}

fn account_view(a: &app::Account) -> AccountView {
    AccountView {
        id: a.id().to_owned(),
        name: a.row.name.clone(),
        currency: a.row.currency.clone(),
        time_zone: a.row.time_zone.clone(),
        first_day: a.row.first_day.to_string(),
        billed_through: a.row.billed_through.map(|d| d.to_string()),
        cash: a.currency.format(billing::Amount(a.row.cash)),
        state: a.row.state.clone(),
    }
}

/// Create a billing account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", security(("api_key" = [])),
    request_body(content = CreateAccount, example = json!({"id": "acme", "name": "Acme Ltd", "currency": "CNY", "time_zone": "Asia/Shanghai"})),
    responses((status = 201, body = AccountView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
    answer(StatusCode::CREATED, &account_view(&a))
}

#[derive(Deserialize)]
struct Page {
    limit: Option<usize>,
    cursor: Option<String>,
}

impl IntoParams for Page {
    fn into_params(_: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>) -> Vec<utoipa::openapi::path::Parameter> {
        page_params()
    }
}

/// `limit` and `cursor`, as the document states them.
fn page_params() -> Vec<utoipa::openapi::path::Parameter> {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    let (low, high) = contract::LIMIT;
    let limit = utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(low as f64))
        .maximum(Some(high as f64))
        .examples([100]);
    vec![
        ParameterBuilder::new()
            .name("limit")
            .parameter_in(ParameterIn::Query)
            .description(Some(format!("Rows per page, {low} to {high} (default {DEFAULT_PAGE}).")))
            .schema(Some(limit))
            .build(),
        ParameterBuilder::new()
            .name("cursor")
            .parameter_in(ParameterIn::Query)
            .description(Some("The `next_cursor` of the previous page."))
            .schema(Some(contract::CURSOR.schema()))
            .build(),
    ]
}

/// One page of `rows`, after checking `limit` and `cursor` against the document.
fn page<T: Clone>(rows: &[T], limit: Option<usize>, cursor: Option<&str>) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    let (low, high) = contract::LIMIT;
    if !(low..=high).contains(&limit) {
        return Err(ApiError::malformed("limit", format!("must be {low} to {high}")));
    }
    let start = match cursor {
        None => 0,
        Some(c) => {
            contract::CURSOR.check("cursor", c)?;
            c[1..].parse::<usize>().map_err(|_| ApiError::malformed("cursor", "not a cursor of this list"))?
        }
    };
    let start = start.min(rows.len());
    let end = start.saturating_add(limit).min(rows.len());
    let next = (end < rows.len()).then(|| format!("o{end}"));
    Ok((rows[start..end].to_vec(), next))
}

#[derive(Serialize, ToSchema)]
struct AccountPage {
    items: Vec<AccountView>,
    /// The cursor of the next page; null on the last.
    next_cursor: Option<String>,
}

/// List billing accounts (operator).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", security(("api_key" = [])), params(Page),
    responses((status = 200, body = AccountPage), (status = 403, body = ErrorBody)))]
async fn list_accounts(State(st): St, auth: Auth, contract::ApiQuery(p): contract::ApiQuery<Page>) -> ApiResult<Response> {
    auth.operator()?;
    let accounts = st.app.accounts().await?;
    let (rows, next) = page(&accounts, p.limit, p.cursor.as_deref())?;
    answer(StatusCode::OK, &AccountPage { items: rows.iter().map(account_view).collect(), next_cursor: next })
}

/// One billing account with its balances and standing.
#[utoipa::path(get, path = "/api/v1/accounts/{account}", tag = "accounts", security(("api_key" = [])),
    params(("account" = Id, Path)), responses((status = 200, body = AccountView)))]
async fn get_account(State(st): St, auth: Auth, Path(account): Path<String>) -> ApiResult<Response> {
    auth.account(&account)?;
    answer(StatusCode::OK, &account_view(&st.app.account(&account).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateWorkspace {
    id: Id,
    /// Default: the id.
    name: Option<Name>,
}

#[derive(Serialize, ToSchema)]
struct WorkspaceView {
    #[schema(example = "acme-prod")]
    id: String,
    #[schema(example = "acme")]
    account: String,
    #[schema(example = "Production")]
    name: String,
}

#[derive(Serialize, ToSchema)]
struct WorkspaceList {
    items: Vec<WorkspaceView>,
}

/// Create a workspace of an account.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/workspaces", tag = "accounts", security(("api_key" = [])),
    params(("account" = Id, Path)), request_body(content = CreateWorkspace, example = json!({"id": "acme-prod", "name": "Production"})),
    responses((status = 201, body = WorkspaceView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_workspace(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    auth.account(&account)?;
    auth.operator()?;
    let now = st.now(&headers)?;
    let req: CreateWorkspace = parse(&body)?;
    let w = st.app.create_workspace(now, &account, &req.id, req.name.as_deref()).await?;
    answer(StatusCode::CREATED, &WorkspaceView { id: w.workspace_id, account: w.account_id, name: w.name })
}

/// The workspaces of an account.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/workspaces", tag = "accounts", security(("api_key" = [])),
    params(("account" = Id, Path)), responses((status = 200, body = WorkspaceList)))]
async fn list_workspaces(State(st): St, auth: Auth, Path(account): Path<String>) -> ApiResult<Response> {
    auth.account(&account)?;
    let rows = st.app.workspaces(&account).await?;
    let items = rows.into_iter().map(|w| WorkspaceView { id: w.workspace_id, account: w.account_id, name: w.name }).collect();
    answer(StatusCode::OK, &WorkspaceList { items })
}

// ---- usage -------------------------------------------------------------------------------

/// One usage record (the fields of the CLI's NDJSON format).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UsageRecord {
    /// Unique per record: a record sent again with the same id and content is a duplicate,
    /// with other content it is rejected.
    record_id: contract::RecordId,
    workspace: Id,
    item: Code,
    timestamp: contract::Timestamp,
    quantity: contract::QuantityValue,
    /// The item's dimension, e.g. `{"retention_days": "7"}`.
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
}

impl From<UsageRecord> for UsageInput {
    fn from(r: UsageRecord) -> UsageInput {
        UsageInput {
            record_id: r.record_id.0,
            workspace: r.workspace.0,
            item: r.item.0,
            timestamp: r.timestamp.0,
            quantity: app::usage::QuantityText(r.quantity.0),
            dimensions: r.dimensions,
        }
    }
}

/// Up to 10,000 usage records. A batch with a record the document does not allow is refused
/// whole (`400`, `field` like `records[3].quantity`); records the document allows but the
/// catalog or the calendar refuses are answered in `rejected` and the others stored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UsageBatch {
    records: Vec<UsageRecord>,
}

#[derive(Serialize, ToSchema)]
struct IngestReport {
    /// Records stored now.
    #[schema(example = 2)]
    accepted: usize,
    /// Records stored before with the same content (not stored again).
    #[schema(example = 0)]
    duplicate: usize,
    /// Records refused, each with its reason; nothing of them is stored.
    rejected: Vec<RejectedRecord>,
}

#[derive(Serialize, ToSchema)]
struct RejectedRecord {
    /// Position in the batch (or NDJSON line), from 0.
    #[schema(example = 1)]
    index: usize,
    #[schema(example = "workspace")]
    field: String,
    #[schema(example = "unknown workspace `acme-test`")]
    reason: String,
}

/// The answer to an ingest: the store's report with the records that could not be read.
fn ingest_answer(mut report: app::usage::IngestReport, mut unreadable: Vec<app::usage::Rejected>) -> ApiResult<Response> {
    report.rejected.append(&mut unreadable);
    report.rejected.sort_by_key(|r| r.position);
    let rejected = report.rejected.into_iter().map(|r| RejectedRecord { index: r.position, field: r.field, reason: r.reason }).collect();
    answer(StatusCode::OK, &IngestReport { accepted: report.accepted, duplicate: report.duplicate, rejected })
}

/// Ingest a batch of up to 10,000 usage records; idempotent by `record_id`. The batch is stored
/// in one transaction: never half.
#[utoipa::path(post, path = "/api/v1/usage", tag = "usage", security(("api_key" = [])),
    request_body(content = UsageBatch, example = json!({"records": [{"record_id": "r-1", "workspace": "acme-prod", "item": "log_events",
        "timestamp": "2026-11-30T10:00:00+08:00", "quantity": "2000000", "dimensions": {"retention_days": "7"}}]})),
    responses((status = 200, body = IngestReport), (status = 403, body = ErrorBody)))]
async fn ingest_json(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    // The count first, so an oversized batch is 413 whatever its records hold.
    let value = contract::json_body(&body)?;
    if value.get("records").and_then(serde_json::Value::as_array).is_some_and(|r| r.len() > MAX_JSON_RECORDS) {
        return Err(ApiError::too_large(format!("a batch holds at most {MAX_JSON_RECORDS} records; use /api/v1/usage/ndjson for more")));
    }
    let batch: UsageBatch = contract::from_value(value)?;
    let inputs = batch.records.into_iter().map(UsageInput::from).enumerate().collect();
    ingest_answer(st.app.ingest(now, inputs).await?, Vec::new())
}

/// Ingest a streamed NDJSON body of up to 1,000,000 usage records, one JSON object per line.
/// Records are stored in transactions of 10,000 as they arrive, so each line is judged on its
/// own: a line that is not a record the document allows, or that the catalog or the calendar
/// refuses, is answered in `rejected` (its `index` is the line, from 0) and the others stored.
/// A body without a record is refused.
#[utoipa::path(post, path = "/api/v1/usage/ndjson", tag = "usage", security(("api_key" = [])),
    request_body(content = contract::TextBody, content_type = "application/x-ndjson",
        example = "{\"record_id\":\"r-1\",\"workspace\":\"acme-prod\",\"item\":\"sms\",\"timestamp\":\"2026-11-30T10:00:00+08:00\",\"quantity\":\"50\"}\n"),
    responses((status = 200, body = IngestReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn ingest_ndjson(State(st): St, auth: Auth, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let mut stream = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut inputs = Vec::new();
    let mut rejected = Vec::new();
    let mut total = 0usize;
    let mut any_byte = false;
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
            any_byte |= !chunk.is_empty();
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
    if total == 0 {
        contract::require_body(!any_byte)?;
        return Err(ApiError::invalid("body", "the body holds no record (one JSON object per line)"));
    }
    ingest_answer(stored, rejected)
}

// ---- funds -------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TopUp {
    /// More than zero, with at most the currency's decimals.
    amount: AmountText,
    /// Default bank_transfer.
    channel: Option<Channel>,
}

#[derive(Serialize, ToSchema)]
struct TopUpDone {
    /// The ledger document of the top-up.
    #[schema(example = "TU-3")]
    document: String,
    #[schema(example = "100.00")]
    amount: String,
    /// The cash balance after it (arrears are repaid first).
    #[schema(example = "1300.00")]
    cash: String,
    /// The account's standing after it.
    #[schema(example = "normal")]
    state: String,
}

/// Add cash to an account; arrears are repaid first.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/top-ups", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = TopUp, example = json!({"amount": "100.00", "channel": "bank_transfer"})),
    responses((status = 201, body = TopUpDone), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn top_up(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: TopUp| async move {
        let r = app.top_up(now, id, &req.amount, req.channel.as_deref().unwrap_or("bank_transfer")).await?;
        created(&TopUpDone { document: r.document, amount: r.amount, cash: r.cash_after, state: r.state })
    })
    .await
}

/// A typed answer of a money-moving operation, for [`money_post`].
fn created<T: Serialize>(body: &T) -> ApiResult<(StatusCode, serde_json::Value)> {
    Ok((StatusCode::CREATED, serde_json::to_value(body).expect("answers serialise")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CouponBody {
    amount: AmountText,
    kind: CouponKind,
    valid_from: Day,
    /// On or after `valid_from`.
    valid_until: Day,
    /// Billable items it may pay; empty for all.
    #[serde(default)]
    items: Vec<Code>,
    /// For activation codes: the code to create (default generated).
    #[serde(default)]
    code: Option<contract::CouponCode>,
}

impl CouponBody {
    fn request(&self) -> CouponRequest {
        CouponRequest {
            amount: self.amount.0.clone(),
            kind: self.kind.0.clone(),
            valid_from: self.valid_from.0.clone(),
            valid_until: self.valid_until.0.clone(),
            items: self.items.iter().map(|i| i.0.clone()).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct InstrumentView {
    /// CPN-n for coupons, PC-n for prepaid cards.
    #[schema(example = "CPN-4")]
    code: String,
    /// regular, discount or card.
    #[schema(example = "regular")]
    kind: String,
    /// issued, activated, purchased or granted.
    #[schema(example = "issued")]
    origin: String,
    #[schema(example = "30.00")]
    face_value: String,
    #[schema(example = "2026-12-01")]
    valid_from: String,
    #[schema(example = "2026-12-31")]
    valid_until: String,
    /// The billable items it may pay, comma-separated; null for all.
    #[schema(example = "log_events")]
    scope: Option<String>,
}

fn instrument_view(i: &NewInstrument) -> InstrumentView {
    InstrumentView {
        code: i.row.code.clone(),
        kind: i.row.kind.clone(),
        origin: i.row.origin.clone(),
        face_value: i.face_value.clone(),
        valid_from: i.row.valid_from.to_string(),
        valid_until: i.row.valid_until.to_string(),
        scope: i.row.scope.clone(),
    }
}

/// Issue a coupon to an account.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/coupons", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = CouponBody, example = json!({"amount": "30.00", "kind": "regular", "valid_from": "2026-12-01", "valid_until": "2026-12-31", "items": ["log_events"]})),
    responses((status = 201, body = InstrumentView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn issue_coupon(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: CouponBody| async move {
        let c = app.issue_coupon(now, id, req.request()).await?;
        created(&instrument_view(&c))
    })
    .await
}

#[derive(Serialize, ToSchema)]
struct CouponCodeView {
    /// The activation code to hand to one customer.
    #[schema(example = "WINTER-2026")]
    code: String,
}

/// Create a coupon activation code that one customer may redeem.
#[utoipa::path(post, path = "/api/v1/coupon-codes", tag = "funds", security(("api_key" = [])),
    request_body(content = CouponBody, example = json!({"amount": "30.00", "kind": "regular", "valid_from": "2026-12-01", "valid_until": "2026-12-31", "code": "WINTER-2026"})),
    responses((status = 201, body = CouponCodeView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_coupon_code(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let req: CouponBody = parse(&body)?;
    let code = st.app.create_coupon_code(now, req.code.as_deref(), &req.request()).await?;
    answer(StatusCode::CREATED, &CouponCodeView { code })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Redeem {
    code: contract::CouponCode,
}

/// Redeem an activation code for the account (account keys may do this for their own account).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/coupon-codes/redeem", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = Redeem, example = json!({"code": "WINTER-2026"})),
    responses((status = 201, body = InstrumentView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
        created(&instrument_view(&c))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CardBody {
    /// A multiple of 100 of the currency.
    amount: AmountText,
    valid_from: Day,
    /// On or after `valid_from`.
    valid_until: Day,
    /// true: bought with cash; false: granted by the operator.
    purchase: bool,
}

/// Sell or grant a prepaid card.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/cards", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = CardBody, example = json!({"amount": "500", "valid_from": "2026-12-01", "valid_until": "2027-11-30", "purchase": true})),
    responses((status = 201, body = InstrumentView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_card(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: CardBody| async move {
        let r = CardRequest { amount: req.amount.0, valid_from: req.valid_from.0, valid_until: req.valid_until.0, purchase: req.purchase };
        let c = app.add_card(now, id, r).await?;
        created(&instrument_view(&c))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PackageBody {
    package: Code,
    /// The first day it covers, today or later.
    start: Day,
}

#[derive(Serialize, ToSchema)]
struct PackageView {
    #[schema(example = "PKG-2")]
    number: String,
    #[schema(example = "starter")]
    package: String,
    #[schema(example = "2026-12-01")]
    start: String,
    /// The last day it covers.
    #[schema(example = "2027-11-30")]
    until: String,
}

/// Sell an annual package: paid upfront, never into arrears.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packages", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = PackageBody, example = json!({"package": "starter", "start": "2026-12-01"})),
    responses((status = 201, body = PackageView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn buy_package(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: PackageBody| async move {
        let p = app.buy_package(now, id, &req.package, &req.start).await?;
        let until = billing::period::previous_day(p.end_day);
        created(&PackageView {
            number: format!("PKG-{}", p.package_no),
            package: p.plan,
            start: p.start_day.to_string(),
            until: until.to_string(),
        })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PackBody {
    /// The catalog's code of the resource pack.
    pack: Code,
    /// The first day it covers (in the account's zone), today or later; today when left out.
    start: Option<Day>,
}

#[derive(Serialize, ToSchema)]
struct PackView {
    #[schema(example = "RP-1")]
    number: String,
    #[schema(example = "log_events_500m")]
    pack: String,
    #[schema(example = "log_events")]
    item: String,
    #[schema(example = "500000000")]
    volume: String,
    #[schema(example = "2026-12-01")]
    valid_from: String,
    #[schema(example = "2027-11-30")]
    valid_until: String,
    /// bought or granted.
    #[schema(example = "bought")]
    origin: String,
}

async fn add_pack(st: &ApiState, auth: &Auth, headers: &HeaderMap, account: &str, body: &Bytes, origin: PackOrigin) -> ApiResult<Response> {
    let app = &st.app;
    money_post(st, auth, headers, account, body, origin == PackOrigin::Granted, move |now, req: PackBody| async move {
        let p = app.add_pack(now, account, &req.pack, req.start.as_deref(), origin).await?;
        created(&PackView {
            number: format!("RP-{}", p.pack_no),
            volume: app::packs::quantity_text(p.volume),
            pack: p.offer,
            item: p.item,
            valid_from: p.valid_from.to_string(),
            valid_until: p.valid_until.to_string(),
            origin: p.origin,
        })
    })
    .await
}

/// Buy a resource pack: paid now by coupons, then cards, then cash, never into arrears. The
/// account's own key may buy one.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packs", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = PackBody, example = json!({"pack": "log_events_500m", "start": "2026-12-01"})),
    responses((status = 201, body = PackView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn buy_pack(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    add_pack(&st, &auth, &headers, &account, &body, PackOrigin::Bought).await
}

/// Grant a resource pack (operators only): no money moves.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packs/grant", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = PackBody, example = json!({"pack": "sms_10k"})),
    responses((status = 201, body = PackView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn grant_pack(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    add_pack(&st, &auth, &headers, &account, &body, PackOrigin::Granted).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    /// The dearer plan to move to today.
    package: Code,
}

#[derive(Serialize, ToSchema)]
struct UpgradeView {
    /// The package that ends today.
    #[schema(example = "PKG-1")]
    ended: String,
    #[schema(example = "2026-12-04")]
    ended_on: String,
    /// Its unused days, credited to cash.
    #[schema(example = "19101.36")]
    credit: String,
    #[schema(example = "PKG-2")]
    number: String,
    #[schema(example = "growth")]
    package: String,
    #[schema(example = "2026-12-04")]
    start: String,
    #[schema(example = "2027-12-03")]
    until: String,
}

/// Upgrade the annual package in force today: the old one ends today and its unused days are
/// credited to cash pro rata by day; the new one starts today, paid like a purchase.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/packages/upgrade", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = UpgradeBody, example = json!({"package": "growth"})),
    responses((status = 201, body = UpgradeView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upgrade_package(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: UpgradeBody| async move {
        let u = app.upgrade_package(now, id, &req.package).await?;
        let until = billing::period::previous_day(u.new.end_day);
        created(&UpgradeView {
            ended: format!("PKG-{}", u.ended.package_no),
            ended_on: u.ended.end_day.to_string(),
            credit: u.credit,
            number: format!("PKG-{}", u.new.package_no),
            package: u.new.plan,
            start: u.new.start_day.to_string(),
            until: until.to_string(),
        })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Alerts {
    /// `balance.low` fires when spendable funds fall below this amount.
    low_balance: Option<AmountText>,
    /// `spend.high` fires when an item's daily amount reaches its threshold (item code to amount).
    #[serde(default)]
    high_daily_spend: BTreeMap<Code, AmountText>,
}

/// Set the account's alert thresholds.
#[utoipa::path(put, path = "/api/v1/accounts/{account}/alerts", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path)),
    request_body(content = Alerts, example = json!({"low_balance": "200.00", "high_daily_spend": {"log_events": "500.00"}})),
    responses((status = 204, description = "The thresholds are set."), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_alerts(State(st): St, auth: Auth, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    auth.account(&account)?;
    auth.operator()?;
    let req: Alerts = parse(&body)?;
    // A refusal names the field as the request does.
    let named = |field: String| {
        move |e: app::AppError| match e {
            app::AppError::Invalid { reason, .. } => ApiError::invalid(&field, reason),
            other => other.into(),
        }
    };
    if let Some(t) = &req.low_balance {
        st.app.set_alert(&account, None, t).await.map_err(named("low_balance".into()))?;
    }
    for (item, t) in &req.high_daily_spend {
        st.app.set_alert(&account, Some(item), t).await.map_err(named(format!("high_daily_spend.{}", item.0)))?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- tax invoices and refunds ------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaxInvoiceBody {
    /// More than zero, at most what the months give, with at most the currency's decimals.
    amount: AmountText,
    /// Months with issued invoices to draw on, oldest first; all when absent.
    #[serde(default)]
    months: Vec<Month>,
    /// Default ordinary.
    #[serde(default)]
    kind: Option<TaxKind>,
    /// The buyer's name as printed.
    title: Name,
    /// The buyer's taxpayer id.
    tax_id: TaxId,
    /// The buyer's address and bank details; required for special_vat.
    #[serde(default)]
    address: Option<Text>,
    email: Email,
}

#[derive(Serialize, ToSchema)]
struct TaxInvoiceView {
    #[schema(example = "acme")]
    account: String,
    /// The request's number.
    #[schema(example = 1)]
    request: i64,
    #[schema(example = "120.00")]
    amount: String,
    /// requested, issued, rejected or reversed.
    #[schema(example = "requested")]
    status: String,
    #[schema(example = "ordinary")]
    kind: String,
    #[schema(example = "Acme Ltd")]
    title: String,
    #[schema(example = "91330100MA2AAAAA1X")]
    tax_id: String,
    /// The tax invoice's number, once issued.
    #[schema(example = "24332000000000000001")]
    tax_invoice_no: Option<String>,
    /// The day printed on it, once issued.
    #[schema(example = "2026-12-05")]
    issued_on: Option<String>,
    /// Why it was rejected or reversed.
    reason: Option<String>,
    /// The SHA-256 of the tax invoice's PDF, once one is attached (`GET .../pdf` downloads it).
    #[schema(example = "a3701687567170f8fd180455f63f17a4fc7ec290adc29c921052d4c419dbc4cb")]
    pdf_sha256: Option<String>,
}

fn tax_invoice_view(account: &app::Account, r: store::TaxInvoiceRow) -> TaxInvoiceView {
    TaxInvoiceView {
        amount: account.currency.format(billing::Amount(r.amount)),
        account: r.account_id,
        request: r.request_no,
        status: r.status,
        kind: r.kind,
        title: r.title,
        tax_id: r.tax_id,
        tax_invoice_no: r.invoice_no,
        issued_on: r.issued_on,
        reason: r.reason,
        pdf_sha256: r.pdf_sha256,
    }
}

/// Request a tax invoice drawn on the invoiceable amount of issued months (account keys may, for
/// their own account). The amount is held until an operator issues or rejects it.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/tax-invoices", tag = "tax invoices", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = TaxInvoiceBody, example = json!({"amount": "120.00", "months": ["2026-10"], "kind": "ordinary", "title": "Acme Ltd",
        "tax_id": "91330100MA2AAAAA1X", "email": "tax@acme.example"})),
    responses((status = 201, body = TaxInvoiceView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
            amount: req.amount.0,
            months: req.months.into_iter().map(|m| m.0).collect(),
            kind: req.kind.map(|k| k.0).unwrap_or_default(),
            title: req.title.0,
            tax_id: req.tax_id.0,
            address: req.address.map(|a| a.0).unwrap_or_default(),
            email: req.email.0,
        };
        let row = app.request_tax_invoice(now, id, &r).await?;
        created(&tax_invoice_view(&app.account(id).await?, row))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaxInvoiceDecision {
    /// The tax invoice's number (issue).
    #[serde(default)]
    number: Option<contract::TaxInvoiceNo>,
    /// The day printed on it (issue; today in the account's zone when absent).
    #[serde(default)]
    date: Option<Day>,
    /// Why (reject, reverse).
    #[serde(default)]
    reason: Option<Text>,
}

/// An operator's decision on a request: `issue` it, `reject` it (its amount returns) or
/// `reverse` an issued one (red-letter; its amount returns).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/tax-invoices/{id}/{decision}", tag = "tax invoices", security(("api_key" = [])),
    params(("account" = Id, Path), ("id" = i64, Path, description = "the request number", minimum = 1),
        ("decision" = contract::DecisionName, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = TaxInvoiceDecision, example = json!({"number": "24332000000000000001", "date": "2026-12-05"})),
    responses((status = 200, body = TaxInvoiceView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decide_tax_invoice(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path((account, id, decision)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let (app, account_id) = (&st.app, account.as_str());
    let request_no = request_no(&id)?;
    if !matches!(decision.as_str(), "issue" | "reject" | "reverse") {
        return Err(ApiError::not_found(&format!("decision `{decision}` (issue, reject or reverse)")));
    }
    money_post(&st, &auth, &headers, account_id, &body, true, move |now, req: TaxInvoiceDecision| async move {
        let reason = req.reason.map(|r| r.0).unwrap_or_default();
        let d = match decision.as_str() {
            "issue" => app::tax_invoice::Decision::Issue {
                invoice_no: req.number.map(|n| n.0).unwrap_or_default(),
                issued_on: req.date.map(|d| d.0).unwrap_or_default(),
                pdf: None,
            },
            "reject" => app::tax_invoice::Decision::Reject { reason },
            _ => app::tax_invoice::Decision::Reverse { reason },
        };
        let row = app.decide_tax_invoice(now, account_id, request_no, &d).await?;
        Ok((StatusCode::OK, serde_json::to_value(tax_invoice_view(&app.account(account_id).await?, row)).expect("answers serialise")))
    })
    .await
}

/// A tax invoice request's number from the path.
fn request_no(id: &str) -> ApiResult<i64> {
    id.parse().ok().filter(|n| *n >= 1).ok_or_else(|| ApiError::not_found(&format!("tax invoice request `{id}`")))
}

/// Attach the PDF of an issued tax invoice (operators): the body is the file as the tax
/// authority's system produced it, at most 4 MiB; attaching again replaces it.
#[utoipa::path(put, path = "/api/v1/accounts/{account}/tax-invoices/{id}/pdf", tag = "tax invoices", security(("api_key" = [])),
    params(("account" = Id, Path), ("id" = i64, Path, description = "the request number", minimum = 1)),
    request_body(content = Vec<u8>, content_type = "application/pdf"),
    responses((status = 200, body = TaxInvoiceView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn attach_tax_invoice_pdf(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path((account, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.account(&account)?;
    auth.operator()?;
    let request_no = request_no(&id)?;
    // The document requires a body: none is refused as such, before any rule looks at it.
    if body.is_empty() {
        return Err(ApiError::malformed("pdf", "the body is the PDF file, and it is empty"));
    }
    let now = st.now(&headers)?;
    let row = st.app.attach_tax_invoice_pdf(now, &account, request_no, body.to_vec()).await?;
    Ok(json(StatusCode::OK, serde_json::to_value(tax_invoice_view(&st.app.account(&account).await?, row)).expect("answers serialise")))
}

/// The PDF attached to an issued tax invoice.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/tax-invoices/{id}/pdf", tag = "tax invoices", security(("api_key" = [])),
    params(("account" = Id, Path), ("id" = i64, Path, description = "the request number", minimum = 1)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>)))]
async fn tax_invoice_pdf(State(st): St, auth: Auth, Path((account, id)): Path<(String, String)>) -> ApiResult<Response> {
    auth.account(&account)?;
    tax_invoice_pdf_file(&st, &account, request_no(&id)?).await
}

/// A tax invoice's PDF as a download (the API's route and the tax invoices page's link), named
/// by the tax invoice's number.
pub(crate) async fn tax_invoice_pdf_file(st: &ApiState, account: &str, request_no: i64) -> ApiResult<Response> {
    let (row, pdf) = st.app.tax_invoice_pdf(account, request_no).await?;
    let number: String = row.invoice_no.unwrap_or_default().chars().filter(char::is_ascii_alphanumeric).collect();
    let disposition = format!("attachment; filename=\"{account}-tax-invoice-{number}.pdf\"");
    Ok(([(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, disposition)], pdf.content).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// At most the account's cash.
    amount: AmountText,
    reason: Text,
}

#[derive(Serialize, ToSchema)]
struct RefundView {
    /// The refund's number.
    #[schema(example = 1)]
    refund: i64,
    #[schema(example = "50.00")]
    amount: String,
    /// The cash balance after it.
    #[schema(example = "1250.00")]
    cash: String,
    /// What it took off the invoiceable amount.
    #[schema(example = "50.00")]
    invoiceable_reduced: String,
}

/// Pay cash back to a customer. What is refunded is no longer invoiceable, as far as tax
/// invoices do not already hold it.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/refunds", tag = "funds", security(("api_key" = [])),
    params(("account" = Id, Path), ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header)),
    request_body(content = RefundBody, example = json!({"amount": "50.00", "reason": "Duplicate payment"})),
    responses((status = 201, body = RefundView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn refund(State(st): St, auth: Auth, headers: HeaderMap, Path(account): Path<String>, body: Bytes) -> ApiResult<Response> {
    let (app, id) = (&st.app, account.as_str());
    money_post(&st, &auth, &headers, id, &body, true, move |now, req: RefundBody| async move {
        let r = app.refund(now, id, &req.amount, &req.reason).await?;
        created(&RefundView {
            refund: r.refund.refund_no,
            amount: r.amount,
            cash: r.cash_after,
            invoiceable_reduced: r.invoiceable_reduced,
        })
    })
    .await
}

// ---- lists and exports -------------------------------------------------------------------

/// The media type of an XLSX workbook.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The filters of the lists, with the rule each keeps; the document's query parameters and
/// the check of a request are both made from this table.
const FILTERS: [(&str, &contract::Rule, &str); 9] = [
    ("from", &contract::DAY, "The first day shown (invoices: the first month's day; transactions: in the account's zone)."),
    ("to", &contract::DAY, "The last day shown."),
    ("month", &contract::MONTH, "Detailed expenses: one month."),
    ("workspace", &contract::ID, "Detailed expenses: one workspace."),
    ("item", &contract::CODE, "Detailed expenses: one billable item."),
    ("charge_type", &contract::CHARGE_TYPE, "Detailed expenses: one charge type."),
    ("type", &contract::TX_TYPE, "Transactions: one type."),
    ("fund", &contract::FUND, "Transactions: one fund (cash, coupon, card) or one instrument (CPN-n, PC-n)."),
    ("status", &contract::STATUS, "Coupons, cards, resource packs and tax invoices: one status (each list has its own)."),
];

fn filter_params() -> Vec<utoipa::openapi::path::Parameter> {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    FILTERS
        .iter()
        .map(|(name, rule, what)| {
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .description(Some(*what))
                .schema(Some(rule.schema()))
                .build()
        })
        .collect()
}

/// The query parameters of a list page: the filters, `limit` and `cursor`.
struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>) -> Vec<utoipa::openapi::path::Parameter> {
        let mut p = filter_params();
        p.extend(page_params());
        p
    }
}

/// The query parameters of an export: the filters and `format`.
struct ExportParams;

impl IntoParams for ExportParams {
    fn into_params(_: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        let mut p = filter_params();
        p.push(
            ParameterBuilder::new()
                .name("format")
                .parameter_in(ParameterIn::Query)
                .description(Some("Default csv."))
                .schema(Some(contract::EXPORT_FORMAT.schema()))
                .build(),
        );
        p
    }
}

#[derive(Deserialize, serde::Serialize, Default, Clone)]
pub(crate) struct ListQuery {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) month: Option<String>,
    pub(crate) workspace: Option<String>,
    pub(crate) item: Option<String>,
    pub(crate) charge_type: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) fund: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) limit: Option<usize>,
    pub(crate) cursor: Option<String>,
    /// Exports only: csv (default), xlsx or json.
    pub(crate) format: Option<String>,
}

impl ListQuery {
    /// `400 invalid_input` for the first filter the document does not allow.
    fn check(&self) -> ApiResult<()> {
        let given =
            [&self.from, &self.to, &self.month, &self.workspace, &self.item, &self.charge_type, &self.kind, &self.fund, &self.status];
        for ((name, rule, _), value) in FILTERS.iter().zip(given) {
            if let Some(v) = value {
                rule.check(name, v)?;
            }
        }
        Ok(())
    }

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

/// A row of a list: its columns' keys to their values, every value a string (amounts and
/// quantities as decimal strings).
#[derive(Serialize, Clone)]
#[serde(transparent)]
struct Row(BTreeMap<String, String>);

impl utoipa::PartialSchema for Row {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let text = ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(utoipa::openapi::RefOr::T(text.into()))))
            .description(Some("A row of a list: each column's key to its value, every value a string."))
            .examples([serde_json::json!({"day": "2026-11-30", "type": "top_up", "amount": "100.00"})])
            .into()
    }
}

impl utoipa::ToSchema for Row {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Row")
    }
}

#[derive(Serialize, ToSchema)]
struct ListPage {
    #[schema(example = "acme")]
    account: String,
    #[schema(example = "transactions")]
    list: String,
    #[schema(example = "CNY")]
    currency: String,
    #[schema(example = "Asia/Shanghai")]
    time_zone: String,
    /// The columns' titles, in order.
    columns: Vec<String>,
    /// The key of each column in `items`, in the same order.
    keys: Vec<String>,
    items: Vec<Row>,
    /// The cursor of the next page; null on the last.
    next_cursor: Option<String>,
    /// Transactions: the totals of the range; tax invoices: the invoiceable amount by month.
    summary: Option<Vec<Row>>,
}

fn rows_of(table: &export::Table) -> Vec<Row> {
    let keys = table.keys();
    table.rows.iter().map(|row| Row(keys.iter().cloned().zip(row.iter().map(|c| c.as_str().to_owned())).collect())).collect()
}

/// One of the Billing Center's lists (invoices, expenses, transactions, coupons, cards,
/// packs, balances, events, tax invoices, invoiceable amount) with its filters, a page at a
/// time.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/lists/{list}", tag = "lists", security(("api_key" = [])),
    params(("account" = Id, Path), ("list" = contract::ListName, Path), ListParams),
    responses((status = 200, body = ListPage), (status = 422, body = ErrorBody)))]
async fn get_list(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path((account, list)): Path<(String, String)>,
    contract::ApiQuery(q): contract::ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    auth.account(&account)?;
    q.check()?;
    // The page too, before any rule of the lists is asked.
    page::<()>(&[], q.limit, q.cursor.as_deref())?;
    let now = st.now(&headers)?;
    let (table, summary) = tables(&st, now, &account, &list, &q).await?;
    let a = st.app.account(&account).await?;
    let (items, next_cursor) = page(&rows_of(&table), q.limit, q.cursor.as_deref())?;
    answer(
        StatusCode::OK,
        &ListPage {
            keys: table.keys(),
            columns: table.columns,
            account,
            list,
            currency: a.row.currency,
            time_zone: a.row.time_zone,
            items,
            next_cursor,
            summary: summary.as_ref().map(rows_of),
        },
    )
}

/// Export a list with the current filter, all pages: CSV (UTF-8 with BOM, formula injection
/// neutralised), XLSX (typed cells, totals row, About sheet) or JSON (an array of rows keyed by
/// the columns' titles).
#[utoipa::path(get, path = "/api/v1/accounts/{account}/exports/{list}", tag = "lists", security(("api_key" = [])),
    params(("account" = Id, Path), ("list" = contract::ListName, Path), ExportParams),
    responses((status = 200, description = "The list as a file", content(
        (String = "text/csv"),
        (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (Vec<Row> = "application/json"))),
        (status = 422, body = ErrorBody)))]
async fn export_list(
    State(st): St,
    auth: Auth,
    headers: HeaderMap,
    Path((account, list)): Path<(String, String)>,
    contract::ApiQuery(q): contract::ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    auth.account(&account)?;
    q.check()?;
    if let Some(f) = &q.format {
        contract::EXPORT_FORMAT.check("format", f)?;
    }
    let now = st.now(&headers)?;
    export_file(&st, now, &account, &list, &q).await
}

/// One monthly invoice as a PDF: issued and paid invoices with their number and issue date,
/// the open month as a provisional statement (watermarked). The same invoice gives the same
/// bytes every time.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/invoices/{month}/pdf", tag = "lists", security(("api_key" = [])),
    params(("account" = Id, Path), ("month" = Month, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 422, body = ErrorBody)))]
async fn invoice_pdf(State(st): St, auth: Auth, Path((account, month)): Path<(String, String)>) -> ApiResult<Response> {
    auth.account(&account)?;
    contract::MONTH.check("month", &month)?;
    invoice_pdf_file(&st, &account, &month).await
}

#[derive(Deserialize)]
struct FocusQuery {
    format: Option<String>,
}

impl IntoParams for FocusQuery {
    fn into_params(_: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        vec![
            ParameterBuilder::new()
                .name("format")
                .parameter_in(ParameterIn::Query)
                .description(Some("Default csv."))
                .schema(Some(contract::FOCUS_FORMAT.schema()))
                .build(),
        ]
    }
}

/// A month of one account as a FOCUS 1.2 cost and usage file: every expense line, the credits
/// coupons and prepaid cards gave, and the cards bought; CSV or Parquet.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/focus/{month}", tag = "lists", security(("api_key" = [])),
    params(("account" = Id, Path), ("month" = Month, Path), FocusQuery),
    responses((status = 200, description = "The month as a FOCUS file", content((String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"))),
        (status = 422, body = ErrorBody)))]
async fn focus_file(
    State(st): St,
    auth: Auth,
    Path((account, month)): Path<(String, String)>,
    contract::ApiQuery(q): contract::ApiQuery<FocusQuery>,
) -> ApiResult<Response> {
    auth.account(&account)?;
    contract::MONTH.check("month", &month)?;
    let format = q.format.unwrap_or_else(|| "csv".to_owned());
    contract::FOCUS_FORMAT.check("format", &format)?;
    focus_download(&st, &account, &month, &format).await
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

#[derive(Serialize, ToSchema)]
struct VerifyReport {
    /// True when no check found a problem.
    clean: bool,
    checks: Vec<VerifyCheck>,
}

#[derive(Serialize, ToSchema)]
struct VerifyCheck {
    #[schema(example = "every account's cash equals its ledger")]
    check: String,
    /// How many objects it checked.
    #[schema(example = 6)]
    checked: usize,
    /// Each difference found; empty when clean.
    problems: Vec<String>,
}

/// Recompute every balance and total; `clean` is false at any difference.
#[utoipa::path(post, path = "/api/v1/verify", tag = "operations", security(("api_key" = [])),
    responses((status = 200, body = VerifyReport), (status = 403, body = ErrorBody)))]
async fn verify(State(st): St, auth: Auth) -> ApiResult<Response> {
    auth.operator()?;
    let r = st.app.verify().await?;
    let clean = r.is_clean();
    let checks = r.checks.into_iter().map(|c| VerifyCheck { check: c.name.to_owned(), checked: c.checked, problems: c.problems }).collect();
    answer(StatusCode::OK, &VerifyReport { clean, checks })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// The moment to run as of.
    now: contract::Timestamp,
}

#[derive(Serialize, ToSchema)]
struct RunView {
    /// Accounts that had days billed.
    accounts: usize,
    days: usize,
    lines: usize,
    adjustment_lines: usize,
    invoices_issued: usize,
    instruments_expired: usize,
    state_changes: usize,
}

/// Run the nightly job as of an explicit moment. Only on a server started with `--test-clock`
/// (404 otherwise).
#[utoipa::path(post, path = "/api/v1/run", tag = "operations", security(("api_key" = [])),
    request_body(content = RunBody, example = json!({"now": "2026-12-01T02:00:00+08:00"})),
    responses((status = 200, body = RunView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn run(State(st): St, auth: Auth, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    if !st.test_clock {
        return Err(ApiError::not_found("route (start the server with --test-clock)"));
    }
    let req: RunBody = parse(&body)?;
    let now: jiff::Timestamp =
        req.now.parse().map_err(|_| ApiError::malformed("now", format!("`{}` is not an RFC 3339 timestamp", req.now.0)))?;
    let options = RunOptions { invoice_day: st.invoice_day, ..RunOptions::default() };
    let r = st.app.run(now, options, &mut |_, _| {}).await?;
    answer(
        StatusCode::OK,
        &RunView {
            accounts: r.accounts_billed,
            days: r.days_billed,
            lines: r.lines,
            adjustment_lines: r.adjustment_lines,
            invoices_issued: r.invoices_issued,
            instruments_expired: r.instruments_expired,
            state_changes: r.state_changes,
        },
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: Url,
    /// The events it hears.
    events: Vec<Event>,
}

#[derive(Serialize, ToSchema)]
struct WebhookView {
    #[schema(example = 1)]
    id: i64,
    #[schema(example = "https://hooks.example.com/billing")]
    url: String,
    events: Vec<String>,
    /// The signing secret: only in the answer that registers the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct WebhookList {
    items: Vec<WebhookView>,
}

/// Register a webhook endpoint; the answer carries its signing secret (shown once).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("api_key" = [])),
    request_body(content = WebhookBody, example = json!({"url": "https://hooks.example.com/billing", "events": ["invoice.issued", "balance.low"]})),
    responses((status = 201, body = WebhookView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_webhook(State(st): St, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    auth.operator()?;
    let now = st.now(&headers)?;
    let req: WebhookBody = parse(&body)?;
    let events: Vec<String> = req.events.into_iter().map(|e| e.0).collect();
    let e = st.app.create_endpoint(now, &req.url, &events).await?;
    answer(StatusCode::CREATED, &WebhookView { id: e.endpoint_id, url: e.url, events, secret: Some(e.secret) })
}

/// The registered webhook endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("api_key" = [])),
    responses((status = 200, body = WebhookList), (status = 403, body = ErrorBody)))]
async fn list_webhooks(State(st): St, auth: Auth) -> ApiResult<Response> {
    auth.operator()?;
    let items = st
        .app
        .endpoints()
        .await?
        .into_iter()
        .map(|e| WebhookView {
            id: e.endpoint_id,
            url: e.url,
            events: e.events.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            secret: None,
        })
        .collect();
    answer(StatusCode::OK, &WebhookList { items })
}

#[derive(Serialize, ToSchema)]
struct Delivery {
    /// The id the receiver sees (`webhook-id`).
    message_id: String,
    account: String,
    event_no: i64,
    attempts: i64,
    /// RFC 3339; null until delivered.
    delivered_at: Option<String>,
    /// RFC 3339.
    next_attempt: String,
    /// The receiver's last HTTP status.
    last_status: Option<i64>,
    last_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct DeliveryPage {
    items: Vec<Delivery>,
    /// The cursor of the next page; null on the last.
    next_cursor: Option<String>,
}

/// The delivery log of one endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("api_key" = [])),
    params(("id" = i64, Path, minimum = 1), Page), responses((status = 200, body = DeliveryPage), (status = 403, body = ErrorBody)))]
async fn list_deliveries(
    State(st): St,
    auth: Auth,
    Path(id): Path<String>,
    contract::ApiQuery(p): contract::ApiQuery<Page>,
) -> ApiResult<Response> {
    auth.operator()?;
    let missing = || ApiError::not_found(&format!("webhook endpoint `{id}`"));
    let id: i64 = id.parse().ok().filter(|n| *n >= 1).ok_or_else(missing)?;
    if !st.app.endpoints().await?.iter().any(|e| e.endpoint_id == id) {
        return Err(missing());
    }
    let rows = st.app.deliveries(id, 100_000).await?;
    let (rows, next_cursor) = page(&rows, p.limit, p.cursor.as_deref())?;
    let items = rows
        .into_iter()
        .map(|d| Delivery {
            message_id: d.message_id,
            account: d.account_id,
            event_no: d.event_no,
            attempts: d.attempts,
            delivered_at: d.delivered_at.map(|t| t.to_string()),
            next_attempt: d.next_attempt.to_string(),
            last_status: d.last_status,
            last_error: d.last_error,
        })
        .collect();
    answer(StatusCode::OK, &DeliveryPage { items, next_cursor })
}
