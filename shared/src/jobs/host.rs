//! What the worker and the scheduler run on, as ports: the job store, the queue, the clock, the
//! sync engine of an integration and its tokens. [`AppContext`] is the production host (DynamoDB,
//! SQS, the wall clock, the providers' clients); `bench/scale` drives the same worker and
//! scheduler code for 10,000 integrations over in-memory adapters and a virtual clock.

use crate::config::SyncSettings;
use crate::domain::{Entity, Integration, IntegrationStatus, Job, ProviderKind, TenantId};
use crate::store::{Db, JobMessage, Queue, StoreError};
use crate::sync::{Budget, Engine};
use crate::AppContext;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The jobs, integrations and leases the worker and the scheduler read and write.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// One job.
    async fn get_job(&self, integration_id: &str, job_id: &str) -> Result<Option<Job>, StoreError>;
    /// The jobs of these (integration id, job id) keys that exist.
    async fn get_jobs(&self, keys: &[(String, String)]) -> Result<Vec<Job>, StoreError>;
    /// New jobs; one that exists already is left as it is.
    async fn create_jobs(&self, jobs: &[Job]) -> Result<(), StoreError>;
    /// Saves a job over the version it was read at (`Conflict` when another saved it since).
    async fn save_job(&self, job: &mut Job) -> Result<(), StoreError>;
    /// One integration of the tenant.
    async fn get_integration(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<Integration>, StoreError>;
    /// A page of the integrations in `status`.
    async fn integrations_in_status(
        &self,
        status: IntegrationStatus,
        cursor: Option<String>,
        limit: i32,
    ) -> Result<(Vec<Integration>, Option<String>), StoreError>;
    /// Takes the integration's lease for `purpose` unless another owner holds it unexpired.
    async fn try_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        purpose: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives the lease back, if `owner` still holds it.
    async fn release_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        purpose: &str,
        owner: &str,
    ) -> Result<(), StoreError>;
    /// Takes a stream pull's pending marker; the latest change time it collected.
    async fn take_pull_marker(
        &self,
        integration_id: &str,
        entity: Entity,
        remote_id: &str,
        job_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// The sync queue.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends one message, visible after `delay_seconds`.
    async fn send(&self, msg: &JobMessage, delay_seconds: u64) -> Result<(), StoreError>;
    /// Sends many, each with its delay.
    async fn send_batch(&self, msgs: &[(JobMessage, u64)]) -> Result<(), StoreError>;
    /// Makes a received message visible again after `seconds`.
    async fn retry_after(&self, receipt_handle: &str, seconds: u64) -> Result<(), StoreError>;
}

/// Everything the worker and the scheduler need.
#[async_trait]
pub trait JobHost: Send + Sync {
    /// Jobs, integrations and leases.
    fn jobs(&self) -> &dyn JobStore;
    /// The sync queue.
    fn queue(&self) -> &dyn JobQueue;
    /// How jobs run.
    fn sync_settings(&self) -> &SyncSettings;
    /// The time now.
    fn now(&self) -> DateTime<Utc>;
    /// The sync engine of `integration`.
    fn engine(&self, integration: &Integration) -> Engine<'_>;
    /// How a slice that may run for `time` is bounded: by that time on the wall clock in
    /// production; a simulation whose clock is virtual bounds it otherwise.
    fn slice_budget(&self, time: Duration) -> Budget {
        Budget::Time(time)
    }
    /// Requests and 429s the provider's client has counted so far (for the slice's metrics).
    fn provider_stats(&self, provider: ProviderKind) -> (u64, u64);
    /// Fills in the company of an integration whose consent left it unknown; never fails.
    async fn fill_company(&self, integration: &Integration);
    /// Refreshes the integration's tokens now, so its refresh token does not die unused.
    async fn keep_alive(&self, integration: &Integration) -> Result<(), String>;
}

#[async_trait]
impl JobStore for Db {
    async fn get_job(&self, iid: &str, jid: &str) -> Result<Option<Job>, StoreError> {
        Db::get_job(self, iid, jid).await
    }
    async fn get_jobs(&self, keys: &[(String, String)]) -> Result<Vec<Job>, StoreError> {
        Db::get_jobs(self, keys).await
    }
    async fn create_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        Db::create_jobs(self, jobs).await
    }
    async fn save_job(&self, job: &mut Job) -> Result<(), StoreError> {
        Db::save_job(self, job).await
    }
    async fn get_integration(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<Integration>, StoreError> {
        Db::get_integration(self, tenant, id).await
    }
    async fn integrations_in_status(
        &self,
        status: IntegrationStatus,
        cursor: Option<String>,
        limit: i32,
    ) -> Result<(Vec<Integration>, Option<String>), StoreError> {
        Db::integrations_in_status(self, status, cursor, limit).await
    }
    async fn try_lease(
        &self,
        tenant: &TenantId,
        iid: &str,
        purpose: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        Db::try_lease(self, tenant, iid, purpose, owner, ttl).await
    }
    async fn release_lease(
        &self,
        tenant: &TenantId,
        iid: &str,
        purpose: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        Db::release_lease(self, tenant, iid, purpose, owner).await
    }
    async fn take_pull_marker(
        &self,
        iid: &str,
        entity: Entity,
        remote_id: &str,
        job_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Db::take_pull_marker(self, iid, entity, remote_id, job_id).await
    }
}

#[async_trait]
impl JobQueue for Queue {
    async fn send(&self, msg: &JobMessage, delay_seconds: u64) -> Result<(), StoreError> {
        Queue::send(self, msg, delay_seconds).await
    }
    async fn send_batch(&self, msgs: &[(JobMessage, u64)]) -> Result<(), StoreError> {
        Queue::send_batch(self, msgs).await
    }
    async fn retry_after(&self, receipt_handle: &str, seconds: u64) -> Result<(), StoreError> {
        Queue::retry_after(self, receipt_handle, seconds).await
    }
}

#[async_trait]
impl JobHost for AppContext {
    fn jobs(&self) -> &dyn JobStore {
        &self.db
    }
    fn queue(&self) -> &dyn JobQueue {
        &self.queue
    }
    fn sync_settings(&self) -> &SyncSettings {
        &self.config.sync
    }
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn engine(&self, integration: &Integration) -> Engine<'_> {
        Engine::for_integration(self, integration)
    }
    fn provider_stats(&self, provider: ProviderKind) -> (u64, u64) {
        let (sent, limited, _) = self.providers.api(provider).stats().snapshot();
        (sent, limited)
    }
    async fn fill_company(&self, integration: &Integration) {
        let token = match self.tokens.access_token(integration).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(integration = %integration.id, error = %e, "no token to read the company with");
                return;
            }
        };
        let auth = crate::providers::ApiAuth::for_integration(integration, token);
        match self
            .providers
            .api(integration.provider)
            .company(&auth)
            .await
        {
            Ok(c) => {
                if let Err(e) = self
                    .db
                    .set_company(
                        &integration.tenant_id,
                        &integration.id,
                        &c.name,
                        c.provider_company_id.as_deref(),
                    )
                    .await
                {
                    tracing::warn!(integration = %integration.id, error = %e, "could not store the company");
                } else {
                    tracing::info!(integration = %integration.id, "company filled in after consent");
                }
            }
            Err(e) => {
                tracing::warn!(integration = %integration.id, error = %e, "company lookup failed again")
            }
        }
    }
    async fn keep_alive(&self, integration: &Integration) -> Result<(), String> {
        self.tokens
            .refresh_now(integration)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
