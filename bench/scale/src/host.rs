//! The simulation's host: the worker's and the scheduler's ports over memory and a virtual
//! clock. Jobs and sync state live in one [`MemoryStore`] (the engine's and the worker's saves
//! meet on the same versioned job, as in DynamoDB); each integration has its own [`FakeApi`];
//! the queue collects what a slice or a schedule run sends, and the event loop (`main.rs`)
//! delivers it in virtual time, with SQS's 900-second cap on delays.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::config::SyncSettings;
use shared::domain::{Entity, Integration, IntegrationStatus, Job, ProviderKind, TenantId};
use shared::jobs::host::{JobHost, JobQueue, JobStore};
use shared::mocks::{FakeApi, MemoryStore, StaticTokens};
use shared::store::{JobMessage, StoreError, SyncStore};
use shared::sync::{Budget, Engine};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// SQS's longest delay.
pub const MAX_DELAY_SECONDS: u64 = 900;

/// What a slice or a schedule run sent, and what it did with its lease and its message.
#[derive(Default)]
pub struct Outbox {
    /// Messages with their delays in seconds.
    pub sent: Vec<(JobMessage, u64)>,
    /// The received message is to come back after this many seconds.
    pub retry_after: Option<u64>,
    /// The sync lease the slice gave back: (integration id, owner).
    pub released: Option<(String, String)>,
}

/// The host the worker and the scheduler run on in the simulation.
pub struct SimHost {
    pub store: MemoryStore,
    pub apis: HashMap<String, FakeApi>,
    integrations: BTreeMap<String, Integration>,
    settings: SyncSettings,
    /// The virtual time now.
    now: Mutex<DateTime<Utc>>,
    /// Leases: integration id → (owner, until).
    leases: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
    outbox: Mutex<Outbox>,
    /// Budget checks a slice may make (see [`JobHost::slice_budget`]).
    checks: u32,
}

impl SimHost {
    pub fn new(settings: SyncSettings, checks: u32, start: DateTime<Utc>) -> Self {
        SimHost {
            store: MemoryStore::new(),
            apis: HashMap::new(),
            integrations: BTreeMap::new(),
            settings,
            now: Mutex::new(start),
            leases: Mutex::new(HashMap::new()),
            outbox: Mutex::new(Outbox::default()),
            checks,
        }
    }

    pub fn add(&mut self, integration: Integration, api: FakeApi) {
        self.apis.insert(integration.id.clone(), api);
        self.integrations
            .insert(integration.id.clone(), integration);
    }

    pub fn integration(&self, id: &str) -> Option<&Integration> {
        self.integrations.get(id)
    }

    pub fn set_now(&self, t: DateTime<Utc>) {
        *lock(&self.now) = t;
    }

    /// What was sent since the last call.
    pub fn take_outbox(&self) -> Outbox {
        std::mem::take(&mut *lock(&self.outbox))
    }

    /// A lease given back by a slice that ran (in virtual time) until `end` is held until then.
    pub fn hold_until(&self, integration_id: &str, owner: &str, end: DateTime<Utc>) {
        lock(&self.leases).insert(integration_id.to_string(), (owner.to_string(), end));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl JobStore for SimHost {
    async fn get_job(&self, _iid: &str, jid: &str) -> Result<Option<Job>, StoreError> {
        Ok(self.store.job(jid))
    }
    async fn get_jobs(&self, keys: &[(String, String)]) -> Result<Vec<Job>, StoreError> {
        Ok(keys.iter().filter_map(|(_, j)| self.store.job(j)).collect())
    }
    async fn create_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        for j in jobs {
            if self.store.job(&j.id).is_none() {
                self.store.insert_job(j);
            }
        }
        Ok(())
    }
    async fn save_job(&self, job: &mut Job) -> Result<(), StoreError> {
        SyncStore::save_job(&self.store, job).await
    }
    async fn get_integration(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<Integration>, StoreError> {
        Ok(self
            .integrations
            .get(id)
            .filter(|i| &i.tenant_id == tenant)
            .cloned())
    }
    async fn integrations_in_status(
        &self,
        status: IntegrationStatus,
        cursor: Option<String>,
        limit: i32,
    ) -> Result<(Vec<Integration>, Option<String>), StoreError> {
        let limit = limit.max(1) as usize;
        let page: Vec<Integration> = self
            .integrations
            .range(cursor.clone().unwrap_or_default()..)
            .filter(|(k, i)| cursor.as_ref() != Some(*k) && i.status == status)
            .take(limit)
            .map(|(_, i)| i.clone())
            .collect();
        let next = (page.len() == limit).then(|| page[limit - 1].id.clone());
        Ok((page, next))
    }
    async fn try_lease(
        &self,
        _tenant: &TenantId,
        iid: &str,
        _purpose: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = *lock(&self.now);
        let mut leases = lock(&self.leases);
        if leases
            .get(iid)
            .is_some_and(|(o, until)| o != owner && *until > now)
        {
            return Ok(false);
        }
        let until = now + chrono::Duration::from_std(ttl).unwrap_or_default();
        leases.insert(iid.to_string(), (owner.to_string(), until));
        Ok(true)
    }
    async fn release_lease(
        &self,
        _tenant: &TenantId,
        iid: &str,
        _purpose: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        // The slice ran in no time here; the event loop holds the lease until its virtual end.
        lock(&self.outbox).released = Some((iid.to_string(), owner.to_string()));
        Ok(())
    }
    async fn take_pull_marker(
        &self,
        _iid: &str,
        _entity: Entity,
        _remote_id: &str,
        _job_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(None) // no stream in the simulation: scheduled and manual jobs only
    }
}

#[async_trait]
impl JobQueue for SimHost {
    async fn send(&self, msg: &JobMessage, delay_seconds: u64) -> Result<(), StoreError> {
        lock(&self.outbox)
            .sent
            .push((msg.clone(), delay_seconds.min(MAX_DELAY_SECONDS)));
        Ok(())
    }
    async fn send_batch(&self, msgs: &[(JobMessage, u64)]) -> Result<(), StoreError> {
        let mut out = lock(&self.outbox);
        for (m, d) in msgs {
            out.sent.push((m.clone(), (*d).min(MAX_DELAY_SECONDS)));
        }
        Ok(())
    }
    async fn retry_after(&self, _receipt: &str, seconds: u64) -> Result<(), StoreError> {
        lock(&self.outbox).retry_after = Some(seconds.min(43_200));
        Ok(())
    }
}

#[async_trait]
impl JobHost for SimHost {
    fn jobs(&self) -> &dyn JobStore {
        self
    }
    fn queue(&self) -> &dyn JobQueue {
        self
    }
    fn sync_settings(&self) -> &SyncSettings {
        &self.settings
    }
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
    fn engine(&self, integration: &Integration) -> Engine<'_> {
        Engine {
            store: &self.store,
            api: &self.apis[&integration.id],
            tokens: &StaticTokens,
            page_size: self.settings.page_size,
            pull_overlap: self.settings.pull_overlap,
            create_settle: self.settings.create_settle,
        }
    }
    /// The wall clock does not move here: a slice stops after as many budget checks (one
    /// before each record and each page) as fit the worker's 60-second slice at the modelled
    /// latencies; the event loop prints the longest slice in virtual time.
    fn slice_budget(&self, _time: Duration) -> Budget {
        Budget::Checks(self.checks)
    }
    fn provider_stats(&self, _provider: ProviderKind) -> (u64, u64) {
        (0, 0)
    }
    async fn fill_company(&self, _integration: &Integration) {}
    async fn keep_alive(&self, _integration: &Integration) -> Result<(), String> {
        Ok(())
    }
}
