//! The storage the sync engine and the records use cases need, as one small trait: local
//! records and their pending-export markers, mappings (with the pending-create marker that makes
//! creation exactly-once), checkpoints, the conflict log and the change feed. [`Db`] implements
//! it over DynamoDB (`sync_dynamo.rs`); an in-memory implementation lets unit tests run the
//! engine in milliseconds (`crate::mocks`).
//!
//! [`Db`]: super::Db

use super::marks::Marks;
use super::quarantine::{Quarantined, Side};
use super::records::{Conflict, FeedEntry, LocalRecord, Mapping, Pending};
use super::StoreError;
use crate::domain::{ArticleVat, Entity, Job};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One write of a batch (applied in order, not atomically).
#[derive(Debug, Clone, PartialEq)]
pub enum SyncWrite {
    /// A mapping and its reverse (provider id → our id), unconditionally.
    Mapping(Mapping),
    /// Only the mapping, its reverse left as it is (a deletion at the provider).
    MappingOnly(Mapping),
    /// The local copy of a record, written from the provider's side (no export marker).
    Local(LocalRecord),
    /// An entry of the change feed (its sequence number reserved with
    /// [`SyncStore::reserve_seq`]).
    Feed(FeedEntry),
}

/// Sync state of one integration. Every method is scoped by `integration_id`.
#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Stores the app's records and marks each for export (local copy + pending marker).
    async fn stage_locals(
        &self,
        integration_id: &str,
        e: Entity,
        records: Vec<LocalRecord>,
    ) -> Result<(), StoreError>;

    /// Local records by our ids (missing ones are left out).
    async fn local_records(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, LocalRecord>, StoreError>;

    /// Every local record of an entity, in id order, after `after`; gives the cursor of the
    /// next page when there may be one.
    async fn local_page(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<LocalRecord>, Option<String>), StoreError>;

    /// Pending-export markers by our ids.
    async fn pendings(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Pending>, StoreError>;

    /// Whether any record of any entity awaits export.
    async fn any_pending_export(&self, integration_id: &str) -> Result<bool, StoreError>;

    /// Records awaiting export, in id order, after `after`.
    async fn pending_exports(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Pending>, Option<String>), StoreError>;

    /// Clears a pending-export marker if it still holds `hash` (a newer change keeps it).
    async fn clear_pending(
        &self,
        integration_id: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
    ) -> Result<(), StoreError>;

    /// Marks a pending export as failed for `hash`, with the reason (only if it still holds
    /// that hash).
    async fn fail_pending(
        &self,
        integration_id: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
        job_id: &str,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// Mappings by our ids.
    async fn mappings(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Mapping>, StoreError>;

    /// Our ids by provider ids.
    async fn our_ids(
        &self,
        integration_id: &str,
        e: Entity,
        remote_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError>;

    /// Every mapping of an entity, in id order, after `after`.
    async fn mapping_page(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Mapping>, Option<String>), StoreError>;

    /// Writes a mapping, conditionally: with `expect_remote = None` it must not exist yet or
    /// have no provider id (a pending create); otherwise it must still point at that provider
    /// id. `StoreError::Conflict` when the condition fails. This is what keeps two creates of
    /// one record from both being recorded.
    async fn put_mapping(
        &self,
        integration_id: &str,
        e: Entity,
        m: &Mapping,
        expect_remote: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Reserves `count` feed sequence numbers; gives the first.
    async fn reserve_seq(&self, integration_id: &str, count: u64) -> Result<u64, StoreError>;

    /// Applies a batch of writes of entity `e`.
    async fn write(
        &self,
        integration_id: &str,
        e: Entity,
        writes: Vec<SyncWrite>,
    ) -> Result<(), StoreError>;

    /// Feed entries of these entities after `cursor`, in `seq` order (the cursor is the
    /// integration's, one sequence over every entity).
    async fn feed(
        &self,
        integration_id: &str,
        entities: &[Entity],
        cursor: u64,
        limit: i32,
    ) -> Result<Vec<FeedEntry>, StoreError>;

    /// Logs a last-write-wins decision.
    async fn log_conflict(&self, integration_id: &str, c: &Conflict) -> Result<(), StoreError>;

    /// The conflict log, newest first.
    async fn conflicts(
        &self,
        integration_id: &str,
        limit: i32,
    ) -> Result<Vec<Conflict>, StoreError>;

    /// Sets a record aside (or updates its entry), see [`Quarantined`].
    async fn put_quarantined(
        &self,
        integration_id: &str,
        q: &Quarantined,
    ) -> Result<(), StoreError>;

    /// Takes a record out of quarantine (nothing when it is not there).
    async fn release_quarantined(
        &self,
        integration_id: &str,
        e: Entity,
        side: Side,
        id: &str,
    ) -> Result<(), StoreError>;

    /// The records set aside, of one entity or all.
    async fn quarantined(
        &self,
        integration_id: &str,
        e: Option<Entity>,
        limit: i32,
    ) -> Result<Vec<Quarantined>, StoreError>;

    /// The pull high-water mark of every entity that has one, in one read.
    async fn pull_checkpoints(
        &self,
        integration_id: &str,
    ) -> Result<HashMap<Entity, DateTime<Utc>>, StoreError>;

    /// Writes the freshness marks a job gathered (pull high-water marks, pull and push end
    /// times, the newest change seen), at once; a mark never moves backwards.
    async fn record_marks(&self, integration_id: &str, marks: &Marks) -> Result<(), StoreError>;

    /// When the provider changed a record, as a change event not yet pulled said so (Fortnox's
    /// stream: the pending pull's marker); `None` when no event is pending.
    async fn pending_change_time(
        &self,
        _integration_id: &str,
        _e: Entity,
        _remote_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(None)
    }

    /// The stored copy of the company's article VAT rates.
    async fn article_vat(&self, integration_id: &str) -> Result<Option<ArticleVat>, StoreError>;

    /// Replaces the copy of the company's article VAT rates.
    async fn put_article_vat(
        &self,
        integration_id: &str,
        copy: &ArticleVat,
    ) -> Result<(), StoreError>;

    /// Saves a job (its progress and checkpoint) if nobody changed it since it was read:
    /// `StoreError::Conflict` otherwise. Bumps `job.version`.
    async fn save_job(&self, job: &mut Job) -> Result<(), StoreError>;
}
