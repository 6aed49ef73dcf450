//! Access tokens that never race.
//!
//! Both providers rotate refresh tokens: every refresh returns a new refresh token and kills
//! the old one, and Fortnox warns that parallel refreshes invalidate tokens. So exactly one
//! worker refreshes an integration at a time: it takes a short lease in DynamoDB, re-reads the
//! secret (someone may have refreshed already), refreshes, stores the new pair, and only then
//! uses it. Everyone else waits for the holder and reads the new pair from the secret.

use crate::domain::{Integration, IntegrationStatus, LastError, Secret, TokenSecret, TokenSet};
use crate::providers::{ProviderError, Providers};
use crate::store::{Db, StoreError, Vault};
use chrono::Utc;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The integration has no tokens (never connected, or disconnected).
    #[error("the integration is not connected")]
    NotConnected,
    /// The provider rejected the refresh token; a person must connect again.
    #[error("the integration needs to be connected again: {0}")]
    NeedsReauth(String),
    /// Refreshing failed in a way that may pass.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another worker held the refresh lease for too long.
    #[error("timed out waiting for another worker's token refresh")]
    Timeout,
}

/// Hands out valid access tokens, refreshing one integration at a time across all containers.
pub struct TokenManager {
    db: Db,
    vault: Vault,
    providers: Providers,
    margin: chrono::Duration,
    lease_ttl: Duration,
    // Warm invocations reuse a token while it is valid: keyed by secret name.
    cache: Mutex<HashMap<String, TokenSet>>,
}

impl TokenManager {
    /// A manager over the given stores and providers.
    pub fn new(
        db: Db,
        vault: Vault,
        providers: Providers,
        margin: Duration,
        lease_ttl: Duration,
    ) -> Self {
        TokenManager {
            db,
            vault,
            providers,
            margin: chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::minutes(5)),
            lease_ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps tokens just obtained (after a consent) for this container.
    pub fn remember(&self, secret_name: &str, tokens: TokenSet) {
        if let Ok(mut c) = self.cache.lock() {
            c.insert(secret_name.to_string(), tokens);
        }
    }

    /// Drops cached tokens (after a disconnect).
    pub fn forget(&self, secret_name: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(secret_name);
        }
    }

    fn cached(&self, secret_name: &str) -> Option<TokenSet> {
        let now = Utc::now();
        self.cache
            .lock()
            .ok()
            .and_then(|c| c.get(secret_name).cloned())
            .filter(|t| t.is_fresh(now, self.margin))
    }

    /// A valid access token for the integration, refreshed first if it has under the margin
    /// left.
    pub async fn access_token(&self, integration: &Integration) -> Result<Secret, TokenError> {
        if let Some(t) = self.cached(&integration.secret_name) {
            return Ok(t.access_token);
        }
        self.fresh_tokens(integration, false)
            .await
            .map(|t| t.access_token)
    }

    /// Refreshes now even if the access token is still valid (the scheduler uses this to keep
    /// refresh tokens alive: Fortnox's die after 45 days unused).
    pub async fn refresh_now(&self, integration: &Integration) -> Result<TokenSet, TokenError> {
        self.fresh_tokens(integration, true).await
    }

    async fn fresh_tokens(
        &self,
        integration: &Integration,
        force: bool,
    ) -> Result<TokenSet, TokenError> {
        refuse_if_unusable(integration)?;
        let usable = |t: &TokenSet| !force && t.is_fresh(Utc::now(), self.margin);
        let secret = self.read_secret(integration).await?;
        let current = secret.tokens.clone().ok_or(TokenError::NotConnected)?;
        if usable(&current) {
            self.remember(&integration.secret_name, current.clone());
            return Ok(current);
        }
        let owner = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + self.lease_ttl + Duration::from_secs(5);
        loop {
            if self
                .db
                .try_secret_lease(
                    &integration.tenant_id,
                    &integration.id,
                    &owner,
                    self.lease_ttl,
                )
                .await?
            {
                let outcome = self.refresh_under_lease(integration, force, &current).await;
                if let Err(e) = self
                    .db
                    .release_secret_lease(&integration.tenant_id, &integration.id, &owner)
                    .await
                {
                    tracing::warn!(integration = %integration.id, error = %e, "could not release the refresh lease; it will expire");
                }
                return outcome;
            }
            // Someone else is refreshing: wait for them rather than refreshing too.
            let pause = rand::rng().random_range(50..150);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let latest = self
                .read_secret(integration)
                .await?
                .tokens
                .ok_or(TokenError::NotConnected)?;
            if latest != current && latest.is_fresh(Utc::now(), self.margin) {
                self.remember(&integration.secret_name, latest.clone());
                return Ok(latest);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(TokenError::Timeout);
            }
        }
    }

    async fn refresh_under_lease(
        &self,
        integration: &Integration,
        force: bool,
        seen: &TokenSet,
    ) -> Result<TokenSet, TokenError> {
        // Re-read both: another worker may have refreshed, or found the grant dead, while we
        // waited for the lease.
        let fresh_row = self
            .db
            .get_integration(&integration.tenant_id, &integration.id)
            .await?
            .ok_or(TokenError::NotConnected)?;
        refuse_if_unusable(&fresh_row)?;
        let mut secret = self.read_secret(integration).await?;
        let current = secret.tokens.clone().ok_or(TokenError::NotConnected)?;
        let someone_refreshed = &current != seen;
        if current.is_fresh(Utc::now(), self.margin) && (!force || someone_refreshed) {
            self.remember(&integration.secret_name, current.clone());
            return Ok(current);
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(self
                .needs_reauth(integration, "no refresh token is stored")
                .await);
        };
        let provider = self.providers.get(integration.provider);
        let new = match provider.refresh(&refresh_token).await {
            Ok(t) => t,
            Err(ProviderError::InvalidGrant(reason)) => {
                return Err(self
                    .needs_reauth(
                        integration,
                        &format!("the refresh token was rejected: {reason}"),
                    )
                    .await);
            }
            Err(e) => return Err(e.into()),
        };
        // The old refresh token is dead now: store the new pair before anything uses it.
        secret.tokens = Some(new.clone());
        self.vault.write(&integration.secret_name, &secret).await?;
        self.remember(&integration.secret_name, new.clone());
        if let Err(e) = self
            .db
            .record_refresh(
                &integration.tenant_id,
                &integration.id,
                new.expires_at,
                new.refresh_expires_at,
            )
            .await
        {
            tracing::warn!(integration = %integration.id, error = %e, "token refreshed but expiry not recorded");
        }
        tracing::info!(tenant = %integration.tenant_id, integration = %integration.id, provider = %integration.provider, "access token refreshed");
        crate::telemetry::emit(
            &[("TokenRefreshes", 1.0, crate::telemetry::Unit::Count)],
            &[("Provider", integration.provider.as_str())],
        );
        Ok(new)
    }

    async fn needs_reauth(&self, integration: &Integration, reason: &str) -> TokenError {
        tracing::warn!(tenant = %integration.tenant_id, integration = %integration.id, reason, "integration needs re-authorisation");
        let err = LastError {
            code: "refresh_token_rejected".into(),
            message: reason.to_string(),
            at: Utc::now(),
        };
        if let Err(e) = self
            .db
            .set_status(
                &integration.tenant_id,
                &integration.id,
                IntegrationStatus::NeedsReauth,
                Some(&err),
            )
            .await
        {
            tracing::error!(integration = %integration.id, error = %e, "could not record needs_reauth");
        }
        self.forget(&integration.secret_name);
        TokenError::NeedsReauth(reason.to_string())
    }

    async fn read_secret(&self, integration: &Integration) -> Result<TokenSecret, TokenError> {
        self.vault
            .read(&integration.secret_name)
            .await?
            .ok_or(TokenError::NotConnected)
    }
}

fn refuse_if_unusable(i: &Integration) -> Result<(), TokenError> {
    match i.status {
        IntegrationStatus::Connected => Ok(()),
        IntegrationStatus::NeedsReauth | IntegrationStatus::Revoked => {
            Err(TokenError::NeedsReauth(
                i.last_error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_else(|| format!("integration is {}", i.status.as_str())),
            ))
        }
        IntegrationStatus::Pending | IntegrationStatus::Disconnected => {
            Err(TokenError::NotConnected)
        }
    }
}
