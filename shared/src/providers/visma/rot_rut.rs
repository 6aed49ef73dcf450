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
//! - green technology is the draft's `UsesGreenTechnology` with `RotReducedInvoicingType` 0
//!   (normal), rows' `GreenTechnologyType` (`CustomerInvoiceRowApi`: 1 SolarCellInstallation,
//!   2 ElectricEnergyStorageInstallation, 3 ElectricVehicleChargingPointInstallation), and
//!   the same `Persons` and property fields.

use crate::domain::tax_reduction::{organisation_number, Buyer, PersonalIdentityNumber, Property};
use crate::domain::{Decimal, HouseWorkKind, Invoice, TaxReduction};
use crate::providers::lenient::{opt_bool, opt_decimal, opt_i64, opt_number, opt_string};
use serde::{Deserialize, Serialize};

/// `RotPropertyType` of an apartment.
pub const APARTMENT: i64 = 1;
/// `RotPropertyType` of a property.
pub const PROPERTY: i64 = 2;

/// One of `Persons` as read.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PersonIn {
    /// `Ssn`.
    #[serde(deserialize_with = "opt_string")]
    pub ssn: Option<String>,
    /// `Amount`.
    #[serde(deserialize_with = "opt_decimal")]
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
    /// `RotPropertyType`.
    #[serde(deserialize_with = "opt_i64")]
    pub rot_property_type: Option<i64>,
    /// `RotReducedInvoicingPropertyName`.
    #[serde(deserialize_with = "opt_string")]
    pub rot_reduced_invoicing_property_name: Option<String>,
    /// `RotReducedInvoicingOrgNumber`.
    #[serde(deserialize_with = "opt_string")]
    pub rot_reduced_invoicing_org_number: Option<String>,
    /// `Persons`.
    pub persons: Option<Vec<PersonIn>>,
    /// `UsesGreenTechnology`.
    #[serde(deserialize_with = "opt_bool")]
    pub uses_green_technology: Option<bool>,
}

/// One of `Persons` as written.
#[derive(Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct PersonOut {
    /// `Ssn`.
    pub ssn: String,
    /// `Amount`.
    #[serde(serialize_with = "opt_number")]
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
    /// `RotPropertyType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rot_property_type: Option<i64>,
    /// `RotReducedInvoicingPropertyName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rot_reduced_invoicing_property_name: Option<String>,
    /// `RotReducedInvoicingOrgNumber`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rot_reduced_invoicing_org_number: Option<String>,
    /// `Persons`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persons: Option<Vec<PersonOut>>,
    /// `UsesGreenTechnology` ("must have RotReducedInvoicingType set to normal and contain at
    /// least one row with applicable deduction"); only sent as true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses_green_technology: Option<bool>,
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
    if t.kind == HouseWorkKind::Green {
        out.uses_green_technology = Some(true);
    }
    if let (HouseWorkKind::Rot | HouseWorkKind::Green, Some(p)) = (t.kind, &t.property) {
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

/// The kind of a read record: `RotReducedInvoicingType` 1 ROT, 2 RUT; else green technology
/// when `UsesGreenTechnology`.
pub fn kind_of(rot_reduced_invoicing_type: Option<i64>, r: &RotIn) -> Option<HouseWorkKind> {
    match rot_reduced_invoicing_type {
        Some(1) => Some(HouseWorkKind::Rot),
        Some(2) => Some(HouseWorkKind::Rut),
        _ if r.uses_green_technology == Some(true) => Some(HouseWorkKind::Green),
        _ => None,
    }
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
        (HouseWorkKind::Rot | HouseWorkKind::Green, Some(APARTMENT)) => Some(Property {
            designation: None,
            housing_cooperative_org_number: r.rot_reduced_invoicing_org_number.clone(),
            apartment: name,
        }),
        (HouseWorkKind::Rot | HouseWorkKind::Green, Some(_)) => Some(Property {
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
