//! The DynamoDB adapter: one table, access patterns in `docs/data-model.md`.

use super::item::{get_s, get_ts, n, req_s, req_ts, s, ts, Item};
use super::{written, StoreError};
use crate::domain::{
    ConnectionMode, Integration, IntegrationStatus, LastError, ProviderKind, TenantId,
};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

/// Partition key of everything a tenant owns.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn integration_sk(id: &str) -> String {
    format!("INTEGRATION#{id}")
}

/// One active integration per tenant and provider: this item claims the slot.
fn provider_claim_sk(provider: ProviderKind) -> String {
    format!("PROVIDER#{provider}")
}

fn lease_sk(integration_id: &str, purpose: &str) -> String {
    format!("LEASE#{integration_id}#{purpose}")
}

/// Sort key of an integration's owner item, under `pk = INTEGRATION#<id>`.
pub(crate) const OWNER_SK: &str = "META";

/// Who owns an integration, found by its id alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationOwner {
    /// Owner.
    pub tenant_id: TenantId,
    /// Which accounting system.
    pub provider: ProviderKind,
    /// The integration's token secret (its webhook key secret's name is derived, not stored).
    pub secret_name: String,
    /// The webhook signature scheme chosen for the integration; `None` means the default.
    pub webhook_scheme: Option<String>,
    /// The id of the newest webhook key, written by each rotation: a receiver whose cached
    /// keys are older reads the secret again at once.
    pub webhook_keys: Option<String>,
}

/// The owner item of `i`: `pk = INTEGRATION#<id>, sk = META`.
pub(crate) fn owner_item(i: &Integration, webhook_scheme: Option<&str>) -> Item {
    let mut it = Item::new();
    it.insert("pk".into(), s(super::jobs::integration_pk(&i.id)));
    it.insert("sk".into(), s(OWNER_SK));
    it.insert("tenant_id".into(), s(i.tenant_id.as_str()));
    it.insert("integration_id".into(), s(&i.id));
    it.insert("provider".into(), s(i.provider.as_str()));
    it.insert("secret_name".into(), s(&i.secret_name));
    it.insert("created_at".into(), ts(i.created_at));
    if let Some(scheme) = webhook_scheme {
        it.insert("webhook_scheme".into(), s(scheme));
    }
    it
}

/// The table.
#[derive(Clone)]
pub struct Db {
    client: Client,
    table: String,
}

impl Db {
    /// The adapter over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Db {
            client,
            table: table.into(),
        }
    }

    /// The SDK client (for adapters that extend this one).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the integration and claims its provider slot for the tenant, atomically.
    /// `Conflict` carries the id of the integration that already holds the slot.
    pub async fn insert_integration(&self, i: &Integration) -> Result<(), StoreError> {
        let pk = tenant_pk(&i.tenant_id);
        let claim = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(provider_claim_sk(i.provider)))
            .item("integration_id", s(&i.id))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::dynamo)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(integration_to_item(i)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::dynamo)?;
        // The owner item lets a webhook URL, which carries only the integration id, find the
        // tenant. Written in the same transaction so an integration never lacks one.
        let owner = Put::builder()
            .table_name(&self.table)
            .set_item(Some(owner_item(i, None)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::dynamo)?;
        let res = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().put(owner).build())
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                let existing = self.active_integration_id(&i.tenant_id, i.provider).await?;
                Err(StoreError::Conflict(existing.unwrap_or_default()))
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Who owns the integration `id`: the lookup behind a webhook URL, which names only the
    /// integration. `None` for an unknown id, and for integrations created before owner items
    /// existed (rotating their webhook key writes one).
    pub async fn integration_owner(
        &self,
        id: &str,
    ) -> Result<Option<IntegrationOwner>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(super::jobs::integration_pk(id)))
            .key("sk", s(OWNER_SK))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        let Some(it) = out.item() else {
            return Ok(None);
        };
        Ok(Some(IntegrationOwner {
            tenant_id: TenantId::parse(req_s(it, "tenant_id")?)
                .ok_or_else(|| StoreError::Corrupt("tenant_id".into()))?,
            provider: req_s(it, "provider")?
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
            secret_name: req_s(it, "secret_name")?.to_string(),
            webhook_scheme: get_s(it, "webhook_scheme").map(str::to_string),
            webhook_keys: get_s(it, "webhook_keys").map(str::to_string),
        }))
    }

    /// The id of the tenant's active (not disconnected) integration with `provider`.
    pub async fn active_integration_id(
        &self,
        tenant: &TenantId,
        provider: ProviderKind,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(provider_claim_sk(provider)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out
            .item()
            .and_then(|it| get_s(it, "integration_id"))
            .map(str::to_string))
    }

    /// One integration of the tenant; another tenant's integration is simply not found.
    pub async fn get_integration(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<Integration>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(integration_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.item().map(integration_from_item).transpose()
    }

    /// Every integration of the tenant, oldest first.
    pub async fn list_integrations(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<Integration>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":sk", s("INTEGRATION#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            for it in page.items() {
                out.push(integration_from_item(it)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.sort_by_key(|i| i.created_at);
        Ok(out)
    }

    /// Integrations in `status` across all tenants (gsi1), a page at a time. Gives the page
    /// and the cursor of the next one.
    pub async fn integrations_in_status(
        &self,
        status: IntegrationStatus,
        cursor: Option<String>,
        limit: i32,
    ) -> Result<(Vec<Integration>, Option<String>), StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :g")
            .expression_attribute_values(":g", s(status_gsi(status)))
            .limit(limit);
        if let Some(c) = cursor {
            let (tenant, id) = c.split_once('#').unwrap_or_default();
            let tenant =
                TenantId::parse(tenant).ok_or_else(|| StoreError::Corrupt("cursor".into()))?;
            q = q
                .exclusive_start_key("gsi1pk", s(status_gsi(status)))
                .exclusive_start_key("gsi1sk", s(&c))
                .exclusive_start_key("pk", s(tenant_pk(&tenant)))
                .exclusive_start_key("sk", s(integration_sk(id)));
        }
        let out = q.send().await.map_err(StoreError::dynamo)?;
        let items = out
            .items()
            .iter()
            .map(integration_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key()
            .and_then(|k| get_s(k, "gsi1sk"))
            .map(str::to_string);
        Ok((items, next))
    }

    /// Records a completed consent: its mode, and for a service account the provider's tenant
    /// id tokens are fetched for. Fails with `Conflict` when the integration was disconnected.
    pub async fn mark_connected(
        &self,
        i: &Integration,
        company: Option<(&str, Option<&str>)>,
        token_expires_at: DateTime<Utc>,
        refresh_expires_at: Option<DateTime<Utc>>,
        mode: ConnectionMode,
        service_tenant_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut set = String::from(
            "SET #st = :st, gsi1pk = :g, token_expires_at = :te, connected_at = :now, updated_at = :now, connection_mode = :cm",
        );
        let mut remove = String::from("last_error_code, last_error_message, last_error_at");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(&i.tenant_id)))
            .key("sk", s(integration_sk(&i.id)))
            .condition_expression("attribute_exists(pk) AND #st <> :disc")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", s(IntegrationStatus::Connected.as_str()))
            .expression_attribute_values(":g", s(status_gsi(IntegrationStatus::Connected)))
            .expression_attribute_values(":disc", s(IntegrationStatus::Disconnected.as_str()))
            .expression_attribute_values(":te", ts(token_expires_at))
            .expression_attribute_values(":cm", s(mode.as_str()))
            .expression_attribute_values(":now", ts(Utc::now()));
        match service_tenant_id {
            Some(t) => {
                set.push_str(", service_tenant_id = :stid");
                req = req.expression_attribute_values(":stid", s(t));
            }
            None => remove.push_str(", service_tenant_id"),
        }
        match company {
            Some((name, company_id)) => {
                set.push_str(", company_name = :cn");
                req = req.expression_attribute_values(":cn", s(name));
                match company_id {
                    Some(pc) => {
                        set.push_str(", provider_company_id = :pc");
                        req = req.expression_attribute_values(":pc", s(pc));
                    }
                    None => remove.push_str(", provider_company_id"),
                }
            }
            // Not known yet (the lookup was slow or failed): a company of an earlier consent
            // must not stay; the next sync fills it in.
            None => remove.push_str(", company_name, provider_company_id"),
        }
        match refresh_expires_at {
            Some(re) => {
                set.push_str(", refresh_expires_at = :re");
                req = req.expression_attribute_values(":re", ts(re));
            }
            // No refresh token (a service account): an earlier consent's expiry must not
            // keep the scheduler refreshing a grant that has none.
            None => remove.push_str(", refresh_expires_at"),
        }
        let req = req.update_expression(format!("{set} REMOVE {remove}"));
        conditional(req.send().await, "integration is disconnected")
    }

    /// Fills in the connected company (name, provider's id) when the consent could not read it.
    pub async fn set_company(
        &self,
        tenant: &TenantId,
        id: &str,
        name: &str,
        company_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut set = String::from("SET company_name = :cn, updated_at = :now");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(integration_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":cn", s(name))
            .expression_attribute_values(":now", ts(Utc::now()));
        if let Some(pc) = company_id {
            set.push_str(", provider_company_id = :pc");
            req = req.expression_attribute_values(":pc", s(pc));
        }
        conditional(
            req.update_expression(set).send().await,
            "integration is gone",
        )
    }

    /// Records new token expiry times after a refresh.
    pub async fn record_refresh(
        &self,
        tenant: &TenantId,
        id: &str,
        token_expires_at: DateTime<Utc>,
        refresh_expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(integration_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":te", ts(token_expires_at))
            .expression_attribute_values(":now", ts(Utc::now()));
        req = match refresh_expires_at {
            Some(re) => req
                .update_expression(
                    "SET token_expires_at = :te, refresh_expires_at = :re, updated_at = :now",
                )
                .expression_attribute_values(":re", ts(re)),
            None => req.update_expression("SET token_expires_at = :te, updated_at = :now"),
        };
        conditional(req.send().await, "integration is gone")
    }

    /// Moves the integration to `status` with a reason a person can read.
    /// Never moves a disconnected integration.
    pub async fn set_status(
        &self,
        tenant: &TenantId,
        id: &str,
        status: IntegrationStatus,
        error: Option<&LastError>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(integration_sk(id)))
            .condition_expression("attribute_exists(pk) AND #st <> :disc")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":g", s(status_gsi(status)))
            .expression_attribute_values(":disc", s(IntegrationStatus::Disconnected.as_str()))
            .expression_attribute_values(":now", ts(Utc::now()));
        req = match error {
            Some(e) => req
                .update_expression(
                    "SET #st = :st, gsi1pk = :g, updated_at = :now, last_error_code = :ec, last_error_message = :em, last_error_at = :ea",
                )
                .expression_attribute_values(":ec", s(&e.code))
                .expression_attribute_values(":em", s(&e.message))
                .expression_attribute_values(":ea", ts(e.at)),
            None => req.update_expression("SET #st = :st, gsi1pk = :g, updated_at = :now"),
        };
        conditional(req.send().await, "integration is disconnected")
    }

    /// Marks the integration disconnected and frees its provider slot, atomically.
    pub async fn mark_disconnected(&self, i: &Integration) -> Result<(), StoreError> {
        let pk = tenant_pk(&i.tenant_id);
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(integration_sk(&i.id)))
            .update_expression(
                "SET #st = :st, gsi1pk = :g, updated_at = :now, disconnected_at = :now REMOVE token_expires_at, refresh_expires_at",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", s(IntegrationStatus::Disconnected.as_str()))
            .expression_attribute_values(":g", s(status_gsi(IntegrationStatus::Disconnected)))
            .expression_attribute_values(":now", ts(Utc::now()))
            .build()
            .map_err(StoreError::dynamo)?;
        // Free the slot only if it is still ours.
        let release = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(provider_claim_sk(i.provider)))
            .condition_expression("attribute_not_exists(pk) OR integration_id = :id")
            .expression_attribute_values(":id", s(&i.id))
            .build()
            .map_err(StoreError::dynamo)?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().delete(release).build())
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Tries to take the lease `purpose` on an integration for `ttl`. `false` when someone
    /// else holds an unexpired lease.
    pub async fn try_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        purpose: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(30));
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s(lease_sk(integration_id, purpose)))
            .item("owner", s(owner))
            .item("lease_until_ms", n(until.timestamp_millis()))
            .item("ttl", n(until.timestamp() + 3600))
            .condition_expression("attribute_not_exists(pk) OR lease_until_ms < :now OR #o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        written(res)
    }

    /// Takes a lease, waiting up to `wait` for its holder to finish. `false` when it stayed
    /// taken.
    pub async fn acquire_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        purpose: &str,
        owner: &str,
        ttl: std::time::Duration,
        wait: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self
                .try_lease(tenant, integration_id, purpose, owner, ttl)
                .await?
            {
                return Ok(true);
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Releases a lease if `owner` still holds it.
    pub async fn release_lease(
        &self,
        tenant: &TenantId,
        integration_id: &str,
        purpose: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(lease_sk(integration_id, purpose)))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        // Lost it to expiry and someone else took it: nothing of ours to release.
        written(res).map(|_| ())
    }
}

/// `Conflict(what)` when a conditional write's condition failed.
fn conditional<T, E>(
    res: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
    what: &str,
) -> Result<(), StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if written(res)? {
        Ok(())
    } else {
        Err(StoreError::Conflict(what.to_string()))
    }
}

/// GSI partition of integrations by status, for the scheduler's "every connected integration".
fn status_gsi(status: IntegrationStatus) -> String {
    format!("INTEGRATIONS#{}", status.as_str())
}

fn integration_to_item(i: &Integration) -> Item {
    let mut it = Item::new();
    it.insert("pk".into(), s(tenant_pk(&i.tenant_id)));
    it.insert("sk".into(), s(integration_sk(&i.id)));
    it.insert("gsi1pk".into(), s(status_gsi(i.status)));
    it.insert("gsi1sk".into(), s(format!("{}#{}", i.tenant_id, i.id)));
    it.insert("tenant_id".into(), s(i.tenant_id.as_str()));
    it.insert("integration_id".into(), s(&i.id));
    it.insert("provider".into(), s(i.provider.as_str()));
    it.insert("status".into(), s(i.status.as_str()));
    it.insert("secret_name".into(), s(&i.secret_name));
    it.insert("created_at".into(), ts(i.created_at));
    it.insert("updated_at".into(), ts(i.updated_at));
    let opt = |it: &mut Item, k: &str, v: Option<AttributeValue>| {
        if let Some(v) = v {
            it.insert(k.to_string(), v);
        }
    };
    opt(&mut it, "display_name", i.display_name.as_deref().map(s));
    opt(&mut it, "company_name", i.company_name.as_deref().map(s));
    opt(
        &mut it,
        "provider_company_id",
        i.provider_company_id.as_deref().map(s),
    );
    opt(&mut it, "token_expires_at", i.token_expires_at.map(ts));
    opt(&mut it, "refresh_expires_at", i.refresh_expires_at.map(ts));
    opt(&mut it, "connected_at", i.connected_at.map(ts));
    it.insert("connection_mode".into(), s(i.mode.as_str()));
    opt(
        &mut it,
        "service_tenant_id",
        i.service_tenant_id.as_deref().map(s),
    );
    if let Some(e) = &i.last_error {
        it.insert("last_error_code".into(), s(&e.code));
        it.insert("last_error_message".into(), s(&e.message));
        it.insert("last_error_at".into(), ts(e.at));
    }
    it
}

fn integration_from_item(it: &Item) -> Result<Integration, StoreError> {
    let status = req_s(it, "status")?;
    let last_error = match (
        get_s(it, "last_error_code"),
        get_s(it, "last_error_message"),
    ) {
        (Some(code), Some(message)) => Some(LastError {
            code: code.to_string(),
            message: message.to_string(),
            at: get_ts(it, "last_error_at")?.unwrap_or_else(Utc::now),
        }),
        _ => None,
    };
    Ok(Integration {
        tenant_id: TenantId::parse(req_s(it, "tenant_id")?)
            .ok_or_else(|| StoreError::Corrupt("tenant_id".into()))?,
        id: req_s(it, "integration_id")?.to_string(),
        provider: req_s(it, "provider")?
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
        status: IntegrationStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("status `{status}`")))?,
        display_name: get_s(it, "display_name").map(str::to_string),
        company_name: get_s(it, "company_name").map(str::to_string),
        provider_company_id: get_s(it, "provider_company_id").map(str::to_string),
        token_expires_at: get_ts(it, "token_expires_at")?,
        refresh_expires_at: get_ts(it, "refresh_expires_at")?,
        // Integrations stored before modes existed were connected by a person.
        mode: match get_s(it, "connection_mode") {
            None => ConnectionMode::User,
            Some(m) => ConnectionMode::parse(m)
                .ok_or_else(|| StoreError::Corrupt(format!("connection_mode `{m}`")))?,
        },
        service_tenant_id: get_s(it, "service_tenant_id").map(str::to_string),
        connected_at: get_ts(it, "connected_at")?,
        last_error,
        secret_name: req_s(it, "secret_name")?.to_string(),
        created_at: req_ts(it, "created_at")?,
        updated_at: req_ts(it, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_items_round_trip() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let i = Integration {
            tenant_id: TenantId::parse("t1").unwrap(),
            id: "i1".into(),
            provider: ProviderKind::Visma,
            status: IntegrationStatus::NeedsReauth,
            display_name: Some("Visma".into()),
            company_name: Some("Bygg AB".into()),
            provider_company_id: None,
            token_expires_at: Some(now),
            refresh_expires_at: None,
            mode: ConnectionMode::Service,
            service_tenant_id: Some("1234567".into()),
            connected_at: Some(now),
            last_error: Some(LastError {
                code: "invalid_grant".into(),
                message: "spent".into(),
                at: now,
            }),
            secret_name: "p/t1/i1".into(),
            created_at: now,
            updated_at: now,
        };
        assert_eq!(integration_from_item(&integration_to_item(&i)).unwrap(), i);
        // An item written before modes existed reads as a person's grant.
        let mut old = integration_to_item(&i);
        old.remove("connection_mode");
        old.remove("service_tenant_id");
        let read = integration_from_item(&old).unwrap();
        assert_eq!(read.mode, ConnectionMode::User);
        assert_eq!(read.service_tenant_id, None);
        old.insert("connection_mode".into(), s("robot"));
        assert!(integration_from_item(&old).is_err());
    }
}
