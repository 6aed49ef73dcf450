//! Visma eAccounting request bodies: typed structs holding only fields the OpenAPI document
//! (`local/sandbox/contracts/visma-eaccounting-v2-openapi.yaml`) marks writable, with its
//! field names. A read record is never echoed: an update reads the record into
//! [`CustomerWrite`] (which drops read-only and unknown fields), changes it and sends it.
//!
//! Each field is the document's property of the same name (PascalCase on the wire); its
//! meaning is the document's, so the fields carry no doc comments of their own.
#![allow(missing_docs)]

use crate::domain::Decimal;
use crate::providers::lenient::{opt_decimal, opt_number};
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn is_none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

/// A customer label on a customer (`CustomerLabelApi` less its read-only `Id`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerLabelWrite {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Every writable field of `CustomerApi`. Visma's PUT replaces the whole record, so an update
/// sends all of them: fields we do not map travel back as they were read. Nullable fields are
/// sent as `null` when unset; non-nullable ones are left out when unknown (on create Visma
/// applies its defaults). Left out on purpose: `TermsOfPayment` (an embedded copy whose `Id`
/// is read-only; `TermsOfPaymentId` sets the terms) and every read-only field (`Id`,
/// `ChangedUtc`, `PayToAccountId`, `LastInvoiceDate`, `IsFutureInvoiceDateAllowed`,
/// `UnpaidInvoicesAmount`, `MessageThreads`, `Notes`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerWrite {
    // Required and not nullable.
    #[serde(default, skip_serializing_if = "is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub invoice_city: Option<String>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub invoice_postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub is_active: Option<bool>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub is_private_person: Option<bool>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub terms_of_payment_id: Option<String>,
    // Not nullable.
    #[serde(default, skip_serializing_if = "is_none")]
    pub reverse_charge_on_construction_services: Option<bool>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub force_bookkeep_vat: Option<bool>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub delivery_based_vat: Option<bool>,
    /// `DirectDebitCustomerSettingsApi`, all of whose fields are writable.
    #[serde(default, skip_serializing_if = "is_none")]
    pub direct_debit_customer_settings: Option<Value>,
    #[serde(
        default,
        deserialize_with = "opt_decimal",
        serialize_with = "opt_number",
        skip_serializing_if = "is_none"
    )]
    pub discount_percentage: Option<Decimal>,
    // Nullable.
    #[serde(default, rename = "GLN")]
    pub gln: Option<String>,
    #[serde(default)]
    pub email_address_order: Option<String>,
    #[serde(default)]
    pub email_address_quote: Option<String>,
    #[serde(default)]
    pub tax_deduction_number: Option<String>,
    #[serde(default)]
    pub property_type: Option<i32>,
    #[serde(default)]
    pub property_reference: Option<String>,
    #[serde(default)]
    pub customer_labels: Option<Vec<CustomerLabelWrite>>,
    #[serde(default)]
    pub iban: Option<String>,
    #[serde(default)]
    pub is_direct_debit_enabled: Option<bool>,
    #[serde(default)]
    pub discount_agreement_id: Option<String>,
    #[serde(default)]
    pub customer_number: Option<String>,
    #[serde(default)]
    pub corporate_identity_number: Option<String>,
    #[serde(default)]
    pub contact_person_email: Option<String>,
    #[serde(default)]
    pub contact_person_mobile: Option<String>,
    #[serde(default)]
    pub contact_person_name: Option<String>,
    #[serde(default)]
    pub contact_person_phone: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub invoice_address1: Option<String>,
    #[serde(default)]
    pub invoice_address2: Option<String>,
    #[serde(default)]
    pub invoice_country_code: Option<String>,
    #[serde(default)]
    pub delivery_address1: Option<String>,
    #[serde(default)]
    pub delivery_address2: Option<String>,
    #[serde(default)]
    pub delivery_city: Option<String>,
    #[serde(default)]
    pub delivery_country_code: Option<String>,
    #[serde(default)]
    pub delivery_postal_code: Option<String>,
    #[serde(default)]
    pub delivery_customer_name: Option<String>,
    #[serde(default)]
    pub delivery_method_id: Option<String>,
    #[serde(default)]
    pub delivery_term_id: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub webshop_customer_number: Option<i32>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub telephone: Option<String>,
    #[serde(default)]
    pub vat_number: Option<String>,
    #[serde(default)]
    pub www_address: Option<String>,
    #[serde(default)]
    pub is_northern_ireland: Option<bool>,
    #[serde(default)]
    pub edi_gln_number: Option<String>,
    #[serde(default)]
    pub sales_document_language: Option<String>,
    #[serde(default)]
    pub electronic_address: Option<String>,
    #[serde(default)]
    pub electronic_reference: Option<String>,
    #[serde(default)]
    pub edi_service_deliverer_id: Option<String>,
    #[serde(default)]
    pub auto_invoice_activation_email_sent_date: Option<String>,
    #[serde(default)]
    pub auto_invoice_registration_request_sent_date: Option<String>,
    #[serde(default)]
    pub email_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub sales_price_list_id: Option<String>,
}

/// A draft row (`CustomerInvoiceDraftRowApi`, writable fields we use).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DraftRowOut {
    #[serde(skip_serializing_if = "is_none")]
    pub article_id: Option<String>,
    pub is_text_row: bool,
    pub text: String,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub quantity: Option<Decimal>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub unit_price: Option<Decimal>,
    /// A fraction: 10 % is 0.1.
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub discount_percentage: Option<Decimal>,
    /// Required by the schema on every row.
    pub reversed_construction_services_vat_free: bool,
    #[serde(skip_serializing_if = "is_none")]
    pub is_work_cost: Option<bool>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub work_hours: Option<Decimal>,
    #[serde(skip_serializing_if = "is_none")]
    pub work_cost_type: Option<i64>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub material_costs: Option<Decimal>,
    #[serde(skip_serializing_if = "is_none")]
    pub green_technology_type: Option<i64>,
    /// The row's project (`ProjectApi.Id`).
    #[serde(skip_serializing_if = "is_none")]
    pub project_id: Option<String>,
    /// The row's item of the company's first cost centre (`CostCenterItemApi.Id`).
    #[serde(skip_serializing_if = "is_none")]
    pub cost_center_item_id1: Option<String>,
}

/// A draft body (`CustomerInvoiceDraftApi`; POST, or PUT which replaces it whole). It has no
/// writable currency: a Visma invoice is in its customer's `CurrencyCode`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DraftOut {
    pub customer_id: String,
    pub rot_reduced_invoicing_type: i64,
    pub eu_third_party: bool,
    /// `format: date-time` in the document: [`date_time`].
    pub invoice_date: String,
    #[serde(skip_serializing_if = "is_none")]
    pub due_date: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub your_reference: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    pub our_reference: Option<String>,
    pub buyers_order_reference: String,
    /// A credit invoice (`CustomerInvoiceDraftApi.IsCreditInvoice`); its rows carry negative
    /// quantities, so its totals are negative as `CustomerInvoiceApi.TotalAmount` says a
    /// credit invoice's are.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_credit_invoice: bool,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    pub rot_reduced_invoicing_amount: Option<Decimal>,
    /// Buyers and property (`rot_rut.rs`).
    #[serde(flatten)]
    pub rot: super::rot_rut::RotOut,
    pub rows: Vec<DraftRowOut>,
}

/// A date as the document's `date-time` fields take it (RFC 3339, midnight UTC).
pub fn date_time(d: chrono::NaiveDate) -> String {
    format!("{d}T00:00:00Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_customer_keeps_writable_fields_only() {
        let read = serde_json::json!({
            "Id": "9f0c", "ChangedUtc": "2026-11-22T10:00:00Z", "PayToAccountId": "x",
            "LastInvoiceDate": null, "IsFutureInvoiceDateAllowed": true, "PriceListId": "p",
            "ProjectId": "q", "TermsOfPayment": {"Id": "t", "Name": "30 dagar"},
            "TermsOfPaymentId": "t", "Name": "Rör AB", "InvoiceCity": "Umeå",
            "InvoicePostalCode": "90326", "IsActive": true, "IsPrivatePerson": false,
            "Note": "Ring före", "DiscountPercentage": 0.05,
            "CustomerLabels": [{"Id": "l", "Name": "VIP", "Description": null}]
        });
        let w: CustomerWrite = serde_json::from_value(read).unwrap();
        let out = serde_json::to_value(&w).unwrap();
        for gone in [
            "Id",
            "ChangedUtc",
            "PayToAccountId",
            "LastInvoiceDate",
            "IsFutureInvoiceDateAllowed",
            "PriceListId",
            "ProjectId",
            "TermsOfPayment",
        ] {
            assert!(out.get(gone).is_none(), "{gone} must not be written");
        }
        assert_eq!(out["Note"], "Ring före");
        assert_eq!(out["TermsOfPaymentId"], "t");
        assert_eq!(
            out["CustomerLabels"][0],
            serde_json::json!({"Name": "VIP", "Description": null})
        );
        assert_eq!(out["DiscountPercentage"], serde_json::json!(0.05));
        assert_eq!(out["DeliveryCity"], Value::Null);
        assert!(
            out.get("ForceBookkeepVat").is_none(),
            "not nullable: left out"
        );
    }

    #[test]
    fn dates_are_date_times() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        assert_eq!(date_time(d), "2026-11-02T00:00:00Z");
    }
}
