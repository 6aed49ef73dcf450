//! Rotating an integration's webhook signing keys: a new key (generated, or one a provider
//! portal made) becomes current, the older ones stay accepted for a grace period.

use super::{keys, scheme_of, Scheme};
use crate::api::Problem;
use crate::domain::{IntegrationStatus, Secret, TenantId, WebhookSecret};
use crate::store::StoreError;
use crate::AppContext;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// Longest grace period a rotation may give the old key.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A rotation that cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// No such integration for this tenant.
    #[error("integration `{0}` not found")]
    NotFound(String),
    /// The integration or its secret does not allow a rotation now.
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
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RotateError> for Problem {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::NotFound(id) => {
                Problem::not_found(format!("no integration `{id}` exists"))
            }
            RotateError::WrongState(d) => Problem::conflict(d),
            RotateError::Invalid { field, detail } => Problem::invalid_field(field, detail),
            RotateError::Store(s) => Problem::internal(s),
        }
    }
}

/// What a rotation may change.
#[derive(Debug, Clone, Default)]
pub struct RotateRequest {
    /// Switch the integration to this scheme.
    pub scheme: Option<Scheme>,
    /// Use this key (one a provider portal generated) instead of generating one.
    pub key: Option<Secret>,
    /// How long the old keys stay accepted; the configured grace when `None`.
    pub grace: Option<Duration>,
}

/// A key that still works for a while after a rotation.
#[derive(Debug, Clone, Serialize)]
pub struct RetiringKey {
    /// Its id.
    pub key_id: String,
    /// Accepted until then.
    pub retire_at: DateTime<Utc>,
}

/// The answer to a rotation: the only time the new key is shown.
#[derive(Debug, Clone, Serialize)]
pub struct RotatedKey {
    /// The integration.
    pub integration_id: String,
    /// The signature scheme now in force.
    pub scheme: &'static str,
    /// The header senders put the signature in.
    pub signature_header: String,
    /// Where senders post deliveries.
    pub webhook_url: Option<String>,
    /// Id of the new key.
    pub key_id: String,
    /// The new key, shown this once; `null` when the caller supplied it.
    pub key: Option<Secret>,
    /// When the new key was made.
    pub created_at: DateTime<Utc>,
    /// Older keys still accepted, and until when.
    pub retiring_keys: Vec<RetiringKey>,
}

/// Issues a new signing key for the tenant's integration (or stores one supplied), retires the
/// older keys after the grace period, and optionally switches the signature scheme.
pub async fn rotate_key(
    ctx: &AppContext,
    tenant: &TenantId,
    integration_id: &str,
    req: RotateRequest,
) -> Result<RotatedKey, RotateError> {
    let integration = ctx
        .db
        .get_integration(tenant, integration_id)
        .await?
        .ok_or_else(|| RotateError::NotFound(integration_id.to_string()))?;
    if integration.status == IntegrationStatus::Disconnected {
        return Err(RotateError::WrongState(
            "this integration is disconnected; its webhook keys were deleted with it".into(),
        ));
    }
    let grace = req.grace.unwrap_or(ctx.config.webhook.rotation_grace);
    if grace > MAX_GRACE {
        return Err(RotateError::Invalid {
            field: "grace_seconds",
            detail: format!("`grace_seconds` must be at most {}", MAX_GRACE.as_secs()),
        });
    }
    let imported = req.key.is_some();
    let owner = uuid::Uuid::new_v4().to_string();
    let lease_ttl = ctx.config.refresh_lease_ttl;
    let wait = lease_ttl.min(Duration::from_secs(5));
    if !ctx
        .db
        .acquire_webhook_keys_lease(tenant, &integration.id, &owner, lease_ttl, wait)
        .await?
    {
        return Err(RotateError::WrongState(
            "the integration's webhook keys are being updated right now; try again in a moment"
                .into(),
        ));
    }
    let name = ctx.config.webhook.secret_name(tenant, &integration.id);
    let written = async {
        let now = Utc::now();
        let new = keys::new_key(req.key, now);
        let grace = chrono::Duration::from_std(grace).unwrap_or_default();
        match ctx.vault.read::<WebhookSecret>(&name).await? {
            Some(mut secret) => {
                keys::rotate(&mut secret.keys, new.clone(), now, grace);
                ctx.vault.write(&name, &secret).await?;
                Ok::<_, RotateError>((new, secret.keys))
            }
            // No webhook secret: an integration whose keys still sit in its token secret (made
            // before the split, not yet migrated). This function cannot read those; the new key
            // starts a webhook secret of its own, and the migration leaves it alone.
            None => {
                let secret = WebhookSecret::with_keys(vec![new.clone()]);
                ctx.vault
                    .create(&name, &secret, tenant.as_str(), &integration.id)
                    .await?;
                Ok((new, secret.keys))
            }
        }
    }
    .await;
    if let Err(e) = ctx
        .db
        .release_webhook_keys_lease(tenant, &integration.id, &owner)
        .await
    {
        tracing::warn!(integration = %integration.id, error = %e, "could not release the webhook key lease; it will expire");
    }
    let (new, all) = written?;

    let stored = ctx.db.integration_owner(&integration.id).await?;
    let scheme = req.scheme.unwrap_or_else(|| {
        scheme_of(
            ctx,
            stored.as_ref().and_then(|o| o.webhook_scheme.as_deref()),
        )
    });
    // Write the owner item when the scheme changes, and for an integration made before owner
    // items existed (its webhook URL starts working here).
    if req.scheme.is_some() || stored.is_none() {
        ctx.db
            .put_integration_owner(&integration, req.scheme.map(Scheme::as_str))
            .await?;
    }
    // Receivers with older keys cached see this and read the new ones at once.
    ctx.db.mark_webhook_keys(&integration.id, &new.id).await?;
    tracing::info!(tenant = %tenant, integration = %integration.id, key_id = %new.id, scheme = scheme.as_str(), imported, grace_seconds = grace.as_secs(), "webhook key rotated");
    Ok(RotatedKey {
        integration_id: integration.id.clone(),
        scheme: scheme.as_str(),
        signature_header: match scheme {
            Scheme::Ours => "X-Signature".to_string(),
            Scheme::VismaPortal => ctx.config.webhook.visma_signature_header.clone(),
        },
        webhook_url: ctx.config.webhook.url_for(&integration.id),
        key_id: new.id.clone(),
        key: (!imported).then(|| new.key.clone()),
        created_at: new.created_at,
        retiring_keys: all
            .iter()
            .skip(1)
            .filter_map(|k| {
                k.retire_at.map(|retire_at| RetiringKey {
                    key_id: k.id.clone(),
                    retire_at,
                })
            })
            .collect(),
    })
}
