//! The Fortnox data client (`/3/customers`, `/3/invoices`, `/3/companyinformation`).
//!
//! Request cost: a list page (`limit=500`) is one request. Fortnox list items carry only a
//! summary (`fortnox_CustomerListItem` has no `ExternalReference`, `CountryCode`, `Currency`,
//! `Type`, `VATType`, `Active`; invoice list items have no rows), so each item that lacks a
//! field of the canonical model costs one more GET of the full record. Pulling 10,000
//! customers therefore costs 20 list requests when the items are complete (checked per item,
//! so a richer list answer is used as is) and 20 + 10,000 otherwise: about 35 minutes at
//! Fortnox's 25 requests per 5 s. Incremental pulls (`lastmodified`) fetch only what changed,
//! and the deletion pass ([`AccountingApi::list_customer_ids`]) needs the list requests only.

use super::errors;
use super::mapping::{customer_in, customer_out, invoice_in, invoice_out, WriteMode};
use super::tax_reductions::customer_name_of;
use super::wire::{
    is_complete, parse, CustomerIn, CustomerWrap, InvoiceIn, InvoiceWrap, MetaInformation,
    CUSTOMER_FIELDS_FOR_CANONICAL, INVOICE_FIELDS_FOR_CANONICAL,
};
use crate::domain::{Customer, Entity, Invoice, ProviderKind};
use crate::http::outbound::Stats;
use crate::http::{ApiError, Bucket, Call, Outbound};
use crate::providers::api::{
    AccountingApi, ApiAuth, IdPage, InvoiceAction, Page, Remote, SendMethod, Unreadable,
};
use crate::providers::settings::FortnoxSettings;
use crate::providers::{ApiSettings, CompanyInfo, CredentialStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Fortnox's largest page.
pub const MAX_PAGE_SIZE: u32 = 500;

/// Candidates fetched in full at most while looking a customer up by our reference.
const MAX_LOOKUP_CANDIDATES: usize = 200;

/// The Fortnox data client.
pub struct FortnoxApi {
    api_url: String,
    settings: ApiSettings,
    out: Outbound,
    credentials: Arc<CredentialStore>,
}

/// `lastmodified` as Fortnox reads it: local Swedish time, `YYYY-MM-DD HH:MM:SS`, truncated
/// to the second (earlier is safe: the caller dedupes).
pub fn lastmodified(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

impl FortnoxApi {
    /// A client for the REST API under `settings.api_url`.
    pub fn new(
        settings: &FortnoxSettings,
        api: ApiSettings,
        out: Outbound,
        credentials: Arc<CredentialStore>,
    ) -> Self {
        FortnoxApi {
            api_url: settings.api_url.trim_end_matches('/').to_string(),
            settings: api,
            out,
            credentials,
        }
    }

    /// Requests sent and 429s seen by this client.
    pub fn stats(&self) -> &Stats {
        self.out.stats()
    }

    pub(super) fn url(&self, segments: &[&str]) -> String {
        let mut url = format!("{}/3", self.api_url);
        for s in segments {
            url.push('/');
            url.push_str(&url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>());
        }
        url
    }

    async fn bucket(&self, auth: &ApiAuth) -> Bucket {
        // Fortnox counts per client id and tenant; the client id is the same for every call of
        // one deployment, but keep it in the key so two apps never share a bucket.
        let client = self
            .credentials
            .get(ProviderKind::Fortnox)
            .await
            .map(|c| c.client_id)
            .unwrap_or_default();
        Bucket {
            key: format!("fortnox#{client}#{}", auth.tenant_key),
            limit: self.settings.fortnox_limit,
        }
    }

    pub(super) async fn send(&self, auth: &ApiAuth, call: Call) -> Result<Value, ApiError> {
        let body = self.send_raw(auth, call).await?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::unexpected(format!("Fortnox answer is not JSON: {e}")))
    }

    /// Sends `call`; gives the answer's body as it came (a PDF, say).
    pub(super) async fn send_raw(&self, auth: &ApiAuth, call: Call) -> Result<Vec<u8>, ApiError> {
        let bucket = self.bucket(auth).await;
        let answer = self
            .out
            .send(
                &call,
                &auth.access_token,
                &bucket,
                errors::classify,
                self.settings.fortnox_limit.window,
            )
            .await?;
        Ok(answer.body)
    }

    pub(super) fn list_call(&self, what: &str, page: u32) -> Call {
        Call::get(self.url(&[what]))
            .query(
                "limit",
                self.settings
                    .fortnox_page_size
                    .min(MAX_PAGE_SIZE)
                    .to_string(),
            )
            .query("page", page.max(1).to_string())
    }

    /// One page of ids only (the deletion sweep): `path` sorted by `sortby`, the list under
    /// `envelope`, each record's id in `id_field`.
    pub(super) async fn id_page(
        &self,
        auth: &ApiAuth,
        page: u32,
        path: &str,
        sortby: &str,
        envelope: &str,
        id_field: &str,
    ) -> Result<IdPage, ApiError> {
        let call = self.list_call(path, page).query("sortby", sortby);
        let (items, has_more, next_page) = self.list_page(auth, call, envelope).await?;
        Ok(IdPage {
            ids: items
                .iter()
                .filter_map(|i| i.get(id_field).and_then(crate::providers::lenient::text))
                .collect(),
            has_more,
            next_page,
        })
    }

    /// One list page: its items as raw maps and whether more pages follow.
    pub(super) async fn list_page(
        &self,
        auth: &ApiAuth,
        call: Call,
        key: &str,
    ) -> Result<(Vec<Map<String, Value>>, bool, u32), ApiError> {
        let v = self.send(auth, call).await?;
        let items = match v.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|i| i.as_object().cloned())
                .collect::<Vec<_>>(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(ApiError::unexpected(format!(
                    "Fortnox `{key}` is not a list"
                )))
            }
        };
        let meta: MetaInformation = match v.get("MetaInformation") {
            Some(m) => parse("MetaInformation", "", m.clone())?,
            None => MetaInformation::default(),
        };
        let current = meta.current_page.unwrap_or(1).max(1);
        let total = meta.total_pages.unwrap_or(current).max(0);
        Ok((items, current < total, (current + 1) as u32))
    }

    async fn customer_from_item(
        &self,
        auth: &ApiAuth,
        item: Map<String, Value>,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        if is_complete(&item, CUSTOMER_FIELDS_FOR_CANONICAL) {
            let w: CustomerIn = parse("customer", "CustomerNumber", Value::Object(item))?;
            return customer_in(&w).map(Some);
        }
        let number = item
            .get("CustomerNumber")
            .and_then(crate::providers::lenient::text)
            .ok_or_else(|| ApiError::unexpected("a Fortnox customer without CustomerNumber"))?;
        self.get_customer(auth, &number).await
    }

    async fn invoice_from_item(
        &self,
        auth: &ApiAuth,
        item: Map<String, Value>,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        if is_complete(&item, INVOICE_FIELDS_FOR_CANONICAL) {
            let w: InvoiceIn = parse("invoice", "DocumentNumber", Value::Object(item))?;
            return self.with_payments(auth, invoice_in(&w)?).await.map(Some);
        }
        let number = item
            .get("DocumentNumber")
            .and_then(crate::providers::lenient::text)
            .ok_or_else(|| ApiError::unexpected("a Fortnox invoice without DocumentNumber"))?;
        self.get_invoice(auth, &number).await
    }

    fn customer_of(v: &Value) -> Result<Remote<Customer>, ApiError> {
        let w: CustomerIn = parse(
            "customer",
            "CustomerNumber",
            v.get("Customer").cloned().unwrap_or_default(),
        )?;
        customer_in(&w)
    }

    pub(super) fn invoice_of(v: &Value) -> Result<Remote<Invoice>, ApiError> {
        let w: InvoiceIn = parse(
            "invoice",
            "DocumentNumber",
            v.get("Invoice").cloned().unwrap_or_default(),
        )?;
        invoice_in(&w)
    }

    /// Books an invoice (`PUT /3/invoices/{n}/bookkeep`); a booked invoice cannot be edited.
    pub async fn bookkeep(
        &self,
        auth: &ApiAuth,
        document_number: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.action(auth, document_number, "bookkeep").await
    }

    /// Cancels an unbooked invoice (`PUT /3/invoices/{n}/cancel`).
    pub async fn cancel(
        &self,
        auth: &ApiAuth,
        document_number: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.action(auth, document_number, "cancel").await
    }

    /// Credits an invoice (`PUT /3/invoices/{n}/credit`): Fortnox creates the credit invoice
    /// and names it in `CreditInvoiceReference` of the answer.
    pub async fn credit(
        &self,
        auth: &ApiAuth,
        document_number: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.action(auth, document_number, "credit").await
    }

    async fn action(
        &self,
        auth: &ApiAuth,
        n: &str,
        action: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        // Not repeated on an unknown outcome (a second credit would credit twice): the caller
        // reads the invoice to see whether the action happened.
        let call = Call {
            method: Method::PUT,
            url: self.url(&["invoices", n, action]),
            query: Vec::new(),
            body: None,
            idempotent: false,
        };
        let v = self.send(auth, call).await?;
        self.with_payments(auth, Self::invoice_of(&v)?).await
    }
}

#[async_trait]
impl AccountingApi for FortnoxApi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Fortnox
    }

    fn stats(&self) -> &Stats {
        self.out.stats()
    }

    fn reference_key(&self, _entity: Entity, our_id: &str) -> String {
        // ExternalReference (1024) and ExternalInvoiceReference1 (80) hold our ids as they are.
        our_id.to_string()
    }

    async fn company(&self, auth: &ApiAuth) -> Result<CompanyInfo, ApiError> {
        let v = self
            .send(auth, Call::get(self.url(&["companyinformation"])))
            .await?;
        let info = v
            .get("CompanyInformation")
            .ok_or_else(|| ApiError::unexpected("no CompanyInformation"))?;
        Ok(CompanyInfo {
            name: info
                .get("CompanyName")
                .and_then(crate::providers::lenient::text)
                .unwrap_or_default(),
            provider_company_id: info
                .get("DatabaseNumber")
                .and_then(crate::providers::lenient::text),
        })
    }

    async fn list_customers(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Customer>, ApiError> {
        let started = Utc::now();
        let mut call = self
            .list_call("customers", page)
            .query("sortby", "customernumber");
        if let Some(t) = since {
            call = call.query("lastmodified", lastmodified(t));
        }
        let (items, has_more, next_page) = self.list_page(auth, call, "Customers").await?;
        let (mut out, mut unreadable) = (Vec::with_capacity(items.len()), Vec::new());
        for item in items {
            let id = item
                .get("CustomerNumber")
                .and_then(crate::providers::lenient::text);
            // A record deleted between the list and the GET is simply gone; one that cannot
            // be read is set aside.
            let read = self.customer_from_item(auth, item).await;
            Unreadable::sort(id, read, &mut out, &mut unreadable)?;
        }
        Ok(Page {
            items: out,
            has_more,
            next_page,
            high_water: Some(started),
            unreadable,
        })
    }

    async fn list_customer_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.id_page(
            auth,
            page,
            "customers",
            "customernumber",
            "Customers",
            "CustomerNumber",
        )
        .await
    }

    async fn get_customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        match self
            .send(auth, Call::get(self.url(&["customers", remote_id])))
            .await
        {
            Ok(v) => Self::customer_of(&v).map(Some),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_customer_by_reference(
        &self,
        auth: &ApiAuth,
        customer: &Customer,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        // Fortnox cannot search ExternalReference, and its searches are substring matches: narrow
        // the candidates by organisation number, then by name, and compare our id exactly on
        // each candidate's full record.
        let mut searches = Vec::new();
        if let Some(org) = customer
            .organisation_number
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            searches.push(("organisationnumber", org.trim().to_string()));
        }
        if !customer.name.trim().is_empty() {
            searches.push(("name", customer.name.trim().to_string()));
        }
        let mut seen = std::collections::HashSet::new();
        for (param, value) in searches {
            let mut page = 1;
            loop {
                let call = self
                    .list_call("customers", page)
                    .query(param, value.clone());
                let (items, has_more, next) = self.list_page(auth, call, "Customers").await?;
                for item in items {
                    let Some(number) = item
                        .get("CustomerNumber")
                        .and_then(crate::providers::lenient::text)
                    else {
                        continue;
                    };
                    if !seen.insert(number.clone()) {
                        continue;
                    }
                    if seen.len() > MAX_LOOKUP_CANDIDATES {
                        return Err(ApiError::InvalidData {
                            code: None,
                            message: format!(
                                "too many Fortnox customers match `{value}` to look up our reference"
                            ),
                            field: None,
                        });
                    }
                    if let Some(r) = self.customer_from_item(auth, item).await? {
                        if r.our_reference.as_deref() == Some(customer.id.as_str()) {
                            return Ok(Some(r));
                        }
                    }
                }
                if !has_more {
                    break;
                }
                page = next;
            }
        }
        Ok(None)
    }

    async fn create_customer(
        &self,
        auth: &ApiAuth,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        let body = serde_json::to_vec(&CustomerWrap {
            customer: &customer_out(customer, WriteMode::Create),
        })
        .map_err(ApiError::unexpected)?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::POST, self.url(&["customers"]), body),
            )
            .await?;
        Self::customer_of(&v)
    }

    async fn update_customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        let body = serde_json::to_vec(&CustomerWrap {
            customer: &customer_out(customer, WriteMode::Update),
        })
        .map_err(ApiError::unexpected)?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::PUT, self.url(&["customers", remote_id]), body),
            )
            .await?;
        Self::customer_of(&v)
    }

    async fn list_invoices(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Invoice>, ApiError> {
        let started = Utc::now();
        let mut call = self
            .list_call("invoices", page)
            .query("sortby", "documentnumber");
        if let Some(t) = since {
            call = call.query("lastmodified", lastmodified(t));
        }
        let (items, has_more, next_page) = self.list_page(auth, call, "Invoices").await?;
        let (mut out, mut unreadable) = (Vec::with_capacity(items.len()), Vec::new());
        for item in items {
            let id = item
                .get("DocumentNumber")
                .and_then(crate::providers::lenient::text);
            let read = self.invoice_from_item(auth, item).await;
            Unreadable::sort(id, read, &mut out, &mut unreadable)?;
        }
        Ok(Page {
            items: out,
            has_more,
            next_page,
            high_water: Some(started),
            unreadable,
        })
    }

    async fn list_invoice_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.id_page(
            auth,
            page,
            "invoices",
            "documentnumber",
            "Invoices",
            "DocumentNumber",
        )
        .await
    }

    async fn get_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        match self
            .send(auth, Call::get(self.url(&["invoices", remote_id])))
            .await
        {
            Ok(v) => self
                .with_payments(auth, Self::invoice_of(&v)?)
                .await
                .map(Some),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn send_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        method: SendMethod,
    ) -> Result<&'static str, ApiError> {
        self.send_by(auth, remote_id, method).await
    }

    async fn invoice_pdf(&self, auth: &ApiAuth, remote_id: &str) -> Result<Vec<u8>, ApiError> {
        self.preview(auth, remote_id).await
    }

    async fn credit_invoice(
        &self,
        auth: &ApiAuth,
        original: &Remote<Invoice>,
        _credit_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.credit_note(auth, &original.remote_id).await
    }

    async fn find_credit_note(
        &self,
        auth: &ApiAuth,
        original_remote_id: &str,
        _credit_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        self.credit_note_of(auth, original_remote_id).await
    }

    async fn invoice_of_payment(
        &self,
        auth: &ApiAuth,
        payment_id: &str,
    ) -> Result<Option<String>, ApiError> {
        self.payment_invoice(auth, payment_id).await
    }

    async fn find_invoice_by_reference(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        // `externalinvoicereference1` is a substring search: compare exactly on the list items.
        let mut page = 1;
        loop {
            let call = self
                .list_call("invoices", page)
                .query("externalinvoicereference1", invoice.id.clone());
            let (items, has_more, next) = self.list_page(auth, call, "Invoices").await?;
            let mut matches: Vec<String> = items
                .iter()
                .filter(|i| {
                    i.get("ExternalInvoiceReference1")
                        .and_then(crate::providers::lenient::text)
                        .as_deref()
                        == Some(invoice.id.as_str())
                })
                .filter_map(|i| {
                    i.get("DocumentNumber")
                        .and_then(crate::providers::lenient::text)
                })
                .collect();
            if !matches.is_empty() {
                // More than one would be an earlier double create: take the oldest.
                matches.sort_by_key(|n| (n.len(), n.clone()));
                if matches.len() > 1 {
                    tracing::warn!(our_id = %invoice.id, count = matches.len(),
                        "several Fortnox invoices carry our reference");
                }
                return self.get_invoice(auth, &matches[0]).await;
            }
            if !has_more {
                return Ok(None);
            }
            page = next;
        }
    }

    async fn create_invoice(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        let body = serde_json::to_vec(&InvoiceWrap {
            invoice: &invoice_out(invoice, customer_remote_id, WriteMode::Create)?,
        })
        .map_err(ApiError::unexpected)?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::POST, self.url(&["invoices"]), body),
            )
            .await?;
        let remote = Self::invoice_of(&v)?;
        self.put_tax_reductions(auth, &remote.remote_id, &customer_name_of(&v), invoice)
            .await?;
        self.with_payments(auth, remote).await
    }

    async fn update_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        let body = serde_json::to_vec(&InvoiceWrap {
            invoice: &invoice_out(invoice, customer_remote_id, WriteMode::Update)?,
        })
        .map_err(ApiError::unexpected)?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::PUT, self.url(&["invoices", remote_id]), body),
            )
            .await?;
        let remote = Self::invoice_of(&v)?;
        self.put_tax_reductions(auth, &remote.remote_id, &customer_name_of(&v), invoice)
            .await?;
        self.with_payments(auth, remote).await
    }

    async fn invoice_action(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        action: InvoiceAction,
    ) -> Result<Remote<Invoice>, ApiError> {
        match action {
            InvoiceAction::Bookkeep => self.bookkeep(auth, remote_id).await,
            InvoiceAction::Cancel => self.cancel(auth, remote_id).await,
            InvoiceAction::Credit => self.credit(auth, remote_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lastmodified_is_stockholm_local_time() {
        // winter: UTC+1
        let t = Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 15).unwrap();
        assert_eq!(lastmodified(t), "2026-01-15 10:30:15");
        // summer: UTC+2
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 22, 5, 0).unwrap();
        assert_eq!(lastmodified(t), "2026-07-02 00:05:00");
    }
}
