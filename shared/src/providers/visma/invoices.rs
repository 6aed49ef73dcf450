//! Visma invoices and drafts: `GET /v2/customerinvoices[/{invoiceId}]`,
//! `GET|POST /v2/customerinvoicedrafts`, `GET|PUT|DELETE /v2/customerinvoicedrafts/{id}` and
//! `POST /v2/customerinvoicedrafts/{id}/convert`.

use super::client::{odata_string, utc_param, VismaApi};
use super::mapping::{draft_in, draft_out, invoice_in, Articles, DRAFT_PREFIX};
use super::wire::{parse, DraftIn, InvoiceIn};
use crate::domain::Invoice;
use crate::http::{ApiError, Call};
use crate::providers::api::{ApiAuth, IdPage, InvoiceAction, Page, Remote, Unreadable};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;

/// In drafts mode the id listing walks the invoices, then the drafts: draft page `n` is page
/// `DRAFT_PAGES + n` of the listing.
pub const DRAFT_PAGES: u32 = 1_000_000;

impl VismaApi {
    fn booked_of(v: Value, articles: &Articles) -> Result<Remote<Invoice>, ApiError> {
        invoice_in(&parse::<InvoiceIn>("invoice", v)?, articles)
    }

    fn draft_of(v: Value, articles: &Articles) -> Result<Remote<Invoice>, ApiError> {
        draft_in(&parse::<DraftIn>("invoice draft", v)?, articles)
    }

    pub(super) async fn invoices_page(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Invoice>, ApiError> {
        let mut call = self.list_call("customerinvoices", page);
        if let Some(t) = since {
            call = call.query("modifiedSinceUtc", utc_param(t));
        }
        let (data, meta) = self.list_page(auth, "customerinvoices", call).await?;
        let articles = self.articles(auth, false).await?;
        let (mut items, mut unreadable) = (Vec::with_capacity(data.len()), Vec::new());
        for v in data {
            let id = v.get("Id").and_then(crate::providers::lenient::text);
            let read = if v.get("Rows").is_some() {
                Self::booked_of(v, &articles).map(Some)
            } else if let Some(id) = &id {
                self.invoice(auth, id).await
            } else {
                Err(ApiError::invalid_field("Id", "a Visma invoice without Id"))
            };
            Unreadable::sort(id, read, &mut items, &mut unreadable)?;
        }
        let (has_more, next_page) = Self::paging(&meta, page);
        Ok(Page {
            items,
            has_more,
            next_page,
            high_water: meta.server_time_utc,
            unreadable,
        })
    }

    /// Ids of every invoice; in drafts mode (`VISMA_CONVERT_DRAFTS=false`) followed by every
    /// draft (`draft:<GUID>`), which are live records there and must not look deleted.
    pub(super) async fn invoice_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        if page > DRAFT_PAGES {
            let p = self
                .id_page(
                    auth,
                    "customerinvoicedrafts",
                    page - DRAFT_PAGES,
                    DRAFT_PREFIX,
                )
                .await?;
            return Ok(IdPage {
                next_page: p.next_page + DRAFT_PAGES,
                ..p
            });
        }
        let mut p = self.id_page(auth, "customerinvoices", page, "").await?;
        if !p.has_more && !self.settings.visma_convert_drafts {
            p.has_more = true;
            p.next_page = DRAFT_PAGES + 1;
        }
        Ok(p)
    }

    pub(super) async fn invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        let (endpoint, id, draft) = match remote_id.strip_prefix(DRAFT_PREFIX) {
            Some(id) => ("customerinvoicedrafts", id, true),
            None => ("customerinvoices", remote_id, false),
        };
        match self
            .send(auth, endpoint, Call::get(self.url(&[endpoint, id])))
            .await
        {
            Ok(v) => {
                let articles = self.articles(auth, false).await?;
                if draft {
                    Self::draft_of(v, &articles).map(Some)
                } else {
                    Self::booked_of(v, &articles).map(Some)
                }
            }
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_in(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
        key: &str,
    ) -> Result<Option<Value>, ApiError> {
        let call = self.list_call(endpoint, 1).query(
            "$filter",
            format!("BuyersOrderReference eq {}", odata_string(key)),
        );
        let (data, _) = self.list_page(auth, endpoint, call).await?;
        // Visma compares strings without regard to case: compare exactly here.
        let mut hits: Vec<Value> = data
            .into_iter()
            .filter(|v| v.get("BuyersOrderReference").and_then(Value::as_str) == Some(key))
            .collect();
        if hits.len() > 1 {
            tracing::warn!(
                count = hits.len(),
                endpoint,
                "several Visma records carry our reference"
            );
        }
        Ok((!hits.is_empty()).then(|| hits.swap_remove(0)))
    }

    pub(super) async fn invoice_by_reference(
        &self,
        auth: &ApiAuth,
        key: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        if let Some(v) = self.find_in(auth, "customerinvoices", key).await? {
            let articles = self.articles(auth, false).await?;
            return Self::booked_of(v, &articles).map(Some);
        }
        if let Some(v) = self.find_in(auth, "customerinvoicedrafts", key).await? {
            let articles = self.articles(auth, false).await?;
            return Self::draft_of(v, &articles).map(Some);
        }
        Ok(None)
    }

    async fn draft_body(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let articles = self.articles(auth, false).await?;
        let draft = match draft_out(invoice, customer_remote_id, &articles) {
            Ok(d) => d,
            // An article (or its coding) may have changed since the list was cached: look
            // once more.
            Err(ApiError::InvalidData { .. }) => {
                let fresh = self.articles(auth, true).await?;
                draft_out(invoice, customer_remote_id, &fresh)?
            }
            Err(e) => return Err(e),
        };
        Self::json(&draft)
    }

    /// Converts a draft into an invoice (`POST …/{id}/convert`). The draft is gone afterwards.
    /// `keepOriginalDraftDate=true` (a documented query parameter) keeps the draft's
    /// `InvoiceDate`; without it Visma dates the invoice on the day of conversion.
    pub async fn convert(
        &self,
        auth: &ApiAuth,
        draft_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        let call = Call {
            method: Method::POST,
            url: self.url(&["customerinvoicedrafts", draft_id, "convert"]),
            query: vec![("keepOriginalDraftDate".into(), "true".into())],
            body: None,
            idempotent: false,
        };
        let v = self.send(auth, "customerinvoicedrafts", call).await?;
        let articles = self.articles(auth, false).await?;
        Self::booked_of(v, &articles)
    }

    /// Converts `draft_id` and, when that definitely failed, deletes the draft so that no
    /// orphan carries our reference.
    async fn convert_or_clean_up(
        &self,
        auth: &ApiAuth,
        draft_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        match self.convert(auth, draft_id).await {
            Ok(r) => Ok(r),
            Err(
                e @ (ApiError::Ambiguous { .. }
                | ApiError::Retryable { .. }
                | ApiError::RateLimited { .. }
                | ApiError::Unexpected { .. }),
            ) => Err(ApiError::Ambiguous {
                message: format!("draft {draft_id} was created; its conversion failed: {e}"),
            }),
            Err(e) => {
                let delete = Call {
                    method: Method::DELETE,
                    url: self.url(&["customerinvoicedrafts", draft_id]),
                    query: Vec::new(),
                    body: None,
                    idempotent: true,
                };
                if let Err(d) = self.send(auth, "customerinvoicedrafts", delete).await {
                    tracing::warn!(draft = draft_id, error = %d, "could not delete an unconvertible draft");
                }
                Err(e)
            }
        }
    }

    pub(super) async fn post_invoice(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        let body = self.draft_body(auth, invoice, customer_remote_id).await?;
        let v = self
            .send(
                auth,
                "customerinvoicedrafts",
                Call::with_body(Method::POST, self.url(&["customerinvoicedrafts"]), body),
            )
            .await?;
        let articles = self.articles(auth, false).await?;
        let draft = Self::draft_of(v, &articles)?;
        if !self.settings.visma_convert_drafts {
            return Ok(draft);
        }
        let id = draft
            .remote_id
            .strip_prefix(DRAFT_PREFIX)
            .unwrap_or(&draft.remote_id)
            .to_string();
        self.convert_or_clean_up(auth, &id).await
    }

    /// Replaces a draft whole (`PUT /v2/customerinvoicedrafts/{id}`); converts it afterwards
    /// unless in drafts mode. A booked invoice cannot be changed.
    pub(super) async fn put_draft(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        let Some(id) = remote_id.strip_prefix(DRAFT_PREFIX) else {
            return Err(ApiError::InvalidData {
                code: None,
                message: "a booked Visma invoice cannot be changed; credit it instead".into(),
                field: None,
            });
        };
        let body = self.draft_body(auth, invoice, customer_remote_id).await?;
        let v = self
            .send(
                auth,
                "customerinvoicedrafts",
                Call::with_body(Method::PUT, self.url(&["customerinvoicedrafts", id]), body),
            )
            .await?;
        if self.settings.visma_convert_drafts {
            return self.convert_or_clean_up(auth, id).await;
        }
        let articles = self.articles(auth, false).await?;
        Self::draft_of(v, &articles)
    }

    pub(super) async fn action(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        action: InvoiceAction,
    ) -> Result<Remote<Invoice>, ApiError> {
        match (action, remote_id.strip_prefix(DRAFT_PREFIX)) {
            (InvoiceAction::Bookkeep, Some(id)) => self.convert(auth, id).await,
            (InvoiceAction::Bookkeep, None) => {
                self.invoice(auth, remote_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound {
                        message: format!("Visma invoice {remote_id}"),
                    })
            }
            (other, _) => Err(ApiError::InvalidData {
                code: None,
                message: format!("Visma invoices do not support {other:?} through this API"),
                field: None,
            }),
        }
    }
}
