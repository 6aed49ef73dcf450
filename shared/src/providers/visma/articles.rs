//! Articles and their VAT rates. Visma books a row's VAT through its article: an article
//! (`ArticleApi`) has no rate of its own, its `CodingId` names an article account coding
//! (`ArticleAccountCodingApi`, `/v2/articleaccountcodings`) whose `VatRatePercent` is the rate.
//! A draft row can only be made VAT-free (`ReversedConstructionServicesVatFree`, reverse charge
//! on construction services); any other rate is the article's.

use super::wire::{ArticleIn, CodingIn, CostCenterIn, ProjectRef};
use crate::domain::Decimal;
use crate::http::ApiError;
use std::collections::HashMap;

/// Articles of one company, by number and by id, with the VAT rate of each.
#[derive(Debug, Clone, Default)]
pub struct Articles {
    by_number: HashMap<String, ArticleIn>,
    by_id: HashMap<String, ArticleIn>,
    rates: HashMap<String, Decimal>,
    /// Project ids by number and numbers by id (lower-case id).
    projects: HashMap<String, String>,
    project_numbers: HashMap<String, String>,
    /// Items of the first cost centre: ids by short name, short names by id.
    cost_items: HashMap<String, String>,
    cost_codes: HashMap<String, String>,
    /// Every coding's id (lower case), rated or not.
    codings: std::collections::HashSet<String>,
}

impl Articles {
    /// An index over `list`, whose rates come from `codings`.
    pub fn new(list: Vec<ArticleIn>, codings: Vec<CodingIn>) -> Self {
        let mut a = Articles::default();
        for c in codings {
            if let Some(id) = &c.id {
                a.codings.insert(id.to_ascii_lowercase());
            }
            if let (Some(id), Some(rate)) = (c.id, c.vat_rate_percent) {
                a.rates.insert(id.to_ascii_lowercase(), percent(rate));
            }
        }
        for art in list {
            if let Some(n) = &art.number {
                a.by_number.insert(n.clone(), art.clone());
            }
            if let Some(id) = &art.id {
                a.by_id.insert(id.to_ascii_lowercase(), art);
            }
        }
        a
    }

    /// The same lookups with the company's projects and cost centres: invoice rows name a
    /// project (`ProjectId`) and an item of the first cost centre (`CostCenterItemId1`, the
    /// one with the lowest `Number`).
    pub fn with_dimensions(
        mut self,
        projects: Vec<ProjectRef>,
        centres: Vec<CostCenterIn>,
    ) -> Self {
        for p in projects {
            if let (Some(id), Some(n)) = (p.id, p.number) {
                self.project_numbers
                    .insert(id.to_ascii_lowercase(), n.clone());
                self.projects.insert(n, id);
            }
        }
        if let Some(first) = centres
            .into_iter()
            .min_by_key(|c| c.number.unwrap_or(i64::MAX))
        {
            for item in first.items.unwrap_or_default() {
                if let (Some(id), Some(code)) = (item.id, item.short_name) {
                    self.cost_codes
                        .insert(id.to_ascii_lowercase(), code.clone());
                    self.cost_items.insert(code, id);
                }
            }
        }
        self
    }

    /// The id of the project numbered `number`.
    pub fn project_id(&self, number: &str) -> Option<&str> {
        self.projects.get(number).map(String::as_str)
    }

    /// The number of the project `id`.
    pub fn project_number(&self, id: &str) -> Option<&str> {
        self.project_numbers
            .get(&id.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The id of the first cost centre's item with short name `code`.
    pub fn cost_item_id(&self, code: &str) -> Option<&str> {
        self.cost_items.get(code).map(String::as_str)
    }

    /// The short name of the cost centre item `id`.
    pub fn cost_code(&self, id: &str) -> Option<&str> {
        self.cost_codes
            .get(&id.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// How many articles there are.
    pub fn len(&self) -> usize {
        self.by_id.len().max(self.by_number.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The article with `number`.
    pub fn by_number(&self, number: &str) -> Option<&ArticleIn> {
        self.by_number.get(number)
    }

    /// The article with `id`.
    pub fn by_id(&self, id: &str) -> Option<&ArticleIn> {
        self.by_id.get(&id.to_ascii_lowercase())
    }

    /// Every article's VAT rate by number, as read now (the copy the records API checks
    /// rows against).
    pub fn vat_register(&self) -> crate::domain::ArticleVat {
        crate::domain::ArticleVat {
            fetched_at: chrono::Utc::now(),
            rates: self
                .by_number
                .iter()
                .map(|(n, a)| (n.clone(), self.rate_of(a)))
                .collect(),
        }
    }

    /// Whether the article account coding `coding_id` was among those read.
    pub fn knows_coding(&self, coding_id: &str) -> bool {
        self.codings.contains(&coding_id.to_ascii_lowercase())
    }

    /// The VAT rate (per cent) of the article account coding `coding_id`, when known.
    pub fn coding_rate(&self, coding_id: &str) -> Option<Decimal> {
        self.rates.get(&coding_id.to_ascii_lowercase()).copied()
    }

    /// The VAT rate (per cent) `article` is booked at, when its coding is known.
    pub fn rate_of(&self, article: &ArticleIn) -> Option<Decimal> {
        article
            .coding_id
            .as_deref()
            .and_then(|c| self.rates.get(&c.to_ascii_lowercase()))
            .copied()
    }
}

/// A rate as a percentage. `VatRatePercent` is documented in per cent; the rows' `VatRate` and
/// `PercentVat` do not say, and a rate strictly between 0 and 1 can only be a fraction.
pub fn percent(rate: Decimal) -> Decimal {
    if rate > Decimal::ZERO && rate < Decimal::ONE {
        (rate * Decimal::ONE_HUNDRED).normalize()
    } else {
        rate.normalize()
    }
}

/// Whether a row asking for `asked` (per cent) on an article booked at `article` (per cent,
/// when known) is sent VAT-free, or an error naming `field` when Visma would book it at
/// another rate than asked. Never lets a row land silently at a rate it did not ask for.
pub fn row_vat(
    field: &str,
    article_number: &str,
    asked: Option<Decimal>,
    article: Option<Decimal>,
) -> Result<bool, ApiError> {
    match (asked, article) {
        (None, _) => Ok(false),
        (Some(a), Some(r)) if a == r => Ok(false),
        // VAT-free by reverse charge on construction services.
        (Some(a), _) if a.is_zero() => Ok(true),
        (Some(a), Some(r)) => Err(ApiError::invalid_field(
            field,
            format!(
                "Visma books VAT through the article: article {article_number} is booked at \
                 {r} % VAT, the row asks for {a} %; use an article with {a} % VAT"
            ),
        )),
        (Some(a), None) => Err(ApiError::invalid_field(
            field,
            format!(
                "the VAT rate of Visma article {article_number} is unknown (no article account \
                 coding), so a row cannot be booked at {a} % with it"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rates_come_from_the_coding() {
        let a = Articles::new(
            vec![ArticleIn {
                id: Some("A1".into()),
                number: Some("1".into()),
                coding_id: Some("C25".into()),
                ..ArticleIn::default()
            }],
            vec![CodingIn {
                id: Some("c25".into()),
                vat_rate_percent: Some(d("25.00")),
                ..CodingIn::default()
            }],
        );
        let art = a.by_id("a1").unwrap();
        assert_eq!(a.rate_of(art), Some(d("25")));
        assert_eq!(percent(d("0.12")), d("12"));
        assert_eq!(percent(d("6")), d("6"));
    }

    #[test]
    fn a_row_is_never_booked_at_another_rate() {
        assert!(!row_vat("f", "1", Some(d("25")), Some(d("25"))).unwrap());
        assert!(row_vat("f", "1", Some(d("0")), Some(d("25"))).unwrap());
        assert!(!row_vat("f", "1", None, Some(d("25"))).unwrap());
        let e = row_vat("rows[0].vat_rate", "1", Some(d("12")), Some(d("25"))).unwrap_err();
        assert!(
            matches!(e, ApiError::InvalidData { field: Some(ref f), ref message, .. }
                if f == "rows[0].vat_rate" && message.contains("25 %")),
            "{e:?}"
        );
        assert!(row_vat("f", "1", Some(d("12")), None).is_err());
    }
}
