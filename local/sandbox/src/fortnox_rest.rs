//! Fortnox API v3 REST simulator: customers and invoices under `/3/…`, per company (the
//! tenant the bearer token is bound to), in memory.
//!
//! Bodies follow Fortnox's OpenAPI (`fortnox_Customer_Wrap`, `fortnox_CustomerListItem_List`,
//! `fortnox_Invoice_Wrap`, `fortnox_InvoiceListItem_Wrap`). Fortnox facts worth knowing:
//! - Lists carry only the list-item fields; clients GET each record they need in full.
//! - Search parameters are case-insensitive substring matches (`externalinvoicereference1=12`
//!   also finds `123`): compare exactly on the client side.
//! - `lastmodified` is local Swedish time (Europe/Stockholm), not UTC, and matches records
//!   modified at or after it. In the spring gap (02:00–03:00 does not exist) the time is read
//!   with the offset before the gap; in the autumn overlap the earlier instant is used.
//! - A customer number once used stays reserved after the customer is deleted.
//! - Numbers may arrive as strings and booleans as `"true"`; input is read leniently.
//!   `DeliveredQuantity` is a string in Fortnox's schema (`"2.00"`), `VAT` a whole number.
//! - The spec has no nullable fields: unset optional values with a minimum length (dates,
//!   `Address1`, `CountryCode`, `GLN`, …) are left out of responses rather than sent as null.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::config::ProviderKind;
use crate::fortnox::{
    authorize_api, ApiError, CODE_ACCOUNT_NOT_FOUND, CODE_CUSTOMER_IN_USE, CODE_CUSTOMER_NOT_FOUND,
    CODE_CUSTOMER_NUMBER_TAKEN, CODE_DOCUMENT_NUMBER_TAKEN, CODE_INVALID_ACTION,
    CODE_INVALID_EMAIL, CODE_INVALID_JSON, CODE_INVALID_PARAMETER, CODE_INVALID_VALUE,
    CODE_INVOICE_LOCKED, CODE_NOT_FOUND, CODE_REQUIRED_FIELD, CODE_VALUE_TOO_LONG,
};
use crate::lenient::{
    bool_field, boolean, contains_ci, date, dec_field, decimal, integer, luhn_check_digit, money,
    round0, round2, str_field, string, two_decimals, NatKey,
};
use crate::seed;
use crate::state::SandboxState;
use crate::store::Clock;

/// Default `limit` of list endpoints.
const DEFAULT_LIMIT: usize = 100;
/// Largest `limit` Fortnox accepts.
const MAX_LIMIT: usize = 500;
/// Base of `@url` when the request has no `Host` header (and for inspection).
const PUBLIC_BASE: &str = "https://api.fortnox.se/3";

/// One stored record: the full body as GET returns it (without `@url`) and when it last
/// changed.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub body: Map<String, Value>,
    pub modified: DateTime<Utc>,
}

/// Everything one Fortnox company holds.
#[derive(Debug, Default)]
pub(crate) struct FortnoxData {
    customers: BTreeMap<NatKey, Record>,
    /// Every customer number ever used, deleted ones included.
    reserved_customer_numbers: HashSet<String>,
    /// Next candidate for an assigned customer number (0 = start at 1).
    next_customer_number: u64,
    invoices: BTreeMap<u64, Record>,
    next_document_number: u64,
    next_voucher_number: u64,
    /// How many customers `seed_customers` generated so far.
    seeded: u64,
}

// ---------------------------------------------------------------------------------------
// Routes and handlers

/// REST routes, merged into the Fortnox router (nested under `/fortnox`).
pub(crate) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/3/customers", get(list_customers).post(create_customer))
        .route(
            "/3/customers/{CustomerNumber}",
            get(get_customer)
                .put(update_customer)
                .delete(delete_customer),
        )
        .route("/3/invoices", get(list_invoices).post(create_invoice))
        .route(
            "/3/invoices/{DocumentNumber}",
            get(get_invoice).put(update_invoice),
        )
        .route(
            "/3/invoices/{DocumentNumber}/bookkeep",
            put(bookkeep_invoice),
        )
        .route("/3/invoices/{DocumentNumber}/cancel", put(cancel_invoice))
        .route("/3/invoices/{DocumentNumber}/credit", put(credit_invoice))
}

type Answer = Result<Response, ApiError>;

fn answer(result: Answer) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The company key the bearer token is bound to, after checking its scope.
fn company_key(state: &SandboxState, headers: &HeaderMap, scope: &str) -> Result<String, ApiError> {
    authorize_api(state, headers, scope).map(|(_, company)| company.key(ProviderKind::Fortnox))
}

/// `http://<host>/fortnox/3`, so `@url` points back at this sandbox.
fn base_url(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map_or_else(
            || PUBLIC_BASE.to_string(),
            |h| format!("http://{h}/fortnox/3"),
        )
}

fn bad_request(code: i64, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, CODE_NOT_FOUND, message)
}

/// The object inside `{"<wrapper>": {…}}`.
fn parse_wrapped(body: &[u8], wrapper: &str) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| bad_request(CODE_INVALID_JSON, "Ogiltig JSON: kunde inte tolka begäran."))?;
    match value {
        Value::Object(mut outer) => match outer.remove(wrapper) {
            Some(Value::Object(inner)) => Ok(inner),
            _ => Err(bad_request(
                CODE_INVALID_JSON,
                format!("Ogiltig JSON: förväntade ett objekt \"{wrapper}\"."),
            )),
        },
        _ => Err(bad_request(
            CODE_INVALID_JSON,
            "Ogiltig JSON: förväntade ett objekt.",
        )),
    }
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn list_customers(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "customer")?;
        let query = parse_query(query.as_deref(), CUSTOMER_PARAMS)?;
        let paging = Paging::from_query(&query)?;
        let since = query
            .get("lastmodified")
            .map(|s| parse_lastmodified(s))
            .transpose()?;
        let base = base_url(&headers);
        let mut store = state.rest();
        let (data, _) = store.fortnox_mut(&key);
        let mut matches: Vec<&Record> = data
            .customers
            .values()
            .filter(|r| since.is_none_or(|t| r.modified >= t))
            .filter(|r| customer_matches(&r.body, &query))
            .collect();
        sort_records(&mut matches, &query, CUSTOMER_SORT)?;
        let (page, meta) = paging.apply(&matches);
        let items: Vec<Value> = page
            .iter()
            .map(|r| customer_list_item(&base, &r.body))
            .collect();
        Ok(Json(json!({"Customers": items, "MetaInformation": meta})).into_response())
    })())
}

async fn get_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "customer")?;
        let mut store = state.rest();
        let (data, _) = store.fortnox_mut(&key);
        let record = data
            .customers
            .get(&NatKey::of(&number))
            .ok_or_else(|| customer_not_found(&number))?;
        Ok(
            Json(json!({"Customer": render_customer(&base_url(&headers), &record.body)}))
                .into_response(),
        )
    })())
}

async fn create_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "customer")?;
        let input = parse_wrapped(&body, "Customer")?;
        let mut store = state.rest();
        let (data, clock) = store.fortnox_mut(&key);
        let number = data.create_customer(&input, clock)?;
        let record = data
            .customers
            .get(&NatKey::of(&number))
            .ok_or_else(|| customer_not_found(&number))?;
        Ok(created(
            json!({"Customer": render_customer(&base_url(&headers), &record.body)}),
        ))
    })())
}

async fn update_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "customer")?;
        let input = parse_wrapped(&body, "Customer")?;
        let mut store = state.rest();
        let (data, clock) = store.fortnox_mut(&key);
        let record = data
            .customers
            .get_mut(&NatKey::of(&number))
            .ok_or_else(|| customer_not_found(&number))?;
        let mut updated = record.body.clone();
        apply_customer_fields(&mut updated, &input)?;
        if str_field(&updated, "Name").trim().is_empty() {
            return Err(name_required());
        }
        record.body = updated;
        record.modified = clock.tick();
        Ok(
            Json(json!({"Customer": render_customer(&base_url(&headers), &record.body)}))
                .into_response(),
        )
    })())
}

async fn delete_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "customer")?;
        let mut store = state.rest();
        let (data, _) = store.fortnox_mut(&key);
        let nat = NatKey::of(&number);
        if !data.customers.contains_key(&nat) {
            return Err(customer_not_found(&number));
        }
        if data
            .invoices
            .values()
            .any(|r| str_field(&r.body, "CustomerNumber") == number)
        {
            return Err(bad_request(
                CODE_CUSTOMER_IN_USE,
                format!("Kunden {number} har fakturor och kan inte tas bort."),
            ));
        }
        data.customers.remove(&nat);
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

async fn list_invoices(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "invoice")?;
        let query = parse_query(query.as_deref(), INVOICE_PARAMS)?;
        let paging = Paging::from_query(&query)?;
        let since = query
            .get("lastmodified")
            .map(|s| parse_lastmodified(s))
            .transpose()?;
        let filter = InvoiceFilter::from_query(&query)?;
        let base = base_url(&headers);
        let mut store = state.rest();
        let (data, _) = store.fortnox_mut(&key);
        let mut matches: Vec<&Record> = data
            .invoices
            .values()
            .filter(|r| since.is_none_or(|t| r.modified >= t))
            .filter(|r| filter.matches(&r.body))
            .collect();
        sort_records(&mut matches, &query, INVOICE_SORT)?;
        let (page, meta) = paging.apply(&matches);
        let items: Vec<Value> = page
            .iter()
            .map(|r| invoice_list_item(&base, &r.body))
            .collect();
        Ok(Json(json!({"Invoices": items, "MetaInformation": meta})).into_response())
    })())
}

fn document_number(raw: &str) -> Result<u64, ApiError> {
    raw.trim()
        .parse::<u64>()
        .map_err(|_| invoice_not_found(raw))
}

async fn get_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "invoice")?;
        let number = document_number(&raw)?;
        let mut store = state.rest();
        let (data, _) = store.fortnox_mut(&key);
        let record = data
            .invoices
            .get(&number)
            .ok_or_else(|| invoice_not_found(&raw))?;
        Ok(
            Json(json!({"Invoice": render_invoice(&base_url(&headers), &record.body)}))
                .into_response(),
        )
    })())
}

async fn create_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "invoice")?;
        let input = parse_wrapped(&body, "Invoice")?;
        let mut store = state.rest();
        let (data, clock) = store.fortnox_mut(&key);
        let number = data.create_invoice(&input, clock)?;
        let record = data
            .invoices
            .get(&number)
            .ok_or_else(|| invoice_not_found(&number.to_string()))?;
        Ok(created(
            json!({"Invoice": render_invoice(&base_url(&headers), &record.body)}),
        ))
    })())
}

async fn update_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, "invoice")?;
        let number = document_number(&raw)?;
        let input = parse_wrapped(&body, "Invoice")?;
        let mut store = state.rest();
        let (data, clock) = store.fortnox_mut(&key);
        data.update_invoice(number, &input, clock)?;
        let record = data
            .invoices
            .get(&number)
            .ok_or_else(|| invoice_not_found(&raw))?;
        Ok(
            Json(json!({"Invoice": render_invoice(&base_url(&headers), &record.body)}))
                .into_response(),
        )
    })())
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Bookkeep,
    Cancel,
    Credit,
}

fn invoice_action(
    state: &SandboxState,
    headers: &HeaderMap,
    raw: &str,
    action: Action,
) -> Response {
    answer((|| {
        let key = company_key(state, headers, "invoice")?;
        let number = document_number(raw)?;
        let mut store = state.rest();
        let (data, clock) = store.fortnox_mut(&key);
        match action {
            Action::Bookkeep => data.bookkeep(number, clock)?,
            Action::Cancel => data.cancel(number, clock)?,
            Action::Credit => data.credit(number, clock)?,
        }
        let record = data
            .invoices
            .get(&number)
            .ok_or_else(|| invoice_not_found(raw))?;
        Ok(
            Json(json!({"Invoice": render_invoice(&base_url(headers), &record.body)}))
                .into_response(),
        )
    })())
}

async fn bookkeep_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    invoice_action(&state, &headers, &raw, Action::Bookkeep)
}

async fn cancel_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    invoice_action(&state, &headers, &raw, Action::Cancel)
}

async fn credit_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    invoice_action(&state, &headers, &raw, Action::Credit)
}

/// Fortnox's 429 body. Fortnox sends no `Retry-After`.
pub(crate) fn too_many_requests() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"message": "Too many requests"})),
    )
        .into_response()
}

/// Fortnox's 500 body (code 1000003, retryable).
pub(crate) fn system_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::fortnox::CODE_SYSTEM_ERROR,
        "Systemfel: ett oväntat fel inträffade, försök igen senare.",
    )
    .into_response()
}

fn customer_not_found(number: &str) -> ApiError {
    not_found(format!("Kan inte hitta kunden \"{number}\"."))
}

fn invoice_not_found(number: &str) -> ApiError {
    not_found(format!("Kan inte hitta fakturan \"{number}\"."))
}

fn name_required() -> ApiError {
    bad_request(CODE_REQUIRED_FIELD, "Kunden måste ha ett namn (Name).")
}

// ---------------------------------------------------------------------------------------
// Query parameters, paging, sorting

const COMMON_PARAMS: &[&str] = &[
    "limit",
    "page",
    "offset",
    "lastmodified",
    "sortby",
    "sortorder",
];

const CUSTOMER_PARAMS: &[&str] = &[
    "filter",
    "customernumber",
    "name",
    "zipcode",
    "city",
    "email",
    "phone",
    "organisationnumber",
    "gln",
    "glndelivery",
];

/// Substring search parameter → customer field.
const CUSTOMER_SEARCH: &[(&str, &str)] = &[
    ("customernumber", "CustomerNumber"),
    ("name", "Name"),
    ("zipcode", "ZipCode"),
    ("city", "City"),
    ("email", "Email"),
    ("phone", "Phone1"),
    ("organisationnumber", "OrganisationNumber"),
    ("gln", "GLN"),
    ("glndelivery", "GLNDelivery"),
];

const CUSTOMER_SORT: &[(&str, &str)] = &[("customernumber", "CustomerNumber"), ("name", "Name")];

const INVOICE_PARAMS: &[&str] = &[
    "filter",
    "costcenter",
    "customername",
    "customernumber",
    "documentnumber",
    "fromdate",
    "todate",
    "fromfinalpaydate",
    "tofinalpaydate",
    "notcompleted",
    "ocr",
    "ourreference",
    "project",
    "sent",
    "externalinvoicereference1",
    "externalinvoicereference2",
    "yourreference",
    "invoicetype",
    "articlenumber",
    "articledescription",
    "currency",
    "accountnumberfrom",
    "accountnumberto",
    "yourordernumber",
    "credit",
];

/// Substring search parameter → invoice field.
const INVOICE_SEARCH: &[(&str, &str)] = &[
    ("costcenter", "CostCenter"),
    ("customername", "CustomerName"),
    ("customernumber", "CustomerNumber"),
    ("documentnumber", "DocumentNumber"),
    ("ocr", "OCR"),
    ("ourreference", "OurReference"),
    ("project", "Project"),
    ("externalinvoicereference1", "ExternalInvoiceReference1"),
    ("externalinvoicereference2", "ExternalInvoiceReference2"),
    ("yourreference", "YourReference"),
    ("invoicetype", "InvoiceType"),
    ("currency", "Currency"),
    ("yourordernumber", "YourOrderNumber"),
];

const INVOICE_SORT: &[(&str, &str)] = &[
    ("customername", "CustomerName"),
    ("customernumber", "CustomerNumber"),
    ("documentnumber", "DocumentNumber"),
    ("invoicedate", "InvoiceDate"),
    ("ocr", "OCR"),
    ("total", "Total"),
];

/// Decoded query parameters (the last of repeated ones wins); unknown names are a 400.
fn parse_query(raw: Option<&str>, specific: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| bad_request(CODE_INVALID_PARAMETER, "Ogiltiga parametrar i frågan."))?;
    let mut out = HashMap::new();
    for (name, value) in pairs {
        if !COMMON_PARAMS.contains(&name.as_str()) && !specific.contains(&name.as_str()) {
            return Err(bad_request(
                CODE_INVALID_PARAMETER,
                format!("Ogiltig parameter: \"{name}\"."),
            ));
        }
        out.insert(name, value);
    }
    Ok(out)
}

struct Paging {
    limit: usize,
    page: usize,
    offset: usize,
}

fn positive(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    min: usize,
) -> Result<usize, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| {
                bad_request(
                    CODE_INVALID_PARAMETER,
                    format!("Ogiltigt värde för parametern \"{name}\": \"{raw}\"."),
                )
            }),
    }
}

impl Paging {
    fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let limit = positive(query, "limit", DEFAULT_LIMIT, 1)?;
        if limit > MAX_LIMIT {
            return Err(bad_request(
                CODE_INVALID_PARAMETER,
                format!("Parametern \"limit\" får vara högst {MAX_LIMIT}."),
            ));
        }
        Ok(Paging {
            limit,
            page: positive(query, "page", 1, 1)?,
            offset: positive(query, "offset", 0, 0)?,
        })
    }

    /// The page of `items` and its `MetaInformation`. `offset` skips records before paging:
    /// page `p` starts at `offset + (p - 1) * limit`, and the page count covers what follows
    /// the offset. `@TotalResources` counts every match.
    fn apply<'a, T>(&self, items: &'a [T]) -> (&'a [T], Value) {
        let total = items.len();
        let remaining = total.saturating_sub(self.offset);
        let pages = remaining.div_ceil(self.limit);
        let start = self
            .offset
            .saturating_add(self.page.saturating_sub(1).saturating_mul(self.limit))
            .min(total);
        let end = start.saturating_add(self.limit).min(total);
        let meta = json!({
            "@TotalResources": total,
            "@TotalPages": pages,
            "@CurrentPage": self.page,
        });
        (items.get(start..end).unwrap_or(&[]), meta)
    }
}

/// Sorts by `sortby` (one of `allowed`: parameter → field) and `sortorder`; without
/// `sortby` the stored order (by number) stays.
fn sort_records(
    records: &mut [&Record],
    query: &HashMap<String, String>,
    allowed: &[(&str, &str)],
) -> Result<(), ApiError> {
    let descending = match query.get("sortorder").map(String::as_str) {
        None | Some("ascending") => false,
        Some("descending") => true,
        Some(other) => {
            return Err(bad_request(
                CODE_INVALID_PARAMETER,
                format!("Ogiltig sortering: \"{other}\"."),
            ))
        }
    };
    if let Some(by) = query.get("sortby") {
        let field = allowed
            .iter()
            .find(|(p, _)| p == by)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                bad_request(
                    CODE_INVALID_PARAMETER,
                    format!("Ogiltigt värde för parametern \"sortby\": \"{by}\"."),
                )
            })?;
        records.sort_by_key(|r| sort_key(&r.body, field));
    }
    if descending {
        records.reverse();
    }
    Ok(())
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Number(Decimal),
    Text(NatKey),
}

fn sort_key(body: &Map<String, Value>, field: &str) -> SortKey {
    match body.get(field) {
        Some(Value::Number(_)) => SortKey::Number(dec_field(body, field)),
        Some(Value::String(s)) => SortKey::Text(NatKey::of(&s.to_lowercase())),
        _ => SortKey::Text(NatKey::of("")),
    }
}

/// `YYYY-MM-DD HH:MM[:SS]` (or just a date) in Europe/Stockholm time, as an instant.
fn parse_lastmodified(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let invalid = || {
        bad_request(
            CODE_INVALID_PARAMETER,
            format!("Ogiltigt datum för parametern \"lastmodified\": \"{raw}\"."),
        )
    };
    let s = raw.trim();
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(invalid)?;
    stockholm_to_utc(naive).ok_or_else(invalid)
}

/// Local Swedish time → UTC. Ambiguous (autumn) times take the earlier instant; times in
/// the spring gap are read with the offset in force before the gap.
pub(crate) fn stockholm_to_utc(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::LocalResult;
    match Stockholm.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => {
            let hour = chrono::Duration::hours(1);
            Stockholm
                .from_local_datetime(&(naive - hour))
                .earliest()
                .map(|t| t.with_timezone(&Utc) + hour)
        }
    }
}

/// Today's date in Sweden.
fn today() -> NaiveDate {
    Utc::now().with_timezone(&Stockholm).date_naive()
}

fn customer_matches(body: &Map<String, Value>, query: &HashMap<String, String>) -> bool {
    let active = bool_field(body, "Active");
    let filter_ok = match query.get("filter").map(String::as_str) {
        Some("active") => active,
        Some("inactive") => !active,
        _ => true,
    };
    filter_ok
        && CUSTOMER_SEARCH.iter().all(|(param, field)| {
            query
                .get(*param)
                .is_none_or(|needle| contains_ci(str_field(body, field), needle))
        })
}

struct InvoiceFilter<'q> {
    query: &'q HashMap<String, String>,
    filter: Option<&'q str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    from_final: Option<NaiveDate>,
    to_final: Option<NaiveDate>,
    account_from: Option<i64>,
    account_to: Option<i64>,
}

impl<'q> InvoiceFilter<'q> {
    fn from_query(query: &'q HashMap<String, String>) -> Result<Self, ApiError> {
        let filter = query.get("filter").map(String::as_str);
        if let Some(f) = filter {
            if ![
                "cancelled",
                "fullypaid",
                "unpaid",
                "unpaidoverdue",
                "unbooked",
            ]
            .contains(&f)
            {
                return Err(bad_request(
                    CODE_INVALID_PARAMETER,
                    format!("Ogiltigt filter: \"{f}\"."),
                ));
            }
        }
        let day = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
            query
                .get(name)
                .map(|raw| {
                    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
                        bad_request(
                            CODE_INVALID_PARAMETER,
                            format!("Ogiltigt datum för parametern \"{name}\": \"{raw}\"."),
                        )
                    })
                })
                .transpose()
        };
        let account = |name: &str| -> Result<Option<i64>, ApiError> {
            query
                .get(name)
                .map(|raw| {
                    raw.trim().parse::<i64>().map_err(|_| {
                        bad_request(
                            CODE_INVALID_PARAMETER,
                            format!("Ogiltigt konto för parametern \"{name}\": \"{raw}\"."),
                        )
                    })
                })
                .transpose()
        };
        for flag in ["sent", "notcompleted", "credit"] {
            if let Some(raw) = query.get(flag) {
                if !["true", "false"].contains(&raw.as_str()) {
                    return Err(bad_request(
                        CODE_INVALID_PARAMETER,
                        format!("Ogiltigt värde för parametern \"{flag}\": \"{raw}\"."),
                    ));
                }
            }
        }
        Ok(InvoiceFilter {
            query,
            filter,
            from: day("fromdate")?,
            to: day("todate")?,
            from_final: day("fromfinalpaydate")?,
            to_final: day("tofinalpaydate")?,
            account_from: account("accountnumberfrom")?,
            account_to: account("accountnumberto")?,
        })
    }

    fn matches(&self, body: &Map<String, Value>) -> bool {
        let cancelled = bool_field(body, "Cancelled");
        let booked = bool_field(body, "Booked");
        let balance = dec_field(body, "Balance");
        let due = NaiveDate::parse_from_str(str_field(body, "DueDate"), "%Y-%m-%d").ok();
        let state_ok = match self.filter {
            Some("cancelled") => cancelled,
            Some("fullypaid") => !cancelled && balance.is_zero(),
            Some("unpaid") => !cancelled && !balance.is_zero(),
            Some("unpaidoverdue") => {
                !cancelled && !balance.is_zero() && due.is_some_and(|d| d < today())
            }
            Some("unbooked") => !cancelled && !booked,
            _ => true,
        };
        if !state_ok {
            return false;
        }
        let search_ok = INVOICE_SEARCH.iter().all(|(param, field)| {
            self.query
                .get(*param)
                .is_none_or(|needle| contains_ci(str_field(body, field), needle))
        });
        if !search_ok {
            return false;
        }
        let flags_ok = [("sent", "Sent"), ("notcompleted", "NotCompleted")]
            .iter()
            .all(|(param, field)| {
                self.query
                    .get(*param)
                    .is_none_or(|v| (v == "true") == bool_field(body, field))
            })
            && self
                .query
                .get("credit")
                .is_none_or(|v| v == str_field(body, "Credit"));
        if !flags_ok {
            return false;
        }
        let invoice_date =
            NaiveDate::parse_from_str(str_field(body, "InvoiceDate"), "%Y-%m-%d").ok();
        let in_range = |d: Option<NaiveDate>, from: Option<NaiveDate>, to: Option<NaiveDate>| {
            (from.is_none() && to.is_none())
                || d.is_some_and(|d| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t))
        };
        let final_pay = NaiveDate::parse_from_str(str_field(body, "FinalPayDate"), "%Y-%m-%d").ok();
        if !in_range(invoice_date, self.from, self.to)
            || !in_range(final_pay, self.from_final, self.to_final)
        {
            return false;
        }
        let rows = body
            .get("InvoiceRows")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let row_text = |param: &str, field: &str| {
            self.query.get(param).is_none_or(|needle| {
                rows.iter().any(|r| {
                    r.as_object()
                        .is_some_and(|r| contains_ci(str_field(r, field), needle))
                })
            })
        };
        let accounts_ok = (self.account_from.is_none() && self.account_to.is_none())
            || rows.iter().any(|r| {
                r.get("AccountNumber")
                    .and_then(Value::as_i64)
                    .is_some_and(|a| {
                        self.account_from.is_none_or(|f| a >= f)
                            && self.account_to.is_none_or(|t| a <= t)
                    })
            });
        row_text("articlenumber", "ArticleNumber")
            && row_text("articledescription", "Description")
            && accounts_ok
    }
}

// ---------------------------------------------------------------------------------------
// Customers

/// How a writable field is read and checked.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Free text up to this many characters.
    Text(usize),
    /// Free text whose schema has `minLength: 1`: `""` removes it.
    OptionalText(usize),
    Bool,
    Number,
    Int {
        min: i64,
        max: i64,
    },
    /// One of these (matched case-insensitively, stored as listed); `""` removes it.
    Choice(&'static [&'static str]),
    /// ISO 3166 alpha-2; `""` removes it.
    Country,
    /// Exactly this many letters (upper-cased); `""` removes it.
    Letters(usize),
    /// Exactly this many digits; `""` removes it.
    Digits(usize),
    Email,
    Date,
    /// An object of text fields with these names.
    TextObject(&'static [&'static str]),
    /// `DefaultDeliveryTypes`: each of Invoice/Offer/Order one of PRINT/EMAIL/PRINTSERVICE.
    DeliveryTypes,
    /// `Labels`: `[{"Id": n}]`.
    Labels,
}

const DELIVERY_TYPES: &[&str] = &["PRINT", "EMAIL", "PRINTSERVICE"];

/// Writable customer fields. `CustomerNumber` is handled apart; `Country`,
/// `DeliveryCountry` and `VisitingCountry` are derived from their codes; unknown fields are
/// ignored, as read-only ones are.
fn customer_field(name: &str) -> Option<Kind> {
    Some(match name {
        "Active" | "ShowPriceVATIncluded" => Kind::Bool,
        "InvoiceDiscount" => Kind::Number,
        "Type" => Kind::Choice(&["PRIVATE", "COMPANY"]),
        "VATType" => Kind::Choice(&["SEVAT", "SEREVERSEDVAT", "EUREVERSEDVAT", "EUVAT", "EXPORT"]),
        "CountryCode" | "DeliveryCountryCode" | "VisitingCountryCode" => Kind::Country,
        "Currency" => Kind::Letters(3),
        "GLN" | "GLNDelivery" => Kind::Digits(13),
        "SalesAccount" => Kind::Digits(4),
        "Email" | "EmailInvoice" | "EmailOffer" | "EmailOrder" => Kind::Email,
        "Address1" => Kind::OptionalText(1024),
        "ZipCode" | "DeliveryZipCode" | "VisitingZipCode" => Kind::Text(10),
        "OrganisationNumber" => Kind::Text(30),
        "OurReference" | "YourReference" => Kind::Text(50),
        "WWW" | "VisitingAddress" | "VisitingCity" => Kind::Text(128),
        "DefaultDeliveryTypes" => Kind::DeliveryTypes,
        "DefaultTemplates" => Kind::TextObject(&["CashInvoice", "Invoice", "Offer", "Order"]),
        "Name"
        | "Address2"
        | "City"
        | "Comments"
        | "CostCenter"
        | "DeliveryAddress1"
        | "DeliveryAddress2"
        | "DeliveryCity"
        | "DeliveryFax"
        | "DeliveryName"
        | "DeliveryPhone1"
        | "DeliveryPhone2"
        | "EmailInvoiceBCC"
        | "EmailInvoiceCC"
        | "EmailOfferBCC"
        | "EmailOfferCC"
        | "EmailOrderBCC"
        | "EmailOrderCC"
        | "ExternalReference"
        | "Fax"
        | "InvoiceAdministrationFee"
        | "InvoiceFreight"
        | "InvoiceRemark"
        | "Phone1"
        | "Phone2"
        | "PriceList"
        | "Project"
        | "TermsOfDelivery"
        | "TermsOfPayment"
        | "VATNumber"
        | "WayOfDelivery" => Kind::Text(1024),
        _ => return None,
    })
}

/// Every field of a new customer, as Fortnox fills them.
fn customer_defaults() -> Map<String, Value> {
    let defaults = json!({
        "Active": true,
        "Address2": "",
        "City": "",
        "Comments": "",
        "CostCenter": "",
        "Country": "Sverige",
        "CountryCode": "SE",
        "Currency": "SEK",
        "CustomerNumber": "",
        "DefaultDeliveryTypes": {"Invoice": "PRINT", "Offer": "PRINT", "Order": "PRINT"},
        "DefaultTemplates": {
            "CashInvoice": "DEFAULTTEMPLATE",
            "Invoice": "DEFAULTTEMPLATE",
            "Offer": "DEFAULTTEMPLATE",
            "Order": "DEFAULTTEMPLATE"
        },
        "DeliveryAddress1": "",
        "DeliveryAddress2": "",
        "DeliveryCity": "",
        "DeliveryCountry": "",
        "DeliveryFax": "",
        "DeliveryName": "",
        "DeliveryPhone1": "",
        "DeliveryPhone2": "",
        "DeliveryZipCode": "",
        "Email": "",
        "EmailInvoice": "",
        "EmailInvoiceBCC": "",
        "EmailInvoiceCC": "",
        "EmailOffer": "",
        "EmailOfferBCC": "",
        "EmailOfferCC": "",
        "EmailOrder": "",
        "EmailOrderBCC": "",
        "EmailOrderCC": "",
        "ExternalReference": "",
        "Fax": "",
        "InvoiceAdministrationFee": "",
        "InvoiceDiscount": 0.0,
        "InvoiceFreight": "",
        "InvoiceRemark": "",
        "Name": "",
        "OrganisationNumber": "",
        "OurReference": "",
        "Phone1": "",
        "Phone2": "",
        "PriceList": "A",
        "Project": "",
        "ShowPriceVATIncluded": false,
        "TermsOfDelivery": "",
        "TermsOfPayment": "30",
        "Type": "COMPANY",
        "VATNumber": "",
        "VATType": "SEVAT",
        "VisitingAddress": "",
        "VisitingCity": "",
        "VisitingCountry": "",
        "VisitingZipCode": "",
        "WWW": "",
        "WayOfDelivery": "",
        "YourReference": "",
        "ZipCode": ""
    });
    match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Swedish names of common countries; other well-formed codes are accepted and named by
/// their code.
fn country_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "SE" => "Sverige",
        "NO" => "Norge",
        "DK" => "Danmark",
        "FI" => "Finland",
        "IS" => "Island",
        "DE" => "Tyskland",
        "GB" => "Storbritannien",
        "US" => "USA",
        "PL" => "Polen",
        "NL" => "Nederländerna",
        "BE" => "Belgien",
        "FR" => "Frankrike",
        "ES" => "Spanien",
        "IT" => "Italien",
        "PT" => "Portugal",
        "AT" => "Österrike",
        "CH" => "Schweiz",
        "EE" => "Estland",
        "LV" => "Lettland",
        "LT" => "Litauen",
        "IE" => "Irland",
        "LU" => "Luxemburg",
        "CZ" => "Tjeckien",
        "SK" => "Slovakien",
        "HU" => "Ungern",
        "GR" => "Grekland",
        "CY" => "Cypern",
        "MT" => "Malta",
        "SI" => "Slovenien",
        "HR" => "Kroatien",
        "RO" => "Rumänien",
        "BG" => "Bulgarien",
        "CA" => "Kanada",
        "AU" => "Australien",
        "CN" => "Kina",
        "JP" => "Japan",
        "IN" => "Indien",
        "TR" => "Turkiet",
        "UA" => "Ukraina",
        "TH" => "Thailand",
        "AE" => "Förenade Arabemiraten",
        _ => return None,
    })
}

fn derive_countries(body: &mut Map<String, Value>) {
    for (code_field, name_field) in [
        ("CountryCode", "Country"),
        ("DeliveryCountryCode", "DeliveryCountry"),
        ("VisitingCountryCode", "VisitingCountry"),
    ] {
        let name = match body.get(code_field).and_then(Value::as_str) {
            Some(code) => country_name(code).map_or_else(|| code.to_string(), str::to_string),
            None => String::new(),
        };
        body.insert(name_field.into(), Value::String(name));
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

fn invalid_value(field: &str, value: &Value) -> ApiError {
    bad_request(
        CODE_INVALID_VALUE,
        format!("Ogiltigt värde för fältet \"{field}\": {value}."),
    )
}

fn too_long(field: &str, max: usize) -> ApiError {
    bad_request(
        CODE_VALUE_TOO_LONG,
        format!("Fältet \"{field}\" får innehålla högst {max} tecken."),
    )
}

/// Reads `value` for `field` as `kind`: `Ok(None)` removes the field, `Ok(Some)` sets it;
/// a JSON `null` leaves it as it was (`Err` never for null).
fn read_field(field: &str, kind: Kind, value: &Value) -> Result<Option<Option<Value>>, ApiError> {
    if value.is_null() {
        return Ok(None);
    }
    let text = || -> Result<String, ApiError> {
        string(value)
            .ok()
            .flatten()
            .ok_or_else(|| invalid_value(field, value))
    };
    let set = |v: Value| Ok(Some(Some(v)));
    match kind {
        Kind::Text(max) => {
            let s = text()?;
            if s.chars().count() > max {
                return Err(too_long(field, max));
            }
            set(Value::String(s))
        }
        Kind::OptionalText(max) => {
            let s = text()?;
            if s.chars().count() > max {
                return Err(too_long(field, max));
            }
            if s.is_empty() {
                Ok(Some(None))
            } else {
                set(Value::String(s))
            }
        }
        Kind::Bool => match boolean(value) {
            Ok(Some(b)) => set(Value::Bool(b)),
            Ok(None) => Ok(None),
            Err(_) => Err(invalid_value(field, value)),
        },
        Kind::Number => match decimal(value) {
            Ok(Some(d)) => set(money(d)),
            Ok(None) => set(money(Decimal::ZERO)),
            Err(_) => Err(invalid_value(field, value)),
        },
        Kind::Int { min, max } => match integer(value) {
            Ok(Some(n)) if (min..=max).contains(&n) => set(Value::from(n)),
            Ok(None) => Ok(None),
            _ => Err(invalid_value(field, value)),
        },
        Kind::Choice(options) => {
            let s = text()?;
            if s.is_empty() {
                return Ok(Some(None));
            }
            options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(s.trim()))
                .map(|o| Some(Some(Value::String((*o).to_string()))))
                .ok_or_else(|| invalid_value(field, value))
        }
        Kind::Country => {
            let s = text()?.trim().to_ascii_uppercase();
            if s.is_empty() {
                return Ok(Some(None));
            }
            if s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase()) {
                set(Value::String(s))
            } else {
                Err(bad_request(
                    CODE_INVALID_VALUE,
                    format!("Ogiltig landskod i fältet \"{field}\": {value}."),
                ))
            }
        }
        Kind::Letters(n) => {
            let s = text()?.trim().to_ascii_uppercase();
            if s.is_empty() {
                return Ok(Some(None));
            }
            if s.len() == n && s.chars().all(|c| c.is_ascii_uppercase()) {
                set(Value::String(s))
            } else {
                Err(invalid_value(field, value))
            }
        }
        Kind::Digits(n) => {
            let s = text()?.trim().to_string();
            if s.is_empty() {
                return Ok(Some(None));
            }
            if s.len() == n && s.chars().all(|c| c.is_ascii_digit()) {
                set(Value::String(s))
            } else {
                Err(invalid_value(field, value))
            }
        }
        Kind::Email => {
            let s = text()?.trim().to_string();
            if s.chars().count() > 1024 {
                return Err(too_long(field, 1024));
            }
            if !s.is_empty() && !is_email(&s) {
                return Err(bad_request(
                    CODE_INVALID_EMAIL,
                    format!("Ogiltig e-postadress i fältet \"{field}\": \"{s}\"."),
                ));
            }
            set(Value::String(s))
        }
        Kind::Date => match date(value) {
            Ok(Some(d)) => set(Value::String(d.format("%Y-%m-%d").to_string())),
            Ok(None) => Ok(Some(None)),
            Err(_) => Err(bad_request(
                CODE_INVALID_VALUE,
                format!("Ogiltigt datum i fältet \"{field}\": {value} (förväntade ÅÅÅÅ-MM-DD)."),
            )),
        },
        Kind::TextObject(_) | Kind::DeliveryTypes | Kind::Labels => {
            Err(invalid_value(field, value))
        }
    }
}

/// Merges the sub-fields of an object-valued field into `target`.
fn merge_object(
    target: &mut Map<String, Value>,
    field: &str,
    kind: Kind,
    value: &Value,
) -> Result<(), ApiError> {
    if value.is_null() {
        return Ok(());
    }
    let Some(input) = value.as_object() else {
        return Err(invalid_value(field, value));
    };
    let mut current = target
        .get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (sub, v) in input {
        let sub_kind = match kind {
            Kind::TextObject(names) if names.contains(&sub.as_str()) => Kind::Text(1024),
            Kind::DeliveryTypes if ["Invoice", "Offer", "Order"].contains(&sub.as_str()) => {
                Kind::Choice(DELIVERY_TYPES)
            }
            _ => continue,
        };
        match read_field(&format!("{field}.{sub}"), sub_kind, v)? {
            Some(Some(v)) => {
                current.insert(sub.clone(), v);
            }
            Some(None) => {
                current.remove(sub);
            }
            None => {}
        }
    }
    target.insert(field.to_string(), Value::Object(current));
    Ok(())
}

fn apply_field(
    body: &mut Map<String, Value>,
    field: &str,
    kind: Kind,
    value: &Value,
) -> Result<(), ApiError> {
    apply_field_as(body, field, field, kind, value)
}

/// [`apply_field`], naming the field `label` in error messages.
fn apply_field_as(
    body: &mut Map<String, Value>,
    field: &str,
    label: &str,
    kind: Kind,
    value: &Value,
) -> Result<(), ApiError> {
    match kind {
        Kind::TextObject(_) | Kind::DeliveryTypes => merge_object(body, field, kind, value),
        Kind::Labels => {
            let labels = labels(value).ok_or_else(|| invalid_value(label, value))?;
            body.insert(field.to_string(), labels);
            Ok(())
        }
        _ => {
            match read_field(label, kind, value)? {
                Some(Some(v)) => {
                    body.insert(field.to_string(), v);
                }
                Some(None) => {
                    body.remove(field);
                }
                None => {}
            }
            Ok(())
        }
    }
}

fn labels(value: &Value) -> Option<Value> {
    let items = value.as_array()?;
    let mut out = Vec::new();
    for item in items {
        let id = integer(item.get("Id")?).ok()??;
        out.push(json!({"Id": id}));
    }
    Some(Value::Array(out))
}

/// Applies the writable fields of `input` to a customer body and re-derives countries.
fn apply_customer_fields(
    body: &mut Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (field, value) in input {
        if let Some(kind) = customer_field(field) {
            apply_field(body, field, kind, value)?;
        }
    }
    derive_countries(body);
    Ok(())
}

fn render_customer(base: &str, body: &Map<String, Value>) -> Value {
    let mut out = body.clone();
    out.insert(
        "@url".into(),
        Value::String(format!(
            "{base}/customers/{}",
            str_field(body, "CustomerNumber")
        )),
    );
    Value::Object(out)
}

/// The fields of `fortnox_CustomerListItem`, and no others.
fn customer_list_item(base: &str, body: &Map<String, Value>) -> Value {
    json!({
        "@url": format!("{base}/customers/{}", str_field(body, "CustomerNumber")),
        "Address1": str_field(body, "Address1"),
        "Address2": str_field(body, "Address2"),
        "City": str_field(body, "City"),
        "CustomerNumber": str_field(body, "CustomerNumber"),
        "Email": str_field(body, "Email"),
        "Name": str_field(body, "Name"),
        "OrganisationNumber": str_field(body, "OrganisationNumber"),
        "Phone": str_field(body, "Phone1"),
        "ZipCode": str_field(body, "ZipCode"),
    })
}

impl FortnoxData {
    fn number_taken(&self, number: &str) -> bool {
        self.reserved_customer_numbers.contains(number)
            || self.customers.contains_key(&NatKey::of(number))
    }

    /// The next free sequential customer number.
    fn assign_customer_number(&mut self) -> String {
        let mut n = self.next_customer_number.max(1);
        while self.number_taken(&n.to_string()) {
            n += 1;
        }
        self.next_customer_number = n + 1;
        n.to_string()
    }

    /// Creates a customer from the inner object of `{"Customer": …}`; returns its number.
    fn create_customer(
        &mut self,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<String, ApiError> {
        let mut body = customer_defaults();
        apply_customer_fields(&mut body, input)?;
        if str_field(&body, "Name").trim().is_empty() {
            return Err(name_required());
        }
        let requested = match input.get("CustomerNumber") {
            None | Some(Value::Null) => None,
            Some(v) => match string(v) {
                Ok(Some(s)) if s.trim().is_empty() => None,
                Ok(Some(s)) => Some(s.trim().to_string()),
                _ => return Err(invalid_value("CustomerNumber", v)),
            },
        };
        let number = match requested {
            Some(n) if self.number_taken(&n) => {
                return Err(bad_request(
                    CODE_CUSTOMER_NUMBER_TAKEN,
                    format!("Kundnummer {n} används redan."),
                ))
            }
            Some(n) if n.chars().count() > 1024 || n.contains('/') => {
                return Err(invalid_value("CustomerNumber", &Value::String(n)))
            }
            Some(n) => n,
            None => self.assign_customer_number(),
        };
        body.insert("CustomerNumber".into(), Value::String(number.clone()));
        self.reserved_customer_numbers.insert(number.clone());
        self.customers.insert(
            NatKey::of(&number),
            Record {
                body,
                modified: clock.tick(),
            },
        );
        Ok(number)
    }
}

// ---------------------------------------------------------------------------------------
// Invoices

const HOUSE_WORK_TYPES: &[&str] = &[
    "CONSTRUCTION",
    "ELECTRICITY",
    "GLASSMETALWORK",
    "GROUNDDRAINAGEWORK",
    "MASONRY",
    "PAINTINGWALLPAPERING",
    "HVAC",
    "MAJORAPPLIANCEREPAIR",
    "MOVINGSERVICES",
    "ITSERVICES",
    "CLEANING",
    "TEXTILECLOTHING",
    "SNOWPLOWING",
    "GARDENING",
    "BABYSITTING",
    "OTHERCARE",
    "OTHERCOSTS",
    "SOLARCELLS",
    "STORAGESELFPRODUCEDELECTRICITY",
    "CHARGINGSTATIONELECTRICVEHICLE",
    "HOMEMAINTENANCE",
    "FURNISHING",
    "TRANSPORTATIONSERVICES",
    "WASHINGANDCAREOFCLOTHING",
];

/// Writable invoice fields (`fortnox_InvoicePayload`). `CustomerNumber`, `DocumentNumber`
/// and `InvoiceRows` are handled apart; computed and state fields are ignored.
fn invoice_field(name: &str) -> Option<Kind> {
    Some(match name {
        "ExternalInvoiceReference1" | "ExternalInvoiceReference2" => Kind::Text(80),
        "OurReference" | "YourReference" => Kind::Text(50),
        "YourOrderNumber" => Kind::Text(75),
        "DeliveryDate" | "DueDate" | "InvoiceDate" | "OutboundDate" => Kind::Date,
        "AdministrationFee" | "Freight" | "CurrencyRate" => Kind::Number,
        "CurrencyUnit" => Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        "EUQuarterlyReport" | "NotCompleted" | "VATIncluded" => Kind::Bool,
        "InvoiceType" => Kind::Choice(&[
            "INVOICE",
            "AGREEMENTINVOICE",
            "INTRESTINVOICE",
            "SUMMARYINVOICE",
            "CASHINVOICE",
        ]),
        "Language" => Kind::Choice(&["SV", "EN"]),
        "TaxReductionType" => Kind::Choice(&["none", "rot", "rut", "green"]),
        "PaymentWay" => Kind::Choice(&["CASH", "CARD", "AG"]),
        "Currency" => Kind::Letters(3),
        "EDIInformation" => Kind::TextObject(&[
            "EDIGlobalLocationNumber",
            "EDIGlobalLocationNumberDelivery",
            "EDIInvoiceExtra1",
            "EDIInvoiceExtra2",
            "EDIOurElectronicReference",
            "EDIYourElectronicReference",
        ]),
        "EmailInformation" => Kind::TextObject(&[
            "EmailAddressFrom",
            "EmailAddressTo",
            "EmailAddressCC",
            "EmailAddressBCC",
            "EmailSubject",
            "EmailBody",
        ]),
        "Labels" => Kind::Labels,
        "Address1" | "Address2" | "City" | "Comments" | "CostCenter" | "Country"
        | "CustomerName" | "DeliveryAddress1" | "DeliveryAddress2" | "DeliveryCity"
        | "DeliveryCountry" | "DeliveryName" | "DeliveryZipCode" | "OCR" | "Phone1" | "Phone2"
        | "PriceList" | "PrintTemplate" | "Project" | "Remarks" | "TermsOfDelivery"
        | "TermsOfPayment" | "WayOfDelivery" | "ZipCode" => Kind::Text(1024),
        _ => return None,
    })
}

/// Writable row fields (`fortnox_InvoicePayload_InvoiceRow`); `AccountNumber`, `VAT`,
/// `DeliveredQuantity` and `RowId` are handled apart.
fn row_field(name: &str) -> Option<Kind> {
    Some(match name {
        "ArticleNumber" | "CostCenter" | "Project" | "StockPointCode" | "Unit" => Kind::Text(1024),
        "Description" => Kind::Text(255),
        "Discount" | "Price" => Kind::Number,
        "DiscountType" => Kind::Choice(&["AMOUNT", "PERCENT"]),
        "HouseWork" => Kind::Bool,
        "HouseWorkHoursToReport" => Kind::Int { min: 0, max: 999 },
        "HouseWorkType" => Kind::Choice(HOUSE_WORK_TYPES),
        _ => return None,
    })
}

/// The default VAT of a sales account (BAS: 3001 25 %, 3002 12 %, 3003 6 %, 3004 and
/// export accounts 0 %).
fn account_vat(account: i64) -> i64 {
    match account {
        3002 => 12,
        3003 => 6,
        3004 | 3105 | 3106 | 3108 | 3305 | 3308 => 0,
        _ => 25,
    }
}

fn vat_code(vat: i64) -> &'static str {
    match vat {
        25 => "MP1",
        12 => "MP2",
        6 => "MP3",
        _ => "MF",
    }
}

fn row_defaults() -> Map<String, Value> {
    match json!({
        "ArticleNumber": "",
        "ContributionPercent": "0",
        "ContributionValue": "0",
        "CostCenter": "",
        "DeliveredQuantity": "0.00",
        "Description": "",
        "Discount": 0.0,
        "DiscountType": "PERCENT",
        "HouseWork": false,
        "HouseWorkHoursToReport": 0,
        "Price": 0.0,
        "Project": "",
        "StockPointCode": "",
        "Unit": "",
    }) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Builds one row from `base` (an existing row or the defaults) and the input row.
fn build_row(
    index: usize,
    mut row: Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let label = |f: &str| format!("InvoiceRows[{index}].{f}");
    for (field, value) in input {
        if let Some(kind) = row_field(field) {
            apply_field_as(&mut row, field, &label(field), kind, value).map_err(|mut e| {
                if field == "Description" && e.code == CODE_VALUE_TOO_LONG {
                    e.message = format!(
                        "Beskrivningen (Description) på rad {} får innehålla högst 255 tecken.",
                        index + 1
                    );
                }
                e
            })?;
        }
    }
    if let Some(v) = input.get("DeliveredQuantity") {
        match decimal(v) {
            Ok(Some(q)) => {
                row.insert("DeliveredQuantity".into(), Value::String(two_decimals(q)));
            }
            Ok(None) => {}
            Err(_) => return Err(invalid_value(&label("DeliveredQuantity"), v)),
        }
    }
    if let Some(v) = input.get("AccountNumber") {
        match integer(v) {
            Ok(Some(a)) if (1000..=9999).contains(&a) => {
                row.insert("AccountNumber".into(), Value::from(a));
            }
            Ok(None) => {}
            _ => {
                return Err(bad_request(
                    CODE_ACCOUNT_NOT_FOUND,
                    format!("Kunde inte hitta konto {v} (rad {}).", index + 1),
                ))
            }
        }
    }
    let has_article = !str_field(&row, "ArticleNumber").trim().is_empty();
    if !row.contains_key("AccountNumber") {
        if !has_article {
            return Err(bad_request(
                CODE_ACCOUNT_NOT_FOUND,
                format!(
                    "Kunde inte hitta konto (rad {}): ange ArticleNumber eller AccountNumber.",
                    index + 1
                ),
            ));
        }
        // An article row without an account books on the default sales account.
        row.insert("AccountNumber".into(), Value::from(3001));
    }
    let account = row
        .get("AccountNumber")
        .and_then(Value::as_i64)
        .unwrap_or(3001);
    match input.get("VAT") {
        Some(v) if !v.is_null() => match integer(v) {
            Ok(Some(vat)) if [0, 6, 12, 25].contains(&vat) => {
                row.insert("VAT".into(), Value::from(vat));
            }
            Ok(None) => {}
            _ => {
                return Err(bad_request(
                    CODE_INVALID_VALUE,
                    format!(
                        "Ogiltig momssats {v} (rad {}): tillåtna är 0, 6, 12 och 25.",
                        index + 1
                    ),
                ))
            }
        },
        _ => {}
    }
    if !row.contains_key("VAT") {
        row.insert("VAT".into(), Value::from(account_vat(account)));
    }
    let vat = row.get("VAT").and_then(Value::as_i64).unwrap_or(25);
    row.insert("VATCode".into(), Value::String(vat_code(vat).to_string()));
    Ok(row)
}

/// Rows from a write: with no `RowId` anywhere, row *i* updates existing row *i* (rows beyond
/// the input are removed); otherwise rows with a known `RowId` update that row and the rest
/// are new. Row ids are renumbered on every write, as Fortnox does.
fn build_rows(existing: &[Value], input: &Value) -> Result<Vec<Value>, ApiError> {
    let Some(items) = input.as_array() else {
        return Err(invalid_value("InvoiceRows", input));
    };
    let by_id: HashMap<i64, &Map<String, Value>> = existing
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|r| r.get("RowId").and_then(Value::as_i64).map(|id| (id, r)))
        .collect();
    let any_ids = items
        .iter()
        .any(|r| r.get("RowId").is_some_and(|v| !v.is_null()));
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(item) = item.as_object() else {
            return Err(invalid_value(&format!("InvoiceRows[{i}]"), item));
        };
        let base = if any_ids {
            item.get("RowId")
                .and_then(|v| integer(v).ok().flatten())
                .and_then(|id| by_id.get(&id))
                .map(|r| (*r).clone())
        } else {
            existing.get(i).and_then(Value::as_object).cloned()
        };
        let mut row = build_row(i, base.unwrap_or_else(row_defaults), item)?;
        row.insert("RowId".into(), Value::from(i + 1));
        rows.push(Value::Object(row));
    }
    Ok(rows)
}

/// Recomputes the rows' and the invoice's amounts from `DeliveredQuantity`, `Price`,
/// `Discount`, `VAT` and `VATIncluded`, in decimals. SEK totals are rounded to whole kronor
/// (`RoundOff`). Freight and administration fee carry 25 % VAT.
fn recompute(body: &mut Map<String, Value>) {
    let vat_included = bool_field(body, "VATIncluded");
    let mut by_rate: BTreeMap<i64, (Decimal, Decimal)> = BTreeMap::new();
    let mut house_work = false;
    if let Some(Value::Array(rows)) = body.get_mut("InvoiceRows") {
        for row in rows.iter_mut().filter_map(Value::as_object_mut) {
            let qty = dec_field(row, "DeliveredQuantity");
            let price = dec_field(row, "Price");
            let discount = dec_field(row, "Discount");
            let vat = row.get("VAT").and_then(Value::as_i64).unwrap_or(25);
            let factor = Decimal::ONE + Decimal::from(vat) / Decimal::from(100);
            let gross = qty * price;
            let total = round2(if str_field(row, "DiscountType") == "AMOUNT" {
                gross - discount
            } else {
                gross * (Decimal::ONE - discount / Decimal::from(100))
            });
            let (excl, price_excl) = if vat_included {
                (round2(total / factor), round2(price / factor))
            } else {
                (total, price)
            };
            row.insert("Total".into(), money(total));
            row.insert("TotalExcludingVAT".into(), money(excl));
            row.insert("PriceExcludingVAT".into(), money(price_excl));
            let entry = by_rate.entry(vat).or_default();
            entry.0 += excl;
            entry.1 += total;
            house_work |= bool_field(row, "HouseWork");
        }
    }
    let net: Decimal = by_rate.values().map(|(excl, _)| *excl).sum();
    let rows_vat: Decimal = by_rate
        .iter()
        .map(|(vat, (excl, incl))| {
            if vat_included {
                *incl - *excl
            } else {
                round2(*excl * Decimal::from(*vat) / Decimal::from(100))
            }
        })
        .sum();
    let quarter = Decimal::new(25, 2);
    let freight = dec_field(body, "Freight");
    let admin = dec_field(body, "AdministrationFee");
    let freight_vat = round2(freight * quarter);
    let admin_vat = round2(admin * quarter);
    let gross = net + freight + admin;
    let total_vat = rows_vat + freight_vat + admin_vat;
    let unrounded = gross + total_vat;
    let (total, round_off) = if str_field(body, "Currency") == "SEK" {
        let t = round0(unrounded);
        (t, t - unrounded)
    } else {
        (unrounded, Decimal::ZERO)
    };
    let settled = bool_field(body, "Cancelled") || str_field(body, "CreditInvoiceReference") != "0";
    for (k, v) in [
        ("Net", money(net)),
        ("Gross", money(gross)),
        ("TotalVAT", money(total_vat)),
        ("FreightVAT", money(freight_vat)),
        ("AdministrationFeeVAT", money(admin_vat)),
        ("RoundOff", money(round_off)),
        ("Total", money(total)),
        ("TotalToPay", money(total)),
        (
            "Balance",
            money(if settled { Decimal::ZERO } else { total }),
        ),
        ("BasisTaxReduction", money(Decimal::ZERO)),
        ("ContributionValue", money(net)),
        (
            "ContributionPercent",
            money(if net.is_zero() {
                Decimal::ZERO
            } else {
                Decimal::from(100)
            }),
        ),
        ("HouseWork", Value::Bool(house_work)),
    ] {
        body.insert(k.into(), v);
    }
}

/// A fresh invoice for `customer`, as Fortnox pre-fills one.
fn invoice_defaults(customer: &Map<String, Value>, today: NaiveDate) -> Map<String, Value> {
    let c = |f: &str| Value::String(str_field(customer, f).to_string());
    let email = if str_field(customer, "EmailInvoice").is_empty() {
        c("Email")
    } else {
        c("EmailInvoice")
    };
    let currency = if str_field(customer, "Currency").is_empty() {
        Value::from("SEK")
    } else {
        c("Currency")
    };
    let defaults = json!({
        "AccountingMethod": "ACCRUAL",
        "AdministrationFee": 0.0,
        "Address1": c("Address1"),
        "Address2": c("Address2"),
        "Booked": false,
        "Cancelled": false,
        "City": c("City"),
        "Comments": "",
        "ContractReference": 0,
        "CostCenter": c("CostCenter"),
        "Country": c("Country"),
        "Credit": "false",
        "CreditInvoiceReference": "0",
        "Currency": currency,
        "CurrencyRate": 1.0,
        "CurrencyUnit": 1,
        "CustomerName": c("Name"),
        "CustomerNumber": c("CustomerNumber"),
        "DeliveryAddress1": c("DeliveryAddress1"),
        "DeliveryAddress2": c("DeliveryAddress2"),
        "DeliveryCity": c("DeliveryCity"),
        "DeliveryCountry": c("DeliveryCountry"),
        "DeliveryName": c("DeliveryName"),
        "DeliveryZipCode": c("DeliveryZipCode"),
        "EDIInformation": {
            "EDIGlobalLocationNumber": "",
            "EDIGlobalLocationNumberDelivery": "",
            "EDIInvoiceExtra1": "",
            "EDIInvoiceExtra2": "",
            "EDIOurElectronicReference": "",
            "EDIStatus": "",
            "EDIYourElectronicReference": ""
        },
        "EUQuarterlyReport": false,
        "EmailInformation": {
            "EmailAddressBCC": "",
            "EmailAddressCC": "",
            "EmailAddressFrom": "",
            "EmailAddressTo": email,
            "EmailBody": "",
            "EmailSubject": "Faktura {no} bifogas"
        },
        "ExternalInvoiceReference1": "",
        "ExternalInvoiceReference2": "",
        "Freight": 0.0,
        "InvoiceDate": today.format("%Y-%m-%d").to_string(),
        "InvoiceRows": [],
        "InvoiceType": "INVOICE",
        "Labels": [],
        "Language": "SV",
        "NotCompleted": false,
        "NoxFinans": false,
        "OfferReference": "0",
        "OrderReference": "0",
        "OrganisationNumber": c("OrganisationNumber"),
        "OurReference": c("OurReference"),
        "Phone1": c("Phone1"),
        "Phone2": c("Phone2"),
        "PriceList": c("PriceList"),
        "PrintTemplate": "",
        "Project": c("Project"),
        "Remarks": c("InvoiceRemark"),
        "Reminders": 0,
        "Sent": false,
        "TaxReduction": 0,
        "TaxReductionType": "none",
        "TermsOfDelivery": c("TermsOfDelivery"),
        "TermsOfPayment": c("TermsOfPayment"),
        "TimeBasisReference": 0,
        "VATIncluded": bool_field(customer, "ShowPriceVATIncluded"),
        "WarehouseReady": false,
        "WayOfDelivery": c("WayOfDelivery"),
        "YourOrderNumber": "",
        "YourReference": c("YourReference"),
        "ZipCode": c("ZipCode"),
    });
    match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Days until due for a terms-of-payment code (`"30"` → 30, `"K"` (kontant) → 0).
fn terms_days(code: &str) -> u64 {
    code.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

fn set_due_date(body: &mut Map<String, Value>) {
    let invoice_date = NaiveDate::parse_from_str(str_field(body, "InvoiceDate"), "%Y-%m-%d").ok();
    if let Some(d) = invoice_date {
        let due = d
            .checked_add_days(Days::new(terms_days(str_field(body, "TermsOfPayment"))))
            .unwrap_or(d);
        body.insert(
            "DueDate".into(),
            Value::String(due.format("%Y-%m-%d").to_string()),
        );
    }
}

/// OCR reference: document number plus a Luhn check digit.
fn ocr(number: u64) -> String {
    let digits = number.to_string();
    format!("{digits}{}", luhn_check_digit(&digits))
}

fn apply_invoice_fields(
    body: &mut Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (field, value) in input {
        if let Some(kind) = invoice_field(field) {
            apply_field(body, field, kind, value)?;
        }
    }
    Ok(())
}

fn render_invoice(base: &str, body: &Map<String, Value>) -> Value {
    let mut out = body.clone();
    let number = str_field(body, "DocumentNumber").to_string();
    out.insert(
        "@url".into(),
        Value::String(format!("{base}/invoices/{number}")),
    );
    out.insert(
        "@urlTaxReductionList".into(),
        Value::String(format!(
            "{base}/taxreductions?filter=invoices&referencenumber={number}"
        )),
    );
    Value::Object(out)
}

/// The fields of `fortnox_InvoiceListItem`, and no others.
fn invoice_list_item(base: &str, body: &Map<String, Value>) -> Value {
    let mut item = Map::new();
    item.insert(
        "@url".into(),
        Value::String(format!(
            "{base}/invoices/{}",
            str_field(body, "DocumentNumber")
        )),
    );
    for field in [
        "Balance",
        "Booked",
        "Cancelled",
        "CostCenter",
        "Currency",
        "CurrencyRate",
        "CurrencyUnit",
        "CustomerName",
        "CustomerNumber",
        "DocumentNumber",
        "DueDate",
        "ExternalInvoiceReference1",
        "ExternalInvoiceReference2",
        "FinalPayDate",
        "InvoiceDate",
        "InvoiceType",
        "NoxFinans",
        "OCR",
        "Project",
        "Sent",
        "TermsOfPayment",
        "Total",
        "VoucherNumber",
        "VoucherSeries",
        "VoucherYear",
        "WayOfDelivery",
    ] {
        if let Some(v) = body.get(field) {
            item.insert(field.into(), v.clone());
        }
    }
    Value::Object(item)
}

fn customer_for_invoice<'a>(
    data: &'a FortnoxData,
    input: &Map<String, Value>,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    let Some(v) = input.get("CustomerNumber").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let number = string(v)
        .ok()
        .flatten()
        .map(|s| s.trim().to_string())
        .ok_or_else(|| invalid_value("CustomerNumber", v))?;
    if number.is_empty() {
        return Err(bad_request(
            CODE_REQUIRED_FIELD,
            "Fakturan måste ha ett kundnummer (CustomerNumber).",
        ));
    }
    data.customers
        .get(&NatKey::of(&number))
        .map(|r| Some(&r.body))
        .ok_or_else(|| {
            bad_request(
                CODE_CUSTOMER_NOT_FOUND,
                format!("Kunde inte hitta kund med kundnummer \"{number}\"."),
            )
        })
}

impl FortnoxData {
    fn document_number_taken(&self, n: u64) -> bool {
        self.invoices.contains_key(&n)
    }

    fn assign_document_number(&mut self) -> u64 {
        let mut n = self.next_document_number.max(1);
        while self.document_number_taken(n) {
            n += 1;
        }
        self.next_document_number = n + 1;
        n
    }

    /// Creates an invoice from the inner object of `{"Invoice": …}`; returns its number.
    fn create_invoice(
        &mut self,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<u64, ApiError> {
        let customer = customer_for_invoice(self, input)?.ok_or_else(|| {
            bad_request(
                CODE_REQUIRED_FIELD,
                "Fakturan måste ha ett kundnummer (CustomerNumber).",
            )
        })?;
        let mut body = invoice_defaults(customer, today());
        apply_invoice_fields(&mut body, input)?;
        if let Some(rows) = input.get("InvoiceRows").filter(|v| !v.is_null()) {
            body.insert("InvoiceRows".into(), Value::Array(build_rows(&[], rows)?));
        }
        if input
            .get("DueDate")
            .is_none_or(|v| date(v).ok().flatten().is_none())
        {
            set_due_date(&mut body);
        }
        let requested = match input.get("DocumentNumber").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => match integer(v) {
                Ok(Some(n)) if n > 0 => u64::try_from(n).ok(),
                Ok(None) => None,
                _ => return Err(invalid_value("DocumentNumber", v)),
            },
        };
        let number = match requested {
            Some(n) if self.document_number_taken(n) => {
                return Err(bad_request(
                    CODE_DOCUMENT_NUMBER_TAKEN,
                    format!("Fakturanummer {n} används redan."),
                ))
            }
            Some(n) => n,
            None => self.assign_document_number(),
        };
        body.insert("DocumentNumber".into(), Value::String(number.to_string()));
        if str_field(&body, "OCR").is_empty() {
            body.insert("OCR".into(), Value::String(ocr(number)));
        }
        if let Some(Value::Object(email)) = body.get_mut("EmailInformation") {
            if let Some(Value::String(subject)) = email.get_mut("EmailSubject") {
                *subject = subject.replace("{no}", &number.to_string());
            }
        }
        recompute(&mut body);
        self.invoices.insert(
            number,
            Record {
                body,
                modified: clock.tick(),
            },
        );
        Ok(number)
    }

    fn update_invoice(
        &mut self,
        number: u64,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<(), ApiError> {
        let existing = self
            .invoices
            .get(&number)
            .ok_or_else(|| invoice_not_found(&number.to_string()))?;
        if bool_field(&existing.body, "Booked") || bool_field(&existing.body, "Cancelled") {
            return Err(bad_request(
                CODE_INVOICE_LOCKED,
                format!(
                    "Faktura {number} är bokförd eller makulerad och kan inte ändras. Kreditera den i stället."
                ),
            ));
        }
        let mut body = existing.body.clone();
        let old_customer = str_field(&body, "CustomerNumber").to_string();
        if let Some(customer) = customer_for_invoice(self, input)? {
            if str_field(customer, "CustomerNumber") != old_customer {
                for (to, from) in [
                    ("CustomerNumber", "CustomerNumber"),
                    ("CustomerName", "Name"),
                    ("Address1", "Address1"),
                    ("Address2", "Address2"),
                    ("ZipCode", "ZipCode"),
                    ("City", "City"),
                    ("Country", "Country"),
                    ("OrganisationNumber", "OrganisationNumber"),
                ] {
                    body.insert(
                        to.into(),
                        Value::String(str_field(customer, from).to_string()),
                    );
                }
            }
        }
        let old_terms = (
            str_field(&body, "InvoiceDate").to_string(),
            str_field(&body, "TermsOfPayment").to_string(),
        );
        apply_invoice_fields(&mut body, input)?;
        if let Some(rows) = input.get("InvoiceRows").filter(|v| !v.is_null()) {
            let existing_rows = body
                .get("InvoiceRows")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            body.insert(
                "InvoiceRows".into(),
                Value::Array(build_rows(&existing_rows, rows)?),
            );
        }
        let new_terms = (
            str_field(&body, "InvoiceDate").to_string(),
            str_field(&body, "TermsOfPayment").to_string(),
        );
        if new_terms != old_terms && !input.contains_key("DueDate") {
            set_due_date(&mut body);
        }
        recompute(&mut body);
        if let Some(record) = self.invoices.get_mut(&number) {
            record.body = body;
            record.modified = clock.tick();
        }
        Ok(())
    }

    fn invoice_mut(&mut self, number: u64) -> Result<&mut Record, ApiError> {
        self.invoices
            .get_mut(&number)
            .ok_or_else(|| invoice_not_found(&number.to_string()))
    }

    fn bookkeep(&mut self, number: u64, clock: &mut Clock) -> Result<(), ApiError> {
        self.next_voucher_number = self.next_voucher_number.max(1);
        let voucher = self.next_voucher_number;
        let record = self.invoice_mut(number)?;
        if bool_field(&record.body, "Cancelled") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är makulerad och kan inte bokföras."),
            ));
        }
        if bool_field(&record.body, "Booked") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är redan bokförd."),
            ));
        }
        let year = NaiveDate::parse_from_str(str_field(&record.body, "InvoiceDate"), "%Y-%m-%d")
            .map(|d| d.year())
            .unwrap_or_else(|_| today().year());
        record.body.insert("Booked".into(), Value::Bool(true));
        record.body.insert("VoucherSeries".into(), Value::from("B"));
        record
            .body
            .insert("VoucherNumber".into(), Value::from(voucher));
        record.body.insert("VoucherYear".into(), Value::from(year));
        record.modified = clock.tick();
        self.next_voucher_number = voucher + 1;
        Ok(())
    }

    fn cancel(&mut self, number: u64, clock: &mut Clock) -> Result<(), ApiError> {
        let record = self.invoice_mut(number)?;
        if bool_field(&record.body, "Booked") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!(
                    "Faktura {number} är bokförd och kan inte makuleras. Kreditera den i stället."
                ),
            ));
        }
        if bool_field(&record.body, "Cancelled") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är redan makulerad."),
            ));
        }
        record.body.insert("Cancelled".into(), Value::Bool(true));
        recompute(&mut record.body);
        record.modified = clock.tick();
        Ok(())
    }

    /// Creates a credit invoice for `number` (rows with negated quantities, `Credit: "true"`,
    /// `CreditInvoiceReference` pointing back) and links the original to it.
    fn credit(&mut self, number: u64, clock: &mut Clock) -> Result<(), ApiError> {
        let original = self.invoice_mut(number)?.body.clone();
        if bool_field(&original, "Cancelled") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är makulerad och kan inte krediteras."),
            ));
        }
        if str_field(&original, "Credit") == "true" {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är en kreditfaktura och kan inte krediteras."),
            ));
        }
        if str_field(&original, "CreditInvoiceReference") != "0" {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är redan krediterad."),
            ));
        }
        let credit_number = self.assign_document_number();
        let mut credit = original.clone();
        for field in [
            "VoucherNumber",
            "VoucherSeries",
            "VoucherYear",
            "FinalPayDate",
            "LastRemindDate",
        ] {
            credit.remove(field);
        }
        credit.insert(
            "DocumentNumber".into(),
            Value::String(credit_number.to_string()),
        );
        credit.insert("OCR".into(), Value::String(ocr(credit_number)));
        credit.insert("Credit".into(), Value::from("true"));
        credit.insert(
            "CreditInvoiceReference".into(),
            Value::String(number.to_string()),
        );
        credit.insert("Booked".into(), Value::Bool(false));
        credit.insert("Sent".into(), Value::Bool(false));
        credit.insert(
            "InvoiceDate".into(),
            Value::String(today().format("%Y-%m-%d").to_string()),
        );
        set_due_date(&mut credit);
        if let Some(Value::Array(rows)) = credit.get_mut("InvoiceRows") {
            for row in rows.iter_mut().filter_map(Value::as_object_mut) {
                let q = dec_field(row, "DeliveredQuantity");
                row.insert("DeliveredQuantity".into(), Value::String(two_decimals(-q)));
            }
        }
        recompute(&mut credit);
        let now = clock.tick();
        self.invoices.insert(
            credit_number,
            Record {
                body: credit,
                modified: now,
            },
        );
        let record = self.invoice_mut(number)?;
        record.body.insert(
            "CreditInvoiceReference".into(),
            Value::String(credit_number.to_string()),
        );
        recompute(&mut record.body);
        record.modified = clock.tick();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Inspection and seeding (through `SandboxState`)

impl FortnoxData {
    /// Every customer's full body, by number.
    pub fn customer_bodies(&self) -> Vec<Value> {
        self.customers
            .values()
            .map(|r| Value::Object(r.body.clone()))
            .collect()
    }

    /// Every invoice's full body, by number.
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

    /// Adds `n` generated customers; returns their numbers.
    pub fn seed_customers(
        &mut self,
        company_key: &str,
        n: usize,
        clock: &mut Clock,
    ) -> Vec<String> {
        let mut numbers = Vec::with_capacity(n);
        for _ in 0..n {
            let s = seed::customer("fortnox", company_key, self.seeded);
            self.seeded += 1;
            let number = self.assign_customer_number();
            let mut body = customer_defaults();
            for (k, v) in [
                ("CustomerNumber", number.clone()),
                ("Name", s.name),
                ("OrganisationNumber", s.organisation_number),
                ("Address1", s.address1),
                ("ZipCode", s.zip_code),
                ("City", s.city),
                ("Email", s.email.clone()),
                ("EmailInvoice", s.email),
                ("Phone1", s.phone),
                (
                    "Type",
                    if s.is_private { "PRIVATE" } else { "COMPANY" }.to_string(),
                ),
            ] {
                body.insert(k.into(), Value::String(v));
            }
            derive_countries(&mut body);
            self.reserved_customer_numbers.insert(number.clone());
            self.customers.insert(
                NatKey::of(&number),
                Record {
                    body,
                    modified: clock.tick(),
                },
            );
            numbers.push(number);
        }
        numbers
    }

    /// Lets `edit` change a customer as a person in Fortnox would; bumps its modification
    /// time. The number cannot change; countries are re-derived.
    pub fn modify_customer(
        &mut self,
        number: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        let Some(record) = self.customers.get_mut(&NatKey::of(number)) else {
            return false;
        };
        let mut value = Value::Object(std::mem::take(&mut record.body));
        edit(&mut value);
        let mut body = match value {
            Value::Object(map) => map,
            _ => customer_defaults(),
        };
        body.insert("CustomerNumber".into(), Value::String(number.to_string()));
        derive_countries(&mut body);
        record.body = body;
        record.modified = clock.tick();
        true
    }

    /// Deletes a customer as a person would (its number stays reserved).
    pub fn delete_customer(&mut self, number: &str) -> bool {
        self.customers.remove(&NatKey::of(number)).is_some()
    }

    /// Sets a customer's modification time (for tests of `lastmodified`).
    pub fn set_customer_modified(&mut self, number: &str, at: DateTime<Utc>) -> bool {
        match self.customers.get_mut(&NatKey::of(number)) {
            Some(record) => {
                record.modified = at;
                true
            }
            None => false,
        }
    }

    /// Sets an invoice's modification time (for tests of `lastmodified`).
    pub fn set_invoice_modified(&mut self, number: &str, at: DateTime<Utc>) -> bool {
        let Ok(n) = number.trim().parse::<u64>() else {
            return false;
        };
        match self.invoices.get_mut(&n) {
            Some(record) => {
                record.modified = at;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice_with(rows: Value, vat_included: bool) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("VATIncluded".into(), Value::Bool(vat_included));
        body.insert("Currency".into(), Value::from("SEK"));
        body.insert("CreditInvoiceReference".into(), Value::from("0"));
        body.insert(
            "InvoiceRows".into(),
            Value::Array(build_rows(&[], &rows).expect("rows")),
        );
        recompute(&mut body);
        body
    }

    #[test]
    fn totals_in_decimals_with_round_off() {
        let body = invoice_with(
            json!([
                {"AccountNumber": 3001, "DeliveredQuantity": "3", "Price": 333.33, "Description": "Arbete"},
                {"ArticleNumber": "M1", "DeliveredQuantity": 2, "Price": "10.10", "Discount": 10, "VAT": 12}
            ]),
            false,
        );
        // 999.99 @25 % + 18.18 @12 % = net 1018.17, VAT 250.00 + 2.18 = 252.18, 1270.35 → 1270.
        assert_eq!(body["Net"], json!(1018.17));
        assert_eq!(body["TotalVAT"], json!(252.18));
        assert_eq!(body["Total"], json!(1270.0));
        assert_eq!(body["RoundOff"], json!(-0.35));
        assert_eq!(body["InvoiceRows"][1]["AccountNumber"], json!(3001));
        assert_eq!(body["InvoiceRows"][0]["DeliveredQuantity"], json!("3.00"));
    }

    #[test]
    fn vat_included_prices() {
        let body = invoice_with(
            json!([{"AccountNumber": 3001, "DeliveredQuantity": 1, "Price": 125}]),
            true,
        );
        assert_eq!(body["Net"], json!(100.0));
        assert_eq!(body["TotalVAT"], json!(25.0));
        assert_eq!(body["Total"], json!(125.0));
    }

    #[test]
    fn row_without_article_or_account_fails() {
        let err = build_rows(&[], &json!([{"Description": "x", "Price": 1}])).unwrap_err();
        assert_eq!(err.code, CODE_ACCOUNT_NOT_FOUND);
    }

    #[test]
    fn stockholm_time_handles_dst() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            stockholm_to_utc(t("2024-01-15 10:00"))
                .unwrap()
                .to_rfc3339(),
            "2024-01-15T09:00:00+00:00"
        );
        assert_eq!(
            stockholm_to_utc(t("2024-07-15 10:00"))
                .unwrap()
                .to_rfc3339(),
            "2024-07-15T08:00:00+00:00"
        );
        // Spring gap: 02:30 does not exist; read with the winter offset.
        assert_eq!(
            stockholm_to_utc(t("2024-03-31 02:30"))
                .unwrap()
                .to_rfc3339(),
            "2024-03-31T01:30:00+00:00"
        );
        // Autumn overlap: 02:30 happens twice; the earlier one (summer time) wins.
        assert_eq!(
            stockholm_to_utc(t("2024-10-27 02:30"))
                .unwrap()
                .to_rfc3339(),
            "2024-10-27T00:30:00+00:00"
        );
    }
}
