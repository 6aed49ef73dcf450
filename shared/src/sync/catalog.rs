//! Articles and projects to the engine: their hashes and ids ([`SyncRecord`]) and provider
//! calls ([`Ops`]). Both are keyed at the provider by their number, which the app chooses:
//! the number is the create's idempotency key (a second create of the same number is refused)
//! and what a record is found again by after an unanswered create.

use super::ops::{Ops, SyncRecord};
use crate::domain::{Article, Entity, Project};
use crate::http::ApiError;
use crate::providers::api::{AccountingApi, ApiAuth, IdPage, Page, Remote};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

impl SyncRecord for Article {
    const ENTITY: Entity = Entity::Articles;
    fn our_id(&self) -> &str {
        &self.id
    }
    fn changed_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }
    fn set_changed_at(&mut self, t: DateTime<Utc>) {
        self.updated_at = Some(t);
    }
    fn hash(&self) -> String {
        self.content_hash()
    }
}

impl SyncRecord for Project {
    const ENTITY: Entity = Entity::Projects;
    fn our_id(&self) -> &str {
        &self.id
    }
    fn changed_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }
    fn set_changed_at(&mut self, t: DateTime<Utc>) {
        self.updated_at = Some(t);
    }
    fn hash(&self) -> String {
        self.content_hash()
    }
}

/// A create the provider refused because the number is taken: the company already has the
/// record under the number the app chose (typed in by a person, or one of our creates whose
/// answer was lost). It is adopted and given the app's content, so exporting an article or a
/// project means "make the provider's record with this number look like ours".
async fn adopt_taken<T>(
    refused: ApiError,
    found: Result<Option<Remote<T>>, ApiError>,
    update: impl std::future::Future<Output = Result<Remote<T>, ApiError>>,
    remote_id: impl FnOnce(&Remote<T>) -> String,
) -> Result<Remote<T>, ApiError> {
    match found? {
        Some(r) => {
            tracing::info!(remote_id = %remote_id(&r), "the number is taken at the provider; adopting that record");
            update.await
        }
        None => Err(refused),
    }
}

#[async_trait]
impl Ops for Article {
    async fn list(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Self>, ApiError> {
        api.list_articles(auth, since, page).await
    }
    async fn list_ids(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        page: u32,
    ) -> Result<IdPage, ApiError> {
        api.list_article_ids(auth, page).await
    }
    async fn get(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.get_article(auth, remote_id).await
    }
    async fn find(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.find_article(auth, &rec.number).await
    }
    async fn create(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
        _: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        match api.create_article(auth, rec).await {
            Err(refused @ ApiError::InvalidData { .. }) => {
                let found = api.find_article(auth, &rec.number).await;
                let remote = match &found {
                    Ok(Some(r)) => r.remote_id.clone(),
                    _ => String::new(),
                };
                adopt_taken(
                    refused,
                    found,
                    api.update_article(auth, &remote, rec),
                    |r| r.remote_id.clone(),
                )
                .await
            }
            other => other,
        }
    }
    async fn update(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
        rec: &Self,
        _: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        api.update_article(auth, remote_id, rec).await
    }
    fn set_our_id(&mut self, id: &str) {
        self.id = id.to_string();
    }
    fn customer_ref(&self) -> Option<&str> {
        None
    }
    fn set_customer_ref(&mut self, _: &str) {}
}

#[async_trait]
impl Ops for Project {
    async fn list(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Self>, ApiError> {
        api.list_projects(auth, since, page).await
    }
    async fn list_ids(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        page: u32,
    ) -> Result<IdPage, ApiError> {
        api.list_project_ids(auth, page).await
    }
    async fn get(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.get_project(auth, remote_id).await
    }
    async fn find(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
    ) -> Result<Option<Remote<Self>>, ApiError> {
        api.find_project(auth, &rec.number).await
    }
    async fn create(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        rec: &Self,
        customer: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        match api.create_project(auth, rec, customer).await {
            Err(refused @ ApiError::InvalidData { .. }) => {
                let found = api.find_project(auth, &rec.number).await;
                let remote = match &found {
                    Ok(Some(r)) => r.remote_id.clone(),
                    _ => String::new(),
                };
                adopt_taken(
                    refused,
                    found,
                    api.update_project(auth, &remote, rec, customer),
                    |r| r.remote_id.clone(),
                )
                .await
            }
            other => other,
        }
    }
    async fn update(
        api: &dyn AccountingApi,
        auth: &ApiAuth,
        remote_id: &str,
        rec: &Self,
        customer: Option<&str>,
    ) -> Result<Remote<Self>, ApiError> {
        api.update_project(auth, remote_id, rec, customer).await
    }
    fn set_our_id(&mut self, id: &str) {
        self.id = id.to_string();
    }
    fn customer_ref(&self) -> Option<&str> {
        self.customer_id.as_deref()
    }
    fn set_customer_ref(&mut self, id: &str) {
        self.customer_id = Some(id.to_string());
    }
}
