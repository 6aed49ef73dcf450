//! Visma eAccounting: OAuth at the Visma Online identity server, REST at `eaccountingapi/v2`.

pub mod client;
pub mod errors;
pub mod mapping;
pub mod wire;

pub use client::VismaApi;

use super::oauth::{request_tokens, revoke_token, transport_error};
use super::{CompanyInfo, CredentialStore, Provider, ProviderError};
use crate::config::VismaSettings;
use crate::domain::{ProviderKind, Secret, TokenSet};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

/// Limits the account picker to eAccounting companies (Visma's documented `acr_values`).
pub const EACCOUNTING_ACR_VALUES: &str = "service:44643EB1-3F76-4C1C-A672-402AE8085934";

/// The Visma eAccounting provider.
pub struct Visma {
    settings: VismaSettings,
    http: crate::http::LazyClient,
    credentials: Arc<CredentialStore>,
}

impl Visma {
    /// A Visma provider over the given settings.
    pub fn new(
        settings: VismaSettings,
        http: crate::http::LazyClient,
        credentials: Arc<CredentialStore>,
    ) -> Self {
        Visma {
            settings,
            http,
            credentials,
        }
    }

    fn token_url(&self) -> String {
        format!("{}/connect/token", self.settings.identity_url)
    }
}

#[async_trait]
impl Provider for Visma {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Visma
    }

    async fn authorization_url(
        &self,
        state: &str,
        redirect_uri: &str,
    ) -> Result<String, ProviderError> {
        let creds = self.credentials.get(ProviderKind::Visma).await?;
        let mut url = url::Url::parse(&format!("{}/connect/authorize", self.settings.identity_url))
            .map_err(|e| ProviderError::Credentials(format!("VISMA_IDENTITY_URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("client_id", &creds.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.settings.scopes)
            .append_pair("state", state)
            .append_pair("response_type", "code")
            .append_pair("prompt", "select_account")
            .append_pair("acr_values", EACCOUNTING_ACR_VALUES);
        Ok(url.into())
    }

    async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, ProviderError> {
        let creds = self.credentials.get(ProviderKind::Visma).await?;
        request_tokens(
            &self.http,
            &self.token_url(),
            &creds,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
            None,
        )
        .await
    }

    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, ProviderError> {
        // Visma rotates refresh tokens: each refresh cancels the previous one.
        let creds = self.credentials.get(ProviderKind::Visma).await?;
        request_tokens(
            &self.http,
            &self.token_url(),
            &creds,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
            None,
        )
        .await
    }

    async fn revoke(&self, tokens: &TokenSet) -> Result<bool, ProviderError> {
        // Visma's revocation endpoint is unconfirmed: it can be switched off by configuration.
        let (true, Some(refresh)) = (self.settings.revocation_enabled, &tokens.refresh_token)
        else {
            return Ok(false);
        };
        let creds = self.credentials.get(ProviderKind::Visma).await?;
        revoke_token(
            &self.http,
            &format!("{}/connect/revocation", self.settings.identity_url),
            &creds,
            refresh,
        )
        .await?;
        Ok(true)
    }

    async fn company(&self, access_token: &Secret) -> Result<CompanyInfo, ProviderError> {
        let resp = self
            .http
            .get(format!("{}/v2/companysettings", self.settings.api_url))
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
        Ok(CompanyInfo {
            name: v
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            provider_company_id: v
                .get("CorporateIdentityNumber")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }
}

/// Classifies a Visma REST error: `{"ErrorCode","DeveloperErrorMessage","ErrorId"}`.
pub fn classify_api_error(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v.get("ErrorCode").and_then(Value::as_i64);
    let message = v
        .get("DeveloperErrorMessage")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    match (status, code) {
        (429, _) | (_, Some(4010)) => ProviderError::RateLimited {
            retry_after: retry_after_seconds(&message),
        },
        (401, _) => ProviderError::Unauthorized(message),
        (_, Some(5000..=5002)) => ProviderError::Transient(message),
        (s, _) if s >= 500 => ProviderError::Transient(message),
        (s, _) => ProviderError::Rejected { status: s, message },
    }
}

/// Reads N from Visma's "… Try again in N seconds." message.
pub fn retry_after_seconds(message: &str) -> Option<u64> {
    let tail = message.split("Try again in ").nth(1)?;
    tail.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after_from_the_message() {
        assert_eq!(
            retry_after_seconds("Too many requests. Try again in 17 seconds."),
            Some(17)
        );
        assert_eq!(retry_after_seconds("Too many requests."), None);
        let e = classify_api_error(429, br#"{"ErrorCode":4010,"DeveloperErrorMessage":"Try again in 5 seconds.","ErrorId":"x"}"#);
        assert!(matches!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(5)
            }
        ));
        assert!(matches!(
            classify_api_error(401, br#"{"ErrorCode":4001}"#),
            ProviderError::Unauthorized(_)
        ));
    }
}
