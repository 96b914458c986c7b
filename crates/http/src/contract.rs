//! The API's contract: the rule of every text field, parameter and header, kept once and used
//! twice — to write the OpenAPI document (pattern, length, enumeration, format, example) and to
//! check requests against it. A request the document refuses is answered `400 invalid_input`
//! naming the field, before any use case runs; a request the document allows but a rule of the
//! account, the catalog or the calendar refuses is answered `422 invalid_input` by the use case.
//! The two cannot drift: the document's pattern is the regular expression the check runs.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

use crate::ApiError;
use crate::error::ERROR_CODES;

/// What a text value must be.
pub struct Rule {
    /// Said in messages: "`x` is not {what}".
    pub what: &'static str,
    /// Anchored; the same expression in the document and in the check.
    pub pattern: &'static str,
    pub max_length: usize,
    /// The allowed values, when the rule is an enumeration (the pattern is then made from them).
    pub values: Option<fn() -> Vec<&'static str>>,
    pub format: Option<KnownFormat>,
    pub example: &'static str,
    compiled: OnceLock<Regex>,
}

impl Rule {
    const fn new(what: &'static str, pattern: &'static str, max_length: usize, example: &'static str) -> Rule {
        Rule { what, pattern, max_length, values: None, format: None, example, compiled: OnceLock::new() }
    }

    const fn choice(what: &'static str, values: fn() -> Vec<&'static str>, example: &'static str) -> Rule {
        Rule { what, pattern: "", max_length: 64, values: Some(values), format: None, example, compiled: OnceLock::new() }
    }

    const fn formatted(mut self, format: KnownFormat) -> Rule {
        self.format = Some(format);
        self
    }

    /// Whether `text` keeps the rule.
    pub fn allows(&self, text: &str) -> bool {
        if let Some(values) = self.values {
            return values().contains(&text);
        }
        if text.chars().count() > self.max_length {
            return false;
        }
        let regex = self.compiled.get_or_init(|| Regex::new(self.pattern).expect("a contract pattern compiles"));
        regex.is_match(text)
            && match self.format {
                Some(KnownFormat::Date) => text.parse::<jiff::civil::Date>().is_ok(),
                Some(KnownFormat::DateTime) => text.parse::<jiff::Timestamp>().is_ok(),
                _ => true,
            }
    }

    /// `400 invalid_input` for `field` unless `text` keeps the rule.
    pub fn check(&self, field: &str, text: &str) -> Result<(), ApiError> {
        if self.allows(text) { Ok(()) } else { Err(ApiError::malformed(field, self.message(text))) }
    }

    fn message(&self, text: &str) -> String {
        let shown: String = text.chars().take(80).collect();
        match self.values {
            Some(values) => format!("`{shown}` is not one of {}", values().join(", ")),
            None => format!("`{shown}` is not {}", self.what),
        }
    }

    /// The rule as a JSON schema of a string.
    pub fn schema(&self) -> Schema {
        let mut b = ObjectBuilder::new().schema_type(Type::String).description(Some(format!("{}.", capitalised(self.what))));
        match self.values {
            Some(values) => b = b.enum_values(Some(values())),
            None => {
                b = b.pattern(Some(self.pattern)).max_length(Some(self.max_length));
                if let Some(f) = &self.format {
                    b = b.format(Some(SchemaFormat::KnownFormat(f.clone())));
                }
            }
        }
        Schema::Object(b.examples([self.example]).build())
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// A free text: no control characters.
const TEXT: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

pub static RECORD_ID: Rule =
    Rule::new("a record id of 1 to 128 characters without control characters", r"^[^\x00-\x1f\x7f-\x9f]{1,128}$", 128, "r-2026-11-30-0001");
pub static ID: Rule = Rule::new("1 to 64 letters, digits, '-', '_' or '.'", r"^[A-Za-z0-9._-]{1,64}$", 64, "acme");
pub static CODE: Rule = Rule::new("a catalog code: 1 to 64 letters, digits, '-', '_' or '.'", r"^[A-Za-z0-9._-]{1,64}$", 64, "starter");
pub static NAME: Rule =
    Rule::new("a name of 1 to 200 characters without control characters", r"^[^\x00-\x1f\x7f-\x9f]{1,200}$", 200, "Acme Ltd");
pub static TEXT_500: Rule = Rule::new("a text of at most 500 characters without control characters", TEXT, 500, "Duplicate payment");
pub static AMOUNT: Rule = Rule::new(
    "a plain decimal amount: digits, optionally a point and at most 4 more digits (the account's currency may take fewer)",
    r"^[0-9]{1,15}(\.[0-9]{1,4})?$",
    20,
    "100.00",
);
pub static QUANTITY: Rule = Rule::new(
    "a plain decimal quantity: digits, optionally a point and at most 6 more digits",
    r"^[0-9]{1,18}(\.[0-9]{1,6})?$",
    25,
    "1250.5",
);
pub static DAY: Rule = Rule::new("a day (YYYY-MM-DD)", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", 10, "2026-12-01").formatted(KnownFormat::Date);
pub static MONTH: Rule = Rule::new("a month (YYYY-MM)", r"^[0-9]{4}-(0[1-9]|1[0-2])$", 7, "2026-11");
pub static TIMESTAMP: Rule = Rule::new(
    "an RFC 3339 timestamp with its offset",
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
    35,
    "2026-11-30T10:00:00+08:00",
)
.formatted(KnownFormat::DateTime);
pub static ZONE: Rule = Rule::new("an IANA time zone name", r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$", 64, "Asia/Shanghai");
pub static CURRENCY: Rule = Rule::new("an ISO 4217 currency code", r"^[A-Z]{3}$", 3, "CNY");
pub static EMAIL: Rule =
    Rule::new("an email address", r"^[^@ \x00-\x1f\x7f-\x9f]{1,64}@[^@ \x00-\x1f\x7f-\x9f]{1,189}$", 254, "tax@acme.example");
pub static TAX_ID: Rule = Rule::new("a taxpayer id of 15 to 20 letters and digits", r"^[A-Za-z0-9]{15,20}$", 20, "91330100MA2AAAAA1X");
pub static URL: Rule = Rule::new("an http(s) URL", r"^https?://[^ \x00-\x1f\x7f-\x9f]{1,2040}$", 2048, "https://hooks.example.com/billing");
pub static IDEMPOTENCY_KEY: Rule =
    Rule::new("1 to 255 visible ASCII characters", r"^[\x21-\x7e]{1,255}$", 255, "5f0c3a9e-8d7b-4e21-9a55-0c1d2e3f4a5b");
pub static COUPON_CODE: Rule =
    Rule::new("an activation code of 1 to 64 letters, digits or '-'", r"^[A-Za-z0-9-]{1,64}$", 64, "WINTER-2026");
pub static TAX_INVOICE_NO: Rule = Rule::new(
    "a tax invoice number of 1 to 64 characters without control characters",
    r"^[^\x00-\x1f\x7f-\x9f]{1,64}$",
    64,
    "24332000000000000001",
);
pub static CURSOR: Rule = Rule::new("the `next_cursor` of the previous page", r"^o[0-9]{1,12}$", 13, "o100");
pub static FUND: Rule =
    Rule::new("cash, coupon, card, CPN-<n> or PC-<n>", r"^(cash|coupon|card|CPN-[0-9]{1,18}|PC-[0-9]{1,18})$", 21, "cash");
pub static COUPON_KIND: Rule = Rule::choice("a coupon kind", || vec!["regular", "discount"], "regular");
pub static CHANNEL: Rule = Rule::choice("a top-up channel", || app::funds::TOP_UP_CHANNELS.to_vec(), "bank_transfer");
pub static TAX_KIND: Rule =
    Rule::choice("a tax invoice kind", || billing::tax_invoice::TaxInvoiceKind::ALL.iter().map(|k| k.as_str()).collect(), "ordinary");
pub static EVENT: Rule = Rule::choice("an event name", || app::operator::EVENTS.to_vec(), "invoice.issued");
pub static LIST: Rule = Rule::choice("a list", || crate::LISTS.to_vec(), "transactions");
pub static DECISION: Rule = Rule::choice("a decision", || vec!["issue", "reject", "reverse"], "issue");
pub static EXPORT_FORMAT: Rule = Rule::choice("an export format", || vec!["csv", "xlsx", "json"], "csv");
pub static FOCUS_FORMAT: Rule = Rule::choice("a FOCUS file format", || vec!["csv", "parquet"], "csv");
pub static CHARGE_TYPE: Rule =
    Rule::choice("a charge type", || billing::ChargeType::ALL.iter().map(|c| c.as_str()).collect(), "pay_as_you_go");
pub static TX_TYPE: Rule =
    Rule::choice("a transaction type", || billing::ledger::TxKind::ALL.iter().map(|k| k.as_str()).collect(), "top_up");
pub static STATUS: Rule = Rule::choice("a status of the list", app::lists::statuses, "active");

/// Rows of a list page, 1 to 1,000.
pub const LIMIT: (usize, usize) = (1, 1000);

/// A string field kept to its rule: deserialising checks it, the document shows it.
macro_rules! checked {
    ($($(#[$doc:meta])* $name:ident = $rule:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name(pub String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                if $rule.allows(&text) { Ok($name(text)) } else { Err(serde::de::Error::custom($rule.message(&text))) }
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T($rule.schema())
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

checked! {
    Id = ID;
    RecordId = RECORD_ID;
    Code = CODE;
    Name = NAME;
    Text = TEXT_500;
    AmountText = AMOUNT;
    Day = DAY;
    Month = MONTH;
    Timestamp = TIMESTAMP;
    Zone = ZONE;
    CurrencyCode = CURRENCY;
    Email = EMAIL;
    TaxId = TAX_ID;
    Url = URL;
    CouponKind = COUPON_KIND;
    Channel = CHANNEL;
    TaxKind = TAX_KIND;
    Event = EVENT;
    CouponCode = COUPON_CODE;
    IdempotencyKey = IDEMPOTENCY_KEY;
    TaxInvoiceNo = TAX_INVOICE_NO;
    DecisionName = DECISION;
    ListName = LIST;
}

/// A quantity: a decimal string, or a JSON integer (a fraction is sent as a string, never as a
/// binary floating-point number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityValue(pub String);

impl<'de> Deserialize<'de> for QuantityValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if QUANTITY.allows(&s) => Ok(QuantityValue(s)),
            Value::String(s) => Err(serde::de::Error::custom(QUANTITY.message(&s))),
            Value::Number(n) => {
                match n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_EXACT).map(|f| f as u64)) {
                    // A JSON integer is exact up to 2^53 - 1 in every reader (`3.0` is the integer 3).
                    Some(q) if q <= MAX_EXACT as u64 => Ok(QuantityValue(q.to_string())),
                    _ => Err(serde::de::Error::custom(format!(
                        "`{n}` is not a non-negative integer up to {MAX_EXACT} (send a decimal string)"
                    ))),
                }
            }
            other => Err(serde::de::Error::custom(format!("`{other}` is not a decimal string or a non-negative integer"))),
        }
    }
}

/// The largest integer every JSON reader holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

impl utoipa::PartialSchema for QuantityValue {
    fn schema() -> RefOr<Schema> {
        let integer = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(MAX_EXACT)).build();
        let one_of = utoipa::openapi::schema::OneOfBuilder::new()
            .item(QUANTITY.schema())
            .item(integer)
            .description(Some("A decimal string, or a non-negative JSON integer."))
            .examples([json!("1250.5")])
            .build();
        RefOr::T(Schema::OneOf(one_of))
    }
}

impl utoipa::ToSchema for QuantityValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Quantity")
    }
}

/// A text body that is not empty, in the operation's media type (a catalog's TOML, usage
/// records as NDJSON, one per line).
pub struct TextBody;

impl utoipa::PartialSchema for TextBody {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .description(Some("A text in the operation's media type."))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for TextBody {}

/// The body as text: `400 invalid_input` when it is empty (the document wants at least one
/// character) or not UTF-8.
pub fn text_body(body: &[u8]) -> Result<&str, ApiError> {
    require_body(body.is_empty())?;
    std::str::from_utf8(body).map_err(|_| ApiError::malformed("body", "the body is not UTF-8"))
}

/// `400 invalid_input` for an empty text body.
pub fn require_body(empty: bool) -> Result<(), ApiError> {
    if empty { Err(ApiError::malformed("body", "the body is empty")) } else { Ok(()) }
}

/// Reads a JSON body as `T`: `400 malformed_json` when it is not JSON, `400 invalid_input`
/// naming the field (`records[3].quantity`) when it is JSON the document does not allow.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    from_value(json_body(body)?)
}

/// The body as JSON: `400 malformed_json` when it is not.
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "malformed_json", format!("the body is not JSON: {e}")))
}

/// Reads a JSON body already parsed as `T` (see [`parse`]).
pub fn from_value<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, ApiError> {
    // Every body of the API is an object, and so is every record in it: a derived reader
    // would also take an array of the fields' values in order, which the document does not
    // allow.
    if !value.is_object() {
        return Err(ApiError::malformed("body", "the body is a JSON object"));
    }
    if let Some(i) = value.get("records").and_then(Value::as_array).and_then(|r| r.iter().position(|v| !v.is_object())) {
        return Err(ApiError::malformed(&format!("records[{i}]"), "a record is a JSON object"));
    }
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing field is named as the field, under the object that lacks it.
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()).map(str::to_owned);
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name,
            (_, Some(name)) => format!("{path}.{name}"),
            (".", None) => "body".to_owned(),
            (_, None) => path,
        };
        ApiError::malformed(&field, message)
    })
}

/// Query parameters read as `T`: a value the document does not allow is `400 invalid_input`
/// naming the parameter; parameters the document does not name are ignored.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let d = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(d).map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            ApiError::malformed(if path == "." { "query" } else { &path }, e.into_inner().to_string())
        })
    }
}

/// Finishes the document the routes' annotations made: every operation answers its errors
/// (each status with the codes it can carry), the links a client follows from one answer to
/// the next operation, and one schema of errors per status.
pub fn finish(doc: &mut Value) {
    let mut schemas = Map::new();
    for status in error_statuses() {
        let codes: Vec<&str> = ERROR_CODES.iter().filter(|c| c.1 == status).map(|c| c.0).collect();
        let what: Vec<String> = ERROR_CODES.iter().filter(|c| c.1 == status).map(|c| format!("`{}`: {}", c.0, c.2)).collect();
        schemas.insert(
            format!("Error{status}"),
            json!({
                "type": "object", "required": ["error"], "additionalProperties": false,
                "description": what.join("; "),
                "properties": {"error": {
                    "type": "object", "required": ["code", "message", "field"], "additionalProperties": false,
                    "properties": {
                        "code": {"type": "string", "enum": codes},
                        "message": {"type": "string"},
                        "field": {"type": ["string", "null"], "description": "The request's field at fault, as the request names it."}
                    }
                }},
                "examples": [{"error": {"code": codes[0], "message": "…", "field": null}}]
            }),
        );
    }
    let components = doc["components"].as_object_mut().expect("the document has components");
    let target = components.entry("schemas").or_insert_with(|| json!({})).as_object_mut().expect("schemas are an object");
    target.remove("ErrorBody");
    target.remove("ErrorDetail");
    target.extend(schemas);

    // Types named only by parameters, which the generator does not collect.
    for (name, rule) in [("IdempotencyKey", &IDEMPOTENCY_KEY), ("ListName", &LIST), ("DecisionName", &DECISION)] {
        target.insert(name.to_owned(), serde_json::to_value(rule.schema()).expect("schemas serialise"));
    }

    let paths = doc["paths"].as_object_mut().expect("the document has paths");
    for (path, item) in paths.iter_mut() {
        for (_method, op) in item.as_object_mut().expect("a path item is an object").iter_mut() {
            // A parameter is absent or has a value: never null.
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                let inner = p["schema"]["oneOf"].as_array().and_then(|alts| {
                    let kept: Vec<&Value> = alts.iter().filter(|a| a["type"] != "null").collect();
                    (kept.len() == 1 && alts.len() == 2).then(|| kept[0].clone())
                });
                if let Some(inner) = inner {
                    p["schema"] = inner;
                }
            }
            // Files are bytes, not arrays of numbers (a tax invoice's PDF sent or answered);
            // every answer is described.
            for (media, content) in op.pointer_mut("/requestBody/content").and_then(Value::as_object_mut).into_iter().flatten() {
                if media == "application/pdf" {
                    content["schema"] = json!({"type": "string", "format": "binary", "minLength": 1});
                }
            }
            for (status, response) in op["responses"].as_object_mut().expect("an operation has responses").iter_mut() {
                for (media, content) in response.get_mut("content").and_then(Value::as_object_mut).into_iter().flatten() {
                    if !media.starts_with("application/json") && !media.starts_with("text/") {
                        content["schema"] = json!({"type": "string", "format": "binary"});
                    }
                }
                if response.get("description").is_none_or(|d| d.as_str().is_none_or(str::is_empty)) {
                    response["description"] = json!(reason(status.parse().unwrap_or(200)));
                }
            }
            let statuses = answered_errors(path, op);
            let responses = op["responses"].as_object_mut().expect("an operation has responses");
            for status in statuses {
                responses.insert(
                    status.to_string(),
                    json!({"description": reason(status),
                           "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/Error{status}")}}}}),
                );
            }
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            for (status, name, link) in links(&id) {
                op["responses"][status]["links"][name] = link;
            }
        }
    }
}

/// The statuses errors are answered with, each once.
fn error_statuses() -> Vec<u16> {
    let mut s: Vec<u16> = ERROR_CODES.iter().map(|c| c.1).collect();
    s.sort();
    s.dedup();
    s
}

fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
}

/// Every error status an operation can answer: the ones its annotation names (403, 409, 422,
/// a 404 of its own) and the ones its shape implies — 401 everywhere (every operation needs a
/// key), 400 for any input the document constrains, 404 for objects named in the path, 413 for
/// a body, 408, 500 and 503 (shed under load) everywhere.
fn answered_errors(path: &str, op: &Value) -> Vec<u16> {
    let mut s: Vec<u16> = op["responses"]
        .as_object()
        .map(|r| r.keys().filter_map(|k| k.parse().ok()).filter(|c: &u16| *c >= 400).collect())
        .unwrap_or_default();
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let has_body = op.get("requestBody").is_some();
    s.extend([401, 408, 500, 503]);
    if has_body || params.iter().any(|p| p["in"] != "path") || path.contains("{month}") {
        s.push(400);
    }
    if path.contains('{') {
        s.push(404);
    }
    if has_body {
        s.push(413);
    }
    s.sort();
    s.dedup();
    s
}

/// The links from an operation's answer to the operations a client goes on with, so a client
/// (and the contract tester's stateful phase) can create an account, top it up and list it.
fn links(operation: &str) -> Vec<(&'static str, &'static str, Value)> {
    let account_of = |from: &str| json!({"account": from});
    let to = |op: &str, parameters: Value| json!({"operationId": op, "parameters": parameters});
    let list = |l: &str, from: &str| to("get_list", json!({"account": from, "list": l}));
    match operation {
        "create_account" => {
            let a = "$response.body#/id";
            vec![
                ("201", "GetAccount", to("get_account", account_of(a))),
                ("201", "TopUp", to("top_up", account_of(a))),
                ("201", "CreateWorkspace", to("create_workspace", account_of(a))),
                ("201", "IssueCoupon", to("issue_coupon", account_of(a))),
                ("201", "AddCard", to("add_card", account_of(a))),
                ("201", "ListTransactions", list("transactions", a)),
            ]
        }
        "top_up" => {
            let a = "$request.path.account";
            vec![
                ("201", "ListTransactions", list("transactions", a)),
                ("201", "Refund", to("refund", account_of(a))),
                ("201", "BuyPack", to("buy_pack", account_of(a))),
                ("201", "BuyPackage", to("buy_package", account_of(a))),
            ]
        }
        "issue_coupon" | "add_card" | "redeem_coupon_code" => {
            vec![("201", "ListCoupons", list(if operation == "add_card" { "cards" } else { "coupons" }, "$request.path.account"))]
        }
        "buy_pack" | "grant_pack" => vec![("201", "ListPacks", list("packs", "$request.path.account"))],
        "refund" => vec![("201", "ListTransactions", list("transactions", "$request.path.account"))],
        "create_workspace" => vec![("201", "ListWorkspaces", to("list_workspaces", account_of("$request.path.account")))],
        "request_tax_invoice" => vec![(
            "201",
            "DecideTaxInvoice",
            to("decide_tax_invoice", json!({"account": "$request.path.account", "id": "$response.body#/request", "decision": "issue"})),
        )],
        "create_webhook" => vec![("201", "ListDeliveries", to("list_deliveries", json!({"id": "$response.body#/id"})))],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_keeps_its_example() {
        let rules = [
            &ID,
            &CODE,
            &NAME,
            &TEXT_500,
            &AMOUNT,
            &QUANTITY,
            &DAY,
            &MONTH,
            &TIMESTAMP,
            &ZONE,
            &CURRENCY,
            &EMAIL,
            &TAX_ID,
            &URL,
            &IDEMPOTENCY_KEY,
            &COUPON_CODE,
            &RECORD_ID,
            &TAX_INVOICE_NO,
            &CURSOR,
            &FUND,
            &COUPON_KIND,
            &CHANNEL,
            &TAX_KIND,
            &EVENT,
            &LIST,
            &DECISION,
            &EXPORT_FORMAT,
            &FOCUS_FORMAT,
            &CHARGE_TYPE,
            &TX_TYPE,
            &STATUS,
        ];
        for rule in rules {
            assert!(rule.allows(rule.example), "{} refuses its example {}", rule.what, rule.example);
        }
    }

    #[test]
    fn the_rules_refuse_what_the_use_cases_refuse() {
        for bad in ["", "a b", "a/b", &"x".repeat(65), "ä"] {
            assert!(!ID.allows(bad), "{bad:?}");
        }
        for bad in ["1e3", "-1", "+1", ".5", "1.", "1_000", " 1", "1.12345", "0x10"] {
            assert!(!AMOUNT.allows(bad), "{bad:?}");
        }
        for good in ["0", "1", "100.00", "0.5", "123456789012345.1234"] {
            assert!(AMOUNT.allows(good), "{good:?}");
        }
        // A day has the pattern and is a day of the calendar.
        assert!(DAY.allows("2028-02-29"));
        assert!(!DAY.allows("2027-02-29"));
        assert!(!MONTH.allows("2026-13"));
        assert!(TIMESTAMP.allows("2026-11-30T10:00:00Z"));
        assert!(!TIMESTAMP.allows("2026-11-30T10:00:00"), "a timestamp names its offset");
        assert!(!TIMESTAMP.allows("2026-02-30T10:00:00Z"));
        assert!(!NAME.allows("a\u{0}b"));
        assert!(!IDEMPOTENCY_KEY.allows("a key"));
        // The document's enumerations are the use cases' own lists.
        assert!(CHANNEL.allows("online") && !CHANNEL.allows("cheque"));
        assert!(EVENT.allows("resource_pack.used_80"));
    }

    #[test]
    fn a_body_the_document_refuses_names_its_field() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            records: Vec<R>,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            quantity: QuantityValue,
        }
        let e = parse::<B>(br#"{"records": [{"quantity": "1"}, {"quantity": 1.5}]}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code, e.field.as_deref()), (400, "invalid_input", Some("records[1].quantity")));
        let e = parse::<B>(br#"{"records": [{}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("records[0].quantity"), "a missing field is named");
        let e = parse::<B>(b"{").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "malformed_json"));
        for array in [&br#"[[{"quantity": "1"}]]"#[..], br#"{"records": [["1"]]}"#] {
            assert_eq!(parse::<B>(array).unwrap_err().code, "invalid_input", "an array is not an object");
        }
        let e = parse::<B>(br#"{"records": [], "extra": 1}"#).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("invalid_input", Some("extra")), "an unknown field is named");
    }
}

#[cfg(test)]
mod document_tests {
    use serde_json::Value;

    /// What `$ref` points at in the document.
    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("{r} resolves to nothing")),
            None => v,
        }
    }

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    fn has_example(doc: &Value, schema: &Value) -> bool {
        let s = resolve(doc, schema);
        s.get("example").is_some()
            || s.get("examples").is_some()
            || s["properties"].as_object().is_some_and(|p| p.values().any(|x| has_example(doc, x)))
            || s["items"].is_object() && has_example(doc, &s["items"])
            || s["oneOf"].as_array().is_some_and(|a| a.iter().any(|x| has_example(doc, x)))
    }

    #[test]
    fn the_published_document_is_the_served_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let served = serde_json::to_string_pretty(&crate::document()).expect("the document serialises") + "\n";
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &served).expect("docs/openapi.json is writable");
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(published == served, "docs/openapi.json is not the served document: UPDATE_OPENAPI=1 cargo test -p billcenter-http");
    }

    #[test]
    fn every_reference_resolves_and_every_operation_has_examples_and_its_errors() {
        let doc = crate::document();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in all {
            assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "{r} resolves to nothing");
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let name = format!("{method} {path}");
                let body_example = op["requestBody"]["content"].as_object().is_some_and(|c| c.values().any(|m| m.get("example").is_some()));
                let param_example = op["parameters"].as_array().is_some_and(|p| p.iter().any(|p| has_example(&doc, &p["schema"])));
                let answer_example = op["responses"].as_object().unwrap().iter().any(|(status, r)| {
                    status.starts_with('2') && r["content"].as_object().is_some_and(|c| c.values().any(|m| has_example(&doc, &m["schema"])))
                });
                assert!(body_example || param_example || answer_example, "{name} has no example");
                let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
                for must in ["401", "500", "503"] {
                    assert!(statuses.iter().any(|s| *s == must), "{name} does not list {must}");
                }
                for (status, r) in op["responses"].as_object().unwrap() {
                    assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{name} {status} has no description");
                }
            }
        }
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn cases() -> u32 {
        std::env::var("BILLCENTER_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400)
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: AmountText,
        day: Option<Day>,
        records: Option<Vec<Record>>,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Record {
        record_id: RecordId,
        timestamp: Timestamp,
        quantity: QuantityValue,
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

        /// Every rule answers any text, and what it allows the use cases can read.
        #[test]
        fn rules_answer_any_text(text in any::<String>()) {
            for rule in [&ID, &NAME, &AMOUNT, &QUANTITY, &DAY, &MONTH, &TIMESTAMP, &ZONE, &EMAIL, &URL, &IDEMPOTENCY_KEY, &CURSOR, &FUND, &STATUS] {
                let _ = rule.allows(&text);
            }
            if AMOUNT.allows(&text) {
                prop_assert!(billing::money::plain_decimal(&text).is_some());
            }
            if DAY.allows(&text) {
                prop_assert!(text.parse::<jiff::civil::Date>().is_ok());
            }
        }

        /// A body of any bytes is read or refused with a named field, never a panic.
        #[test]
        fn bodies_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..300), amount in "[0-9.e-]{0,8}") {
            for body in [bytes, format!("{{\"amount\": \"{amount}\", \"records\": [{{\"record_id\": \"{amount}\"}}]}}").into_bytes()] {
                if let Err(e) = parse::<Body>(&body) {
                    prop_assert!(e.status.as_u16() == 400);
                    prop_assert!(e.code == "malformed_json" || e.field.is_some());
                }
            }
        }
    }
}
