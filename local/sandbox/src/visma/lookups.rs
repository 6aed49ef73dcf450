//! Read-only lookups: `/v2/termsofpayments`, `/v2/articleaccountcodings`, `/v2/units` (list
//! and get each) and `/v2/companysettings`. Articles are in `articles.rs`.
//!
//! An article's VAT rate: `ArticleApi.CodingId` → `GET /v2/articleaccountcodings/{id}` →
//! `VatRatePercent` (a fraction). Lists take `$page` / `$pagesize`; `$filter` on them is
//! not simulated (400, 6000).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::codes::{CODE_BAD_FILTER, READ_SCOPES};
use super::common::{company_key, guid, ok};
use super::data::VismaData;
use super::errors::{answer, bad_request, not_found, Answer};
use super::query::{Paging, Query};
use super::schema::conform;
use crate::config::Company;
use crate::lenient::str_field;
use crate::state::SandboxState;

/// `termsofpayments` is readable with sales or purchase scopes.
const TERMS_SCOPES: &[&str] = &[
    "ea:sales",
    "ea:sales_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
];

type Pick = fn(&VismaData) -> &Vec<Map<String, Value>>;

fn list_plain(
    state: &SandboxState,
    headers: &HeaderMap,
    query: Option<&str>,
    scopes: &[&str],
    pick: Pick,
) -> Answer {
    let key = company_key(state, headers, scopes)?;
    let query = Query::parse(query)?;
    let paging = Paging::from_query(&query)?;
    if query.get("$filter").is_some() {
        return Err(bad_request(
            CODE_BAD_FILTER,
            "$filter is not supported on this endpoint in the sandbox.",
        ));
    }
    let mut store = state.rest();
    let server_time = store.clock.server_time();
    let (data, _) = store.visma_mut(&key);
    let items: Vec<&Map<String, Value>> = pick(data).iter().collect();
    Ok(ok(paging.envelope(&items, server_time, |m| {
        Value::Object((*m).clone())
    })))
}

fn get_plain(
    state: &SandboxState,
    headers: &HeaderMap,
    raw: &str,
    what: &str,
    scopes: &[&str],
    pick: Pick,
) -> Answer {
    let key = company_key(state, headers, scopes)?;
    let id = guid(raw, what)?;
    let mut store = state.rest();
    let (data, _) = store.visma_mut(&key);
    pick(data)
        .iter()
        .find(|m| str_field(m, "Id") == id)
        .map(|m| ok(Value::Object(m.clone())))
        .ok_or_else(|| not_found(what, &id))
}

macro_rules! lookup {
    ($list:ident, $get:ident, $what:literal, $scopes:expr, $field:ident) => {
        pub(super) async fn $list(
            State(state): State<Arc<SandboxState>>,
            headers: HeaderMap,
            RawQuery(query): RawQuery,
        ) -> Response {
            answer(list_plain(
                &state,
                &headers,
                query.as_deref(),
                $scopes,
                |d| &d.$field,
            ))
        }

        pub(super) async fn $get(
            State(state): State<Arc<SandboxState>>,
            headers: HeaderMap,
            Path(raw): Path<String>,
        ) -> Response {
            answer(get_plain(&state, &headers, &raw, $what, $scopes, |d| {
                &d.$field
            }))
        }
    };
}

lookup!(list_terms, get_terms, "TermsOfPayment", TERMS_SCOPES, terms);
lookup!(
    list_codings,
    get_coding,
    "ArticleAccountCoding",
    READ_SCOPES,
    codings
);
lookup!(list_units, get_unit, "Unit", READ_SCOPES, units);

pub(super) async fn company_settings(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        let company = state
            .company(crate::provider::ProviderKind::Visma, &key)
            .cloned()
            .ok_or_else(|| not_found("Company", &key))?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        Ok(ok(Value::Object(company_settings_body(&company, data))))
    })())
}

fn company_settings_body(company: &Company, data: &VismaData) -> Map<String, Value> {
    let digits: String = company
        .organization_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let terms = data
        .terms
        .first()
        .and_then(|t| t.get("Id"))
        .cloned()
        .unwrap_or(Value::Null);
    let body = json!({
        "Name": company.name,
        "Email": company.email,
        "Phone": company.phone,
        "Address1": company.address,
        "CountryCode": company.country_code,
        "PostalCode": company.zip_code,
        "City": company.city,
        "CurrencyCode": "SEK",
        "TermsOfPaymentId": terms,
        "CorporateIdentityNumber": company.organization_number,
        "VatCode": format!("SE{digits}01"),
        "BankGiro": "5050-1055",
        "AccountNumberDigits": 4,
        "AccountingLockedTo": "2000-01-01T00:00:00Z",
        "ProductVariant": 2,
        "TypeOfBusiness": 1,
        "VatPeriod": 3,
        "NextCustomerNumber": data.next_customer_number.max(1),
        "NextCustomerInvoiceNumber": data.next_invoice_number.max(1),
        "NextQuoteNumber": 1,
        "NextOrderNumber": 1,
        "NextSupplierNumber": 1,
        // Prices are always without VAT (drafts' and invoices' `IncludesVat` is false).
        "ShowPricesExclVatPC": false,
        "UsesPaymentReferenceNumber": true,
        "UsesReverseConstructionVat": true,
        "UsesRotReducedInvoicing": true,
        "DomesticCurrencyRounding": 1,
        "CompanyStatus": 1,
        "TaxDeclarationDate": {"Month": 5, "Day": 2},
        "KeepOriginalDraftDate": false,
    });
    match body {
        Value::Object(map) => conform("CompanySettingsApi", map),
        _ => Map::new(),
    }
}
