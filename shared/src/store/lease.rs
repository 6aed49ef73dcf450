//! The lease on an integration's secret. The secret holds the tokens and the webhook keys, and
//! both rotate: whoever reads, changes and writes it (a token refresh, a completed consent, a
//! key rotation) holds this one lease, so no writer loses another's change. The lease item is
//! the generic one of [`Db::try_lease`] under a purpose of its own.

use super::{Db, StoreError};
use crate::domain::TenantId;
use std::time::Duration;

/// The purpose the secret lease is stored under (`sk = LEASE#<integration>#token-refresh`; the
/// name predates the webhook keys and is kept so that running containers agree).
const SECRET_LEASE: &str = "token-refresh";

impl Db {
    /// Tries once to take the lease on the integration's secret for `ttl`. `false` when someone
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

    /// Takes the lease on the integration's secret, waiting up to `wait` for its holder.
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

    /// Releases the lease on the integration's secret if `owner` still holds it.
    pub async fn release_secret_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.release_lease(tenant, integration_id, SECRET_LEASE, owner)
            .await
    }
}
