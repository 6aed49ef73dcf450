//! Fortnox JSON as it travels: lenient read types holding fields of the April 2026 document's
//! response schemas (`fortnox_Kf_CustomerSingleItem`, `fortnox_Kf_CustomerListItem`,
//! `fortnox_Kf_InvoiceSingleItem`, `fortnox_Kf_InvoiceListItem`, `fortnox_Kf_InvoiceRowSingleItem`
//! in `local/sandbox/contracts/fortnox-openapi-2026-04.json`), and write types holding only
//! writable fields of its payload schemas (`fortnox_Kf_CustomerSinglePayloadItem`,
//! `fortnox_Kf_InvoiceSinglePayloadItem`, `fortnox_Kf_InvoiceRowSinglePayloadItem`).
//!
//! Real Fortnox writes `null` for unset values on single records, whole amounts without a
//! fraction (`1250`), numbers as strings in places (`CurrencyRate: "1"` in invoice lists) and
//! keeps every key: every read field is optional and read by the lenient helpers, which take
//! `null`, strings and numbers alike. Unknown fields are ignored.

use crate::domain::Decimal;
use crate::providers::lenient::{opt_bool, opt_date, opt_decimal, opt_i64, opt_number, opt_string};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Reads `v` as `T`; a failure names `what`, the record's number (`id_key`) when it has one,
/// and the path of the field at fault: "Fortnox invoice 1001: field InvoiceRows[2].Price: …".
pub fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    id_key: &str,
    v: Value,
) -> Result<T, crate::http::ApiError> {
    let id = v
        .get(id_key)
        .and_then(crate::providers::lenient::text)
        .map(|id| format!(" {id}"))
        .unwrap_or_default();
    serde_path_to_error::deserialize(v).map_err(|e| {
        crate::http::ApiError::unexpected(format!(
            "Fortnox {what}{id}: field {}: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// A customer as Fortnox sends it (full record or list item).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomerIn {
    #[serde(deserialize_with = "opt_string")]
    pub customer_number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub organisation_number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub email: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub phone1: Option<String>,
    /// List items call the phone `Phone`.
    #[serde(deserialize_with = "opt_string")]
    pub phone: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub address1: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub address2: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub zip_code: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub city: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub country_code: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub currency: Option<String>,
    #[serde(rename = "Type", deserialize_with = "opt_string")]
    pub kind: Option<String>,
    #[serde(rename = "VATNumber", deserialize_with = "opt_string")]
    pub vat_number: Option<String>,
    #[serde(rename = "VATType", deserialize_with = "opt_string")]
    pub vat_type: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub active: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub external_reference: Option<String>,
}

/// An invoice row as Fortnox sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InvoiceRowIn {
    #[serde(deserialize_with = "opt_string")]
    pub article_number: Option<String>,
    #[serde(deserialize_with = "opt_i64")]
    pub account_number: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    pub delivered_quantity: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub price: Option<Decimal>,
    #[serde(rename = "VAT", deserialize_with = "opt_decimal")]
    pub vat: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub discount: Option<Decimal>,
    #[serde(deserialize_with = "opt_string")]
    pub discount_type: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub house_work: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub house_work_type: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    pub house_work_hours_to_report: Option<Decimal>,
    #[serde(deserialize_with = "opt_string")]
    pub project: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub cost_center: Option<String>,
}

/// An invoice as Fortnox sends it (full record or list item).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InvoiceIn {
    #[serde(deserialize_with = "opt_string")]
    pub document_number: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub customer_number: Option<String>,
    #[serde(deserialize_with = "opt_date")]
    pub invoice_date: Option<NaiveDate>,
    #[serde(deserialize_with = "opt_date")]
    pub due_date: Option<NaiveDate>,
    #[serde(deserialize_with = "opt_string")]
    pub currency: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub our_reference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub your_reference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub external_invoice_reference1: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    pub net: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub total: Option<Decimal>,
    #[serde(rename = "TotalVAT", deserialize_with = "opt_decimal")]
    pub total_vat: Option<Decimal>,
    #[serde(deserialize_with = "opt_string")]
    pub tax_reduction_type: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub project: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub cost_center: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub booked: Option<bool>,
    #[serde(deserialize_with = "opt_bool")]
    pub cancelled: Option<bool>,
    #[serde(rename = "VATIncluded", deserialize_with = "opt_bool")]
    pub vat_included: Option<bool>,
    pub invoice_rows: Option<Vec<InvoiceRowIn>>,
    /// What is left to pay (`fortnox_Kf_InvoiceSingleItem.Balance`, read-only).
    #[serde(deserialize_with = "opt_decimal")]
    pub balance: Option<Decimal>,
    /// The day the invoice was paid in full (`FinalPayDate`, read-only; `null` until then).
    #[serde(deserialize_with = "opt_date")]
    pub final_pay_date: Option<NaiveDate>,
    /// A credit note: `"true"` (`fortnox_Kf_InvoiceSingleItem.Credit`, a string).
    #[serde(deserialize_with = "opt_bool")]
    pub credit: Option<bool>,
    /// On a credit note the invoice it credits, on a credited invoice its credit note; `"0"`
    /// when neither (`CreditInvoiceReference`, a string).
    #[serde(deserialize_with = "opt_string")]
    pub credit_invoice_reference: Option<String>,
    /// Sent to the customer (`Sent`; set by `/email`, `/einvoice`, `/eprint`, `/print`,
    /// `/externalprint`, not by `/preview`).
    #[serde(deserialize_with = "opt_bool")]
    pub sent: Option<bool>,
}

/// An invoice payment as Fortnox sends it (`fortnox_Kf_InvoicePaymentListItem`,
/// `fortnox_Kf_InvoicePaymentSingleItem`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InvoicePaymentIn {
    /// The payment's number (a string in the document).
    #[serde(deserialize_with = "opt_string")]
    pub number: Option<String>,
    /// The invoice's `DocumentNumber` (an integer in the document).
    #[serde(deserialize_with = "opt_string")]
    pub invoice_number: Option<String>,
    #[serde(deserialize_with = "opt_date")]
    pub payment_date: Option<NaiveDate>,
    /// In the company's currency (SEK).
    #[serde(deserialize_with = "opt_decimal")]
    pub amount: Option<Decimal>,
    /// In the payment's `Currency`.
    #[serde(deserialize_with = "opt_decimal")]
    pub amount_currency: Option<Decimal>,
    #[serde(deserialize_with = "opt_string")]
    pub currency: Option<String>,
}

/// `MetaInformation` of a list.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct MetaInformation {
    #[serde(rename = "@TotalResources", deserialize_with = "opt_i64")]
    pub total_resources: Option<i64>,
    #[serde(rename = "@TotalPages", deserialize_with = "opt_i64")]
    pub total_pages: Option<i64>,
    #[serde(rename = "@CurrentPage", deserialize_with = "opt_i64")]
    pub current_page: Option<i64>,
}

/// Fields a customer list item must carry to be mapped without fetching the full record.
pub const CUSTOMER_FIELDS_FOR_CANONICAL: &[&str] = &[
    "CustomerNumber",
    "Name",
    "ExternalReference",
    "CountryCode",
    "Currency",
    "Type",
    "VATType",
    "VATNumber",
    "Active",
    "Address1",
    "Address2",
    "ZipCode",
    "City",
    "Email",
    "OrganisationNumber",
];

/// Fields an invoice list item must carry to be mapped without fetching the full record.
pub const INVOICE_FIELDS_FOR_CANONICAL: &[&str] = &[
    "DocumentNumber",
    "CustomerNumber",
    "InvoiceDate",
    "DueDate",
    "Currency",
    "OurReference",
    "YourReference",
    "ExternalInvoiceReference1",
    "InvoiceRows",
    "Total",
    "TotalVAT",
    "Booked",
    "Cancelled",
    "Balance",
    "FinalPayDate",
    "Credit",
    "CreditInvoiceReference",
];

/// Whether a list item carries every field in `needed`.
pub fn is_complete(item: &Map<String, Value>, needed: &[&str]) -> bool {
    needed.iter().all(|k| item.contains_key(*k))
}

fn is_none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

/// The body of a customer create or (partial) update.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerOut {
    #[serde(skip_serializing_if = "is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub organisation_number: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub phone1: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub address2: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub zip_code: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub country_code: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub currency: Option<String>,
    #[serde(rename = "Type", skip_serializing_if = "is_none")]
    pub kind: Option<&'static str>,
    #[serde(rename = "VATNumber", skip_serializing_if = "is_none")]
    pub vat_number: Option<String>,
    #[serde(rename = "VATType", skip_serializing_if = "is_none")]
    pub vat_type: Option<&'static str>,
    #[serde(skip_serializing_if = "is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "is_none")]
    pub external_reference: Option<String>,
}

/// `{"Customer": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerWrap<'a> {
    /// The customer.
    #[serde(rename = "Customer")]
    pub customer: &'a CustomerOut,
}

/// One row of an invoice create or update.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceRowOut {
    #[serde(skip_serializing_if = "is_none")]
    pub article_number: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub account_number: Option<u32>,
    pub description: String,
    /// A string in Fortnox's schema; left out on a text row.
    #[serde(skip_serializing_if = "is_none")]
    pub delivered_quantity: Option<String>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub price: Option<Decimal>,
    /// A whole percentage in Fortnox's schema.
    #[serde(rename = "VAT", skip_serializing_if = "is_none")]
    pub vat: Option<i64>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub discount: Option<Decimal>,
    #[serde(skip_serializing_if = "is_none")]
    pub discount_type: Option<&'static str>,
    #[serde(skip_serializing_if = "is_none")]
    pub house_work: Option<bool>,
    #[serde(skip_serializing_if = "is_none")]
    pub house_work_type: Option<&'static str>,
    #[serde(skip_serializing_if = "is_none")]
    pub house_work_hours_to_report: Option<i64>,
    #[serde(skip_serializing_if = "is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub cost_center: Option<String>,
}

/// The body of an invoice create or update.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceOut {
    pub customer_number: String,
    #[serde(skip_serializing_if = "is_none")]
    pub invoice_date: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub due_date: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub our_reference: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub your_reference: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub external_invoice_reference1: Option<String>,
    #[serde(rename = "VATIncluded", skip_serializing_if = "is_none")]
    pub vat_included: Option<bool>,
    #[serde(skip_serializing_if = "is_none")]
    pub tax_reduction_type: Option<&'static str>,
    #[serde(skip_serializing_if = "is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub cost_center: Option<String>,
    pub invoice_rows: Vec<InvoiceRowOut>,
}

/// `{"Invoice": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceWrap<'a> {
    /// The invoice.
    #[serde(rename = "Invoice")]
    pub invoice: &'a InvoiceOut,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loose_customers_and_keeps_unknown_fields() {
        let c: CustomerIn = serde_json::from_str(
            r#"{"@url":"https://api.fortnox.se/3/customers/12","CustomerNumber":12,
                "Name":"Bygg AB","Email":"","Active":"true","VATType":"SEVAT",
                "ZipCode":90326,"WWW":"","Comments":"viktig kund"}"#,
        )
        .unwrap();
        assert_eq!(c.customer_number.as_deref(), Some("12"));
        assert_eq!(c.email, None);
        assert_eq!(c.active, Some(true));
        assert_eq!(c.zip_code.as_deref(), Some("90326"));
    }

    #[test]
    fn reads_loose_invoices() {
        let i: InvoiceIn = serde_json::from_str(
            r#"{"DocumentNumber":"1001","CustomerNumber":"12","InvoiceDate":"2026-11-01",
                "DueDate":"","Total":"1250.00","TotalVAT":250,"Booked":false,
                "InvoiceRows":[{"ArticleNumber":"","AccountNumber":"3001",
                  "DeliveredQuantity":"2.00","Price":"500","VAT":"25","Discount":0,
                  "HouseWork":"false","RowId":7}]}"#,
        )
        .unwrap();
        assert_eq!(i.due_date, None);
        assert_eq!(i.total_vat, Some(Decimal::from(250)));
        let r = &i.invoice_rows.unwrap()[0];
        assert_eq!(r.article_number, None);
        assert_eq!(r.account_number, Some(3001));
        assert_eq!(r.delivered_quantity, Some(Decimal::from(2)));
    }
}
