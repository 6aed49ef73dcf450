//! Answers shaped by Fortnox's own OpenAPI document (April 2026 edition,
//! `contracts/fortnox-openapi-2026-04.json`, compiled in): a record is rendered through the
//! property set of its response schema, so an answer carries every key the schema has and
//! no other, as real Fortnox answers do.
//!
//! Rendering a stored value for a property follows the property's schema type:
//! - unset (absent, `null`, or `""`) → `null`, never `""` and never left out (Fortnox writes
//!   `"GLN": null`, `"FinalPayDate": null`);
//! - `number` → a JSON number, whole amounts as integers (`7420`, not `7420.0`); non-whole
//!   stay decimals (`99.5`);
//! - `integer`, `boolean`, `string` → that type (a number is written as text where the schema
//!   says `string`, e.g. `ContractReference` in `fortnox_Kf_InvoiceListItem`; text is read as
//!   a number where it says `number`, e.g. `InvoiceAdministrationFee` in
//!   `fortnox_Kf_CustomerListItem` but a string in `fortnox_Kf_CustomerSingleItem`);
//! - objects and arrays of objects → rendered through their own schema.
//!
//! The same stored record therefore encodes differently in a list item and in a single
//! record wherever the two schemas type a field differently (`SalesAccount`, `CurrencyUnit`,
//! `TimeBasisReference`, `TaxReduction`, …).

use std::collections::HashMap;
use std::sync::OnceLock;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::lenient::{boolean, decimal, money};

/// The document the answers follow.
const DOCUMENT: &str = include_str!("../../contracts/fortnox-openapi-2026-04.json");

/// `GET|PUT|POST /3/customers[/{CustomerNumber}]`: `{"Customer": …}`.
pub(crate) const CUSTOMER_SINGLE: &str = "fortnox_Kf_CustomerSingleItem";
/// `GET /3/customers`: items of `Customers`.
pub(crate) const CUSTOMER_LIST: &str = "fortnox_Kf_CustomerListItem";
/// `GET|PUT|POST /3/invoices[/{DocumentNumber}[/action]]`: `{"Invoice": …}`.
pub(crate) const INVOICE_SINGLE: &str = "fortnox_Kf_InvoiceSingleItem";
/// `GET /3/invoices`: items of `Invoices`.
pub(crate) const INVOICE_LIST: &str = "fortnox_Kf_InvoiceListItem";
/// `GET /3/companyinformation`: `{"CompanyInformation": …}`.
pub(crate) const COMPANY: &str = "fortnox_CompanyInformationSingleItem";
/// An invoice payment (single record).
pub(crate) const PAYMENT_SINGLE: &str = "fortnox_Kf_InvoicePaymentSingleItem";
/// An invoice payment (list item).
pub(crate) const PAYMENT_LIST: &str = "fortnox_Kf_InvoicePaymentListItem";

/// A tax reduction (single record).
pub(crate) const TAX_REDUCTION_SINGLE: &str = "fortnox_TaxReductionSingleItem";
/// A tax reduction (list item).
pub(crate) const TAX_REDUCTION_LIST: &str = "fortnox_TaxReductionListItem";

/// An article (single record, `fortnox_ArticleSingleItem`): no `LastModified` field exists.
pub(crate) const ARTICLE_SINGLE: &str = "fortnox_ArticleSingleItem";
/// An article in `GET /3/articles` (`fortnox_ArticleListItem`: `SalesPrice`, `VAT`,
/// `PurchasePrice`, `StockValue` are *strings* there, numbers in the single record).
pub(crate) const ARTICLE_LIST: &str = "fortnox_ArticleListItem";
/// A project (single record).
pub(crate) const PROJECT_SINGLE: &str = "fortnox_Project_ProjectSingleItem";
/// A project in `GET /3/projects`.
pub(crate) const PROJECT_LIST: &str = "fortnox_Project_ProjectListItem";
/// A cost centre; the list's items use the same schema (`fortnox_CostCenterListItem_Wrap`).
pub(crate) const COST_CENTER: &str = "fortnox_CostCenterSingleItem";

const SHAPES: &[&str] = &[
    ARTICLE_SINGLE,
    ARTICLE_LIST,
    PROJECT_SINGLE,
    PROJECT_LIST,
    COST_CENTER,
    TAX_REDUCTION_SINGLE,
    TAX_REDUCTION_LIST,
    CUSTOMER_SINGLE,
    CUSTOMER_LIST,
    INVOICE_SINGLE,
    INVOICE_LIST,
    COMPANY,
    PAYMENT_SINGLE,
    PAYMENT_LIST,
];

/// The JSON type a property is written as.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Text,
    Number,
    Integer,
    Boolean,
    Object(Shape),
    /// An array; items rendered through the shape when they are objects with a schema.
    Array(Option<Shape>),
    /// Anything else: passed through as stored.
    Any,
}

/// The properties of one object schema, in the document's order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub fields: Vec<(String, Ty)>,
}

#[cfg(test)]
impl Shape {
    /// Whether the schema has property `key`.
    pub fn has(&self, key: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == key)
    }
}

/// The shape of schema `name` (one of the consts above).
pub(crate) fn shape(name: &str) -> &'static Shape {
    static LOADED: OnceLock<HashMap<&'static str, Shape>> = OnceLock::new();
    let shapes = LOADED.get_or_init(|| {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap_or(Value::Null);
        let schemas = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        SHAPES
            .iter()
            .map(|n| (*n, object_shape(&schemas, n, 0)))
            .collect()
    });
    static EMPTY: Shape = Shape { fields: Vec::new() };
    shapes.get(name).unwrap_or(&EMPTY)
}

fn object_shape(schemas: &Map<String, Value>, name: &str, depth: usize) -> Shape {
    let fields = schemas
        .get(name)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(k, v)| (k.clone(), ty(schemas, v, depth)))
                .collect()
        })
        .unwrap_or_default();
    Shape { fields }
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

fn ty(schemas: &Map<String, Value>, schema: &Value, depth: usize) -> Ty {
    // The schemas the answers use nest two levels (invoice → rows); the bound only guards
    // against a self-referencing schema.
    if depth > 4 {
        return Ty::Any;
    }
    if let Some(name) = ref_name(schema) {
        return Ty::Object(object_shape(schemas, name, depth + 1));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Ty::Text,
        Some("number") => Ty::Number,
        Some("integer") => Ty::Integer,
        Some("boolean") => Ty::Boolean,
        Some("array") => Ty::Array(
            schema
                .get("items")
                .and_then(ref_name)
                .map(|n| object_shape(schemas, n, depth + 1)),
        ),
        _ => Ty::Any,
    }
}

/// `stored` rendered through `shape`: every property, `null` for unset ones.
pub(crate) fn render(shape: &Shape, stored: &Map<String, Value>) -> Map<String, Value> {
    shape
        .fields
        .iter()
        .map(|(key, ty)| (key.clone(), value(ty, stored.get(key))))
        .collect()
}

/// A number for an amount: whole values as JSON integers (`7420`), others as decimals.
pub(crate) fn amount(d: Decimal) -> Value {
    if d.fract().is_zero() {
        if let Some(i) = d.to_i64() {
            return Value::from(i);
        }
    }
    money(d.normalize())
}

fn value(ty: &Ty, stored: Option<&Value>) -> Value {
    let Some(v) = stored.filter(|v| !v.is_null() && v.as_str() != Some("")) else {
        return Value::Null;
    };
    match ty {
        Ty::Text => match v {
            Value::String(_) => v.clone(),
            Value::Number(_) => match decimal(v) {
                Ok(Some(d)) => Value::String(d.normalize().to_string()),
                _ => Value::Null,
            },
            Value::Bool(b) => Value::String(b.to_string()),
            _ => Value::Null,
        },
        Ty::Number => match decimal(v) {
            Ok(Some(d)) => amount(d),
            _ => Value::Null,
        },
        Ty::Integer => match decimal(v) {
            Ok(Some(d)) if d.fract().is_zero() => d.to_i64().map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        Ty::Boolean => match boolean(v) {
            Ok(Some(b)) => Value::Bool(b),
            _ => Value::Null,
        },
        Ty::Object(shape) => match v {
            Value::Object(map) => Value::Object(render(shape, map)),
            _ => Value::Null,
        },
        Ty::Array(item) => match (v, item) {
            (Value::Array(items), Some(shape)) => Value::Array(
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|m| Value::Object(render(shape, m)))
                    .collect(),
            ),
            (Value::Array(_), None) => v.clone(),
            _ => Value::Null,
        },
        Ty::Any => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_come_from_the_document() {
        let single = shape(CUSTOMER_SINGLE);
        for key in [
            "GLN",
            "GLNDelivery",
            "SalesAccount",
            "VisitingCountryCode",
            "@url",
        ] {
            assert!(single.has(key), "{key}");
        }
        assert!(shape(INVOICE_SINGLE).has("VoucherNumber"));
        assert!(shape(INVOICE_LIST).has("FinalPayDate"));
        assert!(!shape(COMPANY).fields.is_empty());
        let rows = shape(INVOICE_SINGLE)
            .fields
            .iter()
            .find_map(|(k, t)| match t {
                Ty::Array(Some(s)) if k == "InvoiceRows" => Some(s),
                _ => None,
            })
            .expect("rows");
        assert!(rows.has("AccountNumber") && rows.has("Description"));
    }

    #[test]
    fn values_follow_the_schema_type() {
        let stored = json!({
            "Name": "A", "City": "", "InvoiceDiscount": 7420.0, "SalesAccount": "3001",
            "InvoiceAdministrationFee": "99.50", "Active": "true",
            "DefaultDeliveryTypes": {"Invoice": "EMAIL"}
        });
        let stored = stored.as_object().unwrap();
        let single = render(shape(CUSTOMER_SINGLE), stored);
        assert_eq!(single["City"], Value::Null);
        assert_eq!(single["GLN"], Value::Null);
        assert_eq!(single["InvoiceDiscount"].to_string(), "7420");
        assert_eq!(single["SalesAccount"], "3001");
        assert_eq!(single["InvoiceAdministrationFee"], "99.50");
        assert_eq!(single["Active"], true);
        assert_eq!(single["DefaultDeliveryTypes"]["Offer"], Value::Null);
        let list = render(shape(CUSTOMER_LIST), stored);
        assert_eq!(list["SalesAccount"], 3001);
        assert_eq!(list["InvoiceAdministrationFee"], 99.5);
        assert_eq!(amount(Decimal::new(-35, 2)), json!(-0.35));
        assert_eq!(amount(Decimal::new(12700, 1)).to_string(), "1270");
    }
}
