//! ROT/RUT tax reduction on an invoice: the buyers (Swedish personal identity numbers and the
//! share of the reduction each asks for), the property, and the house-work types both
//! providers know.
//!
//! A personal identity number is personal data: [`PersonalIdentityNumber`] redacts itself in
//! `Debug` and `Display` (like [`super::Secret`]), validation messages never quote it, and
//! records pulled from a provider reach the change feed without it
//! ([`Invoice::without_personal_numbers`]).

use super::invoice::{HouseWorkKind, Invoice};
use super::money::{canonical_decimal, decimal_str, Decimal, FieldErrors};
use super::text::Lines;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;

/// A Swedish personal identity number (personnummer, or a coordination number), as the app
/// sent it or the provider answered. Never logged: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonalIdentityNumber(String);

impl PersonalIdentityNumber {
    /// Wraps a number.
    pub fn new(value: impl Into<String>) -> Self {
        PersonalIdentityNumber(value.into())
    }

    /// The raw value, for the one place that must send it to the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The twelve digits `YYYYMMDDNNNN` when the number is well formed: `YYYYMMDD-NNNN` or
    /// `YYYYMMDDNNNN`; the date must exist (a coordination number adds 60 to the day) and the
    /// last digit is the Luhn check digit of the ten-digit form. Errors say what is wrong
    /// without quoting the number.
    pub fn digits(&self) -> Result<String, &'static str> {
        let s = self.0.trim();
        let digits = match s.len() {
            13 if s.as_bytes()[8] == b'-' => format!("{}{}", &s[..8], &s[9..]),
            12 => s.to_string(),
            _ => return Err(FORMAT),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FORMAT);
        }
        if Self::birth_date(&digits).is_none() {
            return Err("is not a valid personal identity number (no such birth date)");
        }
        if !luhn(&digits[2..]) {
            return Err("is not a valid personal identity number (wrong check digit)");
        }
        Ok(digits)
    }

    fn birth_date(digits: &str) -> Option<NaiveDate> {
        let year: i32 = digits[..4].parse().ok()?;
        let month: u32 = digits[4..6].parse().ok()?;
        let mut day: u32 = digits[6..8].parse().ok()?;
        if day > 60 {
            day -= 60; // a coordination number (samordningsnummer)
        }
        NaiveDate::from_ymd_opt(year, month, day)
    }

    /// Whether the birth date is after `today`.
    pub fn born_after(&self, today: NaiveDate) -> bool {
        self.digits()
            .ok()
            .and_then(|d| Self::birth_date(&d))
            .is_some_and(|d| d > today)
    }

    /// `YYYYMMDD-NNNN`, the form sent to the providers (Fortnox's `SocialSecurityNumber` takes
    /// 10 to 13 characters); `None` when malformed.
    pub fn canonical(&self) -> Option<String> {
        self.digits()
            .ok()
            .map(|d| format!("{}-{}", &d[..8], &d[8..]))
    }
}

const FORMAT: &str = "must be a Swedish personal identity number, YYYYMMDD-NNNN";

impl fmt::Debug for PersonalIdentityNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonalIdentityNumber(***)")
    }
}

impl fmt::Display for PersonalIdentityNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Luhn (mod 10) over ASCII digits: true when the last digit checks the others.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// A Swedish organisation number `NNNNNN-NNNN` (Luhn checked) in its canonical form.
pub fn organisation_number(s: &str) -> Option<String> {
    let s = s.trim();
    let digits: String = match s.len() {
        11 if s.as_bytes()[6] == b'-' => format!("{}{}", &s[..6], &s[7..]),
        10 => s.to_string(),
        _ => return None,
    };
    (digits.bytes().all(|b| b.is_ascii_digit()) && luhn(&digits))
        .then(|| format!("{}-{}", &digits[..6], &digits[6..]))
}

/// One buyer who asks for a share of the tax reduction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    /// The buyer's personal identity number. Required from the app; absent on records pulled
    /// from a provider as they reach the change feed (personal data the app did not send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_identity_number: Option<PersonalIdentityNumber>,
    /// The reduction this buyer asks for, in whole kronor (Fortnox
    /// `fortnox_TaxReductionCreatePayload.AskedAmount`, "an integer"; Visma
    /// `SalesDocumentRotRutReductionPersonApi.Amount`).
    #[serde(with = "decimal_str")]
    pub amount: Decimal,
}

/// Where the ROT work was done: a property designation (fastighetsbeteckning), or a housing
/// cooperative's organisation number and the apartment number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Property {
    /// Property designation, e.g. `Stockholm Vasastaden 1:2`.
    #[serde(default)]
    pub designation: Option<String>,
    /// The housing cooperative's (bostadsrättsförening) organisation number.
    #[serde(default)]
    pub housing_cooperative_org_number: Option<String>,
    /// The apartment number in the cooperative.
    #[serde(default)]
    pub apartment: Option<String>,
}

impl Property {
    /// Whether this is an apartment in a housing cooperative (else a property designation).
    pub fn is_apartment(&self) -> bool {
        self.housing_cooperative_org_number
            .as_deref()
            .is_some_and(|o| !o.trim().is_empty())
    }

    /// The designation or, for an apartment, the apartment number.
    pub fn name(&self) -> Option<&str> {
        if self.is_apartment() {
            self.apartment.as_deref()
        } else {
            self.designation.as_deref()
        }
    }
}

/// The invoice's tax reduction: its kind, buyers and property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxReduction {
    /// ROT, RUT or green technology; every house-work row has this kind (Fortnox invoice
    /// `TaxReductionType`, Visma draft `RotReducedInvoicingType` or `UsesGreenTechnology`).
    pub kind: HouseWorkKind,
    /// The buyers and the share each asks for (1 to 4; their amounts add up to the rows'
    /// `house_work.amount`).
    pub buyers: Vec<Buyer>,
    /// The property, required for ROT and green technology, not given for RUT.
    #[serde(default)]
    pub property: Option<Property>,
}

/// Most buyers per invoice.
pub const MAX_BUYERS: usize = 4;
/// Longest property designation or apartment number (Visma
/// `CustomerInvoiceDraftApi.RotReducedInvoicingPropertyName` maxLength 40).
pub const PROPERTY_NAME_MAX: usize = 40;

/// A house-work type both providers know, with its canonical name, its kind, Fortnox's row
/// `HouseWorkType` (`fortnox_Kf_InvoiceRowSinglePayloadItem.HouseWorkType` enum) and Visma's
/// row code: `WorkCostType` for ROT and RUT (`CustomerInvoiceRowApi.WorkCostType`, "Possible
/// values"), `GreenTechnologyType` for green technology (`CustomerInvoiceRowApi`: 1
/// SolarCellInstallation, 2 ElectricEnergyStorageInstallation, 3
/// ElectricVehicleChargingPointInstallation).
pub struct WorkType {
    /// Canonical name.
    pub name: &'static str,
    /// ROT or RUT.
    pub kind: HouseWorkKind,
    /// Fortnox `HouseWorkType`.
    pub fortnox: &'static str,
    /// Visma `WorkCostType` (ROT, RUT) or `GreenTechnologyType` (green).
    pub visma: i64,
}

const fn wt(
    name: &'static str,
    kind: HouseWorkKind,
    fortnox: &'static str,
    visma: i64,
) -> WorkType {
    WorkType {
        name,
        kind,
        fortnox,
        visma,
    }
}

use HouseWorkKind::{Green, Rot, Rut};

/// Every canonical house-work type. The first of each kind is its default (what a row without
/// `work_type` is sent as). Types only one provider has (Visma's heat pumps and boilers,
/// Fortnox's `OTHERCOSTS` and green technology) have no canonical name.
pub const WORK_TYPES: &[WorkType] = &[
    wt("construction", Rot, "CONSTRUCTION", 1),
    wt("electricity", Rot, "ELECTRICITY", 2),
    wt("glass_metal_work", Rot, "GLASSMETALWORK", 3),
    wt("ground_drainage_work", Rot, "GROUNDDRAINAGEWORK", 4),
    wt("masonry", Rot, "MASONRY", 5),
    wt("painting_wallpapering", Rot, "PAINTINGWALLPAPERING", 6),
    wt("hvac", Rot, "HVAC", 7),
    wt("cleaning", Rut, "CLEANING", 9),
    wt("textile_clothing", Rut, "TEXTILECLOTHING", 10),
    wt("snow_plowing", Rut, "SNOWPLOWING", 12),
    wt("gardening", Rut, "GARDENING", 13),
    wt("babysitting", Rut, "BABYSITTING", 14),
    wt("other_care", Rut, "OTHERCARE", 15),
    wt("moving_services", Rut, "MOVINGSERVICES", 18),
    wt("it_services", Rut, "ITSERVICES", 19),
    wt("major_appliance_repair", Rut, "MAJORAPPLIANCEREPAIR", 22),
    wt(
        "washing_and_care_of_clothing",
        Rut,
        "WASHINGANDCAREOFCLOTHING",
        26,
    ),
    wt("furnishing", Rut, "FURNISHING", 27),
    wt("transportation_services", Rut, "TRANSPORTATIONSERVICES", 28),
    wt("home_maintenance", Rut, "HOMEMAINTENANCE", 29),
    wt("solar_cells", Green, "SOLARCELLS", 1),
    wt(
        "storage_self_produced_electricity",
        Green,
        "STORAGESELFPRODUCEDELECTRICITY",
        2,
    ),
    wt(
        "charging_station_electric_vehicle",
        Green,
        "CHARGINGSTATIONELECTRICVEHICLE",
        3,
    ),
];

/// The type called `name`.
pub fn work_type(name: &str) -> Option<&'static WorkType> {
    WORK_TYPES.iter().find(|t| t.name == name)
}

/// The type a row of `kind` without a `work_type` is sent as.
pub fn default_work_type(kind: HouseWorkKind) -> &'static WorkType {
    WORK_TYPES
        .iter()
        .find(|t| t.kind == kind)
        .expect("a type of each kind")
}

/// The type of Fortnox's `HouseWorkType`.
pub fn by_fortnox(code: &str) -> Option<&'static WorkType> {
    WORK_TYPES.iter().find(|t| t.fortnox == code)
}

/// The ROT or RUT type of Visma's `WorkCostType`.
pub fn by_visma(code: i64) -> Option<&'static WorkType> {
    WORK_TYPES
        .iter()
        .find(|t| t.visma == code && t.kind != Green)
}

/// The green type of Visma's `GreenTechnologyType`.
pub fn by_visma_green(code: i64) -> Option<&'static WorkType> {
    WORK_TYPES
        .iter()
        .find(|t| t.visma == code && t.kind == Green)
}

/// Checks the house-work types of the rows and the invoice's tax reduction; every error names
/// its field and none quotes a personal identity number.
pub(super) fn check(i: &Invoice, e: &mut FieldErrors, today: NaiveDate) {
    let mut kind: Option<HouseWorkKind> = None;
    let mut claimed = Decimal::ZERO;
    let mut any_amount = false;
    for (n, r) in i.rows.iter().enumerate() {
        let Some(h) = &r.house_work else { continue };
        kind.get_or_insert(h.kind);
        if let Some(a) = h.amount {
            claimed += a;
            any_amount = true;
        }
        if let Some(t) = h.work_type.as_deref() {
            match work_type(t) {
                None => e.push(
                    format!("rows[{n}].house_work.work_type"),
                    format!(
                        "is not a house-work type; one of {}",
                        WORK_TYPES
                            .iter()
                            .map(|t| t.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                Some(t) if t.kind != h.kind => e.push(
                    format!("rows[{n}].house_work.work_type"),
                    format!("is not a {} type", kind_name(h.kind)),
                ),
                Some(_) => {}
            }
        }
        if h.material && h.hours.is_some_and(|h| !h.is_zero()) {
            e.push(
                format!("rows[{n}].house_work.hours"),
                "a material row reports no hours (hours are for labour)",
            );
        }
    }
    let Some(t) = &i.tax_reduction else { return };
    match kind {
        None => e.push(
            "tax_reduction",
            "needs at least one row with house_work of the same kind",
        ),
        Some(k) if k != t.kind => e.push(
            "tax_reduction.kind",
            "must be the kind of the rows' house_work",
        ),
        Some(_) => {}
    }
    if t.buyers.is_empty() || t.buyers.len() > MAX_BUYERS {
        e.push(
            "tax_reduction.buyers",
            format!("must name 1 to {MAX_BUYERS} buyers"),
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut shares = Decimal::ZERO;
    for (b, buyer) in t.buyers.iter().enumerate() {
        let f = |name: &str| format!("tax_reduction.buyers[{b}].{name}");
        match &buyer.personal_identity_number {
            None => e.push(f("personal_identity_number"), "is required"),
            Some(p) => match p.digits() {
                Err(why) => e.push(f("personal_identity_number"), why),
                Ok(_) if p.born_after(today) => e.push(
                    f("personal_identity_number"),
                    "is not a valid personal identity number (birth date in the future)",
                ),
                Ok(d) if !seen.insert(d.clone()) => e.push(
                    f("personal_identity_number"),
                    "names the same buyer as another entry",
                ),
                Ok(_) => {}
            },
        }
        if buyer.amount <= Decimal::ZERO || !buyer.amount.fract().is_zero() {
            e.push(f("amount"), "must be a positive number of whole kronor");
        }
        shares += buyer.amount;
    }
    if !t.buyers.is_empty() {
        if !any_amount {
            e.push(
                "tax_reduction.buyers",
                "the rows state no house_work.amount for the buyers' shares to add up to",
            );
        } else if shares != claimed {
            e.push(
                "tax_reduction.buyers",
                format!(
                    "the buyers' amounts add up to {}, the rows' house_work.amount to {}; they \
                     must be equal",
                    canonical_decimal(shares),
                    canonical_decimal(claimed)
                ),
            );
        }
    }
    // Green technology names the property like ROT (Visma: `RotReducedInvoicingPropertyName`
    // "is required when RotPropertyType or UsesGreenTechnology is set").
    match (&t.property, t.kind) {
        (None, Rot | Green) => e.push(
            "tax_reduction.property",
            "is required for ROT and green technology (a designation, or a housing cooperative \
             and apartment)",
        ),
        (Some(_), Rut) => e.push("tax_reduction.property", "is not given for RUT"),
        (Some(p), Rot | Green) => check_property(p, e),
        (None, Rut) => {}
    }
}

fn check_property(p: &Property, e: &mut FieldErrors) {
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    if p.is_apartment() {
        let org = p.housing_cooperative_org_number.as_deref().unwrap_or("");
        if organisation_number(org).is_none() {
            e.push(
                "tax_reduction.property.housing_cooperative_org_number",
                "must be an organisation number NNNNNN-NNNN with a valid check digit",
            );
        }
        if blank(&p.apartment) {
            e.push(
                "tax_reduction.property.apartment",
                "is required with housing_cooperative_org_number",
            );
        }
        if !blank(&p.designation) {
            e.push(
                "tax_reduction.property.designation",
                "give a designation or a housing cooperative and apartment, not both",
            );
        }
    } else if blank(&p.designation) {
        e.push(
            "tax_reduction.property",
            "needs a designation, or a housing_cooperative_org_number and apartment",
        );
    }
    for (name, v) in [("designation", &p.designation), ("apartment", &p.apartment)] {
        let field = format!("tax_reduction.property.{name}");
        e.opt_max_len(&field, v.as_deref(), PROPERTY_NAME_MAX);
        e.opt_plain_text(&field, v.as_deref(), Lines::Single);
    }
}

fn kind_name(k: HouseWorkKind) -> &'static str {
    match k {
        Rot => "ROT",
        Rut => "RUT",
        Green => "green technology",
    }
}

/// What of `t` the content hash covers: personal identity numbers by their digits (as the
/// provider may format them otherwise), amounts by value.
pub(super) fn hash_part(t: &TaxReduction) -> Value {
    // In no particular order: a provider lists its entries its own way.
    let mut buyers: Vec<Value> = t
        .buyers
        .iter()
        .map(|b| {
            json!({
                "pin": b.personal_identity_number.as_ref().map(|p| {
                    p.digits().unwrap_or_else(|_| p.expose().trim().to_string())
                }),
                "amount": canonical_decimal(b.amount),
            })
        })
        .collect();
    buyers.sort_by_key(|b| b.to_string());
    let trim = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    json!({
        "kind": t.kind,
        "buyers": buyers,
        "property": t.property.as_ref().map(|p| json!({
            "designation": trim(&p.designation),
            "org": trim(&p.housing_cooperative_org_number)
                .map(|o| organisation_number(&o).unwrap_or(o)),
            "apartment": trim(&p.apartment),
        })),
    })
}

#[cfg(test)]
#[path = "tax_reduction_tests.rs"]
mod tests;
