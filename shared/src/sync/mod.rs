//! The sync engine: export, pull, conflicts, job slices.

pub mod conflict;
pub mod engine;
pub mod ops;
pub mod records;

use crate::domain::{Integration, Job};
use crate::AppContext;
use std::time::Duration;

/// How a slice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceOutcome {
    /// The job is complete.
    Finished,
    /// The budget ran out; the checkpoint is saved and another slice must run.
    MoreWork,
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
}

/// Runs one slice of `job` within `budget`, updating its progress and checkpoint.
pub async fn run_slice(
    ctx: &AppContext,
    integration: &Integration,
    job: &mut Job,
    budget: Duration,
) -> Result<SliceOutcome, SyncError> {
    engine::run(ctx, integration, job, budget).await
}
