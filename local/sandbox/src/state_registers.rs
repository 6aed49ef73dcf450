//! What tests and the devstack see of the companies' article, project and cost centre
//! registers, and how they change them as a person in the accounting system would.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::provider::ProviderKind;
use crate::state::SandboxState;

impl SandboxState {
    /// Every article of a company as `GET` answers it (Fortnox `fortnox_ArticleSingleItem`
    /// without `@url`, by number; Visma `ArticleApi`, in creation order).
    pub fn articles(&self, provider: ProviderKind, company_key: &str) -> Vec<Value> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store.fortnox_mut(company_key).0.article_bodies(),
            ProviderKind::Visma => store.visma_mut(company_key).0.article_bodies(),
        }
    }

    /// Every project of a company as `GET` answers it (Fortnox without `@url`).
    pub fn projects(&self, provider: ProviderKind, company_key: &str) -> Vec<Value> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store.fortnox_mut(company_key).0.project_bodies(),
            ProviderKind::Visma => store.visma_mut(company_key).0.project_bodies(),
        }
    }

    /// Every cost centre of a company as `GET` answers it (Fortnox `fortnox_CostCenterSingleItem`
    /// without `@url`; Visma `CostCenterApi` with its `Items`).
    pub fn cost_centers(&self, provider: ProviderKind, company_key: &str) -> Vec<Value> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store.fortnox_mut(company_key).0.cost_center_bodies(),
            ProviderKind::Visma => store.visma_mut(company_key).0.cost_center_bodies(),
        }
    }

    /// Creates an article as a person in the accounting system would, from the fields a
    /// create request carries (Fortnox: the inner object of `{"Article": …}`; Visma: an
    /// `ArticleApi` body), with the API's checks. Returns its id (Fortnox `ArticleNumber`,
    /// Visma `Id`) or the provider's error message.
    pub fn seed_article(
        &self,
        provider: ProviderKind,
        company_key: &str,
        fields: Value,
    ) -> Result<String, String> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => {
                let (data, clock) = store.fortnox_mut(company_key);
                data.seed_article(&fields, clock)
            }
            ProviderKind::Visma => {
                let (data, clock) = store.visma_mut(company_key);
                data.seed_article(&fields, clock)
            }
        }
    }

    /// Creates a project (Fortnox: the inner object of `{"Project": …}`; Visma: a
    /// `ProjectApi` body). Returns its id (Fortnox `ProjectNumber`, Visma `Id`).
    pub fn seed_project(
        &self,
        provider: ProviderKind,
        company_key: &str,
        fields: Value,
    ) -> Result<String, String> {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => {
                let (data, clock) = store.fortnox_mut(company_key);
                data.seed_project(&fields, clock)
            }
            ProviderKind::Visma => {
                let (data, clock) = store.visma_mut(company_key);
                data.seed_project(&fields, clock)
            }
        }
    }

    /// Changes article `id` as a person would: `edit` gets the record as [`Self::articles`]
    /// shows it; its modification time moves (Fortnox `lastmodified`, Visma `ChangedUtc`).
    /// Returns whether it exists.
    pub fn modify_article(
        &self,
        provider: ProviderKind,
        company_key: &str,
        id: &str,
        edit: impl FnOnce(&mut Value),
    ) -> bool {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => {
                let (data, clock) = store.fortnox_mut(company_key);
                data.modify_article(id, edit, clock)
            }
            ProviderKind::Visma => {
                let (data, clock) = store.visma_mut(company_key);
                data.modify_article(id, edit, clock)
            }
        }
    }

    /// Changes project `id` as a person would (Visma: `ModifiedUtc` moves).
    pub fn modify_project(
        &self,
        provider: ProviderKind,
        company_key: &str,
        id: &str,
        edit: impl FnOnce(&mut Value),
    ) -> bool {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => {
                let (data, clock) = store.fortnox_mut(company_key);
                data.modify_project(id, edit, clock)
            }
            ProviderKind::Visma => {
                let (data, clock) = store.visma_mut(company_key);
                data.modify_project(id, edit, clock)
            }
        }
    }

    /// Sets article `id`'s modification time (Fortnox's `lastmodified`, Visma's
    /// `ChangedUtc`), for tests of incremental reads. Returns whether it exists.
    pub fn set_article_modified(
        &self,
        provider: ProviderKind,
        company_key: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> bool {
        let mut store = self.rest();
        match provider {
            ProviderKind::Fortnox => store
                .fortnox_mut(company_key)
                .0
                .set_article_modified(id, at),
            ProviderKind::Visma => store.visma_mut(company_key).0.set_article_modified(id, at),
        }
    }

    /// Creates a Fortnox cost centre (the inner object of `{"CostCenter": …}`); returns its
    /// `Code` or Fortnox's message.
    pub fn fortnox_seed_cost_center(
        &self,
        company_key: &str,
        fields: Value,
    ) -> Result<String, String> {
        let mut store = self.rest();
        let (data, clock) = store.fortnox_mut(company_key);
        data.seed_cost_center(&fields, clock)
    }

    /// Changes Fortnox cost centre `code` as a person would.
    pub fn fortnox_modify_cost_center(
        &self,
        company_key: &str,
        code: &str,
        edit: impl FnOnce(&mut Value),
    ) -> bool {
        let mut store = self.rest();
        let (data, clock) = store.fortnox_mut(company_key);
        data.modify_cost_center(code, edit, clock)
    }

    /// Deletes a Fortnox article, project or cost centre as a person would (`kind`:
    /// `"articles"`, `"projects"`, `"costcenters"`; an article number stays reserved).
    /// Returns whether it existed.
    pub fn fortnox_delete_register_record(&self, company_key: &str, kind: &str, key: &str) -> bool {
        let mut store = self.rest();
        let data = store.fortnox_mut(company_key).0;
        match kind {
            "articles" => data.delete_article(key),
            "projects" => data.delete_project(key),
            "costcenters" => data.delete_cost_center(key),
            _ => false,
        }
    }

    /// The Fortnox company's unit codes (what an article's `Unit` may name).
    pub fn fortnox_units(&self, company_key: &str) -> Vec<String> {
        self.rest().fortnox_mut(company_key).0.unit_codes()
    }

    /// Adds a unit code to the Fortnox company.
    pub fn fortnox_add_unit(&self, company_key: &str, code: &str) {
        self.rest().fortnox_mut(company_key).0.add_unit(code);
    }

    /// Creates a Visma cost centre item (a `CostCenterItemApi` body); returns its `Id`.
    pub fn visma_seed_cost_center_item(
        &self,
        company_key: &str,
        fields: Value,
    ) -> Result<String, String> {
        let mut store = self.rest();
        let (data, clock) = store.visma_mut(company_key);
        data.seed_cost_center_item(&fields, clock)
    }

    /// Sets a Visma project's `ModifiedUtc`, for tests of change filters.
    pub fn visma_set_project_modified(
        &self,
        company_key: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> bool {
        self.rest()
            .visma_mut(company_key)
            .0
            .set_project_modified(id, at)
    }
}
