//! Sending and printing an invoice: `GET /3/invoices/{DocumentNumber}/email`, `…/einvoice`,
//! `…/eprint` (each sends it and answers the invoice, now `Sent`), `…/print` (the PDF, and
//! `Sent`) and `…/preview` (the PDF; "The difference between this and the print-endpoint is
//! that property Sent is not set to TRUE"). Every send is recorded
//! ([`crate::SandboxState::sends`]); e-mail goes to `EmailInformation.EmailAddressTo`, and an
//! invoice without one cannot be e-mailed. A cancelled invoice cannot be sent.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::codes::CODE_INVALID_ACTION;
use super::common::{base_url, company_key, ok};
use super::errors::{bad_request, invoice_not_found, ApiError};
use super::invoices::{document_number, render_invoice};
use crate::lenient::{bool_field, str_field};
use crate::state::{SandboxState, SendRecord};
use crate::ProviderKind;

/// Routes, merged into the Fortnox router (nested under `/fortnox`).
pub(super) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/3/invoices/{DocumentNumber}/email", get(email))
        .route("/3/invoices/{DocumentNumber}/einvoice", get(einvoice))
        .route("/3/invoices/{DocumentNumber}/eprint", get(eprint))
        .route("/3/invoices/{DocumentNumber}/print", get(print))
        .route("/3/invoices/{DocumentNumber}/preview", get(preview))
}

fn send(
    state: &SandboxState,
    headers: &HeaderMap,
    raw: &str,
    method: &str,
) -> Result<Response, ApiError> {
    let key = company_key(state, headers, "invoice")?;
    let number = document_number(raw)?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let record = data.invoice_mut(number)?;
    if bool_field(&record.body, "Cancelled") {
        return Err(bad_request(
            CODE_INVALID_ACTION,
            format!("Faktura {number} är makulerad och kan inte skickas."),
        ));
    }
    let to = record
        .body
        .get("EmailInformation")
        .and_then(|e| e.get("EmailAddressTo"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string);
    if method == "email" && to.is_none() {
        return Err(bad_request(
            CODE_INVALID_ACTION,
            format!("Faktura {number} saknar e-postadress till mottagaren."),
        ));
    }
    record.body.insert("Sent".into(), Value::Bool(true));
    let at = clock.tick();
    record.modified = at;
    let body = render_invoice(&base_url(headers), &record.body);
    data.changed("invoices", "invoice-updated-v1", number.to_string(), at);
    state.record_send(SendRecord {
        provider: ProviderKind::Fortnox,
        company: key,
        invoice: number.to_string(),
        method: method.to_string(),
        to: to.filter(|_| method == "email"),
    });
    Ok(ok(json!({ "Invoice": body })))
}

fn pdf(
    state: &SandboxState,
    headers: &HeaderMap,
    raw: &str,
    mark_sent: bool,
) -> Result<Response, ApiError> {
    let key = company_key(state, headers, "invoice")?;
    let number = document_number(raw)?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let record = data
        .invoices
        .get(&number)
        .ok_or_else(|| invoice_not_found(raw))?;
    let b = &record.body;
    let credit = str_field(b, "Credit") == "true";
    let lines = vec![
        format!(
            "{} {number}",
            if credit { "Kreditfaktura" } else { "Faktura" }
        ),
        format!(
            "Kund {} {}",
            str_field(b, "CustomerNumber"),
            str_field(b, "CustomerName")
        ),
        format!("Fakturadatum {}", str_field(b, "InvoiceDate")),
        format!(
            "Att betala {} {}",
            str_field(b, "Total"),
            str_field(b, "Currency")
        ),
        format!("OCR {}", str_field(b, "OCR")),
    ];
    if mark_sent {
        let at = clock.tick();
        if let Some(record) = data.invoices.get_mut(&number) {
            record.body.insert("Sent".into(), Value::Bool(true));
            record.modified = at;
        }
        data.changed("invoices", "invoice-updated-v1", number.to_string(), at);
        state.record_send(SendRecord {
            provider: ProviderKind::Fortnox,
            company: key,
            invoice: number.to_string(),
            method: "print".into(),
            to: None,
        });
    }
    Ok((
        [(header::CONTENT_TYPE, "application/pdf")],
        crate::pdf::document(&lines),
    )
        .into_response())
}

async fn email(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    send(&state, &headers, &raw, "email")
}

async fn einvoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    send(&state, &headers, &raw, "einvoice")
}

async fn eprint(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    send(&state, &headers, &raw, "eprint")
}

async fn print(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    pdf(&state, &headers, &raw, true)
}

async fn preview(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    pdf(&state, &headers, &raw, false)
}
