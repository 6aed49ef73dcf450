//! Invoices: `GET|POST /3/invoices`, `GET|PUT /3/invoices/{DocumentNumber}` (the actions are
//! in `actions.rs`).
//!
//! A new invoice is pre-filled from its customer; what neither the customer nor the request
//! sets stays unset (`null`). Amounts are computed from the rows ([`super::amounts`]).
//! Read-only fields: `Booked`, `Cancelled`, `Sent` (false until sent; the sandbox never
//! sends), `FinalPayDate` (`null` until fully paid, see `payments.rs`), `Balance` (the total less payments),
//! `VoucherNumber`/`VoucherSeries`/`VoucherYear` (`null` until booked).
//! A written `CostCenter` or `Project` (invoice or row) and a row's `ArticleNumber` must name
//! an existing cost centre, project or article (`registers.rs`): 2001305, 2001306, 2001302.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Days, NaiveDate};
use serde_json::{json, Map, Value};

use super::amounts::recompute;
use super::codes::{
    CODE_CUSTOMER_NOT_FOUND, CODE_DOCUMENT_NUMBER_TAKEN, CODE_INVOICE_LOCKED, CODE_REQUIRED_FIELD,
};
use super::common::{base_url, company_key, created, ok, parse_wrapped};
use super::data::{FortnoxData, Record};
use super::errors::{bad_request, invalid_value, invoice_not_found, ApiError};
use super::fields::{apply_field, Kind};
use super::query::{
    parse_lastmodified, parse_query, sort_records, today, InvoiceFilter, Paging, INVOICE_PARAMS,
    INVOICE_SORT,
};
use super::rows::build_rows;
use super::shape::{render, shape, INVOICE_LIST, INVOICE_SINGLE};
use crate::clock::Clock;
use crate::lenient::{bool_field, date, integer, luhn_check_digit, str_field, string, NatKey};
use crate::state::SandboxState;

/// Invoice routes, merged into the Fortnox router (nested under `/fortnox`).
pub(super) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/3/invoices", get(list_invoices).post(create_invoice))
        .route(
            "/3/invoices/{DocumentNumber}",
            get(get_invoice).put(update_invoice),
        )
}

async fn list_invoices(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "invoice")?;
    let query = parse_query(query.as_deref(), INVOICE_PARAMS)?;
    let paging = Paging::from_query(&query)?;
    let since = query
        .get("lastmodified")
        .map(|s| parse_lastmodified(s))
        .transpose()?;
    let filter = InvoiceFilter::from_query(&query)?;
    let base = base_url(&headers);
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let mut matches: Vec<&Record> = data
        .invoices
        .values()
        .filter(|r| since.is_none_or(|t| r.modified >= t))
        .filter(|r| filter.matches(&r.body))
        .collect();
    sort_records(&mut matches, &query, INVOICE_SORT)?;
    let (page, meta) = paging.apply(&matches);
    let items: Vec<Value> = page
        .iter()
        .map(|r| invoice_list_item(&base, &r.body))
        .collect();
    Ok(ok(json!({"Invoices": items, "MetaInformation": meta})))
}

pub(super) fn document_number(raw: &str) -> Result<u64, ApiError> {
    raw.trim()
        .parse::<u64>()
        .map_err(|_| invoice_not_found(raw))
}

async fn get_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "invoice")?;
    let number = document_number(&raw)?;
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let record = data
        .invoices
        .get(&number)
        .ok_or_else(|| invoice_not_found(&raw))?;
    Ok(ok(
        json!({"Invoice": render_invoice(&base_url(&headers), &record.body)}),
    ))
}

async fn create_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "invoice")?;
    let input = parse_wrapped(&body, "Invoice")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let number = data.create_invoice(&input, clock)?;
    let record = data
        .invoices
        .get(&number)
        .ok_or_else(|| invoice_not_found(&number.to_string()))?;
    Ok(created(
        json!({"Invoice": render_invoice(&base_url(&headers), &record.body)}),
    ))
}

async fn update_invoice(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "invoice")?;
    let number = document_number(&raw)?;
    let input = parse_wrapped(&body, "Invoice")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    data.update_invoice(number, &input, clock)?;
    let record = data
        .invoices
        .get(&number)
        .ok_or_else(|| invoice_not_found(&raw))?;
    Ok(ok(
        json!({"Invoice": render_invoice(&base_url(&headers), &record.body)}),
    ))
}

/// Writable invoice fields (`fortnox_Kf_InvoiceSinglePayloadItem`). `CustomerNumber`,
/// `DocumentNumber` and `InvoiceRows` are handled apart; computed and state fields are
/// ignored.
fn invoice_field(name: &str) -> Option<Kind> {
    Some(match name {
        "ExternalInvoiceReference1" | "ExternalInvoiceReference2" => Kind::Text(80),
        "OurReference" | "YourReference" => Kind::Text(50),
        "YourOrderNumber" => Kind::Text(75),
        "DeliveryDate" | "DueDate" | "InvoiceDate" | "OutboundDate" => Kind::Date,
        "AdministrationFee" | "Freight" | "CurrencyRate" => Kind::Number,
        "CurrencyUnit" => Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        "EUQuarterlyReport" | "NotCompleted" | "VATIncluded" => Kind::Bool,
        "InvoiceType" => Kind::Choice(&[
            "INVOICE",
            "AGREEMENTINVOICE",
            "INTRESTINVOICE",
            "SUMMARYINVOICE",
            "CASHINVOICE",
        ]),
        "Language" => Kind::Choice(&["SV", "EN"]),
        "TaxReductionType" => Kind::Choice(&["none", "rot", "rut", "green"]),
        "PaymentWay" => Kind::Choice(&["CASH", "CARD", "AG"]),
        "Currency" => Kind::Letters(3),
        "EDIInformation" => Kind::TextObject(&[
            "EDIGlobalLocationNumber",
            "EDIGlobalLocationNumberDelivery",
            "EDIInvoiceExtra1",
            "EDIInvoiceExtra2",
            "EDIOurElectronicReference",
            "EDIYourElectronicReference",
        ]),
        "EmailInformation" => Kind::TextObject(&[
            "EmailAddressFrom",
            "EmailAddressTo",
            "EmailAddressCC",
            "EmailAddressBCC",
            "EmailSubject",
            "EmailBody",
        ]),
        "Labels" => Kind::Labels,
        "Address1" | "Address2" | "City" | "Comments" | "CostCenter" | "Country"
        | "CustomerName" | "DeliveryAddress1" | "DeliveryAddress2" | "DeliveryCity"
        | "DeliveryCountry" | "DeliveryName" | "DeliveryZipCode" | "OCR" | "Phone1" | "Phone2"
        | "PriceList" | "PrintTemplate" | "Project" | "Remarks" | "TermsOfDelivery"
        | "TermsOfPayment" | "WayOfDelivery" | "ZipCode" => Kind::Text(1024),
        _ => return None,
    })
}

/// A fresh invoice for `customer`, as Fortnox pre-fills one; unset values are left out.
fn invoice_defaults(customer: &Map<String, Value>, today: NaiveDate) -> Map<String, Value> {
    let c = |f: &str| customer.get(f).cloned().unwrap_or(Value::Null);
    let email = if str_field(customer, "EmailInvoice").is_empty() {
        c("Email")
    } else {
        c("EmailInvoice")
    };
    let currency = if str_field(customer, "Currency").is_empty() {
        Value::from("SEK")
    } else {
        c("Currency")
    };
    let defaults = json!({
        "AccountingMethod": "ACCRUAL",
        "AdministrationFee": 0,
        "Address1": c("Address1"),
        "Address2": c("Address2"),
        "Booked": false,
        "Cancelled": false,
        "City": c("City"),
        "Comments": "",
        "ContractReference": 0,
        "CostCenter": c("CostCenter"),
        "Country": c("Country"),
        "Credit": "false",
        "CreditInvoiceReference": "0",
        "Currency": currency,
        "CurrencyRate": 1,
        "CurrencyUnit": 1,
        "CustomerName": c("Name"),
        "CustomerNumber": c("CustomerNumber"),
        "DeliveryAddress1": c("DeliveryAddress1"),
        "DeliveryAddress2": c("DeliveryAddress2"),
        "DeliveryCity": c("DeliveryCity"),
        "DeliveryCountry": c("DeliveryCountry"),
        "DeliveryName": c("DeliveryName"),
        "DeliveryZipCode": c("DeliveryZipCode"),
        "EDIInformation": {
            "EDIGlobalLocationNumber": "",
            "EDIGlobalLocationNumberDelivery": "",
            "EDIInvoiceExtra1": "",
            "EDIInvoiceExtra2": "",
            "EDIOurElectronicReference": "",
            "EDIStatus": "",
            "EDIYourElectronicReference": ""
        },
        "EUQuarterlyReport": false,
        "EmailInformation": {
            "EmailAddressBCC": "",
            "EmailAddressCC": "",
            "EmailAddressFrom": "",
            "EmailAddressTo": email,
            "EmailBody": "",
            "EmailSubject": "Faktura {no} bifogas"
        },
        "ExternalInvoiceReference1": "",
        "ExternalInvoiceReference2": "",
        "Freight": 0,
        "InvoiceDate": today.format("%Y-%m-%d").to_string(),
        "InvoiceRows": [],
        "InvoiceType": "INVOICE",
        "Labels": [],
        "Language": "SV",
        "NotCompleted": false,
        "NoxFinans": false,
        "OfferReference": "0",
        "OrderReference": "0",
        "OrganisationNumber": c("OrganisationNumber"),
        "OurReference": c("OurReference"),
        "Phone1": c("Phone1"),
        "Phone2": c("Phone2"),
        "PriceList": c("PriceList"),
        "PrintTemplate": "",
        "Project": c("Project"),
        "Remarks": c("InvoiceRemark"),
        "Reminders": 0,
        "Sent": false,
        "TaxReduction": 0,
        "TaxReductionType": "none",
        "TermsOfDelivery": c("TermsOfDelivery"),
        "TermsOfPayment": c("TermsOfPayment"),
        "TimeBasisReference": 0,
        "VATIncluded": bool_field(customer, "ShowPriceVATIncluded"),
        "WarehouseReady": false,
        "WayOfDelivery": c("WayOfDelivery"),
        "YourOrderNumber": "",
        "YourReference": c("YourReference"),
        "ZipCode": c("ZipCode"),
    });
    match defaults {
        Value::Object(map) => without_unset(map),
        _ => Map::new(),
    }
}

/// `map` without `null` and `""` values, nested objects included.
fn without_unset(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
        .map(|(k, v)| match v {
            Value::Object(inner) => (k, Value::Object(without_unset(inner))),
            v => (k, v),
        })
        .collect()
}

/// Days until due for a terms-of-payment code (`"30"` → 30, `"K"` (kontant) → 0).
fn terms_days(code: &str) -> u64 {
    code.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

pub(super) fn set_due_date(body: &mut Map<String, Value>) {
    let invoice_date = NaiveDate::parse_from_str(str_field(body, "InvoiceDate"), "%Y-%m-%d").ok();
    if let Some(d) = invoice_date {
        let due = d
            .checked_add_days(Days::new(terms_days(str_field(body, "TermsOfPayment"))))
            .unwrap_or(d);
        body.insert(
            "DueDate".into(),
            Value::String(due.format("%Y-%m-%d").to_string()),
        );
    }
}

/// OCR reference: document number plus a Luhn check digit.
pub(super) fn ocr(number: u64) -> String {
    let digits = number.to_string();
    format!("{digits}{}", luhn_check_digit(&digits))
}

fn apply_invoice_fields(
    body: &mut Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (field, value) in input {
        if let Some(kind) = invoice_field(field) {
            apply_field(body, field, kind, value)?;
        }
    }
    Ok(())
}

/// The invoice as `fortnox_Kf_InvoiceSingleItem`.
pub(super) fn render_invoice(base: &str, stored: &Map<String, Value>) -> Value {
    Value::Object(render(shape(INVOICE_SINGLE), &with_urls(base, stored)))
}

/// The invoice as `fortnox_Kf_InvoiceListItem`.
fn invoice_list_item(base: &str, stored: &Map<String, Value>) -> Value {
    Value::Object(render(shape(INVOICE_LIST), &with_urls(base, stored)))
}

/// `stored` with its `@url` and `@urlTaxReductionList`.
fn with_urls(base: &str, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut body = stored.clone();
    let number = str_field(stored, "DocumentNumber").to_string();
    body.insert(
        "@url".into(),
        Value::String(format!("{base}/invoices/{number}")),
    );
    body.insert(
        "@urlTaxReductionList".into(),
        Value::String(format!(
            "{base}/taxreductions?filter=invoices&referencenumber={number}"
        )),
    );
    body
}

/// A customer whose `VATType` is `SEREVERSEDVAT` (`fortnox_Kf_CustomerSingleItem.VATType`):
/// reverse charge on construction services, the buyer accounts for the VAT.
fn is_reverse_charged(customer: &Map<String, Value>) -> bool {
    str_field(customer, "VATType") == "SEREVERSEDVAT"
}

/// The rows of a write to a reverse-charge customer: a row that does not state its `VAT` gets 0
/// rather than its account's rate, as the customer's `VATType` presets the invoice (*as the
/// sandbox models it*: the document does not say; a row's own `VAT` is kept). Text rows drop
/// `VAT` anyway.
fn reverse_charge_rows(rows: &Value, reversed: bool) -> Value {
    let mut rows = rows.clone();
    if let (true, Value::Array(items)) = (reversed, &mut rows) {
        for row in items.iter_mut().filter_map(Value::as_object_mut) {
            if row.get("VAT").is_none_or(Value::is_null) {
                row.insert("VAT".into(), Value::from(0));
            }
        }
    }
    rows
}

fn customer_for_invoice<'a>(
    data: &'a FortnoxData,
    input: &Map<String, Value>,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    let Some(v) = input.get("CustomerNumber").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let number = string(v)
        .ok()
        .flatten()
        .map(|s| s.trim().to_string())
        .ok_or_else(|| invalid_value("CustomerNumber", v))?;
    if number.is_empty() {
        return Err(bad_request(
            CODE_REQUIRED_FIELD,
            "Fakturan måste ha ett kundnummer (CustomerNumber).",
        ));
    }
    data.customers
        .get(&NatKey::of(&number))
        .map(|r| Some(&r.body))
        .ok_or_else(|| {
            bad_request(
                CODE_CUSTOMER_NOT_FOUND,
                format!("Kunde inte hitta kund med kundnummer \"{number}\"."),
            )
        })
}

impl FortnoxData {
    fn document_number_taken(&self, n: u64) -> bool {
        self.invoices.contains_key(&n)
    }

    pub(super) fn assign_document_number(&mut self) -> u64 {
        let mut n = self.next_document_number.max(1);
        while self.document_number_taken(n) {
            n += 1;
        }
        self.next_document_number = n + 1;
        n
    }

    /// Creates an invoice from the inner object of `{"Invoice": …}`; returns its number.
    fn create_invoice(
        &mut self,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<u64, ApiError> {
        let customer = customer_for_invoice(self, input)?.ok_or_else(|| {
            bad_request(
                CODE_REQUIRED_FIELD,
                "Fakturan måste ha ett kundnummer (CustomerNumber).",
            )
        })?;
        self.check_invoice_references(input)?;
        let reversed = is_reverse_charged(customer);
        let mut body = invoice_defaults(customer, today());
        apply_invoice_fields(&mut body, input)?;
        if let Some(rows) = input.get("InvoiceRows").filter(|v| !v.is_null()) {
            let rows = reverse_charge_rows(rows, reversed);
            body.insert("InvoiceRows".into(), Value::Array(build_rows(&[], &rows)?));
        }
        if input
            .get("DueDate")
            .is_none_or(|v| date(v).ok().flatten().is_none())
        {
            set_due_date(&mut body);
        }
        let requested = match input.get("DocumentNumber").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => match integer(v) {
                Ok(Some(n)) if n > 0 => u64::try_from(n).ok(),
                Ok(None) => None,
                _ => return Err(invalid_value("DocumentNumber", v)),
            },
        };
        let number = match requested {
            Some(n) if self.document_number_taken(n) => {
                return Err(bad_request(
                    CODE_DOCUMENT_NUMBER_TAKEN,
                    format!("Fakturanummer {n} används redan."),
                ))
            }
            Some(n) => n,
            None => self.assign_document_number(),
        };
        body.insert("DocumentNumber".into(), Value::String(number.to_string()));
        if str_field(&body, "OCR").is_empty() {
            body.insert("OCR".into(), Value::String(ocr(number)));
        }
        if let Some(Value::Object(email)) = body.get_mut("EmailInformation") {
            if let Some(Value::String(subject)) = email.get_mut("EmailSubject") {
                *subject = subject.replace("{no}", &number.to_string());
            }
        }
        recompute(&mut body);
        let at = clock.tick();
        self.invoices.insert(number, Record { body, modified: at });
        self.changed("invoices", "invoice-created-v1", number.to_string(), at);
        Ok(number)
    }

    fn update_invoice(
        &mut self,
        number: u64,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<(), ApiError> {
        let existing = self
            .invoices
            .get(&number)
            .ok_or_else(|| invoice_not_found(&number.to_string()))?;
        if bool_field(&existing.body, "Booked") || bool_field(&existing.body, "Cancelled") {
            return Err(bad_request(
                CODE_INVOICE_LOCKED,
                format!(
                    "Faktura {number} är bokförd eller makulerad och kan inte ändras. Kreditera den i stället."
                ),
            ));
        }
        self.check_invoice_references(input)?;
        let mut body = existing.body.clone();
        let old_customer = str_field(&body, "CustomerNumber").to_string();
        if let Some(customer) = customer_for_invoice(self, input)? {
            if str_field(customer, "CustomerNumber") != old_customer {
                for (to, from) in [
                    ("CustomerNumber", "CustomerNumber"),
                    ("CustomerName", "Name"),
                    ("Address1", "Address1"),
                    ("Address2", "Address2"),
                    ("ZipCode", "ZipCode"),
                    ("City", "City"),
                    ("Country", "Country"),
                    ("OrganisationNumber", "OrganisationNumber"),
                ] {
                    match customer.get(from).filter(|v| !v.is_null()) {
                        Some(v) => body.insert(to.into(), v.clone()),
                        None => body.remove(to),
                    };
                }
            }
        }
        let old_terms = (
            str_field(&body, "InvoiceDate").to_string(),
            str_field(&body, "TermsOfPayment").to_string(),
        );
        apply_invoice_fields(&mut body, input)?;
        let reversed = self
            .customers
            .get(&NatKey::of(str_field(&body, "CustomerNumber")))
            .is_some_and(|c| is_reverse_charged(&c.body));
        if let Some(rows) = input.get("InvoiceRows").filter(|v| !v.is_null()) {
            let rows = reverse_charge_rows(rows, reversed);
            let existing_rows = body
                .get("InvoiceRows")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            body.insert(
                "InvoiceRows".into(),
                Value::Array(build_rows(&existing_rows, &rows)?),
            );
        }
        let new_terms = (
            str_field(&body, "InvoiceDate").to_string(),
            str_field(&body, "TermsOfPayment").to_string(),
        );
        if new_terms != old_terms && !input.contains_key("DueDate") {
            set_due_date(&mut body);
        }
        recompute(&mut body);
        if let Some(record) = self.invoices.get_mut(&number) {
            record.body = body;
            let at = clock.tick();
            record.modified = at;
            self.changed("invoices", "invoice-updated-v1", number.to_string(), at);
        }
        Ok(())
    }

    pub(super) fn invoice_mut(&mut self, number: u64) -> Result<&mut Record, ApiError> {
        self.invoices
            .get_mut(&number)
            .ok_or_else(|| invoice_not_found(&number.to_string()))
    }
}

#[cfg(test)]
#[path = "reverse_charge_tests.rs"]
mod reverse_charge_tests;
