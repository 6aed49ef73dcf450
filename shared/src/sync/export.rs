//! Exporting one record: created exactly once (a pending-create marker first; after an
//! ambiguous failure the record is in doubt, looked up by our reference until found or until
//! the settle time has passed, before any second create: see `settle.rs`), adopted when found
//! by reference, or updated when it is mapped (deciding a conflict when both sides changed).

use super::conflicts::{decide, Winner};
use super::ops::Ops;
use super::run::{empty_mapping, store_err, Done, Run};
use super::settle::{create_sent_at, still_settling};
use super::SyncError;
use crate::domain::{Entity, Job};
use crate::http::ApiError;
use crate::providers::api::Remote;
use crate::store::quarantine::{Quarantined, Side};
use crate::store::records::{LocalRecord, Mapping};
use crate::store::StoreError;
use chrono::Utc;

impl Run<'_> {
    /// Creates the record at the provider exactly once (see the module comment).
    pub(super) async fn create<T: Ops>(
        &mut self,
        _job: &mut Job,
        rec: &mut T,
        local: &LocalRecord,
        mapping: Option<&Mapping>,
        customer: Option<&str>,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        // A create sent before whose outcome is unknown: look it up before creating again, and
        // create again only once the provider can no longer be committing the first one.
        if let Some(sent_at) = create_sent_at(mapping) {
            // What that create carried: the app may have changed the record since.
            let sent = mapping
                .and_then(|m| m.create_hash.clone())
                .unwrap_or_else(|| local.hash.clone());
            match T::find(self.eng.api, &self.auth, rec).await {
                Ok(Some(found)) => return self.adopt_found::<T>(local, found, &sent).await,
                Ok(None) if still_settling(sent_at, Utc::now(), self.eng.create_settle) => {
                    return Ok(self.doubt(e, &local.our_id));
                }
                Ok(None) => {
                    tracing::warn!(entity = %e, our_id = %local.our_id, "an unanswered create never landed within the settle time; creating it again");
                }
                Err(err) => return Err(self.job_error(err).await),
            }
        }
        let marker = Mapping {
            create_pending_since: Some(Utc::now()),
            create_hash: Some(local.hash.clone()),
            ..empty_mapping(&local.our_id)
        };
        match self
            .eng
            .store
            .put_mapping(&self.integration.id, e, &marker, None)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(Done::Skipped), // created meanwhile
            Err(err) => return Err(store_err(err)),
        }
        match T::create(self.eng.api, &self.auth, rec, customer).await {
            Ok(remote) => self.adopt::<T>(local, remote, &local.hash).await,
            Err(ApiError::Ambiguous { message }) => {
                // The provider may have committed it, or may still: one look now (a write
                // applied before its answer was lost), then the record stays in doubt.
                tracing::warn!(entity = %e, our_id = %local.our_id, %message, "create outcome unknown; looking it up by our reference");
                match T::find(self.eng.api, &self.auth, rec).await {
                    Ok(Some(found)) => self.adopt_found::<T>(local, found, &local.hash).await,
                    Ok(None) => Ok(self.doubt(e, &local.our_id)),
                    Err(err) => Err(self.job_error(err).await),
                }
            }
            Err(ApiError::InvalidData { message, field, .. }) => {
                self.eng
                    .store
                    .put_mapping(&self.integration.id, e, &empty_mapping(&local.our_id), None)
                    .await
                    .map_err(store_err)?;
                self.fail(e, &local.our_id, &local.hash, field, &message)
                    .await
            }
            Err(err @ ApiError::NeedsPerson { .. }) => {
                // Refused for want of a licence or a permission, before anything was written:
                // no create is in doubt, and the record waits as it was.
                self.eng
                    .store
                    .put_mapping(&self.integration.id, e, &empty_mapping(&local.our_id), None)
                    .await
                    .map_err(store_err)?;
                Err(self.job_error(err).await)
            }
            Err(err) => Err(self.job_error(err).await),
        }
    }

    /// Adopts a record found by our reference, created with the content hashed `sent`,
    /// finishing its create first when it stopped half-way.
    pub(super) async fn adopt_found<T: Ops>(
        &mut self,
        local: &LocalRecord,
        found: Remote<T>,
        sent: &str,
    ) -> Result<Done, SyncError> {
        match T::complete(self.eng.api, &self.auth, found).await {
            Ok(done) => self.adopt::<T>(local, done, sent).await,
            Err(err) => Err(self.job_error(err).await),
        }
    }

    /// Records a created (or found) record as synced with the local version hashed `sent`,
    /// the one its create carried. When the app changed the record since (`local` differs),
    /// its pending export stays for the next job, which updates the provider's record.
    pub(super) async fn adopt<T: Ops>(
        &mut self,
        local: &LocalRecord,
        remote: Remote<T>,
        sent: &str,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        let m = Mapping {
            our_id: local.our_id.clone(),
            remote_id: Some(remote.remote_id.clone()),
            synced_hash: Some(sent.to_string()),
            remote_hash: Some(remote.record.remote_hash()),
            remote_modified_at: remote.modified_at,
            create_pending_since: None,
            create_hash: None,
            deleted_at: None,
        };
        match self
            .eng
            .store
            .put_mapping(&self.integration.id, e, &m, None)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                tracing::error!(entity = %e, our_id = %local.our_id, "mapping already recorded by someone else");
                return Ok(Done::Skipped);
            }
            Err(err) => return Err(store_err(err)),
        }
        self.eng
            .store
            .clear_pending(&self.integration.id, e, &local.our_id, sent)
            .await
            .map_err(store_err)?;
        Ok(Done::Written)
    }

    /// Writes our version over the provider's, deciding a conflict when both changed.
    pub(super) async fn update<T: Ops>(
        &mut self,
        job: &mut Job,
        rec: &T,
        local: &LocalRecord,
        mapping: &Mapping,
        remote_id: &str,
        customer: Option<&str>,
    ) -> Result<Done, SyncError> {
        let e = T::ENTITY;
        let current = match T::get(self.eng.api, &self.auth, remote_id).await {
            Ok(r) => r,
            Err(err) => return Err(self.job_error(err).await),
        };
        let Some(current) = current else {
            // Deleted at the provider while changed here: the newer local change brings it back.
            tracing::warn!(entity = %e, our_id = %local.our_id, "record deleted at the provider; creating it again");
            let mut rec = rec.clone();
            return self.create::<T>(job, &mut rec, local, None, customer).await;
        };
        let remote_hash = current.record.remote_hash();
        let mut outcome = Done::Written;
        let mut current = current;
        if mapping.remote_hash.as_ref() != Some(&remote_hash) {
            // Both sides changed since the last sync. A provider whose records carry no time
            // (Fortnox) may have said when in a change event whose pull is still pending.
            if current.modified_at.is_none() {
                current.modified_at = self
                    .eng
                    .store
                    .pending_change_time(&self.integration.id, e, remote_id)
                    .await
                    .map_err(store_err)?;
            }
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
            return self.fail(e, &local.our_id, &local.hash, None, "the provider no longer accepts changes to this record (booked or converted); credit it instead").await;
        }
        match T::update(self.eng.api, &self.auth, remote_id, rec, customer).await {
            Ok(updated) => {
                let m = Mapping {
                    synced_hash: Some(local.hash.clone()),
                    remote_hash: Some(updated.record.remote_hash()),
                    remote_modified_at: updated.modified_at,
                    ..mapping.clone()
                };
                self.eng
                    .store
                    .put_mapping(&self.integration.id, e, &m, Some(remote_id))
                    .await
                    .map_err(store_err)?;
                self.eng
                    .store
                    .clear_pending(&self.integration.id, e, &local.our_id, &local.hash)
                    .await
                    .map_err(store_err)?;
                Ok(outcome)
            }
            Err(ApiError::InvalidData { message, field, .. }) => {
                self.fail(e, &local.our_id, &local.hash, field, &message)
                    .await
            }
            Err(ApiError::NotFound { .. }) => {
                let mut rec = rec.clone();
                self.create::<T>(job, &mut rec, local, None, customer).await
            }
            Err(err) => Err(self.job_error(err).await),
        }
    }

    /// Sets this content aside as refused by the provider: the pending export is marked failed
    /// (this job does not try it again) and the record is in quarantine with the field and the
    /// provider's message; the next job tries it again.
    pub(super) async fn fail(
        &self,
        e: Entity,
        our_id: &str,
        hash: &str,
        field: Option<String>,
        message: &str,
    ) -> Result<Done, SyncError> {
        let reason = match &field {
            Some(f) => format!("{f}: {message}"),
            None => message.to_string(),
        };
        tracing::warn!(integration = %self.integration.id, entity = %e, our_id, reason, "record not exported; set aside");
        let iid = &self.integration.id;
        self.eng
            .store
            .fail_pending(iid, e, our_id, hash, &self.job_id, &reason)
            .await
            .map_err(store_err)?;
        let q = Quarantined {
            entity: e,
            side: Side::App,
            id: our_id.to_string(),
            field,
            message: message.to_string(),
            job_id: self.job_id.clone(),
            at: Utc::now(),
            since: None,
        };
        self.eng
            .store
            .put_quarantined(iid, &q)
            .await
            .map_err(store_err)?;
        Ok(Done::Failed)
    }
}
