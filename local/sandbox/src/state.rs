//! Shared state of a running sandbox: the OAuth store and the records tests inspect.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::{Company, SandboxConfig};
use crate::contract::{load_contract, Contract, ContractError, ContractViolation};
use crate::faults::{Decision, FaultConfig, FaultState, InjectedFault};
use crate::oauth::grants::{mint_access_token, OAuthStore, RefreshStatus};
use crate::provider::ProviderKind;
use crate::ratelimit::RateLimits;
use crate::store::RestStore;
use crate::stream::{StreamEvent, StreamLog};

/// State shared by every handler of one sandbox; cheap to inspect from tests through `Arc`.
#[derive(Debug)]
pub struct SandboxState {
    config: SandboxConfig,
    oauth: Mutex<OAuthStore>,
    records: Mutex<Records>,
    rest: Mutex<RestStore>,
    faults: Mutex<FaultState>,
    limits: Mutex<RateLimits>,
    contracts: [Contract; 2],
    violations: Mutex<Vec<ContractViolation>>,
    stream: Mutex<StreamLog>,
    /// Bumped after events are appended; each stream connection watches it.
    stream_changed: tokio::sync::watch::Sender<u64>,
    /// Set when the sandbox shuts down: stream connections close.
    stream_closing: tokio::sync::watch::Sender<bool>,
}

/// The REST data under its lock; when dropped, the changes the Fortnox data noted are
/// appended to the stream (still under the lock, so events follow the order of changes).
pub(crate) struct RestGuard<'a> {
    guard: MutexGuard<'a, RestStore>,
    state: &'a SandboxState,
}

impl Deref for RestGuard<'_> {
    type Target = RestStore;
    fn deref(&self) -> &RestStore {
        &self.guard
    }
}

impl DerefMut for RestGuard<'_> {
    fn deref_mut(&mut self) -> &mut RestStore {
        &mut self.guard
    }
}

impl Drop for RestGuard<'_> {
    fn drop(&mut self) {
        let mut appended = 0;
        for (key, data) in self.guard.fortnox.iter_mut() {
            let changes = data.take_changes();
            if changes.is_empty() {
                continue;
            }
            let Ok(tenant) = key.parse::<i64>() else {
                continue;
            };
            appended += lock(&self.state.stream).append(tenant, changes);
        }
        if appended > 0 {
            self.state.stream_changed.send_modify(|n| *n += 1);
        }
    }
}

/// One call to a token endpoint, successful or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRequestRecord {
    /// Provider whose token endpoint was called.
    pub provider: ProviderKind,
    /// The `grant_type` form field as sent (empty when missing or unreadable).
    pub grant_type: String,
    /// The `TenantId` header as sent (Fortnox client credentials), when there was one.
    pub tenant_id: Option<String>,
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
    /// Raw query string of a REST request (`/3/…`, `/v2/…`); never kept for OAuth paths.
    pub query: Option<String>,
    /// HTTP status of the answer; 0 when the connection was dropped without an answer.
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

#[derive(Debug, Default)]
struct Records {
    token_requests: Vec<TokenRequestRecord>,
    requests: Vec<RequestRecord>,
    revocations: Vec<RevocationRecord>,
    sends: Vec<SendRecord>,
}

/// One invoice sent to its customer through a provider's send action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendRecord {
    /// Provider.
    pub provider: ProviderKind,
    /// Company key.
    pub company: String,
    /// The invoice (Fortnox `DocumentNumber`, Visma `Id`).
    pub invoice: String,
    /// `email`, `einvoice`, `eprint`, `print` (Fortnox); `email`, `einvoice:<SendType>`
    /// (Visma).
    pub method: String,
    /// Where an e-mail went.
    pub to: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked mid-update leaves plain data behind; keep serving it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SandboxState {
    /// Fresh state for `config`, with no consents, codes, tokens or REST data.
    ///
    /// # Panics
    /// When a contract document of `config.contracts` cannot be loaded; [`Self::try_new`]
    /// (and [`crate::start`]) return that as an error instead.
    pub fn new(config: SandboxConfig) -> Self {
        match Self::try_new(config) {
            Ok(state) => state,
            Err(e) => panic!("sandbox: {e}"),
        }
    }

    /// Fresh state for `config`; fails when a contract document is unusable.
    pub fn try_new(config: SandboxConfig) -> Result<Self, ContractError> {
        let contracts = [
            load_contract(ProviderKind::Fortnox, &config.contracts.fortnox)?,
            load_contract(ProviderKind::Visma, &config.contracts.visma)?,
        ];
        Ok(SandboxState {
            oauth: Mutex::new(OAuthStore::default()),
            records: Mutex::new(Records::default()),
            rest: Mutex::new(RestStore::default()),
            faults: Mutex::new(FaultState::default()),
            limits: Mutex::new(RateLimits::default()),
            contracts,
            violations: Mutex::new(Vec::new()),
            stream: Mutex::new(StreamLog::new(config.stream_retention)),
            stream_changed: tokio::sync::watch::Sender::new(0),
            stream_closing: tokio::sync::watch::Sender::new(false),
            config,
        })
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

    /// Every invoice sent through a send action, oldest first (kept by `clear_records`).
    pub fn sends(&self) -> Vec<SendRecord> {
        lock(&self.records).sends.clone()
    }

    pub(crate) fn record_send(&self, record: SendRecord) {
        lock(&self.records).sends.push(record);
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

    /// Withdraws every Fortnox service-account consent for the company `database_number`, as
    /// its administrator removing the integration in Fortnox would: client credentials for it
    /// are refused from then on and its access tokens stop working. Returns how many there were.
    pub fn withdraw_service_consents(&self, database_number: i64) -> usize {
        let now = Instant::now();
        let mut store = lock(&self.oauth);
        let before = store.service_consents.len();
        let mut families = Vec::new();
        store.service_consents.retain(|s| {
            let gone = s.database_number == database_number;
            if gone {
                families.push(s.grant.family);
            }
            !gone
        });
        for entry in store.access_tokens.values_mut() {
            if families.contains(&entry.grant.family) {
                entry.expires = entry.expires.min(now);
            }
        }
        before - store.service_consents.len()
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

    /// Forgets the recorded requests, token requests, revocations, injected faults, contract
    /// violations and rate-limit counts (tokens and REST data stay).
    pub fn clear_records(&self) {
        let mut records = lock(&self.records);
        records.token_requests.clear();
        records.requests.clear();
        records.revocations.clear();
        drop(records);
        lock(&self.faults).clear();
        lock(&self.violations).clear();
        lock(&self.limits).clear_counts();
    }

    /// The company `key` ([`Company::key`]) of `provider`, if configured.
    pub fn company(&self, provider: ProviderKind, key: &str) -> Option<&Company> {
        self.config
            .companies(provider)
            .iter()
            .find(|c| c.key(provider) == key)
    }

    /// [`Company::key`] of `provider`'s first configured company (the one preselected on
    /// the consent page), or `""` when none is configured.
    pub fn default_company_key(&self, provider: ProviderKind) -> String {
        self.config
            .companies(provider)
            .first()
            .map(|c| c.key(provider))
            .unwrap_or_default()
    }

    /// Issues an access token for `client_id` bound to `company_key` with `scopes`, as a
    /// finished consent would (no refresh token): for tests that call the REST API without
    /// the OAuth dance. The company must be configured for the token to authenticate.
    pub fn issue_access_token(
        &self,
        provider: ProviderKind,
        client_id: &str,
        company_key: &str,
        scopes: &[&str],
    ) -> String {
        mint_access_token(
            &mut self.oauth(),
            &self.config,
            provider,
            client_id,
            company_key,
            scopes,
        )
    }

    /// Replaces the fault configuration (restarting its seeded sequence).
    pub fn set_faults(&self, faults: FaultConfig) {
        lock(&self.faults).set(faults);
    }

    /// The fault configuration in force.
    pub fn faults(&self) -> FaultConfig {
        lock(&self.faults).config().clone()
    }

    /// Every fault injected so far, oldest first.
    pub fn faults_injected(&self) -> Vec<InjectedFault> {
        lock(&self.faults).injected().to_vec()
    }

    /// How many 429s `provider`'s real rate limiter served (injected ones not counted).
    pub fn rate_limited_count(&self, provider: ProviderKind) -> usize {
        lock(&self.limits).limited_count(provider)
    }

    /// Every contract violation found so far, both providers, oldest first.
    pub fn contract_violations(&self) -> Vec<ContractViolation> {
        lock(&self.violations).clone()
    }

    /// Every contract violation found so far, removed from the record: for tests that
    /// provoke violations on purpose and assert on them (what is left is checked by the
    /// harness when the test ends).
    pub fn take_contract_violations(&self) -> Vec<ContractViolation> {
        std::mem::take(&mut *lock(&self.violations))
    }

    /// `provider`'s loaded contract.
    pub fn contract(&self, provider: ProviderKind) -> &Contract {
        match provider {
            ProviderKind::Fortnox => &self.contracts[0],
            ProviderKind::Visma => &self.contracts[1],
        }
    }

    /// Full records of every customer of a company (Fortnox bodies without `@url`; Visma
    /// bodies as GET returns them), ordered by customer number.
    pub fn customers(&self, provider: ProviderKind, company_key: &str) -> Vec<Value> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store.fortnox_mut(company_key).0.customer_bodies(),
            ProviderKind::Visma => store.visma_mut(company_key).0.customer_bodies(),
        }
    }

    /// The ids of every customer of a company, as the provider names them (Fortnox
    /// `CustomerNumber`, Visma `Id`).
    pub fn customer_ids(&self, provider: ProviderKind, company_key: &str) -> Vec<String> {
        let field = match provider {
            ProviderKind::Fortnox => "CustomerNumber",
            ProviderKind::Visma => "Id",
        };
        self.customers(provider, company_key)
            .iter()
            .filter_map(|c| c.get(field).and_then(|v| v.as_str()).map(str::to_string))
            .collect()
    }

    /// Full records of every invoice of a company, ordered by number.
    pub fn invoices(&self, provider: ProviderKind, company_key: &str) -> Vec<Value> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store.fortnox_mut(company_key).0.invoice_bodies(),
            ProviderKind::Visma => store.visma_mut(company_key).0.invoice_bodies(),
        }
    }

    /// Every Fortnox tax reduction (`/3/taxreductions`, ROT/RUT buyers) of a company, by `Id`.
    pub fn fortnox_tax_reductions(&self, company_key: &str) -> Vec<Value> {
        let mut store = self.rest();
        store.fortnox_mut(company_key).0.tax_reduction_bodies()
    }

    /// Number of customers of a company.
    pub fn customer_count(&self, provider: ProviderKind, company_key: &str) -> usize {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store.fortnox_mut(company_key).0.customer_count(),
            ProviderKind::Visma => store.visma_mut(company_key).0.customer_count(),
        }
    }

    /// Number of invoices of a company (Visma: booked invoices, not drafts).
    pub fn invoice_count(&self, provider: ProviderKind, company_key: &str) -> usize {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store.fortnox_mut(company_key).0.invoice_count(),
            ProviderKind::Visma => store.visma_mut(company_key).0.invoice_count(),
        }
    }

    /// Adds `n` realistic Swedish customers (deterministic for a company: the k-th seeded
    /// customer is always the same); returns their ids (Fortnox `CustomerNumber`, Visma
    /// `Id`).
    pub fn seed_customers(
        &self,
        provider: ProviderKind,
        company_key: &str,
        n: usize,
    ) -> Vec<String> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => {
                let (data, clock) = store.fortnox_mut(company_key);
                data.seed_customers(company_key, n, clock)
            }
            ProviderKind::Visma => {
                let (data, clock) = store.visma_mut(company_key);
                data.seed_customers(company_key, n, clock)
            }
        }
    }

    /// Changes customer `id` as a person in the accounting system would: `edit` gets the
    /// full record (as [`Self::customers`] shows it) and its modification time is bumped.
    /// Returns whether the customer exists.
    pub fn modify_customer(
        &self,
        provider: ProviderKind,
        company_key: &str,
        id: &str,
        edit: impl FnOnce(&mut Value),
    ) -> bool {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => {
                let (data, clock) = store.fortnox_mut(company_key);
                data.modify_customer(id, edit, clock)
            }
            ProviderKind::Visma => {
                let (data, clock) = store.visma_mut(company_key);
                data.modify_customer(id, edit, clock)
            }
        }
    }

    /// Deletes customer `id` as a person would (a Fortnox number stays reserved; deletions
    /// are invisible to change filters). Returns whether it existed.
    pub fn delete_customer(&self, provider: ProviderKind, company_key: &str, id: &str) -> bool {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => {
                let (data, clock) = store.fortnox_mut(company_key);
                data.delete_customer(id, clock)
            }
            ProviderKind::Visma => store.visma_mut(company_key).0.delete_customer(id),
        }
    }

    /// Sets customer `id`'s modification time (Fortnox's `lastmodified`, Visma's
    /// `ChangedUtc`), for tests of incremental reads. Returns whether it exists.
    pub fn set_customer_modified(
        &self,
        provider: ProviderKind,
        company_key: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> bool {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store
                .fortnox_mut(company_key)
                .0
                .set_customer_modified(id, at),
            ProviderKind::Visma => store.visma_mut(company_key).0.set_customer_modified(id, at),
        }
    }

    /// Edits Fortnox invoice `number`'s stored body as it is, without bumping its time: a
    /// record of an unexpected shape (its answers then break the contract, which a test that
    /// uses this takes out with [`Self::take_contract_violations`]). Returns whether it exists.
    pub fn edit_fortnox_invoice_raw(
        &self,
        company_key: &str,
        number: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> bool {
        self.rest()
            .fortnox_mut(company_key)
            .0
            .edit_invoice_raw(number, edit)
    }

    /// Sets invoice `id`'s modification time (Fortnox `DocumentNumber`, Visma `Id`), for
    /// tests of incremental reads. Returns whether it exists.
    pub fn set_invoice_modified(
        &self,
        provider: ProviderKind,
        company_key: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> bool {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store
                .fortnox_mut(company_key)
                .0
                .set_invoice_modified(id, at),
            ProviderKind::Visma => store.visma_mut(company_key).0.set_invoice_modified(id, at),
        }
    }

    pub(crate) fn rest(&self) -> RestGuard<'_> {
        RestGuard {
            guard: lock(&self.rest),
            state: self,
        }
    }

    /// Every event of Fortnox's stream still inside the retention window, oldest first per
    /// topic (customers, then invoices).
    pub fn stream_events(&self) -> Vec<StreamEvent> {
        lock(&self.stream).events()
    }

    /// Changes the stream's retention window (events older than it are dropped at once).
    pub fn set_stream_retention(&self, retention: Duration) {
        lock(&self.stream).set_retention(retention);
    }

    pub(crate) fn stream_log(&self) -> MutexGuard<'_, StreamLog> {
        lock(&self.stream)
    }

    pub(crate) fn stream_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.stream_changed.subscribe()
    }

    /// Closes every stream connection (they outlive the HTTP server once upgraded).
    pub(crate) fn close_streams(&self) {
        self.stream_closing.send_replace(true);
    }

    pub(crate) fn stream_closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stream_closing.subscribe()
    }

    /// A drop or a duplicate for the next stream event, if one is drawn.
    pub(crate) fn stream_fault_decision(&self) -> Option<crate::faults::FaultKind> {
        lock(&self.faults).decide_stream()
    }

    pub(crate) fn rate_limits(&self) -> MutexGuard<'_, RateLimits> {
        lock(&self.limits)
    }

    /// The fate of one REST request and the configured slow delay.
    pub(crate) fn fault_decision(&self, is_write: bool, is_create: bool) -> (Decision, Duration) {
        let mut faults = lock(&self.faults);
        let decision = faults.decide(is_write, is_create);
        (decision, faults.config().slow_delay)
    }

    /// The fate of one token or revocation request and the configured slow delay.
    pub(crate) fn oauth_fault_decision(&self) -> (Decision, Duration) {
        let mut faults = lock(&self.faults);
        let decision = faults.decide_oauth();
        (decision, faults.config().slow_delay)
    }

    pub(crate) fn record_fault(&self, fault: InjectedFault) {
        lock(&self.faults).record(fault);
    }

    pub(crate) fn record_violation(&self, violation: ContractViolation) {
        tracing::warn!(
            provider = %violation.provider,
            method = %violation.method,
            path = %violation.path,
            direction = ?violation.direction,
            status = ?violation.status,
            errors = ?violation.errors,
            "contract violation"
        );
        lock(&self.violations).push(violation);
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
