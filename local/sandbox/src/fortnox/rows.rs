//! Invoice rows (`fortnox_Kf_InvoiceRowSingleItem`): reading the written fields, accounts
//! and VAT, and how a write's rows map onto the stored ones.
//!
//! A row needs an `ArticleNumber` or an `AccountNumber` to carry an amount; without either,
//! a row whose quantity or price is zero is a text row (a description line: no account, no
//! VAT, amounts zero), as Fortnox accepts them, and any other row fails with 2001304 ("Kunde
//! inte hitta konto").

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::codes::{CODE_ACCOUNT_NOT_FOUND, CODE_INVALID_VALUE, CODE_VALUE_TOO_LONG};
use super::errors::{bad_request, invalid_value, ApiError};
use super::fields::{apply_field_as, Kind};
use crate::lenient::{dec_field, decimal, integer, str_field, two_decimals};

const HOUSE_WORK_TYPES: &[&str] = &[
    "CONSTRUCTION",
    "ELECTRICITY",
    "GLASSMETALWORK",
    "GROUNDDRAINAGEWORK",
    "MASONRY",
    "PAINTINGWALLPAPERING",
    "HVAC",
    "MAJORAPPLIANCEREPAIR",
    "MOVINGSERVICES",
    "ITSERVICES",
    "CLEANING",
    "TEXTILECLOTHING",
    "SNOWPLOWING",
    "GARDENING",
    "BABYSITTING",
    "OTHERCARE",
    "OTHERCOSTS",
    "SOLARCELLS",
    "STORAGESELFPRODUCEDELECTRICITY",
    "CHARGINGSTATIONELECTRICVEHICLE",
    "HOMEMAINTENANCE",
    "FURNISHING",
    "TRANSPORTATIONSERVICES",
    "WASHINGANDCAREOFCLOTHING",
];

/// Writable row fields; `AccountNumber`, `VAT`, `DeliveredQuantity` and `RowId` are handled
/// apart.
fn row_field(name: &str) -> Option<Kind> {
    Some(match name {
        "ArticleNumber" | "CostCenter" | "Project" | "StockPointCode" => Kind::Text(1024),
        "Unit" => Kind::Text(20),
        "Description" => Kind::Text(255),
        "Discount" | "Price" => Kind::Number,
        "DiscountType" => Kind::Choice(&["AMOUNT", "PERCENT"]),
        "HouseWork" => Kind::Bool,
        "HouseWorkHoursToReport" => Kind::Int { min: 0, max: 999 },
        "HouseWorkType" => Kind::Choice(HOUSE_WORK_TYPES),
        _ => return None,
    })
}

/// The default VAT of a sales account (BAS: 3001 25 %, 3002 12 %, 3003 6 %, 3004 and
/// export accounts 0 %).
fn account_vat(account: i64) -> i64 {
    match account {
        3002 => 12,
        3003 => 6,
        3004 | 3105 | 3106 | 3108 | 3305 | 3308 => 0,
        _ => 25,
    }
}

fn vat_code(vat: i64) -> &'static str {
    match vat {
        25 => "MP1",
        12 => "MP2",
        6 => "MP3",
        _ => "MF",
    }
}

fn row_defaults() -> Map<String, Value> {
    match json!({
        "ContributionPercent": "0",
        "ContributionValue": "0",
        "DeliveredQuantity": "0.00",
        "Discount": 0,
        "DiscountType": "PERCENT",
        "HouseWork": false,
        "Price": 0,
    }) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Builds one row from `base` (an existing row or the defaults) and the input row.
fn build_row(
    index: usize,
    mut row: Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let label = |f: &str| format!("InvoiceRows[{index}].{f}");
    for (field, value) in input {
        if let Some(kind) = row_field(field) {
            apply_field_as(&mut row, field, &label(field), kind, value).map_err(|mut e| {
                if field == "Description" && e.code == Some(CODE_VALUE_TOO_LONG) {
                    e.message = format!(
                        "Beskrivningen (Description) på rad {} får innehålla högst 255 tecken.",
                        index + 1
                    );
                }
                e
            })?;
        }
    }
    if let Some(v) = input.get("DeliveredQuantity") {
        match decimal(v) {
            Ok(Some(q)) => {
                row.insert("DeliveredQuantity".into(), Value::String(two_decimals(q)));
            }
            Ok(None) => {}
            Err(_) => return Err(invalid_value(&label("DeliveredQuantity"), v)),
        }
    }
    if let Some(v) = input.get("AccountNumber") {
        match integer(v) {
            Ok(Some(a)) if (1000..=9999).contains(&a) => {
                row.insert("AccountNumber".into(), Value::from(a));
            }
            Ok(None) => {}
            _ => {
                return Err(bad_request(
                    CODE_ACCOUNT_NOT_FOUND,
                    format!("Kunde inte hitta konto {v} (rad {}).", index + 1),
                ))
            }
        }
    }
    let has_article = !str_field(&row, "ArticleNumber").trim().is_empty();
    if !row.contains_key("AccountNumber") && !has_article {
        let zero =
            dec_field(&row, "DeliveredQuantity").is_zero() || dec_field(&row, "Price").is_zero();
        if zero {
            // A text row: Fortnox keeps it without account or VAT.
            for field in ["VAT", "VATCode"] {
                row.remove(field);
            }
            return Ok(row);
        }
        return Err(bad_request(
            CODE_ACCOUNT_NOT_FOUND,
            format!(
                "Kunde inte hitta konto (rad {}): ange ArticleNumber eller AccountNumber.",
                index + 1
            ),
        ));
    }
    if !row.contains_key("AccountNumber") {
        // An article row without an account books on the default sales account.
        row.insert("AccountNumber".into(), Value::from(3001));
    }
    let account = row
        .get("AccountNumber")
        .and_then(Value::as_i64)
        .unwrap_or(3001);
    match input.get("VAT") {
        Some(v) if !v.is_null() => match integer(v) {
            Ok(Some(vat)) if [0, 6, 12, 25].contains(&vat) => {
                row.insert("VAT".into(), Value::from(vat));
            }
            Ok(None) => {}
            _ => {
                return Err(bad_request(
                    CODE_INVALID_VALUE,
                    format!(
                        "Ogiltig momssats {v} (rad {}): tillåtna är 0, 6, 12 och 25.",
                        index + 1
                    ),
                ))
            }
        },
        _ => {}
    }
    if !row.contains_key("VAT") {
        row.insert("VAT".into(), Value::from(account_vat(account)));
    }
    let vat = row.get("VAT").and_then(Value::as_i64).unwrap_or(25);
    row.insert("VATCode".into(), Value::String(vat_code(vat).to_string()));
    Ok(row)
}

/// Rows from a write: with no `RowId` anywhere, row *i* updates existing row *i* (rows beyond
/// the input are removed); otherwise rows with a known `RowId` update that row and the rest
/// are new. Row ids are renumbered on every write, as Fortnox does.
pub(super) fn build_rows(existing: &[Value], input: &Value) -> Result<Vec<Value>, ApiError> {
    let Some(items) = input.as_array() else {
        return Err(invalid_value("InvoiceRows", input));
    };
    let by_id: HashMap<i64, &Map<String, Value>> = existing
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|r| r.get("RowId").and_then(Value::as_i64).map(|id| (id, r)))
        .collect();
    let any_ids = items
        .iter()
        .any(|r| r.get("RowId").is_some_and(|v| !v.is_null()));
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(item) = item.as_object() else {
            return Err(invalid_value(&format!("InvoiceRows[{i}]"), item));
        };
        let base = if any_ids {
            item.get("RowId")
                .and_then(|v| integer(v).ok().flatten())
                .and_then(|id| by_id.get(&id))
                .map(|r| (*r).clone())
        } else {
            existing.get(i).and_then(Value::as_object).cloned()
        };
        let mut row = build_row(i, base.unwrap_or_else(row_defaults), item)?;
        row.insert("RowId".into(), Value::from(i + 1));
        rows.push(Value::Object(row));
    }
    Ok(rows)
}
