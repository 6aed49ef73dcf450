//! ROT/RUT buyers at Fortnox: `/3/taxreductions`, a resource of its own that references the
//! invoice (`ReferenceDocumentType` `INVOICE`, `ReferenceNumber` its `DocumentNumber`), one
//! per buyer: `SocialSecurityNumber`, `AskedAmount` (whole kronor), `PropertyDesignation` and
//! `ResidenceAssociationOrganisationNumber`, and the required `CustomerName`
//! (`fortnox_TaxReductionCreatePayload`). The reduction's type is the invoice's
//! `TaxReductionType` (the document: "this value will always be equal to the type set on the
//! provided document").
//!
//! Written after the invoice exists and exactly once: the invoice's tax reductions are listed
//! first (`GET /3/taxreductions?filter=invoices`, compared exactly on `ReferenceNumber`) and a
//! buyer is created only when no entry carries their number; a create whose answer was lost
//! is looked up again before anything else happens. Read back onto every read invoice whose
//! `TaxReductionType` is `rot` or `rut`.
//!
//! Personal identity numbers are never logged; errors name the buyer by position.

use super::client::FortnoxApi;
use crate::domain::tax_reduction::{
    default_work_type, organisation_number, work_type, Buyer, PersonalIdentityNumber, Property,
};
use crate::domain::{HouseWorkKind, Invoice, TaxReduction};
use crate::http::{ApiError, Call};
use crate::providers::api::{ApiAuth, Remote};
use crate::providers::lenient::{decimal, text};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

/// One `/3/taxreductions` entry as read (`fortnox_TaxReductionListItem`,
/// `fortnox_TaxReductionSingleItem`).
#[derive(Clone)]
pub struct TaxReductionIn {
    /// `Id`.
    pub id: String,
    /// `SocialSecurityNumber`.
    pub ssn: PersonalIdentityNumber,
    /// `AskedAmount`.
    pub asked: crate::domain::Decimal,
    /// `PropertyDesignation`.
    pub property_designation: Option<String>,
    /// `ResidenceAssociationOrganisationNumber`.
    pub residence_org: Option<String>,
}

impl TaxReductionIn {
    fn of(item: &Map<String, Value>) -> Option<Self> {
        let get = |k: &str| item.get(k).and_then(text).filter(|s| !s.trim().is_empty());
        Some(TaxReductionIn {
            id: get("Id")?,
            ssn: PersonalIdentityNumber::new(get("SocialSecurityNumber")?),
            // Green technology: "always considered to be equal to the sum of the
            // TaxReductionAmounts".
            asked: item
                .get("AskedAmount")
                .and_then(decimal)
                .unwrap_or_else(|| {
                    item.get("TaxReductionAmounts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.get("AskedAmount").and_then(decimal))
                        .sum()
                }),
            property_designation: get("PropertyDesignation"),
            residence_org: get("ResidenceAssociationOrganisationNumber"),
        })
    }

    fn digits(&self) -> String {
        self.ssn
            .digits()
            .unwrap_or_else(|_| self.ssn.expose().trim().to_string())
    }
}

/// The writable fields of `fortnox_TaxReductionCreatePayload` this client sends (the update
/// payload takes the same).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TaxReductionOut<'a> {
    asked_amount: i64,
    customer_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    property_designation: Option<String>,
    reference_document_type: &'static str,
    reference_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    residence_association_organisation_number: Option<String>,
    social_security_number: String,
    /// Green technology only ("mandatory" there, "should be omitted" for ROT and RUT): the
    /// buyer's amount per green work type (`fortnox_TaxReductionAmountSinglePayloadItem`).
    #[serde(skip_serializing_if = "Option::is_none")]
    tax_reduction_amounts: Option<Vec<AmountOut>>,
}

/// `fortnox_TaxReductionAmountSinglePayloadItem`: `AskedAmount` (≥ 1), `WorkType` (enum
/// `SOLARCELLS`, `STORAGESELFPRODUCEDELECTRICITY`, `CHARGINGSTATIONELECTRICVEHICLE`).
#[derive(Serialize, Clone, PartialEq, Debug)]
#[serde(rename_all = "PascalCase")]
struct AmountOut {
    asked_amount: i64,
    work_type: &'static str,
}

/// A green buyer's `share` split over the invoice's green work types in proportion to what the
/// rows claim per type (`house_work.amount`; evenly by row when no row states one), in whole
/// kronor, the rest of the rounding on the largest; parts of 0 left out (minimum 1).
fn green_split(invoice: &Invoice, share: i64) -> Vec<AmountOut> {
    let mut per_type: Vec<(&'static str, crate::domain::Decimal)> = Vec::new();
    let any_amount = invoice
        .rows
        .iter()
        .any(|r| r.house_work.as_ref().is_some_and(|h| h.amount.is_some()));
    for r in &invoice.rows {
        let Some(h) = r
            .house_work
            .as_ref()
            .filter(|h| h.kind == HouseWorkKind::Green)
        else {
            continue;
        };
        let t = h
            .work_type
            .as_deref()
            .and_then(work_type)
            .unwrap_or(default_work_type(HouseWorkKind::Green))
            .fortnox;
        let weight = if any_amount {
            h.amount.unwrap_or_default()
        } else {
            crate::domain::Decimal::ONE
        };
        match per_type.iter_mut().find(|(k, _)| *k == t) {
            Some((_, w)) => *w += weight,
            None => per_type.push((t, weight)),
        }
    }
    let total: crate::domain::Decimal = per_type.iter().map(|(_, w)| *w).sum();
    if per_type.is_empty() || total.is_zero() {
        return vec![AmountOut {
            asked_amount: share,
            work_type: default_work_type(HouseWorkKind::Green).fortnox,
        }];
    }
    let mut parts: Vec<AmountOut> = per_type
        .iter()
        .map(|(t, w)| AmountOut {
            asked_amount: (crate::domain::Decimal::from(share) * *w / total)
                .floor()
                .try_into()
                .unwrap_or(0),
            work_type: t,
        })
        .collect();
    let given: i64 = parts.iter().map(|p| p.asked_amount).sum();
    if let Some(largest) = parts.iter_mut().max_by_key(|p| p.asked_amount) {
        largest.asked_amount += share - given;
    }
    parts.retain(|p| p.asked_amount >= 1);
    parts
}

#[derive(Serialize)]
struct Wrap<'a> {
    #[serde(rename = "TaxReduction")]
    tax_reduction: TaxReductionOut<'a>,
}

/// The canonical tax reduction of an invoice of `kind` from its entries (oldest first).
pub fn tax_reduction_in(kind: HouseWorkKind, entries: &[TaxReductionIn]) -> Option<TaxReduction> {
    if entries.is_empty() {
        return None;
    }
    let first = &entries[0];
    // A housing cooperative's apartment: `PropertyDesignation` holds the apartment number next
    // to `ResidenceAssociationOrganisationNumber`.
    let property = match kind {
        HouseWorkKind::Rut => None,
        HouseWorkKind::Rot | HouseWorkKind::Green => Some(match &first.residence_org {
            Some(org) => Property {
                designation: None,
                housing_cooperative_org_number: Some(org.clone()),
                apartment: first.property_designation.clone(),
            },
            None => Property {
                designation: first.property_designation.clone(),
                housing_cooperative_org_number: None,
                apartment: None,
            },
        }),
    };
    Some(TaxReduction {
        kind,
        buyers: entries
            .iter()
            .map(|e| Buyer {
                personal_identity_number: Some(e.ssn.clone()),
                amount: e.asked,
            })
            .collect(),
        property,
    })
}

/// The `CustomerName` a tax reduction needs (minLength 1): the invoice answer's.
pub fn customer_name_of(invoice_answer: &Value) -> String {
    let inv = invoice_answer.get("Invoice");
    inv.and_then(|i| i.get("CustomerName"))
        .and_then(text)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| inv.and_then(|i| i.get("CustomerNumber")).and_then(text))
        .unwrap_or_else(|| "-".to_string())
}

impl FortnoxApi {
    /// The tax reductions that reference invoice `document_number`, oldest first.
    async fn tax_reductions_of(
        &self,
        auth: &ApiAuth,
        document_number: &str,
    ) -> Result<Vec<TaxReductionIn>, ApiError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            // The document's only filter is the document type: compare the reference exactly.
            let call = self
                .list_call("taxreductions", page)
                .query("filter", "invoices");
            let (items, has_more, next) = self.list_page(auth, call, "TaxReductions").await?;
            out.extend(
                items
                    .iter()
                    .filter(|i| {
                        i.get("ReferenceDocumentType").and_then(text).as_deref() == Some("INVOICE")
                            && i.get("ReferenceNumber").and_then(text).as_deref()
                                == Some(document_number)
                    })
                    .filter_map(TaxReductionIn::of),
            );
            if !has_more {
                break;
            }
            page = next;
        }
        out.sort_by_key(|e| (e.id.len(), e.id.clone()));
        Ok(out)
    }

    /// Sets the invoice's `tax_reduction` from `/3/taxreductions` when it has house-work rows
    /// (its `TaxReductionType` is `rot` or `rut`).
    pub(super) async fn with_tax_reductions(
        &self,
        auth: &ApiAuth,
        mut remote: Remote<Invoice>,
    ) -> Result<Remote<Invoice>, ApiError> {
        let Some(kind) = remote
            .record
            .rows
            .iter()
            .find_map(|r| r.house_work.as_ref().map(|h| h.kind))
        else {
            return Ok(remote);
        };
        let entries = self.tax_reductions_of(auth, &remote.remote_id).await?;
        remote.record.tax_reduction = tax_reduction_in(kind, &entries);
        Ok(remote)
    }

    /// Makes the tax reductions of invoice `document_number` those of `invoice`: creates the
    /// buyers not there yet, updates those whose share or property changed, deletes those no
    /// longer named. A buyer without a personal identity number (a copy read from a provider)
    /// leaves Fortnox's entries as they are.
    pub(super) async fn put_tax_reductions(
        &self,
        auth: &ApiAuth,
        document_number: &str,
        customer_name: &str,
        invoice: &Invoice,
    ) -> Result<(), ApiError> {
        let wanted: &[Buyer] = invoice
            .tax_reduction
            .as_ref()
            .map_or(&[], |t| t.buyers.as_slice());
        let house_work = invoice.rows.iter().any(|r| r.house_work.is_some());
        // Nothing to look at for an invoice without house work (no request more for it).
        if wanted.iter().any(|b| b.personal_identity_number.is_none())
            || (wanted.is_empty() && !house_work)
        {
            return Ok(());
        }
        let existing = self.tax_reductions_of(auth, document_number).await?;
        if wanted.is_empty() && existing.is_empty() {
            return Ok(());
        }
        let property = invoice
            .tax_reduction
            .as_ref()
            .and_then(|t| t.property.as_ref());
        let (designation, org) = match property {
            Some(p) if p.is_apartment() => (
                p.apartment.clone(),
                p.housing_cooperative_org_number
                    .as_deref()
                    .map(|o| organisation_number(o).unwrap_or_else(|| o.to_string())),
            ),
            Some(p) => (p.designation.clone(), None),
            None => (None, None),
        };
        let green = invoice
            .tax_reduction
            .as_ref()
            .is_some_and(|t| t.kind == HouseWorkKind::Green);
        let mut kept = Vec::new();
        for (n, b) in wanted.iter().enumerate() {
            let field = format!("tax_reduction.buyers[{n}]");
            let pin = b.personal_identity_number.as_ref().expect("checked above");
            let digits = pin.digits().map_err(|why| {
                ApiError::invalid_field(format!("{field}.personal_identity_number"), why)
            })?;
            let asked = whole(b.amount, &format!("{field}.amount"))?;
            let body = serde_json::to_vec(&Wrap {
                tax_reduction: TaxReductionOut {
                    asked_amount: asked,
                    customer_name,
                    property_designation: designation.clone(),
                    reference_document_type: "INVOICE",
                    reference_number: document_number,
                    residence_association_organisation_number: org.clone(),
                    social_security_number: pin.canonical().unwrap_or(digits.clone()),
                    tax_reduction_amounts: green.then(|| green_split(invoice, asked)),
                },
            })
            .map_err(ApiError::unexpected)?;
            match existing.iter().find(|e| e.digits() == digits) {
                Some(e) => {
                    kept.push(e.id.clone());
                    // A green entry's split may follow the rows: always written.
                    let same = !green
                        && e.asked == b.amount
                        && e.property_designation == designation
                        && e.residence_org
                            .as_deref()
                            .map(|o| organisation_number(o).unwrap_or(o.to_string()))
                            == org;
                    if !same {
                        self.send(
                            auth,
                            Call::with_body(Method::PUT, self.url(&["taxreductions", &e.id]), body),
                        )
                        .await?;
                    }
                }
                None => {
                    let created = self
                        .send(
                            auth,
                            Call::with_body(Method::POST, self.url(&["taxreductions"]), body),
                        )
                        .await;
                    if let Err(err) = created {
                        // The answer may have been lost after Fortnox stored it: look again
                        // rather than create twice on the next attempt.
                        let now = self.tax_reductions_of(auth, document_number).await?;
                        match now.iter().find(|e| e.digits() == digits) {
                            Some(e) => kept.push(e.id.clone()),
                            None => return Err(err),
                        }
                    }
                }
            }
        }
        for e in existing.iter().filter(|e| !kept.contains(&e.id)) {
            match self
                .send(
                    auth,
                    Call {
                        method: Method::DELETE,
                        ..Call::get(self.url(&["taxreductions", &e.id]))
                    },
                )
                .await
            {
                Ok(_) | Err(ApiError::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

fn whole(v: crate::domain::Decimal, field: &str) -> Result<i64, ApiError> {
    let n = v.normalize();
    if !n.fract().is_zero() || n.is_sign_negative() {
        return Err(ApiError::invalid_field(
            field,
            "Fortnox takes whole kronor here",
        ));
    }
    i64::try_from(n.mantissa()).map_err(|_| ApiError::invalid_field(field, "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_read_as_buyers_and_an_apartment() {
        let item = |id: i64, ssn: &str, amount: i64| {
            json!({"Id": id, "SocialSecurityNumber": ssn, "AskedAmount": amount,
                   "PropertyDesignation": "1101",
                   "ResidenceAssociationOrganisationNumber": "769600-1234",
                   "ReferenceNumber": 7, "ReferenceDocumentType": "INVOICE"})
            .as_object()
            .cloned()
            .unwrap()
        };
        let entries: Vec<TaxReductionIn> =
            [item(1, "19121212-1212", 600), item(2, "199001011239", 400)]
                .iter()
                .filter_map(TaxReductionIn::of)
                .collect();
        let t = tax_reduction_in(HouseWorkKind::Rot, &entries).unwrap();
        assert_eq!(t.buyers.len(), 2);
        assert_eq!(t.buyers[1].amount, crate::domain::Decimal::from(400));
        let p = t.property.unwrap();
        assert_eq!(p.apartment.as_deref(), Some("1101"));
        assert_eq!(
            p.housing_cooperative_org_number.as_deref(),
            Some("769600-1234")
        );
        assert!(format!("{:?}", t.buyers).contains("***"));
        assert!(!format!("{:?}", t.buyers).contains("1212"));
    }

    #[test]
    fn a_green_share_is_split_by_what_the_rows_claim_per_type() {
        let mut i: Invoice = serde_json::from_value(json!({
            "id": "i", "customer_id": "c", "invoice_date": "2026-11-30",
            "rows": [
                {"description": "Sol", "account_number": 3001, "quantity": "1",
                 "unit_price": "1", "house_work": {"kind": "green", "amount": "2000",
                 "work_type": "solar_cells"}},
                {"description": "Sol 2", "account_number": 3001, "quantity": "1",
                 "unit_price": "1", "house_work": {"kind": "green", "amount": "1000"}},
                {"description": "Ladd", "account_number": 3001, "quantity": "1",
                 "unit_price": "1", "house_work": {"kind": "green", "amount": "1000",
                 "work_type": "charging_station_electric_vehicle"}}]
        }))
        .unwrap();
        let parts = green_split(&i, 1001);
        assert_eq!(
            parts,
            [
                AmountOut {
                    asked_amount: 751,
                    work_type: "SOLARCELLS"
                },
                AmountOut {
                    asked_amount: 250,
                    work_type: "CHARGINGSTATIONELECTRICVEHICLE"
                }
            ]
        );
        for r in &mut i.rows {
            r.house_work.as_mut().unwrap().amount = None;
        }
        let even = green_split(&i, 3);
        assert_eq!(even.iter().map(|p| p.asked_amount).sum::<i64>(), 3);
    }

    #[test]
    fn the_payload_carries_only_documented_writable_fields() {
        let body = serde_json::to_value(Wrap {
            tax_reduction: TaxReductionOut {
                asked_amount: 500,
                customer_name: "Anna",
                property_designation: Some("Gärdet 1:2".into()),
                reference_document_type: "INVOICE",
                reference_number: "7",
                residence_association_organisation_number: None,
                social_security_number: "19121212-1212".into(),
                tax_reduction_amounts: None,
            },
        })
        .unwrap();
        let keys: Vec<&String> = body["TaxReduction"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "AskedAmount",
                "CustomerName",
                "PropertyDesignation",
                "ReferenceDocumentType",
                "ReferenceNumber",
                "SocialSecurityNumber"
            ]
        );
    }
}
