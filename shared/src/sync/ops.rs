//! What the engine needs of a record type: its content hash and ids ([`SyncRecord`]) and its
//! entity-specific provider calls ([`Ops`]), so the engine is written once for both entities.

use crate::domain::{Customer, Entity, Invoice};
use crate::http::ApiError;
use crate::providers::api::{AccountingApi, ApiAuth, IdPage, Page, Remote};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What the sync engine needs of a canonical record.
pub trait SyncRecord: DeserializeOwned + Serialize + Clone + Send + Sync {
    /// Which entity.
    const ENTITY: Entity;
    /// Our id.
    fn our_id(&self) -> &str;
    /// When it last changed on the side it was read from.
    fn changed_at(&self) -> Option<DateTime<Utc>>;
    /// Sets that time.
    fn set_changed_at(&mut self, t: DateTime<Utc>);
    /// Content hash (ignores timestamps and read-only fields).
    fn hash(&self) -> String;
    /// The hash a provider's version is compared by (the mapping's `remote_hash`): the content
    /// hash plus whatever the provider changes on its own that the app must hear of (an
    /// invoice's payment state). The content hash by default.
    fn remote_hash(&self) -> String {
        self.hash()
    }
    /// The record as the app may set it: read-only fields the provider owns (an invoice's
    /// payment state) dropped, so an app's copy never claims them. Unchanged by default.
    fn without_read_only(self) -> Self {
        self
    }
    /// The record as stored and fed from a provider's copy: personal data the app did not
    /// send left out (an invoice's buyers' personal identity numbers). Unchanged by default.
    fn without_personal_data(self) -> Self {
        self
    }
}

impl SyncRecord for Customer {
    const ENTITY: Entity = Entity::Customers;
    fn our_id(&self) -> &str {
        &self.id
    }
    fn changed_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }
    fn set_changed_at(&mut self, t: DateTime<Utc>) {
        self.updated_at = Some(t);
    }
    fn hash(&self) -> String {
        self.content_hash()
    }
}

impl SyncRecord for Invoice {
    const ENTITY: Entity = Entity::Invoices;
    fn our_id(&self) -> &str {
        &self.id
    }
    fn changed_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }
    fn set_changed_at(&mut self, t: DateTime<Utc>) {
        self.updated_at = Some(t);
    }
    fn hash(&self) -> String {
        self.content_hash()
    }
    fn remote_hash(&self) -> String {
        Invoice::remote_hash(self)
    }
    fn without_read_only(mut self) -> Self {
        // Read-only at both providers (Fortnox `Balance`/`FinalPayDate` are not in
        // `fortnox_Kf_InvoiceSinglePayloadItem`; Visma's `RemainingAmount`, `PaymentStatus`,
        // `PaymentDate` are `readOnly` in `CustomerInvoiceApi`): ignored, like `totals`.
        self.payment = None;
        self.credit = None;
        self
    }
    fn without_personal_data(self) -> Self {
        self.without_personal_numbers()
    }
}

/// What the engine needs to do with one entity at a provider.
#[async_trait]
pub trait Ops: SyncRecord + 'static {
    /// A page of records changed after `since`.
    async fn list(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Self>, ApiError>;
    /// A page of ids.
    async fn list_ids(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        page: u32,
    ) -> Result<IdPage, ApiError>;
    /// One record.
    async fn get(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Self>>, ApiError>;
    /// The record created from `rec`, by our reference.
    async fn find(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
    ) -> Result<Option<Remote<Self>>, ApiError>;
    /// Creates it; `customer` is the provider id of an invoice's customer.
    async fn create(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
        customer: Option<&str>,
    ) -> Result<Remote<Self>, ApiError>;
    /// Updates it.
    async fn update(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
        rec: &Self,
        customer: Option<&str>,
    ) -> Result<Remote<Self>, ApiError>;
    /// Finishes a create that was interrupted after its first step, as found by our reference
    /// (the provider knows what its `create` does after the first step).
    async fn complete(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        found: Remote<Self>,
    ) -> Result<Remote<Self>, ApiError> {
        let _ = (api, auth);
        Ok(found)
    }
    /// Sets our id.
    fn set_our_id(&mut self, id: &str);
    /// Our id of the customer an invoice is for.
    fn customer_ref(&self) -> Option<&str>;
    /// Sets it.
    fn set_customer_ref(&mut self, id: &str);
}

#[async_trait]
impl Ops for Customer {
    async fn list(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Self>, ApiError> {
        api.list_customers(auth, since, page).await
    }
    async fn list_ids(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        page: u32,
    ) -> Result<IdPage, ApiError> {
        api.list_customer_ids(auth, page).await
    }
    async fn get(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.get_customer(auth, remote_id).await
    }
    async fn find(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.find_customer_by_reference(auth, rec).await
    }
    async fn create(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
        _: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        api.create_customer(auth, rec).await
    }
    async fn update(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
        rec: &Self,
        _: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        api.update_customer(auth, remote_id, rec).await
    }
    fn set_our_id(&mut self, id: &str) {
        self.id = id.to_string();
    }
    fn customer_ref(&self) -> Option<&str> {
        None
    }
    fn set_customer_ref(&mut self, _: &str) {}
}

#[async_trait]
impl Ops for Invoice {
    async fn list(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Self>, ApiError> {
        api.list_invoices(auth, since, page).await
    }
    async fn list_ids(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        page: u32,
    ) -> Result<IdPage, ApiError> {
        api.list_invoice_ids(auth, page).await
    }
    async fn get(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.get_invoice(auth, remote_id).await
    }
    async fn find(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.find_invoice_by_reference(auth, rec).await
    }
    async fn create(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
        customer: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        api.create_invoice(auth, rec, customer.unwrap_or_default())
            .await
    }
    async fn update(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
        rec: &Self,
        customer: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        api.update_invoice(auth, remote_id, rec, customer.unwrap_or_default())
            .await
    }
    async fn complete(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        found: Remote<Self>,
    ) -> Result<Remote<Self>, ApiError> {
        api.complete_invoice(auth, found).await
    }
    fn set_our_id(&mut self, id: &str) {
        self.id = id.to_string();
    }
    fn customer_ref(&self) -> Option<&str> {
        Some(&self.customer_id)
    }
    fn set_customer_ref(&mut self, id: &str) {
        self.customer_id = id.to_string();
    }
}
