//! The fake provider's article and project registers ([`CatalogApi`]): found by number, as
//! both providers find them.

use super::{remote, retryable, Entry, FakeApi, Fault, Tabled};
use crate::domain::{Article, Project};
use crate::http::ApiError;
use crate::providers::api::{ApiAuth, IdPage, Page, Remote};
use crate::providers::catalog::CatalogApi;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

impl FakeApi {
    /// Every project: (provider id, record, the provider id of its customer).
    pub fn projects(&self) -> Vec<(String, Project, Option<String>)> {
        let s = self.lock();
        s.projects
            .iter()
            .map(|(k, e)| (k.clone(), e.record.clone(), e.customer_remote_id.clone()))
            .collect()
    }

    /// Every article: (provider id, record).
    pub fn articles(&self) -> Vec<(String, Article)> {
        let s = self.lock();
        s.articles
            .iter()
            .map(|(k, e)| (k.clone(), e.record.clone()))
            .collect()
    }

    /// Puts a project there as someone at the provider would, for the customer `customer`.
    pub fn insert_project(&self, p: Project, customer: Option<&str>, at: DateTime<Utc>) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("P{:04}", s.next_id);
        s.projects.insert(
            id.clone(),
            Entry {
                record: p,
                our_ref: None,
                modified_at: at,
                customer_remote_id: customer.map(str::to_string),
                complete: true,
            },
        );
        id
    }

    /// The record whose number is `number` (articles and projects are found by number).
    fn find_number<T: Tabled>(
        &self,
        number: &str,
        number_of: fn(&T) -> &str,
    ) -> Result<Option<Remote<T>>, ApiError> {
        let (mut s, f) = self.call(format!("find {} {number}", T::ENTITY));
        if f != Fault::None {
            return Err(retryable("find"));
        }
        let undated = s.undated;
        Ok(T::table(&mut s)
            .iter()
            .find(|(_, e)| number_of(&e.record) == number)
            .map(|(k, e)| remote(k, e, undated)))
    }
}

#[async_trait]
impl CatalogApi for FakeApi {
    async fn list_articles(
        &self,
        _: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Article>, ApiError> {
        self.list(since, page)
    }

    async fn list_article_ids(&self, _: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.list_ids::<Article>(page)
    }

    async fn get_article(
        &self,
        _: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Article>>, ApiError> {
        self.get(remote_id)
    }

    async fn find_article(
        &self,
        _: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Article>>, ApiError> {
        self.find_number::<Article>(number, |a| &a.number)
    }

    async fn create_article(
        &self,
        _: &ApiAuth,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError> {
        self.create(article, None)
    }

    async fn update_article(
        &self,
        _: &ApiAuth,
        remote_id: &str,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError> {
        self.update(remote_id, article)
    }

    async fn list_projects(
        &self,
        _: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Project>, ApiError> {
        self.list(since, page)
    }

    async fn list_project_ids(&self, _: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.list_ids::<Project>(page)
    }

    async fn get_project(
        &self,
        _: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Project>>, ApiError> {
        self.get(remote_id)
    }

    async fn find_project(
        &self,
        _: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Project>>, ApiError> {
        self.find_number::<Project>(number, |p| &p.number)
    }

    async fn create_project(
        &self,
        _: &ApiAuth,
        project: &Project,
        customer: Option<&str>,
    ) -> Result<Remote<Project>, ApiError> {
        self.create(project, customer)
    }

    async fn update_project(
        &self,
        _: &ApiAuth,
        remote_id: &str,
        project: &Project,
        _: Option<&str>,
    ) -> Result<Remote<Project>, ApiError> {
        self.update(remote_id, project)
    }
}
