//! Background work: jobs created by people, the schedule, webhooks and record upserts; run in
//! slices by the worker; watched by the watchdog; buried by the dead-letter handler.

pub mod host;
pub mod maintenance;
pub mod worker;

use crate::domain::job::new_job_id;
use crate::domain::{
    Direction, Entity, Integration, Job, JobState, LastError, Mode, Progress, Target, Trigger,
};
use crate::store::{JobMessage, StoreError};
use crate::AppContext;
use chrono::{DateTime, Utc};

/// What to sync.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// Push, pull or both.
    pub direction: Direction,
    /// Which entities.
    pub entities: Vec<Entity>,
    /// Incremental or full.
    pub mode: Mode,
    /// Who asked.
    pub trigger: Trigger,
    /// One record only.
    pub target: Option<Target>,
    /// Not before.
    pub not_before: Option<DateTime<Utc>>,
}

/// A new job for `integration`, not yet stored.
pub fn new_job(integration: &Integration, req: &JobRequest, now: DateTime<Utc>) -> Job {
    let mut entities = req.entities.clone();
    entities.sort();
    entities.dedup();
    Job {
        tenant_id: integration.tenant_id.to_string(),
        integration_id: integration.id.clone(),
        id: new_job_id(now),
        direction: req.direction,
        entities,
        mode: req.mode,
        trigger: req.trigger,
        target: req.target.clone(),
        state: JobState::Queued,
        progress: Progress::default(),
        checkpoint: serde_json::Value::Null,
        slices: 0,
        attempts: 0,
        last_error: None,
        not_before: req.not_before,
        created_at: now,
        updated_at: now,
        finished_at: None,
        version: 0,
    }
}

/// The message that runs the job's next slice.
pub fn message_for(job: &Job) -> JobMessage {
    JobMessage {
        tenant_id: job.tenant_id.clone(),
        integration_id: job.integration_id.clone(),
        job_id: job.id.clone(),
        slice: job.slices,
    }
}

/// Stores a job and puts it on the queue.
pub async fn enqueue(
    ctx: &AppContext,
    integration: &Integration,
    req: &JobRequest,
) -> Result<Job, StoreError> {
    let job = new_job(integration, req, Utc::now());
    ctx.db.create_job(&job).await?;
    ctx.queue.send(&message_for(&job), 0).await?;
    tracing::info!(tenant = %job.tenant_id, integration = %job.integration_id, job = %job.id, trigger = ?job.trigger, "job queued");
    Ok(job)
}

/// Why a retry was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// No such job.
    #[error("job not found")]
    NotFound,
    /// Only failed or dead jobs can be retried.
    #[error("only a failed or dead job can be retried; this one is {0}")]
    NotRetryable(JobState),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts a failed or dead job back on the queue, keeping its checkpoint and counters.
pub async fn retry(
    ctx: &AppContext,
    integration_id: &str,
    job_id: &str,
) -> Result<Job, RetryError> {
    let mut job = ctx
        .db
        .get_job(integration_id, job_id)
        .await?
        .ok_or(RetryError::NotFound)?;
    if !matches!(job.state, JobState::Failed | JobState::Dead) {
        return Err(RetryError::NotRetryable(job.state));
    }
    job.state = JobState::Queued;
    job.attempts = 0;
    job.finished_at = None;
    job.updated_at = Utc::now();
    ctx.db.save_job(&mut job).await?;
    ctx.queue.send(&message_for(&job), 0).await?;
    tracing::info!(integration = %integration_id, job = %job_id, "job retried by hand");
    Ok(job)
}

/// A `LastError` from now.
pub fn error_now(code: &str, message: impl Into<String>) -> LastError {
    LastError {
        code: code.to_string(),
        message: message.into(),
        at: Utc::now(),
    }
}
