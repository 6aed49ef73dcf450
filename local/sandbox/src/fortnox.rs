//! Fortnox simulator, served under `/fortnox`: OAuth (`/oauth-v1/…`) and API v3 (`/3/…`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::{Company, ProviderKind, SandboxConfig};
use crate::oauth::{self, BearerError, Flavor, IssuedTokens, Params};
use crate::state::{Grant, SandboxState};

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
/// Fortnox error code: access token invalid or expired.
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

pub(crate) static FLAVOR: Flavor = Flavor {
    provider: ProviderKind::Fortnox,
    consent_path: "/fortnox/oauth-v1/auth/consent",
    check_scopes,
    check_extras,
    describe_scope,
    token_body,
    client_credentials: true,
};

fn check_scopes(scopes: &[String]) -> Result<(), String> {
    match scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        Some(unknown) => Err(format!("Unknown scope: {unknown}.")),
        None => Ok(()),
    }
}

fn check_extras(params: &Params) -> Result<bool, String> {
    match params.get("access_type").map(String::as_str) {
        None | Some("offline") | Some("online") => {}
        Some(_) => return Err("access_type must be offline or online.".into()),
    }
    match params.get("account_type").map(String::as_str) {
        None => Ok(false),
        Some("service") => Ok(true),
        Some(_) => Err("account_type must be service when given.".into()),
    }
}

fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "customer" => "Kunder: läsa och skriva",
        "invoice" => "Fakturor: läsa och skriva",
        "companyinformation" => "Företagsinformation: läsa",
        "article" => "Artiklar: läsa och skriva",
        "bookkeeping" => "Bokföring: läsa och skriva",
        "settings" => "Inställningar: läsa och skriva",
        "profile" => "Användarprofil: läsa",
        _ => "Läsa och skriva",
    }
}

fn token_body(issued: &IssuedTokens, config: &SandboxConfig) -> Value {
    let expires_in = if config.fortnox_expires_in_as_string {
        Value::String(issued.expires_in.to_string())
    } else {
        Value::from(issued.expires_in)
    };
    let mut body = json!({
        "access_token": issued.access_token,
        "scope": issued.scopes.join(" "),
        "expires_in": expires_in,
        "token_type": "bearer",
    });
    if let (Some(refresh), Some(map)) = (&issued.refresh_token, body.as_object_mut()) {
        map.insert("refresh_token".into(), Value::String(refresh.clone()));
    }
    body
}

/// Routes of the Fortnox simulator, to be nested under `/fortnox`.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route(
            "/oauth-v1/auth",
            get(|state: State<Arc<SandboxState>>, query: RawQuery| {
                oauth::authorize_handler(state, query, &FLAVOR)
            }),
        )
        .route(
            "/oauth-v1/auth/consent",
            post(|state: State<Arc<SandboxState>>, body: Bytes| {
                oauth::consent_handler(state, body, &FLAVOR)
            }),
        )
        .route(
            "/oauth-v1/token",
            post(
                |state: State<Arc<SandboxState>>, headers: HeaderMap, body: Bytes| {
                    oauth::token_handler(state, headers, body, &FLAVOR)
                },
            ),
        )
        .route("/oauth-v1/revoke", post(revoke))
        .route("/3/companyinformation", get(company_information))
        .merge(crate::fortnox_rest::routes())
}

async fn revoke(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match oauth::revoke(&state, ProviderKind::Fortnox, &headers, &body) {
        Ok(()) => Json(json!({"revoked": true})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A Fortnox API error, answered as `{"ErrorInformation": {"error": 1, "message", "code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "ErrorInformation": {"error": 1, "message": self.message, "code": self.code}
        });
        (self.status, Json(body)).into_response()
    }
}

/// Checks the bearer token of an API call and that it carries `scope`.
pub(crate) fn authorize_api<'a>(
    state: &'a SandboxState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<(Grant, &'a Company), ApiError> {
    let (grant, company) = oauth::authenticate_bearer(state, ProviderKind::Fortnox, headers)
        .map_err(|e| match e {
            BearerError::Missing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                CODE_TOKEN_MISSING,
                "Kan inte logga in, access-token saknas.",
            ),
            BearerError::Invalid | BearerError::Expired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                CODE_TOKEN_INVALID,
                "Ogiltig access-token.",
            ),
        })?;
    if !grant.scopes.iter().any(|s| s == scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            CODE_NO_LICENCE,
            format!("Har inte behörighet för scope {scope} (saknar licens eller behörighet)."),
        ));
    }
    Ok((grant, company))
}

async fn company_information(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
) -> Response {
    match authorize_api(&state, &headers, "companyinformation") {
        Ok((_, company)) => Json(company_information_body(company)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `{"CompanyInformation": …}` as in Fortnox's OpenAPI (`fortnox_CompanyInfo_Wrap`).
fn company_information_body(company: &Company) -> Value {
    json!({
        "CompanyInformation": {
            "Address": company.address,
            "City": company.city,
            "CountryCode": company.country_code,
            "DatabaseNumber": company.database_number,
            "CompanyName": company.name,
            "OrganizationNumber": company.organization_number,
            "VisitAddress": company.address,
            "VisitCity": company.city,
            "VisitCountryCode": company.country_code,
            "VisitZipCode": company.zip_code,
            "ZipCode": company.zip_code,
        }
    })
}
