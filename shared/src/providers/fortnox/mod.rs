//! Fortnox: OAuth at `apps.fortnox.se/oauth-v1`, REST at `api.fortnox.se/3`.

pub mod client;
pub mod errors;
pub mod limits;
pub mod mapping;
pub(crate) mod wire;

pub use client::FortnoxApi;

use super::oauth::{append_challenge, code_form, request_tokens, revoke_token};
use super::{CredentialStore, Provider, ProviderError};
use crate::domain::{ProviderKind, Secret, TokenSet};
use crate::providers::settings::FortnoxSettings;
use async_trait::async_trait;
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

    fn uses_pkce(&self) -> bool {
        self.settings.pkce
    }

    async fn authorization_url(
        &self,
        state: &str,
        redirect_uri: &str,
        code_challenge: Option<&str>,
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
        append_challenge(&mut url, code_challenge);
        Ok(url.into())
    }

    async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenSet, ProviderError> {
        let creds = self.credentials.get(ProviderKind::Fortnox).await?;
        request_tokens(
            &self.http,
            &self.token_url(),
            &creds,
            &code_form(code, redirect_uri, code_verifier),
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
}
