//! What one Fortnox company holds: its stored records. Handlers and seeding add the
//! behaviour (`impl FortnoxData` in `customers.rs`, `invoices.rs`, `actions.rs`, `seed.rs`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::lenient::NatKey;

/// One stored record: the written and computed values (unset ones absent) and when it last
/// changed. Answers are rendered from it by `shape.rs`.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub body: Map<String, Value>,
    pub modified: DateTime<Utc>,
}

/// Everything one Fortnox company holds.
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
    /// How many customers `seed_customers` generated so far.
    pub(super) seeded: u64,
}
