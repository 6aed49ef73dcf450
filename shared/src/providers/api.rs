//! The data API both accounting systems offer the sync engine: customers and invoices, read
//! incrementally, created with our own reference, updated, and found again by that reference.

use super::catalog::CatalogApi;
use super::CompanyInfo;
use crate::domain::{ArticleVat, Customer, Entity, Integration, Invoice, ProviderKind, Secret};
use crate::http::outbound::Stats;
use crate::http::ApiError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// What a call needs to act for one connected company.
#[derive(Debug, Clone)]
pub struct ApiAuth {
    /// A valid access token.
    pub access_token: Secret,
    /// The provider-side company: the rate-limit scope on Fortnox (whose limit is per tenant)
    /// and the cache key of per-company lookups (Visma terms of payment, articles).
    pub tenant_key: String,
}

impl ApiAuth {
    /// Auth for `integration`: keyed by the provider's company id (Fortnox `DatabaseNumber`),
    /// or our integration id when that is unknown.
    pub fn for_integration(integration: &Integration, access_token: Secret) -> Self {
        ApiAuth {
            access_token,
            tenant_key: integration
                .provider_company_id
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| integration.id.clone()),
        }
    }
}

/// A record as a provider holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote<T> {
    /// The provider's id (Fortnox `CustomerNumber`/`DocumentNumber`, Visma GUID; a Visma
    /// invoice draft that was never converted is `draft:<GUID>`).
    pub remote_id: String,
    /// The record in canonical form. `id` is our id when the record carries our reference in
    /// the clear (Fortnox), otherwise empty; for invoices `customer_id` holds the provider's
    /// customer id, see [`Remote::customer_remote_id`].
    pub record: T,
    /// Our reference as stored at the provider (see [`AccountingApi::reference_key`]).
    pub our_reference: Option<String>,
    /// When the provider last changed it, when the provider says.
    pub modified_at: Option<DateTime<Utc>>,
    /// For invoices: the provider's id of the customer.
    pub customer_remote_id: Option<String>,
    /// Whether the provider still accepts changes (false for a booked or cancelled Fortnox
    /// invoice and for any converted Visma invoice: credit it instead).
    pub editable: bool,
}

/// A provider record on a page that could not be read or mapped: set aside (quarantined) by
/// the engine while the rest of the page goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The provider's id of the record (empty when even that could not be read).
    pub remote_id: String,
    /// The field at fault, when known.
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl Unreadable {
    /// Sorts the outcome of reading one record of a page: a record that cannot be read or
    /// mapped (an unexpected shape, a value out of range) is set aside; any other failure
    /// (network, rate limit, authorisation) concerns the whole page and is returned.
    pub fn sort<T>(
        remote_id: Option<String>,
        read: Result<Option<Remote<T>>, ApiError>,
        items: &mut Vec<Remote<T>>,
        unreadable: &mut Vec<Unreadable>,
    ) -> Result<(), ApiError> {
        let (field, message) = match read {
            Ok(Some(r)) => {
                items.push(r);
                return Ok(());
            }
            Ok(None) => return Ok(()), // deleted between the list and the read
            Err(ApiError::Unexpected { message }) => (field_named_in(&message), message),
            Err(ApiError::InvalidData { message, field, .. }) => (field, message),
            Err(other) => return Err(other),
        };
        tracing::warn!(remote_id = remote_id.as_deref().unwrap_or(""), field = field.as_deref().unwrap_or(""), %message, "provider record unreadable; set aside");
        unreadable.push(Unreadable {
            remote_id: remote_id.unwrap_or_default(),
            field,
            message,
        });
        Ok(())
    }
}

/// The field a parse error names (`… field InvoiceRows[0].Price: invalid type …`).
fn field_named_in(message: &str) -> Option<String> {
    let rest = &message[message.find("field ")? + "field ".len()..];
    let name = rest.split([':', ' ']).next()?.trim();
    (!name.is_empty() && name != ".").then(|| name.to_string())
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// Records of this page, complete.
    pub items: Vec<Remote<T>>,
    /// Whether a further page exists.
    pub has_more: bool,
    /// The page to ask for next (pages count from 1).
    pub next_page: u32,
    /// A time such that every change after it shows up in a later incremental pull. Keep the
    /// smallest value over the pages of one pull and store it once the last page is done; the
    /// overlap window (clock skew, Fortnox's whole-second resolution) is the caller's.
    pub high_water: Option<DateTime<Utc>>,
    /// Records of this page that could not be read or mapped.
    pub unreadable: Vec<Unreadable>,
}

/// One page of ids only: the cheap full pass that finds deletions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPage {
    /// The provider ids on this page.
    pub ids: Vec<String>,
    /// Whether a further page exists.
    pub has_more: bool,
    /// The page to ask for next.
    pub next_page: u32,
}

/// Actions on an existing invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceAction {
    /// Book it (Fortnox bookkeep; Visma converts a draft into an invoice).
    Bookkeep,
    /// Cancel an unbooked invoice (Fortnox).
    Cancel,
    /// Credit it: the provider creates a credit invoice (Fortnox).
    Credit,
}

/// How an invoice reaches its customer through the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendMethod {
    /// By e-mail, to the customer's invoice e-mail address.
    Email,
    /// As an e-invoice (Peppol/Svefaktura, through the provider's service).
    Einvoice,
    /// On paper, printed and posted by the provider's service.
    Print,
}

impl SendMethod {
    /// The method's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SendMethod::Email => "email",
            SendMethod::Einvoice => "einvoice",
            SendMethod::Print => "print",
        }
    }
}

/// The data API of one accounting system. Fortnox and Visma implement it; the sync engine only
/// talks to this trait.
#[async_trait]
pub trait AccountingApi: CatalogApi + Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// What this client has sent so far in this container (requests, 429s, retries), for the
    /// worker's metrics.
    fn stats(&self) -> &Stats;

    /// The value stored at the provider as our reference for `our_id` (exact-compare
    /// [`Remote::our_reference`] with it).
    fn reference_key(&self, entity: Entity, our_id: &str) -> String;

    /// The connected company.
    async fn company(&self, auth: &ApiAuth) -> Result<CompanyInfo, ApiError>;

    /// Customers changed after `since` (all when `None`), one page at a time.
    async fn list_customers(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Customer>, ApiError>;

    /// Ids of every customer, one page at a time (the cheapest full pass).
    async fn list_customer_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError>;

    /// One customer; `None` when it does not exist.
    async fn get_customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Customer>>, ApiError>;

    /// The customer created from `customer` (found by our reference `customer.id`, compared
    /// exactly); the other fields only narrow the search.
    async fn find_customer_by_reference(
        &self,
        auth: &ApiAuth,
        customer: &Customer,
    ) -> Result<Option<Remote<Customer>>, ApiError>;

    /// Creates a customer carrying our reference. Never repeated blindly: an unknown outcome
    /// is [`ApiError::Ambiguous`], to be followed by [`Self::find_customer_by_reference`].
    async fn create_customer(
        &self,
        auth: &ApiAuth,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError>;

    /// Writes our fields onto an existing customer.
    async fn update_customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError>;

    /// Invoices changed after `since` (all when `None`), one page at a time.
    async fn list_invoices(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Invoice>, ApiError>;

    /// Ids of every invoice, one page at a time.
    async fn list_invoice_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError>;

    /// One invoice; `None` when it does not exist.
    async fn get_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError>;

    /// The invoice created from `invoice` (found by our reference `invoice.id`, exactly).
    async fn find_invoice_by_reference(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
    ) -> Result<Option<Remote<Invoice>>, ApiError>;

    /// Creates an invoice for the provider's customer `customer_remote_id`. Never repeated
    /// blindly (see [`Self::create_customer`]).
    async fn create_invoice(
        &self,
        auth: &ApiAuth,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError>;

    /// Writes our fields onto an existing, still editable invoice.
    async fn update_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError>;

    /// Books, cancels or credits an invoice; gives the invoice afterwards.
    async fn invoice_action(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        action: InvoiceAction,
    ) -> Result<Remote<Invoice>, ApiError> {
        let _ = (auth, remote_id);
        Err(ApiError::InvalidData {
            code: None,
            message: format!("{} does not support {action:?} on invoices", self.kind()),
            field: None,
        })
    }

    /// Sends an invoice to its customer by `method` through the provider's own send action;
    /// gives the provider request that did it (`GET /3/invoices/{n}/email`). Never repeated
    /// on an unknown outcome (the customer would get it twice).
    async fn send_invoice(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        method: SendMethod,
    ) -> Result<&'static str, ApiError> {
        let _ = (auth, remote_id);
        Err(unsupported(self.kind(), method.as_str()))
    }

    /// The invoice as the provider prints it: a PDF document.
    async fn invoice_pdf(&self, auth: &ApiAuth, remote_id: &str) -> Result<Vec<u8>, ApiError> {
        let _ = (auth, remote_id);
        Err(unsupported(self.kind(), "pdf"))
    }

    /// Credits `original` in full: the provider's credit note, carrying `credit_id` as our
    /// reference where the provider keeps one. Never repeated blindly: after an unknown
    /// outcome, [`Self::find_credit_note`] says whether it was made.
    async fn credit_invoice(
        &self,
        auth: &ApiAuth,
        original: &Remote<Invoice>,
        credit_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        let _ = (auth, original, credit_id);
        Err(unsupported(self.kind(), "credit"))
    }

    /// The credit note of `original_remote_id` made by [`Self::credit_invoice`] with
    /// `credit_id` (or, where the provider links them, any credit note of it), finished when
    /// its making stopped half way.
    async fn find_credit_note(
        &self,
        auth: &ApiAuth,
        original_remote_id: &str,
        credit_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        let _ = (auth, original_remote_id, credit_id);
        Ok(None)
    }

    // Added for the sync engine (h-engine): what finishing a create means is the provider's
    // business, so the engine never asks which provider it talks to.
    /// Finishes an invoice whose create stopped after its first step, as found by our reference
    /// after an ambiguous failure: does what [`Self::create_invoice`] does after its first
    /// request. Nothing by default (a Fortnox create is one request).
    async fn complete_invoice(
        &self,
        auth: &ApiAuth,
        found: Remote<Invoice>,
    ) -> Result<Remote<Invoice>, ApiError> {
        let _ = auth;
        Ok(found)
    }

    /// Whether this provider books a row's VAT through its article (then
    /// [`Self::article_vat`] gives the rates).
    fn vat_by_article(&self) -> bool {
        false
    }

    /// The invoice a payment of the provider's belongs to (Fortnox's stream names a payment,
    /// not its invoice, in its `invoicepayments` events). `None` when the payment is gone or
    /// the provider has no such read.
    async fn invoice_of_payment(
        &self,
        auth: &ApiAuth,
        payment_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let _ = (auth, payment_id);
        Ok(None)
    }

    /// The VAT rate of each article, when this provider books a row's VAT through its article
    /// (the records API then refuses rows asking for another rate before storing them; see
    /// [`crate::domain::ArticleVat`]). `None` by default: the row carries its own VAT.
    async fn article_vat(&self, auth: &ApiAuth) -> Result<Option<ArticleVat>, ApiError> {
        let _ = auth;
        Ok(None)
    }
}

fn unsupported(kind: ProviderKind, what: &str) -> ApiError {
    ApiError::InvalidData {
        code: None,
        message: format!("{kind} does not support `{what}` on invoices"),
        field: None,
    }
}

/// Our id as it fits a field of at most `max` characters: unchanged when it fits, holds only
/// `[A-Za-z0-9_.-]` and is not all digits (providers number their own records with digits),
/// otherwise `#` followed by a hash of it (base32, `max - 1` characters, at most 26: 130 bits).
/// Deterministic, so a lookup computes the same key.
pub fn fit_reference(our_id: &str, max: usize) -> String {
    let plain = our_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !our_id.bytes().all(|b| b.is_ascii_digit());
    if plain && !our_id.is_empty() && our_id.len() <= max {
        return our_id.to_string();
    }
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(our_id.as_bytes());
    let mut out = String::from("#");
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in digest.iter() {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 && out.len() < max.min(27) {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod unreadable_tests {
    use super::*;

    #[test]
    fn a_record_that_cannot_be_read_is_set_aside_other_failures_stop_the_page() {
        let (mut items, mut bad) = (Vec::<Remote<()>>::new(), Vec::new());
        let shape = ApiError::unexpected(
            "Fortnox invoice 7: field InvoiceRows[0].Price: invalid type: map",
        );
        Unreadable::sort(Some("7".into()), Err(shape), &mut items, &mut bad).unwrap();
        assert_eq!(bad[0].remote_id, "7");
        assert_eq!(bad[0].field.as_deref(), Some("InvoiceRows[0].Price"));
        let mapped = ApiError::invalid_field("InvoiceDate", "missing or not a date");
        Unreadable::sort(Some("8".into()), Err(mapped), &mut items, &mut bad).unwrap();
        assert_eq!(bad[1].field.as_deref(), Some("InvoiceDate"));
        let network = ApiError::Retryable {
            message: "reset".into(),
        };
        assert!(Unreadable::sort(Some("9".into()), Err(network), &mut items, &mut bad).is_err());
        assert_eq!((items.len(), bad.len()), (0, 2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_plain_ids_are_kept_long_ones_hashed() {
        assert_eq!(fit_reference("C-1042", 16), "C-1042");
        let uuid = "6f1c2a4e-0b7d-4c1a-9e3f-5a6b7c8d9e01";
        let k = fit_reference(uuid, 16);
        assert_eq!(k.len(), 16);
        assert!(k.starts_with('#'));
        assert_eq!(k, fit_reference(uuid, 16));
        assert_ne!(k, fit_reference("6f1c2a4e-0b7d-4c1a-9e3f-5a6b7c8d9e02", 16));
        assert_eq!(fit_reference(uuid, 36), uuid);
        assert_eq!(fit_reference(uuid, 35).len(), 27);
        assert!(fit_reference("a b", 16).starts_with('#'));
        assert!(
            fit_reference("1042", 16).starts_with('#'),
            "digits look like Visma's own"
        );
    }
}
