//! `/v2/projects`: list (`$filter` on `ModifiedUtc`, `Number`, …; paging), get, post (201),
//! put, per `ProjectApi`.
//!
//! - `required`: `Name` (max 200), `Number` (max 9, unique ignoring case: 2003), `Status`
//!   (an integer the schema does not bound: 1 = Ongoing, 2 = Finished per its description;
//!   anything else is 2001).
//! - `CustomerId` is optional; when set it must be a customer (2004). `CustomerName` is
//!   read-only, the customer's name.
//! - `StartDate`/`EndDate` are `format: date-time` (midnight UTC, like every Visma date);
//!   a left-out `StartDate` (not nullable in the schema) is today.
//! - `ModifiedUtc` is set by the server on every write (read-only).
//! - **`PUT /projects/{id}` answers 201**, not 200: the document lists only `201` (with
//!   `ProjectApi`), `400` and `404` for it. PUT replaces the whole project ("Replace an
//!   existing project's data with the provided new data").
//! - Scopes: reads `ea:accounting`, `ea:sales`, `ea:purchase` and their `_readonly`; writes
//!   only `ea:accounting`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codes::{CODE_INVALID_VALUE, CODE_NOT_UNIQUE, CODE_UNKNOWN_REFERENCE};
use super::common::{company_key, created, guid, ok, parse_object};
use super::data::{canonical_guid, Record, VismaData};
use super::errors::{answer, answer_bare_404, bad_request, not_found, required, ApiError};
use super::invoices::{day_text, today};
use super::listing::{no_check, Listing};
use super::odata::FieldType;
use super::query::utc_text;
use super::schema::{self, conform};
use crate::clock::Clock;
use crate::lenient::str_field;
use crate::state::SandboxState;

const SCHEMA: &str = "ProjectApi";
const WHAT: &str = "Project";

/// Scopes that read projects.
pub(super) const PROJECT_READ_SCOPES: &[&str] = &[
    "ea:accounting",
    "ea:accounting_readonly",
    "ea:sales",
    "ea:sales_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
];
/// Scopes that write projects.
pub(super) const PROJECT_WRITE_SCOPES: &[&str] = &["ea:accounting"];

/// Fields of `ProjectApi` a project `$filter` may name; `ModifiedUtc` is the change time.
pub(super) const PROJECT_FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("ModifiedUtc", FieldType::Date),
    ("StartDate", FieldType::Date),
    ("EndDate", FieldType::Date),
    ("Id", FieldType::Text),
    ("Number", FieldType::Text),
    ("Name", FieldType::Text),
    ("CustomerId", FieldType::Text),
    ("Status", FieldType::Number),
];

pub(super) async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    const LISTING: Listing = Listing {
        scopes: PROJECT_READ_SCOPES,
        check: no_check,
        filter_fields: PROJECT_FILTER_FIELDS,
        time_field: "ModifiedUtc",
        modified_since: false,
        records: |d| d.projects.iter().collect(),
        render: |_, r| Value::Object(r.body.clone()),
    };
    answer(LISTING.answer(&state, &headers, query.as_deref()))
}

pub(super) async fn get_one(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    answer_bare_404((|| {
        let key = company_key(&state, &headers, PROJECT_READ_SCOPES)?;
        let id = guid(&raw, WHAT)?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let project = data.project(&id).ok_or_else(|| not_found(WHAT, &id))?;
        Ok(ok(Value::Object(project.clone())))
    })())
}

pub(super) async fn create(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, PROJECT_WRITE_SCOPES)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let id = Uuid::new_v4().to_string();
        let body = data.write_project(&id, &input, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

/// PUT answers 201, as the document says.
pub(super) async fn replace(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer_bare_404((|| {
        let key = company_key(&state, &headers, PROJECT_WRITE_SCOPES)?;
        let id = guid(&raw, WHAT)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        if data.project(&id).is_none() {
            return Err(not_found(WHAT, &id));
        }
        let body = data.write_project(&id, &input, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

impl VismaData {
    pub(super) fn project(&self, id: &str) -> Option<&Map<String, Value>> {
        self.projects
            .iter()
            .map(|r| &r.body)
            .find(|p| str_field(p, "Id") == id)
    }

    /// Creates or replaces project `id` from the whole `input` body; returns the stored body.
    pub(super) fn write_project(
        &mut self,
        id: &str,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        for field in schema::required_fields(SCHEMA) {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let mut body = schema::read_object(SCHEMA, "", input, 0)?;
        for field in ["Name", "Number"] {
            if str_field(&body, field).trim().is_empty() {
                return Err(required(field));
            }
        }
        let number = str_field(&body, "Number").trim().to_string();
        let taken = self.projects.iter().any(|r| {
            str_field(&r.body, "Number").eq_ignore_ascii_case(&number)
                && str_field(&r.body, "Id") != id
        });
        if taken {
            return Err(bad_request(
                CODE_NOT_UNIQUE,
                format!("Validation failed: Number {number} is already used by another project."),
            ));
        }
        body.insert("Number".into(), Value::String(number));
        let status = body.get("Status").and_then(Value::as_i64).unwrap_or(0);
        if ![1, 2].contains(&status) {
            return Err(bad_request(
                CODE_INVALID_VALUE,
                format!("Validation failed: Status has an invalid value {status} (1 = Ongoing, 2 = Finished)."),
            ));
        }
        if input.get("StartDate").is_none_or(Value::is_null) {
            body.insert("StartDate".into(), Value::String(day_text(today())));
        }
        let customer_name = match body
            .get("CustomerId")
            .and_then(Value::as_str)
            .and_then(canonical_guid)
            .filter(|c| *c != Uuid::nil().to_string())
        {
            None => {
                body.insert("CustomerId".into(), Value::Null);
                Value::Null
            }
            Some(customer_id) => {
                let customer = self.customer(&customer_id).ok_or_else(|| {
                    bad_request(
                        CODE_UNKNOWN_REFERENCE,
                        format!("Validation failed: CustomerId {customer_id} does not match any customer."),
                    )
                })?;
                customer.body.get("Name").cloned().unwrap_or(Value::Null)
            }
        };
        let changed = clock.tick();
        body.insert("Id".into(), Value::String(id.to_string()));
        body.insert("CustomerName".into(), customer_name);
        body.insert("ModifiedUtc".into(), Value::String(utc_text(changed)));
        let body = conform(SCHEMA, body);
        let record = Record {
            body: body.clone(),
            changed,
        };
        match self
            .projects
            .iter_mut()
            .find(|r| str_field(&r.body, "Id") == id)
        {
            Some(existing) => *existing = record,
            None => self.projects.push(record),
        }
        Ok(body)
    }
}
