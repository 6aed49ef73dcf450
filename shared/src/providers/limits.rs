//! The limits each provider sets on the fields of a canonical record. The tables live with
//! their provider (`fortnox::limits`, `visma::limits`); the domain checks a record against
//! whichever limits it is given.

use crate::domain::customer::CustomerLimits;
use crate::domain::invoice::InvoiceLimits;
use crate::domain::{ArticleLimits, ProjectLimits, ProviderKind};

/// What one provider accepts, per entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// Customers.
    pub customer: CustomerLimits,
    /// Invoices.
    pub invoice: InvoiceLimits,
    /// Articles.
    pub article: ArticleLimits,
    /// Projects.
    pub project: ProjectLimits,
}

const FORTNOX: RecordLimits = RecordLimits {
    customer: super::fortnox::limits::CUSTOMER,
    invoice: super::fortnox::limits::INVOICE,
    article: super::fortnox::limits::ARTICLE,
    project: super::fortnox::limits::PROJECT,
};

const VISMA: RecordLimits = RecordLimits {
    customer: super::visma::limits::CUSTOMER,
    invoice: super::visma::limits::INVOICE,
    article: super::visma::limits::ARTICLE,
    project: super::visma::limits::PROJECT,
};

/// The limits a record sent to `kind` must meet.
pub fn limits_for(kind: ProviderKind) -> &'static RecordLimits {
    match kind {
        ProviderKind::Fortnox => &FORTNOX,
        ProviderKind::Visma => &VISMA,
    }
}

/// The limits of a record that can go to any provider (see [`InvoiceLimits::strictest`] for
/// the one row rule that stays with its provider).
pub fn common() -> RecordLimits {
    let mut all = ProviderKind::ALL.iter().map(|k| *limits_for(*k));
    let first = all.next().expect("at least one provider");
    all.fold(first, |a, b| RecordLimits {
        customer: CustomerLimits::strictest(a.customer, b.customer),
        invoice: InvoiceLimits::strictest(a.invoice, b.invoice),
        article: ArticleLimits {
            number: a.article.number.min(b.article.number),
            name: a.article.name.min(b.article.name),
            unit: a.article.unit.min(b.article.unit),
        },
        project: ProjectLimits {
            number: a.project.number.min(b.project.number),
            name: a.project.name.min(b.project.name),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    mod customers {
        use super::*;
        use crate::domain::customer::tests::sample;

        #[test]
        fn a_good_customer_passes_everywhere() {
            let c = sample();
            assert_eq!(c.validate(&common().customer), Ok(()));
            assert_eq!(
                c.validate(&limits_for(ProviderKind::Fortnox).customer),
                Ok(())
            );
            assert_eq!(
                c.validate(&limits_for(ProviderKind::Visma).customer),
                Ok(())
            );
        }

        #[test]
        fn errors_name_the_field() {
            let mut c = sample();
            c.name = " ".into();
            c.email = Some("not-an-email".into());
            c.address.country_code = Some("Sverige".into());
            c.currency = Some("kr".into());
            c.is_private_person = true;
            let errs = c.validate(&common().customer).unwrap_err();
            let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                [
                    "name",
                    "email",
                    "address.country_code",
                    "currency",
                    "reverse_charge_construction"
                ]
            );
        }

        #[test]
        fn limits_depend_on_the_provider() {
            let mut c = sample();
            c.name = "x".repeat(60);
            c.address.city = None;
            assert_eq!(
                c.validate(&limits_for(ProviderKind::Fortnox).customer),
                Ok(())
            );
            let errs = c
                .validate(&limits_for(ProviderKind::Visma).customer)
                .unwrap_err();
            assert_eq!(errs[0].field, "name");
            assert!(errs[0].message.contains("50"), "{}", errs[0].message);
            assert_eq!(errs[1].field, "address.city");
            assert!(c.validate(&common().customer).is_err());
        }
    }

    mod invoices {
        use super::*;
        use crate::domain::invoice::tests::{d, sample};
        use chrono::NaiveDate;
        use rust_decimal::Decimal;

        #[test]
        fn a_good_invoice_passes_everywhere() {
            let i = sample();
            assert_eq!(i.validate(&common().invoice), Ok(()));
            assert_eq!(
                i.validate(&limits_for(ProviderKind::Fortnox).invoice),
                Ok(())
            );
            assert_eq!(i.validate(&limits_for(ProviderKind::Visma).invoice), Ok(()));
        }

        #[test]
        fn row_errors_carry_their_index() {
            let mut i = sample();
            i.due_date = NaiveDate::from_ymd_opt(2026, 10, 1);
            i.rows[1].description = "x".repeat(256);
            i.rows[1].quantity = d("1.234");
            i.rows[1].vat_rate = Some(d("12.5"));
            i.rows[0].account_number = Some(30);
            let errs = i.validate(&common().invoice).unwrap_err();
            let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                [
                    "due_date",
                    "rows[0].account_number",
                    "rows[1].description",
                    "rows[1].quantity",
                    "rows[1].vat_rate"
                ]
            );
            i.rows.clear();
            let errs = i.validate(&common().invoice).unwrap_err();
            assert!(errs.iter().any(|e| e.field == "rows"));
        }

        #[test]
        fn article_rules_differ_per_provider() {
            let mut i = sample();
            i.rows[0].article_number = None;
            assert_eq!(
                i.validate(&limits_for(ProviderKind::Fortnox).invoice),
                Ok(())
            );
            let errs = i
                .validate(&limits_for(ProviderKind::Visma).invoice)
                .unwrap_err();
            assert_eq!(errs[0].field, "rows[0].article_number");
            i.rows[0].account_number = None;
            let errs = i
                .validate(&limits_for(ProviderKind::Fortnox).invoice)
                .unwrap_err();
            assert_eq!(errs[0].field, "rows[0].account_number");
            // a text row needs neither
            i.rows[0].unit_price = Decimal::ZERO;
            assert_eq!(
                i.validate(&limits_for(ProviderKind::Fortnox).invoice),
                Ok(())
            );
            assert_eq!(i.validate(&limits_for(ProviderKind::Visma).invoice), Ok(()));
        }

        #[test]
        fn foreign_prices_may_have_four_decimals() {
            let mut i = sample();
            i.rows[1].unit_price = d("19.9912");
            assert!(i.validate(&common().invoice).is_err());
            i.currency = Some("EUR".into());
            assert_eq!(i.validate(&common().invoice), Ok(()));
        }
    }
}
