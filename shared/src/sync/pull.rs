//! The pull phase: reads records changed at the provider (incremental with an overlap window,
//! or all), skips what we already have (including our own writes read back), decides conflicts
//! with pending local changes, and writes mappings, local copies and feed entries in batches.

use super::conflicts::{decide, Winner};
use super::ops::Ops;
use super::run::{store_err, Run};
use super::SyncError;
use crate::domain::{Entity, Invoice, Job, Mode};
use crate::http::ApiError;
use crate::providers::api::{Remote, Unreadable};
use crate::store::records::{FeedEntry, LocalRecord, Mapping};
use crate::store::SyncWrite;
use chrono::Utc;
use std::collections::{HashMap, HashSet};

impl Run<'_> {
    /// Makes the provider's version ours: local copy, mapping and a feed entry.
    pub(super) async fn take_remote<T: Ops>(
        &self,
        remote: Remote<T>,
        our_id: &str,
        clear_hash: Option<&String>,
    ) -> Result<(), SyncError> {
        let e = T::ENTITY;
        let writes = self
            .remote_writes::<T>(vec![(remote, our_id.to_string())], HashMap::new())
            .await?;
        self.eng
            .store
            .write(&self.integration.id, e, writes)
            .await
            .map_err(store_err)?;
        if let Some(h) = clear_hash {
            self.eng
                .store
                .clear_pending(&self.integration.id, e, our_id, h)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    /// The pull phase; `true` once the last page is applied and the high-water mark stored.
    pub(super) async fn pull<T: Ops>(&mut self, job: &mut Job) -> Result<bool, SyncError> {
        let e = T::ENTITY;
        if self.checkpoint.page == 0 {
            self.checkpoint.page = 1;
            self.checkpoint.since = if job.mode == Mode::Full {
                None
            } else {
                let overlap = chrono::Duration::from_std(self.eng.pull_overlap).unwrap_or_default();
                // One read of the marks serves every pull phase of the slice.
                let marks = match &self.pull_marks {
                    Some(m) => m,
                    None => self.pull_marks.insert(
                        self.eng
                            .store
                            .pull_checkpoints(&self.integration.id)
                            .await
                            .map_err(store_err)?,
                    ),
                };
                marks.get(&e).map(|&hw| hw - overlap)
            };
            self.retry_quarantined::<T>(job).await?;
        }
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let page = match T::list(
                self.eng.api,
                &self.auth,
                self.checkpoint.since,
                self.checkpoint.page,
            )
            .await
            {
                Ok(p) => p,
                Err(err) => return Err(self.job_error(err).await),
            };
            if let Some(hw) = page.high_water {
                self.checkpoint.high_water =
                    Some(self.checkpoint.high_water.map_or(hw, |c| c.min(hw)));
            }
            let n = page.items.len() + page.unreadable.len();
            let newest = page.items.iter().filter_map(|r| r.modified_at).max();
            self.checkpoint.newest = self.checkpoint.newest.max(newest);
            self.apply_remote_page::<T>(job, page.items).await?;
            self.set_aside::<T>(job, page.unreadable).await?;
            if !page.has_more || n == 0 {
                if let Some(hw) = self.checkpoint.high_water {
                    let newest = self.checkpoint.newest;
                    self.checkpoint.marks.pulled(e, hw, newest, Utc::now());
                }
                return Ok(true);
            }
            self.checkpoint.page = page.next_page;
            if self.saved_at.elapsed() >= super::run::PROGRESS_SAVE {
                self.save(job).await?;
            }
        }
    }

    /// Reads the one record a targeted job names (gone at the provider: marked deleted).
    pub(super) async fn pull_one<T: Ops>(
        &mut self,
        job: &mut Job,
        remote_id: &str,
    ) -> Result<bool, SyncError> {
        // The provider's change time when an event said it apart from the record (Fortnox's
        // stream: its records carry none): last-write-wins then compares real times.
        let told = job.target.as_ref().and_then(|t| t.changed_at);
        match T::get(self.eng.api, &self.auth, remote_id).await {
            Ok(Some(mut r)) => {
                r.modified_at = r.modified_at.or(told);
                let seen = r.modified_at;
                self.apply_remote_page::<T>(job, vec![r]).await?;
                if let Some(at) = seen {
                    self.checkpoint.marks.change_seen(T::ENTITY, at, Utc::now());
                }
            }
            Ok(None) => {
                let known = self
                    .eng
                    .store
                    .our_ids(&self.integration.id, T::ENTITY, &[remote_id.to_string()])
                    .await
                    .map_err(store_err)?;
                if let Some(our) = known.get(remote_id) {
                    self.mark_deleted(T::ENTITY, vec![(our.clone(), remote_id.to_string())])
                        .await?;
                    job.progress.done += 1;
                    if let Some(at) = told {
                        self.checkpoint.marks.change_seen(T::ENTITY, at, Utc::now());
                    }
                }
            }
            Err(err @ (ApiError::Unexpected { .. } | ApiError::InvalidData { .. })) => {
                // Cannot be read: set aside, not failed over and over.
                let (mut none, mut bad) = (Vec::new(), Vec::new());
                Unreadable::sort::<T>(Some(remote_id.to_string()), Err(err), &mut none, &mut bad)
                    .ok();
                self.set_aside::<T>(job, bad).await?;
            }
            Err(err) => return Err(self.job_error(err).await),
        }
        Ok(true)
    }

    /// Reads the invoice a payment belongs to (a payment gone meanwhile: nothing to read; its
    /// invoice's new balance reaches the feed with the next incremental pull).
    pub(super) async fn pull_paid_invoice(
        &mut self,
        job: &mut Job,
        payment_id: &str,
    ) -> Result<bool, SyncError> {
        match self
            .eng
            .api
            .invoice_of_payment(&self.auth, payment_id)
            .await
        {
            Ok(Some(invoice)) => self.pull_one::<Invoice>(job, &invoice).await,
            Ok(None) => Ok(true),
            Err(err) => Err(self.job_error(err).await),
        }
    }

    /// Applies a page of provider records: skips what we already have (including our own
    /// writes read back), decides conflicts, and writes mappings and feed entries in batches.
    pub(super) async fn apply_remote_page<T: Ops>(
        &mut self,
        job: &mut Job,
        items: Vec<Remote<T>>,
    ) -> Result<(), SyncError> {
        let e = T::ENTITY;
        let iid = self.integration.id.clone();
        // Dedupe within the page (overlapping pages can repeat a record).
        let mut seen = HashSet::new();
        let items: Vec<Remote<T>> = items
            .into_iter()
            .filter(|r| seen.insert(r.remote_id.clone()))
            .collect();
        let remote_ids: Vec<String> = items.iter().map(|r| r.remote_id.clone()).collect();
        let our_ids = self
            .eng
            .store
            .our_ids(&iid, e, &remote_ids)
            .await
            .map_err(store_err)?;
        let known: Vec<String> = our_ids.values().cloned().collect();
        let mappings = self
            .eng
            .store
            .mappings(&iid, e, &known)
            .await
            .map_err(store_err)?;
        let pendings = self
            .eng
            .store
            .pendings(&iid, e, &known)
            .await
            .map_err(store_err)?;
        let customer_ids = if e.refers_to_customers() {
            let refs: Vec<String> = items
                .iter()
                .filter_map(|r| r.customer_remote_id.clone())
                .collect();
            self.eng
                .store
                .our_ids(&iid, Entity::Customers, &refs)
                .await
                .map_err(store_err)?
        } else {
            HashMap::new()
        };
        // Records new to us that carry our reference: one of our creates whose answer was
        // lost may be among them. Its export adopts it (the app may have changed the record
        // since the create was sent); taking it here would overwrite that change.
        let referenced: Vec<String> = items
            .iter()
            .filter(|r| !our_ids.contains_key(&r.remote_id))
            .map(|r| r.record.our_id().to_string())
            .filter(|id| !id.is_empty())
            .collect();
        let mut in_flight: HashSet<String> = if referenced.is_empty() {
            HashSet::new()
        } else {
            self.eng
                .store
                .mappings(&iid, e, &referenced)
                .await
                .map_err(store_err)?
                .into_values()
                .filter(|m| m.remote_id.is_none() && m.create_pending_since.is_some())
                .map(|m| m.our_id)
                .collect()
        };
        // A provider that keeps only a key derived from our id (Visma) shows no our id: this
        // job's records in doubt are matched by that key instead.
        let doubt_keys: HashMap<String, String> = self
            .checkpoint
            .in_doubt
            .iter()
            .filter(|d| d.entity == e)
            .map(|d| (self.eng.api.reference_key(e, &d.our_id), d.our_id.clone()))
            .collect();
        for r in items.iter().filter(|r| !our_ids.contains_key(&r.remote_id)) {
            if let Some(ours) = r.our_reference.as_ref().and_then(|k| doubt_keys.get(k)) {
                in_flight.insert(ours.clone());
            }
        }
        let mut take = Vec::new();
        for r in items {
            let our_id = our_ids.get(&r.remote_id).cloned();
            let remote_hash = r.record.remote_hash();
            let doubted = |r: &Remote<T>| {
                in_flight.contains(r.record.our_id())
                    || r.our_reference
                        .as_ref()
                        .and_then(|k| doubt_keys.get(k))
                        .is_some()
            };
            if our_id.is_none() && doubted(&r) {
                job.progress.skipped += 1; // our own create, adopted by its export
                continue;
            }
            let Some(our_id) = our_id else {
                // New at the provider: use our reference when it carries one (a record we
                // created whose mapping was lost), else a stable id derived from the provider's.
                let id = Some(r.record.our_id().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("{}-{}", self.integration.provider, r.remote_id));
                take.push((r, id));
                continue;
            };
            let m = mappings.get(&our_id);
            if m.and_then(|m| m.remote_hash.as_ref()) == Some(&remote_hash) {
                job.progress.skipped += 1; // unchanged, or our own write read back
                continue;
            }
            let local_change = pendings.get(&our_id).filter(|p| {
                m.and_then(|m| m.synced_hash.as_ref()) != Some(&p.hash)
                    && p.failed_hash.as_ref() != Some(&p.hash)
            });
            if let Some(p) = local_change {
                let local_at = self
                    .eng
                    .store
                    .local_records(&iid, e, std::slice::from_ref(&our_id))
                    .await
                    .map_err(store_err)?
                    .get(&our_id)
                    .map(|l| l.updated_at)
                    .unwrap_or_else(Utc::now);
                let winner = decide(local_at, r.modified_at, Utc::now());
                self.log_conflict(e, &our_id, &r.remote_id, winner, local_at, r.modified_at)
                    .await?;
                job.progress.conflicts += 1;
                if winner == Winner::Local {
                    continue; // the pending export will write ours over theirs
                }
                self.eng
                    .store
                    .clear_pending(&iid, e, &our_id, &p.hash)
                    .await
                    .map_err(store_err)?;
            }
            take.push((r, our_id));
        }
        job.progress.done += take.len() as u64;
        let writes = self.remote_writes::<T>(take, customer_ids).await?;
        if !writes.is_empty() {
            self.eng
                .store
                .write(&iid, e, writes)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    /// The writes that make provider records ours: mapping (+ reverse for new ones), local copy
    /// and a feed entry each, with feed sequence numbers reserved in one call.
    pub(super) async fn remote_writes<T: Ops>(
        &self,
        take: Vec<(Remote<T>, String)>,
        customer_ids: HashMap<String, String>,
    ) -> Result<Vec<SyncWrite>, SyncError> {
        if take.is_empty() {
            return Ok(Vec::new());
        }
        let e = T::ENTITY;
        let iid = &self.integration.id;
        let first = self
            .eng
            .store
            .reserve_seq(iid, take.len() as u64)
            .await
            .map_err(store_err)?;
        let now = Utc::now();
        let mut writes = Vec::new();
        for (i, (r, our_id)) in take.iter().enumerate() {
            let mut rec = r.record.clone();
            rec.set_our_id(our_id);
            if let Some(rc) = &r.customer_remote_id {
                let cid = customer_ids
                    .get(rc)
                    .cloned()
                    .unwrap_or_else(|| format!("{}-{}", self.integration.provider, rc));
                rec.set_customer_ref(&cid);
            }
            let local_hash = rec.hash();
            // Hashed with what the provider holds (an app's copy with the same buyers is the
            // same content), stored and fed without the personal data the app did not send.
            let doc = serde_json::to_value(rec.without_personal_data())
                .map_err(|e| SyncError::Fatal(e.to_string()))?;
            let m = Mapping {
                our_id: our_id.clone(),
                remote_id: Some(r.remote_id.clone()),
                synced_hash: Some(local_hash.clone()),
                remote_hash: Some(r.record.remote_hash()),
                remote_modified_at: r.modified_at,
                create_pending_since: None,
                create_hash: None,
                deleted_at: None,
            };
            writes.push(SyncWrite::Mapping(m));
            let local = LocalRecord {
                our_id: our_id.clone(),
                doc: doc.clone(),
                hash: local_hash,
                updated_at: r.modified_at.unwrap_or(now),
            };
            writes.push(SyncWrite::Local(local));
            let entry = FeedEntry {
                seq: first + i as u64,
                entity: e,
                op: "upsert".into(),
                our_id: our_id.clone(),
                remote_id: r.remote_id.clone(),
                record: Some(doc),
                pulled_at: now,
            };
            writes.push(SyncWrite::Feed(entry));
        }
        Ok(writes)
    }
}
