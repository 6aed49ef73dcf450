//! Connection use cases: create an integration, start and complete OAuth consent, read status,
//! disconnect. Each function is one thing a caller can ask for; the Lambda functions only parse
//! requests and shape answers.

pub mod return_url;
pub mod tokens;

use crate::api::Problem;
use crate::domain::secret::random_token;
use crate::domain::{
    integration::secret_name, Integration, IntegrationStatus, LastError, ProviderKind, TenantId,
    TokenSecret, WebhookSecret,
};
use crate::http::ApiError;
use crate::providers::{ApiAuth, ProviderError};
use crate::store::{OAuthState, StoreError};
use crate::AppContext;
use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

/// A connection request that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// No such integration for this tenant.
    #[error("integration `{0}` not found")]
    NotFound(String),
    /// The tenant already has an active integration with this provider.
    #[error("an active {provider} integration exists already")]
    AlreadyExists {
        /// Provider.
        provider: ProviderKind,
        /// The existing integration.
        existing_id: String,
    },
    /// The integration is in a state that does not allow the request.
    #[error("{0}")]
    WrongState(String),
    /// A request field is wrong.
    #[error("{detail}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The provider's OAuth server failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The provider's API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ConnectionError> for Problem {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::NotFound(id) => Problem::not_found(format!("no integration `{id}` exists")),
            ConnectionError::AlreadyExists { provider, existing_id } => Problem::conflict(format!(
                "this tenant already has an active {provider} integration; disconnect it first or connect it again"
            ))
            .with("existing_integration_id", existing_id),
            ConnectionError::WrongState(d) => Problem::conflict(d),
            ConnectionError::Invalid { field, detail } => Problem::invalid_field(field, detail),
            ConnectionError::Provider(p) => provider_failed(&p, p.code()),
            ConnectionError::Api(a) => provider_failed(&a, a.code()),
            ConnectionError::Store(s) => Problem::internal(s),
        }
    }
}

fn provider_failed(e: &dyn std::fmt::Display, code: &str) -> Problem {
    tracing::warn!(error = %e, "provider call failed");
    Problem::bad_gateway(format!(
        "the accounting system did not answer as expected ({code})"
    ))
}

/// What the frontend gets to start a consent.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectStart {
    /// The integration being connected.
    pub integration_id: String,
    /// Provider.
    pub provider: ProviderKind,
    /// Send the browser here.
    pub authorization_url: String,
    /// The consent must be completed before this.
    pub expires_at: DateTime<Utc>,
}

/// Creates an integration with its webhook secret (holding a fresh signing key). Its token
/// secret is made when consent completes.
pub async fn create_integration(
    ctx: &AppContext,
    tenant: &TenantId,
    provider: ProviderKind,
    display_name: Option<String>,
) -> Result<Integration, ConnectionError> {
    if let Some(existing_id) = ctx.db.active_integration_id(tenant, provider).await? {
        return Err(ConnectionError::AlreadyExists {
            provider,
            existing_id,
        });
    }
    let now = Utc::now();
    let id = uuid::Uuid::new_v4().to_string();
    let integration = Integration {
        tenant_id: tenant.clone(),
        id: id.clone(),
        provider,
        status: IntegrationStatus::Pending,
        display_name,
        company_name: None,
        provider_company_id: None,
        token_expires_at: None,
        refresh_expires_at: None,
        connected_at: None,
        last_error: None,
        secret_name: secret_name(&ctx.config.secret_prefix, tenant, &id),
        created_at: now,
        updated_at: now,
    };
    // Keys first: an integration row never exists without its webhook secret. This function
    // may create webhook secrets only; the token secret is the consent callback's to create.
    let webhook_secret = ctx.config.webhook.secret_name(tenant, &id);
    ctx.vault
        .create(
            &webhook_secret,
            &WebhookSecret::new_with_key(now),
            tenant.as_str(),
            &id,
        )
        .await?;
    match ctx.db.insert_integration(&integration).await {
        Ok(()) => {
            tracing::info!(tenant = %tenant, integration = %id, %provider, "integration created");
            Ok(integration)
        }
        Err(e) => {
            if let Err(del) = ctx.vault.delete(&webhook_secret).await {
                tracing::error!(error = %del, "could not remove the secret of an integration that was not created");
            }
            match e {
                StoreError::Conflict(existing_id) => Err(ConnectionError::AlreadyExists {
                    provider,
                    existing_id,
                }),
                other => Err(other.into()),
            }
        }
    }
}

/// Reads one integration of the tenant.
pub async fn get(
    ctx: &AppContext,
    tenant: &TenantId,
    id: &str,
) -> Result<Integration, ConnectionError> {
    ctx.db
        .get_integration(tenant, id)
        .await?
        .ok_or_else(|| ConnectionError::NotFound(id.to_string()))
}

/// Starts consent for an integration: stores a single-use state and builds the provider URL.
pub async fn begin_connect(
    ctx: &AppContext,
    tenant: &TenantId,
    integration_id: &str,
    return_url: Option<&str>,
) -> Result<ConnectStart, ConnectionError> {
    let return_url = return_url::resolve(return_url, &ctx.config).map_err(|detail| {
        ConnectionError::Invalid {
            field: "return_url",
            detail,
        }
    })?;
    let integration = get(ctx, tenant, integration_id).await?;
    if !integration.status.can_connect() {
        return Err(ConnectionError::WrongState(
            "this integration is disconnected; create a new one to connect again".into(),
        ));
    }
    let state = random_token(32);
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ctx.config.oauth_state_ttl).unwrap_or_default();
    let provider = ctx.providers.get(integration.provider);
    let authorization_url = provider
        .authorization_url(&state, &ctx.config.redirect_uri(integration.provider))
        .await?;
    ctx.db
        .put_oauth_state(
            &state,
            &OAuthState {
                tenant_id: tenant.clone(),
                integration_id: integration.id.clone(),
                provider: integration.provider,
                return_url: return_url.to_string(),
                expires_at,
            },
        )
        .await?;
    tracing::info!(tenant = %tenant, integration = %integration.id, provider = %integration.provider, "consent started");
    Ok(ConnectStart {
        integration_id: integration.id,
        provider: integration.provider,
        authorization_url,
        expires_at,
    })
}

/// Reuses the tenant's active integration with `provider`, or creates one, and starts consent.
pub async fn authorize(
    ctx: &AppContext,
    tenant: &TenantId,
    provider: ProviderKind,
    return_url: Option<&str>,
) -> Result<ConnectStart, ConnectionError> {
    // Validate before creating anything: bad input changes nothing.
    return_url::resolve(return_url, &ctx.config).map_err(|detail| ConnectionError::Invalid {
        field: "return_url",
        detail,
    })?;
    let id = match ctx.db.active_integration_id(tenant, provider).await? {
        Some(id) => id,
        None => match create_integration(ctx, tenant, provider, None).await {
            Ok(i) => i.id,
            // Lost a race with a concurrent authorize: use the winner's integration.
            Err(ConnectionError::AlreadyExists { existing_id, .. }) if !existing_id.is_empty() => {
                existing_id
            }
            Err(e) => return Err(e),
        },
    };
    begin_connect(ctx, tenant, &id, return_url).await
}

/// The query a provider sends the browser back with.
#[derive(Debug, Default, Clone)]
pub struct CallbackParams {
    /// Authorization code on approval.
    pub code: Option<String>,
    /// Our state.
    pub state: Option<String>,
    /// OAuth error on denial.
    pub error: Option<String>,
    /// The provider's words about the error.
    pub error_description: Option<String>,
}

/// Completes consent and answers where to send the browser. Never fails: every outcome is a
/// redirect that says what happened. Nothing changes unless the whole exchange succeeds.
pub async fn complete_callback(
    ctx: &AppContext,
    provider_segment: &str,
    params: CallbackParams,
) -> String {
    let fallback = ctx.config.default_return_url.clone();
    let Ok(provider) = provider_segment.parse::<ProviderKind>() else {
        return outcome_url(
            &fallback,
            None,
            None,
            Err(("unknown_provider", "the callback names no known provider")),
        );
    };
    let Some(state_value) = params.state.as_deref().filter(|s| !s.is_empty()) else {
        return outcome_url(
            &fallback,
            None,
            Some(provider),
            Err(("invalid_state", "the provider sent no state")),
        );
    };
    let state = match ctx.db.take_oauth_state(state_value).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::warn!(%provider, "callback with an unknown or already used state");
            return outcome_url(
                &fallback,
                None,
                Some(provider),
                Err((
                    "invalid_state",
                    "this sign-in link was already used or is unknown; start again",
                )),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "reading OAuth state");
            return outcome_url(
                &fallback,
                None,
                Some(provider),
                Err(("server_error", "try again in a moment")),
            );
        }
    };
    let back = Url::parse(&state.return_url).unwrap_or(fallback);
    let id = Some(state.integration_id.as_str());
    if state.provider != provider {
        return outcome_url(
            &back,
            id,
            Some(provider),
            Err(("invalid_state", "the state belongs to another provider")),
        );
    }
    if state.expires_at <= Utc::now() {
        tracing::warn!(tenant = %state.tenant_id, integration = %state.integration_id, "callback with an expired state");
        return outcome_url(
            &back,
            id,
            Some(provider),
            Err((
                "state_expired",
                "the sign-in took longer than 10 minutes; start again",
            )),
        );
    }
    if let Some(err) = params.error.as_deref() {
        tracing::info!(tenant = %state.tenant_id, integration = %state.integration_id, oauth_error = %err, "consent not given");
        let code = if err == "access_denied" {
            "access_denied"
        } else {
            "provider_error"
        };
        let detail = params
            .error_description
            .as_deref()
            .unwrap_or("the accounting system did not grant access");
        return outcome_url(&back, id, Some(provider), Err((code, detail)));
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return outcome_url(
            &back,
            id,
            Some(provider),
            Err(("invalid_request", "the provider sent no authorization code")),
        );
    };
    match finish_consent(ctx, &state, code).await {
        Ok(()) => outcome_url(&back, id, Some(provider), Ok(())),
        Err(e) => {
            tracing::warn!(tenant = %state.tenant_id, integration = %state.integration_id, error = %e, "consent could not be completed");
            let code = match &e {
                ConnectionError::Provider(_) | ConnectionError::Api(_) => "exchange_failed",
                ConnectionError::NotFound(_) | ConnectionError::WrongState(_) => {
                    "integration_unavailable"
                }
                _ => "server_error",
            };
            outcome_url(
                &back,
                id,
                Some(provider),
                Err((code, "the connection could not be completed; try again")),
            )
        }
    }
}

/// Puts new tokens into the integration's token secret (creating it at the first consent).
async fn store_tokens(
    ctx: &AppContext,
    state: &OAuthState,
    integration: &Integration,
    tokens: &crate::domain::TokenSet,
) -> Result<(), StoreError> {
    let mut secret = ctx
        .vault
        .read::<TokenSecret>(&integration.secret_name)
        .await?
        .unwrap_or_else(|| TokenSecret::with_tokens(tokens.clone()));
    secret.tokens = Some(tokens.clone());
    match ctx.vault.write(&integration.secret_name, &secret).await {
        Ok(()) => Ok(()),
        Err(StoreError::Aws { .. })
            if ctx
                .vault
                .read::<TokenSecret>(&integration.secret_name)
                .await?
                .is_none() =>
        {
            ctx.vault
                .create(
                    &integration.secret_name,
                    &secret,
                    state.tenant_id.as_str(),
                    &integration.id,
                )
                .await
        }
        Err(e) => Err(e),
    }
}

/// How long the callback waits for the connected company's name and id.
const COMPANY_LOOKUP_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

async fn finish_consent(
    ctx: &AppContext,
    state: &OAuthState,
    code: &str,
) -> Result<(), ConnectionError> {
    let integration = get(ctx, &state.tenant_id, &state.integration_id).await?;
    if !integration.status.can_connect() {
        return Err(ConnectionError::WrongState(
            "integration is disconnected".into(),
        ));
    }
    let provider = ctx.providers.get(state.provider);
    let tokens = provider
        .exchange_code(code, &ctx.config.redirect_uri(state.provider))
        .await?;
    // Through the data client: paced by the shared rate limiter, retried, and classified like
    // every other provider call; time-boxed, because its retries (or a Visma "try again in N
    // seconds") could otherwise outlast the callback function's 10-second timeout, and the
    // browser must get a redirect that says what happened.
    let auth = ApiAuth::for_integration(&integration, tokens.access_token.clone());
    let lookup = ctx.providers.api(state.provider).company(&auth);
    let company = tokio::time::timeout(COMPANY_LOOKUP_BUDGET, lookup)
        .await
        .map_err(|_| ApiError::Retryable {
            message: format!("no company information within {COMPANY_LOOKUP_BUDGET:?}"),
        })??;
    // Read, change and write the token secret under the same lease as a token refresh (and the
    // migration of legacy webhook keys), so no writer loses another's change.
    let owner = uuid::Uuid::new_v4().to_string();
    let lease_ttl = ctx.config.refresh_lease_ttl;
    if !ctx
        .db
        .acquire_secret_lease(
            &state.tenant_id,
            &integration.id,
            &owner,
            lease_ttl,
            lease_ttl,
        )
        .await?
    {
        return Err(ConnectionError::WrongState(
            "the integration's secret is busy; try again".into(),
        ));
    }
    let stored = store_tokens(ctx, state, &integration, &tokens).await;
    if let Err(e) = ctx
        .db
        .release_secret_lease(&state.tenant_id, &integration.id, &owner)
        .await
    {
        tracing::warn!(integration = %integration.id, error = %e, "could not release the secret lease; it will expire");
    }
    stored?;
    ctx.db
        .mark_connected(
            &integration,
            &company.name,
            company.provider_company_id.as_deref(),
            tokens.expires_at,
            tokens.refresh_expires_at,
        )
        .await?;
    ctx.tokens.remember(&integration.secret_name, tokens);
    tracing::info!(tenant = %state.tenant_id, integration = %integration.id, provider = %state.provider, "integration connected");
    Ok(())
}

/// Appends the outcome to a return URL: `status=connected` or `status=error&error=…`.
fn outcome_url(
    base: &Url,
    integration_id: Option<&str>,
    provider: Option<ProviderKind>,
    outcome: Result<(), (&str, &str)>,
) -> String {
    let mut url = base.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(id) = integration_id {
            q.append_pair("integration_id", id);
        }
        if let Some(p) = provider {
            q.append_pair("provider", p.as_str());
        }
        match outcome {
            Ok(()) => {
                q.append_pair("status", "connected");
            }
            Err((code, description)) => {
                q.append_pair("status", "error");
                q.append_pair("error", code);
                q.append_pair("error_description", description);
            }
        }
    }
    url.into()
}

/// Outcome of a disconnect.
#[derive(Debug, Clone, Serialize)]
pub struct Disconnected {
    /// The integration.
    pub id: String,
    /// Always `disconnected`.
    pub status: IntegrationStatus,
    /// Whether the provider confirmed the revocation of our grant.
    pub revoked_at_provider: bool,
}

/// Revokes at the provider where it can, deletes both secrets and marks the integration
/// disconnected. A failed revocation does not stop the disconnect: the tokens are deleted.
pub async fn disconnect(
    ctx: &AppContext,
    tenant: &TenantId,
    id: &str,
) -> Result<Disconnected, ConnectionError> {
    let integration = get(ctx, tenant, id).await?;
    if integration.status == IntegrationStatus::Disconnected {
        return Ok(Disconnected {
            id: integration.id,
            status: IntegrationStatus::Disconnected,
            revoked_at_provider: false,
        });
    }
    let mut revoked = false;
    if let Some(tokens) = ctx
        .vault
        .read::<TokenSecret>(&integration.secret_name)
        .await?
        .and_then(|s| s.tokens)
    {
        match ctx
            .providers
            .get(integration.provider)
            .revoke(&tokens)
            .await
        {
            Ok(r) => revoked = r,
            Err(e) => {
                tracing::warn!(tenant = %tenant, integration = %id, error = %e, "revocation at the provider failed")
            }
        }
    }
    ctx.vault.delete(&integration.secret_name).await?;
    ctx.vault
        .delete(&ctx.config.webhook.secret_name(tenant, &integration.id))
        .await?;
    ctx.tokens.forget(&integration.secret_name);
    ctx.db.mark_disconnected(&integration).await?;
    tracing::info!(tenant = %tenant, integration = %id, revoked, "integration disconnected");
    Ok(Disconnected {
        id: integration.id,
        status: IntegrationStatus::Disconnected,
        revoked_at_provider: revoked,
    })
}

/// Records a problem a person must act on.
pub async fn record_error(
    ctx: &AppContext,
    integration: &Integration,
    status: IntegrationStatus,
    code: &str,
    message: &str,
) -> Result<(), StoreError> {
    let err = LastError {
        code: code.to_string(),
        message: message.to_string(),
        at: Utc::now(),
    };
    ctx.db
        .set_status(&integration.tenant_id, &integration.id, status, Some(&err))
        .await
}

/// The public view of an integration.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationView {
    /// Id.
    pub id: String,
    /// Provider.
    pub provider: ProviderKind,
    /// Connection state.
    pub status: IntegrationStatus,
    /// Tenant's label.
    pub display_name: Option<String>,
    /// Company at the provider.
    pub company_name: Option<String>,
    /// Provider's company id.
    pub provider_company_id: Option<String>,
    /// Access token expiry.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Refresh token expiry, when the provider has one.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Last consent.
    pub connected_at: Option<DateTime<Utc>>,
    /// Last error a person should see.
    pub last_error: Option<LastError>,
    /// Where signed webhook deliveries for this integration go (never the key); `None` when
    /// `WEBHOOK_BASE_URL` is not configured.
    pub webhook_url: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

impl IntegrationView {
    /// The view with the integration's webhook URL from the configuration.
    pub fn new(i: Integration, config: &crate::Config) -> Self {
        let webhook_url = config.webhook.url_for(&i.id);
        IntegrationView {
            webhook_url,
            ..IntegrationView::from(i)
        }
    }
}

impl From<Integration> for IntegrationView {
    /// The view without a webhook URL (use [`IntegrationView::new`] to include it).
    fn from(i: Integration) -> Self {
        IntegrationView {
            id: i.id,
            provider: i.provider,
            status: i.status,
            display_name: i.display_name,
            company_name: i.company_name,
            provider_company_id: i.provider_company_id,
            token_expires_at: i.token_expires_at,
            refresh_expires_at: i.refresh_expires_at,
            connected_at: i.connected_at,
            last_error: i.last_error,
            webhook_url: None,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}
