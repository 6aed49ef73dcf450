//! Webhook state in DynamoDB: replay records `pk = INTEGRATION#<id>, sk = WHEVT#<event id>`
//! (expiring through the table's `ttl`), and the signature scheme on the integration's owner
//! item (`sk = META`).

use super::dynamo::owner_item;
use super::item::{n, s, ts};
use super::jobs::integration_pk;
use super::{put_once, put_written, Db, StoreError};
use crate::domain::Integration;
use chrono::{DateTime, Utc};

fn event_sk(event_id: &str) -> String {
    format!("WHEVT#{event_id}")
}

impl Db {
    /// Records that the integration received `event_id`, unless it already had. `true` for
    /// the first delivery; `false` for a replay. The conditional write decides, so of two
    /// concurrent deliveries of one event exactly one gets `true`.
    pub async fn record_webhook_event(
        &self,
        integration_id: &str,
        event_id: &str,
        event_type: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (req, token) = put_once(
            self.client()
                .put_item()
                .table_name(self.table())
                .item("pk", s(integration_pk(integration_id)))
                .item("sk", s(event_sk(event_id)))
                .item("event_type", s(event_type))
                .item("received_at", ts(Utc::now()))
                .item("ttl", n(expires_at.timestamp()))
                // An expired record that DynamoDB has not deleted yet does not count.
                .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", n(Utc::now().timestamp())),
        );
        // The SDK retries a put whose answer was lost; its condition then fails on this very
        // record, which is not a replay (the delivery would be answered 200 and its job never
        // queued).
        put_written(req.send().await, &token)
    }

    /// Forgets a received event, so the sender's retry is processed (used when acting on the
    /// event failed after it was recorded).
    pub async fn forget_webhook_event(
        &self,
        integration_id: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(event_sk(event_id)))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Records on the owner item which key is the integration's newest (after a rotation), so
    /// that receivers with older keys cached read them again at once.
    pub async fn mark_webhook_keys(
        &self,
        integration_id: &str,
        newest_key_id: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(crate::store::dynamo::OWNER_SK))
            .update_expression("SET webhook_keys = :k")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":k", s(newest_key_id))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Writes the integration's owner item with its webhook scheme (`None`: the configured
    /// default). Also creates the item for an integration made before owner items existed.
    pub async fn put_integration_owner(
        &self,
        integration: &Integration,
        webhook_scheme: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(owner_item(integration, webhook_scheme)))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }
}
