//! Articles, projects and cost centres: `GET|POST /3/articles`, `GET|PUT|DELETE
//! /3/articles/{ArticleNumber}`, the same for `/3/projects/{ProjectNumber}` and
//! `/3/costcenters/{Code}`. One generic register ([`Spec`]) serves all three.
//!
//! What the document (`contracts/fortnox-openapi-2026-04.json`) says and the sandbox does:
//! - Articles (`fortnox_ArticleSinglePayloadItem`, scope `article`): `Description` required
//!   (1..200); `ArticleNumber` (max 50) assigned in sequence when absent and reserved after
//!   deletion, as customer numbers are; `Unit` must be one of the company's unit codes
//!   ([`CODE_UNIT_NOT_FOUND`]); `Type` `STOCK|SERVICE`; `HouseworkType` the article's own enum,
//!   which differs from the invoice row's (`COOKING`, `TUTORING`, `EMPTYHOUSEWORK` only here;
//!   no `ITSERVICES`, `MOVINGSERVICES`, `MAJORAPPLIANCEREPAIR`). The schemas have **no
//!   `LastModified`**: the sandbox keeps the modification time apart, for `lastmodified`.
//!   The list item (`fortnox_ArticleListItem`) types `SalesPrice`, `VAT`, `PurchasePrice`,
//!   `StockValue` as strings, the single record as numbers. `DisposableQuantity`,
//!   `ReservedQuantity` and `StockValue` are computed by Fortnox and ignored on input.
//! - Projects (`fortnox_Project_ProjectSinglePayloadItem`, scope `project`): `Description`
//!   required (1..50); `ProjectNumber` (max 20) assigned when absent; `Status`
//!   `NOTSTARTED|ONGOING|COMPLETED`; `ProjectLeader`, `ContactPerson` max 50, `Comments` max
//!   512; dates `YYYY-MM-DD`. No customer field exists. The list takes only `description`
//!   and `projectleader` (plus paging): **no `lastmodified`** (a 400 here).
//! - Cost centres (`fortnox_CostCenterSinglePayloadItem`, scope `costcenter`): `Code`
//!   (1..6) and `Description` both required; `Active`, `Note`. The list operation documents
//!   no parameters; it pages like the others.
//! - Lists answer `MetaInformation` (the document's article and cost centre wrappers lack it;
//!   see `contract/fortnox.rs`). PUT merges, as for customers; the key cannot change.
//! - A record used on an invoice (row `ArticleNumber`, invoice or row `Project` /
//!   `CostCenter`) cannot be deleted ([`CODE_REGISTER_IN_USE`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::codes::{
    CODE_INVALID_PARAMETER, CODE_REGISTER_IN_USE, CODE_REQUIRED_FIELD, CODE_UNIT_NOT_FOUND,
};
use super::common::{base_url, company_key, created, ok, parse_wrapped};
use super::data::{FortnoxData, Record, Register};
use super::errors::{bad_request, invalid_value, not_found, too_long, ApiError};
use super::fields::apply_field;
use super::query::{parse_lastmodified, parse_query, sort_records, Paging};
use super::shape::{render, shape};
use crate::clock::Clock;
use crate::lenient::{bool_field, contains_ci, decimal, str_field, string, NatKey};
use crate::state::SandboxState;

pub(super) use super::register_specs::{object, Spec, Which, ARTICLES, COST_CENTERS, PROJECTS};

/// The routes of the three registers.
pub(super) fn routes() -> Router<Arc<SandboxState>> {
    let mut router = Router::new();
    for spec in [&ARTICLES, &PROJECTS, &COST_CENTERS] {
        router = router
            .route(
                &format!("/3/{}", spec.path),
                get(
                    move |State(state): State<Arc<SandboxState>>,
                          headers: HeaderMap,
                          RawQuery(query): RawQuery| async move {
                        list(&state, &headers, query.as_deref(), spec)
                    },
                )
                .post(
                    move |State(state): State<Arc<SandboxState>>,
                          headers: HeaderMap,
                          body: Bytes| async move {
                        create(&state, &headers, &body, spec)
                    },
                ),
            )
            .route(
                &format!("/3/{}/{{key}}", spec.path),
                get(
                    move |State(state): State<Arc<SandboxState>>,
                          headers: HeaderMap,
                          Path(key): Path<String>| async move {
                        get_one(&state, &headers, &key, spec)
                    },
                )
                .put(
                    move |State(state): State<Arc<SandboxState>>,
                          headers: HeaderMap,
                          Path(key): Path<String>,
                          body: Bytes| async move {
                        update(&state, &headers, &key, &body, spec)
                    },
                )
                .delete(
                    move |State(state): State<Arc<SandboxState>>,
                          headers: HeaderMap,
                          Path(key): Path<String>| async move {
                        delete(&state, &headers, &key, spec)
                    },
                ),
            );
    }
    router
}

impl FortnoxData {
    pub(super) fn register(&self, which: Which) -> &Register {
        match which {
            Which::Articles => &self.articles,
            Which::Projects => &self.projects,
            Which::CostCenters => &self.cost_centers,
        }
    }

    pub(super) fn register_mut(&mut self, which: Which) -> &mut Register {
        match which {
            Which::Articles => &mut self.articles,
            Which::Projects => &mut self.projects,
            Which::CostCenters => &mut self.cost_centers,
        }
    }

    /// Whether a unit code exists (case-insensitively, as Fortnox's codes are).
    pub(super) fn has_unit(&self, code: &str) -> bool {
        self.units.iter().any(|u| u.eq_ignore_ascii_case(code))
    }

    /// Whether an invoice uses `key` of register `which`.
    fn in_use(&self, which: Which, key: &str) -> bool {
        let (head, row_field) = match which {
            Which::Articles => (None, "ArticleNumber"),
            Which::Projects => (Some("Project"), "Project"),
            Which::CostCenters => (Some("CostCenter"), "CostCenter"),
        };
        self.invoices.values().any(|r| {
            head.is_some_and(|f| str_field(&r.body, f) == key)
                || r.body
                    .get("InvoiceRows")
                    .and_then(Value::as_array)
                    .is_some_and(|rows| {
                        rows.iter()
                            .filter_map(Value::as_object)
                            .any(|row| str_field(row, row_field) == key)
                    })
        })
    }

    /// Creates a record of `spec`'s register from the inner object of the wrapped body;
    /// returns its key.
    pub(super) fn create_registered(
        &mut self,
        spec: &Spec,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<String, ApiError> {
        let mut body = (spec.defaults)();
        apply_fields(spec, &mut body, input)?;
        self.check_record(spec, &body)?;
        let requested = match input.get(spec.key_field) {
            None | Some(Value::Null) => None,
            Some(v) => match string(v) {
                Ok(Some(s)) if s.trim().is_empty() => None,
                Ok(Some(s)) => Some(s.trim().to_string()),
                _ => return Err(invalid_value(spec.key_field, v)),
            },
        };
        let register = self.register_mut(spec.which);
        let key = match requested {
            Some(k) if register.taken(&k) => {
                return Err(bad_request(
                    spec.taken_code,
                    format!("{} {k} används redan.", spec.key_field),
                ))
            }
            Some(k) if k.chars().count() > spec.key_max => {
                return Err(too_long(spec.key_field, spec.key_max))
            }
            Some(k) if k.contains('/') => {
                return Err(invalid_value(spec.key_field, &Value::String(k)))
            }
            Some(k) => k,
            None if spec.assigns => register.assign(),
            None => {
                return Err(bad_request(
                    CODE_REQUIRED_FIELD,
                    format!("Fältet \"{}\" måste anges.", spec.key_field),
                ))
            }
        };
        body.insert(spec.key_field.into(), Value::String(key.clone()));
        if spec.reserves {
            register.reserved.insert(key.clone());
        }
        let at = clock.tick();
        register
            .records
            .insert(NatKey::of(&key), Record { body, modified: at });
        Ok(key)
    }

    /// Merges `input` into record `key`; bumps its modification time.
    fn update_registered(
        &mut self,
        spec: &Spec,
        key: &str,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<(), ApiError> {
        let mut body = self
            .register(spec.which)
            .records
            .get(&NatKey::of(key))
            .map(|r| r.body.clone())
            .ok_or_else(|| missing(spec, key))?;
        apply_fields(spec, &mut body, input)?;
        self.check_record(spec, &body)?;
        if let Some(record) = self
            .register_mut(spec.which)
            .records
            .get_mut(&NatKey::of(key))
        {
            record.body = body;
            record.modified = clock.tick();
        }
        Ok(())
    }

    /// What every write of a record must satisfy.
    fn check_record(&self, spec: &Spec, body: &Map<String, Value>) -> Result<(), ApiError> {
        if str_field(body, "Description").trim().is_empty() {
            return Err(bad_request(
                CODE_REQUIRED_FIELD,
                "Fältet \"Description\" måste anges.",
            ));
        }
        if spec.which == Which::Articles {
            let unit = str_field(body, "Unit");
            if !unit.is_empty() && !self.has_unit(unit) {
                return Err(bad_request(
                    CODE_UNIT_NOT_FOUND,
                    format!("Kunde inte hitta enhet \"{unit}\"."),
                ));
            }
        }
        Ok(())
    }
}

impl Register {
    pub(super) fn taken(&self, key: &str) -> bool {
        self.reserved.contains(key) || self.records.contains_key(&NatKey::of(key))
    }

    /// The next free sequential number.
    pub(super) fn assign(&mut self) -> String {
        let mut n = self.next.max(1);
        while self.taken(&n.to_string()) {
            n += 1;
        }
        self.next = n + 1;
        n.to_string()
    }
}

fn apply_fields(
    spec: &Spec,
    body: &mut Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (field, value) in input {
        if let Some(kind) = (spec.field)(field) {
            // `VAT` is a number in the schema: read it as one, then check it is a Swedish rate.
            let value = match (field.as_str(), decimal(value)) {
                ("VAT", Ok(Some(d))) => Value::String(d.normalize().to_string()),
                _ => value.clone(),
            };
            apply_field(body, field, kind, &value)?;
        }
    }
    if let Some(vat) = body.get("VAT").and_then(Value::as_str) {
        let vat = vat.parse::<i64>().map_or(Value::Null, Value::from);
        body.insert("VAT".into(), vat);
    }
    Ok(())
}

fn missing(spec: &Spec, key: &str) -> ApiError {
    not_found(format!("Kan inte hitta {} \"{key}\".", spec.noun))
}

/// `stored` with its `@url`.
fn with_url(base: &str, spec: &Spec, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut body = stored.clone();
    body.insert(
        "@url".into(),
        Value::String(format!(
            "{base}/{}/{}",
            spec.path,
            str_field(stored, spec.key_field)
        )),
    );
    body
}

/// A record as `GET` answers it.
pub(super) fn render_single(base: &str, spec: &Spec, stored: &Map<String, Value>) -> Value {
    Value::Object(render(shape(spec.single), &with_url(base, spec, stored)))
}

fn list(
    state: &SandboxState,
    headers: &HeaderMap,
    query: Option<&str>,
    spec: &Spec,
) -> Result<Response, ApiError> {
    let key = company_key(state, headers, spec.scope)?;
    let query = parse_query(query, spec.params)?;
    if !spec.lastmodified && query.contains_key("lastmodified") {
        return Err(bad_request(
            CODE_INVALID_PARAMETER,
            format!(
                "Ogiltig parameter: \"lastmodified\" (finns inte för /3/{}).",
                spec.path
            ),
        ));
    }
    let paging = Paging::from_query(&query)?;
    let since = query
        .get("lastmodified")
        .map(|s| parse_lastmodified(s))
        .transpose()?;
    let active_filter = match query.get("filter").map(String::as_str) {
        None => None,
        Some("active") => Some(true),
        Some("inactive") => Some(false),
        Some(other) => {
            return Err(bad_request(
                CODE_INVALID_PARAMETER,
                format!("Ogiltigt filter: \"{other}\"."),
            ))
        }
    };
    let webshop = query.get("webshop").map(|v| v == "true");
    let base = base_url(headers);
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&key);
    let mut matches: Vec<&Record> = data
        .register(spec.which)
        .records
        .values()
        .filter(|r| since.is_none_or(|t| r.modified >= t))
        .filter(|r| active_filter.is_none_or(|a| bool_field(&r.body, "Active") == a))
        .filter(|r| webshop.is_none_or(|w| bool_field(&r.body, "WebshopArticle") == w))
        .filter(|r| matches_search(&r.body, &query, spec.search))
        .collect();
    sort_records(&mut matches, &query, spec.sort)?;
    let (page, meta) = paging.apply(&matches);
    let items: Vec<Value> = page
        .iter()
        .map(|r| Value::Object(render(shape(spec.list), &with_url(&base, spec, &r.body))))
        .collect();
    Ok(ok(
        json!({spec.list_wrapper: items, "MetaInformation": meta}),
    ))
}

fn matches_search(
    body: &Map<String, Value>,
    query: &HashMap<String, String>,
    search: &[(&str, &str)],
) -> bool {
    search.iter().all(|(param, field)| {
        query
            .get(*param)
            .is_none_or(|needle| contains_ci(str_field(body, field), needle))
    })
}

fn get_one(
    state: &SandboxState,
    headers: &HeaderMap,
    key: &str,
    spec: &Spec,
) -> Result<Response, ApiError> {
    let company = company_key(state, headers, spec.scope)?;
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&company);
    let record = data
        .register(spec.which)
        .records
        .get(&NatKey::of(key))
        .ok_or_else(|| missing(spec, key))?;
    Ok(ok(
        json!({spec.wrapper: render_single(&base_url(headers), spec, &record.body)}),
    ))
}

fn create(
    state: &SandboxState,
    headers: &HeaderMap,
    body: &[u8],
    spec: &Spec,
) -> Result<Response, ApiError> {
    let company = company_key(state, headers, spec.scope)?;
    let input = parse_wrapped(body, spec.wrapper)?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&company);
    let key = data.create_registered(spec, &input, clock)?;
    let record = data
        .register(spec.which)
        .records
        .get(&NatKey::of(&key))
        .ok_or_else(|| missing(spec, &key))?;
    Ok(created(
        json!({spec.wrapper: render_single(&base_url(headers), spec, &record.body)}),
    ))
}

fn update(
    state: &SandboxState,
    headers: &HeaderMap,
    key: &str,
    body: &[u8],
    spec: &Spec,
) -> Result<Response, ApiError> {
    let company = company_key(state, headers, spec.scope)?;
    let input = parse_wrapped(body, spec.wrapper)?;
    let mut store = state.rest();
    let (data, clock) = store.fortnox_mut(&company);
    data.update_registered(spec, key, &input, clock)?;
    let record = data
        .register(spec.which)
        .records
        .get(&NatKey::of(key))
        .ok_or_else(|| missing(spec, key))?;
    Ok(ok(
        json!({spec.wrapper: render_single(&base_url(headers), spec, &record.body)}),
    ))
}

fn delete(
    state: &SandboxState,
    headers: &HeaderMap,
    key: &str,
    spec: &Spec,
) -> Result<Response, ApiError> {
    let company = company_key(state, headers, spec.scope)?;
    let mut store = state.rest();
    let (data, _) = store.fortnox_mut(&company);
    if !data
        .register(spec.which)
        .records
        .contains_key(&NatKey::of(key))
    {
        return Err(missing(spec, key));
    }
    if data.in_use(spec.which, key) {
        return Err(bad_request(
            CODE_REGISTER_IN_USE,
            format!(
                "{} {key} används på fakturor och kan inte tas bort.",
                spec.key_field
            ),
        ));
    }
    data.register_mut(spec.which)
        .records
        .remove(&NatKey::of(key));
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl FortnoxData {
    /// Checks what an invoice write names: its `CostCenter` and `Project`
    /// (`fortnox_Kf_InvoiceSinglePayloadItem`) and each row's `ArticleNumber`, `CostCenter`
    /// and `Project` (`fortnox_Kf_InvoiceRowSinglePayloadItem`) must exist. Only written
    /// values are checked (`""` clears, as everywhere).
    pub(super) fn check_invoice_references(
        &self,
        input: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        self.check_reference(input, "CostCenter", Which::CostCenters, None)?;
        self.check_reference(input, "Project", Which::Projects, None)?;
        if let Some(rows) = input.get("InvoiceRows").and_then(Value::as_array) {
            for (i, row) in rows.iter().enumerate() {
                let Some(row) = row.as_object() else { continue };
                self.check_reference(row, "ArticleNumber", Which::Articles, Some(i))?;
                self.check_reference(row, "CostCenter", Which::CostCenters, Some(i))?;
                self.check_reference(row, "Project", Which::Projects, Some(i))?;
            }
        }
        Ok(())
    }

    fn check_reference(
        &self,
        input: &Map<String, Value>,
        field: &str,
        which: Which,
        row: Option<usize>,
    ) -> Result<(), ApiError> {
        let Some(value) = input
            .get(field)
            .and_then(|v| string(v).ok().flatten())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
        else {
            return Ok(());
        };
        if self
            .register(which)
            .records
            .contains_key(&NatKey::of(&value))
        {
            return Ok(());
        }
        let (code, noun) = match which {
            Which::Articles => (super::codes::CODE_ARTICLE_NOT_FOUND, "artikel"),
            Which::Projects => (super::codes::CODE_PROJECT_NOT_FOUND, "projekt"),
            Which::CostCenters => (super::codes::CODE_COST_CENTER_NOT_FOUND, "kostnadsställe"),
        };
        let place = row.map_or_else(String::new, |i| format!(" (rad {}, {field})", i + 1));
        Err(bad_request(
            code,
            format!("Kunde inte hitta {noun} \"{value}\"{place}."),
        ))
    }
}
