//! The scheduler's host in compressed time: the product's own (DynamoDB, SQS) except that a
//! message is sent without its delay. The virtual day's runs happen seconds apart in real time,
//! and a job's slot is already past in real time, so a real delay (a job queued ahead of its
//! slot waits up to six minutes) would only hold the run's jobs past the next run.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::config::SyncSettings;
use shared::domain::{Integration, ProviderKind};
use shared::jobs::host::{JobHost, JobQueue, JobStore};
use shared::store::{JobMessage, StoreError};
use shared::sync::Engine;
use shared::AppContext;

/// `AppContext` with delays dropped.
pub struct Compressed<'a>(pub &'a AppContext);

#[async_trait]
impl JobQueue for Compressed<'_> {
    async fn send(&self, msg: &JobMessage, _delay: u64) -> Result<(), StoreError> {
        self.0.queue.send(msg, 0).await
    }
    async fn send_batch(&self, msgs: &[(JobMessage, u64)]) -> Result<(), StoreError> {
        let now: Vec<(JobMessage, u64)> = msgs.iter().map(|(m, _)| (m.clone(), 0)).collect();
        self.0.queue.send_batch(&now).await
    }
    async fn retry_after(&self, receipt: &str, seconds: u64) -> Result<(), StoreError> {
        self.0.queue.retry_after(receipt, seconds).await
    }
}

#[async_trait]
impl JobHost for Compressed<'_> {
    fn jobs(&self) -> &dyn JobStore {
        &self.0.db
    }
    fn queue(&self) -> &dyn JobQueue {
        self
    }
    fn sync_settings(&self) -> &SyncSettings {
        self.0.sync_settings()
    }
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
    fn engine(&self, integration: &Integration) -> Engine<'_> {
        self.0.engine(integration)
    }
    fn provider_stats(&self, provider: ProviderKind) -> (u64, u64) {
        self.0.provider_stats(provider)
    }
    async fn fill_company(&self, integration: &Integration) {
        self.0.fill_company(integration).await
    }
    async fn keep_alive(&self, integration: &Integration) -> Result<(), String> {
        self.0.keep_alive(integration).await
    }
}

/// The scheduler's and the watchdog's warm containers: each reaches AWS through the proxy
/// under its own name (`Stack::metered_container`), so their waits on moto are metered and
/// billed at `COST_AWS_MS` a request, as the worker's are.
pub struct Containers {
    /// The scheduler's.
    pub scheduler: AppContext,
    /// The watchdog's.
    pub watchdog: AppContext,
}

/// The bench's one pair of containers, made on first use over `stack`.
pub fn containers(stack: &devstack::Stack) -> &'static Containers {
    static CONTAINERS: std::sync::OnceLock<Containers> = std::sync::OnceLock::new();
    CONTAINERS.get_or_init(|| Containers {
        scheduler: stack.metered_container("scheduler"),
        watchdog: stack.metered_container("watchdog"),
    })
}
