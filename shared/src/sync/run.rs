//! A job's phases, its checkpoint, and the slice loop that runs the phases in order until the
//! budget runs out, saving the checkpoint after every page.

use super::{Budget, Engine, SliceOutcome, SyncError};
use crate::connections::tokens::TokenError;
use crate::domain::{Article, Customer, Entity, Integration, Invoice, Job, Mode, Project};
use crate::http::ApiError;
use crate::providers::api::ApiAuth;
use crate::store::marks::Marks;
use crate::store::records::Mapping;
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Export pending (incremental) or all (full) local records of an entity.
    Push {
        /// Entity.
        entity: Entity,
    },
    /// Read records changed at the provider.
    Pull {
        /// Entity.
        entity: Entity,
    },
    /// Find records deleted at the provider (full mode).
    Sweep {
        /// Entity.
        entity: Entity,
    },
    /// Export one record.
    PushOne {
        /// Entity.
        entity: Entity,
        /// Our id.
        our_id: String,
    },
    /// Read one record.
    PullOne {
        /// Entity.
        entity: Entity,
        /// The provider's id.
        remote_id: String,
    },
    /// Read the invoice a payment belongs to.
    PullPaidInvoice {
        /// The provider's id of the payment.
        payment_id: String,
    },
}

impl Phase {
    /// The entity the phase works on (none for a paid-invoice lookup).
    pub fn entity(&self) -> Option<Entity> {
        match self {
            Phase::Push { entity }
            | Phase::Pull { entity }
            | Phase::Sweep { entity }
            | Phase::PushOne { entity, .. }
            | Phase::PullOne { entity, .. } => Some(*entity),
            Phase::PullPaidInvoice { .. } => None,
        }
    }
}

/// The steps of a job, in order. Entities go in `Entity` order (customers, projects, articles,
/// invoices: projects and invoices name customers, invoices name projects and articles), push
/// before pull (so a pull reads back our writes as already synced).
pub fn phases(job: &Job) -> Vec<Phase> {
    if let Some(t) = &job.target {
        return match (&t.our_id, &t.remote_id) {
            (Some(id), _) => vec![Phase::PushOne {
                entity: t.entity,
                our_id: id.clone(),
            }],
            (None, Some(id)) => vec![Phase::PullOne {
                entity: t.entity,
                remote_id: id.clone(),
            }],
            (None, None) => match &t.payment_id {
                Some(id) => vec![Phase::PullPaidInvoice {
                    payment_id: id.clone(),
                }],
                None => Vec::new(),
            },
        };
    }
    let mut entities = job.entities.clone();
    entities.sort();
    let mut out = Vec::new();
    if job.direction.pushes() {
        out.extend(entities.iter().map(|&entity| Phase::Push { entity }));
    }
    if job.direction.pulls() {
        out.extend(entities.iter().map(|&entity| Phase::Pull { entity }));
        if matches!(job.mode, Mode::Full | Mode::Sweep) {
            out.extend(entities.iter().map(|&entity| Phase::Sweep { entity }));
        }
    }
    out
}

/// Where a job continues.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Index into [`phases`].
    pub phase: usize,
    /// Push: the last our id handled. Sweep: the last mapping handled.
    pub after: Option<String>,
    /// Pull and sweep listing: the next page (0 = phase not started).
    pub page: u32,
    /// Pull: the lower bound of this pull, fixed when the phase starts.
    pub since: Option<DateTime<Utc>>,
    /// Pull: the smallest high-water mark seen so far.
    pub high_water: Option<DateTime<Utc>>,
    /// Pull: the provider's newest change time seen so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
    /// Sweep: every provider id seen, as short hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<u64>,
    /// Sweep: the listing is complete and mappings are being compared.
    #[serde(default)]
    pub listed: bool,
    /// Records whose create's outcome is not known yet (the provider may still commit it),
    /// carried from phase to phase and looked up again once the phases are done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_doubt: Vec<Doubt>,
    /// How many times the records in doubt have been looked up again (the backoff's exponent).
    #[serde(default)]
    pub settle_rounds: u32,
    /// The freshness marks of the phases done (pull high-water marks, end times, the newest
    /// change seen), carried from phase to phase and written in one go at the slice's end.
    #[serde(default, skip_serializing_if = "Marks::is_empty")]
    pub marks: Marks,
}

/// A record whose create may still land at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doubt {
    /// Entity.
    pub entity: Entity,
    /// Our id.
    pub our_id: String,
}

/// The wait before the records in doubt are looked up again after `rounds` lookups: 2, 4, 8,
/// 16, then 30 seconds.
pub fn settle_backoff(rounds: u32) -> std::time::Duration {
    std::time::Duration::from_secs((2u64 << rounds.min(4)).min(30))
}

impl Checkpoint {
    /// The checkpoint stored in a job: none yet (`null`) is the start. One that cannot be read
    /// stops the job: starting over would export and pull everything again, silently.
    pub fn load(stored: &serde_json::Value) -> Result<Self, SyncError> {
        if stored.is_null() {
            return Ok(Checkpoint::default());
        }
        serde_json::from_value(stored.clone()).map_err(|e| {
            SyncError::Fatal(format!(
                "the job's checkpoint cannot be read ({e}); the job stops instead of starting \
                 over from its first phase: start a new job"
            ))
        })
    }
}

impl Engine<'_> {
    /// Runs one slice of `job` for `integration`.
    pub async fn run(
        &self,
        integration: &Integration,
        job: &mut Job,
        budget: Budget,
    ) -> Result<SliceOutcome, SyncError> {
        let checkpoint = Checkpoint::load(&job.checkpoint)?;
        let token = match self.tokens.access_token(integration).await {
            Ok(t) => t,
            Err(TokenError::NeedsReauth(r)) => return Err(SyncError::NeedsReauth(r)),
            Err(TokenError::NotConnected) => {
                return Err(SyncError::Fatal("the integration is not connected".into()))
            }
            Err(e) => {
                return Err(SyncError::Retryable {
                    reason: e.to_string(),
                    retry_after: None,
                })
            }
        };
        let (deadline, checks) = match budget {
            Budget::Time(d) => (Some(Instant::now() + d), None),
            Budget::Checks(n) => (None, Some(AtomicU32::new(n))),
        };
        let mut run = Run {
            eng: *self,
            integration,
            auth: ApiAuth::for_integration(integration, token),
            deadline,
            checks,
            job_id: job.id.clone(),
            checkpoint,
            saved_at: Instant::now(),
            saved_progress: job.progress.clone(),
            pull_marks: None,
            any_pending: None,
            any_quarantined: None,
        };
        run.refresh_article_vat().await;
        let outcome = run.phases(job).await;
        // The marks of the phases done reach the store even when a later phase failed (the
        // app's freshness); a retry that redoes a phase writes its marks again, harmlessly.
        match (outcome, run.flush_marks().await) {
            (Ok(o), Ok(())) => Ok(o),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), _) => Err(e),
        }
    }
}

impl Run<'_> {
    /// Runs the job's phases in order until the budget runs out, then looks the records in
    /// doubt up again.
    async fn phases(&mut self, job: &mut Job) -> Result<SliceOutcome, SyncError> {
        let run = self;
        let plan = phases(job);
        while run.checkpoint.phase < plan.len() {
            let phase = &plan[run.checkpoint.phase];
            let finished = match run.phase(job, phase).await {
                // A company connected before the project and article scopes were asked for:
                // its grant does not reach these registers. Customers and invoices go on; the
                // register waits until the company connects again.
                Err(SyncError::NeedsPerson(reason))
                    if phase.entity().is_some_and(Entity::needs_own_grant) =>
                {
                    tracing::warn!(entity = %phase.entity().map(Entity::as_str).unwrap_or_default(), %reason, "the company's grant does not reach this register; phase skipped");
                    true
                }
                other => other?,
            };
            if finished {
                run.checkpoint = Checkpoint {
                    phase: run.checkpoint.phase + 1,
                    in_doubt: std::mem::take(&mut run.checkpoint.in_doubt),
                    settle_rounds: run.checkpoint.settle_rounds,
                    marks: std::mem::take(&mut run.checkpoint.marks),
                    ..Checkpoint::default()
                };
                // The end of a phase is saved only when the phase made progress since the last
                // save and another phase follows (or records are in doubt): a retry after a
                // crash runs an unsaved phase end again from the last save, which finds what
                // it already did done (a push skips what is synced, a pull reads from the
                // stored mark), and every save writes the job and moves its index entry, three
                // write units (an idle Visma poll saved its job eight times, bench/cost). After
                // the last phase the worker's save of the finished job follows at once. The
                // watchdog's heartbeat still comes at least every SAVE_HEARTBEAT.
                let doubts = !run.checkpoint.in_doubt.is_empty();
                let unsaved = job.progress != run.saved_progress || doubts;
                let last = run.checkpoint.phase == plan.len() && !doubts;
                if (unsaved && !last) || run.saved_at.elapsed() >= SAVE_HEARTBEAT {
                    run.save(job).await?;
                }
            } else {
                // Written before the save, so the saved checkpoint does not carry them again.
                run.flush_marks().await?;
                run.save(job).await?;
                return Ok(SliceOutcome::MoreWork);
            }
        }
        run.flush_marks().await?;
        run.settle(job).await
    }

    /// Writes the marks gathered so far, in one write, and forgets them.
    async fn flush_marks(&mut self) -> Result<(), SyncError> {
        if self.checkpoint.marks.is_empty() {
            return Ok(());
        }
        self.eng
            .store
            .record_marks(&self.integration.id, &self.checkpoint.marks)
            .await
            .map_err(store_err)?;
        self.checkpoint.marks = Marks::default();
        Ok(())
    }
}

/// How old the copy of a company's article VAT rates may grow before a job reads it again.
pub const ARTICLE_VAT_MAX_AGE_MINUTES: i64 = 15;

/// The longest a running slice goes without saving its job: far inside the watchdog's
/// `STUCK_AFTER_SECONDS` (300), so a slice of idle phases is never taken for a dead one.
const SAVE_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(60);

/// How often a long pull saves where it is (and the progress the app sees): a crash re-reads at
/// most this much, which the pull's skipping of what it already has makes harmless. Saving each
/// page cost a job write and its index entry per page (issue #14's writes per pulled record).
pub(super) const PROGRESS_SAVE: std::time::Duration = std::time::Duration::from_secs(10);

/// One slice in progress.
pub(super) struct Run<'a> {
    pub(super) eng: Engine<'a>,
    pub(super) integration: &'a Integration,
    pub(super) auth: ApiAuth,
    deadline: Option<Instant>,
    checks: Option<AtomicU32>,
    pub(super) job_id: String,
    pub(super) checkpoint: Checkpoint,
    /// When the job was last saved.
    pub(super) saved_at: Instant,
    /// The job's progress as last saved.
    pub(super) saved_progress: crate::domain::job::Progress,
    /// The stored pull high-water marks, read once by the slice's first pull phase.
    pub(super) pull_marks: Option<std::collections::HashMap<Entity, DateTime<Utc>>>,
    /// Whether any record of any entity awaited export, read once by the slice's first
    /// incremental push phase: without, every push phase of the slice ends at once.
    pub(super) any_pending: Option<bool>,
    /// Whether any record was set aside, read once by the slice's first pull phase: without,
    /// no pull phase of the slice looks for its entity's.
    pub(super) any_quarantined: Option<bool>,
}

/// The outcome of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Done {
    Written,
    Skipped,
    Failed,
    Conflict,
    /// Its create's outcome is unknown; it is in the checkpoint's `in_doubt`.
    InDoubt,
}

/// A storage failure ends the slice; it is retried.
pub(super) fn store_err(e: StoreError) -> SyncError {
    SyncError::Retryable {
        reason: e.to_string(),
        retry_after: None,
    }
}

/// A mapping that only names our id.
pub(super) fn empty_mapping(our_id: &str) -> Mapping {
    Mapping {
        our_id: our_id.to_string(),
        remote_id: None,
        synced_hash: None,
        remote_hash: None,
        remote_modified_at: None,
        create_pending_since: None,
        create_hash: None,
        deleted_at: None,
    }
}

impl Run<'_> {
    /// Runs (part of) one phase; `true` when it is complete.
    async fn phase(&mut self, job: &mut Job, phase: &Phase) -> Result<bool, SyncError> {
        use Entity::{Articles, Customers, Invoices, Projects};
        match phase {
            Phase::Push { entity: Customers } => self.push::<Customer>(job).await,
            Phase::Push { entity: Invoices } => self.push::<Invoice>(job).await,
            Phase::Push { entity: Projects } => self.push::<Project>(job).await,
            Phase::Push { entity: Articles } => self.push::<Article>(job).await,
            Phase::Pull { entity: Customers } => self.pull::<Customer>(job).await,
            Phase::Pull { entity: Invoices } => self.pull::<Invoice>(job).await,
            Phase::Pull { entity: Projects } => self.pull::<Project>(job).await,
            Phase::Pull { entity: Articles } => self.pull::<Article>(job).await,
            Phase::Sweep { entity } => self.sweep(job, *entity).await,
            Phase::PushOne {
                entity: Customers,
                our_id,
            } => self.push_one::<Customer>(job, our_id).await,
            Phase::PushOne {
                entity: Invoices,
                our_id,
            } => self.push_one::<Invoice>(job, our_id).await,
            Phase::PullOne {
                entity: Customers,
                remote_id,
            } => self.pull_one::<Customer>(job, remote_id).await,
            Phase::PullOne {
                entity: Invoices,
                remote_id,
            } => self.pull_one::<Invoice>(job, remote_id).await,
            Phase::PushOne {
                entity: Projects,
                our_id,
            } => self.push_one::<Project>(job, our_id).await,
            Phase::PushOne {
                entity: Articles,
                our_id,
            } => self.push_one::<Article>(job, our_id).await,
            Phase::PullOne {
                entity: Projects,
                remote_id,
            } => self.pull_one::<Project>(job, remote_id).await,
            Phase::PullOne {
                entity: Articles,
                remote_id,
            } => self.pull_one::<Article>(job, remote_id).await,
            Phase::PullPaidInvoice { payment_id } => self.pull_paid_invoice(job, payment_id).await,
        }
    }

    /// Reads the company's article VAT rates again when the stored copy is missing or older
    /// than [`ARTICLE_VAT_MAX_AGE_MINUTES`], for providers that book VAT through the article:
    /// the records API checks invoice rows against it. Never fails the slice: without a copy
    /// the rows are checked at export.
    async fn refresh_article_vat(&self) {
        if !self.eng.api.vat_by_article() {
            return;
        }
        let id = &self.integration.id;
        let max_age = chrono::Duration::minutes(ARTICLE_VAT_MAX_AGE_MINUTES);
        match self.eng.store.article_vat(id).await {
            Ok(Some(copy)) if !copy.is_stale(Utc::now(), max_age) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(integration = %id, error = %e, "the article VAT copy cannot be read");
                return;
            }
        }
        match self.eng.api.article_vat(&self.auth).await {
            Ok(Some(copy)) => {
                if let Err(e) = self.eng.store.put_article_vat(id, &copy).await {
                    tracing::warn!(integration = %id, error = %e, "the article VAT copy cannot be stored");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(integration = %id, error = %e, "the articles cannot be read; rows are checked at export");
            }
        }
    }

    /// Whether the slice should stop taking new work.
    pub(super) fn out_of_time(&self) -> bool {
        if let Some(checks) = &self.checks {
            // Counts down to zero and stays there.
            return checks
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_err();
        }
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Saves progress and checkpoint (also the watchdog's heartbeat).
    pub(super) async fn save(&mut self, job: &mut Job) -> Result<(), SyncError> {
        job.progress.in_doubt = self.checkpoint.in_doubt.len() as u64;
        job.checkpoint = serde_json::to_value(&self.checkpoint)
            .map_err(|e| SyncError::Fatal(format!("the checkpoint cannot be written: {e}")))?;
        job.updated_at = Utc::now();
        self.eng.store.save_job(job).await.map_err(store_err)?;
        self.saved_at = Instant::now();
        self.saved_progress = job.progress.clone();
        Ok(())
    }

    /// Turns a provider failure that concerns the whole job into a job error.
    pub(super) async fn job_error(&self, e: ApiError) -> SyncError {
        match e {
            ApiError::Retryable { message } | ApiError::Unexpected { message } => {
                SyncError::Retryable {
                    reason: message,
                    retry_after: None,
                }
            }
            ApiError::RateLimited {
                retry_after,
                message,
            } => SyncError::Retryable {
                reason: message,
                retry_after,
            },
            ApiError::NeedsReauth { message } => {
                // The token may simply have been refused early: replace it (one refresh per
                // refused token, however many slices saw it refused), then retry the slice; a
                // dead grant, or a refused replacement, ends in needs_reauth.
                match self
                    .eng
                    .tokens
                    .replace_refused(self.integration, &self.auth.access_token)
                    .await
                {
                    Ok(_) => SyncError::Retryable {
                        reason: format!("token refused, refreshed: {message}"),
                        retry_after: None,
                    },
                    Err(TokenError::NeedsReauth(r)) => SyncError::NeedsReauth(r),
                    Err(other) => SyncError::Retryable {
                        reason: other.to_string(),
                        retry_after: None,
                    },
                }
            }
            ApiError::NeedsPerson { message, .. } => SyncError::NeedsPerson(message),
            other => SyncError::Retryable {
                reason: other.to_string(),
                retry_after: None,
            },
        }
    }

    /// Counts a record's outcome in the job's progress.
    pub(super) fn count(job: &mut Job, d: Done) {
        match d {
            Done::Written => job.progress.done += 1,
            Done::Skipped => job.progress.skipped += 1,
            Done::Failed => job.progress.failed += 1,
            Done::Conflict => {
                job.progress.conflicts += 1;
                job.progress.done += 1;
            }
            Done::InDoubt => {} // counted by the checkpoint's list, once it is settled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Direction, JobState, Progress, Target, Trigger};

    fn job(direction: Direction, mode: Mode, entities: Vec<Entity>, target: Option<Target>) -> Job {
        Job {
            tenant_id: "t".into(),
            integration_id: "i".into(),
            id: "j".into(),
            direction,
            entities,
            mode,
            trigger: Trigger::Manual,
            target,
            state: JobState::Queued,
            progress: Progress::default(),
            checkpoint: serde_json::Value::Null,
            slices: 0,
            attempts: 0,
            last_error: None,
            not_before: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            finished_at: None,
            version: 0,
        }
    }

    #[test]
    fn phases_push_customers_first_then_pull_then_sweep() {
        let p = phases(&job(
            Direction::Both,
            Mode::Full,
            vec![Entity::Invoices, Entity::Customers],
            None,
        ));
        assert_eq!(
            p,
            vec![
                Phase::Push {
                    entity: Entity::Customers
                },
                Phase::Push {
                    entity: Entity::Invoices
                },
                Phase::Pull {
                    entity: Entity::Customers
                },
                Phase::Pull {
                    entity: Entity::Invoices
                },
                Phase::Sweep {
                    entity: Entity::Customers
                },
                Phase::Sweep {
                    entity: Entity::Invoices
                },
            ]
        );
        assert_eq!(
            phases(&job(
                Direction::Pull,
                Mode::Incremental,
                vec![Entity::Customers],
                None
            ))
            .len(),
            1
        );
        let t = Target {
            entity: Entity::Invoices,
            our_id: None,
            remote_id: Some("42".into()),
            changed_at: None,
            payment_id: None,
        };
        assert_eq!(
            phases(&job(
                Direction::Pull,
                Mode::Incremental,
                vec![Entity::Invoices],
                Some(t)
            )),
            vec![Phase::PullOne {
                entity: Entity::Invoices,
                remote_id: "42".into()
            }]
        );
    }

    #[test]
    fn checkpoints_round_trip_through_json() {
        let c = Checkpoint {
            phase: 2,
            page: 3,
            seen: vec![1, 2],
            listed: true,
            ..Default::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(serde_json::from_value::<Checkpoint>(v).unwrap(), c);
        assert_eq!(
            serde_json::from_value::<Checkpoint>(serde_json::Value::Null).unwrap_or_default(),
            Checkpoint::default()
        );
    }

    #[test]
    fn a_new_job_starts_at_the_first_phase_an_unreadable_checkpoint_is_an_error() {
        assert_eq!(
            Checkpoint::load(&serde_json::Value::Null).unwrap(),
            Checkpoint::default()
        );
        let err = Checkpoint::load(&serde_json::json!({"phase": "two"})).unwrap_err();
        match err {
            SyncError::Fatal(m) => assert!(m.contains("checkpoint cannot be read"), "{m}"),
            other => panic!("not fatal: {other:?}"),
        }
    }
}
