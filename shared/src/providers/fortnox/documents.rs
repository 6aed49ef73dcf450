//! Sending, printing and crediting a Fortnox invoice.
//!
//! Fortnox's send actions are GETs that act (`GET /3/invoices/{n}/email`, `…/einvoice`,
//! `…/eprint`: "Send an invoice as e-mail / e-invoice / e-print", each answering the invoice,
//! now `Sent`): they are never repeated on an unknown outcome. `GET …/preview` answers the PDF
//! without setting `Sent` ("The difference between this and the print-endpoint is that
//! property Sent is not set to TRUE"), so fetching a PDF sends nothing. `PUT …/credit` makes
//! the credit note and names it in the invoice's `CreditInvoiceReference`.

use super::client::FortnoxApi;
use super::wire::InvoiceIn;
use crate::domain::{CreditState, Invoice};
use crate::http::{ApiError, Call};
use crate::providers::api::{AccountingApi, ApiAuth, Remote, SendMethod};
use reqwest::Method;

impl FortnoxApi {
    /// Sends the invoice through Fortnox's own action for `method`.
    pub(super) async fn send_by(
        &self,
        auth: &ApiAuth,
        n: &str,
        method: SendMethod,
    ) -> Result<&'static str, ApiError> {
        let (action, described) = match method {
            SendMethod::Email => ("email", "GET /3/invoices/{DocumentNumber}/email"),
            SendMethod::Einvoice => ("einvoice", "GET /3/invoices/{DocumentNumber}/einvoice"),
            SendMethod::Print => ("eprint", "GET /3/invoices/{DocumentNumber}/eprint"),
        };
        let call = Call {
            method: Method::GET,
            url: self.url(&["invoices", n, action]),
            query: Vec::new(),
            body: None,
            // A GET that sends: repeating it after an unknown outcome could send twice.
            idempotent: false,
        };
        let answer = self.send(auth, call).await?;
        Self::invoice_of(&answer)?;
        Ok(described)
    }

    /// The invoice's PDF (`GET /3/invoices/{n}/preview`, which leaves `Sent` alone).
    pub(super) async fn preview(&self, auth: &ApiAuth, n: &str) -> Result<Vec<u8>, ApiError> {
        self.send_raw(auth, Call::get(self.url(&["invoices", n, "preview"])))
            .await
    }

    /// Credits invoice `n` (`PUT /3/invoices/{n}/credit`) and reads the credit note it names.
    pub(super) async fn credit_note(
        &self,
        auth: &ApiAuth,
        n: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        let original = self.credit(auth, n).await?;
        let note = credited_by(&original).ok_or_else(|| {
            ApiError::unexpected(format!(
                "Fortnox credited invoice {n} but names no credit note in CreditInvoiceReference"
            ))
        })?;
        self.get_invoice(auth, &note).await?.ok_or_else(|| {
            ApiError::unexpected(format!("Fortnox credit note {note} of invoice {n} is gone"))
        })
    }

    /// The credit note of invoice `n`, when it has one.
    pub(super) async fn credit_note_of(
        &self,
        auth: &ApiAuth,
        n: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        let Some(original) = self.get_invoice(auth, n).await? else {
            return Ok(None);
        };
        match credited_by(&original) {
            Some(note) => self.get_invoice(auth, &note).await,
            None => Ok(None),
        }
    }
}

/// The credit note an invoice names (none on a credit note itself).
fn credited_by(original: &Remote<Invoice>) -> Option<String> {
    original
        .record
        .credit
        .as_ref()
        .filter(|c| !c.credit_note)
        .and_then(|c| c.credited_by_remote_ids.first().cloned())
}

/// The credit link of a Fortnox invoice: `Credit` "true" makes it a credit note whose
/// `CreditInvoiceReference` is the invoice it credits; on any other invoice a reference other
/// than "0" is its credit note.
pub(super) fn credit_of(w: &InvoiceIn) -> Option<CreditState> {
    let reference = w
        .credit_invoice_reference
        .clone()
        .filter(|r| !r.is_empty() && r != "0");
    let note = w.credit.unwrap_or(false);
    CreditState {
        credit_note: note,
        credits_remote_id: reference.clone().filter(|_| note),
        credited_by_remote_ids: reference.filter(|_| !note).into_iter().collect(),
    }
    .of()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(v: serde_json::Value) -> InvoiceIn {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn credit_links_read_both_ways() {
        let plain = wire(json!({"Credit": "false", "CreditInvoiceReference": "0"}));
        assert_eq!(credit_of(&plain), None);
        let credited = wire(json!({"Credit": "false", "CreditInvoiceReference": "12"}));
        assert_eq!(
            credit_of(&credited).unwrap().credited_by_remote_ids,
            vec!["12".to_string()]
        );
        let note = credit_of(&wire(
            json!({"Credit": "true", "CreditInvoiceReference": "11"}),
        ))
        .unwrap();
        assert!(note.credit_note);
        assert_eq!(note.credits_remote_id.as_deref(), Some("11"));
        assert!(note.credited_by_remote_ids.is_empty());
    }
}
