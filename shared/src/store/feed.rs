//! The change feed, its sequence counter, the conflict log and the freshness the app sees (from
//! the marks, `marks.rs`), all under `pk = INTEGRATION#<id>` (see `records.rs` for the key table).

use super::item::{get_n, get_s, n, s, Item};
use super::jobs::integration_pk;
use super::records::{feed_sk, rfc3339, Conflict, FeedEntry};
use super::{written, Db, StoreError};
use crate::domain::Entity;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

/// How fresh the app's copy of one entity is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Freshness {
    /// Entity.
    pub entity: Entity,
    /// When the last pull of it ended.
    pub last_pull_at: Option<DateTime<Utc>>,
    /// When the last push of it ended.
    pub last_push_at: Option<DateTime<Utc>>,
    /// The provider's time of the newest change a pull has seen (when the provider tells).
    pub newest_change_at: Option<DateTime<Utc>>,
    /// How long that change took to reach the app: from the provider's time of it to the end
    /// of the pull that brought it.
    pub lag_seconds: Option<i64>,
    /// How long ago the last pull ended.
    pub stale_seconds: Option<i64>,
}

impl Db {
    /// Reserves `count` feed sequence numbers; gives the first.
    pub async fn reserve_seq(&self, integration_id: &str, count: u64) -> Result<u64, StoreError> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s("SEQ"))
            .update_expression("ADD next_seq :n")
            .expression_attribute_values(":n", n(count as i64))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        let last = out
            .attributes()
            .and_then(|a| get_n(a, "next_seq"))
            .unwrap_or(count as i64) as u64;
        Ok(last - count + 1)
    }

    /// Makes the feed readable up to `seq` (never backwards): called after a batch holding
    /// entries up to `seq` was written whole.
    pub async fn advance_feed_head(
        &self,
        integration_id: &str,
        seq: u64,
    ) -> Result<(), StoreError> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s("SEQ"))
            .update_expression("SET head = :s")
            .condition_expression("attribute_not_exists(head) OR head < :s")
            .expression_attribute_values(":s", n(seq as i64))
            .send()
            .await;
        written(res).map(|_| ()) // a head already further on is fine
    }

    /// How far the feed is readable: the head written after whole batches; for a feed written
    /// before heads existed, its sequence counter.
    async fn feed_head(&self, integration_id: &str) -> Result<u64, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s("SEQ"))
            // Eventually consistent, at half the price: the head only moves forward, after the
            // entries below it are written, so a head read a moment late only hides entries the
            // next read shows; the entries themselves are read consistently.
            .consistent_read(false)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out
            .item()
            .and_then(|it| get_n(it, "head").or_else(|| get_n(it, "next_seq")))
            .unwrap_or(0)
            .max(0) as u64)
    }

    /// The feed item for an entry.
    pub fn feed_item(integration_id: &str, f: &FeedEntry) -> Result<Item, StoreError> {
        let mut it = Item::new();
        it.insert("pk".into(), s(integration_pk(integration_id)));
        it.insert("sk".into(), s(feed_sk(f.entity, f.seq)));
        it.insert(
            "doc".into(),
            s(serde_json::to_string(f).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        );
        Ok(it)
    }

    /// Feed entries of these entities after `cursor`, in `seq` order: each entity's entries
    /// are a query of their own, merged by `seq` (one sequence over every entity). Reading them
    /// together costs the app one request instead of one an entity, and gives it a customer's
    /// change before the invoice after it that names the customer.
    pub async fn feed(
        &self,
        integration_id: &str,
        entities: &[Entity],
        cursor: u64,
        limit: i32,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        // Entries past the head belong to a batch not (yet) written whole: a reader that saw
        // them could move its cursor past an entry still missing, and skip it for good.
        let head = self.feed_head(integration_id).await?;
        if head <= cursor {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for &e in entities {
            // Each entity's first `limit` entries after the cursor hold every entry of it
            // among the first `limit` of all.
            let page = self
                .query_prefix(
                    integration_id,
                    &format!("FEED#{e}#"),
                    Some(&feed_sk(e, cursor)),
                    limit,
                )
                .await?;
            for it in &page.items {
                let seq = get_s(it, "sk")
                    .and_then(|sk| sk.rsplit('#').next())
                    .and_then(|n| n.parse::<u64>().ok());
                if seq.is_some_and(|seq| seq <= head) {
                    out.push(
                        serde_json::from_str::<FeedEntry>(get_s(it, "doc").unwrap_or("null"))
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    );
                }
            }
        }
        out.sort_by_key(|f| f.seq);
        out.truncate(limit.max(1) as usize);
        Ok(out)
    }

    /// The conflict-log item for a decision.
    pub fn conflict_item(integration_id: &str, c: &Conflict) -> Result<Item, StoreError> {
        let mut it = Item::new();
        it.insert("pk".into(), s(integration_pk(integration_id)));
        it.insert(
            "sk".into(),
            s(format!(
                "CONFLICT#{}#{}#{}",
                rfc3339(c.decided_at),
                c.entity,
                c.our_id
            )),
        );
        it.insert(
            "doc".into(),
            s(serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        );
        it.insert(
            "ttl".into(),
            n((c.decided_at + chrono::Duration::days(180)).timestamp()),
        );
        Ok(it)
    }

    /// The conflict log, newest first.
    pub async fn conflicts(
        &self,
        integration_id: &str,
        limit: i32,
    ) -> Result<Vec<Conflict>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(integration_pk(integration_id)))
            .expression_attribute_values(":p", s("CONFLICT#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.items()
            .iter()
            .map(|it| {
                serde_json::from_str(get_s(it, "doc").unwrap_or("null"))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// How fresh the copy of each entity is (see [`Freshness`]).
    pub async fn freshness(&self, integration_id: &str) -> Result<Vec<Freshness>, StoreError> {
        let marks = self.marks(integration_id).await?;
        let now = Utc::now();
        Ok(Entity::ALL
            .into_iter()
            .map(|e| {
                let m = marks.get(&e).cloned().unwrap_or_default();
                Freshness {
                    entity: e,
                    last_pull_at: m.last_pull_at,
                    last_push_at: m.last_push_at,
                    newest_change_at: m.newest_change_at,
                    lag_seconds: m
                        .newest_change_at
                        .zip(m.newest_pulled_at)
                        .map(|(c, p)| (p - c).num_seconds().max(0)),
                    stale_seconds: m.last_pull_at.map(|p| (now - p).num_seconds().max(0)),
                }
            })
            .collect())
    }
}
