//! What the Fortnox stream consumer keeps (see `docs/stream.md`):
//! - `pk = STREAM#fortnox, sk = LEASE`: who holds the app's one connection to the stream, until
//!   when, and when it plans to let go;
//! - `pk = STREAM#fortnox, sk = OFFSETS`: per topic, the offset to replay from (every event
//!   before it has had its work queued), and the run whose saves land (the lease's holder);
//! - `pk = INTEGRATION#<id>, sk = PULLPENDING#<entity>#<remote id>`: a targeted pull of that
//!   record is queued and not started yet. Later events of the record only move its `changed_at`
//!   forward; the worker takes the marker away when the pull starts (or the job ends), and a
//!   marker stops holding changes back after ten minutes in any case.

use super::item::{get_n, get_s, n, s, ts, Item};
use super::jobs::integration_pk;
use super::records::parse_ts;
use super::{written, Db, StoreError};
use crate::domain::Entity;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

const STREAM_PK: &str = "STREAM#fortnox";
const LEASE_SK: &str = "LEASE";
const OFFSETS_SK: &str = "OFFSETS";
/// How long a marker coalesces later changes: a marker left behind (its job was cancelled or
/// died before it started, or waits behind a long job) stops holding changes back after this,
/// and the next change queues a pull of its own.
const MARKER_HOLD_SECONDS: i64 = 600;

fn marker_sk(entity: Entity, remote_id: &str) -> String {
    format!("PULLPENDING#{}#{remote_id}", entity.as_str())
}

/// The consumer lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLease {
    /// The run holding it.
    pub owner: String,
    /// Until when, unless renewed (milliseconds since the epoch).
    pub until_ms: i64,
    /// When its holder plans to let go (milliseconds since the epoch).
    pub ends_ms: Option<i64>,
    /// Integrations on the stream at the last renewal.
    pub integrations: u64,
    /// Whether the holder's connection was subscribed at the last renewal.
    pub subscribed: bool,
}

/// What the holder writes on the lease each renewal: when it lets go, and how its stream is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseNote {
    /// When the holder plans to let go (milliseconds since the epoch).
    pub ends_ms: i64,
    /// Integrations on the stream.
    pub integrations: u64,
    /// Events flow.
    pub subscribed: bool,
}

/// What putting a pending-pull marker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// Written now (or by an earlier attempt of ours): queue the job named.
    Placed,
    /// A pull of this record is pending already, under this job id: nothing to queue.
    Pending(String),
}

impl Db {
    /// Takes (or renews) the consumer lease for `ttl` when it is free, expired or already
    /// `owner`'s; `ends_ms` is when the holder plans to let go, so a successor knows to wait.
    pub async fn try_stream_lease(
        &self,
        owner: &str,
        ttl: std::time::Duration,
        note: LeaseNote,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(1));
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(STREAM_PK))
            .item("sk", s(LEASE_SK))
            .item("owner", s(owner))
            .item("lease_until_ms", n(until.timestamp_millis()))
            .item("ends_ms", n(note.ends_ms))
            .item("integrations", n(note.integrations as i64))
            .item(
                "subscribed",
                aws_sdk_dynamodb::types::AttributeValue::Bool(note.subscribed),
            )
            .condition_expression("attribute_not_exists(pk) OR lease_until_ms < :now OR #o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        written(res)
    }

    /// The lease as stored, if any.
    pub async fn stream_lease(&self) -> Result<Option<StreamLease>, StoreError> {
        let got = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(STREAM_PK))
            .key("sk", s(LEASE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(got.item().map(|it| StreamLease {
            owner: get_s(it, "owner").unwrap_or_default().to_string(),
            until_ms: get_n(it, "lease_until_ms").unwrap_or(0),
            ends_ms: get_n(it, "ends_ms"),
            integrations: get_n(it, "integrations").unwrap_or(0).max(0) as u64,
            subscribed: it
                .get("subscribed")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
        }))
    }

    /// Gives the lease up if `owner` still holds it.
    pub async fn release_stream_lease(&self, owner: &str) -> Result<(), StoreError> {
        let res = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(STREAM_PK))
            .key("sk", s(LEASE_SK))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        written(res).map(|_| ())
    }

    /// Per topic, the offset to replay from.
    pub async fn stream_offsets(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let got = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(STREAM_PK))
            .key("sk", s(OFFSETS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(got.item().map(topics).unwrap_or_default())
    }

    /// Makes `owner`, the lease's new holder, the one run whose saves of the offsets land, and
    /// gives back per topic the offset to replay from, in the same request. A run that held
    /// the lease before finds the offsets taken at its next save and stops
    /// ([`Db::save_stream_offsets`]); whatever it saved before this is read here.
    pub async fn take_stream_offsets(
        &self,
        owner: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let got = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(STREAM_PK))
            .key("sk", s(OFFSETS_SK))
            .update_expression("SET #o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(owner))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(got.attributes().map(topics).unwrap_or_default())
    }

    /// Stores the offsets to replay from, only while `owner` is the run that last took them
    /// ([`Db::take_stream_offsets`], right after taking the lease): a run that lost the lease
    /// must not move the offsets of the run that took over. One conditional write on the
    /// offsets item itself (a transaction that checked the lease item beside it cost four
    /// write units a save instead of one; bench/cost).
    pub async fn save_stream_offsets(
        &self,
        owner: &str,
        offsets: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        if offsets.is_empty() {
            return Ok(true);
        }
        let mut sets = vec!["updated_at = :at".to_string()];
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(STREAM_PK))
            .key("sk", s(OFFSETS_SK))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":at", ts(Utc::now()));
        for (i, (topic, offset)) in offsets.iter().enumerate() {
            sets.push(format!("#t{i} = :o{i}"));
            update = update
                .expression_attribute_names(format!("#t{i}"), format!("topic_{topic}"))
                .expression_attribute_values(format!(":o{i}"), s(offset));
        }
        let res = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        written(res)
    }

    /// Notes that a pull of this record is wanted by `job_id`, as of the provider's change
    /// time `changed_at`. When another pull of it is pending, only moves that one's
    /// `changed_at` forward.
    pub async fn mark_pull_pending(
        &self,
        integration_id: &str,
        entity: Entity,
        remote_id: &str,
        job_id: &str,
        changed_at: DateTime<Utc>,
    ) -> Result<Marker, StoreError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let sk = marker_sk(entity, remote_id);
        let now = Utc::now();
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(integration_pk(integration_id)))
            .item("sk", s(&sk))
            .item("job_id", s(job_id))
            .item("changed_at", ts(changed_at))
            .item(
                "hold_until_ms",
                n(now.timestamp_millis() + MARKER_HOLD_SECONDS * 1000),
            )
            .item("ttl", n(now.timestamp() + 2 * 86_400))
            .condition_expression("attribute_not_exists(pk) OR hold_until_ms < :now")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        let old: Item = match res {
            Ok(_) => return Ok(Marker::Placed),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    c.item().cloned().unwrap_or_default()
                }
                _ => return Err(StoreError::dynamo(e)),
            },
        };
        let pending = get_s(&old, "job_id").unwrap_or_default().to_string();
        // An earlier attempt of this very event (a retry, or a run that replays it).
        if pending == job_id {
            return Ok(Marker::Placed);
        }
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(&sk))
            .update_expression("SET changed_at = :t")
            .condition_expression("job_id = :j AND changed_at < :t")
            .expression_attribute_values(":t", ts(changed_at))
            .expression_attribute_values(":j", s(&pending))
            .send()
            .await;
        // Not moved: the stored time is as late already, or the pull just started and took
        // the marker (then it reads the record after this change was made: nothing lost).
        written(res)?;
        Ok(Marker::Pending(pending))
    }

    /// The provider change time a pending pull's marker holds for the record, if one is
    /// pending (read by an export that meets a provider change not pulled yet).
    pub async fn pending_change_time(
        &self,
        integration_id: &str,
        entity: Entity,
        remote_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let got = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(marker_sk(entity, remote_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(got
            .item()
            .and_then(|it| get_s(it, "changed_at"))
            .and_then(|v| parse_ts(Some(v))))
    }

    /// Takes the marker `job_id` placed: from now on a new change queues a new pull. Gives
    /// the latest provider change time the marker collected.
    pub async fn take_pull_marker(
        &self,
        integration_id: &str,
        entity: Entity,
        remote_id: &str,
        job_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
        let res = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(marker_sk(entity, remote_id)))
            .condition_expression("job_id = :j")
            .expression_attribute_values(":j", s(job_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => Ok(out
                .attributes()
                .and_then(|it| get_s(it, "changed_at"))
                .and_then(|v| parse_ts(Some(v)))),
            Err(e) => match e.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(None),
                _ => Err(StoreError::dynamo(e)),
            },
        }
    }
}

/// Per topic, the offset an offsets item says to replay from.
fn topics(it: &Item) -> BTreeMap<String, String> {
    it.iter()
        .filter_map(|(k, v)| {
            let topic = k.strip_prefix("topic_")?;
            Some((topic.to_string(), v.as_s().ok()?.clone()))
        })
        .collect()
}
