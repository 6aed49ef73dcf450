//! `/v2/customers`: list (`$filter`, paging), get, post (201), put, delete (200).
//!
//! **PUT replaces the whole record** ("Replace an existing customer's data with the
//! provided new data"): a writable property left out of the body gets its unset value
//! (`null`, `false`, `0`), exactly as in a POST. Exceptions, from the document:
//! - `CustomerNumber` left out (or `null`) keeps the current number ("if not provided, the
//!   system will provide one");
//! - `Iban` and `IsDirectDebitEnabled` left out keep their values ("Default value is
//!   existing database value (PUT)");
//! - `CurrencyCode` left out is the company's currency ("Default value: Currency of the
//!   user company").
//!
//! Both POST and PUT need the schema's `required` fields (`Name`, `InvoicePostalCode`,
//! `InvoiceCity`, `IsActive`, `IsPrivatePerson`, `TermsOfPaymentId`; 2000 otherwise);
//! `ReverseChargeOnConstructionServices: true` needs `VatNumber` ("If true, VatNumber must
//! be set aswell"). Read-only properties in a body are ignored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codes::{
    CODE_INVALID_VALUE, CODE_IN_USE, CODE_NOT_UNIQUE, CODE_UNKNOWN_REFERENCE, READ_SCOPES,
    WRITE_SCOPES,
};
use super::common::{company_key, created, deleted, guid, ok, parse_object};
use super::data::{Record, VismaData};
use super::errors::{answer, bad_request, not_found, required, ApiError};
use super::listing::{no_check, Listing};
use super::odata::CUSTOMER_FILTER_FIELDS;
use super::query::utc_text;
use super::schema::{self, conform};
use crate::clock::Clock;
use crate::lenient::str_field;
use crate::state::SandboxState;

const SCHEMA: &str = "CustomerApi";

/// Writable properties a PUT without them leaves as they were.
const KEPT_ON_PUT: &[&str] = &["CustomerNumber", "Iban", "IsDirectDebitEnabled"];

/// At most this many `EmailAddresses` ("A maximum of 5 email addresses can be provided").
const MAX_CC_ADDRESSES: usize = 5;

pub(super) async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    const LISTING: Listing = Listing {
        scopes: READ_SCOPES,
        check: no_check,
        filter_fields: CUSTOMER_FILTER_FIELDS,
        time_field: "ChangedUtc",
        modified_since: false,
        records: |d| d.customers.values().collect(),
        render: |d, r| d.render_customer(r),
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
        let id = guid(&raw, "Customer")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let record = data
            .customer(&id)
            .ok_or_else(|| not_found("Customer", &id))?;
        Ok(ok(data.render_customer(record)))
    })())
}

pub(super) async fn create(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let id = Uuid::new_v4().to_string();
        let record = data.write_customer(&id, &input, None, clock)?;
        Ok(created(record))
    })())
}

pub(super) async fn replace(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, "Customer")?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let existing = data
            .customer(&id)
            .map(|r| r.body.clone())
            .ok_or_else(|| not_found("Customer", &id))?;
        let record = data.write_customer(&id, &input, Some(&existing), clock)?;
        Ok(ok(record))
    })())
}

pub(super) async fn delete(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, "Customer")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        if data.customer(&id).is_none() {
            return Err(not_found("Customer", &id));
        }
        // "Only customers without any linked transactions can be deleted."
        let in_use = data
            .invoices
            .values()
            .chain(data.drafts.values())
            .any(|r| str_field(&r.body, "CustomerId") == id);
        if in_use {
            return Err(bad_request(
                CODE_IN_USE,
                "The customer has invoices or drafts and cannot be deleted. Set IsActive to false instead.",
            ));
        }
        data.remove_customer(&id);
        Ok(deleted())
    })())
}

fn non_empty_text(body: &Map<String, Value>, field: &str) -> bool {
    body.get(field)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

impl VismaData {
    /// Creates (`existing` = None) or replaces a customer from the whole `input` body;
    /// answers the stored body as GET would.
    fn write_customer(
        &mut self,
        id: &str,
        input: &Map<String, Value>,
        existing: Option<&Map<String, Value>>,
        clock: &mut Clock,
    ) -> Result<Value, ApiError> {
        for field in schema::required_fields(SCHEMA) {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let mut body = schema::read_object(SCHEMA, "", input, 0)?;
        for field in ["Name", "InvoicePostalCode", "InvoiceCity"] {
            if !non_empty_text(&body, field) {
                return Err(required(field));
            }
        }
        if let Some(old) = existing {
            for field in KEPT_ON_PUT {
                if input.get(*field).is_none_or(Value::is_null) {
                    body.insert(
                        (*field).to_string(),
                        old.get(*field).cloned().unwrap_or(Value::Null),
                    );
                }
            }
        }
        if body.get("CurrencyCode").is_none_or(Value::is_null) {
            body.insert("CurrencyCode".into(), Value::from("SEK"));
        }
        if body.get("ReverseChargeOnConstructionServices") == Some(&Value::Bool(true))
            && !non_empty_text(&body, "VatNumber")
        {
            return Err(required("VatNumber"));
        }
        if body
            .get("EmailAddresses")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > MAX_CC_ADDRESSES)
        {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                format!("Validation failed: EmailAddresses can hold at most {MAX_CC_ADDRESSES} addresses."),
            ));
        }
        let terms_id = str_field(&body, "TermsOfPaymentId").to_string();
        let terms = self.terms_by_id(&terms_id).cloned().ok_or_else(|| {
            bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: TermsOfPaymentId {terms_id} does not match any terms of payment."),
            )
        })?;
        body.insert("TermsOfPayment".into(), Value::Object(terms));
        let number = match body
            .get("CustomerNumber")
            .and_then(Value::as_str)
            .map(str::trim)
        {
            Some(n) if !n.is_empty() => {
                if self.customer_number_taken(n, id) {
                    return Err(bad_request(
                        CODE_NOT_UNIQUE,
                        format!("Validation failed: CustomerNumber {n} is already used by another customer."),
                    ));
                }
                n.to_string()
            }
            _ => self.assign_customer_number(),
        };
        body.insert("CustomerNumber".into(), Value::String(number));
        body.insert("Id".into(), Value::String(id.to_string()));
        if let Some(old) = existing {
            body.insert(
                "LastInvoiceDate".into(),
                old.get("LastInvoiceDate").cloned().unwrap_or(Value::Null),
            );
        }
        let changed = clock.tick();
        body.insert("ChangedUtc".into(), Value::String(utc_text(changed)));
        let body = conform(SCHEMA, body);
        self.remove_customer(id);
        let record = Record { body, changed };
        let rendered = self.render_customer(&record);
        self.insert_customer(id, record);
        Ok(rendered)
    }
}
