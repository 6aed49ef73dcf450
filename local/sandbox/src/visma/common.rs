//! Small helpers every Visma handler uses: the company of the token, the body, answers.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use super::data::canonical_guid;
use super::errors::{invalid_body, not_found, ApiError};
use super::oauth_routes::authorize_api;
use crate::provider::ProviderKind;
use crate::state::SandboxState;

/// The key of the company the bearer token is bound to, once it carries one of `scopes`.
pub(super) fn company_key(
    state: &SandboxState,
    headers: &HeaderMap,
    scopes: &[&str],
) -> Result<String, ApiError> {
    authorize_api(state, headers, scopes).map(|(_, company)| company.key(ProviderKind::Visma))
}

/// A GUID path parameter, normalised; anything else is a 404 (the record cannot exist).
pub(super) fn guid(raw: &str, what: &str) -> Result<String, ApiError> {
    canonical_guid(raw).ok_or_else(|| not_found(what, raw))
}

/// The request body as a JSON object.
pub(super) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid_body("The request body must be a JSON object.")),
        Err(e) => Err(invalid_body(format!(
            "The request body could not be read as JSON: {e}."
        ))),
    }
}

/// An optional body (`convert` takes one or none): empty is an empty object.
pub(super) fn parse_optional_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    parse_object(body)
}

pub(super) fn ok(body: Value) -> Response {
    Json(body).into_response()
}

pub(super) fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The document's DELETE answer: 200 without a body.
pub(super) fn deleted() -> Response {
    StatusCode::OK.into_response()
}
