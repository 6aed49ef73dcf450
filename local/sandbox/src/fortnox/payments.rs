//! Invoice payments: `GET|POST /3/invoicepayments`, `GET|PUT|DELETE /3/invoicepayments/{Number}`,
//! `PUT /3/invoicepayments/{Number}/bookkeep` (scope `payment`). Bodies
//! `fortnox_Kf_InvoicePaymentSinglePayloadItem` in (`InvoiceNumber` required), answers
//! `fortnox_Kf_InvoicePaymentSingleItem` / `…ListItem`.
//!
//! A payment is registered unbooked (`Booked: false`) and counts against its invoice at once:
//! the invoice's `Balance` drops by `Amount` (rounded to öre), `FinalPayDate` is the payment
//! date of the payment that brings it to 0, and the invoice counts as modified (it shows in
//! `lastmodified` listings and makes an `invoice-updated-v1` event). Only a booked invoice
//! takes payments; an unbooked payment can be changed or deleted (which gives the amount back),
//! a booked one cannot. `Amount` defaults to the invoice's balance and `PaymentDate` to today;
//! `AmountCurrency` equals `Amount` for SEK. The stream's `invoicepayments` topic gets
//! `invoicepayment-created-v1`, `-updated-v1`, `-bookkeep-v1` and `-deleted-v1`, entityId the
//! payment's `Number`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::codes::{CODE_INVALID_ACTION, CODE_REQUIRED_FIELD};
use super::common::{base_url, company_key, created, ok, parse_wrapped};
use super::data::{FortnoxData, Record};
use super::errors::{bad_request, invalid_value, not_found, ApiError};
use super::fields::{apply_field, Kind};
use super::query::{parse_lastmodified, parse_query, today, Paging};
use super::shape::{render, shape, PAYMENT_LIST, PAYMENT_SINGLE};
use crate::clock::Clock;
use crate::lenient::{bool_field, dec_field, integer, money, round2, str_field};
use crate::state::SandboxState;

const SCOPE: &str = "payment";
const PARAMS: &[&str] = &["sortby", "invoicenumber", "lastmodified"];

/// Payment routes, merged into the Fortnox router (nested under `/fortnox`).
pub(super) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/3/invoicepayments", get(list).post(create))
        .route(
            "/3/invoicepayments/{Number}",
            get(get_one).put(update).delete(delete),
        )
        .route("/3/invoicepayments/{Number}/bookkeep", put(bookkeep))
}

fn payment_not_found(raw: &str) -> ApiError {
    not_found(format!("Kan inte hitta inbetalningen \"{raw}\"."))
}

fn number(raw: &str) -> Result<u64, ApiError> {
    raw.trim().parse().map_err(|_| payment_not_found(raw))
}

fn with_url(base: &str, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut body = stored.clone();
    body.insert(
        "@url".into(),
        Value::String(format!(
            "{base}/invoicepayments/{}",
            str_field(stored, "Number")
        )),
    );
    body
}

fn single(base: &str, r: &Record) -> Value {
    json!({"InvoicePayment": render(shape(PAYMENT_SINGLE), &with_url(base, &r.body))})
}

async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let query = parse_query(query.as_deref(), PARAMS)?;
    let paging = Paging::from_query(&query)?;
    let since = query
        .get("lastmodified")
        .map(|s| parse_lastmodified(s))
        .transpose()?;
    // `invoicenumber` matches the whole number here (the document does not say otherwise).
    let invoice = query.get("invoicenumber").map(|s| s.trim().to_string());
    let base = base_url(&headers);
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let matches: Vec<&Record> = data
        .payments
        .values()
        .filter(|r| since.is_none_or(|t| r.modified >= t))
        .filter(|r| {
            invoice.as_deref().is_none_or(|n| {
                r.body.get("InvoiceNumber").map(Value::to_string).as_deref() == Some(n)
            })
        })
        .collect();
    let (page, meta) = paging.apply(&matches);
    let items: Vec<Value> = page
        .iter()
        .map(|r| Value::Object(render(shape(PAYMENT_LIST), &with_url(&base, &r.body))))
        .collect();
    Ok(ok(
        json!({"InvoicePayments": items, "MetaInformation": meta}),
    ))
}

async fn get_one(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let n = number(&raw)?;
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let r = data
        .payments
        .get(&n)
        .ok_or_else(|| payment_not_found(&raw))?;
    Ok(ok(single(&base_url(&headers), r)))
}

async fn create(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let input = parse_wrapped(&body, "InvoicePayment")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let n = data.create_payment(&input, clock)?;
    Ok(created(single(&base_url(&headers), &data.payments[&n])))
}

async fn update(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let n = number(&raw)?;
    let input = parse_wrapped(&body, "InvoicePayment")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    data.update_payment(n, &input, false, clock)?;
    Ok(ok(single(&base_url(&headers), &data.payments[&n])))
}

async fn bookkeep(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let n = number(&raw)?;
    // The document gives the bookkeep action the update's body; an empty one changes nothing.
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        parse_wrapped(&body, "InvoicePayment")?
    };
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    data.update_payment(n, &input, true, clock)?;
    Ok(ok(single(&base_url(&headers), &data.payments[&n])))
}

async fn delete(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let n = number(&raw)?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    data.delete_payment(n, clock)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn locked(n: u64) -> ApiError {
    bad_request(
        CODE_INVALID_ACTION,
        format!("Inbetalning {n} är bokförd och kan inte ändras."),
    )
}

impl FortnoxData {
    fn create_payment(
        &mut self,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<u64, ApiError> {
        let invoice_number = match input.get("InvoiceNumber").map(integer) {
            Some(Ok(Some(n))) if n > 0 => n as u64,
            Some(Ok(None)) | None => {
                return Err(bad_request(
                    CODE_REQUIRED_FIELD,
                    "Fältet InvoiceNumber måste anges.",
                ))
            }
            Some(_) => return Err(invalid_value("InvoiceNumber", &input["InvoiceNumber"])),
        };
        let invoice = self.invoice_mut(invoice_number)?.body.clone();
        if !bool_field(&invoice, "Booked") || bool_field(&invoice, "Cancelled") {
            return Err(bad_request(
                CODE_INVALID_ACTION,
                format!(
                    "Faktura {invoice_number} måste vara bokförd för att ta emot inbetalningar."
                ),
            ));
        }
        self.next_payment_number = self.next_payment_number.max(1);
        let n = self.next_payment_number;
        self.next_payment_number = n + 1;
        let mut body = Map::new();
        for (k, v) in [
            ("Number", Value::String(n.to_string())),
            ("InvoiceNumber", Value::from(invoice_number)),
            ("Amount", money(dec_field(&invoice, "Balance"))),
            (
                "Currency",
                invoice.get("Currency").cloned().unwrap_or(Value::Null),
            ),
            ("CurrencyRate", Value::from(1)),
            ("CurrencyUnit", Value::from(1)),
            (
                "PaymentDate",
                Value::String(today().format("%Y-%m-%d").to_string()),
            ),
            ("Booked", Value::Bool(false)),
            ("Source", Value::from("manual")),
            ("ModeOfPayment", Value::from("BG")),
            ("ModeOfPaymentAccount", Value::from(1930)),
            (
                "InvoiceCustomerNumber",
                invoice
                    .get("CustomerNumber")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            (
                "InvoiceCustomerName",
                invoice.get("CustomerName").cloned().unwrap_or(Value::Null),
            ),
            (
                "InvoiceDueDate",
                invoice.get("DueDate").cloned().unwrap_or(Value::Null),
            ),
            (
                "InvoiceOCR",
                invoice.get("OCR").cloned().unwrap_or(Value::Null),
            ),
            (
                "InvoiceTotal",
                invoice.get("Total").cloned().unwrap_or(Value::Null),
            ),
            (
                "ExternalInvoiceReference1",
                invoice
                    .get("ExternalInvoiceReference1")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            (
                "ExternalInvoiceReference2",
                invoice
                    .get("ExternalInvoiceReference2")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            ("WriteOffExist", Value::Bool(false)),
            ("WriteOffs", json!([])),
        ] {
            body.insert(k.into(), v);
        }
        apply_payment_fields(&mut body, input)?;
        let at = clock.tick();
        self.payments.insert(n, Record { body, modified: at });
        self.changed(
            "invoicepayments",
            "invoicepayment-created-v1",
            n.to_string(),
            at,
        );
        self.settle(invoice_number, clock)?;
        Ok(n)
    }

    fn update_payment(
        &mut self,
        n: u64,
        input: &Map<String, Value>,
        book: bool,
        clock: &mut Clock,
    ) -> Result<(), ApiError> {
        let record = self
            .payments
            .get_mut(&n)
            .ok_or_else(|| payment_not_found(&n.to_string()))?;
        if bool_field(&record.body, "Booked") {
            return Err(locked(n));
        }
        apply_payment_fields(&mut record.body, input)?;
        if book {
            record.body.insert("Booked".into(), Value::Bool(true));
            self.next_voucher_number = self.next_voucher_number.max(1);
            let voucher = self.next_voucher_number;
            self.next_voucher_number = voucher + 1;
            record.body.insert("VoucherSeries".into(), Value::from("C"));
            record
                .body
                .insert("VoucherNumber".into(), Value::from(voucher));
            record.body.insert(
                "VoucherYear".into(),
                Value::from(chrono::Datelike::year(&today())),
            );
        }
        let at = clock.tick();
        record.modified = at;
        let invoice = record
            .body
            .get("InvoiceNumber")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let kind = if book {
            "invoicepayment-bookkeep-v1"
        } else {
            "invoicepayment-updated-v1"
        };
        self.changed("invoicepayments", kind, n.to_string(), at);
        self.settle(invoice, clock)
    }

    fn delete_payment(&mut self, n: u64, clock: &mut Clock) -> Result<(), ApiError> {
        let record = self
            .payments
            .get(&n)
            .ok_or_else(|| payment_not_found(&n.to_string()))?;
        if bool_field(&record.body, "Booked") {
            return Err(locked(n));
        }
        let invoice = record
            .body
            .get("InvoiceNumber")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        self.payments.remove(&n);
        let at = clock.tick();
        self.changed(
            "invoicepayments",
            "invoicepayment-deleted-v1",
            n.to_string(),
            at,
        );
        self.settle(invoice, clock)
    }

    /// Sets invoice `number`'s `Balance` (its total less its payments) and `FinalPayDate`
    /// after a payment changed, and marks the invoice modified when they changed.
    fn settle(&mut self, number: u64, clock: &mut Clock) -> Result<(), ApiError> {
        let mut paid: Vec<(String, Decimal)> = self
            .payments
            .values()
            .filter(|p| p.body.get("InvoiceNumber").and_then(Value::as_u64) == Some(number))
            .map(|p| {
                (
                    str_field(&p.body, "PaymentDate").to_string(),
                    dec_field(&p.body, "Amount"),
                )
            })
            .collect();
        paid.sort();
        let record = self.invoice_mut(number)?;
        let credited = str_field(&record.body, "CreditInvoiceReference") != "0"
            && !str_field(&record.body, "CreditInvoiceReference").is_empty();
        let total = dec_field(&record.body, "Total");
        let sum: Decimal = paid.iter().map(|(_, a)| *a).sum();
        let balance = if credited {
            Decimal::ZERO
        } else {
            round2(total - sum)
        };
        let final_pay = (!total.is_zero() && !credited && balance.is_zero())
            .then(|| paid.last().map(|(d, _)| Value::String(d.clone())))
            .flatten()
            .unwrap_or(Value::Null);
        let before = (
            record.body.get("Balance").cloned(),
            record.body.get("FinalPayDate").cloned(),
        );
        record.body.insert("Balance".into(), money(balance));
        record.body.insert("FinalPayDate".into(), final_pay);
        if before
            != (
                record.body.get("Balance").cloned(),
                record.body.get("FinalPayDate").cloned(),
            )
        {
            let at = clock.tick();
            record.modified = at;
            self.changed("invoices", "invoice-updated-v1", number.to_string(), at);
        }
        Ok(())
    }
}

/// The writable fields of a payment the sandbox keeps (others are ignored).
fn apply_payment_fields(
    body: &mut Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (name, value) in input {
        let kind = match name.as_str() {
            "Amount" | "AmountCurrency" | "CurrencyRate" | "CurrencyUnit" => Kind::Number,
            "PaymentDate" => Kind::Date,
            "ModeOfPayment" => Kind::Text(20),
            "ModeOfPaymentAccount" => Kind::Int {
                min: 1000,
                max: 9999,
            },
            _ => continue,
        };
        apply_field(body, name, kind, value)?;
    }
    let amount = round2(dec_field(body, "Amount"));
    body.insert("Amount".into(), money(amount));
    if str_field(body, "Currency") == "SEK" || !input.contains_key("AmountCurrency") {
        body.insert("AmountCurrency".into(), money(amount));
    }
    Ok(())
}
