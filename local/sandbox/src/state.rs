//! Shared state of a running sandbox: the OAuth store and the records tests inspect.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Company, ProviderKind, SandboxConfig};

/// State shared by every handler of one sandbox; cheap to inspect from tests through `Arc`.
#[derive(Debug)]
pub struct SandboxState {
    config: SandboxConfig,
    oauth: Mutex<OAuthStore>,
    records: Mutex<Records>,
}

/// One call to a token endpoint, successful or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRequestRecord {
    /// Provider whose token endpoint was called.
    pub provider: ProviderKind,
    /// The `grant_type` form field as sent (empty when missing or unreadable).
    pub grant_type: String,
    /// Whether tokens were issued.
    pub ok: bool,
    /// HTTP status of the answer.
    pub status: u16,
    /// OAuth error code of a failed request (`invalid_grant`, `invalid_client`, …).
    pub error: Option<String>,
    /// When the request was answered.
    pub at: DateTime<Utc>,
}

/// One HTTP request served under a provider prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Provider the request was addressed to.
    pub provider: ProviderKind,
    /// HTTP method.
    pub method: String,
    /// Path as the real provider would see it (without `/fortnox` or `/visma`, without query).
    pub path: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// When the request was answered.
    pub at: DateTime<Utc>,
}

/// One successful call to a revocation endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationRecord {
    /// Provider whose revocation endpoint was called.
    pub provider: ProviderKind,
    /// [`token_fingerprint`] of the token sent, never the token itself.
    pub token_fingerprint: String,
    /// Whether the token was a live refresh token that this call killed.
    pub was_active: bool,
    /// When the request was answered.
    pub at: DateTime<Utc>,
}

/// A short, stable, non-reversible name for a token or code, safe to log and compare.
pub fn token_fingerprint(token: &str) -> String {
    let mut hasher = DefaultHasher::new();
    "sandbox-token-fingerprint".hash(&mut hasher);
    token.hash(&mut hasher);
    format!("fp-{:016x}", hasher.finish())
}

/// What an issued code or token allows: who asked, for which company and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub provider: ProviderKind,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// [`Company::key`] of the company picked on the consent page.
    pub company_key: String,
    /// Every token descended from one consent shares this number.
    pub family: u64,
}

/// An authorize request waiting for the user's decision on the consent page.
#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    pub provider: ProviderKind,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub scopes: Vec<String>,
    pub service_account: bool,
    pub created: Instant,
}

/// An authorization code handed to the redirect URI.
#[derive(Debug, Clone)]
pub(crate) struct CodeEntry {
    pub grant: Grant,
    pub redirect_uri: String,
    pub expires: Instant,
    pub used: bool,
}

/// Life cycle of a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshStatus {
    Active,
    /// Exchanged once already (refresh tokens are single use on both providers).
    Spent,
    Revoked,
}

/// A refresh token and what it grants.
#[derive(Debug, Clone)]
pub(crate) struct RefreshEntry {
    pub grant: Grant,
    /// `None`: no age limit.
    pub expires: Option<Instant>,
    pub status: RefreshStatus,
}

/// An access token and what it grants.
#[derive(Debug, Clone)]
pub(crate) struct AccessEntry {
    pub grant: Grant,
    pub expires: Instant,
}

/// A Fortnox service-account consent: `client_credentials` with `TenantId` works for it.
#[derive(Debug, Clone)]
pub(crate) struct ServiceConsent {
    pub client_id: String,
    pub database_number: i64,
    pub grant: Grant,
}

/// Everything OAuth keeps; handlers lock it once per request so rotation is atomic.
#[derive(Debug, Default)]
pub(crate) struct OAuthStore {
    pub consents: HashMap<String, PendingConsent>,
    pub codes: HashMap<String, CodeEntry>,
    pub refresh_tokens: HashMap<String, RefreshEntry>,
    pub access_tokens: HashMap<String, AccessEntry>,
    pub service_consents: Vec<ServiceConsent>,
    pub next_family: u64,
}

#[derive(Debug, Default)]
struct Records {
    token_requests: Vec<TokenRequestRecord>,
    requests: Vec<RequestRecord>,
    revocations: Vec<RevocationRecord>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked mid-update leaves plain data behind; keep serving it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SandboxState {
    /// Fresh state for `config`, with no consents, codes or tokens.
    pub fn new(config: SandboxConfig) -> Self {
        SandboxState {
            config,
            oauth: Mutex::new(OAuthStore::default()),
            records: Mutex::new(Records::default()),
        }
    }

    /// The configuration this sandbox runs with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Every token endpoint call so far, oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequestRecord> {
        lock(&self.records).token_requests.clone()
    }

    /// Number of `grant_type=refresh_token` calls to `provider`, successful or not.
    pub fn refresh_count(&self, provider: ProviderKind) -> usize {
        lock(&self.records)
            .token_requests
            .iter()
            .filter(|r| r.provider == provider && r.grant_type == "refresh_token")
            .count()
    }

    /// Every request served under `/fortnox` or `/visma`, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.records).requests.clone()
    }

    /// Every successful revocation call, oldest first.
    pub fn revocations(&self) -> Vec<RevocationRecord> {
        lock(&self.records).revocations.clone()
    }

    /// Whether `refresh_token` would be accepted by a refresh grant right now.
    pub fn is_refresh_token_active(&self, refresh_token: &str) -> bool {
        let now = Instant::now();
        lock(&self.oauth)
            .refresh_tokens
            .get(refresh_token)
            .is_some_and(|entry| {
                entry.status == RefreshStatus::Active && entry.expires.is_none_or(|e| now < e)
            })
    }

    /// Marks every access token issued so far as expired; returns how many were live.
    pub fn expire_access_tokens(&self) -> usize {
        let now = Instant::now();
        let mut store = lock(&self.oauth);
        let mut live = 0;
        for entry in store.access_tokens.values_mut() {
            if now < entry.expires {
                live += 1;
            }
            entry.expires = now;
        }
        live
    }

    /// Kills every live refresh token of `provider`, as a password change or a revoked app
    /// would; returns how many died.
    pub fn invalidate_refresh_tokens(&self, provider: ProviderKind) -> usize {
        let mut store = lock(&self.oauth);
        let mut killed = 0;
        for entry in store.refresh_tokens.values_mut() {
            if entry.grant.provider == provider && entry.status == RefreshStatus::Active {
                entry.status = RefreshStatus::Revoked;
                killed += 1;
            }
        }
        killed
    }

    /// Forgets the recorded requests, token requests and revocations (tokens stay valid).
    pub fn clear_records(&self) {
        let mut records = lock(&self.records);
        records.token_requests.clear();
        records.requests.clear();
        records.revocations.clear();
    }

    /// The company `key` ([`Company::key`]) of `provider`, if configured.
    pub fn company(&self, provider: ProviderKind, key: &str) -> Option<&Company> {
        self.config
            .companies(provider)
            .iter()
            .find(|c| c.key(provider) == key)
    }

    pub(crate) fn oauth(&self) -> MutexGuard<'_, OAuthStore> {
        lock(&self.oauth)
    }

    pub(crate) fn record_token_request(&self, record: TokenRequestRecord) {
        lock(&self.records).token_requests.push(record);
    }

    pub(crate) fn record_request(&self, record: RequestRecord) {
        lock(&self.records).requests.push(record);
    }

    pub(crate) fn record_revocation(&self, record: RevocationRecord) {
        lock(&self.records).revocations.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_hides_the_token() {
        let a = token_fingerprint("secret-refresh-token");
        assert_eq!(a, token_fingerprint("secret-refresh-token"));
        assert_ne!(a, token_fingerprint("other-token"));
        assert!(!a.contains("secret"));
    }
}
