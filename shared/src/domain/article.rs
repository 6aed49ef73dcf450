//! The canonical article: a material or a service the company sells, from the provider's
//! article register (Fortnox `/3/articles`, Visma `/v2/articles`). Synced both ways like
//! customers. The article number is the key both sides share: invoice rows name it
//! (`rows[].article_number`), and an article is found again at the provider by it.

use super::customer::{check_id, hash_value, norm};
use super::money::{canonical_decimal, opt_decimal_str, Decimal, FieldError, FieldErrors};
use super::tax_reduction::{work_type, WORK_TYPES};
use super::text::Lines;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Whether an article is goods (material) or a service (labour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleKind {
    /// Material (Fortnox `Type` `STOCK`; Visma's coding of type goods).
    #[default]
    Goods,
    /// A service (Fortnox `SERVICE`; Visma's coding of type service).
    Service,
}

/// An article as our side knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Our id of the article.
    pub id: String,
    /// Article number, shared with the provider (Fortnox `ArticleNumber`, Visma `Number`).
    pub number: String,
    /// Name (Fortnox `Description`, Visma `Name`).
    pub name: String,
    /// Unit code (`st`, `h`, `m2`): Fortnox `Unit`, Visma the unit whose `Abbreviation` it is.
    pub unit: String,
    /// Sales price per unit, excluding VAT (Fortnox `SalesPrice`, Visma `NetPrice`).
    #[serde(with = "opt_decimal_str", default)]
    pub price: Option<Decimal>,
    /// VAT rate in percent (25, 12, 6 or 0): Fortnox `VAT`; Visma the rate of the article's
    /// account coding (`CodingId` → `VatRatePercent`).
    #[serde(with = "opt_decimal_str", default)]
    pub vat_rate: Option<Decimal>,
    /// Goods or service.
    #[serde(default)]
    pub kind: ArticleKind,
    /// The house-work type of ROT/RUT/green work sold with this article (the names of
    /// `rows[].house_work.work_type`): Fortnox `HouseworkType`, Visma `HouseWorkType` or
    /// `GreenTechnologyType`.
    #[serde(default)]
    pub house_work_type: Option<String>,
    /// Whether it may be sold (Fortnox `Active`, Visma `IsActive`).
    #[serde(default = "default_true")]
    pub active: bool,
    /// When the record last changed on the side it was read from.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn default_true() -> bool {
    true
}

/// Field lengths a provider accepts for an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArticleLimits {
    /// `number`.
    pub number: usize,
    /// `name`.
    pub name: usize,
    /// `unit`.
    pub unit: usize,
}

/// The VAT rates Swedish sales are booked at.
const VAT_RATES: [u32; 4] = [25, 12, 6, 0];

impl Article {
    /// Checks the record against `l`; every error names its field.
    pub fn validate(&self, l: &ArticleLimits) -> Result<(), Vec<FieldError>> {
        let mut e = FieldErrors::default();
        check_id(&mut e, "id", &self.id);
        e.required("number", &self.number);
        e.max_len("number", &self.number, l.number);
        if self.number.chars().any(|c| c.is_whitespace() || c == '/') {
            // Both providers put the number in a path (`/3/articles/{ArticleNumber}`) or a
            // filter: no spaces, no slashes.
            e.push("number", "must not contain spaces or slashes");
        }
        e.required("name", &self.name);
        e.max_len("name", &self.name, l.name);
        e.required("unit", &self.unit);
        e.max_len("unit", &self.unit, l.unit);
        for (field, value) in [
            ("number", self.number.as_str()),
            ("name", self.name.as_str()),
            ("unit", self.unit.as_str()),
        ] {
            e.plain_text(field, value, Lines::Single);
        }
        if let Some(p) = self.price {
            e.max_scale("price", p, 2);
            if p.is_sign_negative() {
                e.push("price", "must not be negative");
            }
        }
        if let Some(v) = self.vat_rate {
            if !VAT_RATES.iter().any(|r| Decimal::from(*r) == v) {
                e.push("vat_rate", "must be 25, 12, 6 or 0");
            }
        }
        if let Some(t) = self.house_work_type.as_deref() {
            if work_type(t).is_none() {
                let names: Vec<&str> = WORK_TYPES.iter().map(|w| w.name).collect();
                e.push(
                    "house_work_type",
                    format!(
                        "`{t}` is not a house-work type; one of {}",
                        names.join(", ")
                    ),
                );
            }
        }
        e.finish()
    }

    /// A stable SHA-256 over the content sent to a provider.
    pub fn content_hash(&self) -> String {
        hash_value(&json!({
            "v": 1,
            "number": self.number,
            "name": self.name,
            "unit": self.unit,
            "price": self.price.map(canonical_decimal),
            "vat_rate": self.vat_rate.map(canonical_decimal),
            "kind": self.kind,
            "house_work_type": norm(&self.house_work_type),
            "active": self.active,
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const LIMITS: ArticleLimits = ArticleLimits {
        number: 40,
        name: 50,
        unit: 10,
    };

    pub(crate) fn sample() -> Article {
        Article {
            id: "art-1".into(),
            number: "GIPS-13".into(),
            name: "Gipsskiva 13 mm".into(),
            unit: "st".into(),
            price: Some(Decimal::new(8950, 2)),
            vat_rate: Some(Decimal::from(25)),
            kind: ArticleKind::Goods,
            house_work_type: None,
            active: true,
            updated_at: None,
        }
    }

    #[test]
    fn a_good_article_passes() {
        assert_eq!(sample().validate(&LIMITS), Ok(()));
        let mut s = sample();
        s.kind = ArticleKind::Service;
        s.house_work_type = Some("construction".into());
        assert_eq!(s.validate(&LIMITS), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let mut a = sample();
        a.number = "A 1".into();
        a.name = "x".repeat(51);
        a.unit = String::new();
        a.price = Some(Decimal::new(-1005, 3));
        a.vat_rate = Some(Decimal::from(20));
        a.house_work_type = Some("roofing".into());
        let errs = a.validate(&LIMITS).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "number",
                "name",
                "unit",
                "price",
                "price",
                "vat_rate",
                "house_work_type"
            ]
        );
    }

    #[test]
    fn the_hash_ignores_our_id_and_time_and_sees_the_price() {
        let a = sample();
        let mut b = sample();
        b.id = "other".into();
        b.updated_at = Some(Utc::now());
        b.price = Some(Decimal::new(89500, 3)); // 89.500 == 89.50
        assert_eq!(a.content_hash(), b.content_hash());
        b.price = Some(Decimal::new(8990, 2));
        assert_ne!(a.content_hash(), b.content_hash());
    }
}
