//! Fortnox simulator, served under `/fortnox`: OAuth (`/oauth-v1/…`, [`auth`]) and API v3
//! (`/3/…`): customers, invoices and their actions, company information, per company (the
//! tenant the bearer token is bound to), in memory.
//!
//! Bodies follow Fortnox's OpenAPI document, April 2026 edition
//! (`contracts/fortnox-openapi-2026-04.json`): requests `fortnox_Kf_CustomerSinglePayloadItem`
//! and `fortnox_Kf_InvoiceSinglePayloadItem`, answers built by [`shape`] from the key sets of
//! `fortnox_Kf_CustomerSingleItem`, `fortnox_Kf_CustomerListItem`,
//! `fortnox_Kf_InvoiceSingleItem`, `fortnox_Kf_InvoiceListItem` and
//! `fortnox_CompanyInformationSingleItem`: every key of the schema, `null` for what is unset,
//! whole amounts without a fraction. Fortnox facts worth knowing:
//! - Search parameters are case-insensitive substring matches (`externalinvoicereference1=12`
//!   also finds `123`): compare exactly on the client side.
//! - `lastmodified` is local Swedish time (Europe/Stockholm), not UTC, and matches records
//!   modified at or after it ([`query`]).
//! - A customer number once used stays reserved after the customer is deleted.
//! - Numbers may arrive as strings and booleans as `"true"`; input is read leniently
//!   ([`fields`]). `DeliveredQuantity` is a string in Fortnox's schema (`"2.00"`), `VAT` a
//!   whole number.
//! - Errors: [`errors`] (key casing differs between 404 and other answers).
//!
//! Layout: `auth.rs` (OAuth flavour, bearer checks), `customers.rs`, `invoices.rs`,
//! `actions.rs` (bookkeep, cancel, credit), `company.rs`, `query.rs` (list parameters),
//! `fields.rs` (lenient writable fields), `rows.rs` and `amounts.rs` (invoice rows and their
//! arithmetic), `shape.rs` (answers from the schema), `seed.rs` (inspection and seeding).

mod actions;
mod amounts;
pub(crate) mod auth;
mod company;
mod customers;
mod errors;
mod fields;
mod invoices;
mod query;
mod rows;
mod seed;
mod shape;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::ProviderKind;
use crate::lenient::NatKey;
use crate::state::SandboxState;

use errors::{bad_request, ApiError};
pub(crate) use errors::{system_error, too_many_requests};

/// Scopes Fortnox knows (case sensitive).
pub const SCOPES: &[&str] = &[
    "archive",
    "article",
    "assets",
    "bookkeeping",
    "companyinformation",
    "connectfile",
    "costcenter",
    "currency",
    "customer",
    "inbox",
    "invoice",
    "noxfinansinvoice",
    "offer",
    "order",
    "payment",
    "price",
    "print",
    "profile",
    "project",
    "salary",
    "settings",
    "supplier",
    "supplierinvoice",
    "timereporting",
    "warehouse",
];

/// Fortnox error code: access token missing.
pub const CODE_TOKEN_MISSING: i64 = 2_000_310;
/// Fortnox error code: access token invalid or expired. The sandbox answers such tokens as
/// Fortnox's gateway does, with a bare 401 `{"message": "unauthorized"}` and no code; clients
/// may still meet this code in older answers.
pub const CODE_TOKEN_INVALID: i64 = 2_000_311;
/// Fortnox error code: no licence for the module or the token lacks its scope.
pub const CODE_NO_LICENCE: i64 = 2_001_101;
/// Fortnox error code: system exception (HTTP 500, retryable).
pub const CODE_SYSTEM_ERROR: i64 = 1_000_003;
/// Fortnox error code: the addressed record (customer, invoice) does not exist (HTTP 404).
pub const CODE_NOT_FOUND: i64 = 2_000_204;
/// Fortnox error code: the customer number is in use, or was used by a deleted customer
/// (numbers stay reserved after deletion).
pub const CODE_CUSTOMER_NUMBER_TAKEN: i64 = 2_000_637;
/// Fortnox error code: account not found; also what a row with neither `ArticleNumber` nor
/// `AccountNumber` gets ("Kunde inte hitta konto").
pub const CODE_ACCOUNT_NOT_FOUND: i64 = 2_001_304;
/// Fortnox error code: the request body is not valid JSON (or not the wrapped object).
pub const CODE_INVALID_JSON: i64 = 2_002_115;
/// Fortnox error code: a required field is missing (`Name`, an invoice's `CustomerNumber`).
pub const CODE_REQUIRED_FIELD: i64 = 2_000_359;
/// Fortnox error code: a field's value has the wrong type or is not allowed.
pub const CODE_INVALID_VALUE: i64 = 2_000_108;
/// Fortnox error code: a field's value is longer than allowed (row `Description` > 255).
pub const CODE_VALUE_TOO_LONG: i64 = 2_000_358;
/// Fortnox error code: an e-mail field does not hold an e-mail address.
pub const CODE_INVALID_EMAIL: i64 = 2_000_357;
/// Fortnox error code: unknown or invalid query parameter (also `limit` over 500 and a bad
/// `lastmodified`).
pub const CODE_INVALID_PARAMETER: i64 = 2_000_588;
/// Fortnox error code: the invoice's customer does not exist.
pub const CODE_CUSTOMER_NOT_FOUND: i64 = 2_000_433;
/// Fortnox error code: the invoice is booked or cancelled and cannot be edited.
pub const CODE_INVOICE_LOCKED: i64 = 2_000_046;
/// Fortnox error code: the action does not fit the invoice's state (booking a cancelled
/// invoice, cancelling a booked one, crediting twice).
pub const CODE_INVALID_ACTION: i64 = 2_000_049;
/// Fortnox error code: the invoice number is taken.
pub const CODE_DOCUMENT_NUMBER_TAKEN: i64 = 2_000_861;
/// Fortnox error code: the customer has invoices and cannot be deleted.
pub const CODE_CUSTOMER_IN_USE: i64 = 2_000_648;

/// Base of `@url` when the request has no `Host` header.
const PUBLIC_BASE: &str = "https://api.fortnox.se/3";

/// One stored record: the written and computed values (unset ones absent) and when it last
/// changed. Answers are rendered from it by [`shape`].
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

/// Routes of the Fortnox simulator, to be nested under `/fortnox`.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .merge(auth::routes())
        .route("/3/companyinformation", get(company::company_information))
        .merge(customers::routes())
        .merge(invoices::routes())
        .merge(actions::routes())
}

/// The company key the bearer token is bound to, after checking its scope.
fn company_key(state: &SandboxState, headers: &HeaderMap, scope: &str) -> Result<String, ApiError> {
    auth::authorize_api(state, headers, scope)
        .map(|(_, company)| company.key(ProviderKind::Fortnox))
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

/// 200 with `body`.
fn ok(body: Value) -> Response {
    Json(body).into_response()
}

/// 201 with `body`.
fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}
