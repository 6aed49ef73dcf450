//! [`SyncStore`] in memory, with the same conditions as the DynamoDB adapter (conditional
//! mapping writes, hash-guarded marker updates, a never-backwards pull mark, versioned job
//! saves), and a crash switch: the n-th call from now fails, as if the process died there.

use crate::domain::{ArticleVat, Entity, Job, JobState};
use crate::store::marks::Marks;
use crate::store::quarantine::{Quarantined, Side};
use crate::store::records::{Conflict, FeedEntry, LocalRecord, Mapping, Pending};
use crate::store::{StoreError, SyncStore, SyncWrite};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

type Key = (String, Entity, String);

#[derive(Default)]
struct State {
    locals: BTreeMap<Key, LocalRecord>,
    pendings: BTreeMap<Key, (Pending, Option<String>)>,
    mappings: BTreeMap<Key, Mapping>,
    reverse: BTreeMap<Key, String>,
    feed: BTreeMap<(String, Entity, u64), FeedEntry>,
    seq: HashMap<String, u64>,
    conflicts: Vec<(String, Conflict)>,
    pull_marks: BTreeMap<(String, Entity), DateTime<Utc>>,
    articles: HashMap<String, ArticleVat>,
    quarantine: BTreeMap<(String, Entity, Side, String), Quarantined>,
    jobs: HashMap<String, Job>,
    job_saves: u64,
    marks_writes: u64,
    marks_reads: u64,
    pending_queries: u64,
    quarantine_queries: u64,
    calls: u64,
    crash_in: Option<u64>,
}

/// Sync state in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

fn key(iid: &str, e: Entity, id: &str) -> Key {
    (iid.to_string(), e, id.to_string())
}

/// A page of `map`'s entries of (iid, e) after `after`, DynamoDB-style: a cursor whenever the
/// page is full.
fn page<V: Clone>(
    map: &BTreeMap<Key, V>,
    iid: &str,
    e: Entity,
    after: Option<&str>,
    limit: i32,
) -> (Vec<V>, Option<String>) {
    let limit = limit.max(1) as usize;
    let rows: Vec<(&Key, &V)> = map
        .range(key(iid, e, after.unwrap_or(""))..)
        .take_while(|(k, _)| k.0 == iid && k.1 == e)
        .filter(|(k, _)| after.is_none_or(|a| k.2.as_str() > a))
        .take(limit)
        .collect();
    let next = (rows.len() == limit).then(|| rows[limit - 1].0 .2.clone());
    (rows.into_iter().map(|(_, v)| v.clone()).collect(), next)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a call; fails it when the crash switch says so.
    fn call(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let mut s = self.lock();
        s.calls += 1;
        match s.crash_in {
            Some(0) => {
                s.crash_in = None;
                Err(StoreError::Aws {
                    service: "memory",
                    message: "injected crash".into(),
                })
            }
            Some(n) => {
                s.crash_in = Some(n - 1);
                Ok(s)
            }
            None => Ok(s),
        }
    }

    /// Makes the call `n` calls from now (0 = the next one) fail once.
    pub fn crash_in(&self, n: Option<u64>) {
        self.lock().crash_in = n;
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// Stores a job as the queue would find it.
    pub fn insert_job(&self, job: &Job) {
        self.lock().jobs.insert(job.id.clone(), job.clone());
    }

    /// How many times a job was saved (attempts, refused ones too).
    pub fn job_saves(&self) -> u64 {
        self.lock().job_saves
    }

    /// How many times freshness marks were written.
    pub fn marks_writes(&self) -> u64 {
        self.lock().marks_writes
    }

    /// Queries of pending exports so far (the "any" check and the pages of an entity).
    pub fn pending_queries(&self) -> u64 {
        self.lock().pending_queries
    }

    /// Queries of the records set aside so far.
    pub fn quarantine_queries(&self) -> u64 {
        self.lock().quarantine_queries
    }

    /// How many times the pull marks were read.
    pub fn marks_reads(&self) -> u64 {
        self.lock().marks_reads
    }

    /// A job as last saved.
    pub fn job(&self, id: &str) -> Option<Job> {
        self.lock().jobs.get(id).cloned()
    }

    /// Every mapping of an entity.
    pub fn all_mappings(&self, iid: &str, e: Entity) -> Vec<Mapping> {
        page(&self.lock().mappings, iid, e, None, i32::MAX).0
    }

    /// Every pending-export marker of an entity, with the failure reason if any.
    pub fn all_pendings(&self, iid: &str, e: Entity) -> Vec<(Pending, Option<String>)> {
        page(&self.lock().pendings, iid, e, None, i32::MAX).0
    }

    /// Every feed entry of an entity, in order.
    pub fn all_feed(&self, iid: &str, e: Entity) -> Vec<FeedEntry> {
        self.lock()
            .feed
            .range((iid.to_string(), e, 0)..=(iid.to_string(), e, u64::MAX))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every logged conflict, oldest first.
    pub fn all_conflicts(&self, iid: &str) -> Vec<Conflict> {
        self.lock()
            .conflicts
            .iter()
            .filter(|(i, _)| i == iid)
            .map(|(_, c)| c.clone())
            .collect()
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn stage_locals(
        &self,
        iid: &str,
        e: Entity,
        records: Vec<LocalRecord>,
    ) -> Result<(), StoreError> {
        let mut s = self.call()?;
        for r in records {
            let p = Pending {
                our_id: r.our_id.clone(),
                hash: r.hash.clone(),
                failed_hash: None,
                failed_job: None,
            };
            s.pendings.insert(key(iid, e, &r.our_id), (p, None));
            s.locals.insert(key(iid, e, &r.our_id), r);
        }
        Ok(())
    }

    async fn local_records(
        &self,
        iid: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, LocalRecord>, StoreError> {
        let s = self.call()?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                s.locals
                    .get(&key(iid, e, id))
                    .map(|r| (id.clone(), r.clone()))
            })
            .collect())
    }

    async fn local_page(
        &self,
        iid: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<LocalRecord>, Option<String>), StoreError> {
        Ok(page(&self.call()?.locals, iid, e, after, limit))
    }

    async fn pendings(
        &self,
        iid: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Pending>, StoreError> {
        let s = self.call()?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                s.pendings
                    .get(&key(iid, e, id))
                    .map(|(p, _)| (id.clone(), p.clone()))
            })
            .collect())
    }

    async fn any_pending_export(&self, iid: &str) -> Result<bool, StoreError> {
        let mut s = self.call()?;
        s.pending_queries += 1;
        Ok(s.pendings.keys().any(|k| k.0 == iid))
    }

    async fn pending_exports(
        &self,
        iid: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Pending>, Option<String>), StoreError> {
        let mut s = self.call()?;
        s.pending_queries += 1;
        let (rows, next) = page(&s.pendings, iid, e, after, limit);
        Ok((rows.into_iter().map(|(p, _)| p).collect(), next))
    }

    async fn clear_pending(
        &self,
        iid: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.call()?;
        let k = key(iid, e, our_id);
        if s.pendings.get(&k).is_some_and(|(p, _)| p.hash == hash) {
            s.pendings.remove(&k);
        }
        Ok(())
    }

    async fn fail_pending(
        &self,
        iid: &str,
        e: Entity,
        our_id: &str,
        hash: &str,
        job_id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.call()?;
        if let Some((p, why)) = s.pendings.get_mut(&key(iid, e, our_id)) {
            if p.hash == hash {
                p.failed_hash = Some(hash.to_string());
                p.failed_job = Some(job_id.to_string());
                *why = Some(reason.to_string());
            }
        }
        Ok(())
    }

    async fn mappings(
        &self,
        iid: &str,
        e: Entity,
        ids: &[String],
    ) -> Result<HashMap<String, Mapping>, StoreError> {
        let s = self.call()?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                s.mappings
                    .get(&key(iid, e, id))
                    .map(|m| (id.clone(), m.clone()))
            })
            .collect())
    }

    async fn our_ids(
        &self,
        iid: &str,
        e: Entity,
        remote_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let s = self.call()?;
        Ok(remote_ids
            .iter()
            .filter_map(|r| {
                s.reverse
                    .get(&key(iid, e, r))
                    .map(|o| (r.clone(), o.clone()))
            })
            .collect())
    }

    async fn mapping_page(
        &self,
        iid: &str,
        e: Entity,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Mapping>, Option<String>), StoreError> {
        Ok(page(&self.call()?.mappings, iid, e, after, limit))
    }

    async fn put_mapping(
        &self,
        iid: &str,
        e: Entity,
        m: &Mapping,
        expect_remote: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut s = self.call()?;
        let k = key(iid, e, &m.our_id);
        let current = s.mappings.get(&k).and_then(|m| m.remote_id.as_deref());
        let holds = match expect_remote {
            None => current.is_none(),
            Some(r) => current == Some(r),
        };
        if !holds {
            return Err(StoreError::Conflict(format!(
                "mapping of {e} {} changed",
                m.our_id
            )));
        }
        s.mappings.insert(k, m.clone());
        if let Some(r) = &m.remote_id {
            s.reverse.insert(key(iid, e, r), m.our_id.clone());
        }
        Ok(())
    }

    async fn reserve_seq(&self, iid: &str, count: u64) -> Result<u64, StoreError> {
        let mut s = self.call()?;
        let next = s.seq.entry(iid.to_string()).or_insert(0);
        *next += count;
        Ok(*next - count + 1)
    }

    async fn write(&self, iid: &str, e: Entity, writes: Vec<SyncWrite>) -> Result<(), StoreError> {
        let mut s = self.call()?;
        for w in writes {
            match w {
                SyncWrite::Mapping(m) => {
                    if let Some(r) = &m.remote_id {
                        s.reverse.insert(key(iid, e, r), m.our_id.clone());
                    }
                    s.mappings.insert(key(iid, e, &m.our_id), m);
                }
                SyncWrite::MappingOnly(m) => {
                    s.mappings.insert(key(iid, e, &m.our_id), m);
                }
                SyncWrite::Local(l) => {
                    s.locals.insert(key(iid, e, &l.our_id), l);
                }
                SyncWrite::Feed(f) => {
                    s.feed.insert((iid.to_string(), f.entity, f.seq), f);
                }
            }
        }
        Ok(())
    }

    async fn feed(
        &self,
        iid: &str,
        entities: &[Entity],
        cursor: u64,
        limit: i32,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let s = self.call()?;
        let mut all: Vec<FeedEntry> = s
            .feed
            .range((iid.to_string(), Entity::Customers, 0)..)
            .take_while(|(k, _)| k.0 == iid)
            .filter(|(k, _)| entities.contains(&k.1) && k.2 > cursor)
            .map(|(_, v)| v.clone())
            .collect();
        all.sort_by_key(|f| f.seq);
        Ok(all.into_iter().take(limit.max(1) as usize).collect())
    }

    async fn log_conflict(&self, iid: &str, c: &Conflict) -> Result<(), StoreError> {
        self.call()?.conflicts.push((iid.to_string(), c.clone()));
        Ok(())
    }

    async fn conflicts(&self, iid: &str, limit: i32) -> Result<Vec<Conflict>, StoreError> {
        let s = self.call()?;
        let mut out: Vec<Conflict> = s
            .conflicts
            .iter()
            .filter(|(i, _)| i == iid)
            .map(|(_, c)| c.clone())
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.decided_at));
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }

    async fn put_quarantined(&self, iid: &str, q: &Quarantined) -> Result<(), StoreError> {
        let mut s = self.call()?;
        let k = (iid.to_string(), q.entity, q.side, q.id.clone());
        let since = s
            .quarantine
            .get(&k)
            .and_then(|old| old.since)
            .or(Some(q.at));
        s.quarantine.insert(k, Quarantined { since, ..q.clone() });
        Ok(())
    }

    async fn release_quarantined(
        &self,
        iid: &str,
        e: Entity,
        side: Side,
        id: &str,
    ) -> Result<(), StoreError> {
        self.call()?
            .quarantine
            .remove(&(iid.to_string(), e, side, id.to_string()));
        Ok(())
    }

    async fn quarantined(
        &self,
        iid: &str,
        e: Option<Entity>,
        limit: i32,
    ) -> Result<Vec<Quarantined>, StoreError> {
        let mut s = self.call()?;
        s.quarantine_queries += 1;
        // Ranges over the integration's own keys (Customers and Provider sort first), so a
        // store of 10,000 integrations (bench/scale) is not scanned whole.
        Ok(s.quarantine
            .range(
                (
                    iid.to_string(),
                    Entity::Customers,
                    Side::Provider,
                    String::new(),
                )..,
            )
            .take_while(|(k, _)| k.0 == iid)
            .filter(|(k, _)| e.is_none_or(|e| k.1 == e))
            .map(|(_, q)| q.clone())
            .take(limit.max(0) as usize)
            .collect())
    }

    async fn pull_checkpoints(
        &self,
        iid: &str,
    ) -> Result<HashMap<Entity, DateTime<Utc>>, StoreError> {
        let mut s = self.call()?;
        s.marks_reads += 1;
        Ok(s.pull_marks
            .range((iid.to_string(), Entity::Customers)..)
            .take_while(|((i, _), _)| i == iid)
            .map(|((_, e), hw)| (*e, *hw))
            .collect())
    }

    async fn record_marks(&self, iid: &str, marks: &Marks) -> Result<(), StoreError> {
        let mut s = self.call()?;
        s.marks_writes += 1;
        for (e, m) in &marks.0 {
            if let Some(hw) = m.high_water {
                let mark = s.pull_marks.entry((iid.to_string(), *e)).or_insert(hw);
                *mark = (*mark).max(hw);
            }
        }
        Ok(())
    }

    async fn article_vat(&self, iid: &str) -> Result<Option<ArticleVat>, StoreError> {
        Ok(self.call()?.articles.get(iid).cloned())
    }

    async fn put_article_vat(&self, iid: &str, copy: &ArticleVat) -> Result<(), StoreError> {
        self.call()?.articles.insert(iid.to_string(), copy.clone());
        Ok(())
    }

    async fn save_job(&self, job: &mut Job) -> Result<(), StoreError> {
        let mut s = self.call()?;
        s.job_saves += 1;
        let ok = s.jobs.get(&job.id).is_some_and(|stored| {
            stored.version == job.version
                && JobState::allowed_sources(job.state).contains(&stored.state)
        });
        if !ok {
            return Err(StoreError::Conflict(format!(
                "job {} changed underneath",
                job.id
            )));
        }
        job.version += 1;
        s.jobs.insert(job.id.clone(), job.clone());
        Ok(())
    }
}
