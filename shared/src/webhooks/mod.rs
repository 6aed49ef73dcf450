//! Signed webhooks: providers and our relays tell us that something changed; we verify the
//! signature over the raw body, drop replays, answer fast and queue the targeted work.
//!
//! - [`receive`] serves `POST /api/integrations/{id}/webhook` (a public function URL).
//! - [`rotate_key`] issues a new signing key and retires the old ones after a grace period.
//!
//! The pure rules live in [`signature`], [`event`] and [`keys`]; see `docs/webhooks.md`.

pub mod event;
pub mod keys;
pub mod migrate;
pub mod rotate;
pub mod settings;
pub mod signature;

pub use event::{parse_event, Event, EventError, EventType};
pub use rotate::{rotate_key, RetiringKey, RotateError, RotateRequest, RotatedKey, MAX_GRACE};
pub use settings::WebhookSettings;
pub use signature::{Scheme, VerifyError};

use crate::api::Problem;
use crate::domain::{IntegrationStatus, LastError, TenantId, WebhookKey, WebhookSecret};
use crate::store::StoreError;
use crate::AppContext;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest body accepted (larger ones are refused before anything else is done).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A cached key set that fails a signature is read again, but not more often than this: a
/// flood of bad signatures must not become a flood of Secrets Manager reads.
const KEY_REFRESH_MIN: Duration = Duration::from_secs(1);

/// Most integrations a container keeps keys for.
const KEY_CACHE_MAX: usize = 10_000;

/// What a verified delivery led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A targeted job was queued.
    Enqueued {
        /// The event.
        event_id: String,
        /// The job.
        job_id: String,
    },
    /// The integration was marked `revoked`.
    Revoked {
        /// The event.
        event_id: String,
    },
    /// Accepted, and deliberately nothing done.
    Ignored {
        /// The event.
        event_id: String,
        /// Why, for the sender.
        reason: String,
    },
    /// This event was received before: nothing done again.
    Duplicate {
        /// The event.
        event_id: String,
    },
}

/// Why a delivery was not verified. Only for the log: the caller sees one 401 for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    /// No integration with that id (or it has no owner item).
    #[error("unknown integration")]
    UnknownIntegration,
    /// The integration has no webhook secret (disconnected, or legacy keys not yet migrated).
    #[error("integration has no webhook secret")]
    NoSecret,
    /// The signature did not check out.
    #[error("{0}")]
    Signature(#[from] VerifyError),
}

/// A delivery that was not acted on.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Not verified (401, the same answer whatever the reason).
    #[error("not verified: {0}")]
    Unauthorized(Unverified),
    /// Verified, but not an event we can act on (400 or 422).
    #[error(transparent)]
    Event(#[from] EventError),
    /// Storage failed (500; the sender should retry).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReceiveError> for Problem {
    fn from(e: ReceiveError) -> Self {
        match e {
            ReceiveError::Unauthorized(_) => unauthorized(),
            ReceiveError::Event(EventError::Malformed(detail)) => Problem::bad_request(detail),
            ReceiveError::Event(EventError::UnknownType(t)) => Problem::new(
                422,
                "unknown-event-type",
                "Unknown event type",
                format!("unknown event type `{t}`; see `known_types`"),
            )
            .with("event_type", t)
            .with(
                "known_types",
                EventType::ALL
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>(),
            ),
            ReceiveError::Event(EventError::Invalid { field, detail }) => {
                Problem::new(422, "invalid-event", "Invalid event", detail).with("field", field)
            }
            ReceiveError::Store(s) => Problem::internal(s),
        }
    }
}

/// The one answer to every delivery that is not verified, whatever the reason, so a caller
/// cannot tell whether an integration exists.
pub fn unauthorized() -> Problem {
    Problem::new(
        401,
        "webhook-signature",
        "Signature not accepted",
        "the delivery could not be verified: sign the raw body with the integration's current \
         webhook key as docs/webhooks.md describes",
    )
}

/// What verifying an integration's deliveries needs.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Owner of the integration.
    pub tenant_id: TenantId,
    /// How its deliveries are signed.
    pub scheme: Scheme,
    /// Its keys, newest first, retiring ones included.
    pub keys: Vec<WebhookKey>,
    /// The newest key id the owner item named when these keys were read.
    pub keys_mark: Option<String>,
}

/// Keys read from Secrets Manager, kept briefly per container. A cached set that fails is
/// read again (at most once a second), so a rotation takes effect at once everywhere.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Arc<Signer>, Instant)>>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, integration_id: &str, ttl: Duration) -> Option<(Arc<Signer>, Duration)> {
        let entries = self.entries.lock().ok()?;
        let (signer, at) = entries.get(integration_id)?;
        let age = at.elapsed();
        (age < ttl).then(|| (signer.clone(), age))
    }

    fn put(&self, integration_id: &str, signer: Arc<Signer>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(integration_id.to_string(), (signer, Instant::now()));
        }
    }

    /// Drops what is cached for an integration.
    pub fn forget(&self, integration_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(integration_id);
        }
    }
}

/// Whether `id` can be an integration id at all (ours are UUIDs); anything else is not
/// looked up.
pub fn plausible_integration_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Serves one delivery to integration `integration_id`: verifies `body` (the raw bytes as
/// received) against the integration's keys, then parses it, drops a replay, and acts:
/// a data event queues a targeted pull, `consent.revoked` marks the integration revoked.
/// Never calls the provider.
pub async fn receive(
    ctx: &AppContext,
    cache: &KeyCache,
    integration_id: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Outcome, ReceiveError> {
    let signer = verify(ctx, cache, integration_id, headers, body).await?;
    let event = parse_event(body)?;
    let integration = ctx
        .db
        .get_integration(&signer.tenant_id, integration_id)
        .await?
        .ok_or(ReceiveError::Unauthorized(Unverified::UnknownIntegration))?;
    if integration.status == IntegrationStatus::Disconnected {
        // Its keys were deleted with its secret; a container that still has them cached
        // answers as if they were gone already.
        cache.forget(integration_id);
        return Err(ReceiveError::Unauthorized(Unverified::NoSecret));
    }
    let outcome = act(ctx, &integration, &event).await?;
    tracing::info!(
        tenant = %integration.tenant_id,
        integration = %integration.id,
        event = %event.id,
        event_type = event.kind.as_str(),
        outcome = ?outcome,
        "webhook received"
    );
    Ok(outcome)
}

async fn verify(
    ctx: &AppContext,
    cache: &KeyCache,
    integration_id: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Arc<Signer>, ReceiveError> {
    let settings = &ctx.config.webhook;
    let check = |signer: &Signer| {
        check_signature(
            signer,
            headers,
            body,
            Utc::now(),
            &settings.visma_signature_header,
            settings.tolerance.as_secs() as i64,
        )
    };
    let reject = |why: Unverified| {
        // Never the key, the signature or the body: the id and the reason only.
        tracing::info!(integration = %integration_id, reason = %why, "webhook rejected");
        ReceiveError::Unauthorized(why)
    };
    if !plausible_integration_id(integration_id) {
        return Err(reject(Unverified::UnknownIntegration));
    }
    let mut owner = None;
    if let Some((signer, age)) = cache.get(integration_id, settings.key_cache_ttl) {
        match check(&signer) {
            Ok(()) => return Ok(signer),
            Err(e) if age < KEY_REFRESH_MIN => {
                // Read again within a second of the last read only after a rotation, which
                // the owner item (a DynamoDB read, not a Secrets Manager one) tells: the
                // container that served the rotation's first delivery accepts the new key at
                // once, and bad signatures still never flood Secrets Manager.
                let current = ctx.db.integration_owner(integration_id).await?;
                let rotated = current.as_ref().is_some_and(|o| {
                    o.webhook_keys.is_some() && o.webhook_keys != signer.keys_mark
                });
                if !rotated {
                    return Err(reject(e.into()));
                }
                owner = current;
            }
            // The keys may have been rotated since they were cached: read them again.
            Err(_) => {}
        }
    }
    let owner = match owner {
        Some(o) => Some(o),
        None => ctx.db.integration_owner(integration_id).await?,
    };
    let signer = Arc::new(
        load_signer(ctx, integration_id, owner)
            .await?
            .map_err(reject)?,
    );
    if !settings.key_cache_ttl.is_zero() {
        cache.put(integration_id, signer.clone());
    }
    check(&signer).map_err(|e| reject(e.into()))?;
    Ok(signer)
}

async fn load_signer(
    ctx: &AppContext,
    integration_id: &str,
    owner: Option<crate::store::dynamo::IntegrationOwner>,
) -> Result<Result<Signer, Unverified>, StoreError> {
    let Some(owner) = owner else {
        return Ok(Err(Unverified::UnknownIntegration));
    };
    // The webhook secret only: this public function has no access to the token secrets.
    let name = ctx
        .config
        .webhook
        .secret_name(&owner.tenant_id, integration_id);
    let Some(secret) = ctx.vault.read::<WebhookSecret>(&name).await? else {
        return Ok(Err(Unverified::NoSecret));
    };
    Ok(Ok(Signer {
        tenant_id: owner.tenant_id,
        scheme: scheme_of(ctx, owner.webhook_scheme.as_deref()),
        keys: secret.keys,
        keys_mark: owner.webhook_keys,
    }))
}

pub(crate) fn scheme_of(ctx: &AppContext, stored: Option<&str>) -> Scheme {
    stored
        .and_then(|s| s.parse().ok())
        .unwrap_or(ctx.config.webhook.default_scheme)
}

/// Checks a delivery's signature against the signer's keys accepted at `now`.
pub fn check_signature(
    signer: &Signer,
    headers: &http::HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
    visma_header: &str,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let accepted = keys::accepted(&signer.keys, now);
    let raw: Vec<&[u8]> = accepted.iter().map(|k| k.key.expose().as_bytes()).collect();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match signer.scheme {
        Scheme::Ours => signature::verify_ours(
            header(signature::OUR_HEADER),
            body,
            &raw,
            now.timestamp(),
            tolerance_seconds,
        ),
        Scheme::VismaPortal => signature::verify_visma(header(visma_header), body, &raw),
    }
    .map(|_| ())
}

async fn act(
    ctx: &AppContext,
    integration: &crate::domain::Integration,
    event: &Event,
) -> Result<Outcome, ReceiveError> {
    let event_id = event.id.clone();
    let ignored = |reason: String| {
        Ok(Outcome::Ignored {
            event_id: event_id.clone(),
            reason,
        })
    };
    match event.kind {
        EventType::ConsentCreated => {
            return ignored("consent is completed through the connect flow; nothing to do".into())
        }
        EventType::ConsentRevoked => {
            // A revocation older than the latest consent is stale (a late or replayed
            // delivery): the tenant has connected again since.
            if let (Some(at), Some(connected)) = (event.occurred_at, integration.connected_at) {
                if at < connected {
                    return ignored("consent was given again after this revocation".into());
                }
            }
        }
        _ => {
            if integration.status != IntegrationStatus::Connected {
                return ignored(format!(
                    "the integration is {}; it catches up when it is connected again",
                    integration.status.as_str()
                ));
            }
        }
    }

    let expires_at = Utc::now()
        + chrono::Duration::from_std(ctx.config.webhook.replay_ttl)
            .unwrap_or(chrono::Duration::days(7));
    if !ctx
        .db
        .record_webhook_event(&integration.id, &event.id, event.kind.as_str(), expires_at)
        .await?
    {
        return Ok(Outcome::Duplicate { event_id });
    }
    let done = match event.job_request() {
        Some(request) => crate::jobs::enqueue(ctx, integration, &request)
            .await
            .map(|job| Outcome::Enqueued {
                event_id: event_id.clone(),
                job_id: job.id,
            }),
        None => {
            let reason = LastError {
                code: "consent_revoked".into(),
                message: "the accounting system reports that the consent was withdrawn; \
                          connect again to resume syncing"
                    .into(),
                at: Utc::now(),
            };
            match ctx
                .db
                .set_status(
                    &integration.tenant_id,
                    &integration.id,
                    IntegrationStatus::Revoked,
                    Some(&reason),
                )
                .await
            {
                // Disconnected meanwhile: nothing left to revoke.
                Ok(()) | Err(StoreError::Conflict(_)) => Ok(Outcome::Revoked {
                    event_id: event_id.clone(),
                }),
                Err(e) => Err(e),
            }
        }
    };
    match done {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // Unrecord the event so that the sender's retry is acted on, not dropped as a
            // replay.
            if let Err(forget) = ctx
                .db
                .forget_webhook_event(&integration.id, &event.id)
                .await
            {
                tracing::error!(integration = %integration.id, event = %event.id, error = %forget, "could not unrecord a webhook event that failed");
            }
            Err(e.into())
        }
    }
}
