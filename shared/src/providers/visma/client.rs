//! The Visma eAccounting data client. Every operation it calls exists in Visma's OpenAPI
//! document (`local/sandbox/contracts/visma-eaccounting-v2-openapi.yaml`, paths relative to
//! `…/v2`): `/customers`, `/customerinvoicedrafts` (with `/{id}/convert`),
//! `/customerinvoices`, `/termsofpayments`, `/articles`, `/articleaccountcodings`,
//! `/companysettings`. The areas live in [`super::customers`], [`super::invoices`] and
//! [`super::lookups`]; this file holds the transport and the [`AccountingApi`] surface.
//!
//! Visma lists carry full records, so a page is one request. Customer updates read the whole
//! record into its writable fields, change ours and write it back (PUT replaces). Invoices are
//! created as drafts and converted at once (`VISMA_CONVERT_DRAFTS`); a conversion with an
//! unknown outcome leaves a draft that [`AccountingApi::find_invoice_by_reference`] finds.

use super::errors;
use super::mapping::{customer_reference, invoice_reference, Articles, DRAFT_PREFIX};
use super::wire::Meta;
use crate::domain::{Customer, Entity, Invoice, ProviderKind};
use crate::http::outbound::Stats;
use crate::http::{ApiError, Bucket, Call, Outbound};
use crate::providers::api::{
    AccountingApi, ApiAuth, IdPage, InvoiceAction, Page, Remote, SendMethod,
};
use crate::providers::settings::VismaSettings;
use crate::providers::{ApiSettings, CompanyInfo, CredentialStore};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(super) type Cache<T> = Mutex<HashMap<String, (Instant, T)>>;

/// The Visma data client.
pub struct VismaApi {
    api_url: String,
    pub(super) settings: ApiSettings,
    out: Outbound,
    credentials: Arc<CredentialStore>,
    pub(super) terms: Cache<String>,
    pub(super) articles: Cache<Arc<Articles>>,
}

/// A UTC time as Visma's filters and query parameters read it.
pub fn utc_param(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A string literal for `$filter` (`'` doubled).
pub fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(super) fn cached<T: Clone>(cache: &Cache<T>, key: &str, ttl: Duration) -> Option<T> {
    let m = cache.lock().ok()?;
    m.get(key)
        .filter(|(at, _)| at.elapsed() < ttl)
        .map(|(_, v)| v.clone())
}

pub(super) fn remember<T>(cache: &Cache<T>, key: &str, value: T) {
    if let Ok(mut m) = cache.lock() {
        m.insert(key.to_string(), (Instant::now(), value));
    }
}

impl VismaApi {
    /// A client for the REST API under `settings.api_url`.
    pub fn new(
        settings: &VismaSettings,
        api: ApiSettings,
        out: Outbound,
        credentials: Arc<CredentialStore>,
    ) -> Self {
        VismaApi {
            api_url: settings.api_url.trim_end_matches('/').to_string(),
            settings: api,
            out,
            credentials,
            terms: Mutex::new(HashMap::new()),
            articles: Mutex::new(HashMap::new()),
        }
    }

    /// Requests sent and 429s seen by this client.
    pub fn stats(&self) -> &Stats {
        self.out.stats()
    }

    /// The base URL requests go to (`VISMA_API_URL`, without a trailing slash).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub(super) fn url(&self, segments: &[&str]) -> String {
        let mut url = format!("{}/v2", self.api_url);
        for s in segments {
            url.push('/');
            url.push_str(&url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>());
        }
        url
    }

    pub(super) async fn send(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
        call: Call,
    ) -> Result<Value, ApiError> {
        let body = self.send_raw(auth, endpoint, call).await?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::unexpected(format!("Visma answer is not JSON: {e}")))
    }

    /// Sends `call`; gives the answer's body as it came (a PDF, say).
    pub(super) async fn send_raw(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
        call: Call,
    ) -> Result<Vec<u8>, ApiError> {
        // Visma counts per client id and endpoint, across every company the app serves.
        let client = self
            .credentials
            .get(ProviderKind::Visma)
            .await
            .map(|c| c.client_id)
            .unwrap_or_default();
        let bucket = Bucket {
            key: format!("visma#{client}#{endpoint}"),
            limit: self.settings.visma_limit,
        };
        let answer = self
            .out
            .send(
                &call,
                &auth.access_token,
                &bucket,
                errors::classify,
                self.settings.visma_limit.window,
            )
            .await?;
        Ok(answer.body)
    }

    /// A JSON body of `body`.
    pub(super) fn json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, ApiError> {
        serde_json::to_vec(body).map_err(ApiError::unexpected)
    }

    pub(super) fn list_call(&self, endpoint: &str, page: u32) -> Call {
        Call::get(self.url(&[endpoint]))
            .query("$page", page.max(1).to_string())
            .query("$pagesize", self.settings.visma_page_size.to_string())
    }

    pub(super) async fn list_page(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
        call: Call,
    ) -> Result<(Vec<Value>, Meta), ApiError> {
        let v = self.send(auth, endpoint, call).await?;
        let meta: Meta = match v.get("Meta") {
            Some(m) => super::wire::parse(&format!("{endpoint} Meta"), m.clone())?,
            None => Meta::default(),
        };
        let data = match v.get("Data") {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => return Err(ApiError::unexpected("Visma `Data` is not a list")),
        };
        Ok((data, meta))
    }

    pub(super) fn paging(meta: &Meta, asked: u32) -> (bool, u32) {
        let current = meta.current_page.unwrap_or(i64::from(asked)).max(1);
        let total = meta.total_number_of_pages.unwrap_or(current);
        (current < total, (current + 1) as u32)
    }

    /// One page of ids only (the deletion sweep) of `endpoint`, each with `prefix`.
    pub(super) async fn id_page(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
        page: u32,
        prefix: &str,
    ) -> Result<IdPage, ApiError> {
        let (data, meta) = self
            .list_page(auth, endpoint, self.list_call(endpoint, page))
            .await?;
        let (has_more, next_page) = Self::paging(&meta, page);
        Ok(IdPage {
            ids: data
                .iter()
                .filter_map(|v| v.get("Id").and_then(crate::providers::lenient::text))
                .map(|id| format!("{prefix}{id}"))
                .collect(),
            has_more,
            next_page,
        })
    }

    /// Every page of a small list (terms, articles, codings).
    pub(super) async fn all<T: serde::de::DeserializeOwned>(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let (data, meta) = self
                .list_page(auth, endpoint, self.list_call(endpoint, page))
                .await?;
            for d in data {
                out.push(super::wire::parse(endpoint, d)?);
            }
            let (more, next) = Self::paging(&meta, page);
            if !more || page > 1000 {
                return Ok(out);
            }
            page = next;
        }
    }
}

#[async_trait]
impl AccountingApi for VismaApi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Visma
    }

    fn stats(&self) -> &Stats {
        self.out.stats()
    }

    fn reference_key(&self, entity: Entity, our_id: &str) -> String {
        match entity {
            Entity::Customers => customer_reference(our_id),
            Entity::Invoices => invoice_reference(our_id),
            // Found by their number, which is the app's own: no reference is stored.
            Entity::Projects | Entity::Articles => our_id.to_string(),
        }
    }

    async fn company(&self, auth: &ApiAuth) -> Result<CompanyInfo, ApiError> {
        self.company_settings(auth).await
    }

    async fn list_customers(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Customer>, ApiError> {
        self.customers_page(auth, since, page).await
    }

    async fn list_customer_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.id_page(auth, "customers", page, "").await
    }

    async fn get_customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        self.customer(auth, remote_id).await
    }

    async fn find_customer_by_reference(
        &self,
        auth: &ApiAuth,
        customer: &Customer,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        self.customer_by_number(auth, &customer_reference(&customer.id))
            .await
    }

    async fn create_customer(
        &self,
        auth: &ApiAuth,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        self.post_customer(auth, customer).await
    }

    async fn update_customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        self.put_customer(auth, remote_id, customer).await
    }

    async fn list_invoices(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Invoice>, ApiError> {
        self.invoices_page(auth, since, page).await
    }

    async fn list_invoice_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.invoice_ids(auth, page).await
    }

    async fn get_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        self.invoice(auth, remote_id).await
    }

    async fn find_invoice_by_reference(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        self.invoice_by_reference(auth, &invoice_reference(&invoice.id))
            .await
    }

    async fn create_invoice(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.post_invoice(auth, invoice, customer_remote_id).await
    }

    async fn update_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.put_draft(auth, remote_id, invoice, customer_remote_id)
            .await
    }

    async fn invoice_action(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        action: InvoiceAction,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.action(auth, remote_id, action).await
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
        self.print(auth, remote_id).await
    }

    async fn credit_invoice(
        &self,
        auth: &ApiAuth,
        original: &Remote<Invoice>,
        credit_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.credit_note(auth, original, credit_id).await
    }

    async fn find_credit_note(
        &self,
        auth: &ApiAuth,
        _original_remote_id: &str,
        credit_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        self.credit_note_by_reference(auth, credit_id).await
    }

    // Added for the sync engine (h-engine): a create is a draft POST, then (when drafts are
    // converted) the conversion; a draft found after an ambiguous create is converted here.
    async fn complete_invoice(
        &self,
        auth: &ApiAuth,
        found: Remote<Invoice>,
    ) -> Result<Remote<Invoice>, ApiError> {
        match found.remote_id.strip_prefix(DRAFT_PREFIX) {
            Some(id) if self.settings.visma_convert_drafts => self.convert(auth, id).await,
            _ => Ok(found),
        }
    }

    // Visma books a draft row's VAT through its article (module `articles`): the records API
    // checks rows against this copy before storing them.
    fn vat_by_article(&self) -> bool {
        true
    }

    async fn article_vat(
        &self,
        auth: &ApiAuth,
    ) -> Result<Option<crate::domain::ArticleVat>, ApiError> {
        Ok(Some(self.articles(auth, true).await?.vat_register()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn query_values_are_formatted_for_visma() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        assert_eq!(utc_param(t), "2026-11-22T10:00:00.000Z");
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    }
}
