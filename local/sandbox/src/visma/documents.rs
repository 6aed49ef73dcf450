//! Sending and printing a booked invoice: `POST /v2/customerinvoices/{invoiceId}/email`
//! (`EmailApi`: `Email` defaults to the customer's address, "Default value is the customer's
//! email address"), `POST …/einvoice` (`ElectronicInvoiceRequestApi.SendType` 1
//! AutoInvoiceElectronic, 2 AutoInvoicePrint, 3 AutoInvoiceB2C, 4 Kivra), both 200 without a
//! body; `GET …/print` (the PDF itself) and `GET …/pdf` (`InvoiceUrlApi`, a URL to it). Both
//! send scopes are `ea:sales` or `ea:sales_readonly`, as the document lists them. Every send
//! is recorded ([`crate::SandboxState::sends`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::codes::{CODE_INVALID_VALUE, READ_SCOPES};
use super::common::{company_key, guid, ok, parse_optional_object};
use super::errors::{answer, bad_request, not_found, ApiError};
use crate::lenient::str_field;
use crate::state::{SandboxState, SendRecord};
use crate::ProviderKind;

const WHAT: &str = "CustomerInvoice";

fn send(
    state: &SandboxState,
    headers: &HeaderMap,
    raw: &str,
    body: &[u8],
    einvoice: bool,
) -> Result<Response, ApiError> {
    let key = company_key(state, headers, READ_SCOPES)?;
    let id = guid(raw, WHAT)?;
    let input = parse_optional_object(body)?;
    let mut store = state.rest();
    let (data, _) = store.visma_mut(&key);
    let invoice = data.invoice(&id).ok_or_else(|| not_found(WHAT, &id))?;
    let (method, to) = if einvoice {
        let send_type = input.get("SendType").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=4).contains(&send_type) {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                "SendType must be 1 (AutoInvoiceElectronic), 2 (AutoInvoicePrint), 3 (AutoInvoiceB2C) or 4 (Kivra).",
            ));
        }
        (format!("einvoice:{send_type}"), None)
    } else {
        let to = input
            .get("Email")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| Some(str_field(&invoice.body, "CustomerEmail").to_string()))
            .filter(|s| !s.trim().is_empty());
        if to.is_none() {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                "The customer has no email address: give Email.",
            ));
        }
        ("email".to_string(), to)
    };
    drop(store);
    state.record_send(SendRecord {
        provider: ProviderKind::Visma,
        company: key,
        invoice: id,
        method,
        to,
    });
    Ok(StatusCode::OK.into_response())
}

fn printed(state: &SandboxState, headers: &HeaderMap, raw: &str) -> Result<Vec<u8>, ApiError> {
    let key = company_key(state, headers, READ_SCOPES)?;
    let id = guid(raw, WHAT)?;
    let mut store = state.rest();
    let invoice = store
        .visma_mut(&key)
        .0
        .invoice(&id)
        .ok_or_else(|| not_found(WHAT, &id))?;
    let b = &invoice.body;
    let credit = b.get("IsCreditInvoice") == Some(&Value::Bool(true));
    Ok(crate::pdf::document(&[
        format!(
            "{} {}",
            if credit { "Kreditfaktura" } else { "Faktura" },
            b.get("InvoiceNumber").cloned().unwrap_or(Value::Null)
        ),
        format!("Kund {}", str_field(b, "InvoiceCustomerName")),
        format!("Fakturadatum {}", str_field(b, "InvoiceDate")),
        format!(
            "Att betala {} {}",
            b.get("TotalAmount").cloned().unwrap_or(Value::Null),
            str_field(b, "CurrencyCode")
        ),
    ]))
}

pub(super) async fn email(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer(send(&state, &headers, &raw, &body, false))
}

pub(super) async fn einvoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer(send(&state, &headers, &raw, &body, true))
}

pub(super) async fn print(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer(
        printed(&state, &headers, &raw)
            .map(|pdf| ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response()),
    )
}

pub(super) async fn pdf_url(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer(printed(&state, &headers, &raw).map(|_| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("eaccountingapi.vismaonline.com");
        ok(json!({"Url": format!("http://{host}/visma/v2/customerinvoices/{raw}/print")}))
    }))
}
