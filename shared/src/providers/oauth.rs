//! The token endpoint both providers share the shape of: form-encoded requests with HTTP Basic
//! client authentication, JSON answers, RFC 6749 error bodies.

use super::{ClientCredentials, ProviderError};
use crate::domain::{Secret, TokenSet};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    // Fortnox has been seen sending `expires_in` as a string: accept both.
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

#[derive(Deserialize, Default)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

/// Posts a grant to `token_url` and reads the token answer.
///
/// `refresh_ttl` is the provider's documented refresh-token lifetime, when it has one.
pub async fn request_tokens(
    http: &reqwest::Client,
    token_url: &str,
    creds: &ClientCredentials,
    form: &[(&str, &str)],
    refresh_ttl: Option<chrono::Duration>,
) -> Result<TokenSet, ProviderError> {
    let resp = http
        .post(token_url)
        .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .map_err(transport_error)?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(transport_error)?;
    if !status.is_success() {
        return Err(classify_oauth_error(status.as_u16(), &body));
    }
    let t: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| ProviderError::Decode(format!("token response: {e}")))?;
    let now = Utc::now();
    let expires_in = t
        .expires_in
        .as_ref()
        .and_then(seconds_from_json)
        .unwrap_or(3600);
    Ok(TokenSet {
        access_token: Secret::new(t.access_token),
        refresh_expires_at: t
            .refresh_token
            .as_ref()
            .and(refresh_ttl)
            .map(|ttl| now + ttl),
        refresh_token: t.refresh_token.map(Secret::new),
        expires_at: now + chrono::Duration::seconds(expires_in),
        scope: t.scope,
    })
}

/// Posts a revocation form; any 2xx counts as revoked.
pub async fn revoke_token(
    http: &reqwest::Client,
    url: &str,
    creds: &ClientCredentials,
    token: &Secret,
) -> Result<(), ProviderError> {
    let resp = http
        .post(url)
        .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
        .form(&[
            ("token_type_hint", "refresh_token"),
            ("token", token.expose()),
        ])
        .send()
        .await
        .map_err(transport_error)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.bytes().await.unwrap_or_default();
    Err(classify_oauth_error(status.as_u16(), &body))
}

fn seconds_from_json(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Classifies a non-2xx answer of an OAuth endpoint.
pub fn classify_oauth_error(status: u16, body: &[u8]) -> ProviderError {
    let parsed: OAuthErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed
        .error_description
        .clone()
        .or(parsed.message.clone())
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    match (status, parsed.error.as_deref()) {
        (_, Some("invalid_grant")) => ProviderError::InvalidGrant(message),
        (_, Some("invalid_client")) | (_, Some("unauthorized_client")) => {
            ProviderError::InvalidClient(message)
        }
        (429, _) => ProviderError::RateLimited { retry_after: None },
        (s, _) if s >= 500 => ProviderError::Transient(format!("HTTP {s}: {message}")),
        (401, _) => ProviderError::InvalidClient(message),
        (s, _) => ProviderError::Rejected { status: s, message },
    }
}

/// Maps a reqwest failure: every transport fault may pass.
pub fn transport_error(e: reqwest::Error) -> ProviderError {
    // reqwest's Display carries the URL but never headers or bodies, so no secret leaks here.
    ProviderError::Transient(e.without_url().to_string())
}

/// When an expiry `seconds` from now falls.
pub fn in_seconds(seconds: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_oauth_error_bodies() {
        let e = classify_oauth_error(
            400,
            br#"{"error":"invalid_grant","error_description":"Refresh token is spent"}"#,
        );
        assert!(matches!(e, ProviderError::InvalidGrant(ref m) if m == "Refresh token is spent"));
        let e = classify_oauth_error(401, br#"{"error":"invalid_grant"}"#);
        assert!(matches!(e, ProviderError::InvalidGrant(_)));
        assert!(matches!(
            classify_oauth_error(401, br#"{"error":"invalid_client"}"#),
            ProviderError::InvalidClient(_)
        ));
        assert!(classify_oauth_error(503, b"down").is_retryable());
        assert!(classify_oauth_error(429, b"").is_retryable());
        assert!(matches!(
            classify_oauth_error(400, br#"{"message":"bad"}"#),
            ProviderError::Rejected { status: 400, ref message } if message == "bad"
        ));
    }

    #[test]
    fn expires_in_may_be_a_string() {
        assert_eq!(seconds_from_json(&serde_json::json!("3600")), Some(3600));
        assert_eq!(seconds_from_json(&serde_json::json!(1800)), Some(1800));
        assert_eq!(seconds_from_json(&serde_json::json!(null)), None);
    }
}
