//! Records in doubt: a create whose outcome the provider never told us (a timeout, a 5xx, a
//! dropped connection) may still be committed late. The engine keeps such a record in doubt
//! and looks it up by our reference again, with backoff across slices, until it is found
//! (adopted) or the settle time has passed since the create was sent (then, and only then, it
//! is created again). The job ends only when nothing is in doubt.

use super::run::{settle_backoff, Done, Doubt, Run};
use super::{SliceOutcome, SyncError};
use crate::domain::{Article, Customer, Entity, Invoice, Job, Project};
use crate::store::records::Mapping;
use chrono::{DateTime, Utc};

/// Whether a create sent at `sent_at` may still land: its settle time has not passed.
pub fn still_settling(
    sent_at: DateTime<Utc>,
    now: DateTime<Utc>,
    settle: std::time::Duration,
) -> bool {
    match chrono::Duration::from_std(settle)
        .ok()
        .and_then(|d| sent_at.checked_add_signed(d))
    {
        Some(settled_at) => now < settled_at,
        None => true, // beyond the calendar: never settles
    }
}

/// When the create a mapping marks as pending was sent, if one was.
pub(super) fn create_sent_at(m: Option<&Mapping>) -> Option<DateTime<Utc>> {
    m.and_then(|m| m.create_pending_since)
}

impl Run<'_> {
    /// Notes a record as in doubt (once).
    pub(super) fn doubt(&mut self, entity: Entity, our_id: &str) -> Done {
        let d = Doubt {
            entity,
            our_id: our_id.to_string(),
        };
        if !self.checkpoint.in_doubt.contains(&d) {
            self.checkpoint.in_doubt.push(d);
        }
        Done::InDoubt
    }

    /// After the phases: looks the records in doubt up again. The job finishes when none is
    /// left; else it waits (backoff) and comes back.
    pub(super) async fn settle(&mut self, job: &mut Job) -> Result<SliceOutcome, SyncError> {
        if self.checkpoint.in_doubt.is_empty() {
            // Nothing to save here: the worker saves the finished job at once.
            return Ok(SliceOutcome::Finished);
        }
        // Each was looked up once right after its create failed: the first look again waits one
        // backoff step.
        if self.checkpoint.settle_rounds > 0 {
            let mut doubts = std::mem::take(&mut self.checkpoint.in_doubt);
            doubts.sort_by_key(|d| d.entity); // an invoice waits for its customer
            let mut rest = doubts.into_iter();
            for d in rest.by_ref() {
                if self.out_of_time() {
                    self.checkpoint.in_doubt.push(d);
                    break;
                }
                let done = match d.entity {
                    Entity::Customers => self.export::<Customer>(job, &d.our_id).await?,
                    Entity::Invoices => self.export::<Invoice>(job, &d.our_id).await?,
                    Entity::Projects => self.export::<Project>(job, &d.our_id).await?,
                    Entity::Articles => self.export::<Article>(job, &d.our_id).await?,
                };
                Self::count(job, done);
            }
            self.checkpoint.in_doubt.extend(rest);
            if self.checkpoint.in_doubt.is_empty() {
                self.save(job).await?;
                return Ok(SliceOutcome::Finished);
            }
        }
        let wait = settle_backoff(self.checkpoint.settle_rounds);
        self.checkpoint.settle_rounds += 1;
        tracing::info!(
            integration = %self.integration.id, job = %self.job_id,
            in_doubt = self.checkpoint.in_doubt.len(), wait_s = wait.as_secs(),
            "records in doubt; looking them up again after a wait"
        );
        self.save(job).await?;
        Ok(SliceOutcome::Settling(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_create_settles_after_its_settle_time_not_before() {
        let sent = Utc::now();
        let settle = Duration::from_secs(120);
        assert!(still_settling(sent, sent, settle));
        assert!(still_settling(
            sent,
            sent + chrono::Duration::seconds(119),
            settle
        ));
        assert!(!still_settling(
            sent,
            sent + chrono::Duration::seconds(120),
            settle
        ));
        assert!(still_settling(sent, sent, Duration::MAX), "no overflow");
    }

    #[test]
    fn the_backoff_grows_to_half_a_minute() {
        let waits: Vec<u64> = (0..7).map(|r| settle_backoff(r).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 30, 30, 30]);
    }
}
