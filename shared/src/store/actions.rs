//! Actions on an invoice at the provider that the provider does not make idempotent (send,
//! credit): `ACTION#<kind>#<invoice>#<key>` under the integration, taken before the provider is
//! asked and finished with the answer, so a retried request answers what was done instead of
//! doing it again (TTL 30 days).

use super::item::{get_n, get_s, n, s};
use super::jobs::integration_pk;
use super::{written, Db, StoreError};
use chrono::{DateTime, Utc};

/// Where an action stands when a request for it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionStart {
    /// Nobody asked before: this request now holds it.
    Fresh,
    /// Done before: the stored answer (status, JSON body).
    Done(u16, String),
    /// Another request started it within the lease: its outcome is not known yet.
    InProgress,
    /// An earlier request started it and vanished (or its outcome stayed unknown): this
    /// request now holds it, and must find out at the provider what happened first.
    Resume,
}

/// How long a started action is another request's before it counts as abandoned.
pub const ACTION_LEASE_SECONDS: i64 = 60;
const ACTION_TTL_DAYS: i64 = 30;

fn action_sk(kind: &str, invoice_id: &str, key: &str) -> String {
    format!("ACTION#{kind}#{invoice_id}#{key}")
}

impl Db {
    /// Takes the action `kind` on `invoice_id` under `key`, or says where it stands.
    pub async fn begin_action(
        &self,
        integration_id: &str,
        kind: &str,
        invoice_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<ActionStart, StoreError> {
        let sk = action_sk(kind, invoice_id, key);
        for _ in 0..3 {
            let out = self
                .client()
                .get_item()
                .table_name(self.table())
                .key("pk", s(integration_pk(integration_id)))
                .key("sk", s(&sk))
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            let base = self
                .client()
                .put_item()
                .table_name(self.table())
                .item("pk", s(integration_pk(integration_id)))
                .item("sk", s(&sk))
                .item("state", s("started"))
                .item("started_at", n(now.timestamp()))
                .item(
                    "ttl",
                    n((now + chrono::Duration::days(ACTION_TTL_DAYS)).timestamp()),
                );
            let Some(item) = out.item() else {
                let put = base.condition_expression("attribute_not_exists(pk)");
                if written(put.send().await)? {
                    return Ok(ActionStart::Fresh);
                }
                continue;
            };
            if get_s(item, "state") == Some("done") {
                return Ok(ActionStart::Done(
                    get_n(item, "status").unwrap_or(200) as u16,
                    get_s(item, "body").unwrap_or("{}").to_string(),
                ));
            }
            let started = get_n(item, "started_at").unwrap_or(0);
            if now.timestamp() - started < ACTION_LEASE_SECONDS {
                return Ok(ActionStart::InProgress);
            }
            let put = base
                .condition_expression("#s = :s AND started_at = :t")
                .expression_attribute_names("#s", "state")
                .expression_attribute_values(":s", s("started"))
                .expression_attribute_values(":t", n(started));
            if written(put.send().await)? {
                return Ok(ActionStart::Resume);
            }
        }
        Ok(ActionStart::InProgress)
    }

    /// Records the answer of a finished action.
    pub async fn finish_action(
        &self,
        integration_id: &str,
        kind: &str,
        invoice_id: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(integration_pk(integration_id)))
            .item("sk", s(action_sk(kind, invoice_id, key)))
            .item("state", s("done"))
            .item("status", n(status as i64))
            .item("body", s(body))
            .item(
                "ttl",
                n((Utc::now() + chrono::Duration::days(ACTION_TTL_DAYS)).timestamp()),
            )
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Lets go of an action whose outcome stayed unknown: the next request for it resumes at
    /// once ([`ActionStart::Resume`]) instead of waiting out the lease.
    pub async fn release_action(
        &self,
        integration_id: &str,
        kind: &str,
        invoice_id: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(action_sk(kind, invoice_id, key)))
            .update_expression("SET started_at = :zero")
            .condition_expression("#s = :s")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":s", s("started"))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        written(res).map(|_| ())
    }

    /// Lets go of an action the provider refused outright (nothing happened): a later request
    /// may try again.
    pub async fn drop_action(
        &self,
        integration_id: &str,
        kind: &str,
        invoice_id: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(action_sk(kind, invoice_id, key)))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }
}
