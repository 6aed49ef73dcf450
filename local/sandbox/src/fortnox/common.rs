//! Pieces every Fortnox handler shares: the tenant behind the bearer token, `@url` bases,
//! reading the wrapped request body, and success answers.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use super::auth;
use super::codes::CODE_INVALID_JSON;
use super::errors::{bad_request, ApiError};
use crate::provider::ProviderKind;
use crate::state::SandboxState;

/// Base of `@url` when the request has no `Host` header.
pub(super) const PUBLIC_BASE: &str = "https://api.fortnox.se/3";

/// The company key the bearer token is bound to, after checking its scope.
pub(super) fn company_key(
    state: &SandboxState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<String, ApiError> {
    auth::authorize_api(state, headers, scope)
        .map(|(_, company)| company.key(ProviderKind::Fortnox))
}

/// `http://<host>/fortnox/3`, so `@url` points back at this sandbox.
pub(super) fn base_url(headers: &HeaderMap) -> String {
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
pub(super) fn parse_wrapped(body: &[u8], wrapper: &str) -> Result<Map<String, Value>, ApiError> {
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
pub(super) fn ok(body: Value) -> Response {
    Json(body).into_response()
}

/// 201 with `body`.
pub(super) fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}
