//! Records set aside: a provider record the client cannot read or map is put in quarantine
//! with its id, the field and the message, and the rest of its page goes on; each pull phase
//! first reads the quarantined records of its entity again and takes them out once they read.
//! (App records the provider refuses are set aside by `Run::fail`, and tried again by the
//! next job's push.)

use super::ops::Ops;
use super::run::{store_err, Run};
use super::SyncError;
use crate::domain::Job;
use crate::providers::Unreadable;
use crate::store::quarantine::{Quarantined, Side};
use chrono::Utc;

/// How many quarantined records of an entity a pull phase reads again.
const RETRY_MAX: i32 = 100;

impl Run<'_> {
    /// Sets aside the records of a page that could not be read; each counts as failed.
    pub(super) async fn set_aside<T: Ops>(
        &self,
        job: &mut Job,
        unreadable: Vec<Unreadable>,
    ) -> Result<(), SyncError> {
        for u in unreadable {
            let q = Quarantined {
                entity: T::ENTITY,
                side: Side::Provider,
                id: u.remote_id,
                field: u.field,
                message: u.message,
                job_id: self.job_id.clone(),
                at: Utc::now(),
                since: None,
            };
            self.eng
                .store
                .put_quarantined(&self.integration.id, &q)
                .await
                .map_err(store_err)?;
            job.progress.failed += 1;
        }
        Ok(())
    }

    /// Reads the entity's quarantined provider records again: one that reads now is applied
    /// and released, one that is gone is released, one that still cannot be read stays (its
    /// entry updated).
    pub(super) async fn retry_quarantined<T: Ops>(
        &mut self,
        job: &mut Job,
    ) -> Result<(), SyncError> {
        let iid = &self.integration.id;
        // Records are set aside rarely: one look over every entity (and side) spares each
        // pull phase of the slice its own query when there are none.
        let any = match self.any_quarantined {
            Some(any) => any,
            None => *self.any_quarantined.insert(
                !self
                    .eng
                    .store
                    .quarantined(iid, None, 1)
                    .await
                    .map_err(store_err)?
                    .is_empty(),
            ),
        };
        if !any {
            return Ok(());
        }
        let set_aside = self
            .eng
            .store
            .quarantined(iid, Some(T::ENTITY), RETRY_MAX)
            .await
            .map_err(store_err)?;
        for q in set_aside.into_iter().filter(|q| q.side == Side::Provider) {
            if q.id.is_empty() {
                continue; // not even its id could be read: only a later listing finds it
            }
            let read = T::get(self.eng.api, &self.auth, &q.id).await;
            let mut found = Vec::new();
            let mut still = Vec::new();
            match Unreadable::sort(Some(q.id.clone()), read, &mut found, &mut still) {
                Ok(()) => {}
                Err(err) => return Err(self.job_error(err).await),
            }
            if still.is_empty() {
                self.apply_remote_page::<T>(job, found).await?;
                self.eng
                    .store
                    .release_quarantined(iid, T::ENTITY, Side::Provider, &q.id)
                    .await
                    .map_err(store_err)?;
            } else {
                self.set_aside::<T>(job, still).await?;
            }
        }
        Ok(())
    }
}
