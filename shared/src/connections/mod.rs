//! Connection use cases: create an integration, start and complete OAuth consent, read status,
//! disconnect. Each function is one thing a caller can ask for; the Lambda functions only parse
//! requests and shape answers.

pub mod consent;
pub mod return_url;
pub mod tokens;

pub use consent::{
    authorize, begin_connect, complete_callback, confirm, CallbackParams, ConnectStart,
};

use crate::api::Problem;
use crate::domain::{
    integration::secret_name, ConnectionMode, Integration, IntegrationStatus, LastError,
    ProviderKind, TenantId, TokenSecret,
};
use crate::http::ApiError;
use crate::providers::ProviderError;
use crate::store::StoreError;
use crate::AppContext;
use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// The provider answered, but not what the connection needs; the words say what.
    #[error("{0}")]
    Upstream(String),
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
            ConnectionError::Upstream(d) => Problem::bad_gateway(d),
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

/// Creates an integration. Its token secret is made when consent completes; its webhook secret
/// when the tenant first asks for a signing key (`webhooks::rotate`): a key made here would be
/// shown to nobody, and each secret costs $0.40 a month (bench/cost).
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
        mode: ConnectionMode::User,
        service_tenant_id: None,
        connected_at: None,
        last_error: None,
        secret_name: secret_name(&ctx.config.secret_prefix, tenant, &id),
        created_at: now,
        updated_at: now,
    };
    match ctx.db.insert_integration(&integration).await {
        Ok(()) => {
            tracing::info!(tenant = %tenant, integration = %id, %provider, "integration created");
            Ok(integration)
        }
        Err(StoreError::Conflict(existing_id)) => Err(ConnectionError::AlreadyExists {
            provider,
            existing_id,
        }),
        Err(other) => Err(other.into()),
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
    /// How the grant is held: `user` (a person's consent, with a refresh token) or `service`
    /// (a Fortnox service account: no refresh token, access tokens fetched by client
    /// credentials). `user` until a consent completes.
    pub mode: ConnectionMode,
    /// Tenant's label.
    pub display_name: Option<String>,
    /// Company at the provider.
    pub company_name: Option<String>,
    /// Connected, but the company could not be read at consent (the provider was slow or
    /// failing): the next sync fills in `company_name` and `provider_company_id`.
    pub company_pending: bool,
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
    /// How fresh each entity's copy is (only in the one-integration view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freshness: Option<Vec<crate::store::feed::Freshness>>,
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
            mode: i.mode,
            display_name: i.display_name,
            company_pending: i.status == IntegrationStatus::Connected && i.company_name.is_none(),
            company_name: i.company_name,
            provider_company_id: i.provider_company_id,
            token_expires_at: i.token_expires_at,
            refresh_expires_at: i.refresh_expires_at,
            connected_at: i.connected_at,
            last_error: i.last_error,
            webhook_url: None,
            freshness: None,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}
