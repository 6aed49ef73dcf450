//! The copy of a company's article VAT rates the records API checks invoice rows against
//! ([`ArticleVat`]): one item, `pk = INTEGRATION#<id>`, `sk = ARTICLES`, the copy as JSON.

use super::item::{get_s, s};
use super::jobs::integration_pk;
use super::{Db, StoreError};
use crate::domain::ArticleVat;

/// Largest copy kept (DynamoDB items hold 400 KB): a company with more articles than fit is
/// checked at export only.
const MAX_DOC_BYTES: usize = 350_000;

impl Db {
    /// The stored copy of the article VAT rates, if any.
    pub async fn article_vat(
        &self,
        integration_id: &str,
    ) -> Result<Option<ArticleVat>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s("ARTICLES"))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.item()
            .and_then(|it| get_s(it, "doc"))
            .map(|d| {
                serde_json::from_str(d)
                    .map_err(|e| StoreError::Corrupt(format!("article VAT copy: {e}")))
            })
            .transpose()
    }

    /// Replaces the copy; one too large to keep removes the old one instead (a stale copy
    /// must not outlive a company's growth).
    pub async fn put_article_vat(
        &self,
        integration_id: &str,
        copy: &ArticleVat,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(copy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if doc.len() > MAX_DOC_BYTES {
            tracing::warn!(
                integration = integration_id,
                articles = copy.rates.len(),
                "too many articles to keep a copy; invoice rows are checked at export only"
            );
            self.client()
                .delete_item()
                .table_name(self.table())
                .key("pk", s(integration_pk(integration_id)))
                .key("sk", s("ARTICLES"))
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            return Ok(());
        }
        self.client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(integration_pk(integration_id)))
            .item("sk", s("ARTICLES"))
            .item("doc", s(doc))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }
}
