//! Jobs in DynamoDB: `pk = INTEGRATION#<id>`, `sk = JOB#<job id>`, the whole job as JSON in
//! `doc`, plus `state` and a `gsi1` entry by state and last update for the watchdog.
//! Every change is a conditional write on the version and on the allowed source states.

use super::item::{get_s, n, s, ts};
use super::{put_once, put_written, Db, StoreError};
use crate::domain::{Job, JobState};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Partition of everything an integration's sync owns.
pub fn integration_pk(integration_id: &str) -> String {
    format!("INTEGRATION#{integration_id}")
}

fn job_sk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}

fn job_gsi_pk(state: JobState) -> String {
    format!("JOBS#{}", state.as_str())
}

fn job_item(job: &Job) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let doc = serde_json::to_string(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut it = HashMap::new();
    it.insert("pk".into(), s(integration_pk(&job.integration_id)));
    it.insert("sk".into(), s(job_sk(&job.id)));
    it.insert("state".into(), s(job.state.as_str()));
    it.insert("version".into(), n(job.version as i64));
    it.insert("updated_at".into(), ts(job.updated_at));
    // Only a running job is in the index: the watchdog's query of `JOBS#running` is its one
    // reader. A queued or finished job without the entry saves the index write of its
    // creation and those of every state change but the two that enter and leave `running`
    // (an index entry is billed like a write of the whole job, projection ALL; bench/cost).
    if job.state == JobState::Running {
        it.insert("gsi1pk".into(), s(job_gsi_pk(job.state)));
        it.insert(
            "gsi1sk".into(),
            s(format!(
                "{}#{}#{}",
                job.updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                job.integration_id,
                job.id
            )),
        );
    }
    it.insert("doc".into(), s(doc));
    // Finished jobs expire after 90 days; active ones never do.
    if job.state.is_terminal() {
        it.insert(
            "ttl".into(),
            n((job.updated_at + chrono::Duration::days(90)).timestamp()),
        );
    }
    Ok(it)
}

fn job_from_item(it: &HashMap<String, AttributeValue>) -> Result<Job, StoreError> {
    let doc = get_s(it, "doc").ok_or_else(|| StoreError::Corrupt("job without doc".into()))?;
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("job doc: {e}")))
}

impl Db {
    /// Stores a new job.
    pub async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        let (req, token) = put_once(
            self.client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(job_item(job)?))
                .condition_expression("attribute_not_exists(pk)"),
        );
        if put_written(req.send().await, &token)? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("job {} exists", job.id)))
        }
    }

    /// Stores many new jobs with BatchWriteItem, 25 at a time, retrying unprocessed items.
    pub async fn create_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        let requests = jobs
            .iter()
            .map(|j| {
                Ok(WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(job_item(j)?))
                            .build()
                            .map_err(StoreError::dynamo)?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.send_batches(requests).await.map(|_| ())
    }

    /// One job of an integration.
    pub async fn get_job(
        &self,
        integration_id: &str,
        job_id: &str,
    ) -> Result<Option<Job>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(job_sk(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.item().map(job_from_item).transpose()
    }

    /// Many jobs by (integration, job) in one BatchGetItem per 100.
    pub async fn get_jobs(&self, keys: &[(String, String)]) -> Result<Vec<Job>, StoreError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(100) {
            let mut ks = KeysAndAttributes::builder().consistent_read(true);
            for (integration, job) in chunk {
                ks = ks.keys(HashMap::from([
                    ("pk".to_string(), s(integration_pk(integration))),
                    ("sk".to_string(), s(job_sk(job))),
                ]));
            }
            let mut pending = Some(ks.build().map_err(StoreError::dynamo)?);
            while let Some(req) = pending.take() {
                let res = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), req)
                    .send()
                    .await
                    .map_err(StoreError::dynamo)?;
                if let Some(items) = res.responses().and_then(|r| r.get(self.table())) {
                    for it in items {
                        out.push(job_from_item(it)?);
                    }
                }
                pending = res
                    .unprocessed_keys()
                    .and_then(|u| u.get(self.table()))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
        }
        Ok(out)
    }

    /// Writes `job` (whose `state` is the new state) if the stored one still has
    /// `expected_version` and a state from which the new state may be reached. Bumps the
    /// version in `job`. `Conflict` when someone else moved it first.
    pub async fn save_job(&self, job: &mut Job) -> Result<(), StoreError> {
        let expected = job.version;
        job.version += 1;
        let sources = JobState::allowed_sources(job.state);
        let mut req = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(job_item(job)?))
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":v", n(expected as i64));
        let mut names = Vec::new();
        for (i, st) in sources.iter().enumerate() {
            let k = format!(":s{i}");
            req = req.expression_attribute_values(&k, s(st.as_str()));
            names.push(k);
        }
        let (req, token) = put_once(
            req.condition_expression(format!("version = :v AND #st IN ({})", names.join(", "))),
        );
        // A save whose answer was lost is retried by the SDK and fails its own condition:
        // the version moved on, by this very save.
        match put_written(req.send().await, &token) {
            Ok(true) => Ok(()),
            outcome => {
                job.version = expected;
                outcome.and(Err(StoreError::Conflict(format!(
                    "job {} changed underneath",
                    job.id
                ))))
            }
        }
    }

    /// The integration's jobs, newest first.
    pub async fn list_jobs(
        &self,
        integration_id: &str,
        limit: i32,
    ) -> Result<Vec<Job>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .expression_attribute_values(":pk", s(integration_pk(integration_id)))
            .expression_attribute_values(":sk", s("JOB#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.items().iter().map(job_from_item).collect()
    }

    /// Running jobs not updated since `before`, oldest first (for the watchdog; only running
    /// jobs are in the index).
    pub async fn running_jobs_since(&self, before: DateTime<Utc>) -> Result<Vec<Job>, StoreError> {
        let state = JobState::Running;
        let mut jobs = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
                .expression_attribute_values(":pk", s(job_gsi_pk(state)))
                .expression_attribute_values(
                    ":before",
                    s(before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            for it in page.items() {
                jobs.push(job_from_item(it)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(jobs)
    }
}
