//! Stored answers to `Idempotency-Key` requests: `IDEMP#<key>` under the integration (TTL 24 h).

use super::item::{get_n, get_s, n, s};
use super::jobs::integration_pk;
use super::{written, Db, StoreError};
use chrono::Utc;

impl Db {
    /// A stored idempotent answer: (request fingerprint, status, body).
    pub async fn idempotent_answer(
        &self,
        integration_id: &str,
        key: &str,
    ) -> Result<Option<(String, u16, String)>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(format!("IDEMP#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out.item().and_then(|it| {
            Some((
                get_s(it, "fingerprint")?.to_string(),
                get_n(it, "status")? as u16,
                get_s(it, "body")?.to_string(),
            ))
        }))
    }

    /// Stores an idempotent answer for 24 hours; `false` when the key was taken meanwhile.
    pub async fn store_idempotent_answer(
        &self,
        integration_id: &str,
        key: &str,
        fingerprint: &str,
        status: u16,
        body: &str,
    ) -> Result<bool, StoreError> {
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(integration_pk(integration_id)))
            .item("sk", s(format!("IDEMP#{key}")))
            .item("fingerprint", s(fingerprint))
            .item("status", n(status as i64))
            .item("body", s(body))
            .item(
                "ttl",
                n((Utc::now() + chrono::Duration::hours(24)).timestamp()),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(res)
    }
}
