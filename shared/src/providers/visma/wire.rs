//! Visma eAccounting JSON as it arrives (PascalCase), read leniently. Each type reads only
//! fields its schema in Visma's OpenAPI document has (`local/sandbox/contracts/
//! visma-eaccounting-v2-openapi.yaml`, `components.schemas.<name>`); what Visma sends beyond
//! them is ignored. Request bodies are in [`super::write`].

use crate::domain::Decimal;
use crate::http::ApiError;
use crate::providers::lenient::{opt_bool, opt_date, opt_decimal, opt_i64, opt_string, opt_utc};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Reads `v` as `T`; a failure names `what` (with the record's `Id` when it has one) and the
/// path of the field at fault: "Visma customer 1234abcd…: field Rows[2].Quantity: …".
pub fn parse<T: DeserializeOwned>(what: &str, v: Value) -> Result<T, ApiError> {
    let id = v
        .get("Id")
        .and_then(crate::providers::lenient::text)
        .map(|id| format!(" {id}"))
        .unwrap_or_default();
    serde_path_to_error::deserialize(v).map_err(|e| {
        ApiError::unexpected(format!(
            "Visma {what}{id}: field {}: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// `CustomerApi`: what the canonical customer is read from.
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
}

/// A row of a booked invoice (`CustomerInvoiceRowApi`). Its VAT is `IsVatFree`, `VatRate`
/// and `PercentVat` (all read-only); it has no `ReversedConstructionServicesVatFree`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InvoiceRowIn {
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
    #[serde(deserialize_with = "opt_i64")]
    pub work_cost_type: Option<i64>,
    #[serde(deserialize_with = "opt_decimal")]
    pub material_costs: Option<Decimal>,
    #[serde(deserialize_with = "opt_i64")]
    pub green_technology_type: Option<i64>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_vat_free: Option<bool>,
    #[serde(deserialize_with = "opt_decimal")]
    pub vat_rate: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub percent_vat: Option<Decimal>,
    #[serde(deserialize_with = "opt_string")]
    pub project_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub cost_center_item_id1: Option<String>,
}

/// A row of a draft (`CustomerInvoiceDraftRowApi`): VAT-free by
/// `ReversedConstructionServicesVatFree`, its rate in the read-only `VatRate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DraftRowIn {
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
    #[serde(deserialize_with = "opt_i64")]
    pub work_cost_type: Option<i64>,
    #[serde(deserialize_with = "opt_decimal")]
    pub material_costs: Option<Decimal>,
    #[serde(deserialize_with = "opt_i64")]
    pub green_technology_type: Option<i64>,
    #[serde(deserialize_with = "opt_bool")]
    pub reversed_construction_services_vat_free: Option<bool>,
    #[serde(deserialize_with = "opt_decimal")]
    pub vat_rate: Option<Decimal>,
    #[serde(deserialize_with = "opt_string")]
    pub project_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub cost_center_item_id1: Option<String>,
}

/// A booked invoice (`CustomerInvoiceApi`, `/v2/customerinvoices`).
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
    /// The invoice's currency (read-only).
    #[serde(deserialize_with = "opt_string")]
    pub currency_code: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub your_reference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub our_reference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub buyers_order_reference: Option<String>,
    /// In the company's currency.
    #[serde(deserialize_with = "opt_decimal")]
    pub total_amount: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub total_vat_amount: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub total_roundings: Option<Decimal>,
    /// In the invoice's currency.
    #[serde(deserialize_with = "opt_decimal")]
    pub total_amount_invoice_currency: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub total_vat_amount_invoice_currency: Option<Decimal>,
    #[serde(deserialize_with = "opt_i64")]
    pub rot_reduced_invoicing_type: Option<i64>,
    /// `RotPropertyType`, `RotReducedInvoicingPropertyName`, `…OrgNumber`, `Persons`.
    #[serde(flatten)]
    pub rot: super::rot_rut::RotIn,
    pub rows: Option<Vec<InvoiceRowIn>>,
    #[serde(deserialize_with = "opt_utc")]
    pub created_utc: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "opt_utc")]
    pub modified_utc: Option<DateTime<Utc>>,
    /// Left to pay, in the company's currency (read-only).
    #[serde(deserialize_with = "opt_decimal")]
    pub remaining_amount: Option<Decimal>,
    /// Left to pay, in the invoice's currency (read-only).
    #[serde(deserialize_with = "opt_decimal")]
    pub remaining_amount_invoice_currency: Option<Decimal>,
    /// 0 Paid, 1 Unpaid, 2 Overdue (read-only).
    #[serde(deserialize_with = "opt_i64")]
    pub payment_status: Option<i64>,
    /// `CustomerInvoiceApi.ReverseChargeOnConstructionServices` (read-only): "True if this
    /// invoice contains reverse charge on construction services".
    #[serde(deserialize_with = "opt_bool")]
    pub reverse_charge_on_construction_services: Option<bool>,
    /// `CustomerInvoiceApi.ReversedConstructionVatInvoicing` (read-only, undescribed).
    #[serde(deserialize_with = "opt_bool")]
    pub reversed_construction_vat_invoicing: Option<bool>,
    /// A `date-time` (read-only); only the date is kept.
    #[serde(deserialize_with = "opt_date")]
    pub payment_date: Option<NaiveDate>,
    /// `CustomerInvoiceApi.IsCreditInvoice`.
    #[serde(deserialize_with = "opt_bool")]
    pub is_credit_invoice: Option<bool>,
    /// `CustomerInvoiceApi.CreditedBy` (read-only): "Credit customer invoices created based on
    /// the customer invoice".
    pub credited_by: Option<Vec<CreditedByIn>>,
}

/// `CreditedByApi`: one credit invoice of an invoice.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreditedByIn {
    /// The credit invoice's id.
    #[serde(deserialize_with = "opt_string")]
    pub credit_invoice_id: Option<String>,
}

/// A draft (`CustomerInvoiceDraftApi`, `/v2/customerinvoicedrafts`). It has no `ModifiedUtc`
/// and no writable currency: `InvoiceCurrencyCode` (read-only) is the customer's currency.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DraftIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    /// `CustomerInvoiceDraftApi.IsCreditInvoice`.
    #[serde(deserialize_with = "opt_bool")]
    pub is_credit_invoice: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub customer_id: Option<String>,
    #[serde(deserialize_with = "opt_date")]
    pub invoice_date: Option<NaiveDate>,
    #[serde(deserialize_with = "opt_date")]
    pub due_date: Option<NaiveDate>,
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
    /// `RotPropertyType`, `RotReducedInvoicingPropertyName`, `…OrgNumber`, `Persons`.
    #[serde(flatten)]
    pub rot: super::rot_rut::RotIn,
    pub rows: Option<Vec<DraftRowIn>>,
    #[serde(deserialize_with = "opt_utc")]
    pub created_utc: Option<DateTime<Utc>>,
    /// `CustomerInvoiceDraftApi.ReverseChargeOnConstructionServices`: read-only (set by the
    /// rows' `ReversedConstructionServicesVatFree`, for a customer with
    /// `ReverseChargeOnConstructionServices`).
    #[serde(deserialize_with = "opt_bool")]
    pub reverse_charge_on_construction_services: Option<bool>,
}

/// `CommonPaginationMetadata`, the `Meta` of a list.
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

/// An article (`ArticleApi`). It carries no VAT rate: its `CodingId` names an article account
/// coding (`/v2/articleaccountcodings`), whose `VatRatePercent` is the rate.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ArticleIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_active: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub coding_id: Option<String>,
}

/// An article account coding (`ArticleAccountCodingApi`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct CodingIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    /// The VAT rate in per cent (25 is 25 %).
    #[serde(deserialize_with = "opt_decimal")]
    pub vat_rate_percent: Option<Decimal>,
    /// What the coding is for (`Goods`, `Service`).
    #[serde(rename = "Type", deserialize_with = "opt_string")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub is_active: Option<bool>,
}

/// Terms of payment (`TermsOfPaymentApi`, `/v2/termsofpayments`).
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

/// The company (`CompanySettingsApi`, `/v2/companysettings`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct CompanyIn {
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub corporate_identity_number: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_visma_shapes() {
        let i: InvoiceIn = parse(
            "invoice",
            serde_json::from_str(
                r#"{"Id":"0b0c","InvoiceNumber":12,"CustomerId":"a","InvoiceDate":"2026-11-01T00:00:00",
                "TotalAmount":1250.0,"TotalVatAmount":250.0,"TotalRoundings":0.0,
                "ModifiedUtc":"2026-11-22T10:00:00.123Z","RemainingAmount":1250.0,"CurrencyCode":null,
                "Rows":[{"ArticleId":"x","Quantity":2.0,"UnitPrice":500.0,"DiscountPercentage":0.1,
                         "IsTextRow":false,"Text":"Arbete","LineNumber":1,"VatRate":25,"IsVatFree":false}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(i.invoice_date, NaiveDate::from_ymd_opt(2026, 11, 1));
        let row = &i.rows.as_ref().unwrap()[0];
        assert_eq!(row.discount_percentage.unwrap().to_string(), "0.1");
        assert_eq!(row.vat_rate, Some(Decimal::from(25)));
        assert!(i.modified_utc.is_some());
        assert!(i.currency_code.is_none());
    }

    #[test]
    fn a_parse_error_names_the_record_and_the_field() {
        let v = serde_json::json!({"Id": "1234abcd", "Rows": [{}, {}, "not a row"]});
        let e = parse::<InvoiceIn>("invoice", v).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("Visma invoice 1234abcd"), "{msg}");
        assert!(msg.contains("field Rows[2]"), "{msg}");
    }
}

/// A project as an invoice row names it (`ProjectApi`: `Id`, `Number`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProjectRef {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub number: Option<String>,
}

/// A cost centre with its items (`CostCenterApi`, `CostCenterItemApi`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct CostCenterIn {
    #[serde(deserialize_with = "opt_i64")]
    pub number: Option<i64>,
    pub items: Option<Vec<CostCenterItemIn>>,
}

/// One item of a cost centre.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct CostCenterItemIn {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub short_name: Option<String>,
}
