//! The accounting systems behind one trait. Fortnox and Visma each implement [`Provider`];
//! code outside this module never asks which one it is talking to.

pub mod api;
pub mod catalog;
pub mod fortnox;
pub mod lenient;
pub mod limits;
pub mod oauth;
pub mod settings;
pub mod visma;

pub use api::{
    AccountingApi, ApiAuth, IdPage, InvoiceAction, Page, Remote, SendMethod, Unreadable,
};
pub use limits::{limits_for, RecordLimits};
pub use settings::{
    ApiSettings, AppCredentials, ClientCredentials, CredentialsSource, FortnoxSettings,
    VismaSettings,
};

use crate::domain::{ConnectionMode, ProviderKind, Secret, TokenSet};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The company behind a connection, as the provider describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanyInfo {
    /// Company name.
    pub name: String,
    /// The provider's id for the company (Fortnox DatabaseNumber, Visma corporate id).
    pub provider_company_id: Option<String>,
}

/// What went wrong talking to a provider, classified by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The grant (code or refresh token) is spent, expired or revoked: a person must reconnect.
    #[error("the provider rejected the grant: {0}")]
    InvalidGrant(String),
    /// Our client id or secret is wrong: an operator must fix configuration.
    #[error("the provider rejected our client credentials: {0}")]
    InvalidClient(String),
    /// The access token was refused.
    #[error("the provider refused the access token: {0}")]
    Unauthorized(String),
    /// Too many requests; wait before trying again.
    #[error("rate limited by the provider")]
    RateLimited {
        /// Seconds to wait, when the provider said.
        retry_after: Option<u64>,
    },
    /// A fault that may pass: network error, timeout, 5xx.
    #[error("temporary provider failure: {0}")]
    Transient(String),
    /// The request never reached the provider (no connection could be made): nothing was
    /// applied, so sending it again is safe.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// A grant request reached the provider but no answer came back (timeout, dropped
    /// connection, an answer cut short): the provider may have applied it. Sending a code or
    /// a rotating refresh token again would be a reuse, so nothing retries this by itself.
    #[error("the provider's answer was lost: {0}")]
    AnswerLost(String),
    /// Any other refusal, with the provider's own words.
    #[error("the provider answered {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The provider answered something we cannot read.
    #[error("unreadable provider response: {0}")]
    Decode(String),
    /// App credentials could not be loaded.
    #[error("provider credentials unavailable: {0}")]
    Credentials(String),
}

impl ProviderError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Transient(_)
                | ProviderError::Unreachable(_)
                | ProviderError::RateLimited { .. }
        )
    }

    /// A stable code for status pages and redirects.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::InvalidGrant(_) => "invalid_grant",
            ProviderError::InvalidClient(_) => "invalid_client",
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Transient(_) | ProviderError::Unreachable(_) => "provider_unavailable",
            ProviderError::AnswerLost(_) => "provider_answer_lost",
            ProviderError::Rejected { .. } => "provider_rejected",
            ProviderError::Decode(_) => "provider_response_unreadable",
            ProviderError::Credentials(_) => "credentials_unavailable",
        }
    }
}

/// What every accounting system offers the connection layer.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// Whether consents with this provider use PKCE (S256).
    fn uses_pkce(&self) -> bool;

    /// Whether the provider has service accounts ([`ConnectionMode::Service`]): a grant
    /// without a refresh token, whose access tokens are fetched by client credentials.
    fn service_accounts(&self) -> bool {
        false
    }

    /// The URL that sends a person to the provider's consent page, with the PKCE challenge
    /// when there is one, asking for the grant of `mode` (only [`ConnectionMode::User`] unless
    /// [`Provider::service_accounts`]).
    async fn authorization_url(
        &self,
        state: &str,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        mode: ConnectionMode,
    ) -> Result<String, ProviderError>;

    /// Exchanges an authorization code for tokens, with the consent's PKCE verifier when it
    /// has one.
    async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenSet, ProviderError>;

    /// Uses a refresh token. Both providers rotate: the old refresh token is dead afterwards.
    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, ProviderError>;

    /// The tenant id a service account's tokens are fetched for, read from the company the
    /// consent connected. `None` for a provider without service accounts.
    fn service_tenant(&self, _company: &CompanyInfo) -> Option<String> {
        None
    }

    /// A new access token for a service account of the company `tenant_id` (client
    /// credentials); no refresh token comes with it. Client credentials are not single use,
    /// so a failed request may simply be sent again.
    async fn service_token(&self, _tenant_id: &str) -> Result<TokenSet, ProviderError> {
        Err(ProviderError::Rejected {
            status: 400,
            message: format!("{} has no service accounts", self.kind()),
        })
    }

    /// Revokes the grant where the provider can. `Ok(false)` when it cannot.
    async fn revoke(&self, tokens: &TokenSet) -> Result<bool, ProviderError>;
}

/// Loads the app credentials once per container, on first use.
pub struct CredentialStore {
    source: CredentialsSource,
    secrets: crate::aws_http::OnFirstUse<aws_sdk_secretsmanager::Client>,
    loaded: OnceCell<AppCredentials>,
}

impl CredentialStore {
    /// A store reading from `source`.
    pub fn new(
        source: CredentialsSource,
        secrets: impl Into<crate::aws_http::OnFirstUse<aws_sdk_secretsmanager::Client>>,
    ) -> Self {
        CredentialStore {
            source,
            secrets: secrets.into(),
            loaded: OnceCell::new(),
        }
    }

    /// The credentials for `kind`.
    pub async fn get(&self, kind: ProviderKind) -> Result<ClientCredentials, ProviderError> {
        let all = self
            .loaded
            .get_or_try_init(|| async {
                match &self.source {
                    CredentialsSource::Inline(c) => Ok(c.clone()),
                    CredentialsSource::SecretArn(arn) => {
                        let out = self
                            .secrets
                            .get_secret_value()
                            .secret_id(arn)
                            .send()
                            .await
                            .map_err(|e| {
                                ProviderError::Credentials(format!(
                                    "reading {arn}: {}",
                                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                                ))
                            })?;
                        serde_json::from_str::<AppCredentials>(out.secret_string().unwrap_or(""))
                            .map_err(|e| {
                                ProviderError::Credentials(format!(
                                    "{arn} is not valid JSON credentials: {e}"
                                ))
                            })
                    }
                }
            })
            .await?;
        let c = all.for_provider(kind);
        if c.client_id.is_empty() {
            return Err(ProviderError::Credentials(format!(
                "no client id configured for {kind}"
            )));
        }
        Ok(c.clone())
    }
}

/// Every provider, by kind.
#[derive(Clone)]
pub struct Providers {
    fortnox: Arc<dyn Provider>,
    visma: Arc<dyn Provider>,
    fortnox_api: Arc<fortnox::FortnoxApi>,
    visma_api: Arc<visma::VismaApi>,
    // Kept to rebuild the data clients with another limiter or settings.
    parts: Arc<ApiParts>,
}

/// What the data clients are built from.
struct ApiParts {
    fortnox: FortnoxSettings,
    visma: VismaSettings,
    http: crate::http::LazyClient,
    credentials: Arc<CredentialStore>,
}

impl Providers {
    /// Builds both providers from their settings. The data clients take their tuning from
    /// `api` and pace requests with a limiter local to this process until
    /// [`Providers::with_shared_limiter`] hands them the shared one.
    pub fn new(
        fortnox: &FortnoxSettings,
        visma: &VismaSettings,
        api: ApiSettings,
        http: crate::http::LazyClient,
        credentials: Arc<CredentialStore>,
    ) -> Self {
        let limiter = Arc::new(crate::http::SlotLimiter::local(api.tuning));
        let parts = Arc::new(ApiParts {
            fortnox: fortnox.clone(),
            visma: visma.clone(),
            http: http.clone(),
            credentials: credentials.clone(),
        });
        let (fortnox_api, visma_api) = Self::data_clients(&parts, api, limiter);
        Providers {
            fortnox: Arc::new(fortnox::Fortnox::new(
                fortnox.clone(),
                http.clone(),
                credentials.clone(),
            )),
            visma: Arc::new(visma::Visma::new(visma.clone(), http, credentials)),
            fortnox_api,
            visma_api,
            parts,
        }
    }

    /// The app's client credentials at `kind` (Fortnox's stream takes the client secret).
    pub async fn credentials(
        &self,
        kind: ProviderKind,
    ) -> Result<ClientCredentials, ProviderError> {
        self.parts.credentials.get(kind).await
    }

    fn data_clients(
        parts: &ApiParts,
        settings: ApiSettings,
        limiter: Arc<dyn crate::http::RateLimiter>,
    ) -> (Arc<fortnox::FortnoxApi>, Arc<visma::VismaApi>) {
        // One executor each, so that each client counts its own requests and 429s.
        let out =
            || crate::http::Outbound::new(parts.http.clone(), limiter.clone(), settings.retry);
        (
            Arc::new(fortnox::FortnoxApi::new(
                &parts.fortnox,
                settings.clone(),
                out(),
                parts.credentials.clone(),
            )),
            Arc::new(visma::VismaApi::new(
                &parts.visma,
                settings.clone(),
                out(),
                parts.credentials.clone(),
            )),
        )
    }

    /// The same providers with data clients over `settings` and `limiter` (in production the
    /// DynamoDB-backed one: [`Providers::with_shared_limiter`]).
    pub fn with_api(
        mut self,
        settings: ApiSettings,
        limiter: Arc<dyn crate::http::RateLimiter>,
    ) -> Self {
        let (f, v) = Self::data_clients(&self.parts, settings, limiter);
        self.fortnox_api = f;
        self.visma_api = v;
        self
    }

    /// The same providers pacing their data calls through the rate-limit buckets in `db`'s
    /// table, shared by every Lambda instance.
    pub fn with_shared_limiter(self, db: &crate::store::Db, settings: ApiSettings) -> Self {
        let store = Arc::new(crate::store::ratelimit::RateLimitStore::new(db));
        let limiter = Arc::new(crate::http::SlotLimiter::new(store, settings.tuning));
        self.with_api(settings, limiter)
    }

    /// The provider for `kind`.
    pub fn get(&self, kind: ProviderKind) -> &dyn Provider {
        match kind {
            ProviderKind::Fortnox => self.fortnox.as_ref(),
            ProviderKind::Visma => self.visma.as_ref(),
        }
    }

    /// The data API for `kind`.
    pub fn api(&self, kind: ProviderKind) -> &dyn AccountingApi {
        match kind {
            ProviderKind::Fortnox => self.fortnox_api.as_ref(),
            ProviderKind::Visma => self.visma_api.as_ref(),
        }
    }

    /// The Fortnox data client, for its extras (bookkeep, cancel, credit).
    pub fn fortnox_api(&self) -> &fortnox::FortnoxApi {
        &self.fortnox_api
    }

    /// The Visma data client, for its extras (drafts, terms of payment, articles).
    pub fn visma_api(&self) -> &visma::VismaApi {
        &self.visma_api
    }
}
