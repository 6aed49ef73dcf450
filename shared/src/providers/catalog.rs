//! The article and project registers both accounting systems keep, as the sync engine reads
//! and writes them ([`CatalogApi`], a part of [`super::AccountingApi`]). Both are keyed by a
//! number the company chooses, unique per company: a record is found again by its number.

use super::api::{ApiAuth, IdPage, Page, Remote};
use crate::domain::{Article, Project};
use crate::http::ApiError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Articles and projects at a provider.
#[async_trait]
pub trait CatalogApi: Send + Sync {
    /// Articles changed after `since` (all when `None`), one page at a time.
    async fn list_articles(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Article>, ApiError>;

    /// Ids of every article, one page at a time.
    async fn list_article_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError>;

    /// One article; `None` when it does not exist.
    async fn get_article(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Article>>, ApiError>;

    /// The article with this number (compared exactly).
    async fn find_article(
        &self,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Article>>, ApiError>;

    /// Creates an article under its number; a taken number is [`ApiError::InvalidData`].
    async fn create_article(
        &self,
        auth: &ApiAuth,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError>;

    /// Writes our fields onto an existing article.
    async fn update_article(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError>;

    /// Projects changed after `since` (all when `None`: providers without a change filter
    /// list them all), one page at a time.
    async fn list_projects(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Project>, ApiError>;

    /// Ids of every project, one page at a time.
    async fn list_project_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError>;

    /// One project; `None` when it does not exist.
    async fn get_project(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Project>>, ApiError>;

    /// The project with this number (compared exactly).
    async fn find_project(
        &self,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Project>>, ApiError>;

    /// Creates a project under its number, for the provider's customer `customer_remote_id`
    /// where the provider keeps one; a taken number is [`ApiError::InvalidData`].
    async fn create_project(
        &self,
        auth: &ApiAuth,
        project: &Project,
        customer_remote_id: Option<&str>,
    ) -> Result<Remote<Project>, ApiError>;

    /// Writes our fields onto an existing project.
    async fn update_project(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        project: &Project,
        customer_remote_id: Option<&str>,
    ) -> Result<Remote<Project>, ApiError>;
}
