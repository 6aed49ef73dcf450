//! Inspection and seeding of a company's Fortnox data, through `SandboxState`: full records
//! (rendered as `GET` answers them, without `@url`), counts, generated customers, and a
//! person's changes made in Fortnox itself.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::common::PUBLIC_BASE;
use super::customers::{customer_defaults, derive_countries, render_customer};
use super::data::{FortnoxData, Record};
use super::invoices::render_invoice;
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
