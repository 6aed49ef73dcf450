//! Visma eAccounting: OAuth at the Visma Online identity server, REST at `eaccountingapi/v2`.

pub mod articles;
mod catalog;
pub mod client;
mod customers;
mod documents;
pub mod errors;
pub mod invoices;
pub mod limits;
mod lookups;
pub mod mapping;
pub mod rot_rut;
pub(crate) mod wire;
pub mod write;

pub use client::VismaApi;

use super::oauth::{append_challenge, code_form, request_tokens, revoke_token};
use super::{CredentialStore, Provider, ProviderError};
use crate::domain::{ConnectionMode, ProviderKind, Secret, TokenSet};
use crate::providers::settings::VismaSettings;
use async_trait::async_trait;
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

    /// The refresh-token lifetime set on the app's registration (`VISMA_REFRESH_TOKEN_DAYS`);
    /// Visma does not document one in the token answer.
    fn refresh_ttl(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.settings.refresh_token_days))
    }
}

#[async_trait]
impl Provider for Visma {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Visma
    }

    fn uses_pkce(&self) -> bool {
        self.settings.pkce
    }

    async fn authorization_url(
        &self,
        state: &str,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        mode: ConnectionMode,
    ) -> Result<String, ProviderError> {
        if mode != ConnectionMode::User {
            // `begin_connect` refuses this before; never ask Visma for what it lacks.
            return Err(ProviderError::Rejected {
                status: 400,
                message: format!("Visma eAccounting has no {mode} connections"),
            });
        }
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
        append_challenge(&mut url, code_challenge);
        Ok(url.into())
    }

    async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenSet, ProviderError> {
        let creds = self.credentials.get(ProviderKind::Visma).await?;
        request_tokens(
            &self.http,
            &self.token_url(),
            &creds,
            &code_form(code, redirect_uri, code_verifier),
            Some(self.refresh_ttl()),
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
            Some(self.refresh_ttl()),
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
}
