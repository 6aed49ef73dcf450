//! The VAT rate each article of a company is booked at, for providers that book a row's VAT
//! through its article (Visma eAccounting: a draft row has no VAT field of its own, only
//! `ReversedConstructionServicesVatFree`; the rate comes from the article's account coding).
//! The worker keeps a copy per integration ([`ArticleVat`], refreshed while it syncs) so that
//! the records API can refuse a row whose VAT rate its article cannot give, before anything is
//! stored, instead of failing at export.

use super::money::{Decimal, FieldError};
use super::Invoice;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The VAT rate (per cent) of each article, by article number, as the provider had it at
/// `fetched_at`. `None`: the article exists but its rate is unknown (no account coding).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArticleVat {
    /// When the provider was read.
    pub fetched_at: DateTime<Utc>,
    /// Rate per article number.
    pub rates: BTreeMap<String, Option<Decimal>>,
}

impl ArticleVat {
    /// Whether this copy is older than `max_age` at `now`.
    pub fn is_stale(&self, now: DateTime<Utc>, max_age: chrono::Duration) -> bool {
        now - self.fetched_at > max_age
    }

    /// Field problems of `invoice` against the articles: a row that asks for a VAT rate its
    /// article is not booked at (other than 0 %, which is sent as reverse charge on
    /// construction services). A row whose article is not in this copy is left to the export,
    /// which reads the articles again: it may have been created since.
    pub fn check(&self, invoice: &Invoice) -> Result<(), Vec<FieldError>> {
        let mut problems = Vec::new();
        let fetched = self.fetched_at.format("%Y-%m-%d %H:%M UTC");
        for (n, row) in invoice.rows.iter().enumerate() {
            let (Some(asked), Some(number)) = (row.vat_rate, row.article_number.as_deref()) else {
                continue;
            };
            if asked.is_zero() {
                continue;
            }
            let Some(rate) = self.rates.get(number.trim()) else {
                continue;
            };
            let field = format!("rows[{n}].vat_rate");
            match rate {
                Some(r) if r.normalize() == asked.normalize() => {}
                Some(r) => problems.push(FieldError::new(
                    field,
                    format!(
                        "the accounting system books VAT through the article: article {number} \
                         is booked at {} % VAT (as read at {fetched}), the row asks for {} %; \
                         use an article with {} % VAT or leave vat_rate out",
                        r.normalize(),
                        asked.normalize(),
                        asked.normalize()
                    ),
                )),
                None => problems.push(FieldError::new(
                    field,
                    format!(
                        "the VAT rate of article {number} is unknown (it has no account \
                         coding), so a row cannot be booked at {} % with it",
                        asked.normalize()
                    ),
                )),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InvoiceRow;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn row(article: Option<&str>, vat: Option<&str>) -> InvoiceRow {
        InvoiceRow {
            project: None,
            cost_center: None,
            description: "Work".into(),
            article_number: article.map(str::to_string),
            account_number: None,
            quantity: d("1"),
            unit_price: d("100"),
            vat_rate: vat.map(d),
            discount: None,
            house_work: None,
        }
    }

    fn invoice(rows: Vec<InvoiceRow>) -> Invoice {
        Invoice {
            project: None,
            cost_center: None,
            id: "inv-1".into(),
            customer_id: "c-1".into(),
            invoice_date: "2026-11-30".parse().unwrap(),
            due_date: None,
            currency: None,
            our_reference: None,
            your_reference: None,
            reverse_charge_construction: false,
            tax_reduction: None,
            rows,
            totals: None,
            cancelled: false,
            payment: None,
            credit: None,
            updated_at: None,
        }
    }

    fn register() -> ArticleVat {
        ArticleVat {
            fetched_at: "2026-11-30T10:00:00Z".parse().unwrap(),
            rates: [
                ("1".to_string(), Some(d("25.00"))),
                ("2".to_string(), Some(d("12"))),
                ("9".to_string(), None),
            ]
            .into(),
        }
    }

    #[test]
    fn a_row_at_its_articles_rate_or_without_a_rate_passes() {
        let i = invoice(vec![
            row(Some("1"), Some("25")),
            row(Some("2"), Some("12.0")),
            row(Some("1"), None),
            row(None, None),
        ]);
        assert_eq!(register().check(&i), Ok(()));
    }

    #[test]
    fn a_row_at_another_rate_is_named_with_both_rates() {
        let i = invoice(vec![row(Some("2"), Some("12")), row(Some("1"), Some("12"))]);
        let errs = register().check(&i).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "rows[1].vat_rate");
        assert!(
            errs[0].message.contains("booked at 25 %") && errs[0].message.contains("asks for 12 %"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn zero_is_reverse_charge_and_unknown_articles_are_left_to_the_export() {
        let i = invoice(vec![row(Some("1"), Some("0")), row(Some("77"), Some("6"))]);
        assert_eq!(register().check(&i), Ok(()));
    }

    #[test]
    fn an_article_without_a_known_rate_cannot_take_one() {
        let i = invoice(vec![row(Some("9"), Some("25"))]);
        let errs = register().check(&i).unwrap_err();
        assert_eq!(errs[0].field, "rows[0].vat_rate");
        assert!(errs[0].message.contains("unknown"));
    }

    #[test]
    fn staleness_is_measured_from_the_read() {
        let r = register();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(!r.is_stale(at("2026-11-30T10:10:00Z"), chrono::Duration::minutes(15)));
        assert!(r.is_stale(at("2026-11-30T10:16:00Z"), chrono::Duration::minutes(15)));
    }
}
