//! Visma eAccounting simulator, served under `/visma`: identity server (`/connect/…`) and
//! API v2 (`/v2/…`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::{Company, ProviderKind, SandboxConfig};
use crate::oauth::{self, BearerError, Flavor, IssuedTokens, Params};
use crate::state::{Grant, SandboxState};

/// Scopes the Visma identity server knows for eAccounting apps.
pub const SCOPES: &[&str] = &[
    "ea:api",
    "offline_access",
    "ea:sales",
    "ea:sales_readonly",
    "ea:accounting",
    "ea:accounting_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
    "openid",
    "profile",
    "email",
];

/// Scopes every eAccounting authorize request must ask for.
pub const REQUIRED_SCOPES: &[&str] = &["ea:api", "offline_access"];

/// Visma error code: the access token is missing, invalid or expired.
pub const CODE_UNAUTHORIZED: i64 = 4001;
/// Visma error code: the token lacks a scope the endpoint needs.
pub const CODE_MISSING_SCOPE: i64 = 4006;
/// Visma error code: a required field is missing (`Name`, `TermsOfPaymentId`, …).
pub const CODE_REQUIRED_FIELD: i64 = 2000;
/// Visma error code: a field's value has the wrong type or is not allowed.
pub const CODE_INVALID_VALUE: i64 = 2001;
/// Visma error code: a field's value is too long (`CustomerNumber` > 16, …).
pub const CODE_TOO_LONG: i64 = 2002;
/// Visma error code: the value must be unique (`CustomerNumber`).
pub const CODE_NOT_UNIQUE: i64 = 2003;
/// Visma error code: a referenced record (`TermsOfPaymentId`, `CustomerId`, `ArticleId`)
/// does not exist.
pub const CODE_UNKNOWN_REFERENCE: i64 = 2004;
/// Visma error code: the request body is not a JSON object.
pub const CODE_INVALID_BODY: i64 = 2005;
/// Visma error code: the addressed record does not exist (HTTP 404).
pub const CODE_NOT_FOUND: i64 = 3000;
/// Visma error code: too many requests (HTTP 429, message ends "Try again in N seconds.").
pub const CODE_RATE_LIMITED: i64 = 4010;
/// Visma error code: the record is in use (a customer with invoices cannot be deleted).
pub const CODE_IN_USE: i64 = 4015;
/// Visma error code: server error (HTTP 500, retryable).
pub const CODE_SERVER_ERROR: i64 = 5000;
/// Visma error code: malformed or unsupported `$filter`.
pub const CODE_BAD_FILTER: i64 = 6000;
/// Visma error code: a date in a filter or query parameter cannot be read.
pub const CODE_BAD_DATE: i64 = 6001;
/// Visma error code: a bad paging or other query parameter (`$page=0`, `$pagesize=x`).
pub const CODE_BAD_QUERY: i64 = 6002;

pub(crate) static FLAVOR: Flavor = Flavor {
    provider: ProviderKind::Visma,
    consent_path: "/visma/connect/consent",
    check_scopes,
    check_extras,
    describe_scope,
    token_body,
    client_credentials: false,
};

fn check_scopes(scopes: &[String]) -> Result<(), String> {
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(format!("Unknown scope: {unknown}."));
    }
    match REQUIRED_SCOPES
        .iter()
        .find(|r| !scopes.iter().any(|s| s == *r))
    {
        Some(missing) => Err(format!("The scope {missing} is required.")),
        None => Ok(()),
    }
}

fn check_extras(params: &Params) -> Result<bool, String> {
    match params.get("prompt").map(String::as_str) {
        None | Some("select_account") | Some("login") | Some("consent") | Some("none") => Ok(false),
        Some(_) => Err("prompt is not supported.".into()),
    }
}

fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "ea:api" => "Åtkomst till eEkonomi API",
        "offline_access" => "Åtkomst när du inte är inloggad",
        "ea:sales" => "Försäljning: kunder och fakturor, läsa och skriva",
        "ea:sales_readonly" => "Försäljning: läsa",
        "ea:accounting" => "Bokföring: läsa och skriva",
        "ea:accounting_readonly" => "Bokföring: läsa",
        "ea:purchase" => "Inköp: läsa och skriva",
        "ea:purchase_readonly" => "Inköp: läsa",
        _ => "Profiluppgifter",
    }
}

fn token_body(issued: &IssuedTokens, _config: &SandboxConfig) -> Value {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scopes.join(" "),
    });
    if let (Some(refresh), Some(map)) = (&issued.refresh_token, body.as_object_mut()) {
        map.insert("refresh_token".into(), Value::String(refresh.clone()));
    }
    body
}

/// Routes of the Visma simulator, to be nested under `/visma`.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route(
            "/connect/authorize",
            get(|state: State<Arc<SandboxState>>, query: RawQuery| {
                oauth::authorize_handler(state, query, &FLAVOR)
            }),
        )
        .route(
            "/connect/consent",
            post(|state: State<Arc<SandboxState>>, body: Bytes| {
                oauth::consent_handler(state, body, &FLAVOR)
            }),
        )
        .route(
            "/connect/token",
            post(
                |state: State<Arc<SandboxState>>, headers: HeaderMap, body: Bytes| {
                    oauth::token_handler(state, headers, body, &FLAVOR)
                },
            ),
        )
        .route("/connect/revocation", post(revoke))
        .route("/v2/companysettings", get(company_settings))
        .merge(crate::visma_rest::routes())
}

async fn revoke(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.config().visma_revocation_enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    match oauth::revoke(&state, ProviderKind::Visma, &headers, &body) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A Visma API error, answered as `{"ErrorCode", "DeveloperErrorMessage", "ErrorId": "<guid>"}`.
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
            "ErrorCode": self.code,
            "DeveloperErrorMessage": self.message,
            "ErrorId": Uuid::new_v4().to_string(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// Checks the bearer token of an API call and that it carries one of `scopes`.
pub(crate) fn authorize_api<'a>(
    state: &'a SandboxState,
    headers: &HeaderMap,
    scopes: &[&str],
) -> Result<(Grant, &'a Company), ApiError> {
    let (grant, company) = oauth::authenticate_bearer(state, ProviderKind::Visma, headers)
        .map_err(|e| {
            let message = match e {
                BearerError::Missing => {
                    "Authorization has been denied for this request: no access token."
                }
                BearerError::Invalid => {
                    "Authorization has been denied for this request: the access token is invalid."
                }
                BearerError::Expired => {
                    "Authorization has been denied for this request: the access token has expired."
                }
            };
            ApiError::new(StatusCode::UNAUTHORIZED, CODE_UNAUTHORIZED, message)
        })?;
    if !scopes
        .iter()
        .any(|needed| grant.scopes.iter().any(|s| s == needed))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            CODE_MISSING_SCOPE,
            format!(
                "The access token lacks a required scope: {}.",
                scopes.join(" or ")
            ),
        ));
    }
    Ok((grant, company))
}

async fn company_settings(State(state): State<Arc<SandboxState>>, headers: HeaderMap) -> Response {
    match authorize_api(&state, &headers, &["ea:api"]) {
        Ok((_, company)) => Json(company_settings_body(company)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn company_settings_body(company: &Company) -> Value {
    let digits: String = company
        .organization_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    json!({
        "Name": company.name,
        "Email": company.email,
        "Phone": company.phone,
        "MobilePhone": null,
        "Address1": company.address,
        "Address2": null,
        "CountryCode": company.country_code,
        "PostalCode": company.zip_code,
        "City": company.city,
        "Website": null,
        "CurrencyCode": "SEK",
        "TermsAndConditionId": null,
        "CorporateIdentityNumber": company.organization_number,
        "VatCode": format!("SE{digits}01"),
        "BankGiro": "5050-1055",
        "PlusGiro": null,
        "BankAccount": null,
        "Iban": null,
        "Gln": null,
        "ProductVariant": 2,
        "TypeOfBusiness": 1,
        "VatReportingPeriod": 3,
        "ActivatedModules": [],
        "CompanyText": null,
        "ShowPricesExclVatPC": true,
        "IsPayrollEnabled": false,
        "IsVatRegistered": true,
    })
}
