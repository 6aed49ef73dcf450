//! Per-company lookups: terms of payment (`GET /v2/termsofpayments`), articles
//! (`GET /v2/articles`) with their VAT through `GET /v2/articleaccountcodings`, the projects
//! and cost centres invoice rows name (`GET /v2/projects`, `GET /v2/costcenters`), and the
//! company itself (`GET /v2/companysettings`).

use super::client::{cached, remember, VismaApi};
use super::mapping::Articles;
use super::wire::{parse, ArticleIn, CodingIn, CompanyIn, TermsIn};
use crate::http::{ApiError, Call};
use crate::providers::api::ApiAuth;
use crate::providers::CompanyInfo;
use std::sync::Arc;
use std::time::Duration;

/// How long terms of payment stay cached per company.
const TERMS_TTL: Duration = Duration::from_secs(3600);
/// How long the article list stays cached per company.
const ARTICLES_TTL: Duration = Duration::from_secs(600);

impl VismaApi {
    /// The company's terms of payment.
    pub async fn terms_of_payment(&self, auth: &ApiAuth) -> Result<Vec<TermsIn>, ApiError> {
        self.all(auth, "termsofpayments").await
    }

    /// The terms given to customers we create: normal terms for sales with the configured
    /// number of days, else the shortest normal terms, else the first; cached per company.
    pub async fn default_terms_id(&self, auth: &ApiAuth) -> Result<String, ApiError> {
        if let Some(id) = cached(&self.terms, &auth.tenant_key, TERMS_TTL) {
            return Ok(id);
        }
        let terms = self.terms_of_payment(auth).await?;
        let days = i64::from(self.settings.visma_payment_days);
        let sales: Vec<&TermsIn> = terms
            .iter()
            .filter(|t| t.available_for_sales != Some(false) && t.id.is_some())
            .collect();
        let normal = |t: &&&TermsIn| t.terms_of_payment_type_id.unwrap_or(0) == 0;
        let pick = sales
            .iter()
            .filter(normal)
            .find(|t| t.number_of_days == Some(days))
            .or_else(|| {
                sales
                    .iter()
                    .filter(normal)
                    .min_by_key(|t| t.number_of_days.unwrap_or(i64::MAX))
            })
            .or_else(|| sales.first())
            .and_then(|t| t.id.clone())
            .ok_or_else(|| ApiError::NeedsPerson {
                code: None,
                message: "the Visma company has no terms of payment for sales".into(),
            })?;
        remember(&self.terms, &auth.tenant_key, pick.clone());
        Ok(pick)
    }

    /// The company's articles.
    pub async fn all_articles(&self, auth: &ApiAuth) -> Result<Vec<ArticleIn>, ApiError> {
        self.all(auth, "articles").await
    }

    /// The company's article account codings (each with its `VatRatePercent`).
    pub async fn list_codings(&self, auth: &ApiAuth) -> Result<Vec<CodingIn>, ApiError> {
        self.all(auth, "articleaccountcodings").await
    }

    /// Articles with their VAT rates, cached per company; `refresh` reads them again.
    pub async fn articles(&self, auth: &ApiAuth, refresh: bool) -> Result<Arc<Articles>, ApiError> {
        if !refresh {
            if let Some(a) = cached(&self.articles, &auth.tenant_key, ARTICLES_TTL) {
                return Ok(a);
            }
        }
        let a = Arc::new(
            Articles::new(
                self.all_articles(auth).await?,
                self.list_codings(auth).await?,
            )
            .with_dimensions(
                self.all(auth, "projects").await?,
                self.all(auth, "costcenters").await?,
            ),
        );
        remember(&self.articles, &auth.tenant_key, a.clone());
        Ok(a)
    }

    pub(super) async fn company_settings(&self, auth: &ApiAuth) -> Result<CompanyInfo, ApiError> {
        let v = self
            .send(
                auth,
                "companysettings",
                Call::get(self.url(&["companysettings"])),
            )
            .await?;
        let c: CompanyIn = parse("company settings", v)?;
        Ok(CompanyInfo {
            name: c.name.unwrap_or_default(),
            provider_company_id: c.corporate_identity_number,
        })
    }
}
