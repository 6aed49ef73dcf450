//! Entity-specific calls of the data API, behind one trait so the engine is written once.

use super::records::SyncRecord;
use crate::domain::{Customer, Invoice};
use crate::http::ApiError;
use crate::providers::api::{AccountingApi, ApiAuth, IdPage, InvoiceAction, Page, Remote};

/// How a Visma draft's id is marked in [`Remote::remote_id`].
const DRAFT_PREFIX: &str = "draft:";
use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
    /// Finishes a create that was interrupted after its first step (a Visma invoice found as a
    /// draft after an ambiguous failure is converted, as `create` would have done).
    async fn complete(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        found: Remote<Self>,
        convert_drafts: bool,
    ) -> Result<Remote<Self>, ApiError> {
        let _ = (api, auth, convert_drafts);
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
        convert_drafts: bool,
    ) -> Result<Remote<Self>, ApiError> {
        // `Remote::remote_id` marks a never-converted Visma draft with this prefix.
        if convert_drafts && found.remote_id.starts_with(DRAFT_PREFIX) {
            return api
                .invoice_action(auth, &found.remote_id, InvoiceAction::Bookkeep)
                .await;
        }
        Ok(found)
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
