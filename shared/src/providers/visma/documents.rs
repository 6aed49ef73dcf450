//! Sending, printing and crediting a Visma eAccounting invoice.
//!
//! Sends are `POST /v2/customerinvoices/{invoiceId}/email` (`EmailApi`, every field defaulting
//! to the customer's) and `…/einvoice` (`ElectronicInvoiceRequestApi.SendType` 1
//! AutoInvoiceElectronic, 2 AutoInvoicePrint: printed and posted by Visma's service); both
//! answer 200 without a body and are never repeated on an unknown outcome. The PDF is
//! `GET …/print` ("The response will be the actual PDF file content"; `…/pdf` answers only a
//! URL). Only a booked invoice can be sent or printed, not a draft.
//!
//! Credit: Visma's document has no credit action and no field naming the invoice a credit
//! invoice credits (`CreditedBy` on the invoice is read-only). A credit note is a draft with
//! `IsCreditInvoice` and the original's rows with negated quantities, carrying our reference
//! for the credit note like any invoice we create, then converted; found again by that
//! reference after an unknown outcome.

use super::client::VismaApi;
use super::mapping::{invoice_reference, DRAFT_PREFIX};
use super::wire::CreditedByIn;
use crate::domain::{CreditState, Invoice};
use crate::http::{ApiError, Call};
use crate::providers::api::{AccountingApi, ApiAuth, Remote, SendMethod};
use reqwest::Method;
use serde_json::json;

/// Visma's rate-limit endpoint of every request here.
const ENDPOINT: &str = "customerinvoices";

impl VismaApi {
    fn booked_id<'a>(remote_id: &'a str, what: &str) -> Result<&'a str, ApiError> {
        match remote_id.strip_prefix(DRAFT_PREFIX) {
            None => Ok(remote_id),
            Some(_) => Err(ApiError::InvalidData {
                code: None,
                message: format!("a Visma invoice draft cannot be {what}; book (convert) it first"),
                field: None,
            }),
        }
    }

    /// Sends the invoice through Visma's own action for `method`.
    pub(super) async fn send_by(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        method: SendMethod,
    ) -> Result<&'static str, ApiError> {
        let id = Self::booked_id(remote_id, "sent")?;
        let (action, body, described) = match method {
            SendMethod::Email => (
                "email",
                json!({}),
                "POST /v2/customerinvoices/{invoiceId}/email",
            ),
            SendMethod::Einvoice => (
                "einvoice",
                json!({"SendType": 1}),
                "POST /v2/customerinvoices/{invoiceId}/einvoice (SendType 1, AutoInvoiceElectronic)",
            ),
            SendMethod::Print => (
                "einvoice",
                json!({"SendType": 2}),
                "POST /v2/customerinvoices/{invoiceId}/einvoice (SendType 2, AutoInvoicePrint)",
            ),
        };
        let call = Call::with_body(
            Method::POST,
            self.url(&[ENDPOINT, id, action]),
            Self::json(&body)?,
        );
        self.send(auth, ENDPOINT, call).await?;
        Ok(described)
    }

    /// The invoice's PDF (`GET /v2/customerinvoices/{invoiceId}/print`).
    pub(super) async fn print(&self, auth: &ApiAuth, remote_id: &str) -> Result<Vec<u8>, ApiError> {
        let id = Self::booked_id(remote_id, "printed")?;
        self.send_raw(
            auth,
            ENDPOINT,
            Call::get(self.url(&[ENDPOINT, id, "print"])),
        )
        .await
    }

    /// Makes and books the credit note of `original` under our id `credit_id`.
    pub(super) async fn credit_note(
        &self,
        auth: &ApiAuth,
        original: &Remote<Invoice>,
        credit_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        Self::booked_id(&original.remote_id, "credited")?;
        let customer = original.customer_remote_id.clone().ok_or_else(|| {
            ApiError::unexpected(format!(
                "Visma invoice {} names no customer",
                original.remote_id
            ))
        })?;
        let note = credit_note_of(
            original,
            credit_id,
            chrono::Utc::now()
                .with_timezone(&chrono_tz::Europe::Stockholm)
                .date_naive(),
        );
        self.post_invoice(auth, &note, &customer).await
    }

    /// The credit note made under our id `credit_id`, booked if it stopped as a draft.
    pub(super) async fn credit_note_by_reference(
        &self,
        auth: &ApiAuth,
        credit_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        match self
            .invoice_by_reference(auth, &invoice_reference(credit_id))
            .await?
        {
            Some(found) => self.complete_invoice(auth, found).await.map(Some),
            None => Ok(None),
        }
    }
}

/// The credit note of `original`: its rows with negated quantities, dated `today`.
fn credit_note_of(
    original: &Remote<Invoice>,
    credit_id: &str,
    today: chrono::NaiveDate,
) -> Invoice {
    let mut note = original.record.clone();
    note.id = credit_id.to_string();
    note.invoice_date = today;
    note.due_date = None;
    note.totals = None;
    note.payment = None;
    note.cancelled = false;
    note.updated_at = None;
    note.credit = Some(CreditState {
        credit_note: true,
        credits_remote_id: Some(original.remote_id.clone()),
        credited_by_remote_ids: Vec::new(),
    });
    for row in &mut note.rows {
        row.quantity = -row.quantity;
    }
    note
}

/// The credit link of a Visma invoice or draft.
pub(super) fn credit_of(
    is_credit_invoice: Option<bool>,
    credited_by: &Option<Vec<CreditedByIn>>,
) -> Option<CreditState> {
    CreditState {
        credit_note: is_credit_invoice.unwrap_or(false),
        credits_remote_id: None,
        credited_by_remote_ids: credited_by
            .iter()
            .flatten()
            .filter_map(|c| c.credit_invoice_id.clone())
            .collect(),
    }
    .of()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Decimal;

    #[test]
    fn a_credit_note_negates_quantities_and_names_the_original() {
        let original = Remote {
            remote_id: "9f0c".into(),
            record: serde_json::from_value(serde_json::json!({
                "id": "", "customer_id": "c1", "invoice_date": "2026-11-02",
                "rows": [{"description": "Arbete", "article_number": "1", "quantity": "3",
                          "unit_price": "450", "vat_rate": "25"}]
            }))
            .unwrap(),
            our_reference: Some("inv-1".into()),
            modified_at: None,
            customer_remote_id: Some("c1".into()),
            editable: false,
        };
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let note = credit_note_of(&original, "inv-1-credit", day);
        assert_eq!(note.id, "inv-1-credit");
        assert_eq!(note.invoice_date, day);
        for (a, b) in note.rows.iter().zip(&original.record.rows) {
            assert_eq!(a.quantity, -b.quantity);
            assert_eq!(a.unit_price, b.unit_price);
        }
        assert!(note.rows.iter().any(|r| r.quantity < Decimal::ZERO));
        let c = note.credit.unwrap();
        assert!(c.credit_note);
        assert_eq!(c.credits_remote_id.as_deref(), Some("9f0c"));
    }

    #[test]
    fn credited_by_is_read() {
        let by = Some(vec![CreditedByIn {
            credit_invoice_id: Some("77".into()),
        }]);
        let c = credit_of(Some(false), &by).unwrap();
        assert_eq!(c.credited_by_remote_ids, vec!["77".to_string()]);
        assert_eq!(credit_of(None, &None), None);
    }
}
