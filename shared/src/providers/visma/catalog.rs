//! Visma articles (`/v2/articles`) and projects (`/v2/projects`) for the sync engine.
//!
//! Visma facts relied on (`contracts/visma-eaccounting-v2-openapi.yaml`):
//! - `ArticleApi` requires `CodingId` and `UnitId`: an article's VAT rate and whether it is a
//!   service come from its account coding (`ArticleAccountCodingApi.VatRatePercent`, `Type`),
//!   its unit from `/v2/units` (matched by `Abbreviation`). A write looks both up (two reads).
//!   `IsServiceArticle` and `UnitAbbreviation` are read-only answers of the same facts.
//! - `HouseWorkType` takes the same codes as invoice rows' `WorkCostType` (1–29);
//!   `GreenTechnologyType` the green ones (1–3).
//! - `ProjectApi.Status` is 1 (ongoing) or 2 (finished): a project not started is sent as
//!   ongoing and reads back so. `StartDate`/`EndDate` are date-times; the date is kept.
//! - PUT replaces the whole record: the current one is read and our fields laid over its
//!   writable ones.

use super::client::{odata_string, utc_param, VismaApi};
use super::wire::CodingIn;
use crate::domain::tax_reduction::{by_visma, by_visma_green, work_type};
use crate::domain::HouseWorkKind;
use crate::domain::{Article, ArticleKind, Project, ProjectStatus};
use crate::http::{ApiError, Call};
use crate::providers::api::{ApiAuth, IdPage, Page, Remote, Unreadable};
use crate::providers::catalog::CatalogApi;
use crate::providers::lenient::{decimal, parse_utc, text};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// `ArticleApi`'s writable fields that a PUT carries over from the current record (all but
/// the read-only ones, and the prices Visma derives from `NetPrice`).
const ARTICLE_KEPT: &[&str] = &[
    "NameEnglish",
    "StockBalance",
    "PurchasePrice",
    "SendToWebshop",
    "UsesMoss",
    "ArticleLabels",
    "Note",
    "IsStock",
    "StockLocationReference",
    "FreightCosts",
    "UpdateStockPrices",
    "Barcodes",
    "DiscountPercentage",
    "CurrencyCode",
    "PurchasePriceWithCurrency",
    "FreightCostWithCurrency",
    "OrderingPoint",
    "SupplierId",
    "SupplierArticleNumber",
];

/// `ProjectApi`'s writable fields a PUT carries over.
const PROJECT_KEPT: &[&str] = &["Notes"];

/// A unit (`UnitApi`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UnitIn {
    #[serde(deserialize_with = "crate::providers::lenient::opt_string")]
    id: Option<String>,
    #[serde(deserialize_with = "crate::providers::lenient::opt_string")]
    abbreviation: Option<String>,
    #[serde(deserialize_with = "crate::providers::lenient::opt_string")]
    code: Option<String>,
}

fn date_of(v: &Value) -> Option<NaiveDate> {
    let s = v.as_str()?;
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

fn modified(v: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    v.get(key).and_then(Value::as_str).and_then(parse_utc)
}

fn object(v: Value, what: &str) -> Result<Map<String, Value>, ApiError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::unexpected(format!(
            "a Visma {what} is not an object"
        ))),
    }
}

fn project_in(v: Value) -> Result<Remote<Project>, ApiError> {
    let m = object(v, "project")?;
    let id = m
        .get("Id")
        .and_then(text)
        .ok_or_else(|| ApiError::unexpected("a Visma project without Id"))?;
    let customer = m.get("CustomerId").and_then(text);
    let project = Project {
        id: String::new(),
        number: m.get("Number").and_then(text).unwrap_or_default(),
        name: m.get("Name").and_then(text).unwrap_or_default(),
        status: match m.get("Status").and_then(Value::as_i64) {
            Some(2) => ProjectStatus::Completed,
            _ => ProjectStatus::Ongoing,
        },
        start_date: m.get("StartDate").and_then(date_of),
        end_date: m.get("EndDate").and_then(date_of),
        customer_id: customer.clone(),
        updated_at: None,
    };
    Ok(Remote {
        remote_id: id,
        record: project,
        our_reference: None,
        modified_at: modified(&m, "ModifiedUtc"),
        customer_remote_id: customer,
        editable: true,
    })
}

fn date_time(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| Value::String(super::write::date_time(d)))
}

impl VismaApi {
    /// Reads an article in canonical form; its rate and kind through the company's codings.
    async fn article_in(&self, auth: &ApiAuth, v: Value) -> Result<Remote<Article>, ApiError> {
        let m = object(v, "article")?;
        let id = m
            .get("Id")
            .and_then(text)
            .ok_or_else(|| ApiError::unexpected("a Visma article without Id"))?;
        let coding = m.get("CodingId").and_then(text);
        let vat_rate = match &coding {
            Some(c) => {
                let known = self.articles(auth, false).await?;
                if known.knows_coding(c) {
                    known.coding_rate(c)
                } else {
                    // A coding made since the cache was filled: read them again, once (the
                    // next article with it finds it cached).
                    self.articles(auth, true).await?.coding_rate(c)
                }
            }
            None => None,
        };
        let house_work_type = match (
            m.get("HouseWorkType").and_then(Value::as_i64),
            m.get("GreenTechnologyType").and_then(Value::as_i64),
        ) {
            (Some(code), _) if code > 0 => by_visma(code).map(|t| t.name.to_string()),
            (_, Some(code)) if code > 0 => by_visma_green(code).map(|t| t.name.to_string()),
            _ => None,
        };
        let article = Article {
            id: String::new(),
            number: m.get("Number").and_then(text).unwrap_or_default(),
            name: m.get("Name").and_then(text).unwrap_or_default(),
            unit: m.get("UnitAbbreviation").and_then(text).unwrap_or_default(),
            price: m
                .get("NetPrice")
                .and_then(decimal)
                .map(|p| p.round_dp(2).normalize()),
            vat_rate: vat_rate.map(|r| r.normalize()),
            kind: if m.get("IsServiceArticle").and_then(Value::as_bool) == Some(true) {
                ArticleKind::Service
            } else {
                ArticleKind::Goods
            },
            house_work_type,
            active: m.get("IsActive").and_then(Value::as_bool).unwrap_or(true),
            updated_at: None,
        };
        Ok(Remote {
            remote_id: id,
            record: article,
            our_reference: None,
            modified_at: modified(&m, "ChangedUtc"),
            customer_remote_id: None,
            editable: true,
        })
    }

    /// The body of an article write: our fields over `base` (the current record's writable
    /// fields, or nothing for a create).
    async fn article_body(
        &self,
        auth: &ApiAuth,
        a: &Article,
        base: Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let codings: Vec<CodingIn> = self.all(auth, "articleaccountcodings").await?;
        let kind = match a.kind {
            ArticleKind::Goods => "Goods",
            ArticleKind::Service => "Service",
        };
        let rate = a.vat_rate.unwrap_or(rust_decimal::Decimal::from(25));
        let coding = codings
            .iter()
            .filter(|c| c.is_active != Some(false))
            .filter(|c| c.kind.as_deref() == Some(kind))
            .find(|c| {
                c.vat_rate_percent.map(super::articles::percent) == Some(rate.normalize())
            })
            .and_then(|c| c.id.clone())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "vat_rate",
                    format!(
                        "the Visma company has no active article account coding for {} at {rate} % VAT",
                        if a.kind == ArticleKind::Goods { "goods" } else { "services" }
                    ),
                )
            })?;
        let units: Vec<UnitIn> = self.all(auth, "units").await?;
        let unit = units
            .iter()
            .find(|u| {
                u.abbreviation
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(&a.unit))
                    || u.code
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(&a.unit))
            })
            .and_then(|u| u.id.clone())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "unit",
                    format!("the Visma company has no unit `{}`", a.unit),
                )
            })?;
        let (house, green) = match a.house_work_type.as_deref().map(|n| (n, work_type(n))) {
            None => (0, 0),
            Some((_, Some(t))) if t.kind == HouseWorkKind::Green => (0, t.visma),
            Some((_, Some(t))) => (t.visma, 0),
            Some((n, None)) => {
                return Err(ApiError::invalid_field(
                    "house_work_type",
                    format!("`{n}` is not a house-work type"),
                ))
            }
        };
        let mut m = base;
        m.insert("Number".into(), json!(a.number));
        m.insert("Name".into(), json!(a.name));
        m.insert("IsActive".into(), json!(a.active));
        m.insert("CodingId".into(), json!(coding));
        m.insert("UnitId".into(), json!(unit));
        if let Some(p) = a.price {
            m.insert(
                "NetPrice".into(),
                json!(p.to_string().parse::<f64>().unwrap_or_default()),
            );
        }
        m.insert("HouseWorkType".into(), json!(house));
        m.insert("GreenTechnologyType".into(), json!(green));
        Ok(Value::Object(m))
    }

    async fn article_value(&self, auth: &ApiAuth, remote_id: &str) -> Result<Value, ApiError> {
        self.send(
            auth,
            "articles",
            Call::get(self.url(&["articles", remote_id])),
        )
        .await
    }

    fn project_body(p: &Project, customer: Option<&str>, base: Map<String, Value>) -> Value {
        let mut m = base;
        m.insert("Number".into(), json!(p.number));
        m.insert("Name".into(), json!(p.name));
        m.insert(
            "Status".into(),
            json!(match p.status {
                ProjectStatus::Completed => 2,
                ProjectStatus::NotStarted | ProjectStatus::Ongoing => 1,
            }),
        );
        if p.start_date.is_some() {
            m.insert("StartDate".into(), date_time(p.start_date));
        }
        m.insert("EndDate".into(), date_time(p.end_date));
        m.insert(
            "CustomerId".into(),
            customer.map_or(Value::Null, |c| json!(c)),
        );
        Value::Object(m)
    }

    async fn by_number(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
        number: &str,
    ) -> Result<Option<Value>, ApiError> {
        let call = self
            .list_call(endpoint, 1)
            .query("$filter", format!("Number eq {}", odata_string(number)));
        let (data, _) = self.list_page(auth, endpoint, call).await?;
        // Visma compares strings without regard to case: compare exactly here.
        Ok(data
            .into_iter()
            .find(|v| v.get("Number").and_then(Value::as_str) == Some(number)))
    }

    async fn get_value(
        &self,
        auth: &ApiAuth,
        endpoint: &str,
        id: &str,
    ) -> Result<Option<Value>, ApiError> {
        match self
            .send(auth, endpoint, Call::get(self.url(&[endpoint, id])))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The writable fields of `current` named in `kept`.
fn kept(current: Value, kept: &[&str]) -> Map<String, Value> {
    match current {
        Value::Object(m) => m
            .into_iter()
            .filter(|(k, _)| kept.contains(&k.as_str()))
            .collect(),
        _ => Map::new(),
    }
}

#[async_trait]
impl CatalogApi for VismaApi {
    async fn list_articles(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Article>, ApiError> {
        let mut call = self.list_call("articles", page);
        if let Some(t) = since {
            call = call.query("$filter", format!("ChangedUtc gt {}", utc_param(t)));
        }
        let (data, meta) = self.list_page(auth, "articles", call).await?;
        let (mut items, mut unreadable) = (Vec::with_capacity(data.len()), Vec::new());
        for v in data {
            let id = v.get("Id").and_then(text);
            let read = self.article_in(auth, v).await.map(Some);
            Unreadable::sort(id, read, &mut items, &mut unreadable)?;
        }
        let (has_more, next_page) = Self::paging(&meta, page);
        Ok(Page {
            items,
            has_more,
            next_page,
            high_water: meta.server_time_utc,
            unreadable,
        })
    }

    async fn list_article_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.id_page(auth, "articles", page, "").await
    }

    async fn get_article(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Article>>, ApiError> {
        match self.get_value(auth, "articles", remote_id).await? {
            Some(v) => self.article_in(auth, v).await.map(Some),
            None => Ok(None),
        }
    }

    async fn find_article(
        &self,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Article>>, ApiError> {
        match self.by_number(auth, "articles", number).await? {
            Some(v) => self.article_in(auth, v).await.map(Some),
            None => Ok(None),
        }
    }

    async fn create_article(
        &self,
        auth: &ApiAuth,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError> {
        let body = self.article_body(auth, article, Map::new()).await?;
        let v = self
            .send(
                auth,
                "articles",
                Call::with_body(Method::POST, self.url(&["articles"]), Self::json(&body)?),
            )
            .await?;
        self.article_in(auth, v).await
    }

    async fn update_article(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        article: &Article,
    ) -> Result<Remote<Article>, ApiError> {
        let current = self.article_value(auth, remote_id).await?;
        let body = self
            .article_body(auth, article, kept(current, ARTICLE_KEPT))
            .await?;
        let v = self
            .send(
                auth,
                "articles",
                Call::with_body(
                    Method::PUT,
                    self.url(&["articles", remote_id]),
                    Self::json(&body)?,
                ),
            )
            .await?;
        self.article_in(auth, v).await
    }

    async fn list_projects(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Project>, ApiError> {
        let mut call = self.list_call("projects", page);
        if let Some(t) = since {
            call = call.query("$filter", format!("ModifiedUtc gt {}", utc_param(t)));
        }
        let (data, meta) = self.list_page(auth, "projects", call).await?;
        let (mut items, mut unreadable) = (Vec::with_capacity(data.len()), Vec::new());
        for v in data {
            let id = v.get("Id").and_then(text);
            Unreadable::sort(id, project_in(v).map(Some), &mut items, &mut unreadable)?;
        }
        let (has_more, next_page) = Self::paging(&meta, page);
        Ok(Page {
            items,
            has_more,
            next_page,
            high_water: meta.server_time_utc,
            unreadable,
        })
    }

    async fn list_project_ids(&self, auth: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.id_page(auth, "projects", page, "").await
    }

    async fn get_project(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Project>>, ApiError> {
        self.get_value(auth, "projects", remote_id)
            .await?
            .map(project_in)
            .transpose()
    }

    async fn find_project(
        &self,
        auth: &ApiAuth,
        number: &str,
    ) -> Result<Option<Remote<Project>>, ApiError> {
        self.by_number(auth, "projects", number)
            .await?
            .map(project_in)
            .transpose()
    }

    async fn create_project(
        &self,
        auth: &ApiAuth,
        project: &Project,
        customer: Option<&str>,
    ) -> Result<Remote<Project>, ApiError> {
        let body = Self::project_body(project, customer, Map::new());
        let v = self
            .send(
                auth,
                "projects",
                Call::with_body(Method::POST, self.url(&["projects"]), Self::json(&body)?),
            )
            .await?;
        project_in(v)
    }

    async fn update_project(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        project: &Project,
        customer: Option<&str>,
    ) -> Result<Remote<Project>, ApiError> {
        let current = self
            .get_value(auth, "projects", remote_id)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                message: format!("Visma project {remote_id} is gone"),
            })?;
        let body = Self::project_body(project, customer, kept(current, PROJECT_KEPT));
        let v = self
            .send(
                auth,
                "projects",
                Call::with_body(
                    Method::PUT,
                    self.url(&["projects", remote_id]),
                    Self::json(&body)?,
                ),
            )
            .await?;
        project_in(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visma_project_reads_its_customer_and_dates() {
        let r = project_in(json!({
            "Id": "6c1b", "Number": "P1", "Name": "Tak", "Status": 2,
            "StartDate": "2026-11-02T00:00:00", "EndDate": null,
            "CustomerId": "c-9", "ModifiedUtc": "2026-11-30T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(r.remote_id, "6c1b");
        assert_eq!(r.record.status, ProjectStatus::Completed);
        assert_eq!(r.record.start_date, NaiveDate::from_ymd_opt(2026, 11, 2));
        assert_eq!(r.customer_remote_id.as_deref(), Some("c-9"));
        assert!(r.modified_at.is_some());
    }

    #[test]
    fn a_project_body_sends_not_started_as_ongoing() {
        let mut p = crate::domain::project::tests::sample();
        p.status = ProjectStatus::NotStarted;
        let b = VismaApi::project_body(&p, Some("c-1"), Map::new());
        assert_eq!(b["Status"], 1);
        assert_eq!(b["CustomerId"], "c-1");
        assert_eq!(b["StartDate"], "2026-11-02T00:00:00Z");
    }
}
