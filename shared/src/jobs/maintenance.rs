//! The dead-letter handler, the watchdog for stuck jobs and the scheduler (run every five
//! minutes: Fortnox integrations sync once a period, `SCHEDULE_PERIOD_SECONDS`, an hour by
//! default; Visma integrations as often as the app-wide Visma budget allows, see
//! [`visma_poll_seconds`]).

use super::host::JobHost;
use super::{error_now, message_for, new_job, JobRequest};
use crate::domain::job::schedule_offset_seconds;
use crate::domain::{
    ConnectionMode, Direction, Entity, Integration, IntegrationStatus, Job, JobState, Mode,
    ProviderKind, Trigger,
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
    for mut job in ctx.db.running_jobs_since(cutoff).await? {
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

/// Visma's limit per endpoint, app-wide: requests a minute, shared by every company connected
/// to the app (see docs/rate-limits.md).
pub const VISMA_ENDPOINT_PER_MINUTE: u64 = 600;
/// The share of that limit the schedule's polls may use; the rest is kept for exports,
/// webhook pulls and first syncs.
pub const VISMA_POLL_SHARE_PERCENT: u64 = 50;
/// The shortest interval between two polls of one Visma integration.
pub const VISMA_POLL_MIN_SECONDS: u64 = 300;

/// How often each of `n` connected Visma integrations is polled: as often as five minutes,
/// stretched so that all of them together ask each Visma endpoint at most
/// [`VISMA_POLL_SHARE_PERCENT`] % of [`VISMA_ENDPOINT_PER_MINUTE`] (an idle incremental job asks
/// each endpoint once: one page of customers, one of customer invoices), in whole five-minute
/// steps so that the interval changes seldom as integrations come and go. No upper bound: past
/// 18,000 integrations it stretches beyond the hour rather than go over the budget.
pub fn visma_poll_seconds(n: u64) -> u64 {
    let per_minute = VISMA_ENDPOINT_PER_MINUTE * VISMA_POLL_SHARE_PERCENT / 100;
    let needed = (n * 60).div_ceil(per_minute.max(1));
    needed.div_ceil(VISMA_POLL_MIN_SECONDS).max(1) * VISMA_POLL_MIN_SECONDS
}

/// The nightly deletion sweep's window, in Swedish local time: from 01:00, four hours.
const SWEEP_WINDOW_START_HOUR: u32 = 1;
/// Its length.
pub const SWEEP_WINDOW_SECONDS: u64 = 4 * 3600;

/// When `integration_id`'s deletion sweep is due on the night that starts on the Swedish date
/// of `at`: its own offset in the night window, so sweeps spread over four quiet hours like
/// the hourly syncs over the hour.
pub fn sweep_due(integration_id: &str, at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::TimeZone;
    let tz = chrono_tz::Europe::Stockholm;
    let date = at.with_timezone(&tz).date_naive();
    let start = date
        .and_hms_opt(SWEEP_WINDOW_START_HOUR, 0, 0)
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(at);
    let offset = schedule_offset_seconds(&format!("sweep:{integration_id}"), SWEEP_WINDOW_SECONDS);
    start + ChronoDuration::seconds(offset as i64)
}

/// Whether the scheduled job of the period `[start, start + period)` is the night's sweep:
/// the integration's sweep falls due inside it. Incremental otherwise.
pub fn scheduled_mode(integration_id: &str, start: DateTime<Utc>, period: u64) -> Mode {
    let due = sweep_due(integration_id, start);
    let end = start + ChronoDuration::seconds(period.max(60) as i64);
    if start <= due && due < end {
        Mode::Sweep
    } else {
        Mode::Incremental
    }
}

/// How often a scheduled job also syncs the catalog (projects and articles): once an hour.
pub const CATALOG_PERIOD_SECONDS: u64 = 3600;

/// The entities of the scheduled job of the period starting at `start`. Customers and
/// invoices every period; projects and articles (invoices' references, which change seldom)
/// in the period that holds the turn of each hour, and in the night's sweep. Only a Visma
/// poll, more often than hourly, leaves them out: at 10,000 integrations that is two of an idle
/// poll's four provider requests in two polls of three (bench/cost). A project or an article
/// the app upserts is still exported at once (the upsert's own job has every entity); one made
/// at the provider reaches the feed within the hour and a period.
pub fn scheduled_entities(mode: Mode, start: DateTime<Utc>, period: u64) -> Vec<Entity> {
    let into_hour = start.timestamp().rem_euclid(CATALOG_PERIOD_SECONDS as i64) as u64;
    let holds_turn_of_hour = into_hour == 0 || into_hour + period > CATALOG_PERIOD_SECONDS;
    if mode != Mode::Incremental || holds_turn_of_hour {
        Entity::ALL.to_vec()
    } else {
        vec![Entity::Customers, Entity::Invoices]
    }
}

/// Enqueues an incremental sync for every connected integration, each at its own offset in its
/// provider's period (once a night, in its own slot between 01:00 and 05:00 Swedish time, the
/// job also sweeps for deletions), and refreshes tokens that would otherwise die unused.
pub async fn schedule(ctx: &dyn JobHost, now: DateTime<Utc>) -> Result<ScheduleReport, StoreError> {
    let mut report = ScheduleReport::default();
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = ctx
            .jobs()
            .integrations_in_status(IntegrationStatus::Connected, cursor, 200)
            .await?;
        all.extend(page);
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    report.integrations = all.len();
    let visma = all
        .iter()
        .filter(|i| i.provider == ProviderKind::Visma)
        .count() as u64;
    let periods = Periods {
        fortnox: ctx.sync_settings().schedule_period.as_secs(),
        visma: visma_poll_seconds(visma),
    };
    for page in all.chunks(200) {
        schedule_page(ctx, page, &periods, now, &mut report).await?;
        refresh_ahead(ctx, page, now, &mut report).await;
    }
    tracing::info!(?report, visma_poll_seconds = periods.visma, "schedule run");
    Ok(report)
}

/// How far back the scheduler looks for a scheduled job still active.
const LOOKBACK_SECONDS: u64 = 1800;

/// How often EventBridge runs the scheduler (template.yaml, `rate(5 minutes)`).
pub const SCHEDULER_RUN_SECONDS: u64 = 300;

/// A run also queues the next period's job of an integration whose slot in that period comes
/// before the next run (with a minute's margin for a late run): without it, every slot between
/// a period's start and its first run would start at that run, all at once (a fifth of the
/// Visma polls at 10,000 integrations, `bench/scale`).
const LOOKAHEAD_SECONDS: u64 = SCHEDULER_RUN_SECONDS + 60;

/// Each provider's scheduling period, in seconds.
struct Periods {
    fortnox: u64,
    visma: u64,
}

impl Periods {
    fn of(&self, p: ProviderKind) -> u64 {
        match p {
            ProviderKind::Fortnox => self.fortnox,
            ProviderKind::Visma => self.visma,
        }
    }
}

/// The scheduled job of one integration for the period starting at `start`.
struct Slot {
    start: DateTime<Utc>,
    period: u64,
    /// When its job is due: the integration's own offset in the period.
    due: DateTime<Utc>,
    id: String,
    /// The ids of the scheduled jobs of the periods of the last half hour before it (at least
    /// the one before).
    earlier: Vec<String>,
}

impl Slot {
    fn new(i: &Integration, start: DateTime<Utc>, period: u64) -> Self {
        let offset = schedule_offset_seconds(&i.id, period);
        Slot {
            start,
            period,
            due: start + ChronoDuration::seconds(offset as i64),
            id: scheduled_job_id(&i.id, start),
            earlier: (1..=(LOOKBACK_SECONDS / period.max(1)).clamp(1, 6))
                .map(|k| {
                    scheduled_job_id(&i.id, start - ChronoDuration::seconds((k * period) as i64))
                })
                .collect(),
        }
    }

    /// Whether a job for this slot may be made: none exists, and no job of an earlier period is
    /// still active (one job an integration at a time, also when a five-minute Visma poll
    /// meets a long first sync). An earlier job that waits for its own slot, still to come, is
    /// not in the way: it runs first. `besides` is a job that is not in the way either: for the
    /// next period's slot, the current period's job, which may well still run as its
    /// successor is queued (their slots are a period apart, and the lease keeps them apart);
    /// the jobs before it still hold the next one back.
    fn open(&self, iid: &str, existing: &[Job], now: DateTime<Utc>, besides: Option<&str>) -> bool {
        !existing.iter().any(|j| {
            j.integration_id == iid
                && (j.id == self.id
                    || (self.earlier.contains(&j.id)
                        && besides != Some(j.id.as_str())
                        && !j.state.is_terminal()
                        && j.not_before.is_none_or(|nb| nb <= now)))
        })
    }

    fn job(&self, i: &Integration, now: DateTime<Utc>) -> Job {
        let mode = scheduled_mode(&i.id, self.start, self.period);
        let req = JobRequest {
            direction: Direction::Both,
            entities: scheduled_entities(mode, self.start, self.period),
            mode,
            trigger: Trigger::Schedule,
            target: None,
            not_before: Some(self.due),
        };
        let mut job = new_job(i, &req, now);
        job.id = self.id.clone();
        job
    }
}

async fn schedule_page(
    ctx: &dyn JobHost,
    page: &[Integration],
    periods: &Periods,
    now: DateTime<Utc>,
    report: &mut ScheduleReport,
) -> Result<(), StoreError> {
    // This period's slot of each integration, and the next period's when it comes before the
    // next run.
    let slots: Vec<(&Integration, Slot, Option<Slot>)> = page
        .iter()
        .map(|i| {
            let period = periods.of(i.provider);
            let start = period_start(now, period);
            let next = Slot::new(i, start + ChronoDuration::seconds(period as i64), period);
            let ahead = next.due < now + ChronoDuration::seconds(LOOKAHEAD_SECONDS as i64);
            (i, Slot::new(i, start, period), ahead.then_some(next))
        })
        .collect();
    // First this period's and the next period's job ids: at steady state this period's job is
    // there (queued ahead by an earlier run) and nothing more need be read.
    let mut keys = Vec::new();
    for (i, this, next) in &slots {
        keys.push((i.id.clone(), this.id.clone()));
        if let Some(n) = next {
            keys.push((i.id.clone(), n.id.clone()));
        }
    }
    let mut existing = ctx.jobs().get_jobs(&keys).await?;
    let has = |existing: &[Job], iid: &str, id: &str| {
        existing
            .iter()
            .any(|j| j.integration_id == iid && j.id == id)
    };
    // Then the earlier periods' ids, only where a job may be made: for an integration without
    // this period's job, and for the earlier periods a next period's slot looks back on.
    let mut earlier = Vec::new();
    for (i, this, next) in &slots {
        let mut ids: Vec<&String> = Vec::new();
        if !has(&existing, &i.id, &this.id) {
            ids.extend(&this.earlier);
        }
        if let Some(n) = next.as_ref().filter(|n| !has(&existing, &i.id, &n.id)) {
            ids.extend(n.earlier.iter().filter(|id| **id != this.id));
        }
        ids.sort();
        ids.dedup();
        earlier.extend(ids.into_iter().map(|id| (i.id.clone(), id.clone())));
    }
    if !earlier.is_empty() {
        existing.extend(ctx.jobs().get_jobs(&earlier).await?);
    }
    let mut jobs = Vec::new();
    for (i, this, next) in &slots {
        if this.open(&i.id, &existing, now, None) {
            let job = this.job(i, now);
            existing.push(job.clone());
            jobs.push(job);
        } else {
            report.skipped += 1;
        }
        if let Some(n) = next
            .as_ref()
            .filter(|n| n.open(&i.id, &existing, now, Some(&this.id)))
        {
            jobs.push(n.job(i, now));
        }
    }
    ctx.jobs().create_jobs(&jobs).await?;
    let msgs: Vec<(JobMessage, u64)> = jobs
        .iter()
        .map(|j| {
            // Rounded up: a message a fraction of a second early is sent again by the worker.
            let delay = j
                .not_before
                .map(|nb| ((nb - now).num_milliseconds().max(0) as u64).div_ceil(1000))
                .unwrap_or(0);
            (message_for(j), delay)
        })
        .collect();
    ctx.queue().send_batch(&msgs).await?;
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
    ctx: &dyn JobHost,
    page: &[Integration],
    now: DateTime<Utc>,
    report: &mut ScheduleReport,
) {
    let horizon = now
        + ChronoDuration::from_std(ctx.sync_settings().refresh_ahead)
            .unwrap_or(ChronoDuration::days(7));
    for i in page.iter().filter(|i| needs_keep_alive(i, horizon)) {
        match ctx.keep_alive(i).await {
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

    /// The most polls of any one Visma endpoint in any minute, for `n` integrations spread by
    /// their real offsets over the interval the rule gives.
    fn busiest_minute(n: u64) -> (u64, u64) {
        let period = visma_poll_seconds(n);
        let mut per_second = vec![0u64; period as usize];
        for k in 0..n {
            let id = format!("{:08x}-0000-4000-8000-{k:012x}", k.wrapping_mul(2654435761));
            per_second[schedule_offset_seconds(&id, period) as usize] += 1;
        }
        // Polls repeat every period: a window may wrap around its end.
        let seconds: Vec<u64> = per_second
            .iter()
            .chain(per_second.iter())
            .copied()
            .collect();
        let busiest = (0..period as usize)
            .map(|s| seconds[s..s + 60].iter().sum::<u64>())
            .max()
            .unwrap_or(0);
        (period, busiest)
    }

    #[test]
    fn the_catalog_is_polled_once_an_hour_and_customers_and_invoices_every_period() {
        let day = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let day = period_start(day, 86_400);
        for (period, catalog_share) in [
            (300u64, 1.0 / 12.0),
            (1_200, 1.0 / 3.0),
            (2_100, 7.0 / 12.0),
            (3_600, 1.0),
            (7_200, 1.0),
        ] {
            let starts: Vec<DateTime<Utc>> = (0..(2 * 86_400 / period) as i64)
                .map(|k| day + ChronoDuration::seconds(k * period as i64))
                .collect();
            let with_catalog: Vec<i64> = starts
                .iter()
                .filter(|&&s| {
                    let e = scheduled_entities(Mode::Incremental, s, period);
                    assert!(e.contains(&Entity::Customers) && e.contains(&Entity::Invoices));
                    e.len() == Entity::ALL.len()
                })
                .map(|s| s.timestamp())
                .collect();
            let share = with_catalog.len() as f64 / starts.len() as f64;
            assert!(
                (share - catalog_share).abs() < 0.02,
                "period {period}: {share}"
            );
            // Never more than an hour and a period between two catalog polls.
            for w in with_catalog.windows(2) {
                assert!(w[1] - w[0] <= (3_600 + period) as i64, "period {period}");
            }
            // The night's sweep and a full sync always carry every entity.
            for s in &starts {
                for mode in [Mode::Sweep, Mode::Full] {
                    assert_eq!(scheduled_entities(mode, *s, period), Entity::ALL.to_vec());
                }
            }
        }
    }

    #[test]
    fn visma_polls_stay_inside_the_shared_budget_at_every_scale() {
        let share = VISMA_ENDPOINT_PER_MINUTE * VISMA_POLL_SHARE_PERCENT / 100;
        for (n, period) in [(10, 300), (1_000, 300), (10_000, 2_100)] {
            let (p, busiest) = busiest_minute(n);
            assert_eq!(p, period, "{n} integrations");
            // On average within the polls' share; the busiest minute (offsets are hashes, not
            // a perfect spread) still well inside the app-wide limit.
            assert!(
                n * 60 / p <= share,
                "{n}: {} a minute on average",
                n * 60 / p
            );
            assert!(
                busiest <= VISMA_ENDPOINT_PER_MINUTE * 2 / 3,
                "{n}: {busiest} in the busiest minute"
            );
        }
        assert_eq!(visma_poll_seconds(0), 300);
        assert!(
            visma_poll_seconds(100_000) > 3_600,
            "stretches, never over the budget"
        );
    }

    #[test]
    fn every_integration_sweeps_once_a_night_spread_over_the_window() {
        let night = chrono::DateTime::parse_from_rfc3339("2026-11-30T22:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut per_hour = [0u32; 24];
        for n in 0..1000 {
            let id = format!("integration-{n}");
            for period in [3600u64, 300, 900] {
                let sweeps: Vec<DateTime<Utc>> = (0..(86_400 / period))
                    .map(|k| night + ChronoDuration::seconds((k * period) as i64))
                    .filter(|s| scheduled_mode(&id, *s, period) == Mode::Sweep)
                    .collect();
                assert_eq!(sweeps.len(), 1, "{id} every {period} s: {sweeps:?}");
                let local = sweeps[0].with_timezone(&chrono_tz::Europe::Stockholm);
                assert!((1..5).contains(&local.hour()), "{id}: {local}");
                if period == 3600 {
                    per_hour[local.hour() as usize] += 1;
                }
            }
        }
        // 1,000 integrations over four hours: about 250 an hour.
        for h in 1..5 {
            assert!((180..=320).contains(&per_hour[h]), "{per_hour:?}");
        }
    }

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
