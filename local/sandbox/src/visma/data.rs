//! One Visma company's data: customers, drafts and booked invoices (full bodies as the
//! document's schemas have them, with their change times) and the lookups seeded in
//! [`super::seed`]; inspection and test controls used through `SandboxState`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::query::utc_text;
use crate::clock::Clock;
use crate::lenient::{dec_field, money, str_field, NatKey};

/// One stored record: the full body as GET returns it and when it last changed.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub body: Map<String, Value>,
    pub changed: DateTime<Utc>,
}

/// Everything one Visma company holds.
#[derive(Debug)]
pub(crate) struct VismaData {
    /// `CustomerApi` bodies by customer number.
    pub(super) customers: BTreeMap<NatKey, Record>,
    /// Customer id → its key in `customers`.
    pub(super) customer_index: HashMap<String, NatKey>,
    /// Lower-cased customer number → customer id (numbers are unique, ignoring case).
    pub(super) number_index: HashMap<String, String>,
    pub(super) next_customer_number: u64,
    /// `TermsOfPaymentApi` bodies.
    pub(super) terms: Vec<Map<String, Value>>,
    /// `ArticleAccountCodingApi` bodies: where an article's VAT rate lives.
    pub(super) codings: Vec<Map<String, Value>>,
    /// `UnitApi` bodies.
    pub(super) units: Vec<Map<String, Value>>,
    /// `ArticleApi` bodies in creation order (`changed` = `ChangedUtc`).
    pub(super) articles: Vec<Record>,
    /// `ProjectApi` bodies in creation order (`changed` = `ModifiedUtc`).
    pub(super) projects: Vec<Record>,
    /// `CostCenterApi` bodies without `Items` (rendered from `cost_center_items`).
    pub(super) cost_centers: Vec<Record>,
    /// `CostCenterItemApi` bodies in creation order (`changed` = `CreatedUtc`).
    pub(super) cost_center_items: Vec<Record>,
    /// `CustomerInvoiceDraftApi` bodies by creation order.
    pub(super) drafts: BTreeMap<u64, Record>,
    pub(super) draft_index: HashMap<String, u64>,
    pub(super) next_draft: u64,
    /// `CustomerInvoiceApi` bodies by invoice number.
    pub(super) invoices: BTreeMap<u64, Record>,
    pub(super) invoice_index: HashMap<String, u64>,
    pub(super) next_invoice_number: u64,
    pub(super) seeded: u64,
}

/// A GUID in its canonical form, or `None`.
pub(super) fn canonical_guid(raw: &str) -> Option<String> {
    Uuid::parse_str(raw.trim()).ok().map(|u| u.to_string())
}

impl VismaData {
    pub(super) fn customer(&self, id: &str) -> Option<&Record> {
        self.customer_index
            .get(id)
            .and_then(|key| self.customers.get(key))
    }

    /// A customer as GET answers it: `UnpaidInvoicesAmount` is computed from the invoices.
    pub(super) fn render_customer(&self, record: &Record) -> Value {
        let id = str_field(&record.body, "Id");
        let unpaid = self
            .invoices
            .values()
            .filter(|r| str_field(&r.body, "CustomerId") == id)
            .map(|r| dec_field(&r.body, "RemainingAmount"))
            .sum();
        let mut body = record.body.clone();
        body.insert("UnpaidInvoicesAmount".into(), money(unpaid));
        Value::Object(body)
    }

    pub(super) fn customer_number_taken(&self, number: &str, except_id: &str) -> bool {
        self.number_index
            .get(&number.to_lowercase())
            .is_some_and(|owner| owner != except_id)
    }

    pub(super) fn assign_customer_number(&mut self) -> String {
        let mut n = self.next_customer_number.max(1);
        while self.customer_number_taken(&n.to_string(), "") {
            n += 1;
        }
        self.next_customer_number = n + 1;
        n.to_string()
    }

    pub(super) fn remove_customer(&mut self, id: &str) -> Option<Record> {
        let key = self.customer_index.remove(id)?;
        let record = self.customers.remove(&key)?;
        self.number_index
            .remove(&str_field(&record.body, "CustomerNumber").to_lowercase());
        Some(record)
    }

    /// Files a customer under its id and number (the caller checked the number is free).
    pub(super) fn insert_customer(&mut self, id: &str, record: Record) {
        let number = str_field(&record.body, "CustomerNumber").to_string();
        let key = NatKey::of(&number);
        self.customer_index.insert(id.to_string(), key.clone());
        self.number_index
            .insert(number.to_lowercase(), id.to_string());
        self.customers.insert(key, record);
    }

    pub(super) fn terms_by_id(&self, id: &str) -> Option<&Map<String, Value>> {
        self.terms.iter().find(|t| str_field(t, "Id") == id)
    }

    pub(super) fn article(&self, id: &str) -> Option<&Map<String, Value>> {
        self.articles
            .iter()
            .map(|r| &r.body)
            .find(|a| str_field(a, "Id") == id)
    }

    pub(super) fn coding(&self, id: &str) -> Option<&Map<String, Value>> {
        self.codings.iter().find(|c| str_field(c, "Id") == id)
    }

    pub(super) fn draft(&self, id: &str) -> Option<&Record> {
        self.draft_index
            .get(id)
            .and_then(|seq| self.drafts.get(seq))
    }

    pub(super) fn invoice(&self, id: &str) -> Option<&Record> {
        self.invoice_index
            .get(id)
            .and_then(|n| self.invoices.get(n))
    }
}

// ---------------------------------------------------------------------------------------
// Inspection and test controls (through `SandboxState`)

impl VismaData {
    /// Every customer's full body, by customer number.
    pub fn customer_bodies(&self) -> Vec<Value> {
        self.customers
            .values()
            .map(|r| self.render_customer(r))
            .collect()
    }

    /// Every invoice's full body, by invoice number.
    pub fn invoice_bodies(&self) -> Vec<Value> {
        self.invoices
            .values()
            .map(|r| Value::Object(r.body.clone()))
            .collect()
    }

    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }

    pub fn invoice_count(&self) -> usize {
        self.invoices.len()
    }

    /// Lets `edit` change a customer as a person in eAccounting would; bumps `ChangedUtc`.
    /// `Id` cannot change; a changed `CustomerNumber` re-files the record, unless another
    /// customer has it (then the old number stays). Properties the schema lacks are dropped.
    pub fn modify_customer(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        let Some(id) = canonical_guid(id) else {
            return false;
        };
        let Some(record) = self.remove_customer(&id) else {
            return false;
        };
        let old_number = str_field(&record.body, "CustomerNumber").to_string();
        let old_body = record.body.clone();
        let mut value = Value::Object(record.body);
        edit(&mut value);
        let mut body = match value {
            Value::Object(map) => map,
            _ => old_body,
        };
        body.retain(|k, _| super::schema::has("CustomerApi", k));
        let number = str_field(&body, "CustomerNumber").to_string();
        if number.trim().is_empty() || self.customer_number_taken(&number, &id) {
            body.insert("CustomerNumber".into(), Value::String(old_number));
        }
        let changed = clock.tick();
        body.insert("Id".into(), Value::String(id.clone()));
        body.insert("ChangedUtc".into(), Value::String(utc_text(changed)));
        let body = super::schema::conform("CustomerApi", body);
        self.insert_customer(&id, Record { body, changed });
        true
    }

    /// Deletes a customer as a person would.
    pub fn delete_customer(&mut self, id: &str) -> bool {
        canonical_guid(id).is_some_and(|id| self.remove_customer(&id).is_some())
    }

    /// Sets a customer's `ChangedUtc` (for tests of change filters).
    pub fn set_customer_modified(&mut self, id: &str, at: DateTime<Utc>) -> bool {
        let Some(id) = canonical_guid(id) else {
            return false;
        };
        let Some(key) = self.customer_index.get(&id) else {
            return false;
        };
        match self.customers.get_mut(key) {
            Some(record) => {
                record.changed = at;
                record
                    .body
                    .insert("ChangedUtc".into(), Value::String(utc_text(at)));
                true
            }
            None => false,
        }
    }

    /// Sets an invoice's `ModifiedUtc` (for tests of `modifiedSinceUtc`).
    pub fn set_invoice_modified(&mut self, id: &str, at: DateTime<Utc>) -> bool {
        let Some(id) = canonical_guid(id) else {
            return false;
        };
        let Some(number) = self.invoice_index.get(&id) else {
            return false;
        };
        match self.invoices.get_mut(number) {
            Some(record) => {
                record.changed = at;
                record
                    .body
                    .insert("ModifiedUtc".into(), Value::String(utc_text(at)));
                true
            }
            None => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Articles, projects and cost centres: inspection and a person's changes

/// Applies `edit` to a record's body as a person in eAccounting would: `Id` stays, the
/// change time moves (`time_field`), properties `schema_name` lacks are dropped.
fn edit_record(
    record: &mut Record,
    schema_name: &str,
    time_field: &str,
    edit: impl FnOnce(&mut Value),
    clock: &mut Clock,
) {
    let id = str_field(&record.body, "Id").to_string();
    let old = record.body.clone();
    let mut value = Value::Object(std::mem::take(&mut record.body));
    edit(&mut value);
    let mut body = match value {
        Value::Object(map) => map,
        _ => old,
    };
    body.retain(|k, _| super::schema::has(schema_name, k));
    let changed = clock.tick();
    body.insert("Id".into(), Value::String(id));
    body.insert(time_field.into(), Value::String(utc_text(changed)));
    record.body = super::schema::conform(schema_name, body);
    record.changed = changed;
}

impl VismaData {
    /// Every article's full body (`ArticleApi`), in creation order.
    pub fn article_bodies(&self) -> Vec<Value> {
        self.articles
            .iter()
            .map(|r| Value::Object(r.body.clone()))
            .collect()
    }

    /// Every project's full body (`ProjectApi`), in creation order.
    pub fn project_bodies(&self) -> Vec<Value> {
        self.projects
            .iter()
            .map(|r| Value::Object(r.body.clone()))
            .collect()
    }

    /// Every cost centre (`CostCenterApi`) with its `Items`, as `GET /v2/costcenters` has
    /// them.
    pub fn cost_center_bodies(&self) -> Vec<Value> {
        self.cost_centers
            .iter()
            .map(|r| Value::Object(self.render_cost_center(&r.body)))
            .collect()
    }

    /// Creates an article as a person would, from a `POST /v2/articles` body (same checks);
    /// returns its `Id` or the error message.
    pub fn seed_article(&mut self, fields: &Value, clock: &mut Clock) -> Result<String, String> {
        let input = fields.as_object().cloned().unwrap_or_default();
        let id = Uuid::new_v4().to_string();
        self.write_article(&id, &input, clock)
            .map(|_| id)
            .map_err(|e| e.message)
    }

    /// Creates a project from a `POST /v2/projects` body; returns its `Id`.
    pub fn seed_project(&mut self, fields: &Value, clock: &mut Clock) -> Result<String, String> {
        let input = fields.as_object().cloned().unwrap_or_default();
        let id = Uuid::new_v4().to_string();
        self.write_project(&id, &input, clock)
            .map(|_| id)
            .map_err(|e| e.message)
    }

    /// Creates a cost centre item from a `POST /v2/costcenteritems` body; returns its `Id`.
    pub fn seed_cost_center_item(
        &mut self,
        fields: &Value,
        clock: &mut Clock,
    ) -> Result<String, String> {
        let input = fields.as_object().cloned().unwrap_or_default();
        let id = Uuid::new_v4().to_string();
        self.write_cost_center_item(&id, &input, clock)
            .map(|_| id)
            .map_err(|e| e.message)
    }

    /// Lets `edit` change article `id` as a person would; bumps `ChangedUtc`.
    pub fn modify_article(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        let Some(id) = canonical_guid(id) else {
            return false;
        };
        match self
            .articles
            .iter_mut()
            .find(|r| str_field(&r.body, "Id") == id)
        {
            Some(record) => {
                edit_record(record, "ArticleApi", "ChangedUtc", edit, clock);
                true
            }
            None => false,
        }
    }

    /// Lets `edit` change project `id` as a person would; bumps `ModifiedUtc`.
    pub fn modify_project(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        let Some(id) = canonical_guid(id) else {
            return false;
        };
        match self
            .projects
            .iter_mut()
            .find(|r| str_field(&r.body, "Id") == id)
        {
            Some(record) => {
                edit_record(record, "ProjectApi", "ModifiedUtc", edit, clock);
                true
            }
            None => false,
        }
    }

    /// Sets an article's `ChangedUtc` (for tests of change filters).
    pub fn set_article_modified(&mut self, id: &str, at: DateTime<Utc>) -> bool {
        set_changed(&mut self.articles, id, "ChangedUtc", at)
    }

    /// Sets a project's `ModifiedUtc` (for tests of change filters).
    pub fn set_project_modified(&mut self, id: &str, at: DateTime<Utc>) -> bool {
        set_changed(&mut self.projects, id, "ModifiedUtc", at)
    }
}

fn set_changed(records: &mut [Record], id: &str, field: &str, at: DateTime<Utc>) -> bool {
    let Some(id) = canonical_guid(id) else {
        return false;
    };
    match records.iter_mut().find(|r| str_field(&r.body, "Id") == id) {
        Some(record) => {
            record.changed = at;
            record
                .body
                .insert(field.into(), Value::String(utc_text(at)));
            true
        }
        None => false,
    }
}
