//! Fortnox: OAuth at `apps.fortnox.se/oauth-v1`, REST at `api.fortnox.se/3`.

mod catalog;
pub mod client;
mod documents;
pub mod errors;
pub mod limits;
pub mod mapping;
pub mod payments;
mod reverse_charge;
pub mod tax_reductions;
pub(crate) mod wire;

pub use client::FortnoxApi;

use super::oauth::{
    append_challenge, code_form, request_tokens, request_tokens_with, revoke_token,
};
use super::{CompanyInfo, CredentialStore, Provider, ProviderError};
use crate::domain::{ConnectionMode, ProviderKind, Secret, TokenSet};
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

    fn service_accounts(&self) -> bool {
        true
    }

    async fn authorization_url(
        &self,
        state: &str,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        mode: ConnectionMode,
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
        if mode == ConnectionMode::Service {
            // docs/providers.md, Fortnox OAuth: "Optional `account_type=service` asks for a
            // service account consent (only a customer's system administrator can give it)".
            url.query_pairs_mut().append_pair("account_type", "service");
        }
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

    fn service_tenant(&self, company: &CompanyInfo) -> Option<String> {
        // docs/providers.md, Fortnox OAuth, service accounts: "The tenant id equals
        // `DatabaseNumber` from `GET /3/companyinformation`".
        company
            .provider_company_id
            .clone()
            .filter(|id| !id.trim().is_empty())
    }

    async fn service_token(&self, tenant_id: &str) -> Result<TokenSet, ProviderError> {
        // docs/providers.md, Fortnox OAuth, service accounts: "a fresh 1-hour token can be
        // had at any time with `grant_type=client_credentials`, Basic auth and a
        // `TenantId: <id>` header; no refresh token exists".
        let creds = self.credentials.get(ProviderKind::Fortnox).await?;
        let mut tokens = request_tokens_with(
            &self.http,
            &self.token_url(),
            &creds,
            &[("grant_type", "client_credentials")],
            &[("TenantId", tenant_id)],
            None,
        )
        .await?;
        // None is documented; should one come, a service account keeps none all the same.
        tokens.refresh_token = None;
        tokens.refresh_expires_at = None;
        Ok(tokens)
    }

    async fn revoke(&self, tokens: &TokenSet) -> Result<bool, ProviderError> {
        // Fortnox can revoke refresh tokens only; access tokens simply expire within the hour
        // (docs/providers.md: "Access tokens can't be revoked"). A service account has no
        // refresh token: its consent stays until the company's administrator removes it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{AppCredentials, ClientCredentials, CredentialsSource};

    fn fortnox(auth_url: &str) -> Fortnox {
        let creds = |id: &str| ClientCredentials {
            client_id: id.into(),
            client_secret: Secret::new("s3cret"),
        };
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new("eu-north-1"))
                .build(),
        );
        Fortnox::new(
            FortnoxSettings {
                auth_url: auth_url.into(),
                api_url: "http://127.0.0.1:1".into(),
                scopes: "customer invoice companyinformation".into(),
                pkce: true,
            },
            crate::http::LazyClient::new(std::time::Duration::from_secs(3)),
            Arc::new(CredentialStore::new(
                CredentialsSource::Inline(AppCredentials {
                    fortnox: creds("fx-app"),
                    visma: creds("vi-app"),
                }),
                secrets,
            )),
        )
    }

    #[tokio::test]
    async fn a_service_consent_says_account_type_service() {
        let f = fortnox("https://apps.example");
        let user = f
            .authorization_url("st", "https://api/cb", None, ConnectionMode::User)
            .await
            .unwrap();
        assert!(!user.contains("account_type"), "{user}");
        let service = f
            .authorization_url("st", "https://api/cb", Some("ch"), ConnectionMode::Service)
            .await
            .unwrap();
        let url = url::Url::parse(&service).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["account_type"], "service");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["code_challenge"], "ch");
        assert!(f.service_accounts());
    }

    #[test]
    fn the_tenant_id_is_the_database_number() {
        let f = fortnox("https://apps.example");
        let company = |id: Option<&str>| CompanyInfo {
            name: "Bygg AB".into(),
            provider_company_id: id.map(str::to_string),
        };
        assert_eq!(
            f.service_tenant(&company(Some("1234567"))).as_deref(),
            Some("1234567")
        );
        assert_eq!(f.service_tenant(&company(Some(" "))), None);
        assert_eq!(f.service_tenant(&company(None)), None);
    }

    #[tokio::test]
    async fn a_service_token_is_asked_by_client_credentials_with_the_tenant_id() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let seen = tokio::spawn(async move {
            let (mut socket, _) = server.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&request).contains("grant_type") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            // An answer with a refresh token, which none is documented to carry.
            let body = r#"{"access_token":"a.b.c","refresh_token":"r","expires_in":"3600","token_type":"bearer"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&request).to_ascii_lowercase()
        });
        let tokens = fortnox(&base).service_token("1234567").await.unwrap();
        let request = seen.await.unwrap();
        assert!(request.starts_with("post /oauth-v1/token "), "{request}");
        assert!(request.contains("\r\ntenantid: 1234567\r\n"), "{request}");
        assert!(request.contains("\r\nauthorization: basic "), "{request}");
        assert!(
            request.ends_with("grant_type=client_credentials"),
            "{request}"
        );
        assert_eq!(tokens.access_token.expose(), "a.b.c");
        assert!(
            tokens.refresh_token.is_none(),
            "a service account keeps none"
        );
        assert!(tokens.refresh_expires_at.is_none());
    }
}
