//! Sync state in DynamoDB, all under `pk = INTEGRATION#<id>`:
//!
//! | sk | what |
//! |---|---|
//! | `LOCAL#<entity>#<our id>` | the app's canonical record, its content hash and `updated_at` |
//! | `PENDING#<entity>#<our id>` | marker: this record awaits export (carries the hash to export) |
//! | `MAP#<entity>#<our id>` | our id → provider id, last synced content hash, pending-create flag and the hash that create carries |
//! | `RMAP#<entity>#<remote id>` | provider id → our id |
//! | `FEED#<entity>#<seq>` | change feed of records pulled from the provider, monotonic `seq` |
//! | `SEQ` | the feed's sequence counter |
//! | `CONFLICT#<at>#<entity>#<our id>` | a last-write-wins decision |
//! | `QUARANTINE#<entity>#<side>#<id>` | a record set aside (`quarantine.rs`) |
//! | `CHECKPOINT` | the freshness marks of every entity: pull high-water marks, pull and push end times, the newest change seen (`marks.rs`) |
//! | `CHECKPOINT#<entity>` | one entity's marks in the earlier layout, read until `CHECKPOINT` exists (`marks.rs`) |
//! | `ARTICLES` | the company's article VAT rates, as the records API checks rows (`articles.rs`) |
//! | `IDEMP#<key>` | a stored answer to an `Idempotency-Key` request (TTL 24 h) |

use super::item::{get_s, s, ts, Item};
use super::jobs::integration_pk;
use super::{put_once, put_written, written, Db, StoreError};
use crate::domain::Entity;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The app's copy of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRecord {
    /// Our id.
    pub our_id: String,
    /// Canonical JSON.
    pub doc: serde_json::Value,
    /// Content hash of `doc`.
    pub hash: String,
    /// When the app changed it.
    pub updated_at: DateTime<Utc>,
}

/// A pending export.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Our id.
    pub our_id: String,
    /// The hash the export is for.
    pub hash: String,
    /// Set when the provider refused this hash (or it could not be sent); the record is in
    /// quarantine and the next job tries it again.
    pub failed_hash: Option<String>,
    /// The job that saw it refused: that job does not try it again.
    pub failed_job: Option<String>,
}

/// Our id ↔ provider id, with the state both sides had at the last sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// Our id.
    pub our_id: String,
    /// The provider's id; `None` while a create is in flight.
    pub remote_id: Option<String>,
    /// Content hash of our side at the last sync.
    pub synced_hash: Option<String>,
    /// Content hash of the provider's record at the last sync (as the provider returns it,
    /// so imperfect round trips never look like changes).
    pub remote_hash: Option<String>,
    /// Provider's modification time at the last sync.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// A create was sent and its outcome is not known yet: look up by our reference first.
    pub create_pending_since: Option<DateTime<Utc>>,
    /// With a pending create: the content hash of the local version that create carries (the
    /// app may change the record while the outcome is unknown).
    #[serde(default)]
    pub create_hash: Option<String>,
    /// The provider deleted the record.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Cursor: monotonic per integration.
    pub seq: u64,
    /// Entity.
    pub entity: Entity,
    /// `upsert` or `delete`.
    pub op: String,
    /// Our id.
    pub our_id: String,
    /// Provider id.
    pub remote_id: String,
    /// Canonical record (absent on delete).
    pub record: Option<serde_json::Value>,
    /// When we pulled it.
    pub pulled_at: DateTime<Utc>,
}

/// A logged last-write-wins decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Entity.
    pub entity: Entity,
    /// Our id.
    pub our_id: String,
    /// Provider id.
    pub remote_id: String,
    /// `local` or `provider`.
    pub winner: String,
    /// When the app changed it.
    pub local_updated_at: DateTime<Utc>,
    /// When the provider changed it.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// The job that decided.
    pub job_id: String,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// A write to apply in a batch.
pub enum Write {
    /// Put an item.
    Put(Item),
    /// Delete by sort key.
    Delete(String),
}

fn local_sk(e: Entity, id: &str) -> String {
    format!("LOCAL#{e}#{id}")
}
fn pending_sk(e: Entity, id: &str) -> String {
    format!("PENDING#{e}#{id}")
}
fn map_sk(e: Entity, id: &str) -> String {
    format!("MAP#{e}#{id}")
}
fn rmap_sk(e: Entity, id: &str) -> String {
    format!("RMAP#{e}#{id}")
}
pub(super) fn feed_sk(e: Entity, seq: u64) -> String {
    format!("FEED#{e}#{seq:020}")
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn parse_ts(v: Option<&str>) -> Option<DateTime<Utc>> {
    v.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// Items that make up a local record and its pending-export marker.
pub fn local_items(integration_id: &str, e: Entity, r: &LocalRecord) -> Vec<Item> {
    let pk = integration_pk(integration_id);
    let mut local = Item::new();
    local.insert("pk".into(), s(&pk));
    local.insert("sk".into(), s(local_sk(e, &r.our_id)));
    local.insert("doc".into(), s(r.doc.to_string()));
    local.insert("hash".into(), s(&r.hash));
    local.insert("updated_at".into(), ts(r.updated_at));
    let mut pending = Item::new();
    pending.insert("pk".into(), s(&pk));
    pending.insert("sk".into(), s(pending_sk(e, &r.our_id)));
    pending.insert("hash".into(), s(&r.hash));
    vec![local, pending]
}

/// The item of a local record written from the provider's side (no export pending).
pub fn local_item(integration_id: &str, e: Entity, r: &LocalRecord) -> Item {
    local_items(integration_id, e, r).swap_remove(0)
}

/// The sort key of a pending-export marker.
pub fn pending_key(e: Entity, id: &str) -> String {
    pending_sk(e, id)
}

/// The item of a mapping (and of its reverse when the remote id is known).
pub fn mapping_items(integration_id: &str, e: Entity, m: &Mapping) -> Vec<Item> {
    let pk = integration_pk(integration_id);
    let mut it = Item::new();
    it.insert("pk".into(), s(&pk));
    it.insert("sk".into(), s(map_sk(e, &m.our_id)));
    it.insert("our_id".into(), s(&m.our_id));
    if let Some(r) = &m.remote_id {
        it.insert("remote_id".into(), s(r));
    }
    if let Some(h) = &m.synced_hash {
        it.insert("synced_hash".into(), s(h));
    }
    if let Some(h) = &m.remote_hash {
        it.insert("remote_hash".into(), s(h));
    }
    if let Some(t) = m.remote_modified_at {
        it.insert("remote_modified_at".into(), ts(t));
    }
    if let Some(t) = m.create_pending_since {
        it.insert("create_pending_since".into(), ts(t));
    }
    if let Some(h) = &m.create_hash {
        it.insert("create_hash".into(), s(h));
    }
    if let Some(t) = m.deleted_at {
        it.insert("deleted_at".into(), ts(t));
    }
    let mut out = vec![it];
    if let Some(r) = &m.remote_id {
        let mut rev = Item::new();
        rev.insert("pk".into(), s(&pk));
        rev.insert("sk".into(), s(rmap_sk(e, r)));
        rev.insert("our_id".into(), s(&m.our_id));
        out.push(rev);
    }
    out
}

fn mapping_from(it: &Item) -> Mapping {
    Mapping {
        our_id: get_s(it, "our_id").unwrap_or_default().to_string(),
        remote_id: get_s(it, "remote_id").map(str::to_string),
        synced_hash: get_s(it, "synced_hash").map(str::to_string),
        remote_hash: get_s(it, "remote_hash").map(str::to_string),
        remote_modified_at: parse_ts(get_s(it, "remote_modified_at")),
        create_pending_since: parse_ts(get_s(it, "create_pending_since")),
        create_hash: get_s(it, "create_hash").map(str::to_string),
        deleted_at: parse_ts(get_s(it, "deleted_at")),
    }
}

fn local_from(it: &Item) -> Result<LocalRecord, StoreError> {
    let sk = get_s(it, "sk").unwrap_or_default();
    Ok(LocalRecord {
        our_id: sk.splitn(3, '#').nth(2).unwrap_or_default().to_string(),
        doc: serde_json::from_str(get_s(it, "doc").unwrap_or("null"))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        hash: get_s(it, "hash").unwrap_or_default().to_string(),
        updated_at: parse_ts(get_s(it, "updated_at")).unwrap_or_else(Utc::now),
    })
}

/// A page of a query by sort-key prefix.
pub struct KeyPage {
    /// Items.
    pub items: Vec<Item>,
    /// Sort key to continue after, when there is more.
    pub next: Option<String>,
}

impl Db {
    /// Items whose sort key starts with `prefix`, after `after` (exclusive), in key order.
    pub async fn query_prefix(
        &self,
        integration_id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: i32,
    ) -> Result<KeyPage, StoreError> {
        let mut q = self
            .client()
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .expression_attribute_values(":pk", s(integration_pk(integration_id)))
            .limit(limit);
        q = match after {
            Some(a) => q
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":from", s(format!("{a}\u{1}")))
                .expression_attribute_values(":to", s(format!("{prefix}\u{10FFFF}"))),
            None => q
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":p", s(prefix)),
        };
        let out = q.send().await.map_err(StoreError::dynamo)?;
        let items = out.items().to_vec();
        let next = out
            .last_evaluated_key()
            .and_then(|k| get_s(k, "sk").map(str::to_string));
        Ok(KeyPage { items, next })
    }

    /// Reads many items by sort key with BatchGetItem (100 per call).
    pub async fn get_many(
        &self,
        integration_id: &str,
        sks: &[String],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let pk = integration_pk(integration_id);
        let mut found = HashMap::new();
        let mut unique: Vec<&String> = sks.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let mut ks = KeysAndAttributes::builder().consistent_read(true);
            for sk in chunk {
                ks = ks.keys(HashMap::from([
                    ("pk".to_string(), s(&pk)),
                    ("sk".to_string(), s(*sk)),
                ]));
            }
            let mut pending = Some(ks.build().map_err(StoreError::dynamo)?);
            while let Some(req) = pending.take() {
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), req)
                    .send()
                    .await
                    .map_err(StoreError::dynamo)?;
                for it in out
                    .responses()
                    .and_then(|r| r.get(self.table()))
                    .into_iter()
                    .flatten()
                {
                    if let Some(sk) = get_s(it, "sk") {
                        found.insert(sk.to_string(), it.clone());
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(self.table()))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
        }
        Ok(found)
    }

    /// Local records by our ids.
    pub async fn local_records(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, LocalRecord>, StoreError> {
        let sks: Vec<String> = ids.iter().map(|i| local_sk(e, i)).collect();
        let items = self.get_many(integration_id, &sks).await?;
        items
            .values()
            .map(local_from)
            .map(|r| r.map(|r| (r.our_id.clone(), r)))
            .collect()
    }

    /// Pending-export markers by our ids.
    pub async fn pendings(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Pending>, StoreError> {
        let prefix = format!("PENDING#{e}#");
        let sks: Vec<String> = ids.iter().map(|i| pending_sk(e, i)).collect();
        Ok(self
            .get_many(integration_id, &sks)
            .await?
            .into_iter()
            .map(|(sk, it)| {
                let id = sk.trim_start_matches(&prefix).to_string();
                let p = Pending {
                    our_id: id.clone(),
                    hash: get_s(&it, "hash").unwrap_or_default().to_string(),
                    failed_hash: get_s(&it, "failed_hash").map(str::to_string),
                    failed_job: get_s(&it, "failed_job").map(str::to_string),
                };
                (id, p)
            })
            .collect())
    }

    /// Mappings by our ids.
    pub async fn mappings(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Mapping>, StoreError> {
        let sks: Vec<String> = ids.iter().map(|i| map_sk(e, i)).collect();
        Ok(self
            .get_many(integration_id, &sks)
            .await?
            .values()
            .map(mapping_from)
            .map(|m| (m.our_id.clone(), m))
            .collect())
    }

    /// Our ids by provider ids.
    pub async fn our_ids(
        &self,
        integration_id: &str,
        e: Entity,
        remote_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let sks: Vec<String> = remote_ids.iter().map(|r| rmap_sk(e, r)).collect();
        Ok(self
            .get_many(integration_id, &sks)
            .await?
            .into_iter()
            .filter_map(|(sk, it)| {
                let remote = sk.splitn(3, '#').nth(2)?.to_string();
                Some((remote, get_s(&it, "our_id")?.to_string()))
            })
            .collect())
    }

    /// Whether any record of any entity awaits export: one consistent read of one key, so
    /// that a job with nothing to export makes one query instead of one an entity.
    pub async fn any_pending_export(&self, integration_id: &str) -> Result<bool, StoreError> {
        let page = self
            .query_prefix(integration_id, "PENDING#", None, 1)
            .await?;
        Ok(!page.items.is_empty())
    }

    /// Records awaiting export, in id order, after `after`.
    pub async fn pending_exports(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Pending>, Option<String>), StoreError> {
        let prefix = format!("PENDING#{e}#");
        let page = self
            .query_prefix(
                integration_id,
                &prefix,
                after.map(|a| pending_sk(e, a)).as_deref(),
                limit,
            )
            .await?;
        let items = page
            .items
            .iter()
            .map(|it| Pending {
                our_id: get_s(it, "sk")
                    .unwrap_or_default()
                    .trim_start_matches(&prefix)
                    .to_string(),
                hash: get_s(it, "hash").unwrap_or_default().to_string(),
                failed_hash: get_s(it, "failed_hash").map(str::to_string),
                failed_job: get_s(it, "failed_job").map(str::to_string),
            })
            .collect();
        Ok((
            items,
            page.next
                .map(|sk| sk.trim_start_matches(&prefix).to_string()),
        ))
    }

    /// Every local record of an entity, in id order, after `after`.
    pub async fn local_page(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<LocalRecord>, Option<String>), StoreError> {
        let prefix = format!("LOCAL#{e}#");
        let page = self
            .query_prefix(
                integration_id,
                &prefix,
                after.map(|a| local_sk(e, a)).as_deref(),
                limit,
            )
            .await?;
        let recs = page
            .items
            .iter()
            .map(local_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            recs,
            page.next
                .map(|sk| sk.trim_start_matches(&prefix).to_string()),
        ))
    }

    /// Every mapping of an entity, in id order, after `after`.
    pub async fn mapping_page(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Mapping>, Option<String>), StoreError> {
        let prefix = format!("MAP#{e}#");
        let page = self
            .query_prefix(
                integration_id,
                &prefix,
                after.map(|a| map_sk(e, a)).as_deref(),
                limit,
            )
            .await?;
        let maps = page.items.iter().map(mapping_from).collect();
        Ok((
            maps,
            page.next
                .map(|sk| sk.trim_start_matches(&prefix).to_string()),
        ))
    }

    /// Clears a pending-export marker if it still holds `hash` (a newer change keeps it).
    pub async fn clear_pending(
        &self,
        integration_id: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        let res = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(pending_sk(e, our_id)))
            .condition_expression("#h = :h")
            .expression_attribute_names("#h", "hash")
            .expression_attribute_values(":h", s(hash))
            .send()
            .await;
        written(res).map(|_| ())
    }

    /// Marks a pending export as failed for this hash, with the reason.
    pub async fn fail_pending(
        &self,
        integration_id: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
        job_id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(pending_sk(e, our_id)))
            .update_expression(
                "SET failed_hash = :h, failed_job = :j, failure = :r, failed_at = :now",
            )
            .condition_expression("#h = :h")
            .expression_attribute_names("#h", "hash")
            .expression_attribute_values(":h", s(hash))
            .expression_attribute_values(":j", s(job_id))
            .expression_attribute_values(":r", s(reason.chars().take(500).collect::<String>()))
            .expression_attribute_values(":now", ts(Utc::now()))
            .send()
            .await;
        written(res).map(|_| ())
    }

    /// Writes a mapping. With `expect_remote = None` it must not exist yet or be a pending
    /// create; otherwise it must still point at that remote id. This is what keeps two
    /// creates of one record from both being recorded.
    pub async fn put_mapping(
        &self,
        integration_id: &str,
        e: Entity,
        m: &Mapping,
        expect_remote: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut items = mapping_items(integration_id, e, m).into_iter();
        let main = items.next().unwrap_or_default();
        let mut req = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(main));
        req = match expect_remote {
            None => req.condition_expression(
                "attribute_not_exists(pk) OR attribute_not_exists(remote_id)",
            ),
            Some(r) => req
                .condition_expression("remote_id = :r")
                .expression_attribute_values(":r", s(r)),
        };
        let (req, token) = put_once(req);
        if !put_written(req.send().await, &token)? {
            return Err(StoreError::Conflict(format!(
                "mapping of {e} {} changed",
                m.our_id
            )));
        }
        if let Some(rev) = items.next() {
            self.client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(rev))
                .send()
                .await
                .map_err(StoreError::dynamo)?;
        }
        Ok(())
    }
}
