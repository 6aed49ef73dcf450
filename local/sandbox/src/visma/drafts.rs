//! `/v2/customerinvoicedrafts`: list (paging, `$filter`), get, post (201), put (200,
//! replaces the whole draft, rows included), delete (200), and
//! `POST …/{id}/convert` (201 with the booked `CustomerInvoiceApi`; the draft is gone).
//!
//! Convert follows its documented parameters: without `keepOriginalDraftDate=true` the
//! invoice is dated today and falls due after the terms of payment's days; with it the
//! draft's `InvoiceDate` / `DueDate` stay. The optional body
//! (`CustomerInvoiceDraftValidationApi`) states the totals the caller expects; a total or a
//! row (matched on `LineNumber`) that differs by more than 0.005 refuses the conversion
//! (400, 2001) and leaves the draft as it was.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codes::{CODE_INVALID_VALUE, CODE_UNKNOWN_REFERENCE, READ_SCOPES, WRITE_SCOPES};
use super::common::{company_key, created, deleted, guid, ok, parse_object, parse_optional_object};
use super::data::{Record, VismaData};
use super::errors::{answer, bad_request, not_found, required, ApiError};
use super::listing::{no_check, Listing};
use super::odata::DRAFT_FILTER_FIELDS;
use super::query::{utc_text, Query};
use super::rows::{row_vat, totals, Line, RowKind};
use super::schema::{self, conform};
use crate::clock::Clock;
use crate::lenient::{decimal, money, str_field};
use crate::state::SandboxState;

const SCHEMA: &str = "CustomerInvoiceDraftApi";
const WHAT: &str = "CustomerInvoiceDraft";

pub(super) async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    const LISTING: Listing = Listing {
        scopes: READ_SCOPES,
        check: no_check,
        filter_fields: DRAFT_FILTER_FIELDS,
        time_field: "CreatedUtc",
        modified_since: false,
        records: |d| d.drafts.values().collect(),
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
        let id = guid(&raw, WHAT)?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        data.draft(&id)
            .map(|r| ok(Value::Object(r.body.clone())))
            .ok_or_else(|| not_found(WHAT, &id))
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
        let (mut body, _) = data.build_draft(&input)?;
        let id = Uuid::new_v4().to_string();
        let now = clock.tick();
        body.insert("Id".into(), Value::String(id.clone()));
        body.insert("CreatedUtc".into(), Value::String(utc_text(now)));
        let seq = data.next_draft.max(1);
        data.next_draft = seq + 1;
        data.draft_index.insert(id, seq);
        data.drafts.insert(
            seq,
            Record {
                body: body.clone(),
                changed: now,
            },
        );
        Ok(created(Value::Object(body)))
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
        let id = guid(&raw, WHAT)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let seq = *data
            .draft_index
            .get(&id)
            .ok_or_else(|| not_found(WHAT, &id))?;
        let (mut body, _) = data.build_draft(&input)?;
        let record = data
            .drafts
            .get_mut(&seq)
            .ok_or_else(|| not_found(WHAT, &id))?;
        body.insert("Id".into(), Value::String(id));
        body.insert(
            "CreatedUtc".into(),
            record
                .body
                .get("CreatedUtc")
                .cloned()
                .unwrap_or(Value::Null),
        );
        record.body = body.clone();
        Ok(ok(Value::Object(body)))
    })())
}

pub(super) async fn delete(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, WHAT)?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let seq = data
            .draft_index
            .remove(&id)
            .ok_or_else(|| not_found(WHAT, &id))?;
        data.drafts.remove(&seq);
        Ok(deleted())
    })())
}

pub(super) async fn convert(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, WHAT)?;
        let query = Query::parse(query.as_deref())?;
        let keep_date = query.flag("keepOriginalDraftDate", false)?;
        query.flag("overrideCompanyKeepOriginalDraftDate", false)?;
        let expected = parse_optional_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let invoice = data.convert_draft(&id, &expected, keep_date, clock)?;
        Ok(created(Value::Object(invoice)))
    })())
}

impl VismaData {
    /// Validates a `CustomerInvoiceDraftApi` request body and builds the draft (without
    /// `Id` and `CreatedUtc`), with the lines its totals came from.
    fn build_draft(
        &self,
        input: &Map<String, Value>,
    ) -> Result<(Map<String, Value>, Vec<Line>), ApiError> {
        for field in schema::required_fields(SCHEMA) {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let mut header_in = input.clone();
        let rows_in = header_in.remove("Rows");
        let mut body = schema::read_object(SCHEMA, "", &header_in, 0)?;
        let customer_id = str_field(&body, "CustomerId").to_string();
        let customer =
            self.customer(&customer_id)
                .map(|r| &r.body)
                .ok_or_else(|| {
                    bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: CustomerId {customer_id} does not match any customer."),
            )
                })?;
        if let Some(terms_id) = body.get("TermsOfPaymentId").and_then(Value::as_str) {
            if self.terms_by_id(terms_id).is_none() {
                return Err(bad_request(
                    CODE_UNKNOWN_REFERENCE,
                    format!("Validation failed: TermsOfPaymentId {terms_id} does not match any terms of payment."),
                ));
            }
        }
        let replace_zero = body.get("ReplaceUnitPriceWhenZero") == Some(&Value::Bool(true));
        let (rows, lines) = self.build_rows(RowKind::Draft, rows_in.as_ref(), replace_zero)?;
        let t = totals(&lines);
        let from_customer = |f: &str| customer.get(f).cloned().unwrap_or(Value::Null);
        // "Sending a null value will make the draft use the value on the customer".
        for field in [
            "InvoiceAddress1",
            "InvoiceAddress2",
            "DeliveryCustomerName",
            "DeliveryAddress1",
            "DeliveryAddress2",
            "DeliveryPostalCode",
            "DeliveryCity",
            "DeliveryCountryCode",
        ] {
            if body.get(field).is_none_or(Value::is_null) {
                body.insert(field.into(), from_customer(field));
            }
        }
        for (k, v) in [
            ("InvoicePostalCode", from_customer("InvoicePostalCode")),
            ("InvoiceCity", from_customer("InvoiceCity")),
            ("InvoiceCountryCode", from_customer("InvoiceCountryCode")),
            ("InvoiceCurrencyCode", from_customer("CurrencyCode")),
            ("InvoiceCustomerName", from_customer("Name")),
            ("CustomerName", from_customer("Name")),
            ("CustomerNumber", from_customer("CustomerNumber")),
            ("CustomerIsPrivatePerson", from_customer("IsPrivatePerson")),
            (
                "ReverseChargeOnConstructionServices",
                from_customer("ReverseChargeOnConstructionServices"),
            ),
            // The company's `ShowPricesExclVatPC` is false: prices never include VAT.
            ("IncludesVat", Value::Bool(false)),
            ("Rows", Value::Array(rows)),
            ("TotalAmount", money(t.total)),
            ("TotalVatAmount", money(t.vat)),
            ("TotalRoundings", money(t.roundings)),
            ("TotalAmountBaseCurrency", money(t.total)),
            ("TotalVatAmountBaseCurrency", money(t.vat)),
        ] {
            body.insert(k.into(), v);
        }
        Ok((conform(SCHEMA, body), lines))
    }

    fn convert_draft(
        &mut self,
        id: &str,
        expected: &Map<String, Value>,
        keep_date: bool,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        let draft = self
            .draft(id)
            .map(|r| r.body.clone())
            .ok_or_else(|| not_found(WHAT, id))?;
        // Rebuilt from the draft's own request fields: checks the customer and articles
        // still exist and gives the lines for the expected-totals check.
        let (_, lines) = self.build_draft(&draft)?;
        check_expected(&draft, &lines, expected)?;
        let mut input: Map<String, Value> = draft
            .iter()
            .filter(|(k, _)| {
                schema::writable("CustomerInvoiceApi").contains(&k.as_str()) && *k != "Rows"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !keep_date {
            input.remove("InvoiceDate");
            input.remove("DueDate");
        }
        let booked_row_fields = schema::writable("CustomerInvoiceRowApi");
        let rows: Vec<Value> = draft
            .get("Rows")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .filter_map(Value::as_object)
                    .map(|row| {
                        let mut out: Map<String, Value> = row
                            .iter()
                            .filter(|(k, _)| booked_row_fields.contains(&k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        out.insert(
                            "IsVatFree".into(),
                            row.get("ReversedConstructionServicesVatFree")
                                .cloned()
                                .unwrap_or(Value::Bool(false)),
                        );
                        Value::Object(out)
                    })
                    .collect()
            })
            .unwrap_or_default();
        input.insert("Rows".into(), Value::Array(rows));
        let invoice = self.book_invoice(&input, Some(id), clock)?;
        if let Some(seq) = self.draft_index.remove(id) {
            self.drafts.remove(&seq);
        }
        Ok(invoice)
    }
}

/// Compares a convert body's expected totals with the draft's.
fn check_expected(
    draft: &Map<String, Value>,
    lines: &[Line],
    expected: &Map<String, Value>,
) -> Result<(), ApiError> {
    let tolerance = Decimal::new(5, 3);
    let number = |v: Option<&Value>| v.and_then(|v| decimal(v).ok().flatten());
    let differs = |field: &str, actual: Decimal| -> Result<(), ApiError> {
        match number(expected.get(field)) {
            Some(said) if (said - actual).abs() > tolerance => Err(bad_request(
                CODE_INVALID_VALUE,
                format!("Validation failed: {field} is {said}, but the draft's is {actual}."),
            )),
            _ => Ok(()),
        }
    };
    let actual = |f: &str| number(draft.get(f)).unwrap_or_default();
    differs("TotalAmountInvoiceCurrency", actual("TotalAmount"))?;
    differs("TotalVatAmountInvoiceCurrency", actual("TotalVatAmount"))?;
    differs("TotalRoundingsInvoiceCurrency", actual("TotalRoundings"))?;
    for row in expected
        .get("Rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        let line_number = row.get("LineNumber").and_then(Value::as_u64).unwrap_or(0);
        let line = usize::try_from(line_number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| lines.get(i))
            .ok_or_else(|| {
                bad_request(
                    CODE_INVALID_VALUE,
                    format!(
                        "Validation failed: the draft has no row with LineNumber {line_number}."
                    ),
                )
            })?;
        let row_check = |field: &str, actual: Decimal| {
            match number(row.get(field)) {
            Some(said) if (said - actual).abs() > tolerance => Err(bad_request(
                CODE_INVALID_VALUE,
                format!("Validation failed: row {line_number} {field} is {said}, but the draft's is {actual}."),
            )),
            _ => Ok(()),
        }
        };
        row_check("TotalAmountNoVatInvoiceCurrency", line.net)?;
        row_check("TotalAmountIncVatInvoiceCurrency", line.net + row_vat(line))?;
    }
    Ok(())
}
