//! An invoice's payment state at Fortnox: `Balance` and `FinalPayDate` on the invoice
//! (`fortnox_Kf_InvoiceSingleItem`, both read-only), the payments from
//! `GET /3/invoicepayments?invoicenumber=<DocumentNumber>` (`fortnox_Kf_InvoicePaymentListItem`).
//!
//! Cost: the payments are read only for an invoice something was paid on (`Balance` differs
//! from `Total`, or `FinalPayDate` is set): an unpaid invoice costs no request more, a paid or
//! partly paid one a single list request. The read needs the `payment` scope; a connection
//! consented without it (`NeedsPerson`, Fortnox code 2001101) gets the invoice with
//! `payments: null` (not listed) rather than a failed pull.

use super::client::FortnoxApi;
use super::wire::{parse, InvoiceIn, InvoicePaymentIn};
use crate::domain::{Decimal, Invoice, Payment, PaymentState};
use crate::http::{ApiError, Call};
use crate::providers::api::{ApiAuth, Remote};

/// The payment state of a Fortnox invoice, without the payments when some may exist
/// (`payments: None`: [`FortnoxApi::with_payments`] reads them); `None` without a `Balance`.
pub fn state_of(w: &InvoiceIn) -> Option<PaymentState> {
    let balance = w.balance?;
    let cancelled = w.cancelled.unwrap_or(false);
    // Settled when nothing is left: paid, or credited (Fortnox sets the credited invoice's
    // `Balance` to 0). An invoice of 0 counts as paid only once Fortnox says when
    // (`FinalPayDate`); a cancelled one is never paid.
    let paid = !cancelled
        && balance.is_zero()
        && (w.total.is_some_and(|t| !t.is_zero()) || w.final_pay_date.is_some());
    let untouched = w.total == Some(balance) && w.final_pay_date.is_none();
    Some(PaymentState {
        balance,
        paid,
        paid_date: if paid { w.final_pay_date } else { None },
        payments: (cancelled || untouched).then(Vec::new),
    })
}

/// The canonical payments of Fortnox payment items, oldest first. The amount is in the
/// payment's `Currency`: `AmountCurrency` for a foreign currency, `Amount` (SEK) otherwise.
pub fn payments_in(items: &[InvoicePaymentIn]) -> Vec<Payment> {
    let mut out: Vec<Payment> = items
        .iter()
        .filter_map(|p| {
            let currency = p.currency.clone().map(|c| c.to_ascii_uppercase());
            let foreign = currency.as_deref().is_some_and(|c| c != "SEK");
            let amount = if foreign {
                p.amount_currency.or(p.amount)
            } else {
                p.amount.or(p.amount_currency)
            };
            Some(Payment {
                id: p.number.clone(),
                date: p.payment_date?,
                amount: amount.unwrap_or(Decimal::ZERO),
                currency,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        let n = |p: &Payment| {
            p.id.as_deref()
                .and_then(|i| i.parse::<u64>().ok())
                .unwrap_or(u64::MAX)
        };
        (a.date, n(a)).cmp(&(b.date, n(b)))
    });
    out
}

impl FortnoxApi {
    /// Fills in the payments of `remote` when its payment state says some may exist.
    pub(super) async fn with_payments(
        &self,
        auth: &ApiAuth,
        remote: Remote<Invoice>,
    ) -> Result<Remote<Invoice>, ApiError> {
        // Every read invoice passes here: complete its reverse-charge flag as well.
        let remote = self.with_reverse_charge(auth, remote).await?;
        // … and its ROT/RUT buyers (`/3/taxreductions`).
        let mut remote = self.with_tax_reductions(auth, remote).await?;
        let needed = remote
            .record
            .payment
            .as_ref()
            .is_some_and(|p| p.payments.is_none());
        if !needed {
            return Ok(remote);
        }
        let payments = match self.invoice_payments(auth, &remote.remote_id).await {
            Ok(p) => Some(p),
            Err(ApiError::NeedsPerson { message, .. }) => {
                tracing::warn!(%message, "Fortnox invoice payments not readable (scope `payment` missing?); payments left out");
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(state) = remote.record.payment.as_mut() {
            state.payments = payments;
        }
        Ok(remote)
    }

    /// The `InvoiceNumber` of payment `number` (`GET /3/invoicepayments/{Number}`,
    /// `fortnox_Kf_InvoicePaymentSingleItem`); `None` when it is gone.
    pub(super) async fn payment_invoice(
        &self,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<String>, ApiError> {
        match self
            .send(auth, Call::get(self.url(&["invoicepayments", number])))
            .await
        {
            Ok(v) => {
                let body = v.get("InvoicePayment").cloned().unwrap_or_default();
                let p: InvoicePaymentIn = parse("invoice payment", "Number", body)?;
                Ok(p.invoice_number)
            }
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every payment of invoice `document_number`.
    async fn invoice_payments(
        &self,
        auth: &ApiAuth,
        document_number: &str,
    ) -> Result<Vec<Payment>, ApiError> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let call = self
                .list_call("invoicepayments", page)
                .query("invoicenumber", document_number.to_string());
            let (raw, has_more, next) = self.list_page(auth, call, "InvoicePayments").await?;
            for item in raw {
                let p: InvoicePaymentIn =
                    parse("invoice payment", "Number", serde_json::Value::Object(item))?;
                // `invoicenumber` is a filter of Fortnox's; keep only this invoice's.
                if p.invoice_number.as_deref() == Some(document_number) {
                    items.push(p);
                }
            }
            if !has_more {
                return Ok(payments_in(&items));
            }
            page = next;
        }
    }
}

#[cfg(test)]
#[path = "payments_tests.rs"]
mod tests;
