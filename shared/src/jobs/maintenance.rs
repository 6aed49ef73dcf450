//! The dead-letter handler, the watchdog for stuck jobs and the hourly scheduler.

use super::{error_now, message_for, new_job, JobRequest};
use crate::domain::job::schedule_offset_seconds;
use crate::domain::{
    ConnectionMode, Direction, Entity, Integration, IntegrationStatus, JobState, Mode, Trigger,
};
use crate::store::{JobMessage, StoreError};
use crate::AppContext;
use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
use serde::Serialize;

/// Marks the job of a dead-lettered message dead, with its last error.
pub async fn bury(ctx: &AppContext, body: &str) -> Result<Option<String>, StoreError> {
    let Ok(msg) = serde_json::from_str::<JobMessage>(body) else {
        tracing::error!("unreadable message in the dead-letter queue; dropped");
        return Ok(None);
    };
    let Some(mut job) = ctx.db.get_job(&msg.integration_id, &msg.job_id).await? else {
        return Ok(None);
    };
    if matches!(
        job.state,
        JobState::Succeeded | JobState::Cancelled | JobState::Dead
    ) {
        return Ok(None);
    }
    let cause = job
        .last_error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_else(|| "the worker never completed a slice".into());
    let err = error_now(
        "dead",
        format!(
            "gave up after {} receives: {cause}",
            ctx.config.sync.max_attempts
        ),
    );
    super::worker::finish(ctx, &mut job, JobState::Dead, Some(err)).await?;
    tracing::error!(tenant = %job.tenant_id, integration = %job.integration_id, job = %job.id, "job is dead");
    Ok(Some(job.id))
}

/// What the watchdog did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct WatchdogReport {
    /// Stuck jobs put back on the queue.
    pub requeued: Vec<String>,
    /// Stuck jobs failed for good.
    pub failed: Vec<String>,
}

/// Finds running jobs with no progress for `stuck_after` (their worker died or timed out) and
/// puts them back on the queue, or fails them once they used up their attempts.
pub async fn watchdog(ctx: &AppContext, now: DateTime<Utc>) -> Result<WatchdogReport, StoreError> {
    let cutoff = now
        - ChronoDuration::from_std(ctx.config.sync.stuck_after)
            .unwrap_or(ChronoDuration::minutes(5));
    let mut report = WatchdogReport::default();
    for mut job in ctx
        .db
        .jobs_in_state_since(JobState::Running, cutoff)
        .await?
    {
        job.attempts += 1;
        job.last_error = Some(error_now(
            "stuck",
            "a worker stopped without finishing its slice",
        ));
        if job.attempts >= ctx.config.sync.max_attempts {
            super::worker::finish(ctx, &mut job, JobState::Failed, None).await?;
            tracing::error!(job = %job.id, "stuck job failed after its last attempt");
            report.failed.push(job.id);
            continue;
        }
        job.state = JobState::Queued;
        job.updated_at = now;
        match ctx.db.save_job(&mut job).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => continue, // its worker came back to life
            Err(e) => return Err(e),
        }
        ctx.queue.send(&message_for(&job), 0).await?;
        tracing::warn!(tenant = %job.tenant_id, integration = %job.integration_id, job = %job.id, "stuck job re-enqueued");
        report.requeued.push(job.id);
    }
    Ok(report)
}

/// What the scheduler did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ScheduleReport {
    /// Connected integrations seen.
    pub integrations: usize,
    /// Jobs created and enqueued.
    pub enqueued: usize,
    /// Skipped: this period's job exists already, or last period's is still active.
    pub skipped: usize,
    /// Tokens refreshed so their refresh token does not die unused.
    pub refreshed: usize,
    /// Refreshes that failed.
    pub refresh_failed: usize,
}

/// The scheduled job id of an integration for the period starting at `period_start`:
/// deterministic, so a second run in the same period creates nothing new.
pub fn scheduled_job_id(integration_id: &str, period_start: DateTime<Utc>) -> String {
    format!(
        "{}-sched-{}",
        period_start.format("%Y%m%dT%H%M%S000Z"),
        integration_id
    )
}

fn period_start(now: DateTime<Utc>, period: u64) -> DateTime<Utc> {
    let p = period.max(60) as i64;
    let secs = now.timestamp() - now.timestamp().rem_euclid(p);
    DateTime::from_timestamp(secs, 0)
        .unwrap_or(now)
        .with_nanosecond(0)
        .unwrap_or(now)
}

/// Enqueues an incremental sync for every connected integration, each at its own offset in the
/// period, and refreshes tokens that would otherwise die unused.
pub async fn schedule(ctx: &AppContext, now: DateTime<Utc>) -> Result<ScheduleReport, StoreError> {
    let period = ctx.config.sync.schedule_period.as_secs();
    let start = period_start(now, period);
    let previous = start - ChronoDuration::seconds(period as i64);
    let mut report = ScheduleReport::default();
    let mut cursor = None;
    loop {
        let (page, next) = ctx
            .db
            .integrations_in_status(IntegrationStatus::Connected, cursor, 200)
            .await?;
        report.integrations += page.len();
        schedule_page(ctx, &page, start, previous, now, &mut report).await?;
        refresh_ahead(ctx, &page, now, &mut report).await;
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    tracing::info!(?report, "schedule run");
    Ok(report)
}

async fn schedule_page(
    ctx: &AppContext,
    page: &[Integration],
    start: DateTime<Utc>,
    previous: DateTime<Utc>,
    now: DateTime<Utc>,
    report: &mut ScheduleReport,
) -> Result<(), StoreError> {
    let mut keys = Vec::new();
    for i in page {
        keys.push((i.id.clone(), scheduled_job_id(&i.id, start)));
        keys.push((i.id.clone(), scheduled_job_id(&i.id, previous)));
    }
    let existing = ctx.db.get_jobs(&keys).await?;
    let mut jobs = Vec::new();
    for i in page {
        let this = scheduled_job_id(&i.id, start);
        let last = scheduled_job_id(&i.id, previous);
        let blocked = existing.iter().any(|j| {
            j.integration_id == i.id && (j.id == this || (j.id == last && !j.state.is_terminal()))
        });
        if blocked {
            report.skipped += 1;
            continue;
        }
        let offset = schedule_offset_seconds(&i.id, ctx.config.sync.schedule_period.as_secs());
        let req = JobRequest {
            direction: Direction::Both,
            entities: Entity::ALL.to_vec(),
            mode: Mode::Incremental,
            trigger: Trigger::Schedule,
            target: None,
            not_before: Some(start + ChronoDuration::seconds(offset as i64)),
        };
        let mut job = new_job(i, &req, now);
        job.id = this;
        jobs.push(job);
    }
    ctx.db.create_jobs(&jobs).await?;
    let msgs: Vec<(JobMessage, u64)> = jobs
        .iter()
        .map(|j| {
            let delay = j
                .not_before
                .map(|nb| (nb - now).num_seconds().max(0) as u64)
                .unwrap_or(0);
            (message_for(j), delay)
        })
        .collect();
    ctx.queue.send_batch(&msgs).await?;
    report.enqueued += jobs.len();
    Ok(())
}

/// Whether the scheduler refreshes `i` now: its refresh token dies before `horizon`. A
/// service account has no refresh token, hence nothing to keep alive: its access tokens are
/// fetched by client credentials when needed.
fn needs_keep_alive(i: &Integration, horizon: DateTime<Utc>) -> bool {
    i.mode == ConnectionMode::User && i.refresh_expires_at.is_some_and(|t| t < horizon)
}

async fn refresh_ahead(
    ctx: &AppContext,
    page: &[Integration],
    now: DateTime<Utc>,
    report: &mut ScheduleReport,
) {
    let horizon = now
        + ChronoDuration::from_std(ctx.config.sync.refresh_ahead)
            .unwrap_or(ChronoDuration::days(7));
    for i in page.iter().filter(|i| needs_keep_alive(i, horizon)) {
        match ctx.tokens.refresh_now(i).await {
            Ok(_) => report.refreshed += 1,
            Err(e) => {
                report.refresh_failed += 1;
                tracing::warn!(tenant = %i.tenant_id, integration = %i.id, error = %e, "scheduled token refresh failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_align_and_ids_are_deterministic() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T14:37:12.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = period_start(t, 3600);
        assert_eq!(s.to_rfc3339(), "2026-11-22T14:00:00+00:00");
        assert_eq!(
            scheduled_job_id("i1", s),
            scheduled_job_id("i1", period_start(t + ChronoDuration::minutes(20), 3600))
        );
        assert_ne!(
            scheduled_job_id("i1", s),
            scheduled_job_id("i1", s - ChronoDuration::hours(1))
        );
    }

    #[test]
    fn service_accounts_are_never_kept_alive() {
        let now = Utc::now();
        let horizon = now + ChronoDuration::days(7);
        let mut i = Integration {
            tenant_id: crate::domain::TenantId::parse("t1").unwrap(),
            id: "i1".into(),
            provider: crate::domain::ProviderKind::Fortnox,
            status: IntegrationStatus::Connected,
            display_name: None,
            company_name: None,
            provider_company_id: None,
            token_expires_at: None,
            refresh_expires_at: Some(now + ChronoDuration::days(2)),
            mode: ConnectionMode::User,
            service_tenant_id: None,
            connected_at: None,
            last_error: None,
            secret_name: "p/t1/i1".into(),
            created_at: now,
            updated_at: now,
        };
        assert!(needs_keep_alive(&i, horizon));
        i.refresh_expires_at = Some(now + ChronoDuration::days(30));
        assert!(!needs_keep_alive(&i, horizon));
        // A service account: nothing to keep alive, whatever an old row says.
        i.mode = ConnectionMode::Service;
        i.refresh_expires_at = Some(now + ChronoDuration::days(2));
        assert!(!needs_keep_alive(&i, horizon));
        i.refresh_expires_at = None;
        assert!(!needs_keep_alive(&i, horizon));
    }
}
