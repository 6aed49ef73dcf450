//! Rate-limit buckets in DynamoDB: one item per bucket holding the next free slot.
//!
//! Item: `pk = RATELIMIT#<bucket key>`, `sk = BUCKET`, `tat` (next free slot, microseconds
//! since the epoch), `ttl` (an hour after the last reservation, so idle buckets vanish) and
//! `reservations` (how many were made: what the limiter costs, read by `bench/sync-throughput`).
//! A reservation of k slots is one conditional `UpdateItem`:
//! - busy bucket (`tat > now`): `SET tat = tat + k×spacing`, returning the new `tat`; the
//!   slots are the k before it;
//! - idle bucket (`tat <= now` or no item): `SET tat = now + k×spacing`; the slots start now.
//!
//! Each condition excludes the other, so concurrent reservations never share a slot.

use super::item::{n, s};
use super::{Db, StoreError};
use crate::http::limiter::{SlotStore, SlotStoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::Client;

/// How long an idle bucket item lives.
const BUCKET_TTL_SECONDS: i64 = 3600;

/// Partition key of a bucket.
pub fn bucket_pk(key: &str) -> String {
    format!("RATELIMIT#{key}")
}

const BUCKET_SK: &str = "BUCKET";

/// The DynamoDB slot store.
#[derive(Clone)]
pub struct RateLimitStore {
    client: Client,
    table: String,
}

impl RateLimitStore {
    /// A store in the table of `db`.
    pub fn new(db: &Db) -> Self {
        RateLimitStore {
            client: db.client().clone(),
            table: db.table().to_string(),
        }
    }

    /// Busy path: appends `span` to a bucket whose next slot is after `now`.
    async fn extend_busy(
        &self,
        key: &str,
        span: i64,
        now_us: i64,
    ) -> Result<Option<i64>, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(bucket_pk(key)))
            .key("sk", s(BUCKET_SK))
            .update_expression("SET tat = tat + :span, #ttl = :ttl ADD reservations :one")
            .condition_expression("tat > :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":span", n(span))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_us))
            .expression_attribute_values(":ttl", n(now_us / 1_000_000 + BUCKET_TTL_SECONDS))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let tat = out
                    .attributes()
                    .and_then(|a| a.get("tat"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .ok_or_else(|| StoreError::Corrupt("rate-limit bucket without tat".into()))?;
                Ok(Some(tat - span))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Idle path: starts a fresh run of slots at `now`.
    async fn start_idle(
        &self,
        key: &str,
        span: i64,
        now_us: i64,
    ) -> Result<Option<i64>, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(bucket_pk(key)))
            .key("sk", s(BUCKET_SK))
            .update_expression("SET tat = :next, #ttl = :ttl ADD reservations :one")
            .condition_expression("attribute_not_exists(tat) OR tat <= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":next", n(now_us + span))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_us))
            .expression_attribute_values(":ttl", n(now_us / 1_000_000 + BUCKET_TTL_SECONDS))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Some(now_us)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }
}

#[async_trait]
impl SlotStore for RateLimitStore {
    async fn reserve(
        &self,
        key: &str,
        count: u32,
        spacing_us: i64,
        now_us: i64,
        hint_busy: bool,
    ) -> Result<i64, SlotStoreError> {
        let span = i64::from(count) * spacing_us;
        let mut busy = hint_busy;
        // Each failed condition means the other path applies; a few flips cover any race.
        for _ in 0..6 {
            let got = if busy {
                self.extend_busy(key, span, now_us).await
            } else {
                self.start_idle(key, span, now_us).await
            }
            .map_err(slot_error)?;
            if let Some(first) = got {
                return Ok(first);
            }
            busy = !busy;
        }
        Err(slot_error(StoreError::Conflict(format!(
            "rate-limit bucket {key} kept changing"
        ))))
    }

    async fn push_back(&self, key: &str, until_us: i64) -> Result<(), SlotStoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(bucket_pk(key)))
            .key("sk", s(BUCKET_SK))
            .update_expression("SET tat = :until, #ttl = :ttl")
            .condition_expression("attribute_not_exists(tat) OR tat < :until")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":until", n(until_us))
            .expression_attribute_values(":ttl", n(until_us / 1_000_000 + BUCKET_TTL_SECONDS))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Already pushed further by someone else.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(slot_error(StoreError::dynamo(e))),
        }
    }
}

fn slot_error(e: StoreError) -> SlotStoreError {
    SlotStoreError(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_keys_are_prefixed() {
        assert_eq!(bucket_pk("fortnox#c#123"), "RATELIMIT#fortnox#c#123");
    }
}
