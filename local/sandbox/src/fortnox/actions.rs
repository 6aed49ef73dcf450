//! Invoice actions: `PUT /3/invoices/{DocumentNumber}/bookkeep`, `…/cancel`, `…/credit`.
//! Each answers the invoice acted on.
//!
//! Booking sets `Booked` and the voucher (`VoucherSeries` "B", `VoucherNumber`,
//! `VoucherYear` of the invoice date); a booked invoice can't be cancelled, only credited.
//! Crediting creates a linked credit invoice (negated quantities, `Credit: "true"`,
//! `CreditInvoiceReference` pointing back) and settles the original (`Balance` 0).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::put;
use axum::Router;
use chrono::{Datelike, NaiveDate};
use serde_json::{json, Value};

use super::amounts::recompute;
use super::codes::CODE_INVALID_ACTION;
use super::common::{base_url, company_key, ok};
use super::data::{FortnoxData, Record};
use super::errors::{bad_request, invoice_not_found, ApiError};
use super::invoices::{document_number, ocr, render_invoice, set_due_date};
use super::query::today;
use crate::clock::Clock;
use crate::lenient::{bool_field, dec_field, str_field, two_decimals};
use crate::state::SandboxState;

/// Action routes, merged into the Fortnox router (nested under `/fortnox`).
pub(super) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route(
            "/3/invoices/{DocumentNumber}/bookkeep",
            put(bookkeep_invoice),
        )
        .route("/3/invoices/{DocumentNumber}/cancel", put(cancel_invoice))
        .route("/3/invoices/{DocumentNumber}/credit", put(credit_invoice))
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Bookkeep,
    Cancel,
    Credit,
}

fn invoice_action(
    state: &SandboxState,
    headers: &HeaderMap,
    raw: &str,
    action: Action,
) -> Result<Response, ApiError> {
    let key = company_key(state, headers, "invoice")?;
    let number = document_number(raw)?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    match action {
        Action::Bookkeep => data.bookkeep(number, clock)?,
        Action::Cancel => data.cancel(number, clock)?,
        Action::Credit => data.credit(number, clock)?,
    }
    let record = data
        .invoices
        .get(&number)
        .ok_or_else(|| invoice_not_found(raw))?;
    Ok(ok(
        json!({"Invoice": render_invoice(&base_url(headers), &record.body)}),
    ))
}

async fn bookkeep_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    invoice_action(&state, &headers, &raw, Action::Bookkeep)
}

async fn cancel_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    invoice_action(&state, &headers, &raw, Action::Cancel)
}

async fn credit_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    invoice_action(&state, &headers, &raw, Action::Credit)
}

impl FortnoxData {
    fn bookkeep(&mut self, number: u64, clock: &mut Clock) -> Result<(), ApiError> {
        self.next_voucher_number = self.next_voucher_number.max(1);
        let voucher = self.next_voucher_number;
        let record = self.invoice_mut(number)?;
        if bool_field(&record.body, "Cancelled") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är makulerad och kan inte bokföras."),
            ));
        }
        if bool_field(&record.body, "Booked") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är redan bokförd."),
            ));
        }
        let year = NaiveDate::parse_from_str(str_field(&record.body, "InvoiceDate"), "%Y-%m-%d")
            .map(|d| d.year())
            .unwrap_or_else(|_| today().year());
        record.body.insert("Booked".into(), Value::Bool(true));
        record.body.insert("VoucherSeries".into(), Value::from("B"));
        record
            .body
            .insert("VoucherNumber".into(), Value::from(voucher));
        record.body.insert("VoucherYear".into(), Value::from(year));
        let at = clock.tick();
        record.modified = at;
        self.next_voucher_number = voucher + 1;
        self.changed("invoices", "invoice-bookkeep-v1", number.to_string(), at);
        Ok(())
    }

    fn cancel(&mut self, number: u64, clock: &mut Clock) -> Result<(), ApiError> {
        let record = self.invoice_mut(number)?;
        if bool_field(&record.body, "Booked") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!(
                    "Faktura {number} är bokförd och kan inte makuleras. Kreditera den i stället."
                ),
            ));
        }
        if bool_field(&record.body, "Cancelled") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är redan makulerad."),
            ));
        }
        record.body.insert("Cancelled".into(), Value::Bool(true));
        recompute(&mut record.body);
        let at = clock.tick();
        record.modified = at;
        self.changed("invoices", "invoice-cancelled-v1", number.to_string(), at);
        Ok(())
    }

    /// Creates a credit invoice for `number` (rows with negated quantities, `Credit: "true"`,
    /// `CreditInvoiceReference` pointing back) and links the original to it.
    fn credit(&mut self, number: u64, clock: &mut Clock) -> Result<(), ApiError> {
        let original = self.invoice_mut(number)?.body.clone();
        if bool_field(&original, "Cancelled") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är makulerad och kan inte krediteras."),
            ));
        }
        if str_field(&original, "Credit") == "true" {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är en kreditfaktura och kan inte krediteras."),
            ));
        }
        if str_field(&original, "CreditInvoiceReference") != "0" {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!("Faktura {number} är redan krediterad."),
            ));
        }
        let credit_number = self.assign_document_number();
        let mut credit = original.clone();
        for field in [
            "VoucherNumber",
            "VoucherSeries",
            "VoucherYear",
            "FinalPayDate",
            "LastRemindDate",
        ] {
            credit.remove(field);
        }
        credit.insert(
            "DocumentNumber".into(),
            Value::String(credit_number.to_string()),
        );
        credit.insert("OCR".into(), Value::String(ocr(credit_number)));
        credit.insert("Credit".into(), Value::from("true"));
        credit.insert(
            "CreditInvoiceReference".into(),
            Value::String(number.to_string()),
        );
        credit.insert("Booked".into(), Value::Bool(false));
        credit.insert("Sent".into(), Value::Bool(false));
        credit.insert(
            "InvoiceDate".into(),
            Value::String(today().format("%Y-%m-%d").to_string()),
        );
        set_due_date(&mut credit);
        if let Some(Value::Array(rows)) = credit.get_mut("InvoiceRows") {
            for row in rows.iter_mut().filter_map(Value::as_object_mut) {
                let q = dec_field(row, "DeliveredQuantity");
                row.insert("DeliveredQuantity".into(), Value::String(two_decimals(-q)));
            }
        }
        recompute(&mut credit);
        let now = clock.tick();
        self.invoices.insert(
            credit_number,
            Record {
                body: credit,
                modified: now,
            },
        );
        self.changed(
            "invoices",
            "invoice-created-v1",
            credit_number.to_string(),
            now,
        );
        let record = self.invoice_mut(number)?;
        record.body.insert(
            "CreditInvoiceReference".into(),
            Value::String(credit_number.to_string()),
        );
        recompute(&mut record.body);
        let at = clock.tick();
        record.modified = at;
        self.changed("invoices", "invoice-updated-v1", number.to_string(), at);
        Ok(())
    }
}
