//! [`SyncStore`] over DynamoDB: each method delegates to the `Db` method of the same name
//! (`records.rs`, `feed.rs`, `jobs.rs`), so the items and conditions are the ones documented in
//! `docs/data-model.md`.

use super::marks::Marks;
use super::port::{SyncStore, SyncWrite};
use super::quarantine::{Quarantined, Side};
use super::records::{
    local_item, local_items, mapping_items, Conflict, FeedEntry, LocalRecord, Mapping, Pending,
    Write,
};
use super::{Db, StoreError};
use crate::domain::{ArticleVat, Entity, Job};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

// Inside these methods `self.name(..)` resolves to `Db`'s inherent method of that name, never
// back to the trait method.
#[async_trait]
impl SyncStore for Db {
    async fn stage_locals(
        &self,
        integration_id: &str,
        e: Entity,
        records: Vec<LocalRecord>,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let writes = records
            .iter()
            .flat_map(|r| local_items(integration_id, e, r))
            .map(Write::Put)
            .collect();
        self.write_all(writes, integration_id, None)
            .await
            .map(|_| ())
    }

    async fn local_records(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, LocalRecord>, StoreError> {
        Db::local_records(self, integration_id, e, ids).await
    }

    async fn local_page(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<LocalRecord>, Option<String>), StoreError> {
        Db::local_page(self, integration_id, e, after, limit).await
    }

    async fn pendings(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Pending>, StoreError> {
        Db::pendings(self, integration_id, e, ids).await
    }

    async fn any_pending_export(&self, integration_id: &str) -> Result<bool, StoreError> {
        Db::any_pending_export(self, integration_id).await
    }

    async fn pending_exports(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Pending>, Option<String>), StoreError> {
        Db::pending_exports(self, integration_id, e, after, limit).await
    }

    async fn clear_pending(
        &self,
        integration_id: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        Db::clear_pending(self, integration_id, e, our_id, hash).await
    }

    async fn fail_pending(
        &self,
        integration_id: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
        job_id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        Db::fail_pending(self, integration_id, e, our_id, hash, job_id, reason).await
    }

    async fn mappings(
        &self,
        integration_id: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Mapping>, StoreError> {
        Db::mappings(self, integration_id, e, ids).await
    }

    async fn our_ids(
        &self,
        integration_id: &str,
        e: Entity,
        remote_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        Db::our_ids(self, integration_id, e, remote_ids).await
    }

    async fn mapping_page(
        &self,
        integration_id: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Mapping>, Option<String>), StoreError> {
        Db::mapping_page(self, integration_id, e, after, limit).await
    }

    async fn put_mapping(
        &self,
        integration_id: &str,
        e: Entity,
        m: &Mapping,
        expect_remote: Option<&str>,
    ) -> Result<(), StoreError> {
        Db::put_mapping(self, integration_id, e, m, expect_remote).await
    }

    async fn reserve_seq(&self, integration_id: &str, count: u64) -> Result<u64, StoreError> {
        Db::reserve_seq(self, integration_id, count).await
    }

    async fn write(
        &self,
        integration_id: &str,
        e: Entity,
        writes: Vec<SyncWrite>,
    ) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut items = Vec::with_capacity(writes.len() * 2);
        let mut last_seq = None;
        for w in writes {
            match w {
                SyncWrite::Mapping(m) => items.extend(
                    mapping_items(integration_id, e, &m)
                        .into_iter()
                        .map(Write::Put),
                ),
                SyncWrite::MappingOnly(m) => items.push(Write::Put(
                    mapping_items(integration_id, e, &m).swap_remove(0),
                )),
                SyncWrite::Local(l) => items.push(Write::Put(local_item(integration_id, e, &l))),
                SyncWrite::Feed(f) => {
                    last_seq = last_seq.max(Some(f.seq));
                    items.push(Write::Put(Db::feed_item(integration_id, &f)?))
                }
            }
        }
        // Only once the whole batch is written do its entries become readable: a batch that
        // failed half-way must not let a reader's cursor pass the entries it did not write.
        self.write_all(items, integration_id, last_seq)
            .await
            .map(|_| ())
    }

    async fn feed(
        &self,
        integration_id: &str,
        entities: &[Entity],
        cursor: u64,
        limit: i32,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        Db::feed(self, integration_id, entities, cursor, limit).await
    }

    async fn log_conflict(&self, integration_id: &str, c: &Conflict) -> Result<(), StoreError> {
        let item = Db::conflict_item(integration_id, c)?;
        self.write_batch(vec![Write::Put(item)], integration_id)
            .await
            .map(|_| ())
    }

    async fn conflicts(
        &self,
        integration_id: &str,
        limit: i32,
    ) -> Result<Vec<Conflict>, StoreError> {
        Db::conflicts(self, integration_id, limit).await
    }

    async fn put_quarantined(
        &self,
        integration_id: &str,
        q: &Quarantined,
    ) -> Result<(), StoreError> {
        Db::put_quarantined(self, integration_id, q).await
    }

    async fn release_quarantined(
        &self,
        integration_id: &str,
        e: Entity,
        side: Side,
        id: &str,
    ) -> Result<(), StoreError> {
        Db::release_quarantined(self, integration_id, e, side, id).await
    }

    async fn quarantined(
        &self,
        integration_id: &str,
        e: Option<Entity>,
        limit: i32,
    ) -> Result<Vec<Quarantined>, StoreError> {
        Db::quarantined(self, integration_id, e, limit).await
    }

    async fn pull_checkpoints(
        &self,
        integration_id: &str,
    ) -> Result<HashMap<Entity, DateTime<Utc>>, StoreError> {
        Ok(Db::marks(self, integration_id)
            .await?
            .into_iter()
            .filter_map(|(e, m)| m.high_water.map(|hw| (e, hw)))
            .collect())
    }

    async fn record_marks(&self, integration_id: &str, marks: &Marks) -> Result<(), StoreError> {
        Db::record_marks(self, integration_id, marks).await
    }

    async fn pending_change_time(
        &self,
        integration_id: &str,
        e: Entity,
        remote_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Db::pending_change_time(self, integration_id, e, remote_id).await
    }

    async fn article_vat(&self, integration_id: &str) -> Result<Option<ArticleVat>, StoreError> {
        Db::article_vat(self, integration_id).await
    }

    async fn put_article_vat(
        &self,
        integration_id: &str,
        copy: &ArticleVat,
    ) -> Result<(), StoreError> {
        Db::put_article_vat(self, integration_id, copy).await
    }

    async fn save_job(&self, job: &mut Job) -> Result<(), StoreError> {
        Db::save_job(self, job).await
    }
}
