//! In-memory REST data of every company of both simulators, behind one lock.

use std::collections::HashMap;

use crate::clock::Clock;
use crate::fortnox::data::FortnoxData;
use crate::visma::data::VismaData;

/// All REST data: per company key ([`crate::Company::key`]) of each provider.
#[derive(Debug, Default)]
pub(crate) struct RestStore {
    pub clock: Clock,
    pub fortnox: HashMap<String, FortnoxData>,
    pub visma: HashMap<String, VismaData>,
}

impl RestStore {
    /// The Fortnox data of `company_key` (created on first use with its units, articles,
    /// projects and cost centres), with the clock.
    pub fn fortnox_mut(&mut self, company_key: &str) -> (&mut FortnoxData, &mut Clock) {
        let clock = &mut self.clock;
        let data = self
            .fortnox
            .entry(company_key.to_string())
            .or_insert_with(|| FortnoxData::new(clock.tick()));
        (data, clock)
    }

    /// The Visma data of `company_key` (created with its terms of payment and articles on
    /// first use), with the clock.
    pub fn visma_mut(&mut self, company_key: &str) -> (&mut VismaData, &mut Clock) {
        let clock = &mut self.clock;
        let data = self
            .visma
            .entry(company_key.to_string())
            .or_insert_with(|| VismaData::new(company_key, clock.tick()));
        (data, clock)
    }
}
