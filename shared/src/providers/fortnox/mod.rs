//! Fortnox: OAuth at `apps.fortnox.se/oauth-v1`, REST at `api.fortnox.se/3`.

pub mod client;
pub mod errors;
pub mod mapping;
pub(crate) mod wire;

pub use client::FortnoxApi;

use super::oauth::{classify_oauth_error, request_tokens, revoke_token, transport_error};
use super::{CompanyInfo, CredentialStore, Provider, ProviderError};
use crate::config::FortnoxSettings;
use crate::domain::{ProviderKind, Secret, TokenSet};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

/// Fortnox refresh tokens live 45 days and are single use: every refresh returns a new one.
pub const REFRESH_TOKEN_DAYS: i64 = 45;

/// The Fortnox provider.
pub struct Fortnox {
    settings: FortnoxSettings,
    http: crate::http::LazyClient,
    credentials: Arc<CredentialStore>,
}

impl Fortnox {
    /// A Fortnox provider over the given settings.
    pub fn new(
        settings: FortnoxSettings,
        http: crate::http::LazyClient,
        credentials: Arc<CredentialStore>,
    ) -> Self {
        Fortnox {
            settings,
            http,
            credentials,
        }
    }

    fn token_url(&self) -> String {
        format!("{}/oauth-v1/token", self.settings.auth_url)
    }
}

#[async_trait]
impl Provider for Fortnox {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Fortnox
    }

    async fn authorization_url(
        &self,
        state: &str,
        redirect_uri: &str,
    ) -> Result<String, ProviderError> {
        let creds = self.credentials.get(ProviderKind::Fortnox).await?;
        let mut url = url::Url::parse(&format!("{}/oauth-v1/auth", self.settings.auth_url))
            .map_err(|e| ProviderError::Credentials(format!("FORTNOX_AUTH_URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("client_id", &creds.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.settings.scopes)
            .append_pair("state", state)
            .append_pair("access_type", "offline")
            .append_pair("response_type", "code");
        Ok(url.into())
    }

    async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, ProviderError> {
        let creds = self.credentials.get(ProviderKind::Fortnox).await?;
        request_tokens(
            &self.http,
            &self.token_url(),
            &creds,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
            Some(chrono::Duration::days(REFRESH_TOKEN_DAYS)),
        )
        .await
    }

    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, ProviderError> {
        let creds = self.credentials.get(ProviderKind::Fortnox).await?;
        request_tokens(
            &self.http,
            &self.token_url(),
            &creds,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
            Some(chrono::Duration::days(REFRESH_TOKEN_DAYS)),
        )
        .await
    }

    async fn revoke(&self, tokens: &TokenSet) -> Result<bool, ProviderError> {
        // Fortnox can revoke refresh tokens only; access tokens simply expire within the hour.
        let Some(refresh) = &tokens.refresh_token else {
            return Ok(false);
        };
        let creds = self.credentials.get(ProviderKind::Fortnox).await?;
        revoke_token(
            &self.http,
            &format!("{}/oauth-v1/revoke", self.settings.auth_url),
            &creds,
            refresh,
        )
        .await?;
        Ok(true)
    }

    async fn company(&self, access_token: &Secret) -> Result<CompanyInfo, ProviderError> {
        let resp = self
            .http
            .get(format!("{}/3/companyinformation", self.settings.api_url))
            .bearer_auth(access_token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport_error)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport_error)?;
        if status != 200 {
            return Err(classify_api_error(status, &body));
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| ProviderError::Decode(e.to_string()))?;
        let info = v
            .get("CompanyInformation")
            .ok_or_else(|| ProviderError::Decode("no CompanyInformation".into()))?;
        Ok(CompanyInfo {
            name: info
                .get("CompanyName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            // DatabaseNumber arrives as a number or a string: Fortnox data is loosely typed.
            provider_company_id: info.get("DatabaseNumber").and_then(|d| match d {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                _ => None,
            }),
        })
    }
}

/// Classifies a Fortnox REST error: `{"ErrorInformation":{"error","message","code"}}` with keys
/// of varying case, or a bare `{message}`.
pub fn classify_api_error(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let info = v
        .get("ErrorInformation")
        .or_else(|| v.get("errorInformation"))
        .unwrap_or(&v);
    let field = |k: &str| {
        info.get(k)
            .or_else(|| info.get(k.to_ascii_uppercase()))
            .or_else(|| info.get(capitalise(k)))
    };
    let message = field("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    let code = field("code").and_then(|c| match c {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    match (status, code) {
        (429, _) => ProviderError::RateLimited { retry_after: None },
        (401 | 403, Some(2000310 | 2000311)) | (401, _) => ProviderError::Unauthorized(message),
        (_, Some(1000003)) => ProviderError::Transient(message),
        (s, _) if s >= 500 => ProviderError::Transient(message),
        (s, _) if v.get("error").is_some() => classify_oauth_error(s, body),
        (s, _) => ProviderError::Rejected { status: s, message },
    }
}

fn capitalise(k: &str) -> String {
    let mut c = k.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_fortnox_error_bodies() {
        let e = classify_api_error(
            401,
            br#"{"ErrorInformation":{"error":1,"message":"Ogiltig access-token.","code":2000311}}"#,
        );
        assert!(matches!(e, ProviderError::Unauthorized(ref m) if m == "Ogiltig access-token."));
        let e = classify_api_error(
            500,
            br#"{"ErrorInformation":{"Error":1,"Message":"Systemfel","Code":"1000003"}}"#,
        );
        assert!(e.is_retryable());
        let e = classify_api_error(400, br#"{"ErrorInformation":{"error":1,"message":"Kunde inte hitta konto","code":2001304}}"#);
        assert!(
            matches!(e, ProviderError::Rejected { status: 400, ref message } if message == "Kunde inte hitta konto")
        );
        assert!(matches!(
            classify_api_error(429, b""),
            ProviderError::RateLimited { .. }
        ));
    }
}
