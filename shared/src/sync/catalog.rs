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
use futures_util::future::BoxFuture;

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
/// answer was lost). It is adopted and given the app's content (`update` of its remote id), so
/// exporting an article or a project means "make the provider's record with this number look
/// like ours". Any other outcome of the create stands.
async fn adopt_taken<'a, T: Send + 'a>(
    created: Result<Remote<T>, ApiError>,
    find: BoxFuture<'a, Result<Option<Remote<T>>, ApiError>>,
    update: impl FnOnce(String) -> BoxFuture<'a, Result<Remote<T>, ApiError>>,
) -> Result<Remote<T>, ApiError> {
    let refused = match created {
        Err(refused @ ApiError::InvalidData { .. }) => refused,
        other => return other,
    };
    match find.await? {
        Some(found) => {
            tracing::info!(remote_id = %found.remote_id, "the number is taken at the provider; adopting that record");
            update(found.remote_id).await
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
        adopt_taken(
            api.create_article(auth, rec).await,
            api.find_article(auth, &rec.number),
            |id| Box::pin(async move { api.update_article(auth, &id, rec).await }),
        )
        .await
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
        adopt_taken(
            api.create_project(auth, rec, customer).await,
            api.find_project(auth, &rec.number),
            |id| Box::pin(async move { api.update_project(auth, &id, rec, customer).await }),
        )
        .await
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
