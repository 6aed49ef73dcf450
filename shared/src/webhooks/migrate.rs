//! Moving webhook keys out of the token secrets. An older release kept an integration's signing
//! keys in the same secret as its OAuth tokens; now they have a secret of their own under
//! `WEBHOOK_SECRET_PREFIX`, so that the public webhook function can read keys and never tokens.
//! The webhook function does not look at the old place, so until an integration's keys are
//! moved its deliveries answer 401 (senders retry). The scheduler function runs this when it is
//! invoked with `{"migrate_webhook_keys": true}` (docs/webhooks.md, "Where the keys are kept").

use crate::domain::{Integration, IntegrationStatus, TokenSecret, WebhookSecret};
use crate::store::StoreError;
use crate::AppContext;
use serde::Serialize;
use std::time::Duration;

/// What one integration's migration found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// Its keys now live in its webhook secret, and the token secret no longer holds them.
    Moved,
    /// A webhook secret existed already (a rotation made one): it was kept, and the old keys
    /// were dropped from the token secret.
    KeptExisting,
    /// Nothing to move (no token secret, or no keys in it).
    Nothing,
    /// Someone held one of the secrets' leases; run again.
    Busy,
}

/// What a migration run did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct MigrationReport {
    /// Integrations looked at (every status but disconnected).
    pub integrations: usize,
    /// Keys moved into a new webhook secret.
    pub moved: usize,
    /// Old keys dropped because a webhook secret existed already.
    pub kept_existing: usize,
    /// Integrations that were busy; a second run picks them up.
    pub busy: usize,
    /// Integrations that failed (logged); a second run tries them again.
    pub failed: usize,
}

/// Moves the legacy keys of every integration that is not disconnected. Safe to run again:
/// an integration already moved has nothing left to move.
pub async fn migrate_legacy_keys(ctx: &AppContext) -> Result<MigrationReport, StoreError> {
    let mut report = MigrationReport::default();
    for status in [
        IntegrationStatus::Pending,
        IntegrationStatus::Connected,
        IntegrationStatus::NeedsReauth,
        IntegrationStatus::Revoked,
    ] {
        let mut cursor = None;
        loop {
            let (page, next) = ctx.db.integrations_in_status(status, cursor, 200).await?;
            for i in &page {
                report.integrations += 1;
                match move_keys(ctx, i).await {
                    Ok(Moved::Moved) => report.moved += 1,
                    Ok(Moved::KeptExisting) => report.kept_existing += 1,
                    Ok(Moved::Nothing) => {}
                    Ok(Moved::Busy) => report.busy += 1,
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(tenant = %i.tenant_id, integration = %i.id, error = %e, "could not move the webhook keys");
                    }
                }
            }
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
    }
    tracing::info!(?report, "webhook key migration run");
    Ok(report)
}

/// Moves one integration's legacy keys, under the token secret's lease (a refresh or consent
/// rewrites that secret) and the webhook secret's lease (a rotation writes that one).
pub async fn move_keys(ctx: &AppContext, i: &Integration) -> Result<Moved, StoreError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let ttl = ctx.config.refresh_lease_ttl;
    let wait = ttl.min(Duration::from_secs(5));
    if !ctx
        .db
        .acquire_secret_lease(&i.tenant_id, &i.id, &owner, ttl, wait)
        .await?
    {
        return Ok(Moved::Busy);
    }
    let outcome = async {
        if !ctx
            .db
            .acquire_webhook_keys_lease(&i.tenant_id, &i.id, &owner, ttl, wait)
            .await?
        {
            return Ok(Moved::Busy);
        }
        let moved = move_under_leases(ctx, i).await;
        if let Err(e) = ctx
            .db
            .release_webhook_keys_lease(&i.tenant_id, &i.id, &owner)
            .await
        {
            tracing::warn!(integration = %i.id, error = %e, "could not release the webhook key lease; it will expire");
        }
        moved
    }
    .await;
    if let Err(e) = ctx
        .db
        .release_secret_lease(&i.tenant_id, &i.id, &owner)
        .await
    {
        tracing::warn!(integration = %i.id, error = %e, "could not release the secret lease; it will expire");
    }
    outcome
}

async fn move_under_leases(ctx: &AppContext, i: &Integration) -> Result<Moved, StoreError> {
    let Some(mut tokens) = ctx.vault.read::<TokenSecret>(&i.secret_name).await? else {
        return Ok(Moved::Nothing);
    };
    if tokens.legacy_webhook_keys.is_empty() {
        return Ok(Moved::Nothing);
    }
    let keys = WebhookSecret::with_keys(std::mem::take(&mut tokens.legacy_webhook_keys));
    let name = ctx.config.webhook.secret_name(&i.tenant_id, &i.id);
    // Create first, then strip: a crash in between leaves the keys in both places, and the
    // next run strips them.
    let created = ctx
        .vault
        .create_if_absent(&name, &keys, i.tenant_id.as_str(), &i.id)
        .await?;
    ctx.vault.write(&i.secret_name, &tokens).await?;
    tracing::info!(tenant = %i.tenant_id, integration = %i.id, created, "webhook keys moved out of the token secret");
    Ok(if created {
        Moved::Moved
    } else {
        Moved::KeptExisting
    })
}
