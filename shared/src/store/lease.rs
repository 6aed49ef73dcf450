//! The leases on an integration's two secrets. The token secret and the webhook key secret both
//! rotate: whoever reads, changes and writes one holds its lease, so no writer loses another's
//! change. The token secret's lease is taken by a token refresh, a completed consent and the
//! migration of legacy webhook keys out of it; the webhook secret's by a key rotation. The
//! lease items are the generic one of [`Db::try_lease`] under a purpose of their own.

use super::{Db, StoreError};
use crate::domain::TenantId;
use std::time::Duration;

/// The purpose the token secret's lease is stored under (`sk = LEASE#<integration>#token-refresh`).
const SECRET_LEASE: &str = "token-refresh";

/// The purpose the webhook secret's lease is stored under (`sk = LEASE#<integration>#webhook-keys`).
const WEBHOOK_KEYS_LEASE: &str = "webhook-keys";

impl Db {
    /// Tries once to take the lease on the integration's token secret for `ttl`. `false` when someone
    /// else holds it.
    pub async fn try_secret_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.try_lease(tenant, integration_id, SECRET_LEASE, owner, ttl)
            .await
    }

    /// Takes the lease on the integration's token secret, waiting up to `wait` for its holder.
    /// `false` when it stayed taken.
    pub async fn acquire_secret_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        owner: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<bool, StoreError> {
        self.acquire_lease(tenant, integration_id, SECRET_LEASE, owner, ttl, wait)
            .await
    }

    /// Releases the lease on the integration's token secret if `owner` still holds it.
    pub async fn release_secret_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.release_lease(tenant, integration_id, SECRET_LEASE, owner)
            .await
    }

    /// Takes the lease on the integration's webhook key secret, waiting up to `wait` for its
    /// holder. `false` when it stayed taken.
    pub async fn acquire_webhook_keys_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        owner: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<bool, StoreError> {
        self.acquire_lease(tenant, integration_id, WEBHOOK_KEYS_LEASE, owner, ttl, wait)
            .await
    }

    /// Releases the lease on the integration's webhook key secret if `owner` still holds it.
    pub async fn release_webhook_keys_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.release_lease(tenant, integration_id, WEBHOOK_KEYS_LEASE, owner)
            .await
    }
}
