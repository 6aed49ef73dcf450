//! Inspection and seeding of a company's Fortnox data, through `SandboxState`: full records
//! (rendered as `GET` answers them, without `@url`), counts, generated customers, and a
//! person's changes made in Fortnox itself; a new company's articles, projects, cost centres
//! and units.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::common::PUBLIC_BASE;
use super::customers::{customer_defaults, derive_countries, render_customer};
use super::data::{FortnoxData, Record};
use super::invoices::render_invoice;
use super::registers::{object, render_single, Spec, ARTICLES, COST_CENTERS, PROJECTS};
use crate::clock::Clock;
use crate::lenient::NatKey;
use crate::seed;

/// A rendered record without its `@url`s.
fn without_urls(rendered: Value) -> Value {
    match rendered {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !k.starts_with("@url"))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

impl FortnoxData {
    /// Every customer as `GET` answers it (without `@url`), by number.
    pub fn customer_bodies(&self) -> Vec<Value> {
        self.customers
            .values()
            .map(|r| without_urls(render_customer(PUBLIC_BASE, &r.body)))
            .collect()
    }

    /// Every invoice as `GET` answers it (without `@url`s), by number.
    pub fn invoice_bodies(&self) -> Vec<Value> {
        self.invoices
            .values()
            .map(|r| without_urls(render_invoice(PUBLIC_BASE, &r.body)))
            .collect()
    }

    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }

    pub fn invoice_count(&self) -> usize {
        self.invoices.len()
    }

    /// Adds `n` generated customers; returns their numbers.
    pub fn seed_customers(
        &mut self,
        company_key: &str,
        n: usize,
        clock: &mut Clock,
    ) -> Vec<String> {
        let mut numbers = Vec::with_capacity(n);
        for _ in 0..n {
            let s = seed::customer("fortnox", company_key, self.seeded);
            self.seeded += 1;
            let number = self.assign_customer_number();
            let mut body = customer_defaults();
            for (k, v) in [
                ("CustomerNumber", number.clone()),
                ("Name", s.name),
                ("OrganisationNumber", s.organisation_number),
                ("Address1", s.address1),
                ("ZipCode", s.zip_code),
                ("City", s.city),
                ("Email", s.email.clone()),
                ("EmailInvoice", s.email),
                ("Phone1", s.phone),
                (
                    "Type",
                    if s.is_private { "PRIVATE" } else { "COMPANY" }.to_string(),
                ),
            ] {
                body.insert(k.into(), Value::String(v));
            }
            derive_countries(&mut body);
            self.reserved_customer_numbers.insert(number.clone());
            let at = clock.tick();
            self.customers
                .insert(NatKey::of(&number), Record { body, modified: at });
            self.changed("customers", "customer-created-v1", number.clone(), at);
            numbers.push(number);
        }
        numbers
    }

    /// Lets `edit` change a customer as a person in Fortnox would; bumps its modification
    /// time. The number cannot change; countries are re-derived.
    pub fn modify_customer(
        &mut self,
        number: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        let Some(record) = self.customers.get_mut(&NatKey::of(number)) else {
            return false;
        };
        let mut value = Value::Object(std::mem::take(&mut record.body));
        edit(&mut value);
        let mut body = match value {
            Value::Object(map) => map,
            _ => customer_defaults(),
        };
        body.insert("CustomerNumber".into(), Value::String(number.to_string()));
        derive_countries(&mut body);
        record.body = body;
        let at = clock.tick();
        record.modified = at;
        self.changed("customers", "customer-updated-v2", number, at);
        true
    }

    /// Deletes a customer as a person would (its number stays reserved).
    pub fn delete_customer(&mut self, number: &str, clock: &mut Clock) -> bool {
        let existed = self.customers.remove(&NatKey::of(number)).is_some();
        if existed {
            self.changed("customers", "customer-deleted-v1", number, clock.tick());
        }
        existed
    }

    /// Sets a customer's modification time (for tests of `lastmodified`).
    pub fn set_customer_modified(&mut self, number: &str, at: DateTime<Utc>) -> bool {
        match self.customers.get_mut(&NatKey::of(number)) {
            Some(record) => {
                record.modified = at;
                true
            }
            None => false,
        }
    }

    /// Sets an invoice's modification time (for tests of `lastmodified`).
    /// Edits invoice `number`'s stored body as it is (no derivation, no time bump): a record
    /// of a shape the provider should not have sent, for tests of unreadable records.
    pub fn edit_invoice_raw(
        &mut self,
        number: &str,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> bool {
        let Ok(n) = number.trim().parse::<u64>() else {
            return false;
        };
        match self.invoices.get_mut(&n) {
            Some(record) => {
                edit(&mut record.body);
                true
            }
            None => false,
        }
    }

    pub fn set_invoice_modified(&mut self, number: &str, at: DateTime<Utc>) -> bool {
        let Ok(n) = number.trim().parse::<u64>() else {
            return false;
        };
        match self.invoices.get_mut(&n) {
            Some(record) => {
                record.modified = at;
                true
            }
            None => false,
        }
    }
}

/// Unit codes every new company has (`/3/units`; Fortnox's own list is the company's).
pub(super) const UNITS: &[&str] = &["st", "h", "tim", "m", "m2", "kg", "l", "km", "dag"];

impl FortnoxData {
    /// A new company: the usual Swedish units, a few articles (`ARB` Arbetstid, `MAT`
    /// Material, `RESA` Resekostnad, `ROT` Arbete ROT), projects (`1`–`3`) and cost centres
    /// (`STHLM`, `GBG`, `SERV`), all modified `now`. Nothing goes to the change stream.
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        let mut data = FortnoxData {
            units: UNITS.iter().map(|u| (*u).to_string()).collect(),
            ..FortnoxData::default()
        };
        let seeds: [(&Spec, Value); 10] = [
            (
                &COST_CENTERS,
                json!({"Code": "STHLM", "Description": "Stockholm"}),
            ),
            (
                &COST_CENTERS,
                json!({"Code": "GBG", "Description": "Göteborg"}),
            ),
            (
                &COST_CENTERS,
                json!({"Code": "SERV", "Description": "Service och underhåll"}),
            ),
            (
                &PROJECTS,
                json!({"Description": "Tak Storgatan 1", "Status": "ONGOING",
                       "ProjectLeader": "Anna Andersson", "StartDate": "2026-01-07"}),
            ),
            (
                &PROJECTS,
                json!({"Description": "Badrum Kungsgatan 5", "Status": "NOTSTARTED",
                       "ProjectLeader": "Per Persson", "StartDate": "2026-12-01"}),
            ),
            (
                &PROJECTS,
                json!({"Description": "Fasad Sjögatan 12", "Status": "COMPLETED",
                       "ProjectLeader": "Anna Andersson", "StartDate": "2025-04-01",
                       "EndDate": "2025-09-30"}),
            ),
            (
                &ARTICLES,
                json!({"ArticleNumber": "ARB", "Description": "Arbetstid", "Unit": "tim",
                       "Type": "SERVICE", "SalesPrice": 650, "VAT": 25, "SalesAccount": 3001}),
            ),
            (
                &ARTICLES,
                json!({"ArticleNumber": "MAT", "Description": "Material", "Unit": "st",
                       "Type": "STOCK", "SalesPrice": 100, "VAT": 25, "SalesAccount": 3001}),
            ),
            (
                &ARTICLES,
                json!({"ArticleNumber": "RESA", "Description": "Resekostnad", "Unit": "km",
                       "Type": "SERVICE", "SalesPrice": 25, "VAT": 25, "SalesAccount": 3001}),
            ),
            (
                &ARTICLES,
                json!({"ArticleNumber": "ROT", "Description": "Arbete ROT", "Unit": "tim",
                       "Type": "SERVICE", "SalesPrice": 650, "VAT": 25, "SalesAccount": 3001,
                       "Housework": true, "HouseworkType": "CONSTRUCTION"}),
            ),
        ];
        for (spec, fields) in seeds {
            let input = object(fields);
            if let Ok(key) = data.create_registered(spec, &input, &mut Clock::default()) {
                if let Some(r) = data
                    .register_mut(spec.which)
                    .records
                    .get_mut(&NatKey::of(&key))
                {
                    r.modified = now;
                }
            }
        }
        data
    }

    fn register_bodies(&self, spec: &Spec) -> Vec<Value> {
        self.register(spec.which)
            .records
            .values()
            .map(|r| without_urls(render_single(PUBLIC_BASE, spec, &r.body)))
            .collect()
    }

    /// Every article as `GET /3/articles/{n}` answers it (without `@url`), by number.
    pub fn article_bodies(&self) -> Vec<Value> {
        self.register_bodies(&ARTICLES)
    }

    /// Every project as `GET /3/projects/{n}` answers it (without `@url`), by number.
    pub fn project_bodies(&self) -> Vec<Value> {
        self.register_bodies(&PROJECTS)
    }

    /// Every cost centre as `GET /3/costcenters/{code}` answers it (without `@url`).
    pub fn cost_center_bodies(&self) -> Vec<Value> {
        self.register_bodies(&COST_CENTERS)
    }

    /// The company's unit codes.
    pub fn unit_codes(&self) -> Vec<String> {
        self.units.clone()
    }

    /// Adds a unit code (for tests of articles' `Unit`).
    pub fn add_unit(&mut self, code: &str) {
        if !self.has_unit(code) {
            self.units.push(code.to_string());
        }
    }

    fn seed_registered(
        &mut self,
        spec: &Spec,
        fields: &Value,
        clock: &mut Clock,
    ) -> Result<String, String> {
        let input = fields.as_object().cloned().unwrap_or_default();
        self.create_registered(spec, &input, clock)
            .map_err(|e| e.message)
    }

    /// Creates an article as a person in Fortnox would, from the fields a `POST
    /// /3/articles` body's `Article` would carry (same checks); returns its number or
    /// Fortnox's message.
    pub fn seed_article(&mut self, fields: &Value, clock: &mut Clock) -> Result<String, String> {
        self.seed_registered(&ARTICLES, fields, clock)
    }

    /// Creates a project (the fields of a `POST /3/projects` body's `Project`).
    pub fn seed_project(&mut self, fields: &Value, clock: &mut Clock) -> Result<String, String> {
        self.seed_registered(&PROJECTS, fields, clock)
    }

    /// Creates a cost centre (the fields of a `POST /3/costcenters` body's `CostCenter`).
    pub fn seed_cost_center(
        &mut self,
        fields: &Value,
        clock: &mut Clock,
    ) -> Result<String, String> {
        self.seed_registered(&COST_CENTERS, fields, clock)
    }

    fn modify_registered(
        &mut self,
        spec: &Spec,
        key: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        let Some(record) = self
            .register_mut(spec.which)
            .records
            .get_mut(&NatKey::of(key))
        else {
            return false;
        };
        let old = record.body.clone();
        let mut value = Value::Object(std::mem::take(&mut record.body));
        edit(&mut value);
        let mut body = match value {
            Value::Object(map) => map,
            _ => old,
        };
        body.insert(spec.key_field.into(), Value::String(key.to_string()));
        record.body = body;
        record.modified = clock.tick();
        true
    }

    /// Lets `edit` change an article as a person in Fortnox would (the record as
    /// [`Self::article_bodies`] shows it); bumps its modification time (`lastmodified`). The
    /// number cannot change.
    pub fn modify_article(
        &mut self,
        number: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        self.modify_registered(&ARTICLES, number, edit, clock)
    }

    /// [`Self::modify_article`] for a project.
    pub fn modify_project(
        &mut self,
        number: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        self.modify_registered(&PROJECTS, number, edit, clock)
    }

    /// [`Self::modify_article`] for a cost centre.
    pub fn modify_cost_center(
        &mut self,
        code: &str,
        edit: impl FnOnce(&mut Value),
        clock: &mut Clock,
    ) -> bool {
        self.modify_registered(&COST_CENTERS, code, edit, clock)
    }

    /// Deletes an article as a person would (its number stays reserved); unlike the API,
    /// also one in use.
    pub fn delete_article(&mut self, number: &str) -> bool {
        self.articles.records.remove(&NatKey::of(number)).is_some()
    }

    /// Deletes a project as a person would.
    pub fn delete_project(&mut self, number: &str) -> bool {
        self.projects.records.remove(&NatKey::of(number)).is_some()
    }

    /// Deletes a cost centre as a person would.
    pub fn delete_cost_center(&mut self, code: &str) -> bool {
        self.cost_centers
            .records
            .remove(&NatKey::of(code))
            .is_some()
    }

    /// Sets an article's modification time (for tests of `lastmodified`).
    pub fn set_article_modified(&mut self, number: &str, at: DateTime<Utc>) -> bool {
        match self.articles.records.get_mut(&NatKey::of(number)) {
            Some(record) => {
                record.modified = at;
                true
            }
            None => false,
        }
    }
}
