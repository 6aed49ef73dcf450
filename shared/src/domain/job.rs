//! Sync jobs and their state machine. Transitions are pure; the store enforces them with
//! conditional writes so two workers can never both move a job.

use super::LastError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which way data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// App → provider.
    Push,
    /// Provider → app.
    Pull,
    /// Both: push first, then pull.
    Both,
}

impl Direction {
    /// Whether this direction pushes.
    pub fn pushes(self) -> bool {
        matches!(self, Direction::Push | Direction::Both)
    }
    /// Whether this direction pulls.
    pub fn pulls(self) -> bool {
        matches!(self, Direction::Pull | Direction::Both)
    }
}

/// The record kinds that are synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// Customers.
    Customers,
    /// Projects (invoices and rows name them).
    Projects,
    /// Articles (invoice rows name them).
    Articles,
    /// Invoices.
    Invoices,
}

impl Entity {
    /// Every entity, in the order they sync: customers first (projects and invoices refer to
    /// customers), invoices last (they name projects and articles).
    pub const ALL: [Entity; 4] = [
        Entity::Customers,
        Entity::Projects,
        Entity::Articles,
        Entity::Invoices,
    ];

    /// Whether the company's grant may not reach it: projects and articles need scopes
    /// (Fortnox `article`, `project`; Visma `ea:accounting` for project writes) that
    /// integrations connected before they were synced do not have. A refusal for want of a
    /// permission skips such an entity's phase instead of failing the job.
    pub fn needs_own_grant(self) -> bool {
        matches!(self, Entity::Projects | Entity::Articles)
    }

    /// Whether its records name a customer (`customer_id`) that must be at the provider first.
    pub fn refers_to_customers(self) -> bool {
        matches!(self, Entity::Projects | Entity::Invoices)
    }

    /// The name used in paths and keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Customers => "customers",
            Entity::Projects => "projects",
            Entity::Articles => "articles",
            Entity::Invoices => "invoices",
        }
    }

    /// Parses a path segment.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customers" => Some(Entity::Customers),
            "projects" => Some(Entity::Projects),
            "articles" => Some(Entity::Articles),
            "invoices" => Some(Entity::Invoices),
            _ => None,
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Incremental (since the last checkpoint) or full (everything; finds deletions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Only what changed since the last sync.
    Incremental,
    /// Everything.
    Full,
    /// Incremental, plus the id sweep that finds records deleted at the provider: what the
    /// nightly schedule runs (a list of ids costs a fraction of a full pull).
    Sweep,
}

/// What started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A person asked.
    Manual,
    /// The hourly schedule.
    Schedule,
    /// A webhook delivery.
    Webhook,
    /// The app upserted records.
    RecordUpsert,
    /// An event of Fortnox's change stream.
    Stream,
}

/// A job aimed at one record instead of a whole entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Which entity.
    pub entity: Entity,
    /// Our id of the record (push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub our_id: Option<String>,
    /// The provider's id of the record (pull).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// When the provider changed the record, when it said so apart from the record (an event
    /// of Fortnox's stream; Fortnox records carry no modification time): the provider's side
    /// of last-write-wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// A payment of the provider's whose invoice is to be read (Fortnox's stream names the
    /// payment in its `invoicepayments` events); `remote_id` is then absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting on the queue (new, between slices, or waiting for a retry).
    Queued,
    /// A worker is running a slice.
    Running,
    /// Done.
    Succeeded,
    /// Stopped for a reason retrying will not fix by itself (e.g. needs re-authorisation).
    Failed,
    /// Given up after too many attempts (landed in the dead-letter queue).
    Dead,
    /// Cancelled.
    Cancelled,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "dead" => JobState::Dead,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// No more work will happen unless someone retries.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Dead | JobState::Cancelled
        )
    }

    /// The states a job may move to `to` from. This is the state machine.
    pub fn allowed_sources(to: JobState) -> &'static [JobState] {
        use JobState::*;
        match to {
            // Between slices, after a retryable failure, by the watchdog, or a retry by hand.
            Queued => &[Running, Failed, Dead, Queued],
            // A fresh start or a resume after a crash (the lease decides who may run).
            Running => &[Queued, Running],
            Succeeded => &[Running],
            Failed => &[Running, Queued],
            Dead => &[Queued, Running, Failed],
            Cancelled => &[Queued, Running],
        }
    }

    /// Whether `self → to` is allowed.
    pub fn can_move_to(self, to: JobState) -> bool {
        JobState::allowed_sources(to).contains(&self)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters a job keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Records written or read successfully.
    pub done: u64,
    /// Records that failed (invalid data etc.).
    pub failed: u64,
    /// Records left alone because nothing changed.
    pub skipped: u64,
    /// Records where both sides had changed.
    pub conflicts: u64,
    /// The longest slice so far, in milliseconds (shows that no slice outgrows its budget).
    #[serde(default)]
    pub longest_slice_ms: u64,
    /// Records whose create's outcome is not known yet: the provider may still commit it, so
    /// the job looks them up again (by our reference) before it would ever create them again.
    #[serde(default)]
    pub in_doubt: u64,
}

impl Progress {
    /// Adds another slice's counters.
    pub fn add(&mut self, other: &Progress) {
        self.done += other.done;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.conflicts += other.conflicts;
        self.in_doubt += other.in_doubt;
        self.longest_slice_ms = self.longest_slice_ms.max(other.longest_slice_ms);
    }
}

/// One sync job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Owner.
    pub tenant_id: String,
    /// Integration.
    pub integration_id: String,
    /// Id (time-ordered).
    pub id: String,
    /// Push, pull or both.
    pub direction: Direction,
    /// Which entities, in order.
    pub entities: Vec<Entity>,
    /// Incremental or full.
    pub mode: Mode,
    /// What started it.
    pub trigger: Trigger,
    /// One record only, when set.
    pub target: Option<Target>,
    /// State.
    pub state: JobState,
    /// Counters.
    pub progress: Progress,
    /// Where the next slice continues (opaque to everyone but the engine).
    pub checkpoint: serde_json::Value,
    /// Slices run so far.
    pub slices: u32,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// The last error.
    pub last_error: Option<LastError>,
    /// Not to run before this (the scheduler spreads jobs over the hour).
    pub not_before: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, bumped by every stored change.
    #[serde(default)]
    pub version: u64,
}

/// A time-ordered job id: sortable by creation, unique by its random tail.
pub fn new_job_id(now: DateTime<Utc>) -> String {
    format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%S%3fZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Exponential backoff with full jitter: a random wait in `[0, min(cap, base·2^attempt)]`.
pub fn backoff_seconds(attempt: u32, base: u64, cap: u64, random: f64) -> u64 {
    let ceiling = base.saturating_mul(1u64 << attempt.min(20)).min(cap);
    ((ceiling as f64) * random.clamp(0.0, 1.0)).round() as u64
}

/// Where in the hour an integration's scheduled sync falls, so tenants spread out evenly and
/// each keeps its own minute from hour to hour.
pub fn schedule_offset_seconds(integration_id: &str, period_seconds: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(integration_id.as_bytes());
    let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    n % period_seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    const ALL: [JobState; 6] = [Queued, Running, Succeeded, Failed, Dead, Cancelled];

    #[test]
    fn terminal_states_only_leave_by_retry() {
        for from in [Succeeded, Cancelled] {
            for to in ALL {
                assert!(!from.can_move_to(to), "{from} -> {to}");
            }
        }
        assert!(Dead.can_move_to(Queued) && Failed.can_move_to(Queued));
        assert!(
            !Dead.can_move_to(Running) && !Failed.can_move_to(Running),
            "a retry goes through the queue"
        );
        assert!(
            !Queued.can_move_to(Succeeded),
            "success only from a running slice"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert_eq!(Entity::parse("invoices"), Some(Entity::Invoices));
        assert_eq!(Entity::parse("orders"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_seconds(0, 2, 900, 1.0), 2);
        assert_eq!(backoff_seconds(3, 2, 900, 1.0), 16);
        assert_eq!(backoff_seconds(30, 2, 900, 1.0), 900);
        assert_eq!(backoff_seconds(5, 2, 900, 0.0), 0);
        assert!(backoff_seconds(5, 2, 900, 0.5) <= 32);
    }

    #[test]
    fn schedule_offsets_spread_and_stay_put() {
        let offsets: Vec<u64> = (0..1000)
            .map(|i| schedule_offset_seconds(&format!("integration-{i}"), 3600))
            .collect();
        assert!(offsets.iter().all(|o| *o < 3600));
        assert_eq!(
            schedule_offset_seconds("a", 3600),
            schedule_offset_seconds("a", 3600)
        );
        // Every quarter of the hour gets a fair share.
        for q in 0..4 {
            let n = offsets.iter().filter(|o| **o / 900 == q).count();
            assert!((180..320).contains(&n), "quarter {q}: {n}");
        }
    }

    #[test]
    fn job_ids_sort_by_time() {
        let a = new_job_id(
            DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        let b = new_job_id(
            DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        assert!(a < b);
    }
}

/// Property tests over wide inputs. A failing case is shrunk and printed ("minimal failing
/// input: …"), and its seed is saved in `shared/proptest-regressions/domain/job.txt`: commit
/// that file and every later run replays the case first. `PROPTEST_RNG_SEED=<n>` fixes the
/// generator for a whole run; `PROPTEST_CASES=<n>` runs more cases.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use JobState::*;

    const ALL: [JobState; 6] = [Queued, Running, Succeeded, Failed, Dead, Cancelled];

    fn state() -> impl Strategy<Value = JobState> {
        proptest::sample::select(ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Any walk through the state machine from a new job, trying random moves and taking
        /// the allowed ones: success only follows a running slice, a job never runs straight
        /// from failed or dead (a retry goes through the queue), and succeeded and cancelled
        /// are final.
        #[test]
        fn walks_keep_the_rules(tries in proptest::collection::vec(state(), 0..200)) {
            let mut at = Queued;
            for to in tries {
                if !at.can_move_to(to) {
                    continue;
                }
                prop_assert!(JobState::allowed_sources(to).contains(&at));
                match to {
                    Succeeded => prop_assert_eq!(at, Running),
                    Running => prop_assert!(matches!(at, Queued | Running)),
                    _ => {}
                }
                prop_assert!(!matches!(at, Succeeded | Cancelled), "{} left a final state", at);
                at = to;
            }
            if matches!(at, Succeeded | Cancelled) {
                prop_assert!(ALL.iter().all(|to| !at.can_move_to(*to)));
            }
        }

        /// Every terminal state but success and cancellation can be retried: it reaches
        /// `Queued` in one move, and from there `Running`.
        #[test]
        fn terminal_states_are_retried_through_the_queue(s in state()) {
            if s.is_terminal() && !matches!(s, Succeeded | Cancelled) {
                prop_assert!(s.can_move_to(Queued) && Queued.can_move_to(Running));
                prop_assert!(!s.can_move_to(Running));
            }
        }

        /// Names round-trip, and no other text is a state.
        #[test]
        fn names_round_trip(s in state(), other in "[a-z_]{0,12}") {
            prop_assert_eq!(JobState::parse(s.as_str()), Some(s));
            if !ALL.iter().any(|s| s.as_str() == other) {
                prop_assert_eq!(JobState::parse(&other), None);
            }
        }

        /// The backoff stays in `[0, min(cap, base·2^attempt)]`, grows with the random draw,
        /// and reaches the ceiling at a draw of 1 (draws outside [0, 1] are clamped).
        #[test]
        fn backoff_is_bounded_and_monotone(
            attempt in any::<u32>(),
            base in 0u64..100_000,
            cap in 0u64..1_000_000,
            a in -1.0f64..2.0,
            b in -1.0f64..2.0,
        ) {
            let ceiling = base.saturating_mul(1u64 << attempt.min(20)).min(cap);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let (x, y) = (backoff_seconds(attempt, base, cap, lo), backoff_seconds(attempt, base, cap, hi));
            prop_assert!(x <= y && y <= ceiling);
            prop_assert_eq!(backoff_seconds(attempt, base, cap, 1.0), ceiling);
            prop_assert_eq!(backoff_seconds(attempt, base, cap, 0.0), 0);
        }

        /// An integration's place in the schedule is inside the period and never moves.
        #[test]
        fn schedule_offsets_stay_in_the_period(id in ".{0,64}", period in 0u64..1_000_000) {
            let o = schedule_offset_seconds(&id, period);
            prop_assert!(o < period.max(1));
            prop_assert_eq!(o, schedule_offset_seconds(&id, period));
        }

        /// Adding progress sums the counters and keeps the longest slice, in any order.
        #[test]
        fn progress_adds_up(parts in proptest::collection::vec((0u64..1 << 40, 0u64..1 << 40, 0u64..1 << 20), 0..20)) {
            let slices: Vec<Progress> = parts
                .iter()
                .map(|(done, failed, ms)| Progress { done: *done, failed: *failed, longest_slice_ms: *ms, ..Progress::default() })
                .collect();
            let mut forward = Progress::default();
            slices.iter().for_each(|p| forward.add(p));
            let mut backward = Progress::default();
            slices.iter().rev().for_each(|p| backward.add(p));
            prop_assert_eq!(&forward, &backward);
            prop_assert_eq!(forward.done, parts.iter().map(|p| p.0).sum::<u64>());
            prop_assert_eq!(forward.longest_slice_ms, parts.iter().map(|p| p.2).max().unwrap_or(0));
        }
    }
}
