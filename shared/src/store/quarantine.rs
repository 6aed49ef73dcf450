//! Records set aside: a provider record the client could not read or map, or an app record the
//! provider refused. One item each under `pk = INTEGRATION#<id>`, `sk =
//! QUARANTINE#<entity>#<side>#<id>`, with the field and the message; the next sync tries each
//! again and removes it once the record goes through.

use super::item::{get_s, s, ts};
use super::jobs::integration_pk;
use super::records::parse_ts;
use super::{Db, StoreError};
use crate::domain::Entity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which side's record was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// A provider record that could not be read or mapped (`id` is the provider's id).
    Provider,
    /// An app record the provider refused (`id` is our id).
    App,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Provider => "provider",
            Side::App => "app",
        }
    }
}

/// One record set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Entity.
    pub entity: Entity,
    /// Whose record.
    pub side: Side,
    /// The provider's id (provider side) or ours (app side).
    pub id: String,
    /// The field at fault, when known (`InvoiceDate`, `rows[2].vat_rate`).
    pub field: Option<String>,
    /// What the client or the provider said.
    pub message: String,
    /// The job that set it aside last.
    pub job_id: String,
    /// When it was last tried.
    pub at: DateTime<Utc>,
    /// Since when it has been set aside (kept over later tries).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
}

/// The sort key of a quarantined record.
pub fn quarantine_sk(e: Entity, side: Side, id: &str) -> String {
    format!("QUARANTINE#{e}#{}#{id}", side.as_str())
}

/// Longest message kept (a provider's error text can be long).
const MESSAGE_MAX: usize = 500;

impl Db {
    /// Sets a record aside, or updates the entry of one set aside before (its `since` kept).
    pub async fn put_quarantined(
        &self,
        integration_id: &str,
        q: &Quarantined,
    ) -> Result<(), StoreError> {
        let mut q = q.clone();
        q.message = q.message.chars().take(MESSAGE_MAX).collect();
        q.since = None;
        let doc = serde_json::to_string(&q).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(quarantine_sk(q.entity, q.side, &q.id)))
            .update_expression("SET doc = :d, since = if_not_exists(since, :now)")
            .expression_attribute_values(":d", s(doc))
            .expression_attribute_values(":now", ts(q.at))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Removes a record from quarantine (nothing when it is not there).
    pub async fn release_quarantined(
        &self,
        integration_id: &str,
        e: Entity,
        side: Side,
        id: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(quarantine_sk(e, side, id)))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// The records set aside, of one entity or all, up to `limit`.
    pub async fn quarantined(
        &self,
        integration_id: &str,
        e: Option<Entity>,
        limit: i32,
    ) -> Result<Vec<Quarantined>, StoreError> {
        let prefix = match e {
            Some(e) => format!("QUARANTINE#{e}#"),
            None => "QUARANTINE#".to_string(),
        };
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(integration_pk(integration_id)))
            .expression_attribute_values(":p", s(prefix))
            // Eventually consistent, at half the price: a record set aside a moment ago and not
            // listed yet is tried again by the next job (and shown by the next look).
            .consistent_read(false)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.items()
            .iter()
            .map(|it| {
                let mut q: Quarantined = serde_json::from_str(get_s(it, "doc").unwrap_or("null"))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                q.since = parse_ts(get_s(it, "since"));
                Ok(q)
            })
            .collect()
    }
}
