//! Customers: `GET|POST /3/customers`, `GET|PUT|DELETE /3/customers/{CustomerNumber}`.
//!
//! A new customer gets Fortnox's defaults (active, SEK, `SE`, price list A, 30 days, company,
//! `SEVAT`, PRINT delivery, default templates); what is not written stays unset (`null`).
//! `Country`, `DeliveryCountry` and `VisitingCountry` are derived from their codes. PUT
//! merges: only what is sent changes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::codes::{CODE_CUSTOMER_IN_USE, CODE_CUSTOMER_NUMBER_TAKEN};
use super::common::{base_url, company_key, created, ok, parse_wrapped};
use super::data::{FortnoxData, Record};
use super::errors::{bad_request, customer_not_found, invalid_value, name_required, ApiError};
use super::fields::{apply_field, Kind};
use super::query::{
    customer_matches, parse_lastmodified, parse_query, sort_records, Paging, CUSTOMER_PARAMS,
    CUSTOMER_SORT,
};
use super::shape::{render, shape, CUSTOMER_LIST, CUSTOMER_SINGLE};
use crate::clock::Clock;
use crate::lenient::{str_field, string, NatKey};
use crate::state::SandboxState;

/// Customer routes, merged into the Fortnox router (nested under `/fortnox`).
pub(super) fn routes() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/3/customers", get(list_customers).post(create_customer))
        .route(
            "/3/customers/{CustomerNumber}",
            get(get_customer)
                .put(update_customer)
                .delete(delete_customer),
        )
}

async fn list_customers(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "customer")?;
    let query = parse_query(query.as_deref(), CUSTOMER_PARAMS)?;
    let paging = Paging::from_query(&query)?;
    let since = query
        .get("lastmodified")
        .map(|s| parse_lastmodified(s))
        .transpose()?;
    let base = base_url(&headers);
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let mut matches: Vec<&Record> = data
        .customers
        .values()
        .filter(|r| since.is_none_or(|t| r.modified >= t))
        .filter(|r| customer_matches(&r.body, &query))
        .collect();
    sort_records(&mut matches, &query, CUSTOMER_SORT)?;
    let (page, meta) = paging.apply(&matches);
    let items: Vec<Value> = page
        .iter()
        .map(|r| customer_list_item(&base, &r.body))
        .collect();
    Ok(ok(json!({"Customers": items, "MetaInformation": meta})))
}

async fn get_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "customer")?;
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let record = data
        .customers
        .get(&NatKey::of(&number))
        .ok_or_else(|| customer_not_found(&number))?;
    Ok(ok(
        json!({"Customer": render_customer(&base_url(&headers), &record.body)}),
    ))
}

async fn create_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "customer")?;
    let input = parse_wrapped(&body, "Customer")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let number = data.create_customer(&input, clock)?;
    let record = data
        .customers
        .get(&NatKey::of(&number))
        .ok_or_else(|| customer_not_found(&number))?;
    Ok(created(
        json!({"Customer": render_customer(&base_url(&headers), &record.body)}),
    ))
}

async fn update_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "customer")?;
    let input = parse_wrapped(&body, "Customer")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let record = data
        .customers
        .get_mut(&NatKey::of(&number))
        .ok_or_else(|| customer_not_found(&number))?;
    let mut updated = record.body.clone();
    apply_customer_fields(&mut updated, &input)?;
    if str_field(&updated, "Name").trim().is_empty() {
        return Err(name_required());
    }
    record.body = updated;
    let at = clock.tick();
    record.modified = at;
    let answer = ok(json!({"Customer": render_customer(&base_url(&headers), &record.body)}));
    data.changed("customers", "customer-updated-v2", number, at);
    Ok(answer)
}

async fn delete_customer(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let key = company_key(&state, &headers, "customer")?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&key);
    let nat = NatKey::of(&number);
    if !data.customers.contains_key(&nat) {
        return Err(customer_not_found(&number));
    }
    if data
        .invoices
        .values()
        .any(|r| str_field(&r.body, "CustomerNumber") == number)
    {
        return Err(bad_request(
            CODE_CUSTOMER_IN_USE,
            format!("Kunden {number} har fakturor och kan inte tas bort."),
        ));
    }
    data.customers.remove(&nat);
    let at = clock.tick();
    data.changed("customers", "customer-deleted-v1", number, at);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Writable customer fields (`fortnox_Kf_CustomerSinglePayloadItem`). `CustomerNumber` is
/// handled apart; `Country`, `DeliveryCountry` and `VisitingCountry` are derived from their
/// codes; unknown fields are ignored, as read-only ones are.
fn customer_field(name: &str) -> Option<Kind> {
    Some(match name {
        "Active" | "ShowPriceVATIncluded" => Kind::Bool,
        "InvoiceDiscount" => Kind::Number,
        "Type" => Kind::Choice(&["PRIVATE", "COMPANY"]),
        "VATType" => Kind::Choice(&["SEVAT", "SEREVERSEDVAT", "EUREVERSEDVAT", "EUVAT", "EXPORT"]),
        "CountryCode" | "DeliveryCountryCode" | "VisitingCountryCode" => Kind::Country,
        "Currency" => Kind::Letters(3),
        "GLN" | "GLNDelivery" => Kind::Digits(13),
        "SalesAccount" => Kind::Digits(4),
        "Email" | "EmailInvoice" | "EmailOffer" | "EmailOrder" => Kind::Email,
        "ZipCode" | "DeliveryZipCode" | "VisitingZipCode" => Kind::Text(10),
        "OrganisationNumber" => Kind::Text(30),
        "OurReference" | "YourReference" => Kind::Text(50),
        "WWW" | "VisitingAddress" | "VisitingCity" => Kind::Text(128),
        "DefaultDeliveryTypes" => Kind::DeliveryTypes,
        "DefaultTemplates" => Kind::TextObject(&["CashInvoice", "Invoice", "Offer", "Order"]),
        "Name"
        | "Address1"
        | "Address2"
        | "City"
        | "Comments"
        | "CostCenter"
        | "DeliveryAddress1"
        | "DeliveryAddress2"
        | "DeliveryCity"
        | "DeliveryFax"
        | "DeliveryName"
        | "DeliveryPhone1"
        | "DeliveryPhone2"
        | "EmailInvoiceBCC"
        | "EmailInvoiceCC"
        | "EmailOfferBCC"
        | "EmailOfferCC"
        | "EmailOrderBCC"
        | "EmailOrderCC"
        | "ExternalReference"
        | "Fax"
        | "InvoiceAdministrationFee"
        | "InvoiceFreight"
        | "InvoiceRemark"
        | "Phone1"
        | "Phone2"
        | "PriceList"
        | "Project"
        | "TermsOfDelivery"
        | "TermsOfPayment"
        | "VATNumber"
        | "WayOfDelivery" => Kind::Text(1024),
        _ => return None,
    })
}

/// What Fortnox fills in on a new customer; everything else starts unset.
pub(super) fn customer_defaults() -> Map<String, Value> {
    let defaults = json!({
        "Active": true,
        "CountryCode": "SE",
        "Currency": "SEK",
        "DefaultDeliveryTypes": {"Invoice": "PRINT", "Offer": "PRINT", "Order": "PRINT"},
        "DefaultTemplates": {
            "CashInvoice": "DEFAULTTEMPLATE",
            "Invoice": "DEFAULTTEMPLATE",
            "Offer": "DEFAULTTEMPLATE",
            "Order": "DEFAULTTEMPLATE"
        },
        "InvoiceDiscount": 0,
        "PriceList": "A",
        "ShowPriceVATIncluded": false,
        "TermsOfPayment": "30",
        "Type": "COMPANY",
        "VATType": "SEVAT",
    });
    let mut map = match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    derive_countries(&mut map);
    map
}

/// Swedish names of common countries; other well-formed codes are accepted and named by
/// their code.
fn country_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "SE" => "Sverige",
        "NO" => "Norge",
        "DK" => "Danmark",
        "FI" => "Finland",
        "IS" => "Island",
        "DE" => "Tyskland",
        "GB" => "Storbritannien",
        "US" => "USA",
        "PL" => "Polen",
        "NL" => "Nederländerna",
        "BE" => "Belgien",
        "FR" => "Frankrike",
        "ES" => "Spanien",
        "IT" => "Italien",
        "PT" => "Portugal",
        "AT" => "Österrike",
        "CH" => "Schweiz",
        "EE" => "Estland",
        "LV" => "Lettland",
        "LT" => "Litauen",
        "IE" => "Irland",
        "LU" => "Luxemburg",
        "CZ" => "Tjeckien",
        "SK" => "Slovakien",
        "HU" => "Ungern",
        "GR" => "Grekland",
        "CY" => "Cypern",
        "MT" => "Malta",
        "SI" => "Slovenien",
        "HR" => "Kroatien",
        "RO" => "Rumänien",
        "BG" => "Bulgarien",
        "CA" => "Kanada",
        "AU" => "Australien",
        "CN" => "Kina",
        "JP" => "Japan",
        "IN" => "Indien",
        "TR" => "Turkiet",
        "UA" => "Ukraina",
        "TH" => "Thailand",
        "AE" => "Förenade Arabemiraten",
        _ => return None,
    })
}

pub(super) fn derive_countries(body: &mut Map<String, Value>) {
    for (code_field, name_field) in [
        ("CountryCode", "Country"),
        ("DeliveryCountryCode", "DeliveryCountry"),
        ("VisitingCountryCode", "VisitingCountry"),
    ] {
        match body.get(code_field).and_then(Value::as_str) {
            Some(code) => {
                let name = country_name(code).map_or_else(|| code.to_string(), str::to_string);
                body.insert(name_field.into(), Value::String(name));
            }
            None => {
                body.remove(name_field);
            }
        }
    }
}

/// Applies the writable fields of `input` to a customer body and re-derives countries.
fn apply_customer_fields(
    body: &mut Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (field, value) in input {
        if let Some(kind) = customer_field(field) {
            apply_field(body, field, kind, value)?;
        }
    }
    derive_countries(body);
    Ok(())
}

/// `stored` with its `@url`.
fn with_url(base: &str, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut body = stored.clone();
    body.insert(
        "@url".into(),
        Value::String(format!(
            "{base}/customers/{}",
            str_field(stored, "CustomerNumber")
        )),
    );
    body
}

/// The customer as `fortnox_Kf_CustomerSingleItem`.
pub(super) fn render_customer(base: &str, stored: &Map<String, Value>) -> Value {
    Value::Object(render(shape(CUSTOMER_SINGLE), &with_url(base, stored)))
}

/// The customer as `fortnox_Kf_CustomerListItem`, which also names the first phone `Phone`.
fn customer_list_item(base: &str, stored: &Map<String, Value>) -> Value {
    let mut body = with_url(base, stored);
    if let Some(phone) = stored.get("Phone1") {
        body.insert("Phone".into(), phone.clone());
    }
    Value::Object(render(shape(CUSTOMER_LIST), &body))
}

impl FortnoxData {
    fn number_taken(&self, number: &str) -> bool {
        self.reserved_customer_numbers.contains(number)
            || self.customers.contains_key(&NatKey::of(number))
    }

    /// The next free sequential customer number.
    pub(super) fn assign_customer_number(&mut self) -> String {
        let mut n = self.next_customer_number.max(1);
        while self.number_taken(&n.to_string()) {
            n += 1;
        }
        self.next_customer_number = n + 1;
        n.to_string()
    }

    /// Creates a customer from the inner object of `{"Customer": …}`; returns its number.
    fn create_customer(
        &mut self,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<String, ApiError> {
        let mut body = customer_defaults();
        apply_customer_fields(&mut body, input)?;
        if str_field(&body, "Name").trim().is_empty() {
            return Err(name_required());
        }
        let requested = match input.get("CustomerNumber") {
            None | Some(Value::Null) => None,
            Some(v) => match string(v) {
                Ok(Some(s)) if s.trim().is_empty() => None,
                Ok(Some(s)) => Some(s.trim().to_string()),
                _ => return Err(invalid_value("CustomerNumber", v)),
            },
        };
        let number = match requested {
            Some(n) if self.number_taken(&n) => {
                return Err(bad_request(
                    CODE_CUSTOMER_NUMBER_TAKEN,
                    format!("Kundnummer {n} används redan."),
                ))
            }
            Some(n) if n.chars().count() > 1024 || n.contains('/') => {
                return Err(invalid_value("CustomerNumber", &Value::String(n)))
            }
            Some(n) => n,
            None => self.assign_customer_number(),
        };
        body.insert("CustomerNumber".into(), Value::String(number.clone()));
        self.reserved_customer_numbers.insert(number.clone());
        let at = clock.tick();
        self.customers
            .insert(NatKey::of(&number), Record { body, modified: at });
        self.changed("customers", "customer-created-v1", number.clone(), at);
        Ok(number)
    }
}
