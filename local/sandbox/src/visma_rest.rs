//! Visma eAccounting API v2 REST simulator under `/v2/…`: customers, terms of payment,
//! articles, invoice drafts and invoices, per company (the one the token is bound to).
//!
//! Visma facts worth knowing:
//! - **PUT replaces the whole record**: fields missing from the body become null or their
//!   default. Only `CustomerNumber` survives when left out (it is the record's identity in
//!   the UI); `Id`, `ChangedUtc`, `TermsOfPayment` and `LastInvoiceDate` are read-only.
//! - Lists are wrapped in `{"Meta": {…}, "Data": […]}`; `$pagesize` above 1000 is clamped
//!   (read `Meta.PageSize` back), `$page` is 1-based.
//! - `$filter` is an OData subset: `<Field> eq|ne|gt|ge|lt|le <value>` joined by `and`;
//!   strings in single quotes (`''` escapes), dates bare or quoted (`2024-05-01T10:00:00Z`).
//!   String `eq` ignores case, like SQL Server. Malformed → 6000, unreadable date → 6001.
//! - Write times (`ChangedUtc`, `ModifiedUtc`) are always later than any `Meta.ServerTimeUtc`
//!   already handed out, so `ChangedUtc gt <last ServerTimeUtc>` misses nothing.
//! - `modifiedSinceUtc` on invoices is inclusive (`ModifiedUtc >= value`).
//! - `TotalAmount` includes VAT and öre rounding (`TotalRoundings`); *unconfirmed*.
//!   Row `DiscountPercentage` is a fraction (0.1 = 10 %).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::config::ProviderKind;
use crate::lenient::{
    boolean, date, dec_field, decimal, integer, money, round0, round2, stable_uuid, str_field,
    string, NatKey,
};
use crate::seed;
use crate::state::SandboxState;
use crate::store::Clock;
use crate::visma::{
    authorize_api, ApiError, CODE_BAD_DATE, CODE_BAD_FILTER, CODE_BAD_QUERY, CODE_INVALID_BODY,
    CODE_INVALID_VALUE, CODE_IN_USE, CODE_NOT_FOUND, CODE_NOT_UNIQUE, CODE_RATE_LIMITED,
    CODE_REQUIRED_FIELD, CODE_SERVER_ERROR, CODE_TOO_LONG, CODE_UNKNOWN_REFERENCE,
};

/// Default `$pagesize`.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest `$pagesize` served; larger requests are clamped.
const MAX_PAGE_SIZE: usize = 1000;

const READ_SCOPES: &[&str] = &["ea:sales", "ea:sales_readonly"];
const WRITE_SCOPES: &[&str] = &["ea:sales"];
const LOOKUP_SCOPES: &[&str] = &[
    "ea:sales",
    "ea:sales_readonly",
    "ea:accounting",
    "ea:accounting_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
];

/// One stored record: the full body as GET returns it and when it last changed.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub body: Map<String, Value>,
    pub changed: DateTime<Utc>,
}

/// Everything one Visma company holds.
#[derive(Debug)]
pub(crate) struct VismaData {
    /// By customer number.
    customers: BTreeMap<NatKey, Record>,
    /// Customer id → its key in `customers`.
    customer_index: HashMap<String, NatKey>,
    /// Lower-cased customer number → customer id (numbers are unique, ignoring case).
    number_index: HashMap<String, String>,
    next_customer_number: u64,
    terms: Vec<Map<String, Value>>,
    articles: Vec<Map<String, Value>>,
    /// By creation order.
    drafts: BTreeMap<u64, Record>,
    draft_index: HashMap<String, u64>,
    next_draft: u64,
    /// By invoice number.
    invoices: BTreeMap<u64, Record>,
    invoice_index: HashMap<String, u64>,
    next_invoice_number: u64,
    seeded: u64,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn utc_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Visma sends dates as midnight date-times without zone.
fn day_text(d: NaiveDate) -> String {
    format!("{}T00:00:00", d.format("%Y-%m-%d"))
}

impl VismaData {
    /// A company with its terms of payment and articles (stable GUIDs per company).
    pub fn new(company_key: &str, now: DateTime<Utc>) -> Self {
        let id = |parts: &[&str]| {
            let mut all = vec!["visma", company_key];
            all.extend_from_slice(parts);
            stable_uuid(&all).to_string()
        };
        let terms = [
            ("30 dagar netto", "30 days net", 30, 0, "Normal"),
            ("10 dagar netto", "10 days net", 10, 0, "Normal"),
            ("Kontant", "Cash", 0, 1, "Cash"),
        ]
        .iter()
        .map(|(name, english, days, type_id, type_text)| {
            object(json!({
                "Id": id(&["terms", name]),
                "Name": name,
                "NameEnglish": english,
                "NumberOfDays": days,
                "TermsOfPaymentTypeId": type_id,
                "TermsOfPaymentTypeText": type_text,
                "AvailableForSales": true,
                "AvailableForPurchase": true,
            }))
        })
        .collect();
        let articles = [
            (
                "1",
                "Arbetstid",
                "Labour",
                "650.00",
                25,
                "Timme",
                "tim",
                "Tjänster 25 %",
            ),
            (
                "2",
                "Material",
                "Material",
                "100.00",
                25,
                "Styck",
                "st",
                "Varor 25 %",
            ),
            (
                "3",
                "Resekostnad",
                "Travel",
                "250.00",
                6,
                "Styck",
                "st",
                "Persontransport 6 %",
            ),
        ]
        .iter()
        .map(
            |(number, name, english, price, vat, unit, abbrev, coding)| {
                let net = Decimal::from_str_exact(price).unwrap_or_default();
                let gross = round2(net * (Decimal::ONE + Decimal::from(*vat) / Decimal::from(100)));
                object(json!({
                    "Id": id(&["article", number]),
                    "IsActive": true,
                    "Number": number,
                    "Name": name,
                    "NameEnglish": english,
                    "NetPrice": money(net),
                    "GrossPrice": money(gross),
                    "CodingId": id(&["coding", coding]),
                    "CodingName": coding,
                    "VatRatePercent": vat,
                    "UnitId": id(&["unit", unit]),
                    "UnitName": unit,
                    "UnitAbbreviation": abbrev,
                    "IsStock": false,
                    "ChangedUtc": utc_text(now),
                }))
            },
        )
        .collect();
        VismaData {
            customers: BTreeMap::new(),
            customer_index: HashMap::new(),
            number_index: HashMap::new(),
            next_customer_number: 1,
            terms,
            articles,
            drafts: BTreeMap::new(),
            draft_index: HashMap::new(),
            next_draft: 1,
            invoices: BTreeMap::new(),
            invoice_index: HashMap::new(),
            next_invoice_number: 1,
            seeded: 0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Routes and handlers

/// REST routes, merged into the Visma router (nested under `/visma`).
pub(crate) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/v2/customers", get(list_customers).post(create_customer))
        .route(
            "/v2/customers/{id}",
            get(get_customer)
                .put(replace_customer)
                .delete(delete_customer),
        )
        .route("/v2/termsofpayment", get(list_terms))
        .route("/v2/termsofpayment/{id}", get(get_terms))
        .route("/v2/articles", get(list_articles))
        .route("/v2/articles/{id}", get(get_article))
        .route(
            "/v2/customerinvoicedrafts",
            get(list_drafts).post(create_draft),
        )
        .route(
            "/v2/customerinvoicedrafts/{id}",
            get(get_draft).delete(delete_draft),
        )
        .route(
            "/v2/customerinvoicedrafts/{id}/convert",
            post(convert_draft),
        )
        .route(
            "/v2/customerinvoices",
            get(list_invoices).post(create_invoice),
        )
        .route("/v2/customerinvoices/{id}", get(get_invoice))
}

type Answer = Result<Response, ApiError>;

fn answer(result: Answer) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn company_key(
    state: &SandboxState,
    headers: &HeaderMap,
    scopes: &[&str],
) -> Result<String, ApiError> {
    authorize_api(state, headers, scopes).map(|(_, company)| company.key(ProviderKind::Visma))
}

fn bad_request(code: i64, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        CODE_NOT_FOUND,
        format!("{what} with id {id} was not found."),
    )
}

/// A GUID path parameter, normalised; anything else is a 404 (the route would not match).
fn guid(raw: &str, what: &str) -> Result<String, ApiError> {
    Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| not_found(what, raw))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_request(
            CODE_INVALID_BODY,
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(bad_request(
            CODE_INVALID_BODY,
            format!("The request body could not be read as JSON: {e}."),
        )),
    }
}

fn ok(body: Value) -> Response {
    Json(body).into_response()
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Visma's 429 body; `wait_secs` is when a slot frees up (at least 1).
pub(crate) fn too_many_requests(wait_secs: u64) -> Response {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        CODE_RATE_LIMITED,
        format!(
            "You have exceeded the rate limit of 600 requests per minute for this endpoint. Try again in {} seconds.",
            wait_secs.max(1)
        ),
    )
    .into_response()
}

/// Visma's 500 body (ErrorCode 5000, retryable).
pub(crate) fn server_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        CODE_SERVER_ERROR,
        "An unexpected error occurred. Please try again later.",
    )
    .into_response()
}

async fn list_customers(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let query = Query::parse(query.as_deref())?;
        let paging = Paging::from_query(&query)?;
        let filter = query
            .get("$filter")
            .map(|f| Filter::parse(f, CUSTOMER_FILTER_FIELDS))
            .transpose()?;
        let mut store = state.rest();
        let server_time = store.clock.server_time();
        let (data, _) = store.visma_mut(&key);
        let matches: Vec<&Record> = data
            .customers
            .values()
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r, "ChangedUtc")))
            .collect();
        Ok(ok(paging.envelope(&matches, server_time, |r| {
            Value::Object(r.body.clone())
        })))
    })())
}

async fn get_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let id = guid(&raw, "Customer")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let record = data
            .customer(&id)
            .ok_or_else(|| not_found("Customer", &id))?;
        Ok(ok(Value::Object(record.body.clone())))
    })())
}

async fn create_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let id = Uuid::new_v4().to_string();
        let body = data.write_customer(&id, &input, None, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

async fn replace_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, "Customer")?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let existing = data
            .customer(&id)
            .map(|r| r.body.clone())
            .ok_or_else(|| not_found("Customer", &id))?;
        let body = data.write_customer(&id, &input, Some(&existing), clock)?;
        Ok(ok(Value::Object(body)))
    })())
}

async fn delete_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, "Customer")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        if data.customer(&id).is_none() {
            return Err(not_found("Customer", &id));
        }
        let in_use = data
            .invoices
            .values()
            .chain(data.drafts.values())
            .any(|r| str_field(&r.body, "CustomerId") == id);
        if in_use {
            return Err(bad_request(
                CODE_IN_USE,
                "The customer has invoices or drafts and cannot be deleted. Set IsActive to false instead.",
            ));
        }
        data.remove_customer(&id);
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

fn list_plain(
    state: &SandboxState,
    headers: &HeaderMap,
    query: Option<&str>,
    pick: fn(&VismaData) -> &Vec<Map<String, Value>>,
) -> Answer {
    let key = company_key(state, headers, LOOKUP_SCOPES)?;
    let query = Query::parse(query)?;
    let paging = Paging::from_query(&query)?;
    if query.get("$filter").is_some() {
        return Err(bad_request(
            CODE_BAD_FILTER,
            "$filter is not supported on this endpoint in the sandbox.",
        ));
    }
    let mut store = state.rest();
    let server_time = store.clock.server_time();
    let (data, _) = store.visma_mut(&key);
    let items: Vec<&Map<String, Value>> = pick(data).iter().collect();
    Ok(ok(paging.envelope(&items, server_time, |m| {
        Value::Object((*m).clone())
    })))
}

fn get_plain(
    state: &SandboxState,
    headers: &HeaderMap,
    raw: &str,
    what: &str,
    pick: fn(&VismaData) -> &Vec<Map<String, Value>>,
) -> Answer {
    let key = company_key(state, headers, LOOKUP_SCOPES)?;
    let id = guid(raw, what)?;
    let mut store = state.rest();
    let (data, _) = store.visma_mut(&key);
    pick(data)
        .iter()
        .find(|m| str_field(m, "Id") == id)
        .map(|m| ok(Value::Object(m.clone())))
        .ok_or_else(|| not_found(what, &id))
}

async fn list_terms(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(list_plain(&state, &headers, query.as_deref(), |d| &d.terms))
}

async fn get_terms(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer(get_plain(&state, &headers, &raw, "TermsOfPayment", |d| {
        &d.terms
    }))
}

async fn list_articles(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(list_plain(&state, &headers, query.as_deref(), |d| {
        &d.articles
    }))
}

async fn get_article(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer(get_plain(&state, &headers, &raw, "Article", |d| {
        &d.articles
    }))
}

async fn list_drafts(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let query = Query::parse(query.as_deref())?;
        let paging = Paging::from_query(&query)?;
        let filter = query
            .get("$filter")
            .map(|f| Filter::parse(f, INVOICE_FILTER_FIELDS))
            .transpose()?;
        let mut store = state.rest();
        let server_time = store.clock.server_time();
        let (data, _) = store.visma_mut(&key);
        let matches: Vec<&Record> = data
            .drafts
            .values()
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r, "ModifiedUtc")))
            .collect();
        Ok(ok(paging.envelope(&matches, server_time, |r| {
            Value::Object(r.body.clone())
        })))
    })())
}

async fn get_draft(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let id = guid(&raw, "CustomerInvoiceDraft")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        data.draft_index
            .get(&id)
            .and_then(|seq| data.drafts.get(seq))
            .map(|r| ok(Value::Object(r.body.clone())))
            .ok_or_else(|| not_found("CustomerInvoiceDraft", &id))
    })())
}

async fn create_draft(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let body = data.create_draft(&input, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

async fn delete_draft(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, "CustomerInvoiceDraft")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let seq = data
            .draft_index
            .remove(&id)
            .ok_or_else(|| not_found("CustomerInvoiceDraft", &id))?;
        data.drafts.remove(&seq);
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

async fn convert_draft(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, "CustomerInvoiceDraft")?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let body = data.convert_draft(&id, clock)?;
        Ok(ok(Value::Object(body)))
    })())
}

async fn list_invoices(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let query = Query::parse(query.as_deref())?;
        let paging = Paging::from_query(&query)?;
        let filter = query
            .get("$filter")
            .map(|f| Filter::parse(f, INVOICE_FILTER_FIELDS))
            .transpose()?;
        let since = query
            .get("modifiedSinceUtc")
            .map(|raw| {
                parse_utc(raw).ok_or_else(|| {
                    bad_request(
                        CODE_BAD_DATE,
                        format!("modifiedSinceUtc is not a valid date: '{raw}'."),
                    )
                })
            })
            .transpose()?;
        let mut store = state.rest();
        let server_time = store.clock.server_time();
        let (data, _) = store.visma_mut(&key);
        let matches: Vec<&Record> = data
            .invoices
            .values()
            .filter(|r| since.is_none_or(|t| r.changed >= t))
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r, "ModifiedUtc")))
            .collect();
        Ok(ok(paging.envelope(&matches, server_time, |r| {
            Value::Object(r.body.clone())
        })))
    })())
}

async fn get_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let id = guid(&raw, "CustomerInvoice")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        data.invoice_index
            .get(&id)
            .and_then(|n| data.invoices.get(n))
            .map(|r| ok(Value::Object(r.body.clone())))
            .ok_or_else(|| not_found("CustomerInvoice", &id))
    })())
}

async fn create_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let draft = data.build_invoice_like(&input)?;
        let body = data.book_invoice(draft, clock);
        Ok(created(Value::Object(body)))
    })())
}

// ---------------------------------------------------------------------------------------
// Query parameters, paging, $filter

/// Decoded query parameters; the last of repeated ones wins. Unknown `$` options are a
/// 400 (6002); other unknown names are ignored, as ASP.NET does.
struct Query(HashMap<String, String>);

impl Query {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|_| bad_request(CODE_BAD_QUERY, "The query string could not be read."))?;
        let mut out = HashMap::new();
        for (name, value) in pairs {
            if name.starts_with('$') && !["$page", "$pagesize", "$filter"].contains(&name.as_str())
            {
                return Err(bad_request(
                    CODE_BAD_QUERY,
                    format!("The query option {name} is not supported."),
                ));
            }
            out.insert(name, value);
        }
        Ok(Query(out))
    }

    fn get(&self, name: &str) -> Option<&String> {
        self.0.get(name)
    }
}

struct Paging {
    page: usize,
    page_size: usize,
}

impl Paging {
    fn from_query(query: &Query) -> Result<Self, ApiError> {
        let number = |name: &str, default: usize| -> Result<usize, ApiError> {
            match query.get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        bad_request(
                            CODE_BAD_QUERY,
                            format!("{name} must be a whole number of at least 1, not '{raw}'."),
                        )
                    }),
            }
        };
        Ok(Paging {
            page: number("$page", 1)?,
            page_size: number("$pagesize", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE),
        })
    }

    fn envelope<T>(
        &self,
        items: &[T],
        server_time: DateTime<Utc>,
        render: impl Fn(&T) -> Value,
    ) -> Value {
        let total = items.len();
        let start = self
            .page
            .saturating_sub(1)
            .saturating_mul(self.page_size)
            .min(total);
        let end = start.saturating_add(self.page_size).min(total);
        let data: Vec<Value> = items
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .map(render)
            .collect();
        json!({
            "Meta": {
                "CurrentPage": self.page,
                "PageSize": self.page_size,
                "TotalNumberOfPages": total.div_ceil(self.page_size),
                "TotalNumberOfResults": total,
                "ServerTimeUtc": utc_text(server_time),
            },
            "Data": data,
        })
    }
}

/// A UTC instant from `2024-05-01T10:00:00Z`, an offset date-time, a zone-less date-time
/// (taken as UTC) or a date (midnight UTC).
fn parse_utc(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    Some(Utc.from_utc_datetime(&naive))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldType {
    /// A date-time; the record's change time when the field is the change field.
    Date,
    Text,
    Bool,
    Number,
}

const CUSTOMER_FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("ChangedUtc", FieldType::Date),
    ("Id", FieldType::Text),
    ("CustomerNumber", FieldType::Text),
    ("CorporateIdentityNumber", FieldType::Text),
    ("Name", FieldType::Text),
    ("EmailAddress", FieldType::Text),
    ("InvoiceCity", FieldType::Text),
    ("InvoicePostalCode", FieldType::Text),
    ("VatNumber", FieldType::Text),
    ("IsActive", FieldType::Bool),
    ("IsPrivatePerson", FieldType::Bool),
];

const INVOICE_FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("ModifiedUtc", FieldType::Date),
    ("CreatedUtc", FieldType::Date),
    ("InvoiceDate", FieldType::Date),
    ("DueDate", FieldType::Date),
    ("Id", FieldType::Text),
    ("CustomerId", FieldType::Text),
    ("YourReference", FieldType::Text),
    ("OurReference", FieldType::Text),
    ("BuyersOrderReference", FieldType::Text),
    ("InvoiceNumber", FieldType::Number),
    ("TotalAmount", FieldType::Number),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Date(DateTime<Utc>),
    Text(String),
    Bool(bool),
    Number(Decimal),
    Null,
}

#[derive(Debug, Clone)]
struct Condition {
    field: &'static str,
    kind: FieldType,
    op: Op,
    value: Operand,
}

/// A parsed `$filter`: conditions that must all hold.
#[derive(Debug, Clone)]
struct Filter(Vec<Condition>);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
}

fn bad_filter(message: impl Into<String>) -> ApiError {
    bad_request(CODE_BAD_FILTER, message)
}

fn tokenize(s: &str) -> Result<Vec<Token>, ApiError> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    let mut depth: i32 = 0;
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            // Only `and` exists, so grouping changes nothing: check balance, then drop.
            depth += if c == '(' { 1 } else { -1 };
            if depth < 0 {
                return Err(bad_filter("Unbalanced parentheses in $filter."));
            }
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        text.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => text.push(ch),
                    None => return Err(bad_filter("Unterminated string in $filter.")),
                }
            }
            tokens.push(Token::Quoted(text));
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '(' || ch == ')' {
                    break;
                }
                if ch == '\'' {
                    // `datetime'2024-01-01T00:00:00'` (OData v3): the prefix is dropped.
                    if word.eq_ignore_ascii_case("datetime")
                        || word.eq_ignore_ascii_case("datetimeoffset")
                    {
                        word.clear();
                        break;
                    }
                    return Err(bad_filter("Unexpected quote in $filter."));
                }
                word.push(ch);
                chars.next();
            }
            if !word.is_empty() {
                tokens.push(Token::Word(word));
            }
        }
    }
    if depth != 0 {
        return Err(bad_filter("Unbalanced parentheses in $filter."));
    }
    Ok(tokens)
}

impl Filter {
    fn parse(raw: &str, fields: &[(&'static str, FieldType)]) -> Result<Self, ApiError> {
        let tokens = tokenize(raw)?;
        let mut conditions = Vec::new();
        let mut rest = tokens.as_slice();
        loop {
            let [Token::Word(field), Token::Word(op), value, tail @ ..] = rest else {
                return Err(bad_filter(format!(
                    "The $filter '{raw}' is malformed: expected '<Field> <eq|ne|gt|ge|lt|le> <value>' joined by 'and'."
                )));
            };
            let (name, kind) = fields
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(field))
                .copied()
                .ok_or_else(|| {
                    bad_filter(format!("The field '{field}' cannot be used in $filter."))
                })?;
            let op = match op.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => {
                    return Err(bad_filter(format!(
                        "The operator '{other}' is not supported in $filter."
                    )))
                }
            };
            let value = operand(name, kind, value)?;
            conditions.push(Condition {
                field: name,
                kind,
                op,
                value,
            });
            match tail {
                [] => break,
                [Token::Word(and), more @ ..]
                    if and.eq_ignore_ascii_case("and") && !more.is_empty() =>
                {
                    rest = more;
                }
                _ => {
                    return Err(bad_filter(format!(
                        "The $filter '{raw}' is malformed: only 'and' can join conditions."
                    )))
                }
            }
        }
        Ok(Filter(conditions))
    }

    /// Whether `record` passes; `change_field` is read from the record's change time.
    fn matches(&self, record: &Record, change_field: &str) -> bool {
        self.0.iter().all(|c| {
            let actual = if c.field == change_field {
                Operand::Date(record.changed)
            } else {
                field_operand(&record.body, c.field, c.kind)
            };
            compare(&actual, c.op, &c.value)
        })
    }
}

fn operand(field: &str, kind: FieldType, token: &Token) -> Result<Operand, ApiError> {
    let text = match token {
        Token::Word(w) if w.eq_ignore_ascii_case("null") => return Ok(Operand::Null),
        Token::Word(w) | Token::Quoted(w) => w,
    };
    match (kind, token) {
        (FieldType::Date, _) => parse_utc(text).map(Operand::Date).ok_or_else(|| {
            bad_request(
                CODE_BAD_DATE,
                format!("'{text}' is not a valid date for {field}."),
            )
        }),
        (FieldType::Text, Token::Quoted(s)) => Ok(Operand::Text(s.clone())),
        (FieldType::Bool, Token::Word(w)) if w == "true" || w == "false" => {
            Ok(Operand::Bool(w == "true"))
        }
        (FieldType::Number, Token::Word(w)) => w
            .parse::<Decimal>()
            .map(Operand::Number)
            .map_err(|_| bad_filter(format!("'{w}' is not a number for {field}."))),
        _ => Err(bad_filter(format!(
            "'{text}' is not a valid value for {field}."
        ))),
    }
}

fn field_operand(body: &Map<String, Value>, field: &str, kind: FieldType) -> Operand {
    match (kind, body.get(field)) {
        (_, None | Some(Value::Null)) => Operand::Null,
        (FieldType::Date, Some(Value::String(s))) => {
            parse_utc(s).map_or(Operand::Null, Operand::Date)
        }
        (FieldType::Text, Some(v)) => string(v)
            .ok()
            .flatten()
            .map_or(Operand::Null, Operand::Text),
        (FieldType::Bool, Some(v)) => boolean(v)
            .ok()
            .flatten()
            .map_or(Operand::Null, Operand::Bool),
        (FieldType::Number, Some(v)) => decimal(v)
            .ok()
            .flatten()
            .map_or(Operand::Null, Operand::Number),
        _ => Operand::Null,
    }
}

fn compare(actual: &Operand, op: Op, wanted: &Operand) -> bool {
    use std::cmp::Ordering;
    let ordering = match (actual, wanted) {
        (Operand::Null, Operand::Null) => Some(Ordering::Equal),
        (Operand::Null, _) | (_, Operand::Null) => None,
        (Operand::Date(a), Operand::Date(b)) => Some(a.cmp(b)),
        (Operand::Text(a), Operand::Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Operand::Bool(a), Operand::Bool(b)) => Some(a.cmp(b)),
        (Operand::Number(a), Operand::Number(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ordering) {
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Ne, None) => true,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (_, None) => false,
    }
}

// ---------------------------------------------------------------------------------------
// Customers

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text(usize),
    Guid,
    Bool,
    Number,
    Int,
    Country,
    Currency,
}

/// Writable customer fields; the rest are read-only or unknown, and ignored.
fn customer_field(name: &str) -> Option<Kind> {
    Some(match name {
        "CustomerNumber" => Kind::Text(16),
        "CorporateIdentityNumber" | "VatNumber" => Kind::Text(20),
        "ContactPersonEmail" | "EmailAddress" | "EmailAddressOrder" | "WwwAddress" => {
            Kind::Text(255)
        }
        "ContactPersonMobile"
        | "ContactPersonPhone"
        | "ContactPersonName"
        | "MobilePhone"
        | "Telephone"
        | "Name"
        | "InvoiceAddress1"
        | "InvoiceAddress2"
        | "InvoiceCity"
        | "DeliveryAddress1"
        | "DeliveryAddress2"
        | "DeliveryCity"
        | "DeliveryCustomerName" => Kind::Text(50),
        "GLN" => Kind::Text(13),
        "InvoicePostalCode" | "DeliveryPostalCode" => Kind::Text(10),
        "Note" => Kind::Text(4000),
        "CurrencyCode" => Kind::Currency,
        "InvoiceCountryCode" | "DeliveryCountryCode" => Kind::Country,
        "TermsOfPaymentId" | "DeliveryMethodId" | "DeliveryTermId" | "PayToAccountId"
        | "PriceListId" | "ProjectId" => Kind::Guid,
        "IsActive"
        | "IsPrivatePerson"
        | "ReverseChargeOnConstructionServices"
        | "IsFutureInvoiceDateAllowed"
        | "IsNorthernIreland" => Kind::Bool,
        "DiscountPercentage" => Kind::Number,
        "WebshopCustomerNumber" => Kind::Int,
        _ => return None,
    })
}

/// Every field of a customer, as a PUT without them leaves them.
fn customer_defaults() -> Map<String, Value> {
    object(json!({
        "Id": null,
        "CustomerNumber": null,
        "CorporateIdentityNumber": null,
        "ContactPersonEmail": null,
        "ContactPersonMobile": null,
        "ContactPersonName": null,
        "ContactPersonPhone": null,
        "CurrencyCode": "SEK",
        "GLN": null,
        "EmailAddress": null,
        "EmailAddressOrder": null,
        "InvoiceAddress1": null,
        "InvoiceAddress2": null,
        "InvoiceCity": null,
        "InvoiceCountryCode": "SE",
        "InvoicePostalCode": null,
        "DeliveryCustomerName": null,
        "DeliveryAddress1": null,
        "DeliveryAddress2": null,
        "DeliveryCity": null,
        "DeliveryCountryCode": null,
        "DeliveryPostalCode": null,
        "DeliveryMethodId": null,
        "DeliveryTermId": null,
        "PayToAccountId": null,
        "Name": null,
        "Note": null,
        "ReverseChargeOnConstructionServices": false,
        "WebshopCustomerNumber": null,
        "MobilePhone": null,
        "Telephone": null,
        "TermsOfPaymentId": null,
        "TermsOfPayment": null,
        "VatNumber": null,
        "WwwAddress": null,
        "LastInvoiceDate": null,
        "IsActive": true,
        "IsFutureInvoiceDateAllowed": false,
        "IsNorthernIreland": false,
        "DiscountPercentage": 0.0,
        "PriceListId": null,
        "ProjectId": null,
        "IsPrivatePerson": false,
        "ChangedUtc": null,
    }))
}

fn invalid(field: &str, value: &Value) -> ApiError {
    bad_request(
        CODE_INVALID_VALUE,
        format!("Validation failed: {field} has an invalid value {value}."),
    )
}

fn required(field: &str) -> ApiError {
    bad_request(
        CODE_REQUIRED_FIELD,
        format!("Validation failed: {field} is required."),
    )
}

/// Reads `value` for `field` (`null` stays null).
fn read(field: &str, kind: Kind, value: &Value) -> Result<Value, ApiError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    match kind {
        Kind::Text(max) => {
            let s = string(value)
                .ok()
                .flatten()
                .ok_or_else(|| invalid(field, value))?;
            if s.chars().count() > max {
                return Err(bad_request(
                    CODE_TOO_LONG,
                    format!("Validation failed: {field} can be at most {max} characters long."),
                ));
            }
            Ok(Value::String(s))
        }
        Kind::Guid => {
            let s = string(value)
                .ok()
                .flatten()
                .ok_or_else(|| invalid(field, value))?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            Uuid::parse_str(s.trim())
                .map(|u| Value::String(u.to_string()))
                .map_err(|_| invalid(field, value))
        }
        Kind::Bool => boolean(value)
            .ok()
            .flatten()
            .map(Value::Bool)
            .ok_or_else(|| invalid(field, value)),
        Kind::Number => match decimal(value) {
            Ok(Some(d)) => Ok(money(d)),
            Ok(None) => Ok(Value::Null),
            Err(_) => Err(invalid(field, value)),
        },
        Kind::Int => match integer(value) {
            Ok(Some(n)) => Ok(Value::from(n)),
            Ok(None) => Ok(Value::Null),
            Err(_) => Err(invalid(field, value)),
        },
        Kind::Country | Kind::Currency => {
            let len = if matches!(kind, Kind::Country) { 2 } else { 3 };
            let s = string(value)
                .ok()
                .flatten()
                .ok_or_else(|| invalid(field, value))?;
            let s = s.trim().to_ascii_uppercase();
            if s.is_empty() {
                Ok(Value::Null)
            } else if s.len() == len && s.chars().all(|c| c.is_ascii_uppercase()) {
                Ok(Value::String(s))
            } else {
                Err(invalid(field, value))
            }
        }
    }
}

fn non_empty_text(body: &Map<String, Value>, field: &str) -> bool {
    body.get(field)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

impl VismaData {
    fn customer(&self, id: &str) -> Option<&Record> {
        self.customer_index
            .get(id)
            .and_then(|key| self.customers.get(key))
    }

    fn customer_number_taken(&self, number: &str, except_id: &str) -> bool {
        self.number_index
            .get(&number.to_lowercase())
            .is_some_and(|owner| owner != except_id)
    }

    fn assign_customer_number(&mut self) -> String {
        let mut n = self.next_customer_number.max(1);
        while self.customer_number_taken(&n.to_string(), "") {
            n += 1;
        }
        self.next_customer_number = n + 1;
        n.to_string()
    }

    fn terms_by_id(&self, id: &str) -> Option<&Map<String, Value>> {
        self.terms.iter().find(|t| str_field(t, "Id") == id)
    }

    fn remove_customer(&mut self, id: &str) -> Option<Record> {
        let key = self.customer_index.remove(id)?;
        let record = self.customers.remove(&key)?;
        self.number_index
            .remove(&str_field(&record.body, "CustomerNumber").to_lowercase());
        Some(record)
    }

    /// Files a customer under its id and number (the caller checked the number is free).
    fn insert_customer(&mut self, id: &str, record: Record) {
        let number = str_field(&record.body, "CustomerNumber").to_string();
        let key = NatKey::of(&number);
        self.customer_index.insert(id.to_string(), key.clone());
        self.number_index
            .insert(number.to_lowercase(), id.to_string());
        self.customers.insert(key, record);
    }

    /// Creates (`existing` = None) or replaces a customer from the whole `input` body.
    fn write_customer(
        &mut self,
        id: &str,
        input: &Map<String, Value>,
        existing: Option<&Map<String, Value>>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut body = customer_defaults();
        for (field, value) in input {
            if let Some(kind) = customer_field(field) {
                body.insert(field.clone(), read(field, kind, value)?);
            }
        }
        for field in ["Name", "InvoicePostalCode", "InvoiceCity"] {
            if !non_empty_text(&body, field) {
                return Err(required(field));
            }
        }
        for field in ["IsPrivatePerson", "IsActive", "TermsOfPaymentId"] {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let terms_id = str_field(&body, "TermsOfPaymentId").to_string();
        let terms = self.terms_by_id(&terms_id).cloned().ok_or_else(|| {
            bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: TermsOfPaymentId {terms_id} does not match any terms of payment."),
            )
        })?;
        body.insert("TermsOfPayment".into(), Value::Object(terms));
        let number = match body
            .get("CustomerNumber")
            .and_then(Value::as_str)
            .map(str::trim)
        {
            Some(n) if !n.is_empty() => {
                if self.customer_number_taken(n, id) {
                    return Err(bad_request(
                        CODE_NOT_UNIQUE,
                        format!("Validation failed: CustomerNumber {n} is already used by another customer."),
                    ));
                }
                n.to_string()
            }
            _ => match existing {
                Some(old) => str_field(old, "CustomerNumber").to_string(),
                None => self.assign_customer_number(),
            },
        };
        body.insert("CustomerNumber".into(), Value::String(number.clone()));
        body.insert("Id".into(), Value::String(id.to_string()));
        if let Some(old) = existing {
            if let Some(v) = old.get("LastInvoiceDate") {
                body.insert("LastInvoiceDate".into(), v.clone());
            }
        }
        let changed = clock.tick();
        body.insert("ChangedUtc".into(), Value::String(utc_text(changed)));
        self.remove_customer(id);
        self.insert_customer(
            id,
            Record {
                body: body.clone(),
                changed,
            },
        );
        Ok(body)
    }
}

// ---------------------------------------------------------------------------------------
// Drafts and invoices

impl VismaData {
    fn article(&self, id: &str) -> Option<&Map<String, Value>> {
        self.articles.iter().find(|a| str_field(a, "Id") == id)
    }

    /// Validates a draft or invoice body and computes its rows and totals (no ids yet).
    fn build_invoice_like(
        &self,
        input: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ApiError> {
        let present = |f: &str| input.get(f).filter(|v| !v.is_null());
        let customer_raw = present("CustomerId").ok_or_else(|| required("CustomerId"))?;
        let customer_id = match read("CustomerId", Kind::Guid, customer_raw)? {
            Value::String(s) => s,
            _ => return Err(required("CustomerId")),
        };
        let customer = self.customer(&customer_id).ok_or_else(|| {
            bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: CustomerId {customer_id} does not match any customer."),
            )
        })?;
        let rot_raw = present("RotReducedInvoicingType")
            .ok_or_else(|| required("RotReducedInvoicingType"))?;
        let rot = match integer(rot_raw) {
            Ok(Some(n)) if (0..=2).contains(&n) => n,
            _ => return Err(invalid("RotReducedInvoicingType", rot_raw)),
        };
        let eu_raw = present("EuThirdParty").ok_or_else(|| required("EuThirdParty"))?;
        let eu = boolean(eu_raw)
            .ok()
            .flatten()
            .ok_or_else(|| invalid("EuThirdParty", eu_raw))?;
        let rows_raw = present("Rows").ok_or_else(|| required("Rows"))?;
        let rows_in = rows_raw
            .as_array()
            .ok_or_else(|| invalid("Rows", rows_raw))?;
        let mut rows = Vec::with_capacity(rows_in.len());
        let mut by_rate: BTreeMap<i64, Decimal> = BTreeMap::new();
        for (i, row) in rows_in.iter().enumerate() {
            let label = |f: &str| format!("Rows[{i}].{f}");
            let row = row
                .as_object()
                .ok_or_else(|| invalid(&format!("Rows[{i}]"), row))?;
            let get = |f: &str| row.get(f).filter(|v| !v.is_null());
            let is_text = match get("IsTextRow") {
                None => false,
                Some(v) => boolean(v)
                    .ok()
                    .flatten()
                    .ok_or_else(|| invalid(&label("IsTextRow"), v))?,
            };
            let text_raw = get("Text").ok_or_else(|| required(&label("Text")))?;
            let text = read(&label("Text"), Kind::Text(2000), text_raw)?;
            let vat_free_raw = get("ReversedConstructionServicesVatFree")
                .ok_or_else(|| required(&label("ReversedConstructionServicesVatFree")))?;
            let vat_free = boolean(vat_free_raw).ok().flatten().ok_or_else(|| {
                invalid(&label("ReversedConstructionServicesVatFree"), vat_free_raw)
            })?;
            let mut out = object(json!({
                "LineNumber": i + 1,
                "ArticleId": null,
                "ArticleNumber": null,
                "IsTextRow": is_text,
                "Text": text,
                "UnitPrice": 0.0,
                "DiscountPercentage": 0.0,
                "Quantity": 0.0,
                "WorkCostType": 0,
                "IsWorkCost": false,
                "EligibleForReverseChargeOnVat": false,
                "ReversedConstructionServicesVatFree": vat_free,
                "CostCenterItemId1": null,
                "CostCenterItemId2": null,
                "CostCenterItemId3": null,
                "UnitId": null,
                "UnitName": null,
                "UnitAbbreviation": null,
                "ProjectId": null,
            }));
            if !is_text {
                let article_raw = get("ArticleId").ok_or_else(|| required(&label("ArticleId")))?;
                let article_id = match read(&label("ArticleId"), Kind::Guid, article_raw)? {
                    Value::String(s) => s,
                    _ => return Err(required(&label("ArticleId"))),
                };
                let article = self.article(&article_id).ok_or_else(|| {
                    bad_request(
                        CODE_UNKNOWN_REFERENCE,
                        format!(
                            "Validation failed: {} {article_id} does not match any article.",
                            label("ArticleId")
                        ),
                    )
                })?;
                let number_of = |f: &str| -> Result<Decimal, ApiError> {
                    let raw = get(f).ok_or_else(|| required(&label(f)))?;
                    decimal(raw)
                        .ok()
                        .flatten()
                        .ok_or_else(|| invalid(&label(f), raw))
                };
                let quantity = number_of("Quantity")?;
                let unit_price = number_of("UnitPrice")?;
                let discount = match get("DiscountPercentage") {
                    None => Decimal::ZERO,
                    Some(v) => decimal(v)
                        .ok()
                        .flatten()
                        .filter(|d| *d >= Decimal::ZERO && *d <= Decimal::ONE)
                        .ok_or_else(|| invalid(&label("DiscountPercentage"), v))?,
                };
                let vat = if vat_free {
                    0
                } else {
                    article
                        .get("VatRatePercent")
                        .and_then(Value::as_i64)
                        .unwrap_or(25)
                };
                let net = round2(quantity * unit_price * (Decimal::ONE - discount));
                *by_rate.entry(vat).or_default() += net;
                for (k, v) in [
                    ("ArticleId", Value::String(article_id.clone())),
                    (
                        "ArticleNumber",
                        article.get("Number").cloned().unwrap_or(Value::Null),
                    ),
                    ("UnitPrice", money(unit_price)),
                    ("DiscountPercentage", money(discount)),
                    ("Quantity", money(quantity)),
                    (
                        "UnitId",
                        article.get("UnitId").cloned().unwrap_or(Value::Null),
                    ),
                    (
                        "UnitName",
                        article.get("UnitName").cloned().unwrap_or(Value::Null),
                    ),
                    (
                        "UnitAbbreviation",
                        article
                            .get("UnitAbbreviation")
                            .cloned()
                            .unwrap_or(Value::Null),
                    ),
                ] {
                    out.insert(k.into(), v);
                }
            }
            rows.push(Value::Object(out));
        }
        let net: Decimal = by_rate.values().copied().sum();
        let vat: Decimal = by_rate
            .iter()
            .map(|(rate, amount)| round2(*amount * Decimal::from(*rate) / Decimal::from(100)))
            .sum();
        let unrounded = net + vat;
        let total = round0(unrounded);
        let c = &customer.body;
        let mut body = object(json!({
            "CustomerId": customer_id,
            "CustomerNumber": c.get("CustomerNumber").cloned().unwrap_or(Value::Null),
            "InvoiceCustomerName": c.get("Name").cloned().unwrap_or(Value::Null),
            "InvoiceAddress1": c.get("InvoiceAddress1").cloned().unwrap_or(Value::Null),
            "InvoiceAddress2": c.get("InvoiceAddress2").cloned().unwrap_or(Value::Null),
            "InvoicePostalCode": c.get("InvoicePostalCode").cloned().unwrap_or(Value::Null),
            "InvoiceCity": c.get("InvoiceCity").cloned().unwrap_or(Value::Null),
            "InvoiceCountryCode": c.get("InvoiceCountryCode").cloned().unwrap_or(Value::Null),
            "CurrencyCode": c.get("CurrencyCode").cloned().unwrap_or(Value::from("SEK")),
            "InvoiceDate": null,
            "DueDate": null,
            "YourReference": null,
            "OurReference": null,
            "BuyersOrderReference": null,
            "RotReducedInvoicingType": rot,
            "EuThirdParty": eu,
            "IsCreditInvoice": false,
            "Rows": rows,
            "TotalAmount": money(total),
            "TotalVatAmount": money(vat),
            "TotalRoundings": money(total - unrounded),
            "TotalAmountInvoiceCurrency": money(total),
            "TotalVatAmountInvoiceCurrency": money(vat),
        }));
        for (field, kind) in [
            ("YourReference", Kind::Text(50)),
            ("OurReference", Kind::Text(50)),
            ("BuyersOrderReference", Kind::Text(50)),
            ("InvoiceCustomerName", Kind::Text(50)),
            ("InvoiceAddress1", Kind::Text(50)),
            ("InvoiceAddress2", Kind::Text(50)),
            ("InvoicePostalCode", Kind::Text(10)),
            ("InvoiceCity", Kind::Text(50)),
            ("InvoiceCountryCode", Kind::Country),
            ("CurrencyCode", Kind::Currency),
        ] {
            if let Some(v) = present(field) {
                body.insert(field.into(), read(field, kind, v)?);
            }
        }
        for field in ["InvoiceDate", "DueDate"] {
            if let Some(v) = present(field) {
                let d = date(v).ok().flatten().ok_or_else(|| invalid(field, v))?;
                body.insert(field.into(), Value::String(day_text(d)));
            }
        }
        Ok(body)
    }

    fn create_draft(
        &mut self,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut body = self.build_invoice_like(input)?;
        let id = Uuid::new_v4().to_string();
        let now = clock.tick();
        body.insert("Id".into(), Value::String(id.clone()));
        body.insert("CreatedUtc".into(), Value::String(utc_text(now)));
        body.insert("ModifiedUtc".into(), Value::String(utc_text(now)));
        let seq = self.next_draft.max(1);
        self.next_draft = seq + 1;
        self.draft_index.insert(id, seq);
        self.drafts.insert(
            seq,
            Record {
                body: body.clone(),
                changed: now,
            },
        );
        Ok(body)
    }

    /// Turns a validated body into a booked invoice: number, dates, remaining amount.
    fn book_invoice(
        &mut self,
        mut body: Map<String, Value>,
        clock: &mut Clock,
    ) -> Map<String, Value> {
        let number = self.next_invoice_number.max(1);
        self.next_invoice_number = number + 1;
        let id = Uuid::new_v4().to_string();
        let now = clock.tick();
        let today = Utc::now().with_timezone(&Stockholm).date_naive();
        let invoice_date = body
            .get("InvoiceDate")
            .and_then(|v| date(v).ok().flatten())
            .unwrap_or(today);
        let customer_terms = self
            .customer(str_field(&body, "CustomerId"))
            .and_then(|c| c.body.get("TermsOfPayment"))
            .and_then(|t| t.get("NumberOfDays"))
            .and_then(Value::as_u64)
            .unwrap_or(30);
        let due = body
            .get("DueDate")
            .and_then(|v| date(v).ok().flatten())
            .unwrap_or_else(|| {
                invoice_date
                    .checked_add_days(Days::new(customer_terms))
                    .unwrap_or(invoice_date)
            });
        let total = dec_field(&body, "TotalAmount");
        for (k, v) in [
            ("Id", Value::String(id.clone())),
            ("InvoiceNumber", Value::from(number)),
            ("InvoiceDate", Value::String(day_text(invoice_date))),
            ("DueDate", Value::String(day_text(due))),
            ("RemainingAmount", money(total)),
            ("RemainingAmountInvoiceCurrency", money(total)),
            ("PaymentReferenceNumber", Value::String(number.to_string())),
            ("CreatedUtc", Value::String(utc_text(now))),
            ("ModifiedUtc", Value::String(utc_text(now))),
        ] {
            body.insert(k.into(), v);
        }
        self.invoice_index.insert(id, number);
        self.invoices.insert(
            number,
            Record {
                body: body.clone(),
                changed: now,
            },
        );
        body
    }

    fn convert_draft(
        &mut self,
        id: &str,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        let seq = *self
            .draft_index
            .get(id)
            .ok_or_else(|| not_found("CustomerInvoiceDraft", id))?;
        let draft = self
            .drafts
            .get(&seq)
            .map(|r| r.body.clone())
            .ok_or_else(|| not_found("CustomerInvoiceDraft", id))?;
        if self.customer(str_field(&draft, "CustomerId")).is_none() {
            return Err(bad_request(
                CODE_UNKNOWN_REFERENCE,
                "Validation failed: the draft's customer no longer exists.",
            ));
        }
        self.draft_index.remove(id);
        self.drafts.remove(&seq);
        let mut body = draft;
        body.remove("Id");
        body.remove("CreatedUtc");
        body.remove("ModifiedUtc");
        Ok(self.book_invoice(body, clock))
    }
}

// ---------------------------------------------------------------------------------------
// Inspection and seeding (through `SandboxState`)

impl VismaData {
    /// Every customer's full body, by customer number.
    pub fn customer_bodies(&self) -> Vec<Value> {
        self.customers
            .values()
            .map(|r| Value::Object(r.body.clone()))
            .collect()
    }

    /// Every invoice's full body, by invoice number.
    pub fn invoice_bodies(&self) -> Vec<Value> {
        self.invoices
            .values()
            .map(|r| Value::Object(r.body.clone()))
            .collect()
    }

    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }

    pub fn invoice_count(&self) -> usize {
        self.invoices.len()
    }

    /// Adds `n` generated customers (stable ids); returns their ids.
    pub fn seed_customers(
        &mut self,
        company_key: &str,
        n: usize,
        clock: &mut Clock,
    ) -> Vec<String> {
        let terms = self.terms.first().cloned().unwrap_or_default();
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let index = self.seeded;
            self.seeded += 1;
            let s = seed::customer("visma", company_key, index);
            let id =
                stable_uuid(&["visma", company_key, "customer", &index.to_string()]).to_string();
            let number = self.assign_customer_number();
            let changed = clock.tick();
            let mut body = customer_defaults();
            for (k, v) in [
                ("Id", Value::String(id.clone())),
                ("CustomerNumber", Value::String(number.clone())),
                ("Name", Value::String(s.name)),
                (
                    "CorporateIdentityNumber",
                    Value::String(s.organisation_number),
                ),
                ("InvoiceAddress1", Value::String(s.address1)),
                ("InvoicePostalCode", Value::String(s.zip_code)),
                ("InvoiceCity", Value::String(s.city)),
                ("EmailAddress", Value::String(s.email)),
                ("Telephone", Value::String(s.phone)),
                ("IsPrivatePerson", Value::Bool(s.is_private)),
                (
                    "TermsOfPaymentId",
                    terms.get("Id").cloned().unwrap_or(Value::Null),
                ),
                ("TermsOfPayment", Value::Object(terms.clone())),
                ("ChangedUtc", Value::String(utc_text(changed))),
            ] {
                body.insert(k.into(), v);
            }
            self.insert_customer(&id, Record { body, changed });
            ids.push(id);
        }
        ids
    }

    /// Lets `edit` change a customer as a person in eAccounting would; bumps `ChangedUtc`.
    /// `Id` cannot change; a changed `CustomerNumber` re-files the record, unless another
    /// customer has it (then the old number stays).
    pub fn modify_customer(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        let Ok(id) = Uuid::parse_str(id.trim()).map(|u| u.to_string()) else {
            return false;
        };
        let Some(record) = self.remove_customer(&id) else {
            return false;
        };
        let old_number = str_field(&record.body, "CustomerNumber").to_string();
        let mut value = Value::Object(record.body);
        edit(&mut value);
        let mut body = match value {
            Value::Object(map) => map,
            _ => customer_defaults(),
        };
        let number = str_field(&body, "CustomerNumber").to_string();
        if number.trim().is_empty() || self.customer_number_taken(&number, &id) {
            body.insert("CustomerNumber".into(), Value::String(old_number));
        }
        let changed = clock.tick();
        body.insert("Id".into(), Value::String(id.clone()));
        body.insert("ChangedUtc".into(), Value::String(utc_text(changed)));
        self.insert_customer(&id, Record { body, changed });
        true
    }

    /// Deletes a customer as a person would.
    pub fn delete_customer(&mut self, id: &str) -> bool {
        match Uuid::parse_str(id.trim()) {
            Ok(u) => self.remove_customer(&u.to_string()).is_some(),
            Err(_) => false,
        }
    }

    /// Sets a customer's `ChangedUtc` (for tests of change filters).
    pub fn set_customer_modified(&mut self, id: &str, at: DateTime<Utc>) -> bool {
        let Ok(id) = Uuid::parse_str(id.trim()).map(|u| u.to_string()) else {
            return false;
        };
        let Some(key) = self.customer_index.get(&id) else {
            return false;
        };
        match self.customers.get_mut(key) {
            Some(record) => {
                record.changed = at;
                record
                    .body
                    .insert("ChangedUtc".into(), Value::String(utc_text(at)));
                true
            }
            None => false,
        }
    }

    /// Sets an invoice's `ModifiedUtc` (for tests of `modifiedSinceUtc`).
    pub fn set_invoice_modified(&mut self, id: &str, at: DateTime<Utc>) -> bool {
        let Ok(id) = Uuid::parse_str(id.trim()).map(|u| u.to_string()) else {
            return false;
        };
        let Some(number) = self.invoice_index.get(&id) else {
            return false;
        };
        match self.invoices.get_mut(number) {
            Some(record) => {
                record.changed = at;
                record
                    .body
                    .insert("ModifiedUtc".into(), Value::String(utc_text(at)));
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_grammar() {
        let f = Filter::parse(
            "ChangedUtc gt 2024-05-01T10:00:00Z and CustomerNumber eq 'O''Brien'",
            CUSTOMER_FILTER_FIELDS,
        )
        .expect("parses");
        assert_eq!(f.0.len(), 2);
        assert_eq!(f.0[1].value, Operand::Text("O'Brien".into()));
        assert!(Filter::parse(
            "(ChangedUtc ge datetime'2024-05-01')",
            CUSTOMER_FILTER_FIELDS
        )
        .is_ok());
        let bad = |s: &str| Filter::parse(s, CUSTOMER_FILTER_FIELDS).unwrap_err().code;
        assert_eq!(bad("ChangedUtc gt"), CODE_BAD_FILTER);
        assert_eq!(bad("ChangedUtc gt 2024-13-45"), CODE_BAD_DATE);
        assert_eq!(bad("Name eq 'a' or Name eq 'b'"), CODE_BAD_FILTER);
        assert_eq!(bad("Secret eq 'x'"), CODE_BAD_FILTER);
        assert_eq!(bad("CustomerNumber eq 12"), CODE_BAD_FILTER);
    }
}
