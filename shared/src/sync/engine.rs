//! Runs a job's phases in slices: push (exactly-once creation, content-hash updates, conflicts),
//! incremental or full pull (overlap window, dedupe, our own writes ignored), and in full mode a
//! sweep that finds records deleted at the provider.

use super::conflict::{decide, Winner};
use super::ops::Ops;
use super::{SliceOutcome, SyncError};
use crate::connections::tokens::TokenError;
use crate::domain::{Customer, Entity, Integration, Invoice, Job, Mode};
use crate::http::ApiError;
use crate::providers::api::{AccountingApi, ApiAuth, Remote};
use crate::store::records::{local_item, Conflict, FeedEntry, LocalRecord, Mapping, Write};
use crate::store::{Db, StoreError};
use crate::AppContext;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Export pending (incremental) or all (full) local records of an entity.
    Push {
        /// Entity.
        entity: Entity,
    },
    /// Read records changed at the provider.
    Pull {
        /// Entity.
        entity: Entity,
    },
    /// Find records deleted at the provider (full mode).
    Sweep {
        /// Entity.
        entity: Entity,
    },
    /// Export one record.
    PushOne {
        /// Entity.
        entity: Entity,
        /// Our id.
        our_id: String,
    },
    /// Read one record.
    PullOne {
        /// Entity.
        entity: Entity,
        /// The provider's id.
        remote_id: String,
    },
}

/// The steps of a job, in order. Customers go before invoices (invoices refer to them), push
/// before pull (so a pull reads back our writes as already synced).
pub fn phases(job: &Job) -> Vec<Phase> {
    if let Some(t) = &job.target {
        return match (&t.our_id, &t.remote_id) {
            (Some(id), _) => vec![Phase::PushOne {
                entity: t.entity,
                our_id: id.clone(),
            }],
            (None, Some(id)) => vec![Phase::PullOne {
                entity: t.entity,
                remote_id: id.clone(),
            }],
            (None, None) => Vec::new(),
        };
    }
    let mut entities = job.entities.clone();
    entities.sort();
    let mut out = Vec::new();
    if job.direction.pushes() {
        out.extend(entities.iter().map(|&entity| Phase::Push { entity }));
    }
    if job.direction.pulls() {
        out.extend(entities.iter().map(|&entity| Phase::Pull { entity }));
        if job.mode == Mode::Full {
            out.extend(entities.iter().map(|&entity| Phase::Sweep { entity }));
        }
    }
    out
}

/// Where a job continues.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Index into [`phases`].
    pub phase: usize,
    /// Push: the last our id handled. Sweep: the last mapping handled.
    pub after: Option<String>,
    /// Pull and sweep listing: the next page (0 = phase not started).
    pub page: u32,
    /// Pull: the lower bound of this pull, fixed when the phase starts.
    pub since: Option<DateTime<Utc>>,
    /// Pull: the smallest high-water mark seen so far.
    pub high_water: Option<DateTime<Utc>>,
    /// Sweep: every provider id seen, as short hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<u64>,
    /// Sweep: the listing is complete and mappings are being compared.
    #[serde(default)]
    pub listed: bool,
}

/// Runs one slice.
pub async fn run(
    ctx: &AppContext,
    integration: &Integration,
    job: &mut Job,
    budget: Duration,
) -> Result<SliceOutcome, SyncError> {
    let token = match ctx.tokens.access_token(integration).await {
        Ok(t) => t,
        Err(TokenError::NeedsReauth(r)) => return Err(SyncError::NeedsReauth(r)),
        Err(TokenError::NotConnected) => {
            return Err(SyncError::Fatal("the integration is not connected".into()))
        }
        Err(e) => {
            return Err(SyncError::Retryable {
                reason: e.to_string(),
                retry_after: None,
            })
        }
    };
    let mut run = Run {
        ctx,
        db: &ctx.db,
        integration,
        api: ctx.providers.api(integration.provider),
        auth: ApiAuth::for_integration(integration, token),
        deadline: Instant::now() + budget,
        job_id: job.id.clone(),
        checkpoint: serde_json::from_value(job.checkpoint.clone()).unwrap_or_default(),
    };
    let plan = phases(job);
    while run.checkpoint.phase < plan.len() {
        let phase = plan[run.checkpoint.phase].clone();
        let finished = match &phase {
            Phase::Push {
                entity: Entity::Customers,
            } => run.push::<Customer>(job).await?,
            Phase::Push {
                entity: Entity::Invoices,
            } => run.push::<Invoice>(job).await?,
            Phase::Pull {
                entity: Entity::Customers,
            } => run.pull::<Customer>(job).await?,
            Phase::Pull {
                entity: Entity::Invoices,
            } => run.pull::<Invoice>(job).await?,
            Phase::Sweep { entity } => run.sweep(job, *entity).await?,
            Phase::PushOne {
                entity: Entity::Customers,
                our_id,
            } => run.push_one::<Customer>(job, our_id).await?,
            Phase::PushOne {
                entity: Entity::Invoices,
                our_id,
            } => run.push_one::<Invoice>(job, our_id).await?,
            Phase::PullOne {
                entity: Entity::Customers,
                remote_id,
            } => run.pull_one::<Customer>(job, remote_id).await?,
            Phase::PullOne {
                entity: Entity::Invoices,
                remote_id,
            } => run.pull_one::<Invoice>(job, remote_id).await?,
        };
        if finished {
            run.checkpoint = Checkpoint {
                phase: run.checkpoint.phase + 1,
                ..Checkpoint::default()
            };
            run.save(job).await?;
        } else {
            run.save(job).await?;
            return Ok(SliceOutcome::MoreWork);
        }
    }
    Ok(SliceOutcome::Finished)
}

struct Run<'a> {
    ctx: &'a AppContext,
    db: &'a Db,
    integration: &'a Integration,
    api: &'a dyn AccountingApi,
    auth: ApiAuth,
    deadline: Instant,
    job_id: String,
    checkpoint: Checkpoint,
}

/// State read ahead for a page of exports.
struct Prefetch {
    locals: HashMap<String, LocalRecord>,
    pendings: HashMap<String, crate::store::records::Pending>,
    mappings: HashMap<String, Mapping>,
    customer_remote: HashMap<String, String>,
}

/// The outcome of one record.
enum Done {
    Written,
    Skipped,
    Failed,
    Conflict,
}

fn store_err(e: StoreError) -> SyncError {
    SyncError::Retryable {
        reason: e.to_string(),
        retry_after: None,
    }
}

impl Run<'_> {
    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Saves progress and checkpoint (also the watchdog's heartbeat).
    async fn save(&self, job: &mut Job) -> Result<(), SyncError> {
        job.checkpoint = serde_json::to_value(&self.checkpoint).unwrap_or_default();
        job.updated_at = Utc::now();
        self.db.save_job(job).await.map_err(store_err)
    }

    /// Turns a provider failure that concerns the whole job into a job error.
    async fn job_error(&self, e: ApiError) -> SyncError {
        match e {
            ApiError::Retryable { message } | ApiError::Unexpected { message } => {
                SyncError::Retryable {
                    reason: message,
                    retry_after: None,
                }
            }
            ApiError::RateLimited {
                retry_after,
                message,
            } => SyncError::Retryable {
                reason: message,
                retry_after,
            },
            ApiError::NeedsReauth { message } => {
                // The token may simply have been refused early: refresh once, then retry the
                // slice; a dead grant ends in needs_reauth.
                match self.ctx.tokens.refresh_now(self.integration).await {
                    Ok(_) => SyncError::Retryable {
                        reason: format!("token refused, refreshed: {message}"),
                        retry_after: None,
                    },
                    Err(TokenError::NeedsReauth(r)) => SyncError::NeedsReauth(r),
                    Err(other) => SyncError::Retryable {
                        reason: other.to_string(),
                        retry_after: None,
                    },
                }
            }
            ApiError::NeedsPerson { message, .. } => {
                SyncError::Fatal(format!("the accounting system needs a person: {message}"))
            }
            other => SyncError::Retryable {
                reason: other.to_string(),
                retry_after: None,
            },
        }
    }

    fn count(job: &mut Job, d: Done) {
        match d {
            Done::Written => job.progress.done += 1,
            Done::Skipped => job.progress.skipped += 1,
            Done::Failed => job.progress.failed += 1,
            Done::Conflict => {
                job.progress.conflicts += 1;
                job.progress.done += 1;
            }
        }
    }

    // ---------- push ----------

    async fn push<T: Ops>(&mut self, job: &mut Job) -> Result<bool, SyncError> {
        let page_size = self.ctx.config.sync.page_size as i32;
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let after = self.checkpoint.after.clone();
            let (ids, next) = if job.mode == Mode::Full {
                let (recs, next) = self
                    .db
                    .local_page(&self.integration.id, T::ENTITY, after.as_deref(), page_size)
                    .await
                    .map_err(store_err)?;
                (recs.into_iter().map(|r| r.our_id).collect::<Vec<_>>(), next)
            } else {
                let (pend, next) = self
                    .db
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
            self.save(job).await?;
            if next.is_none() || ids.is_empty() {
                return Ok(true);
            }
        }
    }

    async fn push_one<T: Ops>(&mut self, job: &mut Job, our_id: &str) -> Result<bool, SyncError> {
        let d = self.export::<T>(job, our_id).await?;
        Self::count(job, d);
        Ok(true)
    }

    /// Exports one local record, exactly once.
    async fn export<T: Ops>(&mut self, job: &mut Job, our_id: &str) -> Result<Done, SyncError> {
        let mut pre = self.prefetch::<T>(&[our_id.to_string()]).await?;
        self.export_prefetched::<T>(job, our_id, &mut pre).await
    }

    /// Reads what exporting a page of records needs in a few batch reads instead of several
    /// reads a record.
    async fn prefetch<T: Ops>(&self, ids: &[String]) -> Result<Prefetch, SyncError> {
        let e = T::ENTITY;
        let iid = &self.integration.id;
        let locals = self
            .db
            .local_records(iid, e, ids)
            .await
            .map_err(store_err)?;
        let customers: Vec<String> = if e == Entity::Invoices {
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
            self.db
                .mappings(iid, Entity::Customers, &customers)
                .await
                .map_err(store_err)?
                .into_iter()
                .filter_map(|(k, m)| m.remote_id.map(|r| (k, r)))
                .collect()
        };
        Ok(Prefetch {
            locals,
            pendings: self.db.pendings(iid, e, ids).await.map_err(store_err)?,
            mappings: self.db.mappings(iid, e, ids).await.map_err(store_err)?,
            customer_remote,
        })
    }

    /// Exports one local record, exactly once, from prefetched state.
    async fn export_prefetched<T: Ops>(
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
        if pending.as_ref().and_then(|p| p.failed_hash.as_ref()) == Some(&local.hash) {
            return Ok(Done::Skipped); // failed before with this very content; waits for a change
        }
        let mut rec: T = match serde_json::from_value(local.doc.clone()) {
            Ok(r) => r,
            Err(err) => {
                return self
                    .fail(
                        e,
                        our_id,
                        &local.hash,
                        &format!("stored record unreadable: {err}"),
                    )
                    .await
            }
        };
        let mapping = pre.mappings.remove(our_id);
        if mapping.as_ref().and_then(|m| m.synced_hash.as_ref()) == Some(&local.hash) {
            self.db
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
                Some(r) => Some(r),
                None => {
                    return self
                        .fail(
                            e,
                            our_id,
                            &local.hash,
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
    async fn customer_remote_id(
        &mut self,
        job: &mut Job,
        our_customer_id: &str,
    ) -> Result<Option<String>, SyncError> {
        let ids = [our_customer_id.to_string()];
        let known = |m: Option<Mapping>| m.and_then(|m| m.remote_id);
        if let Some(r) = known(
            self.db
                .mappings(&self.integration.id, Entity::Customers, &ids)
                .await
                .map_err(store_err)?
                .remove(our_customer_id),
        ) {
            return Ok(Some(r));
        }
        let d = Box::pin(self.export::<Customer>(job, our_customer_id)).await?;
        Self::count(job, d);
        Ok(known(
            self.db
                .mappings(&self.integration.id, Entity::Customers, &ids)
                .await
                .map_err(store_err)?
                .remove(our_customer_id),
        ))
    }

    async fn create<T: Ops>(
        &mut self,
        _job: &mut Job,
        rec: &mut T,
        local: &LocalRecord,
        mapping: Option<&Mapping>,
        customer: Option<&str>,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        // A create sent before whose outcome is unknown: look it up before creating again.
        if mapping.is_some_and(|m| m.create_pending_since.is_some()) {
            match T::find(self.api, &self.auth, rec).await {
                Ok(Some(found)) => return self.adopt_found::<T>(local, found).await,
                Ok(None) => {}
                Err(err) => return Err(self.job_error(err).await),
            }
        }
        let marker = Mapping {
            create_pending_since: Some(Utc::now()),
            ..empty_mapping(&local.our_id)
        };
        match self
            .db
            .put_mapping(&self.integration.id, e, &marker, None)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(Done::Skipped), // created meanwhile
            Err(err) => return Err(store_err(err)),
        }
        for attempt in 0..2 {
            match T::create(self.api, &self.auth, rec, customer).await {
                Ok(remote) => return self.adopt::<T>(local, remote).await,
                Err(ApiError::Ambiguous { message }) => {
                    tracing::warn!(entity = %e, our_id = %local.our_id, %message, "create outcome unknown; looking it up by our reference");
                    match T::find(self.api, &self.auth, rec).await {
                        Ok(Some(found)) => return self.adopt_found::<T>(local, found).await,
                        Ok(None) if attempt == 0 => continue,
                        Ok(None) => {
                            return Err(SyncError::Retryable {
                                reason: format!(
                                    "create of {e} {} unconfirmed: {message}",
                                    local.our_id
                                ),
                                retry_after: None,
                            })
                        }
                        Err(err) => return Err(self.job_error(err).await),
                    }
                }
                Err(ApiError::InvalidData { message, field, .. }) => {
                    let reason = match field {
                        Some(f) => format!("{f}: {message}"),
                        None => message,
                    };
                    self.db
                        .put_mapping(&self.integration.id, e, &empty_mapping(&local.our_id), None)
                        .await
                        .map_err(store_err)?;
                    return self.fail(e, &local.our_id, &local.hash, &reason).await;
                }
                Err(err) => return Err(self.job_error(err).await),
            }
        }
        Err(SyncError::Retryable {
            reason: "create not confirmed".into(),
            retry_after: None,
        })
    }

    /// Adopts a record found by our reference, finishing its create first when it stopped
    /// half-way.
    async fn adopt_found<T: Ops>(
        &mut self,
        local: &LocalRecord,
        found: Remote<T>,
    ) -> Result<Done, SyncError> {
        match T::complete(
            self.api,
            &self.auth,
            found,
            self.ctx.config.api.visma_convert_drafts,
        )
        .await
        {
            Ok(done) => self.adopt::<T>(local, done).await,
            Err(err) => Err(self.job_error(err).await),
        }
    }

    /// Records a created (or found) record as synced with our local version.
    async fn adopt<T: Ops>(
        &mut self,
        local: &LocalRecord,
        remote: Remote<T>,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        let m = Mapping {
            our_id: local.our_id.clone(),
            remote_id: Some(remote.remote_id.clone()),
            synced_hash: Some(local.hash.clone()),
            remote_hash: Some(remote.record.hash()),
            remote_modified_at: remote.modified_at,
            create_pending_since: None,
            deleted_at: None,
        };
        match self.db.put_mapping(&self.integration.id, e, &m, None).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                tracing::error!(entity = %e, our_id = %local.our_id, "mapping already recorded by someone else");
                return Ok(Done::Skipped);
            }
            Err(err) => return Err(store_err(err)),
        }
        self.db
            .clear_pending(&self.integration.id, e, &local.our_id, &local.hash)
            .await
            .map_err(store_err)?;
        Ok(Done::Written)
    }

    async fn update<T: Ops>(
        &mut self,
        job: &mut Job,
        rec: &T,
        local: &LocalRecord,
        mapping: &Mapping,
        remote_id: &str,
        customer: Option<&str>,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        let current = match T::get(self.api, &self.auth, remote_id).await {
            Ok(r) => r,
            Err(err) => return Err(self.job_error(err).await),
        };
        let Some(current) = current else {
            // Deleted at the provider while changed here: the newer local change brings it back.
            tracing::warn!(entity = %e, our_id = %local.our_id, "record deleted at the provider; creating it again");
            let mut rec = rec.clone();
            return self.create::<T>(job, &mut rec, local, None, customer).await;
        };
        let remote_hash = current.record.hash();
        let mut outcome = Done::Written;
        if mapping.remote_hash.as_ref() != Some(&remote_hash) {
            // Both sides changed since the last sync.
            let winner = decide(local.updated_at, current.modified_at, Utc::now());
            self.log_conflict(
                e,
                &local.our_id,
                remote_id,
                winner,
                local.updated_at,
                current.modified_at,
            )
            .await?;
            if winner == Winner::Provider {
                self.take_remote::<T>(current, &local.our_id, Some(&local.hash))
                    .await?;
                return Ok(Done::Conflict);
            }
            outcome = Done::Conflict;
        }
        if !current.editable {
            return self.fail(e, &local.our_id, &local.hash, "the provider no longer accepts changes to this record (booked or converted); credit it instead").await;
        }
        match T::update(self.api, &self.auth, remote_id, rec, customer).await {
            Ok(updated) => {
                let m = Mapping {
                    synced_hash: Some(local.hash.clone()),
                    remote_hash: Some(updated.record.hash()),
                    remote_modified_at: updated.modified_at,
                    ..mapping.clone()
                };
                self.db
                    .put_mapping(&self.integration.id, e, &m, Some(remote_id))
                    .await
                    .map_err(store_err)?;
                self.db
                    .clear_pending(&self.integration.id, e, &local.our_id, &local.hash)
                    .await
                    .map_err(store_err)?;
                Ok(outcome)
            }
            Err(ApiError::InvalidData { message, field, .. }) => {
                let reason = field.map(|f| format!("{f}: {message}")).unwrap_or(message);
                self.fail(e, &local.our_id, &local.hash, &reason).await
            }
            Err(ApiError::NotFound { .. }) => {
                let mut rec = rec.clone();
                self.create::<T>(job, &mut rec, local, None, customer).await
            }
            Err(err) => Err(self.job_error(err).await),
        }
    }

    async fn fail(
        &self,
        e: Entity,
        our_id: &str,
        hash: &str,
        reason: &str,
    ) -> Result<Done, SyncError> {
        tracing::warn!(integration = %self.integration.id, entity = %e, our_id, reason, "record not exported");
        self.db
            .fail_pending(&self.integration.id, e, our_id, hash, reason)
            .await
            .map_err(store_err)?;
        Ok(Done::Failed)
    }

    async fn log_conflict(
        &self,
        e: Entity,
        our_id: &str,
        remote_id: &str,
        winner: Winner,
        local_at: DateTime<Utc>,
        remote_at: Option<DateTime<Utc>>,
    ) -> Result<(), SyncError> {
        let c = Conflict {
            entity: e,
            our_id: our_id.to_string(),
            remote_id: remote_id.to_string(),
            winner: winner.as_str().to_string(),
            local_updated_at: local_at,
            remote_modified_at: remote_at,
            job_id: self.job_id.clone(),
            decided_at: Utc::now(),
        };
        tracing::info!(integration = %self.integration.id, entity = %e, our_id, winner = winner.as_str(), "conflict decided");
        let item = Db::conflict_item(&self.integration.id, &c).map_err(store_err)?;
        self.db
            .write_batch(vec![Write::Put(item)], &self.integration.id)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// Makes the provider's version ours: local copy, mapping and a feed entry.
    async fn take_remote<T: Ops>(
        &self,
        remote: Remote<T>,
        our_id: &str,
        clear_hash: Option<&String>,
    ) -> Result<(), SyncError> {
        let e = T::ENTITY;
        let (writes, _) = self
            .remote_writes::<T>(vec![(remote, our_id.to_string(), true)], HashMap::new())
            .await?;
        self.db
            .write_batch(writes, &self.integration.id)
            .await
            .map_err(store_err)?;
        if let Some(h) = clear_hash {
            self.db
                .clear_pending(&self.integration.id, e, our_id, h)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    // ---------- pull ----------

    async fn pull<T: Ops>(&mut self, job: &mut Job) -> Result<bool, SyncError> {
        let e = T::ENTITY;
        if self.checkpoint.page == 0 {
            self.checkpoint.page = 1;
            self.checkpoint.since = if job.mode == Mode::Full {
                None
            } else {
                let overlap = chrono::Duration::from_std(self.ctx.config.sync.pull_overlap)
                    .unwrap_or_default();
                self.db
                    .pull_checkpoint(&self.integration.id, e)
                    .await
                    .map_err(store_err)?
                    .map(|hw| hw - overlap)
            };
        }
        loop {
            if self.out_of_time() {
                return Ok(false);
            }
            let page = match T::list(
                self.api,
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
            let n = page.items.len();
            self.apply_remote_page::<T>(job, page.items).await?;
            if !page.has_more || n == 0 {
                if let Some(hw) = self.checkpoint.high_water {
                    self.db
                        .set_pull_checkpoint(&self.integration.id, e, hw)
                        .await
                        .map_err(store_err)?;
                }
                return Ok(true);
            }
            self.checkpoint.page = page.next_page;
            self.save(job).await?;
        }
    }

    async fn pull_one<T: Ops>(
        &mut self,
        job: &mut Job,
        remote_id: &str,
    ) -> Result<bool, SyncError> {
        match T::get(self.api, &self.auth, remote_id).await {
            Ok(Some(r)) => self.apply_remote_page::<T>(job, vec![r]).await?,
            Ok(None) => {
                let known = self
                    .db
                    .our_ids(&self.integration.id, T::ENTITY, &[remote_id.to_string()])
                    .await
                    .map_err(store_err)?;
                if let Some(our) = known.get(remote_id) {
                    self.mark_deleted(T::ENTITY, vec![(our.clone(), remote_id.to_string())])
                        .await?;
                    job.progress.done += 1;
                }
            }
            Err(err) => return Err(self.job_error(err).await),
        }
        Ok(true)
    }

    /// Applies a page of provider records: skips what we already have (including our own
    /// writes read back), decides conflicts, and writes mappings and feed entries in batches.
    async fn apply_remote_page<T: Ops>(
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
            .db
            .our_ids(&iid, e, &remote_ids)
            .await
            .map_err(store_err)?;
        let known: Vec<String> = our_ids.values().cloned().collect();
        let mappings = self.db.mappings(&iid, e, &known).await.map_err(store_err)?;
        let pendings = self.db.pendings(&iid, e, &known).await.map_err(store_err)?;
        let customer_ids = if e == Entity::Invoices {
            let refs: Vec<String> = items
                .iter()
                .filter_map(|r| r.customer_remote_id.clone())
                .collect();
            self.db
                .our_ids(&iid, Entity::Customers, &refs)
                .await
                .map_err(store_err)?
        } else {
            HashMap::new()
        };
        let mut take = Vec::new();
        for r in items {
            let our_id = our_ids.get(&r.remote_id).cloned();
            let remote_hash = r.record.hash();
            let Some(our_id) = our_id else {
                // New at the provider: use our reference when it carries one (a record we
                // created whose mapping was lost), else a stable id derived from the provider's.
                let id = Some(r.record.our_id().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("{}-{}", self.integration.provider, r.remote_id));
                take.push((r, id, true));
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
                    .db
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
                self.db
                    .clear_pending(&iid, e, &our_id, &p.hash)
                    .await
                    .map_err(store_err)?;
            }
            take.push((r, our_id, false));
        }
        job.progress.done += take.len() as u64;
        let (writes, _) = self.remote_writes::<T>(take, customer_ids).await?;
        if !writes.is_empty() {
            self.db.write_batch(writes, &iid).await.map_err(store_err)?;
        }
        Ok(())
    }

    /// The writes that make provider records ours: mapping (+ reverse for new ones), local copy
    /// and a feed entry each, with feed sequence numbers reserved in one call.
    async fn remote_writes<T: Ops>(
        &self,
        take: Vec<(Remote<T>, String, bool)>,
        customer_ids: HashMap<String, String>,
    ) -> Result<(Vec<Write>, usize), SyncError> {
        if take.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let e = T::ENTITY;
        let iid = &self.integration.id;
        let first = self
            .db
            .reserve_seq(iid, take.len() as u64)
            .await
            .map_err(store_err)?;
        let now = Utc::now();
        let mut writes = Vec::new();
        for (i, (r, our_id, _new)) in take.iter().enumerate() {
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
            let doc = serde_json::to_value(&rec).map_err(|e| SyncError::Fatal(e.to_string()))?;
            let m = Mapping {
                our_id: our_id.clone(),
                remote_id: Some(r.remote_id.clone()),
                synced_hash: Some(local_hash.clone()),
                remote_hash: Some(r.record.hash()),
                remote_modified_at: r.modified_at,
                create_pending_since: None,
                deleted_at: None,
            };
            for it in crate::store::records::mapping_items(iid, e, &m) {
                writes.push(Write::Put(it));
            }
            let local = LocalRecord {
                our_id: our_id.clone(),
                doc: doc.clone(),
                hash: local_hash,
                updated_at: r.modified_at.unwrap_or(now),
            };
            writes.push(Write::Put(local_item(iid, e, &local)));
            let entry = FeedEntry {
                seq: first + i as u64,
                entity: e,
                op: "upsert".into(),
                our_id: our_id.clone(),
                remote_id: r.remote_id.clone(),
                record: Some(doc),
                pulled_at: now,
            };
            writes.push(Write::Put(Db::feed_item(iid, &entry).map_err(store_err)?));
        }
        let n = writes.len();
        Ok((writes, n))
    }

    // ---------- sweep ----------

    async fn sweep(&mut self, job: &mut Job, e: Entity) -> Result<bool, SyncError> {
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
                        self.api
                            .list_customer_ids(&self.auth, self.checkpoint.page)
                            .await
                    }
                    Entity::Invoices => {
                        self.api
                            .list_invoice_ids(&self.auth, self.checkpoint.page)
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
                .db
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
    async fn mark_deleted(&self, e: Entity, gone: Vec<(String, String)>) -> Result<(), SyncError> {
        if gone.is_empty() {
            return Ok(());
        }
        let iid = &self.integration.id;
        let ids: Vec<String> = gone.iter().map(|(o, _)| o.clone()).collect();
        let maps = self.db.mappings(iid, e, &ids).await.map_err(store_err)?;
        let first = self
            .db
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
            writes.push(Write::Put(
                crate::store::records::mapping_items(iid, e, &m).swap_remove(0),
            ));
            let entry = FeedEntry {
                seq: first + i as u64,
                entity: e,
                op: "delete".into(),
                our_id: our_id.clone(),
                remote_id: remote_id.clone(),
                record: None,
                pulled_at: now,
            };
            writes.push(Write::Put(Db::feed_item(iid, &entry).map_err(store_err)?));
        }
        self.db.write_batch(writes, iid).await.map_err(store_err)?;
        Ok(())
    }
}

fn empty_mapping(our_id: &str) -> Mapping {
    Mapping {
        our_id: our_id.to_string(),
        remote_id: None,
        synced_hash: None,
        remote_hash: None,
        remote_modified_at: None,
        create_pending_since: None,
        deleted_at: None,
    }
}

/// A 64-bit digest of a provider id: the sweep keeps these instead of the ids, so even a large
/// company's id set fits in the job's checkpoint (8 bytes a record).
fn short_hash(id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(id.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Direction, JobState, Progress, Target, Trigger};

    fn job(direction: Direction, mode: Mode, entities: Vec<Entity>, target: Option<Target>) -> Job {
        Job {
            tenant_id: "t".into(),
            integration_id: "i".into(),
            id: "j".into(),
            direction,
            entities,
            mode,
            trigger: Trigger::Manual,
            target,
            state: JobState::Queued,
            progress: Progress::default(),
            checkpoint: serde_json::Value::Null,
            slices: 0,
            attempts: 0,
            last_error: None,
            not_before: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            finished_at: None,
            version: 0,
        }
    }

    #[test]
    fn phases_push_customers_first_then_pull_then_sweep() {
        let p = phases(&job(
            Direction::Both,
            Mode::Full,
            vec![Entity::Invoices, Entity::Customers],
            None,
        ));
        assert_eq!(
            p,
            vec![
                Phase::Push {
                    entity: Entity::Customers
                },
                Phase::Push {
                    entity: Entity::Invoices
                },
                Phase::Pull {
                    entity: Entity::Customers
                },
                Phase::Pull {
                    entity: Entity::Invoices
                },
                Phase::Sweep {
                    entity: Entity::Customers
                },
                Phase::Sweep {
                    entity: Entity::Invoices
                },
            ]
        );
        assert_eq!(
            phases(&job(
                Direction::Pull,
                Mode::Incremental,
                vec![Entity::Customers],
                None
            ))
            .len(),
            1
        );
        let t = Target {
            entity: Entity::Invoices,
            our_id: None,
            remote_id: Some("42".into()),
        };
        assert_eq!(
            phases(&job(
                Direction::Pull,
                Mode::Incremental,
                vec![Entity::Invoices],
                Some(t)
            )),
            vec![Phase::PullOne {
                entity: Entity::Invoices,
                remote_id: "42".into()
            }]
        );
    }

    #[test]
    fn checkpoints_round_trip_through_json() {
        let c = Checkpoint {
            phase: 2,
            page: 3,
            seen: vec![1, 2],
            listed: true,
            ..Default::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(serde_json::from_value::<Checkpoint>(v).unwrap(), c);
        assert_eq!(
            serde_json::from_value::<Checkpoint>(serde_json::Value::Null).unwrap_or_default(),
            Checkpoint::default()
        );
    }
}
