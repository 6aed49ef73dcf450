//! ROT/RUT on Visma drafts and invoices, per Visma's OpenAPI document:
//! - the reduction type is the draft's `RotReducedInvoicingType` (`CustomerInvoiceDraftApi`,
//!   enum 0 normal, 1 ROT, 2 RUT: `CustomerInvoiceApi` "0 = Normal, 1 = Rot, 2 = Rut");
//! - the buyers are `Persons` (`SalesDocumentRotRutReductionPersonApi`: `Ssn`, `Amount`; `Id`
//!   is read-only and never sent);
//! - the property is `RotPropertyType` ("1 = Apartment, 2 = Property", null without ROT),
//!   `RotReducedInvoicingPropertyName` (maxLength 40: the designation, or the apartment
//!   number) and `RotReducedInvoicingOrgNumber` (maxLength 11: the housing cooperative);
//! - rows carry `IsWorkCost` (labour), `WorkCostType` (`CustomerInvoiceRowApi.WorkCostType`'s
//!   "Possible values"), `WorkHours` and `MaterialCosts` (a material row's amount).
//!
//! Green technology (`UsesGreenTechnology`, rows' `GreenTechnologyType`) has no canonical form.

use crate::domain::tax_reduction::{organisation_number, Buyer, PersonalIdentityNumber, Property};
use crate::domain::{Decimal, HouseWorkKind, Invoice, TaxReduction};
use crate::providers::lenient::{opt_decimal, opt_i64, opt_number, opt_string};
use serde::{Deserialize, Serialize};

/// `RotPropertyType` of an apartment.
pub const APARTMENT: i64 = 1;
/// `RotPropertyType` of a property.
pub const PROPERTY: i64 = 2;

/// One of `Persons` as read.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PersonIn {
    #[serde(deserialize_with = "opt_string")]
    /// `Ssn`.
    pub ssn: Option<String>,
    #[serde(deserialize_with = "opt_decimal")]
    /// `Amount`.
    pub amount: Option<Decimal>,
}

impl std::fmt::Debug for PersonIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonIn")
            .field("ssn", &"***")
            .field("amount", &self.amount)
            .finish()
    }
}

/// The ROT/RUT fields of a draft or booked invoice as read (flattened into `DraftIn` and
/// `InvoiceIn`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RotIn {
    #[serde(deserialize_with = "opt_i64")]
    /// `RotPropertyType`.
    pub rot_property_type: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    /// `RotReducedInvoicingPropertyName`.
    pub rot_reduced_invoicing_property_name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    /// `RotReducedInvoicingOrgNumber`.
    pub rot_reduced_invoicing_org_number: Option<String>,
    /// `Persons`.
    pub persons: Option<Vec<PersonIn>>,
}

/// One of `Persons` as written.
#[derive(Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct PersonOut {
    /// `Ssn`.
    pub ssn: String,
    #[serde(serialize_with = "opt_number")]
    /// `Amount`.
    pub amount: Option<Decimal>,
}

impl std::fmt::Debug for PersonOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonOut")
            .field("ssn", &"***")
            .field("amount", &self.amount)
            .finish()
    }
}

/// The ROT/RUT fields a draft body gets (flattened into `DraftOut`); all absent without a
/// tax reduction.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RotOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `RotPropertyType`.
    pub rot_property_type: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `RotReducedInvoicingPropertyName`.
    pub rot_reduced_invoicing_property_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `RotReducedInvoicingOrgNumber`.
    pub rot_reduced_invoicing_org_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `Persons`.
    pub persons: Option<Vec<PersonOut>>,
}

/// The ROT/RUT fields for `i`'s tax reduction.
pub fn rot_out(i: &Invoice) -> RotOut {
    let Some(t) = &i.tax_reduction else {
        return RotOut::default();
    };
    let persons: Vec<PersonOut> = t
        .buyers
        .iter()
        .filter_map(|b| {
            let p = b.personal_identity_number.as_ref()?;
            Some(PersonOut {
                ssn: p
                    .canonical()
                    .unwrap_or_else(|| p.expose().trim().to_string()),
                amount: Some(b.amount),
            })
        })
        .collect();
    let mut out = RotOut {
        persons: (!persons.is_empty()).then_some(persons),
        ..RotOut::default()
    };
    if let (HouseWorkKind::Rot, Some(p)) = (t.kind, &t.property) {
        out.rot_reduced_invoicing_property_name = p.name().map(|n| n.trim().to_string());
        if p.is_apartment() {
            out.rot_property_type = Some(APARTMENT);
            out.rot_reduced_invoicing_org_number = p
                .housing_cooperative_org_number
                .as_deref()
                .map(|o| organisation_number(o).unwrap_or_else(|| o.trim().to_string()));
        } else {
            out.rot_property_type = Some(PROPERTY);
        }
    }
    out
}

/// The canonical tax reduction of a read record of `kind`; `None` without `Persons`.
pub fn tax_reduction_in(kind: Option<HouseWorkKind>, r: &RotIn) -> Option<TaxReduction> {
    let kind = kind?;
    let buyers: Vec<Buyer> = r
        .persons
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(Buyer {
                personal_identity_number: Some(PersonalIdentityNumber::new(p.ssn.clone()?)),
                amount: p.amount.unwrap_or_default(),
            })
        })
        .collect();
    if buyers.is_empty() {
        return None;
    }
    let name = r
        .rot_reduced_invoicing_property_name
        .clone()
        .filter(|s| !s.trim().is_empty());
    let property = match (kind, r.rot_property_type) {
        (HouseWorkKind::Rot, Some(APARTMENT)) => Some(Property {
            designation: None,
            housing_cooperative_org_number: r.rot_reduced_invoicing_org_number.clone(),
            apartment: name,
        }),
        (HouseWorkKind::Rot, Some(_)) => Some(Property {
            designation: name,
            housing_cooperative_org_number: None,
            apartment: None,
        }),
        _ => None,
    };
    Some(TaxReduction {
        kind,
        buyers,
        property,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_apartment_and_two_buyers_go_and_come_back() {
        let i: Invoice = serde_json::from_value(json!({
            "id": "i", "customer_id": "c", "invoice_date": "2026-11-30",
            "rows": [{"description": "Arbete", "article_number": "A", "quantity": "1",
                      "unit_price": "1000", "house_work": {"kind": "rot", "amount": "300"}}],
            "tax_reduction": {"kind": "rot", "buyers": [
                {"personal_identity_number": "19121212-1212", "amount": "200"},
                {"personal_identity_number": "199001011239", "amount": "100"}],
              "property": {"housing_cooperative_org_number": "7696001234", "apartment": "1101"}}
        }))
        .unwrap();
        let out = rot_out(&i);
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["RotPropertyType"], 1);
        assert_eq!(v["RotReducedInvoicingOrgNumber"], "769600-1234");
        assert_eq!(v["RotReducedInvoicingPropertyName"], "1101");
        assert_eq!(v["Persons"][1]["Ssn"], "19900101-1239");
        assert!(!format!("{out:?}").contains("1212"));
        let back: RotIn = serde_json::from_value(v).unwrap();
        let t = tax_reduction_in(Some(HouseWorkKind::Rot), &back).unwrap();
        assert_eq!(t.buyers.len(), 2);
        assert_eq!(t.property.unwrap().apartment.as_deref(), Some("1101"));
    }
}
