//! Access tokens that never race.
//!
//! Both providers rotate refresh tokens: every refresh returns a new refresh token and kills
//! the old one, and Fortnox warns that parallel refreshes invalidate tokens. So exactly one
//! worker refreshes an integration at a time: it takes a short lease in DynamoDB, re-reads the
//! secret (someone may have refreshed already), refreshes, stores the new pair, and only then
//! uses it. Everyone else waits for the holder and reads the new pair from the secret.
//!
//! A refresh token is sent again only when the provider said it did not use it (a 5xx or 429
//! answer, or no connection at all); after a request whose answer was lost it is never sent
//! again, and the integration needs a person (`refresh_answer_lost`). A REST 401 replaces the
//! refused access token with at most one refresh, however many callers saw it refused. See
//! docs/design.md, "A refresh token is sent again only when the provider said it did not use
//! it".
//!
//! A service account (Fortnox, `ConnectionMode::Service`) has no refresh token: the lease
//! holder fetches a new access token by client credentials for the company's tenant id
//! instead, so two callers that find the token near expiry still cause one token request.

use crate::domain::{
    ConnectionMode, Integration, IntegrationStatus, LastError, Secret, TokenSecret, TokenSet,
};
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

/// Attempts of one refresh when the provider answers that it failed or cannot be reached
/// (never after a lost answer: see `TokenManager::spend`).
const REFRESH_ATTEMPTS: u32 = 3;

/// The part of the refresh lease kept back when storing a new pair is tried again.
const STORE_MARGIN: Duration = Duration::from_secs(5);

/// A token refreshed because its predecessor was refused, and refused itself within this
/// long, is not refreshed again.
const REFUSAL_WINDOW_MINUTES: i64 = 10;

/// What a caller needs of the stored tokens.
#[derive(Clone, Copy)]
enum Want<'a> {
    /// An access token with more than the margin left.
    Fresh,
    /// A new pair, whatever the stored one (the scheduler's keep-alive); a pair someone else
    /// stored meanwhile counts.
    Forced,
    /// A fresh access token other than this refused one.
    Replacing(&'a Secret),
}

impl Want<'_> {
    /// Whether `t` serves without a refresh of our own.
    fn met_by(&self, t: &TokenSet, now: chrono::DateTime<Utc>, margin: chrono::Duration) -> bool {
        match self {
            Want::Fresh => t.is_fresh(now, margin),
            Want::Forced => false,
            Want::Replacing(refused) => &t.access_token != *refused && t.is_fresh(now, margin),
        }
    }
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
        self.fresh_tokens(integration, Want::Fresh)
            .await
            .map(|t| t.access_token)
    }

    /// Refreshes now even if the access token is still valid (the scheduler uses this to keep
    /// refresh tokens alive: Fortnox's die after 45 days unused).
    pub async fn refresh_now(&self, integration: &Integration) -> Result<TokenSet, TokenError> {
        self.fresh_tokens(integration, Want::Forced).await
    }

    /// A replacement for an access token the provider refused (a REST 401): at most one
    /// refresh per refused token. When the stored token is no longer `refused`, someone
    /// refreshed already and the stored one is handed out. A token that was itself refreshed
    /// because its predecessor was refused, and is refused within minutes, is not refreshed
    /// again: the integration needs a person (`access_token_refused`).
    pub async fn replace_refused(
        &self,
        integration: &Integration,
        refused: &Secret,
    ) -> Result<TokenSet, TokenError> {
        self.forget_if(&integration.secret_name, refused);
        self.fresh_tokens(integration, Want::Replacing(refused))
            .await
    }

    fn forget_if(&self, secret_name: &str, refused: &Secret) {
        if let Ok(mut c) = self.cache.lock() {
            if c.get(secret_name)
                .is_some_and(|t| &t.access_token == refused)
            {
                c.remove(secret_name);
            }
        }
    }

    async fn fresh_tokens(
        &self,
        integration: &Integration,
        want: Want<'_>,
    ) -> Result<TokenSet, TokenError> {
        refuse_if_unusable(integration)?;
        let now = Utc::now();
        let secret = self.read_secret(integration).await?;
        let current = secret.tokens.clone().ok_or(TokenError::NotConnected)?;
        if want.met_by(&current, now, self.margin) {
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
                let outcome = self.refresh_under_lease(integration, want, &current).await;
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
            let refused_again = matches!(want, Want::Replacing(r) if &latest.access_token == r);
            if latest != current && latest.is_fresh(Utc::now(), self.margin) && !refused_again {
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
        want: Want<'_>,
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
        let now = Utc::now();
        let someone_refreshed = &current != seen;
        if want.met_by(&current, now, self.margin)
            || (someone_refreshed
                && matches!(want, Want::Forced)
                && current.is_fresh(now, self.margin))
        {
            self.remember(&integration.secret_name, current.clone());
            return Ok(current);
        }
        if let Want::Replacing(refused) = want {
            let recently = current
                .refreshed_for_refusal_at
                .is_some_and(|at| now - at < chrono::Duration::minutes(REFUSAL_WINDOW_MINUTES));
            if &current.access_token == refused && recently {
                return Err(self
                    .needs_reauth(
                        integration,
                        "access_token_refused",
                        "the provider refused the access token it issued in a refresh made \
                         because the previous one was refused; not refreshing again",
                    )
                    .await);
            }
        }
        let mut new = match fresh_row.mode {
            ConnectionMode::Service => self.fetch_service_token(&fresh_row).await?,
            ConnectionMode::User => {
                let Some(refresh_token) = current.refresh_token.clone() else {
                    return Err(self
                        .needs_reauth(
                            integration,
                            "refresh_token_rejected",
                            "no refresh token is stored",
                        )
                        .await);
                };
                self.spend(integration, &refresh_token).await?
            }
        };
        if matches!(want, Want::Replacing(_)) {
            new.refreshed_for_refusal_at = Some(Utc::now());
        }
        // The old refresh token is dead now: store the new pair before anything uses it. A
        // failed write is tried again (beyond the SDK's own retries) while the lease holds:
        // given up, the next caller would send the spent token and the provider end the grant.
        secret.tokens = Some(new.clone());
        let until = tokio::time::Instant::now() + self.lease_ttl.saturating_sub(STORE_MARGIN);
        let mut pause = Duration::from_millis(200);
        loop {
            match self.vault.write(&integration.secret_name, &secret).await {
                Ok(()) => break,
                Err(e) if tokio::time::Instant::now() + pause < until => {
                    tracing::warn!(integration = %integration.id, error = %e, "could not store the refreshed tokens; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(4));
                }
                Err(e) => return Err(e.into()),
            }
        }
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
        tracing::info!(tenant = %integration.tenant_id, integration = %integration.id, provider = %integration.provider, mode = %fresh_row.mode, "access token refreshed");
        crate::telemetry::emit(
            &[("TokenRefreshes", 1.0, crate::telemetry::Unit::Count)],
            &[("Provider", integration.provider.as_str())],
        );
        Ok(new)
    }

    /// Sends the refresh token, at most once unless the provider said it did not apply it.
    ///
    /// Both providers rotate refresh tokens, and a provider that detects reuse revokes the
    /// whole grant. So the token is sent again only after an answer that says the refresh
    /// failed (5xx, 429) or when no connection could be made; after a request whose answer
    /// was lost (timeout, dropped connection) it is never sent again: the provider may have
    /// spent it, and the integration needs a person (`refresh_answer_lost`). A provider that
    /// answered 500 to a refresh it had applied shows it by refusing the resent token as
    /// spent; that too ends in `refresh_answer_lost`.
    async fn spend(
        &self,
        integration: &Integration,
        refresh_token: &Secret,
    ) -> Result<TokenSet, TokenError> {
        let provider = self.providers.get(integration.provider);
        let started = tokio::time::Instant::now();
        let mut failed_answer: Option<String> = None;
        let mut attempt = 1;
        loop {
            let err = match provider.refresh(refresh_token).await {
                Ok(t) => return Ok(t),
                Err(e) => e,
            };
            match err {
                ProviderError::InvalidGrant(reason) => {
                    let (code, message) = match &failed_answer {
                        Some(earlier) => (
                            "refresh_answer_lost",
                            format!(
                                "the refresh answer was lost: the provider answered {earlier}, \
                                 then refused the same refresh token as spent ({reason})"
                            ),
                        ),
                        None => (
                            "refresh_token_rejected",
                            format!("the refresh token was rejected: {reason}"),
                        ),
                    };
                    return Err(self.needs_reauth(integration, code, &message).await);
                }
                ProviderError::AnswerLost(why) => {
                    let message = format!(
                        "the refresh answer was lost ({why}); the provider may have spent \
                         the refresh token, and sending it again would be a reuse"
                    );
                    return Err(self
                        .needs_reauth(integration, "refresh_answer_lost", &message)
                        .await);
                }
                e if e.is_retryable()
                    && attempt < REFRESH_ATTEMPTS
                    && started.elapsed() < self.lease_ttl / 2 =>
                {
                    tracing::warn!(integration = %integration.id, attempt, error = %e, "token refresh failed; trying again");
                    if let ProviderError::Transient(answer) = &e {
                        failed_answer = Some(answer.clone());
                    }
                    let pause = 250 * u64::from(attempt) + rand::rng().random_range(0..100);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    attempt += 1;
                }
                e => return Err(e.into()),
            }
        }
    }

    /// A new access token for a service account by client credentials. Nothing is spent by
    /// such a request, so any failure that may pass, a lost answer included, is tried again
    /// (three attempts in all, within half the lease); a refusal means the company's consent
    /// is gone (or our client is wrong): the integration needs a person.
    async fn fetch_service_token(&self, integration: &Integration) -> Result<TokenSet, TokenError> {
        let Some(tenant) = integration.service_tenant_id.as_deref() else {
            return Err(self
                .needs_reauth(
                    integration,
                    "service_tenant_unknown",
                    "the service account's company tenant id is not stored",
                )
                .await);
        };
        let provider = self.providers.get(integration.provider);
        let started = tokio::time::Instant::now();
        let mut attempt = 1;
        loop {
            let err = match provider.service_token(tenant).await {
                Ok(t) => return Ok(t),
                Err(e) => e,
            };
            match err {
                ProviderError::InvalidGrant(reason) | ProviderError::InvalidClient(reason) => {
                    let message = format!(
                        "the provider refused a service-account token for tenant {tenant} \
                         ({reason}); the company's consent may have been removed"
                    );
                    return Err(self
                        .needs_reauth(integration, "service_consent_refused", &message)
                        .await);
                }
                e if (e.is_retryable() || matches!(e, ProviderError::AnswerLost(_)))
                    && attempt < REFRESH_ATTEMPTS
                    && started.elapsed() < self.lease_ttl / 2 =>
                {
                    tracing::warn!(integration = %integration.id, attempt, error = %e, "service-account token request failed; trying again");
                    let pause = 250 * u64::from(attempt) + rand::rng().random_range(0..100);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    attempt += 1;
                }
                e => return Err(e.into()),
            }
        }
    }

    async fn needs_reauth(
        &self,
        integration: &Integration,
        code: &str,
        reason: &str,
    ) -> TokenError {
        tracing::warn!(tenant = %integration.tenant_id, integration = %integration.id, code, reason, "integration needs re-authorisation");
        let err = LastError {
            code: code.into(),
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
