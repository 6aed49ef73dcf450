//! Fortnox's OAuth flavour (scopes, `access_type`/`account_type`, the token body), its
//! OAuth routes, and the bearer check every API handler starts with.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::codes::{CODE_NO_LICENCE, SCOPES};
use super::errors::{token_missing, ApiError};
use crate::config::{Company, SandboxConfig};
use crate::oauth::grants::Grant;
use crate::oauth::{self, BearerError, Flavor, IssuedTokens, Params};
use crate::provider::ProviderKind;
use crate::state::SandboxState;

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

/// The OAuth routes, under `/fortnox`.
pub(crate) fn routes() -> Router<Arc<SandboxState>> {
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

/// Checks the bearer token of an API call and that it carries `scope`. An expired or unknown
/// token gets the gateway's bare 401 (see [`ApiError::unauthorized`]).
pub(crate) fn authorize_api<'a>(
    state: &'a SandboxState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<(Grant, &'a Company), ApiError> {
    let (grant, company) = oauth::authenticate_bearer(state, ProviderKind::Fortnox, headers)
        .map_err(|e| match e {
            BearerError::Missing => token_missing(),
            BearerError::Invalid | BearerError::Expired => ApiError::unauthorized(),
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
