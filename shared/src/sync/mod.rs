//! The sync engine: a job runs as slices of phases (push, pull, sweep), each phase in its own
//! file around a small [`run::Run`] that holds the slice's budget and checkpoint:
//!
//! | file | what |
//! |---|---|
//! | `run.rs` | the phases of a job, the checkpoint, the slice loop and its dispatch |
//! | `push.rs` | exports pending (or all) local records, a page at a time |
//! | `export.rs` | one record: create exactly once, adopt one found by reference, update |
//! | `quarantine.rs` | provider records that cannot be read, set aside and read again by the next pull |
//! | `settle.rs` | records in doubt after an ambiguous create, looked up again until settled |
//! | `pull.rs` | reads provider changes and applies them (dedupe, echo suppression) |
//! | `sweep.rs` | a full pass over the provider's ids that finds deletions |
//! | `conflicts.rs` | last-write-wins decisions and their log |
//! | `ops.rs` | what the engine needs of a record type and of its provider calls |
//! | `catalog.rs` | the same for articles and projects (keyed by their number) |
//!
//! The engine reaches storage only through [`SyncStore`] and the provider only through
//! [`AccountingApi`]; see `docs/sync-engine.md`.

mod catalog;
pub mod conflicts;
mod export;
pub mod ops;
mod pull;
mod push;
mod quarantine;
pub mod run;
pub mod settle;
mod sweep;

pub use ops::{Ops, SyncRecord};
pub use run::{phases, Checkpoint, Phase};

#[cfg(test)]
mod tests;

use crate::connections::tokens::{TokenError, TokenManager};
use crate::domain::{Integration, Job, Secret};
use crate::providers::AccountingApi;
use crate::store::SyncStore;
use crate::AppContext;
use async_trait::async_trait;
use std::time::Duration;

/// How a slice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceOutcome {
    /// The job is complete.
    Finished,
    /// The budget ran out; the checkpoint is saved and another slice must run.
    MoreWork,
    /// Only records in doubt are left: another slice looks them up after this wait.
    Settling(Duration),
}

/// Why a slice stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The integration needs a person to connect it again.
    #[error("needs re-authorisation: {0}")]
    NeedsReauth(String),
    /// A failure that may pass; the slice is retried with backoff.
    #[error("retryable: {reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// The provider said how long to wait.
        retry_after: Option<Duration>,
    },
    /// A failure retrying will not fix.
    #[error("{0}")]
    Fatal(String),
    /// The accounting system refuses for want of a licence or a permission (Fortnox 2001101,
    /// Visma 4006 missing scope, …): only a person at the company can change that. Fatal to
    /// the job, except in the phases of a register the company's grant may not reach (see
    /// [`crate::domain::Entity::needs_own_grant`]), which are skipped.
    #[error("the accounting system needs a person: {0}")]
    NeedsPerson(String),
}

/// Access tokens for the provider calls of a slice.
#[async_trait]
pub trait AccessTokens: Send + Sync {
    /// A valid access token.
    async fn access_token(&self, integration: &Integration) -> Result<Secret, TokenError>;
    /// A replacement for an access token the provider refused although it looked valid: at
    /// most one refresh per refused token, however many callers saw it refused.
    async fn replace_refused(
        &self,
        integration: &Integration,
        refused: &Secret,
    ) -> Result<Secret, TokenError>;
}

#[async_trait]
impl AccessTokens for TokenManager {
    async fn access_token(&self, integration: &Integration) -> Result<Secret, TokenError> {
        TokenManager::access_token(self, integration).await
    }
    async fn replace_refused(
        &self,
        integration: &Integration,
        refused: &Secret,
    ) -> Result<Secret, TokenError> {
        TokenManager::replace_refused(self, integration, refused)
            .await
            .map(|t| t.access_token)
    }
}

/// What a slice runs with: storage, the provider's data API, tokens and paging settings.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    /// Sync state.
    pub store: &'a dyn SyncStore,
    /// The integration's accounting system.
    pub api: &'a dyn AccountingApi,
    /// Its access tokens.
    pub tokens: &'a dyn AccessTokens,
    /// Records per page when pushing.
    pub page_size: u32,
    /// Overlap of incremental pulls.
    pub pull_overlap: Duration,
    /// How long after an unanswered create the provider may still commit it: no second
    /// create before this has passed.
    pub create_settle: Duration,
}

impl<'a> Engine<'a> {
    /// The engine of `integration` in production: DynamoDB, the provider's client, the token
    /// manager and the configured paging.
    pub fn for_integration(ctx: &'a AppContext, integration: &Integration) -> Self {
        Engine {
            store: &ctx.db,
            api: ctx.providers.api(integration.provider),
            tokens: &ctx.tokens,
            page_size: ctx.config.sync.page_size,
            pull_overlap: ctx.config.sync.pull_overlap,
            create_settle: ctx.config.sync.create_settle,
        }
    }
}

/// When a slice stops taking new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// After this long (the worker's slice budget).
    Time(Duration),
    /// After this many checks of the budget (one before each record and each page): slices
    /// that end at reproducible points, for tests.
    Checks(u32),
}

/// Runs one slice of `job` within `budget`, updating its progress and checkpoint.
pub async fn run_slice(
    ctx: &AppContext,
    integration: &Integration,
    job: &mut Job,
    budget: Duration,
) -> Result<SliceOutcome, SyncError> {
    Engine::for_integration(ctx, integration)
        .run(integration, job, Budget::Time(budget))
        .await
}
