//! Fortnox articles (`/3/articles`) and projects (`/3/projects`) for the sync engine.
//!
//! Fortnox facts relied on (`contracts/fortnox-openapi-2026-04.json`):
//! - Both are addressed by their number (`/3/articles/{ArticleNumber}`,
//!   `/3/projects/{ProjectNumber}`): the remote id is the number.
//! - Articles list with `lastmodified` (the document's filter; Stockholm local time, like
//!   customers) but carry no modification time in the record. Projects have no such filter
//!   (`/3/projects` takes `description` and `projectleader` only): every pull lists them all,
//!   and the engine keeps only what changed (by hash).
//! - `fortnox_Project_ProjectSinglePayloadItem` has no customer: a project read from Fortnox
//!   has none.
//! - `fortnox_ArticleSinglePayloadItem.HouseworkType` lists fewer types than invoice rows
//!   take (no `MOVINGSERVICES`, `ITSERVICES`, `MAJORAPPLIANCEREPAIR`): such an article is
//!   refused naming `house_work_type`.

use super::client::{lastmodified, FortnoxApi};
use super::wire::{is_complete, parse};
use crate::domain::tax_reduction::{by_fortnox, work_type};
use crate::domain::{Article, ArticleKind, Project, ProjectStatus};
use crate::http::{ApiError, Call};
use crate::providers::api::{ApiAuth, IdPage, Page, Remote, Unreadable};
use crate::providers::catalog::CatalogApi;
use crate::providers::lenient::{opt_bool, opt_date, opt_decimal, opt_string};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// `fortnox_ArticleSinglePayloadItem.HouseworkType`'s enum.
const ARTICLE_HOUSEWORK_TYPES: &[&str] = &[
    "CONSTRUCTION",
    "ELECTRICITY",
    "GLASSMETALWORK",
    "GROUNDDRAINAGEWORK",
    "MASONRY",
    "PAINTINGWALLPAPERING",
    "HVAC",
    "CLEANING",
    "TEXTILECLOTHING",
    "COOKING",
    "SNOWPLOWING",
    "GARDENING",
    "BABYSITTING",
    "OTHERCARE",
    "TUTORING",
    "FURNISHING",
    "HOMEMAINTENANCE",
    "TRANSPORTATIONSERVICES",
    "WASHINGANDCAREOFCLOTHING",
    "SOLARCELLS",
    "STORAGESELFPRODUCEDELECTRICITY",
    "CHARGINGSTATIONELECTRICVEHICLE",
    "EMPTYHOUSEWORK",
    "OTHERCOSTS",
];

/// Fields an article list item needs to be mapped without a GET of the full record.
const ARTICLE_FIELDS: &[&str] = &[
    "ArticleNumber",
    "Description",
    "Unit",
    "SalesPrice",
    "VAT",
    "Type",
    "HouseworkType",
    "Active",
];

/// Fields a project list item needs.
const PROJECT_FIELDS: &[&str] = &[
    "ProjectNumber",
    "Description",
    "Status",
    "StartDate",
    "EndDate",
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ArticleIn {
    #[serde(deserialize_with = "opt_string")]
    article_number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    description: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    unit: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    sales_price: Option<Decimal>,
    #[serde(rename = "VAT", deserialize_with = "opt_decimal")]
    vat: Option<Decimal>,
    #[serde(rename = "Type", deserialize_with = "opt_string")]
    kind: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    housework: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    housework_type: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    active: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArticleOut<'a> {
    article_number: &'a str,
    description: &'a str,
    unit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sales_price: Option<f64>,
    #[serde(rename = "VAT", skip_serializing_if = "Option::is_none")]
    vat: Option<f64>,
    #[serde(rename = "Type")]
    kind: &'static str,
    housework: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    housework_type: Option<&'static str>,
    active: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ProjectIn {
    #[serde(deserialize_with = "opt_string")]
    project_number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    description: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    status: Option<String>,
    #[serde(deserialize_with = "opt_date")]
    start_date: Option<NaiveDate>,
    #[serde(deserialize_with = "opt_date")]
    end_date: Option<NaiveDate>,
}

fn to_f64(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or_default()
}

fn article_in(w: ArticleIn) -> Result<Remote<Article>, ApiError> {
    let number = w
        .article_number
        .ok_or_else(|| ApiError::unexpected("a Fortnox article without ArticleNumber"))?;
    let house_work_type = match w.housework_type.as_deref() {
        None | Some("" | "EMPTYHOUSEWORK") => None,
        Some(code) if w.housework != Some(false) => by_fortnox(code).map(|t| t.name.to_string()),
        Some(_) => None,
    };
    let article = Article {
        id: String::new(),
        number: number.clone(),
        name: w.description.unwrap_or_default(),
        unit: w.unit.unwrap_or_default(),
        price: w.sales_price.map(|p| p.round_dp(2).normalize()),
        vat_rate: w.vat.map(|v| v.normalize()),
        kind: match w.kind.as_deref() {
            Some("SERVICE") => ArticleKind::Service,
            _ => ArticleKind::Goods,
        },
        house_work_type,
        active: w.active.unwrap_or(true),
        updated_at: None,
    };
    Ok(Remote {
        remote_id: number,
        record: article,
        our_reference: None,
        modified_at: None,
        customer_remote_id: None,
        editable: true,
    })
}

fn article_out(a: &Article) -> Result<ArticleOut<'_>, ApiError> {
    let housework_type = match a.house_work_type.as_deref() {
        None => None,
        Some(name) => {
            let code = work_type(name)
                .map(|t| t.fortnox)
                .filter(|c| ARTICLE_HOUSEWORK_TYPES.contains(c))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "house_work_type",
                        format!("Fortnox articles have no house-work type `{name}`"),
                    )
                })?;
            Some(code)
        }
    };
    Ok(ArticleOut {
        article_number: &a.number,
        description: &a.name,
        unit: &a.unit,
        sales_price: a.price.map(to_f64),
        vat: a.vat_rate.map(to_f64),
        kind: match a.kind {
            ArticleKind::Goods => "STOCK",
            ArticleKind::Service => "SERVICE",
        },
        housework: housework_type.is_some(),
        housework_type,
        active: a.active,
    })
}

fn project_in(w: ProjectIn) -> Result<Remote<Project>, ApiError> {
    let number = w
        .project_number
        .ok_or_else(|| ApiError::unexpected("a Fortnox project without ProjectNumber"))?;
    let project = Project {
        id: String::new(),
        number: number.clone(),
        name: w.description.unwrap_or_default(),
        status: match w.status.as_deref() {
            Some("NOTSTARTED") => ProjectStatus::NotStarted,
            Some("COMPLETED") => ProjectStatus::Completed,
            _ => ProjectStatus::Ongoing,
        },
        start_date: w.start_date,
        end_date: w.end_date,
        customer_id: None,
        updated_at: None,
    };
    Ok(Remote {
        remote_id: number,
        record: project,
        our_reference: None,
        modified_at: None,
        customer_remote_id: None,
        editable: true,
    })
}

fn project_out(p: &Project) -> Value {
    let mut v = json!({
        "ProjectNumber": p.number,
        "Description": p.name,
        "Status": match p.status {
            ProjectStatus::NotStarted => "NOTSTARTED",
            ProjectStatus::Ongoing => "ONGOING",
            ProjectStatus::Completed => "COMPLETED",
        },
    });
    if let Some(d) = p.start_date {
        v["StartDate"] = Value::String(d.to_string());
    }
    if let Some(d) = p.end_date {
        v["EndDate"] = Value::String(d.to_string());
    }
    v
}

fn article_of(v: &Value) -> Result<Remote<Article>, ApiError> {
    article_in(parse(
        "article",
        "ArticleNumber",
        v.get("Article").cloned().unwrap_or_default(),
    )?)
}

fn project_of(v: &Value) -> Result<Remote<Project>, ApiError> {
    project_in(parse(
        "project",
        "ProjectNumber",
        v.get("Project").cloned().unwrap_or_default(),
    )?)
}

fn body(v: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(ApiError::unexpected)
}

impl FortnoxApi {
    /// One record by number at `/3/{path}/{number}`; `None` when Fortnox does not know it.
    async fn get_one<T>(
        &self,
        auth: &ApiAuth,
        path: &str,
        number: &str,
        of: fn(&Value) -> Result<Remote<T>, ApiError>,
    ) -> Result<Option<Remote<T>>, ApiError> {
        match self.send(auth, Call::get(self.url(&[path, number]))).await {
            Ok(v) => of(&v).map(Some),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A page of `path` (`envelope` holds the items, `id_key` each one's number), each item
    /// read in full when the list leaves out a field the canonical record needs.
    #[allow(clippy::too_many_arguments)]
    async fn catalog_page<T, W: serde::de::DeserializeOwned>(
        &self,
        auth: &ApiAuth,
        call: Call,
        envelope: &str,
        id_key: &str,
        needed: &[&str],
        of_item: fn(W) -> Result<Remote<T>, ApiError>,
        get: impl AsyncGet<T>,
    ) -> Result<Page<T>, ApiError> {
        let started = Utc::now();
        let (items, has_more, next_page) = self.list_page(auth, call, envelope).await?;
        let (mut out, mut unreadable) = (Vec::with_capacity(items.len()), Vec::new());
        for item in items {
            let id = item.get(id_key).and_then(crate::providers::lenient::text);
            let read = if is_complete(&item, needed) {
                parse::<W>(envelope, id_key, Value::Object(item))
                    .and_then(of_item)
                    .map(Some)
            } else {
                match &id {
                    Some(n) => get.get(self, auth, n).await,
                    None => Err(ApiError::unexpected(format!(
                        "a Fortnox {envelope} item without {id_key}"
                    ))),
                }
            };
            Unreadable::sort(id, read, &mut out, &mut unreadable)?;
        }
        Ok(Page {
            items: out,
            has_more,
            next_page,
            high_water: Some(started),
            unreadable,
        })
    }
}

/// Reads one record in full (a list item that lacked a field).
#[async_trait]
trait AsyncGet<T>: Send + Sync {
    async fn get(
        &self,
        api: &FortnoxApi,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<T>>, ApiError>;
}

struct GetArticle;
struct GetProject;

#[async_trait]
impl AsyncGet<Article> for GetArticle {
    async fn get(
        &self,
        api: &FortnoxApi,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Article>>, ApiError> {
        api.get_one(auth, "articles", number, article_of).await
    }
}

#[async_trait]
impl AsyncGet<Project> for GetProject {
    async fn get(
        &self,
        api: &FortnoxApi,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Project>>, ApiError> {
        api.get_one(auth, "projects", number, project_of).await
    }
}

#[async_trait]
impl CatalogApi for FortnoxApi {
    async fn list_articles(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Article>, ApiError> {
        let mut call = self
            .list_call("articles", page)
            .query("sortby", "articlenumber");
        if let Some(t) = since {
            call = call.query("lastmodified", lastmodified(t));
        }
        self.catalog_page(
            auth,
            call,
            "Articles",
            "ArticleNumber",
            ARTICLE_FIELDS,
            article_in,
            GetArticle,
        )
        .await
    }

    async fn list_article_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.id_page(
            auth,
            page,
            "articles",
            "articlenumber",
            "Articles",
            "ArticleNumber",
        )
        .await
    }

    async fn get_article(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Article>>, ApiError> {
        self.get_one(auth, "articles", remote_id, article_of).await
    }

    async fn find_article(
        &self,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Article>>, ApiError> {
        self.get_one(auth, "articles", number, article_of).await
    }

    async fn create_article(
        &self,
        auth: &ApiAuth,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError> {
        let b = body(&json!({ "Article": article_out(article)? }))?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::POST, self.url(&["articles"]), b),
            )
            .await?;
        article_of(&v)
    }

    async fn update_article(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError> {
        let mut out = serde_json::to_value(article_out(article)?).map_err(ApiError::unexpected)?;
        if let Some(m) = out.as_object_mut() {
            // The number is the address; a PUT does not move it.
            m.remove("ArticleNumber");
        }
        let b = body(&json!({ "Article": out }))?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::PUT, self.url(&["articles", remote_id]), b),
            )
            .await?;
        article_of(&v)
    }

    async fn list_projects(
        &self,
        auth: &ApiAuth,
        _since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Project>, ApiError> {
        // No change filter on `/3/projects`: every pull reads them all (see the module).
        let call = self.list_call("projects", page);
        self.catalog_page(
            auth,
            call,
            "Projects",
            "ProjectNumber",
            PROJECT_FIELDS,
            project_in,
            GetProject,
        )
        .await
    }

    async fn list_project_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        let call = self.list_call("projects", page);
        let (items, has_more, next_page) = self.list_page(auth, call, "Projects").await?;
        Ok(IdPage {
            ids: items
                .iter()
                .filter_map(|i: &Map<String, Value>| {
                    i.get("ProjectNumber")
                        .and_then(crate::providers::lenient::text)
                })
                .collect(),
            has_more,
            next_page,
        })
    }

    async fn get_project(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Project>>, ApiError> {
        self.get_one(auth, "projects", remote_id, project_of).await
    }

    async fn find_project(
        &self,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Project>>, ApiError> {
        self.get_one(auth, "projects", number, project_of).await
    }

    async fn create_project(
        &self,
        auth: &ApiAuth,
        project: &Project,
        _customer: Option<&str>,
    ) -> Result<Remote<Project>, ApiError> {
        let b = body(&json!({ "Project": project_out(project) }))?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::POST, self.url(&["projects"]), b),
            )
            .await?;
        project_of(&v)
    }

    async fn update_project(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        project: &Project,
        _customer: Option<&str>,
    ) -> Result<Remote<Project>, ApiError> {
        let mut out = project_out(project);
        if let Some(m) = out.as_object_mut() {
            m.remove("ProjectNumber");
        }
        let b = body(&json!({ "Project": out }))?;
        let v = self
            .send(
                auth,
                Call::with_body(Method::PUT, self.url(&["projects", remote_id]), b),
            )
            .await?;
        project_of(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_article_round_trips_through_fortnox_fields() {
        let mut a = crate::domain::article::tests::sample();
        a.kind = ArticleKind::Service;
        a.house_work_type = Some("painting_wallpapering".into());
        let out = serde_json::to_value(article_out(&a).unwrap()).unwrap();
        assert_eq!(out["Type"], "SERVICE");
        assert_eq!(out["HouseworkType"], "PAINTINGWALLPAPERING");
        assert_eq!(out["Housework"], true);
        assert_eq!(out["SalesPrice"], 89.5);
        let back = article_in(serde_json::from_value(out).unwrap()).unwrap();
        assert_eq!(back.remote_id, "GIPS-13");
        assert_eq!(back.record.content_hash(), a.content_hash());
    }

    #[test]
    fn a_house_work_type_fortnox_articles_lack_is_refused_by_name() {
        let mut a = crate::domain::article::tests::sample();
        a.house_work_type = Some("it_services".into());
        match article_out(&a) {
            Err(ApiError::InvalidData { field, .. }) => {
                assert_eq!(field.as_deref(), Some("house_work_type"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_project_reads_back_without_its_customer() {
        let p = crate::domain::project::tests::sample();
        let back = project_in(serde_json::from_value(project_out(&p)).unwrap()).unwrap();
        assert_eq!(back.record.customer_id, None);
        assert_eq!(back.record.status, ProjectStatus::Ongoing);
        assert_eq!(back.record.start_date, p.start_date);
    }
}
