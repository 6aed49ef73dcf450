//! How signed webhooks behave: read once per container into the configuration.

use super::signature::Scheme;
use crate::domain::TenantId;
use std::time::Duration;

/// Signed webhooks (see `docs/webhooks.md`).
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Public base URL deliveries are posted to (the webhook function's URL), without a
    /// trailing slash; `None` when not configured, and then no webhook URL is shown.
    pub base_url: Option<String>,
    /// Prefix of the webhook key secrets (`{prefix}/{tenant}/{integration}`), apart from the
    /// token secrets' prefix so that IAM can grant one without the other.
    pub secret_prefix: String,
    /// The signature scheme of integrations that did not choose one.
    pub default_scheme: Scheme,
    /// The header that carries a Visma-portal-style signature.
    pub visma_signature_header: String,
    /// How far a signed timestamp may be from now, either way.
    pub tolerance: Duration,
    /// How long a rotated-out key stays accepted, unless the rotation says otherwise.
    pub rotation_grace: Duration,
    /// How long a received event id is remembered to drop replays.
    pub replay_ttl: Duration,
    /// How long a container trusts the keys it read (a key that fails is read again sooner).
    pub key_cache_ttl: Duration,
}

impl WebhookSettings {
    /// Name of the secret holding an integration's signing keys.
    pub fn secret_name(&self, tenant: &TenantId, integration_id: &str) -> String {
        crate::domain::integration::secret_name(&self.secret_prefix, tenant, integration_id)
    }

    /// The URL senders post the integration's deliveries to.
    pub fn url_for(&self, integration_id: &str) -> Option<String> {
        self.base_url
            .as_ref()
            .map(|b| format!("{b}/api/integrations/{integration_id}/webhook"))
    }
}
