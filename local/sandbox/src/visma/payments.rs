//! `POST /v2/customerinvoices/{invoiceId}/payments` (scope `ea:sales`): a payment on a booked
//! invoice. Body and answer (201) are `InvoicePaymentApi`: required `CompanyBankAccountId`,
//! `PaymentAmount` (in the invoice's currency), `PaymentCurrency`, `PaymentType` (1 partial,
//! 2 complete, 3 rounding, 4 bank charge); `PaymentDate` is a `date-time` that may not be in
//! the future (today when left out).
//!
//! The payment lowers the invoice's `RemainingAmountInvoiceCurrency` by `PaymentAmount` and
//! `RemainingAmount` by `DomesticPaymentAmount` (else `PaymentAmount` × `CurrencyRate`); a
//! complete payment (2) settles the rest. `PaymentStatus` becomes 0 (Paid) at 0 remaining,
//! else stays 1 (Unpaid) or 2 (Overdue); `PaymentDate` is the latest payment's; `ModifiedUtc`
//! moves, so the invoice shows in `modifiedSinceUtc` listings. Visma has no read of an
//! invoice's payments, so the sandbox keeps none. Every company has one cheque account,
//! [`BANK_ACCOUNT_ID`]; another `CompanyBankAccountId` is an unknown reference.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codes::{CODE_INVALID_VALUE, CODE_UNKNOWN_REFERENCE, WRITE_SCOPES};
use super::common::{company_key, created, guid, parse_object};
use super::data::VismaData;
use super::errors::{answer, bad_request, invalid, not_found, required, ApiError};
use super::invoices::{day_text, today};
use super::query::utc_text;
use super::schema::{self, conform};
use crate::clock::Clock;
use crate::lenient::{date, dec_field, decimal, money, round2, str_field};
use crate::state::SandboxState;

const SCHEMA: &str = "InvoicePaymentApi";

/// The one bank account (`CompanyBankAccountId`) of every sandbox company.
pub const BANK_ACCOUNT_ID: &str = "0b5e2a6c-1930-4b1a-8c3d-000000001930";

pub(super) async fn create(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, "CustomerInvoice")?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let body = data.pay_invoice(&id, &input, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

impl VismaData {
    fn pay_invoice(
        &mut self,
        id: &str,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        for field in schema::required_fields(SCHEMA) {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let mut body = schema::read_object(SCHEMA, "", input, 0)?;
        if str_field(&body, "CompanyBankAccountId") != BANK_ACCOUNT_ID {
            return Err(bad_request(
                CODE_UNKNOWN_REFERENCE,
                "Validation failed: CompanyBankAccountId does not match any bank account.",
            ));
        }
        let number = *self
            .invoice_index
            .get(id)
            .ok_or_else(|| not_found("CustomerInvoice", id))?;
        let record = self
            .invoices
            .get_mut(&number)
            .ok_or_else(|| not_found("CustomerInvoice", id))?;
        let currency = str_field(&record.body, "CurrencyCode").to_string();
        if !str_field(&body, "PaymentCurrency").eq_ignore_ascii_case(&currency) {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                format!(
                    "Validation failed: PaymentCurrency must be the invoice's currency {currency}."
                ),
            ));
        }
        let kind = body.get("PaymentType").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=4).contains(&kind) {
            return Err(invalid("PaymentType", &body["PaymentType"]));
        }
        let day = match body.get("PaymentDate").map(date) {
            Some(Ok(Some(d))) => d,
            Some(Ok(None)) | None => today(),
            Some(Err(_)) => return Err(invalid("PaymentDate", &body["PaymentDate"])),
        };
        if day > today() {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                "Validation failed: PaymentDate cannot be a future date.",
            ));
        }
        let amount = round2(dec_field(&body, "PaymentAmount"));
        let rate = match record.body.get("CurrencyRate").map(decimal) {
            Some(Ok(Some(r))) if !r.is_zero() => r,
            _ => Decimal::ONE,
        };
        let domestic = match body.get("DomesticPaymentAmount").map(decimal) {
            Some(Ok(Some(d))) => round2(d),
            _ => round2(amount * rate),
        };
        let (mut left, mut left_domestic) = (
            dec_field(&record.body, "RemainingAmountInvoiceCurrency") - amount,
            dec_field(&record.body, "RemainingAmount") - domestic,
        );
        if kind == 2 {
            (left, left_domestic) = (Decimal::ZERO, Decimal::ZERO);
        }
        let due = record
            .body
            .get("DueDate")
            .and_then(|v| date(v).ok().flatten())
            .unwrap_or(NaiveDate::MAX);
        let status = if left.is_zero() {
            0
        } else if due < today() {
            2
        } else {
            1
        };
        let now = clock.tick();
        for (k, v) in [
            ("RemainingAmountInvoiceCurrency", money(left)),
            ("RemainingAmount", money(left_domestic)),
            ("PaymentStatus", Value::from(status)),
            ("PaymentDate", Value::String(day_text(day))),
            ("ModifiedUtc", Value::String(utc_text(now))),
        ] {
            record.body.insert(k.into(), v);
        }
        record.changed = now;
        body.insert("PaymentDate".into(), Value::String(day_text(day)));
        body.insert("PaymentAmount".into(), money(amount));
        body.insert(
            "BankTransactionId".into(),
            Value::String(Uuid::new_v4().to_string()),
        );
        Ok(conform(SCHEMA, body))
    }
}
