//! What one Fortnox company holds: its stored records. Handlers and seeding add the
//! behaviour (`impl FortnoxData` in `customers.rs`, `invoices.rs`, `actions.rs`, `seed.rs`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::lenient::NatKey;
use crate::stream::Change;

/// One stored record: the written and computed values (unset ones absent) and when it last
/// changed. Answers are rendered from it by `shape.rs`.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub body: Map<String, Value>,
    pub modified: DateTime<Utc>,
}

/// One register of records keyed by a number or code (articles, projects, cost centres).
#[derive(Debug, Default)]
pub(crate) struct Register {
    pub records: BTreeMap<NatKey, Record>,
    /// Every key ever used, deleted ones included (only where Fortnox reserves them).
    pub reserved: HashSet<String>,
    /// Next candidate for an assigned number (0 = start at 1).
    pub next: u64,
}

/// Everything one Fortnox company holds. A new company (see `FortnoxData::new`) has the
/// usual Swedish units and a few articles, projects and cost centres.
#[derive(Debug, Default)]
pub(crate) struct FortnoxData {
    pub(super) customers: BTreeMap<NatKey, Record>,
    /// Every customer number ever used, deleted ones included.
    pub(super) reserved_customer_numbers: HashSet<String>,
    /// Next candidate for an assigned customer number (0 = start at 1).
    pub(super) next_customer_number: u64,
    pub(super) invoices: BTreeMap<u64, Record>,
    pub(super) next_document_number: u64,
    pub(super) next_voucher_number: u64,
    /// Invoice payments by `Number`.
    pub(super) payments: BTreeMap<u64, Record>,
    pub(super) next_payment_number: u64,
    /// Tax reductions (ROT/RUT buyers) by `Id`.
    pub(super) tax_reductions: BTreeMap<u64, Record>,
    pub(super) next_tax_reduction_id: u64,
    /// Articles (`/3/articles`) by `ArticleNumber`; numbers stay reserved after deletion.
    pub(super) articles: Register,
    /// Projects (`/3/projects`) by `ProjectNumber`.
    pub(super) projects: Register,
    /// Cost centres (`/3/costcenters`) by `Code`.
    pub(super) cost_centers: Register,
    /// The company's unit codes (`/3/units`, not simulated as a route): what an article's
    /// `Unit` may name.
    pub(super) units: Vec<String>,
    /// How many customers `seed_customers` generated so far.
    pub(super) seeded: u64,
    /// Changes not yet appended to the stream (see `SandboxState::rest`).
    pub(super) changes: Vec<Change>,
}

impl FortnoxData {
    /// Notes a change for Fortnox's stream.
    pub(super) fn changed(
        &mut self,
        topic: &'static str,
        kind: &'static str,
        entity_id: impl Into<String>,
        at: DateTime<Utc>,
    ) {
        self.changes.push(Change::new(topic, kind, entity_id, at));
    }

    /// The changes noted since the last call.
    pub(crate) fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }
}
