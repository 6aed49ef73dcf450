//! The push phase: exports the pending (incremental) or all (full) local records of an entity,
//! a page at a time, reading what a page needs in a few batch reads.

use super::ops::Ops;
use super::run::{empty_mapping, store_err, Done, Run};
use super::SyncError;
use crate::domain::{Customer, Entity, Job, Mode};
use crate::store::quarantine::Side;
use crate::store::records::{LocalRecord, Mapping, Pending};
use std::collections::HashMap;

/// State read ahead for a page of exports.
pub(super) struct Prefetch {
    pub(super) locals: HashMap<String, LocalRecord>,
    pub(super) pendings: HashMap<String, Pending>,
    pub(super) mappings: HashMap<String, Mapping>,
    pub(super) customer_remote: HashMap<String, String>,
}

impl Run<'_> {
    /// The push phase; `true` once every record of the entity is handled.
    pub(super) async fn push<T: Ops>(&mut self, job: &mut Job) -> Result<bool, SyncError> {
        let page_size = self.eng.page_size as i32;
        // Most incremental jobs have nothing to export: one look over every entity spares each
        // push phase its own query (bench/cost). A record staged after the look has its own
        // job queued behind this one (`records::ensure_export_job` reuses only a job that has
        // not started), as one staged after its entity's query always had.
        if job.mode != Mode::Full {
            let any = match self.any_pending {
                Some(any) => any,
                None => *self.any_pending.insert(
                    self.eng
                        .store
                        .any_pending_export(&self.integration.id)
                        .await
                        .map_err(store_err)?,
                ),
            };
            if !any {
                self.checkpoint.marks.pushed(T::ENTITY, chrono::Utc::now());
                return Ok(true);
            }
        }
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let after = self.checkpoint.after.clone();
            let (ids, next) = if job.mode == Mode::Full {
                let (recs, next) = self
                    .eng
                    .store
                    .local_page(&self.integration.id, T::ENTITY, after.as_deref(), page_size)
                    .await
                    .map_err(store_err)?;
                (recs.into_iter().map(|r| r.our_id).collect::<Vec<_>>(), next)
            } else {
                let (pend, next) = self
                    .eng
                    .store
                    .pending_exports(&self.integration.id, T::ENTITY, after.as_deref(), page_size)
                    .await
                    .map_err(store_err)?;
                (pend.into_iter().map(|p| p.our_id).collect::<Vec<_>>(), next)
            };
            let mut pre = self.prefetch::<T>(&ids).await?;
            for id in &ids {
                if self.out_of_time() {
                    return Ok(false);
                }
                let d = self.export_prefetched::<T>(job, id, &mut pre).await?;
                Self::count(job, d);
                self.checkpoint.after = Some(id.clone());
            }
            // An empty page changed nothing worth a save (the phase's end decides).
            if !ids.is_empty() {
                self.save(job).await?;
            }
            if next.is_none() || ids.is_empty() {
                self.checkpoint.marks.pushed(T::ENTITY, chrono::Utc::now());
                return Ok(true);
            }
        }
    }

    /// Exports the one record a targeted job names.
    pub(super) async fn push_one<T: Ops>(
        &mut self,
        job: &mut Job,
        our_id: &str,
    ) -> Result<bool, SyncError> {
        let d = self.export::<T>(job, our_id).await?;
        Self::count(job, d);
        Ok(true)
    }

    /// Exports one local record, exactly once.
    pub(super) async fn export<T: Ops>(
        &mut self,
        job: &mut Job,
        our_id: &str,
    ) -> Result<Done, SyncError> {
        let mut pre = self.prefetch::<T>(&[our_id.to_string()]).await?;
        self.export_prefetched::<T>(job, our_id, &mut pre).await
    }

    /// Reads what exporting a page of records needs in a few batch reads instead of several
    /// reads a record.
    pub(super) async fn prefetch<T: Ops>(&self, ids: &[String]) -> Result<Prefetch, SyncError> {
        let e = T::ENTITY;
        let iid = &self.integration.id;
        let locals = self
            .eng
            .store
            .local_records(iid, e, ids)
            .await
            .map_err(store_err)?;
        let customers: Vec<String> = if e.refers_to_customers() {
            locals
                .values()
                .filter_map(|l| {
                    l.doc
                        .get("customer_id")
                        .and_then(|c| c.as_str())
                        .map(str::to_string)
                })
                .collect()
        } else {
            Vec::new()
        };
        let customer_remote = if customers.is_empty() {
            HashMap::new()
        } else {
            self.eng
                .store
                .mappings(iid, Entity::Customers, &customers)
                .await
                .map_err(store_err)?
                .into_iter()
                .filter_map(|(k, m)| m.remote_id.map(|r| (k, r)))
                .collect()
        };
        Ok(Prefetch {
            locals,
            pendings: self
                .eng
                .store
                .pendings(iid, e, ids)
                .await
                .map_err(store_err)?,
            mappings: self
                .eng
                .store
                .mappings(iid, e, ids)
                .await
                .map_err(store_err)?,
            customer_remote,
        })
    }

    /// Exports one local record, exactly once, from prefetched state.
    pub(super) async fn export_prefetched<T: Ops>(
        &mut self,
        job: &mut Job,
        our_id: &str,
        pre: &mut Prefetch,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        let iid = self.integration.id.clone();
        let Some(local) = pre.locals.remove(our_id) else {
            return Ok(Done::Skipped);
        };
        let pending = pre.pendings.remove(our_id);
        let was_refused = pending.as_ref().is_some_and(|p| p.failed_hash.is_some());
        if pending.as_ref().is_some_and(|p| {
            p.failed_hash.as_ref() == Some(&local.hash)
                && p.failed_job.as_deref() == Some(self.job_id.as_str())
        }) {
            return Ok(Done::Skipped); // refused in this very job; the next one tries again
        }
        let done = self.export_checked::<T>(job, our_id, local, pre).await?;
        if was_refused && matches!(done, Done::Written | Done::Conflict | Done::Skipped) {
            self.eng
                .store
                .release_quarantined(&iid, e, Side::App, our_id)
                .await
                .map_err(store_err)?;
        }
        Ok(done)
    }

    /// Exports one local record that is not refused in this job.
    async fn export_checked<T: Ops>(
        &mut self,
        job: &mut Job,
        our_id: &str,
        local: LocalRecord,
        pre: &mut Prefetch,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        let iid = self.integration.id.clone();
        let mut rec: T = match serde_json::from_value(local.doc.clone()) {
            Ok(r) => r,
            Err(err) => {
                return self
                    .fail(
                        e,
                        our_id,
                        &local.hash,
                        None,
                        &format!("stored record unreadable: {err}"),
                    )
                    .await
            }
        };
        let mapping = pre.mappings.remove(our_id);
        if mapping.as_ref().and_then(|m| m.synced_hash.as_ref()) == Some(&local.hash) {
            self.eng
                .store
                .clear_pending(&iid, e, our_id, &local.hash)
                .await
                .map_err(store_err)?;
            return Ok(Done::Skipped); // nothing changed since the last sync (or it is our echo)
        }
        // An invoice needs its customer at the provider first.
        let customer_remote = match rec.customer_ref().map(str::to_string) {
            None => None,
            Some(cid) if pre.customer_remote.contains_key(&cid) => {
                pre.customer_remote.get(&cid).cloned()
            }
            Some(cid) => match self.customer_remote_id(job, &cid).await? {
                CustomerAt::Remote(r) => Some(r),
                // Its customer's create may still land: the invoice waits with it.
                CustomerAt::InDoubt => return Ok(self.doubt(e, our_id)),
                CustomerAt::Unknown => {
                    return self
                        .fail(
                            e,
                            our_id,
                            &local.hash,
                            Some("customer_id".into()),
                            &format!("customer `{cid}` is not known here; upsert it first"),
                        )
                        .await
                }
            },
        };
        match mapping.as_ref().and_then(|m| m.remote_id.clone()) {
            None => {
                self.create::<T>(
                    job,
                    &mut rec,
                    &local,
                    mapping.as_ref(),
                    customer_remote.as_deref(),
                )
                .await
            }
            Some(remote_id) => {
                let m = mapping.clone().unwrap_or_else(|| empty_mapping(our_id));
                self.update::<T>(
                    job,
                    &rec,
                    &local,
                    &m,
                    &remote_id,
                    customer_remote.as_deref(),
                )
                .await
            }
        }
    }

    /// The provider id of one of our customers, exporting it first when needed.
    pub(super) async fn customer_remote_id(
        &mut self,
        job: &mut Job,
        our_customer_id: &str,
    ) -> Result<CustomerAt, SyncError> {
        let ids = [our_customer_id.to_string()];
        let known = |m: Option<Mapping>| m.and_then(|m| m.remote_id);
        if let Some(r) = known(
            self.eng
                .store
                .mappings(&self.integration.id, Entity::Customers, &ids)
                .await
                .map_err(store_err)?
                .remove(our_customer_id),
        ) {
            return Ok(CustomerAt::Remote(r));
        }
        let d = Box::pin(self.export::<Customer>(job, our_customer_id)).await?;
        Self::count(job, d);
        if d == Done::InDoubt {
            return Ok(CustomerAt::InDoubt);
        }
        Ok(known(
            self.eng
                .store
                .mappings(&self.integration.id, Entity::Customers, &ids)
                .await
                .map_err(store_err)?
                .remove(our_customer_id),
        )
        .map_or(CustomerAt::Unknown, CustomerAt::Remote))
    }
}

/// Where an invoice's customer is at the provider.
pub(super) enum CustomerAt {
    /// Created there, with this id.
    Remote(String),
    /// Its create's outcome is not known yet.
    InDoubt,
    /// Not known here at all.
    Unknown,
}
