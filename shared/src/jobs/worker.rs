//! One queue message = one slice of one job.
//!
//! The worker holds a lease on the integration while a slice runs, so one job runs per
//! integration at a time. A message for a busy integration is sent again with a delay as a new
//! message (so it does not spend its receive count). A retryable failure makes the message
//! visible again after an exponential backoff; after `maxReceiveCount` receives SQS moves it to
//! the dead-letter queue. A crash leaves the message to come back after the visibility timeout,
//! and the job resumes from its checkpoint.

use super::host::JobHost;
use super::{error_now, message_for};
use crate::domain::job::backoff_seconds;
use crate::domain::{IntegrationStatus, Job, JobState, TenantId};
use crate::store::{JobMessage, StoreError};
use crate::sync::{SliceOutcome, SyncError};
use crate::telemetry::Unit;
use rand::Rng;
use std::time::Duration;
use tracing::Instrument;

const LEASE_PURPOSE: &str = "sync";

/// What to tell SQS about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it: handled (or handed on as a new message).
    Done,
    /// Report it as a batch item failure: it comes back (after its visibility timeout).
    Retry,
}

/// Handles one message. `remaining` is how long the invocation may still run.
pub async fn handle(
    ctx: &dyn JobHost,
    body: &str,
    receipt_handle: &str,
    remaining: Duration,
) -> Disposition {
    let msg: JobMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            // A poison message: let it fail its receives and land in the dead-letter queue.
            tracing::error!(error = %e, "unreadable job message");
            return Disposition::Retry;
        }
    };
    let span = tracing::info_span!("job", tenant = %msg.tenant_id, integration = %msg.integration_id, job = %msg.job_id);
    match handle_message(ctx, &msg, receipt_handle, remaining)
        .instrument(span)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(job = %msg.job_id, error = %e, "job message failed; it will come back");
            Disposition::Retry
        }
    }
}

async fn handle_message(
    ctx: &dyn JobHost,
    msg: &JobMessage,
    receipt_handle: &str,
    remaining: Duration,
) -> Result<Disposition, StoreError> {
    let Some(mut job) = ctx.jobs().get_job(&msg.integration_id, &msg.job_id).await? else {
        tracing::warn!(job = %msg.job_id, "message for a job that does not exist");
        return Ok(Disposition::Done);
    };
    // A message for an earlier slice is stale, except the one a worker handed back when it
    // died between saving the job queued for its next slice and sending that slice's message:
    // dropping it would leave the job queued with no message until the watchdog.
    let handed_back = job.state == JobState::Queued && msg.slice + 1 == job.slices;
    if job.state.is_terminal() || (msg.slice < job.slices && !handed_back) {
        return Ok(Disposition::Done);
    }
    let now = ctx.now();
    if let Some(nb) = job.not_before.filter(|nb| *nb > now) {
        let wait = ((nb - now).num_milliseconds().max(1) as u64).div_ceil(1000);
        ctx.queue().send(msg, wait).await?;
        return Ok(Disposition::Done);
    }
    let tenant =
        TenantId::parse(&job.tenant_id).ok_or_else(|| StoreError::Corrupt("job tenant".into()))?;
    let Some(integration) = ctx
        .jobs()
        .get_integration(&tenant, &job.integration_id)
        .await?
    else {
        finish(
            ctx,
            &mut job,
            JobState::Failed,
            Some(error_now(
                "integration_gone",
                "the integration no longer exists",
            )),
        )
        .await?;
        return Ok(Disposition::Done);
    };
    if integration.status != IntegrationStatus::Connected {
        let (code, text) = match integration.status {
            IntegrationStatus::NeedsReauth | IntegrationStatus::Revoked => (
                "needs_reauth",
                "the integration must be connected again before it can sync",
            ),
            _ => ("not_connected", "the integration is not connected"),
        };
        finish(ctx, &mut job, JobState::Failed, Some(error_now(code, text))).await?;
        return Ok(Disposition::Done);
    }

    let budget = ctx
        .sync_settings()
        .slice_budget
        .min(remaining.saturating_sub(Duration::from_secs(15)));
    let owner = format!("{}:{}", job.id, uuid::Uuid::new_v4().simple());
    let lease_ttl = budget + ctx.sync_settings().lease_grace;
    if !ctx
        .jobs()
        .try_lease(&tenant, &integration.id, LEASE_PURPOSE, &owner, lease_ttl)
        .await?
    {
        // A targeted pull (a stream event, a webhook) takes a second or two: it asks again
        // soon, so a change reaches the feed within seconds of the job ahead of it.
        let delay = if job.target.is_some() {
            1 + rand::rng().random_range(0..3)
        } else {
            ctx.sync_settings().busy_delay.as_secs() + rand::rng().random_range(0..10)
        };
        ctx.queue().send(msg, delay).await?;
        tracing::info!(job = %job.id, delay, "integration busy; message sent again with a delay");
        return Ok(Disposition::Done);
    }
    let outcome = run_leased(ctx, &mut job, &integration, receipt_handle, budget).await;
    if let Err(e) = ctx
        .jobs()
        .release_lease(&tenant, &integration.id, LEASE_PURPOSE, &owner)
        .await
    {
        tracing::warn!(job = %job.id, error = %e, "could not release the sync lease; it will expire");
    }
    outcome
}

async fn run_leased(
    ctx: &dyn JobHost,
    job: &mut Job,
    integration: &crate::domain::Integration,
    receipt_handle: &str,
    budget: Duration,
) -> Result<Disposition, StoreError> {
    take_stream_marker(ctx, job).await?;
    job.state = JobState::Running;
    job.updated_at = ctx.now();
    match ctx.jobs().save_job(job).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Disposition::Done), // someone else moved it
        Err(e) => return Err(e),
    }
    let started = std::time::Instant::now();
    let done_before = job.progress.done;
    let stats_before = ctx.provider_stats(integration.provider);
    if integration.company_name.is_none() {
        ctx.fill_company(integration).await;
    }
    let result = ctx
        .engine(integration)
        .run(integration, job, ctx.slice_budget(budget))
        .await;
    job.progress.longest_slice_ms = job
        .progress
        .longest_slice_ms
        .max(started.elapsed().as_millis() as u64);
    tracing::info!(
        tenant = %job.tenant_id, integration = %job.integration_id, job = %job.id, slice = job.slices,
        elapsed_ms = started.elapsed().as_millis() as u64, done = job.progress.done, failed = job.progress.failed,
        "slice ended"
    );
    let stats_after = ctx.provider_stats(integration.provider);
    crate::telemetry::emit(
        &[
            (
                "RecordsSynced",
                (job.progress.done - done_before) as f64,
                Unit::Count,
            ),
            (
                "ProviderRequests",
                (stats_after.0 - stats_before.0) as f64,
                Unit::Count,
            ),
            (
                "ProviderRateLimited",
                (stats_after.1 - stats_before.1) as f64,
                Unit::Count,
            ),
            (
                "SliceDuration",
                started.elapsed().as_millis() as f64,
                Unit::Milliseconds,
            ),
        ],
        &[("Provider", integration.provider.as_str())],
    );
    match result {
        Ok(SliceOutcome::Finished) => {
            job.attempts = 0;
            job.slices += 1;
            // The job ran to its end, but records it could not sync must not pass unnoticed.
            let failed = (job.progress.failed > 0).then(|| {
                error_now(
                    "records_failed",
                    format!(
                        "{} record(s) could not be synced: the accounting system refused their \
                         content or it could not be read; each is set aside with its id, field \
                         and reason (GET /api/integrations/{}/quarantine) and tried again by the \
                         next sync, and the rest of the job went through",
                        job.progress.failed, job.integration_id
                    ),
                )
            });
            finish(ctx, job, JobState::Succeeded, failed).await?;
            Ok(Disposition::Done)
        }
        Ok(SliceOutcome::MoreWork) => {
            job.attempts = 0;
            job.slices += 1;
            job.state = JobState::Queued;
            job.updated_at = ctx.now();
            // Saved, then the continuation sent: a worker that dies between the two leaves the
            // job queued with only this slice's message, which comes back and is taken (a
            // message one slice behind a queued job is not stale; see `handle`).
            ctx.jobs().save_job(job).await?;
            ctx.queue().send(&message_for(job), 0).await?;
            Ok(Disposition::Done)
        }
        Ok(SliceOutcome::Settling(wait)) => {
            // Only records in doubt are left: the job waits (queued, not before the wait is
            // over, the lease released) and the next slice looks them up again.
            job.attempts = 0;
            job.slices += 1;
            job.state = JobState::Queued;
            job.not_before = Some(ctx.now() + chrono::Duration::from_std(wait).unwrap_or_default());
            job.updated_at = ctx.now();
            ctx.jobs().save_job(job).await?;
            ctx.queue()
                .send(&message_for(job), wait.as_secs().max(1))
                .await?;
            Ok(Disposition::Done)
        }
        Err(SyncError::NeedsReauth(reason)) => {
            finish(
                ctx,
                job,
                JobState::Failed,
                Some(error_now("needs_reauth", reason)),
            )
            .await?;
            Ok(Disposition::Done)
        }
        Err(e @ SyncError::NeedsPerson(_)) => {
            finish(
                ctx,
                job,
                JobState::Failed,
                Some(error_now("needs_person", e.to_string())),
            )
            .await?;
            Ok(Disposition::Done)
        }
        Err(SyncError::Fatal(reason)) => {
            finish(
                ctx,
                job,
                JobState::Failed,
                Some(error_now("failed", reason)),
            )
            .await?;
            Ok(Disposition::Done)
        }
        Err(SyncError::Retryable {
            reason,
            retry_after,
        }) => {
            job.attempts += 1;
            job.last_error = Some(error_now("retryable", reason));
            job.state = JobState::Queued;
            job.updated_at = ctx.now();
            ctx.jobs().save_job(job).await?;
            let s = &ctx.sync_settings();
            let backoff = backoff_seconds(
                job.attempts,
                s.backoff_base.as_secs(),
                s.backoff_cap.as_secs(),
                rand::rng().random::<f64>(),
            )
            .max(retry_after.map(|d| d.as_secs()).unwrap_or(0))
            .max(1);
            ctx.queue().retry_after(receipt_handle, backoff).await?;
            let reason = job
                .last_error
                .as_ref()
                .map(|e| e.message.as_str())
                .unwrap_or_default();
            tracing::warn!(job = %job.id, attempts = job.attempts, backoff, reason, "slice failed; retrying with backoff");
            Ok(Disposition::Retry)
        }
    }
}

/// Moves a job to a terminal state.
pub async fn finish(
    ctx: &dyn JobHost,
    job: &mut Job,
    state: JobState,
    error: Option<crate::domain::LastError>,
) -> Result<(), StoreError> {
    take_stream_marker(ctx, job).await?;
    job.state = state;
    if error.is_some() {
        job.last_error = error;
    }
    job.updated_at = ctx.now();
    job.finished_at = Some(job.updated_at);
    match ctx.jobs().save_job(job).await {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    tracing::info!(tenant = %job.tenant_id, integration = %job.integration_id, job = %job.id, state = %state, "job finished");
    let ms = (job.updated_at - job.created_at).num_milliseconds().max(0) as f64;
    crate::telemetry::emit(
        &[("JobDuration", ms, Unit::Milliseconds)],
        &[("State", state.as_str())],
    );
    Ok(())
}

/// A pull queued by Fortnox's stream takes its pending marker before it reads the record (so a
/// change made from now on queues a pull of its own) and keeps the latest provider change time
/// the marker collected from the events coalesced into it. A job that ends without running
/// takes it too, so no later change waits on a job that will never read it.
async fn take_stream_marker(ctx: &dyn JobHost, job: &mut Job) -> Result<(), StoreError> {
    if job.trigger != crate::domain::Trigger::Stream {
        return Ok(());
    }
    let Some(target) = job.target.as_mut() else {
        return Ok(());
    };
    let Some(key) =
        crate::stream::marker_key(target.remote_id.as_deref(), target.payment_id.as_deref())
    else {
        return Ok(());
    };
    let latest = ctx
        .jobs()
        .take_pull_marker(&job.integration_id, target.entity, &key, &job.id)
        .await?;
    if latest > target.changed_at {
        target.changed_at = latest;
    }
    Ok(())
}
