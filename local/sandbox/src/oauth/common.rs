//! The pieces both OAuth endpoints share: the provider [`Flavor`], errors of the token
//! endpoint, parameter parsing, client and bearer authentication.

use std::collections::HashMap;
use std::time::Instant;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::grants::{Grant, IssuedTokens};
use crate::config::{ClientRegistration, Company, SandboxConfig};
use crate::provider::ProviderKind;
use crate::state::SandboxState;

/// What makes one provider's OAuth differ from the other's.
pub(crate) struct Flavor {
    pub provider: ProviderKind,
    /// Full path the consent form posts to.
    pub consent_path: &'static str,
    /// Checks the requested scopes; `Err` carries the `error_description` of `invalid_scope`.
    pub check_scopes: fn(&[String]) -> Result<(), String>,
    /// Checks provider-specific authorize parameters; `Ok(true)` asks for a service account.
    pub check_extras: fn(&Params) -> Result<bool, String>,
    /// Human text for a scope on the consent page.
    pub describe_scope: fn(&str) -> &'static str,
    /// JSON body of a successful token response.
    pub token_body: fn(&IssuedTokens, &SandboxConfig) -> Value,
    /// Whether `grant_type=client_credentials` (service accounts) exists.
    pub client_credentials: bool,
}

/// Query or form parameters, each name at most once.
pub(crate) type Params = HashMap<String, String>;

/// An OAuth error answered by the token and revocation endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OAuthError {
    InvalidRequest(String),
    InvalidClient(String),
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType(String),
    UnsupportedTokenType(String),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::UnsupportedTokenType(_) => "unsupported_token_type",
        }
    }

    fn description(&self) -> &str {
        match self {
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidClient(d)
            | OAuthError::InvalidGrant(d)
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::UnsupportedGrantType(d)
            | OAuthError::UnsupportedTokenType(d) => d,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code(), "error_description": self.description()});
        let mut response = (self.status(), no_store(), Json(body)).into_response();
        if self.status() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth\""),
            );
        }
        response
    }
}

pub(super) fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// Parses `a=1&b=2` strictly: malformed input or a repeated name is an error.
pub(crate) fn parse_params(raw: &[u8]) -> Result<Params, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
        .map_err(|_| "the parameters are malformed".to_string())?;
    let mut params = Params::new();
    for (name, value) in pairs {
        if params.contains_key(&name) {
            return Err(format!("parameter {name} is repeated"));
        }
        params.insert(name, value);
    }
    Ok(params)
}

pub(super) fn non_empty<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Checks HTTP Basic client authentication against the clients of `provider`.
pub(crate) fn authenticate_client<'a>(
    config: &'a SandboxConfig,
    provider: ProviderKind,
    headers: &HeaderMap,
) -> Result<&'a ClientRegistration, OAuthError> {
    let missing =
        || OAuthError::InvalidClient("Client authentication by HTTP Basic is required.".into());
    let wrong = || OAuthError::InvalidClient("Client authentication failed.".into());
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(missing());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| wrong())?;
    let decoded = String::from_utf8(decoded).map_err(|_| wrong())?;
    let (client_id, secret) = decoded.split_once(':').ok_or_else(wrong)?;
    match config.client(provider, client_id) {
        Some(client) if client.client_secret == secret => Ok(client),
        _ => Err(wrong()),
    }
}

pub(super) fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::InvalidRequest(
            "The body must be application/x-www-form-urlencoded.".into(),
        ));
    }
    parse_params(body).map_err(OAuthError::InvalidRequest)
}

pub(super) fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    non_empty(params, name).ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is missing.")))
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerError {
    Missing,
    Invalid,
    Expired,
}

/// The grant and company behind the `Authorization: Bearer` header of a REST call.
pub(crate) fn authenticate_bearer<'a>(
    state: &'a SandboxState,
    provider: ProviderKind,
    headers: &HeaderMap,
) -> Result<(Grant, &'a Company), BearerError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(BearerError::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(BearerError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Invalid);
    }
    let now = Instant::now();
    let grant = {
        let store = state.oauth();
        let entry = store
            .access_tokens
            .get(token.trim())
            .ok_or(BearerError::Invalid)?;
        if entry.grant.provider != provider {
            return Err(BearerError::Invalid);
        }
        if now >= entry.expires {
            return Err(BearerError::Expired);
        }
        entry.grant.clone()
    };
    let company = state
        .company(provider, &grant.company_key)
        .ok_or(BearerError::Invalid)?;
    Ok((grant, company))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_rejected() {
        assert!(parse_params(b"a=1&a=2").is_err());
        let params = parse_params(b"scope=customer+invoice&state=x%20y").unwrap();
        assert_eq!(params["scope"], "customer invoice");
        assert_eq!(params["state"], "x y");
    }
}
