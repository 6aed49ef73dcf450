//! Visma eAccounting JSON as it travels (PascalCase). Read types are lenient and keep unknown
//! fields; writes are built as whole JSON objects because Visma's PUT replaces the record.

use crate::domain::Decimal;
use crate::providers::lenient::{opt_bool, opt_date, opt_decimal, opt_i64, opt_string, opt_utc};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A customer as Visma sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomerIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub customer_number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub corporate_identity_number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub email_address: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub telephone: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub mobile_phone: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub invoice_address1: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub invoice_address2: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub invoice_postal_code: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub invoice_city: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub invoice_country_code: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub currency_code: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_private_person: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub vat_number: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub reverse_charge_on_construction_services: Option<bool>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_active: Option<bool>,
    #[serde(deserialize_with = "opt_utc")]
    pub changed_utc: Option<DateTime<Utc>>,
    /// Every other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A row of an invoice or draft.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RowIn {
    #[serde(deserialize_with = "opt_string")]
    pub article_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub article_number: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_text_row: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub text: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    pub unit_price: Option<Decimal>,
    /// A fraction: 0.1 is 10 %.
    #[serde(deserialize_with = "opt_decimal")]
    pub discount_percentage: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub quantity: Option<Decimal>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_work_cost: Option<bool>,
    #[serde(deserialize_with = "opt_decimal")]
    pub work_hours: Option<Decimal>,
    #[serde(deserialize_with = "opt_bool")]
    pub reversed_construction_services_vat_free: Option<bool>,
    /// Every other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An invoice (`/v2/customerinvoices`) or draft (`/v2/customerinvoicedrafts`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InvoiceIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_i64")]
    pub invoice_number: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub customer_id: Option<String>,
    #[serde(deserialize_with = "opt_date")]
    pub invoice_date: Option<NaiveDate>,
    #[serde(deserialize_with = "opt_date")]
    pub due_date: Option<NaiveDate>,
    #[serde(deserialize_with = "opt_string")]
    pub currency_code: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub invoice_currency_code: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub your_reference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub our_reference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub buyers_order_reference: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    pub total_amount: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub total_vat_amount: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub total_roundings: Option<Decimal>,
    #[serde(deserialize_with = "opt_i64")]
    pub rot_reduced_invoicing_type: Option<i64>,
    pub rows: Option<Vec<RowIn>>,
    #[serde(deserialize_with = "opt_utc")]
    pub created_utc: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "opt_utc")]
    pub modified_utc: Option<DateTime<Utc>>,
    /// Every other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Meta` of a list.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Meta {
    #[serde(deserialize_with = "opt_i64")]
    pub current_page: Option<i64>,
    #[serde(deserialize_with = "opt_i64")]
    pub page_size: Option<i64>,
    #[serde(deserialize_with = "opt_i64")]
    pub total_number_of_pages: Option<i64>,
    #[serde(deserialize_with = "opt_i64")]
    pub total_number_of_results: Option<i64>,
    #[serde(deserialize_with = "opt_utc")]
    pub server_time_utc: Option<DateTime<Utc>>,
}

/// An article, as far as invoices need it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ArticleIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    pub vat_rate_percent: Option<Decimal>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_active: Option<bool>,
}

/// Terms of payment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TermsIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_i64")]
    pub number_of_days: Option<i64>,
    #[serde(deserialize_with = "opt_i64")]
    pub terms_of_payment_type_id: Option<i64>,
    #[serde(deserialize_with = "opt_bool")]
    pub available_for_sales: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_visma_shapes() {
        let i: InvoiceIn = serde_json::from_str(
            r#"{"Id":"0b0c","InvoiceNumber":12,"CustomerId":"a","InvoiceDate":"2026-11-01T00:00:00",
                "TotalAmount":1250.0,"TotalVatAmount":250.0,"TotalRoundings":0.0,
                "ModifiedUtc":"2026-11-22T10:00:00.123Z","RemainingAmount":1250.0,
                "Rows":[{"ArticleId":"x","Quantity":2.0,"UnitPrice":500.0,"DiscountPercentage":0.1,
                         "IsTextRow":false,"Text":"Arbete","LineNumber":1}]}"#,
        )
        .unwrap();
        assert_eq!(i.invoice_date, NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(
            i.rows.as_ref().unwrap()[0]
                .discount_percentage
                .unwrap()
                .to_string(),
            "0.1"
        );
        assert!(i.extra.contains_key("RemainingAmount"));
        assert!(i.modified_utc.is_some());
    }
}
