//! The Visma identity server's routes (`/connect/…`) over the grant logic shared by both
//! providers (`crate::oauth`), and the bearer check of every API call.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::codes::{CODE_MISSING_SCOPE, CODE_UNAUTHORIZED, REQUIRED_SCOPES, SCOPES};
use super::errors::ApiError;
use crate::config::{Company, SandboxConfig};
use crate::oauth::grants::Grant;
use crate::oauth::{self, BearerError, Flavor, IssuedTokens, Params};
use crate::provider::ProviderKind;
use crate::state::SandboxState;

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

/// The identity server's routes, to be nested under `/visma`.
pub(super) fn routes() -> Router<Arc<SandboxState>> {
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

/// Checks the bearer token of an API call and that it carries one of `scopes` (the
/// operation's "Requires any of the following scopes" in the document).
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
