//! The sweep phase of a full job: lists every provider id (cheaply, ids only), then compares
//! the mappings with that list; a mapped record the provider no longer has is marked deleted and
//! fed to the app as a `delete`.

use super::run::{empty_mapping, store_err, Run};
use super::SyncError;
use crate::domain::{Entity, Job};
use crate::store::records::FeedEntry;
use crate::store::SyncWrite;
use chrono::Utc;

impl Run<'_> {
    /// The sweep phase; `true` once every mapping is compared with the provider's ids.
    pub(super) async fn sweep(&mut self, job: &mut Job, e: Entity) -> Result<bool, SyncError> {
        if !self.checkpoint.listed {
            if self.checkpoint.page == 0 {
                self.checkpoint.page = 1;
            }
            loop {
                if self.out_of_time() {
                    return Ok(false);
                }
                let page = match e {
                    Entity::Customers => {
                        self.eng
                            .api
                            .list_customer_ids(&self.auth, self.checkpoint.page)
                            .await
                    }
                    Entity::Invoices => {
                        self.eng
                            .api
                            .list_invoice_ids(&self.auth, self.checkpoint.page)
                            .await
                    }
                    Entity::Projects => {
                        self.eng
                            .api
                            .list_project_ids(&self.auth, self.checkpoint.page)
                            .await
                    }
                    Entity::Articles => {
                        self.eng
                            .api
                            .list_article_ids(&self.auth, self.checkpoint.page)
                            .await
                    }
                };
                let page = match page {
                    Ok(p) => p,
                    Err(err) => return Err(self.job_error(err).await),
                };
                self.checkpoint
                    .seen
                    .extend(page.ids.iter().map(|id| short_hash(id)));
                if !page.has_more || page.ids.is_empty() {
                    self.checkpoint.seen.sort_unstable();
                    self.checkpoint.seen.dedup();
                    self.checkpoint.listed = true;
                    break;
                }
                self.checkpoint.page = page.next_page;
                self.save(job).await?;
            }
        }
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let (maps, next) = self
                .eng
                .store
                .mapping_page(
                    &self.integration.id,
                    e,
                    self.checkpoint.after.as_deref(),
                    500,
                )
                .await
                .map_err(store_err)?;
            let gone: Vec<(String, String)> = maps
                .iter()
                .filter(|m| m.deleted_at.is_none())
                .filter_map(|m| m.remote_id.clone().map(|r| (m.our_id.clone(), r)))
                .filter(|(_, r)| self.checkpoint.seen.binary_search(&short_hash(r)).is_err())
                .collect();
            job.progress.done += gone.len() as u64;
            self.mark_deleted(e, gone).await?;
            self.checkpoint.after = maps
                .last()
                .map(|m| m.our_id.clone())
                .or(self.checkpoint.after.clone());
            match next {
                Some(_) if !maps.is_empty() => self.save(job).await?,
                _ => return Ok(true),
            }
        }
    }

    /// Marks records deleted at the provider: mapping flagged, feed entry `delete`.
    pub(super) async fn mark_deleted(
        &self,
        e: Entity,
        gone: Vec<(String, String)>,
    ) -> Result<(), SyncError> {
        if gone.is_empty() {
            return Ok(());
        }
        let iid = &self.integration.id;
        let ids: Vec<String> = gone.iter().map(|(o, _)| o.clone()).collect();
        let maps = self
            .eng
            .store
            .mappings(iid, e, &ids)
            .await
            .map_err(store_err)?;
        let first = self
            .eng
            .store
            .reserve_seq(iid, gone.len() as u64)
            .await
            .map_err(store_err)?;
        let now = Utc::now();
        let mut writes = Vec::new();
        for (i, (our_id, remote_id)) in gone.iter().enumerate() {
            let mut m = maps
                .get(our_id)
                .cloned()
                .unwrap_or_else(|| empty_mapping(our_id));
            m.deleted_at = Some(now);
            writes.push(SyncWrite::MappingOnly(m));
            let entry = FeedEntry {
                seq: first + i as u64,
                entity: e,
                op: "delete".into(),
                our_id: our_id.clone(),
                remote_id: remote_id.clone(),
                record: None,
                pulled_at: now,
            };
            writes.push(SyncWrite::Feed(entry));
        }
        self.eng
            .store
            .write(iid, e, writes)
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

/// A 64-bit digest of a provider id: the sweep keeps these instead of the ids, so even a large
/// company's id set fits in the job's checkpoint (8 bytes a record).
fn short_hash(id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(id.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}
