//! The records API's use cases: the app upserts its records (they are exported by a job), and
//! reads the feed of records pulled from the provider. Depends on `jobs` (to queue the export)
//! and on `sync` (what a record is to the engine); neither depends on this module.

use crate::domain::{
    Article, ArticleVat, Customer, Direction, Entity, FieldError, Integration, Invoice, JobState,
    Mode, Project, ProviderKind, Trigger,
};
use crate::jobs::{self, JobRequest};
use crate::store::records::{FeedEntry, LocalRecord};
use crate::store::{StoreError, SyncStore};
use crate::AppContext;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

pub use crate::sync::SyncRecord;

pub mod house_work;
pub mod reverse_charge;

/// A record the app can upsert: synced by the engine, validated against the provider's limits
/// first.
pub trait Record: SyncRecord {
    /// Field problems for this provider; `articles` is the company's article VAT rates where
    /// the provider books VAT through the article and a copy is stored.
    fn problems(
        &self,
        provider: ProviderKind,
        articles: Option<&ArticleVat>,
    ) -> Result<(), Vec<FieldError>>;
}

impl Record for Customer {
    fn problems(
        &self,
        provider: ProviderKind,
        _articles: Option<&ArticleVat>,
    ) -> Result<(), Vec<FieldError>> {
        self.validate(&crate::providers::limits_for(provider).customer)
    }
}

impl Record for Invoice {
    fn problems(
        &self,
        provider: ProviderKind,
        articles: Option<&ArticleVat>,
    ) -> Result<(), Vec<FieldError>> {
        let limits = self.validate(&crate::providers::limits_for(provider).invoice);
        let vat = articles.map_or(Ok(()), |a| a.check(self));
        match (limits, vat) {
            (Ok(()), Ok(())) => Ok(()),
            (a, b) => Err(a.err().into_iter().chain(b.err()).flatten().collect()),
        }
    }
}

impl Record for Article {
    fn problems(
        &self,
        provider: ProviderKind,
        _articles: Option<&ArticleVat>,
    ) -> Result<(), Vec<FieldError>> {
        self.validate(&crate::providers::limits_for(provider).article)
    }
}

impl Record for Project {
    fn problems(
        &self,
        provider: ProviderKind,
        _articles: Option<&ArticleVat>,
    ) -> Result<(), Vec<FieldError>> {
        self.validate(&crate::providers::limits_for(provider).project)
    }
}

/// Most records one request may upsert.
pub const MAX_RECORDS: usize = 100;

/// A request that cannot be accepted, naming every field at fault.
#[derive(Debug)]
pub struct Rejected(pub Vec<FieldError>);

/// Parses and validates the `records` array of an upsert for `provider`.
pub fn parse_records<T: Record>(
    records: &Value,
    provider: ProviderKind,
    articles: Option<&ArticleVat>,
) -> Result<Vec<T>, Rejected> {
    let Value::Array(items) = records else {
        return Err(Rejected(vec![FieldError::new(
            "records",
            "`records` must be an array",
        )]));
    };
    if items.is_empty() || items.len() > MAX_RECORDS {
        return Err(Rejected(vec![FieldError::new(
            "records",
            format!(
                "`records` must hold 1 to {MAX_RECORDS} records, not {}",
                items.len()
            ),
        )]));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let rec: T = match serde_path_to_error::deserialize(item) {
            Ok(r) => r,
            Err(e) => {
                let path = e.path().to_string();
                let mut field = if path == "." {
                    format!("records[{i}]")
                } else {
                    format!("records[{i}].{path}")
                };
                // serde reports a missing field at its parent: name the field itself.
                if let Some(name) = e
                    .inner()
                    .to_string()
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split('`').next())
                {
                    field = format!("{field}.{name}");
                }
                problems.push(FieldError::new(field, e.inner().to_string()));
                continue;
            }
        };
        if let Err(errs) = rec.problems(provider, articles) {
            problems.extend(
                errs.into_iter()
                    .map(|e| FieldError::new(format!("records[{i}].{}", e.field), e.message)),
            );
        }
        if !seen.insert(rec.our_id().to_string()) {
            problems.push(FieldError::new(
                format!("records[{i}].id"),
                "the same id appears twice in this request",
            ));
        }
        out.push(rec);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Rejected(problems))
    }
}

/// What an upsert did.
#[derive(Debug, Clone, Serialize)]
pub struct UpsertOutcome {
    /// Records stored and queued for export.
    pub accepted: usize,
    /// Records identical to what is stored already.
    pub unchanged: usize,
    /// The export job, when anything changed.
    pub job_id: Option<String>,
}

/// Stores the app's records and makes sure an export job is queued for them.
pub async fn upsert<T: SyncRecord>(
    ctx: &AppContext,
    integration: &Integration,
    records: Vec<T>,
) -> Result<UpsertOutcome, StoreError> {
    let (accepted, unchanged) = store(ctx, integration, records).await?;
    if accepted == 0 {
        return Ok(UpsertOutcome {
            accepted,
            unchanged,
            job_id: None,
        });
    }
    let job_id = ensure_export_job(ctx, integration, T::ENTITY).await?;
    Ok(UpsertOutcome {
        accepted,
        unchanged,
        job_id: Some(job_id),
    })
}

/// Stores the app's records and marks the changed ones for export. Gives (changed, unchanged).
pub async fn store<T: SyncRecord>(
    ctx: &AppContext,
    integration: &Integration,
    records: Vec<T>,
) -> Result<(usize, usize), StoreError> {
    stage(&ctx.db, &integration.id, records).await
}

/// Stores records in `store` and marks the changed ones for export (a record whose content
/// hash is unchanged is left alone). Read-only fields the app sent (an invoice's `payment`)
/// are dropped first ([`SyncRecord::without_read_only`]). Gives (changed, unchanged).
pub async fn stage<T: SyncRecord>(
    store: &dyn SyncStore,
    integration_id: &str,
    records: Vec<T>,
) -> Result<(usize, usize), StoreError> {
    let entity = T::ENTITY;
    let ids: Vec<String> = records.iter().map(|r| r.our_id().to_string()).collect();
    let existing = store.local_records(integration_id, entity, &ids).await?;
    let now = Utc::now();
    let mut staged = Vec::new();
    let mut unchanged = 0;
    for rec in records {
        let mut rec = rec.without_read_only();
        let hash = rec.hash();
        if existing.get(rec.our_id()).is_some_and(|e| e.hash == hash) {
            unchanged += 1;
            continue;
        }
        if rec.changed_at().is_none() {
            rec.set_changed_at(now);
        }
        let local = LocalRecord {
            our_id: rec.our_id().to_string(),
            doc: serde_json::to_value(&rec).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            hash,
            updated_at: rec.changed_at().unwrap_or(now),
        };
        staged.push(local);
    }
    let accepted = staged.len();
    if accepted > 0 {
        store.stage_locals(integration_id, entity, staged).await?;
    }
    Ok((accepted, unchanged))
}

/// A queued export job picks up every pending record when it runs, so a new upsert reuses a
/// job that has not started yet instead of piling up jobs.
async fn ensure_export_job(
    ctx: &AppContext,
    integration: &Integration,
    entity: Entity,
) -> Result<String, StoreError> {
    let recent = ctx.db.list_jobs(&integration.id, 10).await?;
    if let Some(j) = recent.iter().find(|j| {
        j.state == JobState::Queued
            && j.trigger == Trigger::RecordUpsert
            && j.slices == 0
            && j.attempts == 0
            && j.entities.contains(&entity)
    }) {
        return Ok(j.id.clone());
    }
    let job = jobs::enqueue(
        ctx,
        integration,
        &JobRequest {
            direction: Direction::Push,
            // Every entity: an invoice may name a project or an article upserted with it.
            entities: Entity::ALL.to_vec(),
            mode: Mode::Incremental,
            trigger: Trigger::RecordUpsert,
            target: None,
            not_before: None,
        },
    )
    .await?;
    Ok(job.id)
}

/// A page of the change feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedPage {
    /// Entries after the cursor, in order.
    pub records: Vec<FeedEntry>,
    /// Pass as `after` to continue; the same cursor when there is nothing new.
    pub next_cursor: u64,
}

/// Reads the feed of pulled records of these entities after `cursor`.
pub async fn feed(
    ctx: &AppContext,
    integration: &Integration,
    entities: &[Entity],
    cursor: u64,
    limit: i32,
) -> Result<FeedPage, StoreError> {
    feed_page(&ctx.db, &integration.id, entities, cursor, limit).await
}

/// A page of `store`'s feed of these entities after `cursor`.
pub async fn feed_page(
    store: &dyn SyncStore,
    integration_id: &str,
    entities: &[Entity],
    cursor: u64,
    limit: i32,
) -> Result<FeedPage, StoreError> {
    let records = store.feed(integration_id, entities, cursor, limit).await?;
    let next_cursor = records.last().map(|r| r.seq).unwrap_or(cursor);
    Ok(FeedPage {
        records,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invoice_rows_are_checked_against_the_article_copy_beside_the_limits() {
        let copy = ArticleVat {
            fetched_at: Utc::now(),
            rates: [("1".to_string(), Some(crate::domain::Decimal::from(25)))].into(),
        };
        let invoice = json!({
            "id": "inv-1", "customer_id": "c-1", "invoice_date": "2026-11-30",
            "our_reference": "x".repeat(300),
            "rows": [{"description": "Arbete", "article_number": "1", "quantity": "1",
                      "unit_price": "100", "vat_rate": "12"}]
        });
        let records = json!([invoice]);
        let Rejected(errs) =
            parse_records::<Invoice>(&records, ProviderKind::Visma, Some(&copy)).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["records[0].our_reference", "records[0].rows[0].vat_rate"]
        );
        // Without a copy only the limits apply.
        let Rejected(errs) =
            parse_records::<Invoice>(&records, ProviderKind::Visma, None).unwrap_err();
        assert_eq!(errs.len(), 1);
    }
}

#[cfg(test)]
mod read_only_tests {
    use super::*;
    use crate::domain::PaymentState;
    use crate::mocks::MemoryStore;
    use serde_json::json;

    #[tokio::test]
    async fn a_payment_state_sent_by_the_app_is_ignored() {
        let store = MemoryStore::new();
        let invoice = json!({
            "id": "inv-1", "customer_id": "c-1", "invoice_date": "2026-11-30",
            "rows": [{"description": "Arbete", "account_number": 3001, "quantity": "1",
                      "unit_price": "100", "vat_rate": "25"}],
            "payment": {"balance": "0", "paid": true, "paid_date": "2026-12-01", "payments": []}
        });
        let mut records =
            parse_records::<Invoice>(&json!([invoice]), ProviderKind::Fortnox, None).unwrap();
        assert!(
            records[0].payment.is_some(),
            "read, so a feed record can be sent back"
        );
        let plain = records[0].clone().without_read_only();
        stage(&store, "i-1", records.clone()).await.unwrap();
        let stored = store
            .local_records("i-1", Entity::Invoices, &["inv-1".to_string()])
            .await
            .unwrap();
        let doc: Invoice = serde_json::from_value(stored["inv-1"].doc.clone()).unwrap();
        assert_eq!(doc.payment, None, "never stored as the app's");
        assert_eq!(doc.rows, plain.rows);
        // The same record with another payment state is unchanged: nothing to export.
        records[0].payment = Some(PaymentState {
            balance: 125.into(),
            paid: false,
            paid_date: None,
            payments: None,
        });
        assert_eq!(stage(&store, "i-1", records).await.unwrap(), (0, 1));
    }
}
