//! The engine against the in-memory adapters (`crate::mocks`): scenarios of exactly-once
//! creation, adoption, conflicts, echo suppression and deletion sweeps, and property tests over
//! random faults, slice ends and crashes. No moto, no sandbox: milliseconds a test.

mod catalog;
mod properties;
mod scenarios;

use super::{Budget, Engine, SliceOutcome, SyncError};
use crate::domain::{
    Customer, Direction, Entity, Integration, IntegrationStatus, Invoice, InvoiceRow, Job, Mode,
    ProviderKind, TenantId, Trigger,
};
use crate::jobs::{new_job, JobRequest};
use crate::mocks::{FakeApi, MemoryStore, StaticTokens};
use crate::records::stage;
use crate::store::SyncStore;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::time::Duration;

/// One integration, its store and its provider.
pub(super) struct World {
    pub store: MemoryStore,
    pub api: FakeApi,
    pub integration: Integration,
    /// The engine's settle time for creates in doubt (zero: a second create at the first look
    /// after the wait).
    pub settle: Duration,
}

pub(super) fn customer(i: usize, name: &str, at: Option<DateTime<Utc>>) -> Customer {
    Customer {
        id: format!("c{i}"),
        name: name.to_string(),
        organisation_number: None,
        email: None,
        phone: None,
        address: Default::default(),
        currency: None,
        is_private_person: false,
        vat_number: None,
        reverse_charge_construction: false,
        active: true,
        updated_at: at,
    }
}

pub(super) fn invoice(i: usize, customer: usize) -> Invoice {
    Invoice {
        project: None,
        cost_center: None,
        id: format!("i{i}"),
        customer_id: format!("c{customer}"),
        invoice_date: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default(),
        due_date: None,
        currency: None,
        our_reference: None,
        your_reference: None,
        reverse_charge_construction: false,
        tax_reduction: None,
        rows: vec![InvoiceRow {
            project: None,
            cost_center: None,
            description: format!("row of {i}"),
            article_number: None,
            account_number: Some(3001),
            quantity: Decimal::ONE,
            unit_price: Decimal::new(100 + i as i64, 0),
            vat_rate: Some(Decimal::new(25, 0)),
            discount: None,
            house_work: None,
        }],
        totals: None,
        cancelled: false,
        payment: None,
        credit: None,
        updated_at: None,
    }
}

impl World {
    pub fn new() -> Self {
        let now = Utc::now();
        World {
            store: MemoryStore::new(),
            api: FakeApi::new(2),
            integration: Integration {
                tenant_id: TenantId::parse("t1").expect("tenant id"),
                id: "i1".into(),
                provider: ProviderKind::Fortnox,
                status: IntegrationStatus::Connected,
                display_name: None,
                company_name: None,
                provider_company_id: None,
                token_expires_at: None,
                refresh_expires_at: None,
                mode: Default::default(),
                service_tenant_id: None,
                connected_at: Some(now),
                last_error: None,
                secret_name: "s".into(),
                created_at: now,
                updated_at: now,
            },
            settle: Duration::ZERO,
        }
    }

    pub fn engine(&self) -> Engine<'_> {
        Engine {
            store: &self.store,
            api: &self.api,
            tokens: &StaticTokens,
            page_size: 3,
            pull_overlap: Duration::from_secs(1),
            create_settle: self.settle,
        }
    }

    /// Upserts records as the records API does.
    pub async fn upsert_customers(&self, cs: Vec<Customer>) {
        stage(&self.store, &self.integration.id, cs)
            .await
            .expect("stage customers");
    }

    pub async fn upsert_invoices(&self, is: Vec<Invoice>) {
        stage(&self.store, &self.integration.id, is)
            .await
            .expect("stage invoices");
    }

    /// A queued job, stored.
    pub fn job(&self, direction: Direction, mode: Mode) -> Job {
        let job = new_job(
            &self.integration,
            &JobRequest {
                direction,
                entities: vec![Entity::Customers, Entity::Invoices],
                mode,
                trigger: Trigger::Manual,
                target: None,
                not_before: None,
            },
            Utc::now(),
        );
        self.store.insert_job(&job);
        job
    }

    /// One slice of the stored job, as a worker runs it: the job as last saved, nothing kept
    /// in memory between slices (a failed slice is a crash).
    pub async fn slice(&self, job_id: &str, budget: Budget) -> Result<SliceOutcome, SyncError> {
        let mut job = self.store.job(job_id).expect("job stored");
        let outcome = self
            .engine()
            .run(&self.integration, &mut job, budget)
            .await?;
        if outcome == SliceOutcome::Finished {
            // The worker saves the finished job at once (`jobs::worker::finish`); a crash there
            // is a failed slice, and the next one finds the job where it was last saved.
            self.store
                .save_job(&mut job)
                .await
                .map_err(|e| SyncError::Retryable {
                    reason: e.to_string(),
                    retry_after: None,
                })?;
        }
        Ok(outcome)
    }

    /// Runs a job to its end without faults; gives the job as finally saved.
    pub async fn run(&self, direction: Direction, mode: Mode) -> Job {
        let job = self.job(direction, mode);
        for _ in 0..100 {
            match self.slice(&job.id, Budget::Checks(1000)).await {
                Ok(SliceOutcome::Finished) => return self.store.job(&job.id).expect("job"),
                Ok(SliceOutcome::MoreWork | SliceOutcome::Settling(_)) => {}
                Err(e) => panic!("slice failed: {e}"),
            }
        }
        panic!("the job did not finish");
    }

    /// The provider id of our customer `our_id`.
    pub fn remote_customer(&self, our_id: &str) -> String {
        self.api
            .customers()
            .into_iter()
            .find(|(_, _, r)| r.as_deref() == Some(our_id))
            .map(|(id, _, _)| id)
            .expect("customer at the provider")
    }
}

/// Runs an async test body on a fresh single-threaded runtime.
pub(super) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
