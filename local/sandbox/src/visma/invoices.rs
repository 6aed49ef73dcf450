//! `/v2/customerinvoices`: booked invoices. List (`modifiedSinceUtc`, inclusive; `$filter`;
//! paging), get, post (201: booked directly). Bodies are `CustomerInvoiceApi` with
//! `CustomerInvoiceRowApi` rows; `TotalAmount` includes VAT and öre rounding
//! (`TotalRoundings`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{Days, NaiveDate, Utc};
use chrono_tz::Europe::Stockholm;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::codes::{CODE_UNKNOWN_REFERENCE, READ_SCOPES};
use super::common::{company_key, created, guid, ok, parse_object};
use super::data::{Record, VismaData};
use super::errors::{answer, bad_request, not_found, required, ApiError};
use super::listing::{no_check, Listing};
use super::odata::INVOICE_FILTER_FIELDS;
use super::query::utc_text;
use super::rows::{totals, RowKind};
use super::schema::{self, conform};
use crate::clock::Clock;
use crate::lenient::{date, luhn_check_digit, money, str_field};
use crate::state::SandboxState;

const SCHEMA: &str = "CustomerInvoiceApi";

/// Dates are midnight UTC date-times (`2024-05-02T00:00:00Z`): the document types them
/// `format: date-time` (RFC 3339, which needs the zone). Read only the date part.
pub(super) fn day_text(d: NaiveDate) -> String {
    format!("{}T00:00:00Z", d.format("%Y-%m-%d"))
}

pub(super) fn today() -> NaiveDate {
    Utc::now().with_timezone(&Stockholm).date_naive()
}

pub(super) async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    const LISTING: Listing = Listing {
        scopes: READ_SCOPES,
        check: no_check,
        filter_fields: INVOICE_FILTER_FIELDS,
        time_field: "ModifiedUtc",
        modified_since: true,
        records: |d| d.invoices.values().collect(),
        render: |_, r| Value::Object(r.body.clone()),
    };
    answer(LISTING.answer(&state, &headers, query.as_deref()))
}

pub(super) async fn get_one(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let id = guid(&raw, "CustomerInvoice")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        data.invoice(&id)
            .map(|r| ok(Value::Object(r.body.clone())))
            .ok_or_else(|| not_found("CustomerInvoice", &id))
    })())
}

/// `POST /v2/customerinvoices`. The document lists `ea:sales` *and* `ea:sales_readonly`
/// for it; the sandbox follows the document.
pub(super) async fn create(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let body = data.book_invoice(&input, None, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

impl VismaData {
    /// Validates a `CustomerInvoiceApi` request body and books it: number, dates (today and
    /// the terms of payment's days when not given), totals, remaining amount.
    pub(super) fn book_invoice(
        &mut self,
        input: &Map<String, Value>,
        created_from_draft: Option<&str>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        for field in schema::required_fields(SCHEMA) {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let mut header_in = input.clone();
        let rows_in = header_in.remove("Rows");
        let mut body = schema::read_object(SCHEMA, "", &header_in, 0)?;
        let customer_id = str_field(&body, "CustomerId").to_string();
        let customer = self
            .customer(&customer_id)
            .map(|r| r.body.clone())
            .ok_or_else(|| {
                bad_request(
                    CODE_UNKNOWN_REFERENCE,
                    format!(
                        "Validation failed: CustomerId {customer_id} does not match any customer."
                    ),
                )
            })?;
        let terms_id = match body.get("TermsOfPaymentId").and_then(Value::as_str) {
            Some(id) if id != Uuid::nil().to_string() => id.to_string(),
            _ => str_field(&customer, "TermsOfPaymentId").to_string(),
        };
        let terms = self.terms_by_id(&terms_id).cloned().ok_or_else(|| {
            bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: TermsOfPaymentId {terms_id} does not match any terms of payment."),
            )
        })?;
        let replace_zero = body.get("ReplaceUnitPriceWhenZero") == Some(&Value::Bool(true));
        let (rows, lines) = self.build_rows(RowKind::Booked, rows_in.as_ref(), replace_zero)?;
        let t = totals(&lines);
        let invoice_date = body
            .get("InvoiceDate")
            .and_then(|v| date(v).ok().flatten())
            .unwrap_or_else(today);
        let days = terms
            .get("NumberOfDays")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let due = body
            .get("DueDate")
            .and_then(|v| date(v).ok().flatten())
            .unwrap_or_else(|| {
                invoice_date
                    .checked_add_days(Days::new(days))
                    .unwrap_or(invoice_date)
            });
        let number = self.next_invoice_number.max(1);
        self.next_invoice_number = number + 1;
        let id = Uuid::new_v4().to_string();
        let now = clock.tick();
        let reverse_charge = customer.get("ReverseChargeOnConstructionServices")
            == Some(&Value::Bool(true))
            && rows
                .iter()
                .any(|r| r.get("IsVatFree") == Some(&Value::Bool(true)));
        let vat_specification: Vec<Value> = t
            .by_rate
            .iter()
            .map(|(rate, (net, vat))| {
                json!({
                    "AmountInvoiceCurrency": money(*net),
                    "VatAmountInvoiceCurrency": money(*vat),
                    "VatPercent": money(*rate),
                })
            })
            .collect();
        let from_customer = |f: &str| customer.get(f).cloned().unwrap_or(Value::Null);
        for (field, customer_field) in [
            ("InvoiceAddress1", "InvoiceAddress1"),
            ("InvoiceAddress2", "InvoiceAddress2"),
            ("InvoicePostalCode", "InvoicePostalCode"),
            ("InvoiceCity", "InvoiceCity"),
            ("InvoiceCountryCode", "InvoiceCountryCode"),
            ("DeliveryCustomerName", "DeliveryCustomerName"),
            ("DeliveryAddress1", "DeliveryAddress1"),
            ("DeliveryAddress2", "DeliveryAddress2"),
            ("DeliveryPostalCode", "DeliveryPostalCode"),
            ("DeliveryCity", "DeliveryCity"),
            ("DeliveryCountryCode", "DeliveryCountryCode"),
        ] {
            if body.get(field).is_none_or(Value::is_null) {
                body.insert(field.into(), from_customer(customer_field));
            }
        }
        let created_from = created_from_draft
            .map(|d| Value::String(d.to_string()))
            .unwrap_or_else(|| {
                body.get("CreatedFromDraftId")
                    .cloned()
                    .unwrap_or(Value::Null)
            });
        let ocr = format!("{number}{}", luhn_check_digit(&number.to_string()));
        let payment_status = if due < today() && !t.total.is_zero() {
            2
        } else {
            1
        };
        for (k, v) in [
            ("Id", Value::String(id.clone())),
            ("InvoiceNumber", Value::from(number)),
            ("TermsOfPaymentId", Value::String(terms_id)),
            ("InvoiceDate", Value::String(day_text(invoice_date))),
            ("DueDate", Value::String(day_text(due))),
            (
                "CurrencyCode",
                customer
                    .get("CurrencyCode")
                    .cloned()
                    .unwrap_or(Value::from("SEK")),
            ),
            ("Rows", Value::Array(rows)),
            ("VatSpecification", Value::Array(vat_specification)),
            ("TotalAmount", money(t.total)),
            ("TotalVatAmount", money(t.vat)),
            ("TotalRoundings", money(t.roundings)),
            ("TotalAmountInvoiceCurrency", money(t.total)),
            ("TotalVatAmountInvoiceCurrency", money(t.vat)),
            ("SetOffAmountInvoiceCurrency", Value::from(0)),
            ("RemainingAmount", money(t.total)),
            ("RemainingAmountInvoiceCurrency", money(t.total)),
            ("CustomerNumber", from_customer("CustomerNumber")),
            ("CustomerName", from_customer("Name")),
            ("InvoiceCustomerName", from_customer("Name")),
            ("CustomerEmail", from_customer("EmailAddress")),
            ("CustomerIsPrivatePerson", from_customer("IsPrivatePerson")),
            ("PaymentReferenceNumber", Value::String(ocr)),
            ("VoucherNumber", Value::String(format!("F {number}"))),
            ("VoucherId", Value::String(Uuid::new_v4().to_string())),
            (
                "ReverseChargeOnConstructionServices",
                Value::Bool(reverse_charge),
            ),
            (
                "ReversedConstructionVatInvoicing",
                Value::Bool(reverse_charge),
            ),
            ("IncludesVat", Value::Bool(false)),
            ("PaymentStatus", Value::from(payment_status)),
            ("CreatedFromDraftId", created_from),
            ("CreatedUtc", Value::String(utc_text(now))),
            ("ModifiedUtc", Value::String(utc_text(now))),
        ] {
            body.insert(k.into(), v);
        }
        let body = conform(SCHEMA, body);
        self.invoice_index.insert(id, number);
        self.invoices.insert(
            number,
            Record {
                body: body.clone(),
                changed: now,
            },
        );
        self.note_last_invoice_date(&customer_id, invoice_date);
        Ok(body)
    }

    /// The customer's read-only `LastInvoiceDate` (its `ChangedUtc` stays).
    fn note_last_invoice_date(&mut self, customer_id: &str, day: NaiveDate) {
        let Some(key) = self.customer_index.get(customer_id).cloned() else {
            return;
        };
        if let Some(record) = self.customers.get_mut(&key) {
            let later = record
                .body
                .get("LastInvoiceDate")
                .and_then(|v| date(v).ok().flatten())
                .is_none_or(|d| d < day);
            if later {
                record
                    .body
                    .insert("LastInvoiceDate".into(), Value::String(day_text(day)));
            }
        }
    }
}
