//! Cost centres: `GET /v2/costcenters` (each with its `Items`), `PUT /v2/costcenters/{id}`,
//! `GET /v2/costcenteritems/{itemId}`, `POST /v2/costcenteritems` (201),
//! `PUT /v2/costcenteritems/{costCenterItemId}`, per `CostCenterApi` / `CostCenterItemApi`.
//!
//! - A cost centre's `Number` and `Items` are read-only (eAccounting has the cost centres; the
//!   API only renames them and switches them on or off): `Name` (required, max **20**),
//!   `IsActive`. The document has no POST or DELETE for cost centres, and no DELETE for items.
//! - An item: `CostCenterId` (an existing cost centre, else 2004), `Name` (max 50),
//!   `ShortName` (max 9; unique within its cost centre ignoring case: 2003, a sandbox rule),
//!   `IsActive`, all `required`; `Id` and `CreatedUtc` server-set. PUT replaces the item but
//!   cannot move it to another cost centre ("The cost center assignment cannot be changed
//!   through this operation"): a different `CostCenterId` is refused (2001).
//! - A row's `CostCenterItemId1..3` (`CustomerInvoiceDraftRowApi`, `CustomerInvoiceRowApi`)
//!   must name an existing item (`rows.rs`).
//! - Scopes: reads `ea:accounting`, `ea:sales` and their `_readonly` (and `vls:api`); writes
//!   `ea:accounting`, `ea:sales` (and `vls:api`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codes::{CODE_INVALID_VALUE, CODE_NOT_UNIQUE, CODE_UNKNOWN_REFERENCE};
use super::common::{company_key, created, guid, ok, parse_object};
use super::data::{Record, VismaData};
use super::errors::{answer, answer_bare_404, bad_request, not_found, required, ApiError};
use super::listing::{no_check, Listing};
use super::odata::FieldType;
use super::query::utc_text;
use super::schema::{self, conform};
use crate::clock::Clock;
use crate::lenient::str_field;
use crate::state::SandboxState;

/// Scopes that read cost centres and their items.
const READ: &[&str] = &[
    "ea:accounting",
    "ea:accounting_readonly",
    "ea:sales",
    "ea:sales_readonly",
    "vls:api",
];
/// Scopes that write them.
const WRITE: &[&str] = &["ea:accounting", "ea:sales", "vls:api"];

const FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("Id", FieldType::Text),
    ("Name", FieldType::Text),
    ("Number", FieldType::Number),
    ("IsActive", FieldType::Bool),
];

pub(super) async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    const LISTING: Listing = Listing {
        scopes: READ,
        check: no_check,
        filter_fields: FILTER_FIELDS,
        // Cost centres have no change time in the schema; nothing names this field.
        time_field: "",
        modified_since: false,
        records: |d| d.cost_centers.iter().collect(),
        render: |d, r| Value::Object(d.render_cost_center(&r.body)),
    };
    answer(LISTING.answer(&state, &headers, query.as_deref()))
}

pub(super) async fn replace_cost_center(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer_bare_404((|| {
        let key = company_key(&state, &headers, WRITE)?;
        let id = guid(&raw, "CostCenter")?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let body = data.write_cost_center(&id, &input, clock)?;
        Ok(ok(Value::Object(body)))
    })())
}

pub(super) async fn get_item(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer_bare_404((|| {
        let key = company_key(&state, &headers, READ)?;
        let id = guid(&raw, "CostCenterItem")?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let item = data
            .cost_center_item(&id)
            .ok_or_else(|| not_found("CostCenterItem", &id))?;
        Ok(ok(Value::Object(item.clone())))
    })())
}

pub(super) async fn create_item(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let id = Uuid::new_v4().to_string();
        let body = data.write_cost_center_item(&id, &input, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

pub(super) async fn replace_item(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer_bare_404((|| {
        let key = company_key(&state, &headers, WRITE)?;
        let id = guid(&raw, "CostCenterItem")?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        if data.cost_center_item(&id).is_none() {
            return Err(not_found("CostCenterItem", &id));
        }
        let body = data.write_cost_center_item(&id, &input, clock)?;
        Ok(ok(Value::Object(body)))
    })())
}

impl VismaData {
    pub(super) fn cost_center_item(&self, id: &str) -> Option<&Map<String, Value>> {
        self.cost_center_items
            .iter()
            .map(|r| &r.body)
            .find(|i| str_field(i, "Id") == id)
    }

    /// A cost centre with its `Items`.
    pub(super) fn render_cost_center(&self, stored: &Map<String, Value>) -> Map<String, Value> {
        let id = str_field(stored, "Id");
        let items: Vec<Value> = self
            .cost_center_items
            .iter()
            .filter(|r| str_field(&r.body, "CostCenterId") == id)
            .map(|r| Value::Object(r.body.clone()))
            .collect();
        let mut body = stored.clone();
        body.insert("Items".into(), Value::Array(items));
        body
    }

    /// Renames or (de)activates cost centre `id`; returns it as the API answers it.
    pub(super) fn write_cost_center(
        &mut self,
        id: &str,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        let index = self
            .cost_centers
            .iter()
            .position(|r| str_field(&r.body, "Id") == id)
            .ok_or_else(|| not_found("CostCenter", id))?;
        for field in schema::required_fields("CostCenterApi") {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let read = schema::read_object("CostCenterApi", "", input, 0)?;
        if str_field(&read, "Name").trim().is_empty() {
            return Err(required("Name"));
        }
        let changed = clock.tick();
        let Some(record) = self.cost_centers.get_mut(index) else {
            return Err(not_found("CostCenter", id));
        };
        for field in ["Name", "IsActive"] {
            if let Some(v) = read.get(field) {
                record.body.insert(field.into(), v.clone());
            }
        }
        record.changed = changed;
        let stored = record.body.clone();
        Ok(self.render_cost_center(&stored))
    }

    /// Creates or replaces cost centre item `id`; returns the stored body.
    pub(super) fn write_cost_center_item(
        &mut self,
        id: &str,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        const SCHEMA: &str = "CostCenterItemApi";
        for field in schema::required_fields(SCHEMA) {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let mut body = schema::read_object(SCHEMA, "", input, 0)?;
        for field in ["Name", "ShortName"] {
            if str_field(&body, field).trim().is_empty() {
                return Err(required(field));
            }
        }
        let center = str_field(&body, "CostCenterId").to_string();
        // PUT: "The cost center assignment cannot be changed through this operation."
        if let Some(existing) = self.cost_center_item(id) {
            if str_field(existing, "CostCenterId") != center {
                return Err(bad_request(
                    CODE_INVALID_VALUE,
                    format!("Validation failed: CostCenterId cannot be changed (the item belongs to cost center {}).", str_field(existing, "CostCenterId")),
                ));
            }
        }
        if !self
            .cost_centers
            .iter()
            .any(|r| str_field(&r.body, "Id") == center)
        {
            return Err(bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: CostCenterId {center} does not match any cost center."),
            ));
        }
        let short = str_field(&body, "ShortName").trim().to_string();
        let taken = self.cost_center_items.iter().any(|r| {
            str_field(&r.body, "CostCenterId") == center
                && str_field(&r.body, "ShortName").eq_ignore_ascii_case(&short)
                && str_field(&r.body, "Id") != id
        });
        if taken {
            return Err(bad_request(
                CODE_NOT_UNIQUE,
                format!(
                    "Validation failed: ShortName {short} is already used in this cost center."
                ),
            ));
        }
        body.insert("ShortName".into(), Value::String(short));
        let changed = clock.tick();
        let created_at = self
            .cost_center_item(id)
            .and_then(|i| i.get("CreatedUtc").cloned())
            .unwrap_or_else(|| Value::String(utc_text(changed)));
        body.insert("Id".into(), Value::String(id.to_string()));
        body.insert("CreatedUtc".into(), created_at);
        let body = conform(SCHEMA, body);
        let record = Record {
            body: body.clone(),
            changed,
        };
        match self
            .cost_center_items
            .iter_mut()
            .find(|r| str_field(&r.body, "Id") == id)
        {
            Some(existing) => *existing = record,
            None => self.cost_center_items.push(record),
        }
        Ok(body)
    }
}
