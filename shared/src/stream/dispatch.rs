//! From events to queued work: each changed record gets one targeted pull (its pending marker
//! folds later events of the same record into it), and only then does the topic's offset move.

use super::session::{Consumer, Stop};
use super::wire::{self, Event};
use crate::domain::{Direction, Entity, Integration, Job, Mode, Target, Trigger};
use crate::jobs::{message_for, new_job, JobRequest};
use crate::store::stream::Marker;
use crate::store::{JobMessage, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};

/// Where a replay of a topic starts once `offset` is handled: the next offset when offsets are
/// numbers (as the sandbox's, and Fortnox's in every published example), else `offset` itself
/// (inclusive: the one event is read again, and its pending marker makes that harmless).
pub(super) fn next_offset(offset: &str) -> String {
    match offset.trim().parse::<u64>() {
        Ok(n) => (n + 1).to_string(),
        Err(_) => offset.to_string(),
    }
}

/// Whether `e` lies before where the topic's replay starts: delivered again, already handled.
pub(super) fn seen_before(offsets: &BTreeMap<String, String>, e: &Event) -> bool {
    let Some(from) = offsets.get(&e.topic) else {
        return false;
    };
    match (e.offset.trim().parse::<u64>(), from.trim().parse::<u64>()) {
        (Ok(at), Ok(from)) => at < from,
        _ => false,
    }
}

/// The job id of the pull an event queues: the same for every delivery of the event, so a
/// replay after a crash finds the job it already made.
pub(super) fn stream_job_id(e: &Event) -> String {
    let offset: String = e
        .offset
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    format!(
        "{}-stream-{}-{}",
        e.timestamp.format("%Y%m%dT%H%M%S%3fZ"),
        e.topic,
        offset
    )
}

/// The key a pending pull's marker is stored under: the record's id, or `payment:<id>` for
/// an event that names a payment.
pub fn marker_key(remote_id: Option<&str>, payment_id: Option<&str>) -> Option<String> {
    match (remote_id, payment_id) {
        (Some(r), _) => Some(r.to_string()),
        (None, Some(p)) => Some(format!("payment:{p}")),
        (None, None) => None,
    }
}

/// The targeted pull of one record (or of the invoice of a payment), as of the provider's
/// change time `changed_at`.
fn stream_job(i: &Integration, entity: Entity, first: &Event, changed_at: DateTime<Utc>) -> Job {
    let payment = first.topic == wire::PAYMENTS_TOPIC;
    let req = JobRequest {
        direction: Direction::Pull,
        entities: vec![entity],
        mode: Mode::Incremental,
        trigger: Trigger::Stream,
        target: Some(Target {
            entity,
            our_id: None,
            remote_id: (!payment).then(|| first.entity_id.clone()),
            changed_at: Some(changed_at),
            payment_id: payment.then(|| first.entity_id.clone()),
        }),
        not_before: None,
    };
    let mut job = new_job(i, &req, Utc::now());
    job.id = stream_job_id(first);
    job
}

/// The events of one record in a batch.
struct Group<'e> {
    first: &'e Event,
    latest: DateTime<Utc>,
    more: u64,
}

impl Consumer<'_> {
    /// Queues the batch's pulls, then stores the offsets past it.
    pub(super) async fn flush(&mut self) -> Result<(), Stop> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let mut next: BTreeMap<String, String> = BTreeMap::new();
        let mut delivered = HashSet::new();
        let mut groups: BTreeMap<(String, Entity, String), Group> = BTreeMap::new();
        for e in &batch {
            if !delivered.insert((e.topic.as_str(), e.offset.as_str())) {
                self.report.duplicates += 1;
                continue;
            }
            next.insert(e.topic.clone(), next_offset(&e.offset));
            let (Some(entity), Some(members)) =
                (wire::entity_of(&e.topic), self.tenants.get(&e.tenant_id))
            else {
                self.report.ignored += 1;
                continue;
            };
            for m in members {
                let id = if e.topic == wire::PAYMENTS_TOPIC {
                    format!("payment:{}", e.entity_id)
                } else {
                    e.entity_id.clone()
                };
                let key = (m.integration.id.clone(), entity, id);
                groups
                    .entry(key)
                    .and_modify(|g| {
                        g.latest = g.latest.max(e.timestamp);
                        g.more += 1;
                    })
                    .or_insert(Group {
                        first: e,
                        latest: e.timestamp,
                        more: 0,
                    });
            }
        }
        let mut msgs: Vec<(JobMessage, u64)> = Vec::new();
        for ((integration_id, entity, remote_id), g) in &groups {
            self.report.coalesced += g.more;
            let Some(member) = self
                .tenants
                .get(&g.first.tenant_id)
                .and_then(|ms| ms.iter().find(|m| &m.integration.id == integration_id))
            else {
                continue;
            };
            let job = stream_job(&member.integration, *entity, g.first, g.latest);
            let marker = self
                .ctx
                .db
                .mark_pull_pending(integration_id, *entity, remote_id, &job.id, g.latest)
                .await?;
            match marker {
                Marker::Pending(_) => self.report.coalesced += 1,
                Marker::Placed => {
                    match self.ctx.db.create_job(&job).await {
                        // Made by an earlier delivery of this event: its message is sent again
                        // (the worker ignores a message of a job that has moved on).
                        Ok(()) | Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    msgs.push((message_for(&job), 0));
                    self.report.queued += 1;
                }
            }
        }
        self.ctx.queue.send_batch(&msgs).await?;
        self.offsets.extend(next);
        if !self
            .ctx
            .db
            .save_stream_offsets(&self.owner, &self.offsets)
            .await?
        {
            return Err(Stop::LeaseLost);
        }
        self.batch_done();
        tracing::info!(
            events = batch.len(),
            queued = msgs.len(),
            "stream events queued"
        );
        Ok(())
    }

    /// Queues a full pull of the topics' entities for every company on the stream.
    pub(super) async fn full_pulls(&mut self, topics: &[&str]) -> Result<(), Stop> {
        let entities: Vec<Entity> = topics.iter().filter_map(|t| wire::entity_of(t)).collect();
        if entities.is_empty() {
            return Ok(());
        }
        let req = JobRequest {
            direction: Direction::Pull,
            entities,
            mode: Mode::Full,
            trigger: Trigger::Stream,
            target: None,
            not_before: None,
        };
        let now = Utc::now();
        let jobs: Vec<Job> = self
            .tenants
            .values()
            .flatten()
            .map(|m| new_job(&m.integration, &req, now))
            .collect();
        self.ctx.db.create_jobs(&jobs).await?;
        let msgs: Vec<(JobMessage, u64)> = jobs.iter().map(|j| (message_for(j), 0)).collect();
        self.ctx.queue.send_batch(&msgs).await?;
        self.report.full_pulls += jobs.len() as u64;
        tracing::warn!(
            ?topics,
            jobs = jobs.len(),
            "stored stream offsets are past the retention window: full pulls queued"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, offset: &str) -> Event {
        Event {
            topic: topic.into(),
            offset: offset.into(),
            kind: "customer-updated-v1".into(),
            tenant_id: 1,
            entity_id: "7".into(),
            timestamp: DateTime::parse_from_rfc3339("2026-11-30T11:00:00.250Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn numeric_offsets_replay_from_the_next_others_inclusively() {
        assert_eq!(next_offset("41"), "42");
        assert_eq!(next_offset("a-9"), "a-9");
        let offsets = BTreeMap::from([("customers".to_string(), "42".to_string())]);
        assert!(seen_before(&offsets, &event("customers", "41")));
        assert!(!seen_before(&offsets, &event("customers", "42")));
        assert!(!seen_before(&offsets, &event("invoices", "1")));
    }

    #[test]
    fn a_redelivered_event_names_the_same_job() {
        let a = stream_job_id(&event("customers", "41"));
        assert_eq!(a, stream_job_id(&event("customers", "41")));
        assert_eq!(a, "20261130T110000250Z-stream-customers-41");
        assert_ne!(a, stream_job_id(&event("customers", "42")));
        assert_eq!(
            stream_job_id(&event("invoices", "x/../y")),
            "20261130T110000250Z-stream-invoices-xy"
        );
    }
}
