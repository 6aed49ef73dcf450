//! ROT/RUT/green tax reductions: `GET|POST /3/taxreductions`, `GET|PUT|DELETE
//! /3/taxreductions/{Id}` (scope `invoice`). Bodies `fortnox_TaxReductionCreatePayload` /
//! `…UpdatePayload` in, answers `fortnox_TaxReductionSingleItem` / `…ListItem`.
//!
//! Per the document: one entry per buyer, referencing an offer, order or invoice
//! (`ReferenceDocumentType`, `ReferenceNumber`); `AskedAmount` is a positive whole number
//! (codes 2004217/2004218); the type of reduction is the document's `TaxReductionType` and is
//! not given ("always equal to the type set on the provided document"), shown as
//! `TypeOfReduction`; a `SocialSecurityNumber` already on the document is refused (2000600).
//! A change here does not count as a change of the invoice (`lastmodified`, the stream).
//! The list's only filter is `filter` (`invoices`, `orders`, `offers`); this sandbox keeps
//! invoices only. Error messages never quote a personal identity number.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::codes::{CODE_INVALID_VALUE, CODE_REQUIRED_FIELD};
use super::common::{base_url, company_key, created, ok, parse_wrapped};
use super::data::{FortnoxData, Record};
use super::errors::{bad_request, invoice_not_found, not_found, ApiError};
use super::query::{parse_query, Paging};
use super::shape::{render, shape, TAX_REDUCTION_LIST, TAX_REDUCTION_SINGLE};
use crate::clock::Clock;
use crate::lenient::{dec_field, str_field};
use crate::state::SandboxState;
use rust_decimal::prelude::ToPrimitive;

const SCOPE: &str = "invoice";
const PARAMS: &[&str] = &["filter"];
/// The social security number is already in use for this document.
pub const CODE_SSN_IN_USE: i64 = 2_000_600;
/// The asked amount is not a positive whole number.
pub const CODE_ASKED_AMOUNT: i64 = 2_004_217;
/// A green technology work type that is not valid.
pub const CODE_GREEN_WORK_TYPE: i64 = 2_004_209;
/// `TaxReductionAmounts` missing on a green technology application.
pub const CODE_GREEN_AMOUNTS_MISSING: i64 = 2_004_263;
/// More than one amount for the same green work type.
pub const CODE_GREEN_TYPE_TWICE: i64 = 2_004_262;

/// `fortnox_TaxReductionAmountSinglePayloadItem.WorkType`.
const GREEN_WORK_TYPES: &[&str] = &[
    "SOLARCELLS",
    "STORAGESELFPRODUCEDELECTRICITY",
    "CHARGINGSTATIONELECTRICVEHICLE",
];

/// A green application's `TaxReductionAmounts`, checked; `None` when not given.
fn green_amounts(v: Option<&Value>) -> Result<Option<Vec<Value>>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = v.as_array().ok_or_else(|| {
        bad_request(
            CODE_GREEN_AMOUNTS_MISSING,
            "TaxReductionAmounts måste vara en lista.",
        )
    })?;
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let t = item.get("WorkType").and_then(Value::as_str).unwrap_or("");
        if !GREEN_WORK_TYPES.contains(&t) {
            return Err(bad_request(
                CODE_GREEN_WORK_TYPE,
                "Ogiltig arbetstyp (WorkType) för grön teknik.",
            ));
        }
        if seen.contains(&t) {
            return Err(bad_request(
                CODE_GREEN_TYPE_TWICE,
                "Samma arbetstyp (WorkType) förekommer flera gånger.",
            ));
        }
        seen.push(t);
        let d = item
            .get("AskedAmount")
            .and_then(|a| crate::lenient::decimal(a).ok().flatten())
            .unwrap_or_default();
        match d.to_i64() {
            Some(n) if d.fract().is_zero() && n > 0 => {
                out.push(json!({"AskedAmount": n, "WorkType": t}));
            }
            _ => {
                return Err(bad_request(
                    CODE_ASKED_AMOUNT,
                    "Ansökt belopp (AskedAmount) måste vara ett positivt heltal.",
                ))
            }
        }
    }
    Ok(Some(out))
}

pub(super) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/3/taxreductions", get(list).post(create))
        .route(
            "/3/taxreductions/{Id}",
            get(get_one).put(update).delete(delete),
        )
}

fn reduction_not_found(raw: &str) -> ApiError {
    not_found(format!("Kan inte hitta skattereduktionen \"{raw}\"."))
}

fn id(raw: &str) -> Result<u64, ApiError> {
    raw.trim().parse().map_err(|_| reduction_not_found(raw))
}

fn with_url(base: &str, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut body = stored.clone();
    body.insert(
        "@url".into(),
        Value::String(format!("{base}/taxreductions/{}", str_field(stored, "Id"))),
    );
    body
}

fn single(base: &str, r: &Record) -> Value {
    json!({"TaxReduction": render(shape(TAX_REDUCTION_SINGLE), &with_url(base, &r.body))})
}

async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let query = parse_query(query.as_deref(), PARAMS)?;
    let paging = Paging::from_query(&query)?;
    let wanted = match query.get("filter").map(String::as_str) {
        None => None,
        Some("invoices") => Some("INVOICE"),
        Some("orders") => Some("ORDER"),
        Some("offers") => Some("OFFER"),
        Some(_) => {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                "Ogiltigt värde för parametern \"filter\".",
            ))
        }
    };
    let base = base_url(&headers);
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let matches: Vec<&Record> = data
        .tax_reductions
        .values()
        .filter(|r| wanted.is_none_or(|t| str_field(&r.body, "ReferenceDocumentType") == t))
        .collect();
    let (page, meta) = paging.apply(&matches);
    let items: Vec<Value> = page
        .iter()
        .map(|r| Value::Object(render(shape(TAX_REDUCTION_LIST), &with_url(&base, &r.body))))
        .collect();
    Ok(ok(json!({"TaxReductions": items, "MetaInformation": meta})))
}

async fn get_one(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let n = id(&raw)?;
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let r = data
        .tax_reductions
        .get(&n)
        .ok_or_else(|| reduction_not_found(&raw))?;
    Ok(ok(single(&base_url(&headers), r)))
}

async fn create(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let input = parse_wrapped(&body, "TaxReduction")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let n = data.put_tax_reduction(None, &input, clock)?;
    Ok(created(single(
        &base_url(&headers),
        &data.tax_reductions[&n],
    )))
}

async fn update(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let n = id(&raw)?;
    let input = parse_wrapped(&body, "TaxReduction")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    if !data.tax_reductions.contains_key(&n) {
        return Err(reduction_not_found(&raw));
    }
    data.put_tax_reduction(Some(n), &input, clock)?;
    Ok(ok(single(&base_url(&headers), &data.tax_reductions[&n])))
}

async fn delete(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, SCOPE)?;
    let n = id(&raw)?;
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    data.tax_reductions
        .remove(&n)
        .ok_or_else(|| reduction_not_found(&raw))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn text(input: &Map<String, Value>, field: &str) -> Option<String> {
    match input.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn digits(ssn: &str) -> String {
    ssn.chars().filter(char::is_ascii_digit).collect()
}

impl FortnoxData {
    /// Every stored tax reduction, by `Id`.
    pub(crate) fn tax_reduction_bodies(&self) -> Vec<Value> {
        self.tax_reductions
            .values()
            .map(|r| Value::Object(r.body.clone()))
            .collect()
    }

    /// The `TaxReductionType` of the invoice `body` references, when it exists.
    fn invoice_reduction_type(&self, body: &Map<String, Value>) -> Option<String> {
        let n: u64 = str_field(body, "ReferenceNumber").parse().ok()?;
        self.invoices
            .get(&n)
            .map(|i| str_field(&i.body, "TaxReductionType").to_string())
    }

    /// Creates (`existing` `None`) or updates a tax reduction from `input`; its id.
    fn put_tax_reduction(
        &mut self,
        existing: Option<u64>,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<u64, ApiError> {
        let mut body = match existing {
            Some(n) => self.tax_reductions[&n].body.clone(),
            None => Map::new(),
        };
        for field in [
            "CustomerName",
            "PropertyDesignation",
            "ResidenceAssociationOrganisationNumber",
            "ReferenceDocumentType",
            "ReferenceNumber",
            "SocialSecurityNumber",
        ] {
            if let Some(v) = text(input, field) {
                body.insert(field.into(), Value::String(v));
            }
        }
        if input.contains_key("AskedAmount") {
            let d = dec_field(input, "AskedAmount");
            match d.to_i64() {
                Some(n) if d.fract().is_zero() && n > 0 => {
                    body.insert("AskedAmount".into(), json!(n));
                }
                _ => {
                    return Err(bad_request(
                        CODE_ASKED_AMOUNT,
                        "Ansökt belopp (AskedAmount) måste vara ett positivt heltal.",
                    ));
                }
            }
        }
        let green = self
            .invoice_reduction_type(&body)
            .is_some_and(|k| k == "green");
        if green {
            // "the field TaxReductionAmounts becomes mandatory … the AskedAmount … will always
            // be considered to be equal to the sum of the TaxReductionAmounts".
            let amounts = green_amounts(input.get("TaxReductionAmounts"))?;
            if let Some(a) = amounts {
                let sum: i64 = a
                    .iter()
                    .filter_map(|v| v.get("AskedAmount").and_then(Value::as_i64))
                    .sum();
                body.insert("TaxReductionAmounts".into(), Value::Array(a));
                body.insert("AskedAmount".into(), json!(sum));
            }
            if !body.contains_key("TaxReductionAmounts") {
                return Err(bad_request(
                    CODE_GREEN_AMOUNTS_MISSING,
                    "TaxReductionAmounts måste anges för grön teknik.",
                ));
            }
        }
        for required in [
            "AskedAmount",
            "CustomerName",
            "ReferenceDocumentType",
            "ReferenceNumber",
            "SocialSecurityNumber",
        ] {
            if !body.contains_key(required) {
                return Err(bad_request(
                    CODE_REQUIRED_FIELD,
                    format!("Fältet \"{required}\" måste anges."),
                ));
            }
        }
        let ssn = str_field(&body, "SocialSecurityNumber").to_string();
        if !(10..=13).contains(&ssn.chars().count()) || digits(&ssn).len() < 10 {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                "Ogiltigt personnummer (SocialSecurityNumber).",
            ));
        }
        if str_field(&body, "ReferenceDocumentType") != "INVOICE" {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                "Sandlådan tar skattereduktioner för fakturor (ReferenceDocumentType INVOICE).",
            ));
        }
        let reference = str_field(&body, "ReferenceNumber").to_string();
        let number: u64 = reference
            .parse()
            .map_err(|_| invoice_not_found(&reference))?;
        let invoice = self
            .invoices
            .get(&number)
            .ok_or_else(|| invoice_not_found(&reference))?;
        let kind = str_field(&invoice.body, "TaxReductionType").to_string();
        if !matches!(kind.as_str(), "rot" | "rut" | "green") {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                "Fakturan har ingen skattereduktion (TaxReductionType).",
            ));
        }
        body.insert("TypeOfReduction".into(), Value::String(kind));
        let same_buyer = self.tax_reductions.iter().any(|(id, r)| {
            Some(*id) != existing
                && str_field(&r.body, "ReferenceNumber") == reference
                && digits(str_field(&r.body, "SocialSecurityNumber")) == digits(&ssn)
        });
        if same_buyer {
            return Err(bad_request(
                CODE_SSN_IN_USE,
                "Personnumret används redan för detta dokument.",
            ));
        }
        let id = match existing {
            Some(n) => n,
            None => {
                self.next_tax_reduction_id += 1;
                self.next_tax_reduction_id
            }
        };
        body.insert("Id".into(), json!(id));
        let at = clock.tick();
        self.tax_reductions
            .insert(id, Record { body, modified: at });
        Ok(id)
    }
}
