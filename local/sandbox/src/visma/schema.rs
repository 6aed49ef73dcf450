//! Visma's own OpenAPI document (`contracts/visma-eaccounting-v2-openapi.yaml`, OpenAPI
//! 3.1.1) as the source of every body's shape: responses carry every property the response
//! schema has and none it lacks (`additionalProperties: false`), nullable ones `null` when
//! unset; writes read only the properties the schema does not mark `readOnly`, typed and
//! bounded as the schema says (`maxLength`, `minimum`, `maximum`, `enum`).

use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::errors::{invalid, too_long, ApiError};
use crate::lenient::{boolean, date, decimal, integer, money, string};

static SPEC_TEXT: &str = include_str!("../../contracts/visma-eaccounting-v2-openapi.yaml");

/// Nesting guard for skeletons of schemas that refer to each other.
const MAX_DEPTH: usize = 6;

fn schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let spec: Value = serde_norway::from_str(SPEC_TEXT)
            .unwrap_or_else(|e| panic!("the Visma OpenAPI document in contracts/ must parse: {e}"));
        match spec.pointer("/components/schemas") {
            Some(Value::Object(map)) => map.clone(),
            _ => panic!("the Visma OpenAPI document has no components.schemas"),
        }
    })
}

/// The named component schema (`CustomerApi`, …). Panics on a name the document lacks:
/// that is a programming error in the sandbox, caught by its tests.
pub(crate) fn schema(name: &str) -> &'static Map<String, Value> {
    match schemas().get(name) {
        Some(Value::Object(s)) => s,
        _ => panic!("the Visma OpenAPI document has no schema {name}"),
    }
}

fn properties(name: &str) -> &'static Map<String, Value> {
    static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
    match schema(name).get("properties") {
        Some(Value::Object(p)) => p,
        _ => EMPTY.get_or_init(Map::new),
    }
}

/// The schema name a `{"$ref": "#/components/schemas/X"}` points at.
fn ref_name(prop: &Value) -> Option<&str> {
    prop.get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")
}

/// The property `field` of schema `name`.
pub(crate) fn property(name: &str, field: &str) -> Option<&'static Value> {
    properties(name).get(field)
}

/// Whether the schema `name` has a property `field`.
pub(crate) fn has(name: &str, field: &str) -> bool {
    properties(name).contains_key(field)
}

/// The schema's `required` list.
pub(crate) fn required_fields(name: &str) -> Vec<&'static str> {
    match schema(name).get("required") {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_read_only(prop: &Value) -> bool {
    prop.get("readOnly").and_then(Value::as_bool) == Some(true)
}

/// Properties a client may write (everything not `readOnly`), in document order.
pub(crate) fn writable(name: &str) -> Vec<&'static str> {
    properties(name)
        .iter()
        .filter(|(_, p)| !is_read_only(p))
        .map(|(k, _)| k.as_str())
        .collect()
}

/// The JSON types a property allows (`type: [string, "null"]` → both).
fn types(prop: &Value) -> Vec<&str> {
    match prop.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn nullable(prop: &Value) -> bool {
    types(prop).contains(&"null")
}

/// The value a property has when nothing set it: `null` when nullable, else the type's zero
/// (kept inside `minimum` and `enum`), an object's own skeleton, an empty array.
fn default_of(prop: &Value, depth: usize) -> Value {
    if let Some(name) = ref_name(prop) {
        return if depth >= MAX_DEPTH {
            Value::Object(Map::new())
        } else {
            Value::Object(skeleton_at(name, depth + 1))
        };
    }
    if nullable(prop) {
        return Value::Null;
    }
    if let Some(Value::Array(options)) = prop.get("enum") {
        if let Some(first) = options.first() {
            return first.clone();
        }
    }
    let minimum = prop.get("minimum").and_then(Value::as_i64).unwrap_or(0);
    match types(prop).first().copied() {
        Some("boolean") => Value::Bool(false),
        Some("integer") => Value::from(minimum.max(0)),
        Some("number") => Value::from(minimum.max(0)),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(Map::new()),
        Some("string") => match prop.get("format").and_then(Value::as_str) {
            Some("uuid") => Value::String(Uuid::nil().to_string()),
            Some("date-time") => Value::String("0001-01-01T00:00:00Z".into()),
            _ => Value::String(String::new()),
        },
        _ => Value::Null,
    }
}

fn skeleton_at(name: &str, depth: usize) -> Map<String, Value> {
    properties(name)
        .iter()
        .map(|(k, p)| (k.clone(), default_of(p, depth)))
        .collect()
}

/// Every property of schema `name` with its unset value.
pub(crate) fn skeleton(name: &str) -> Map<String, Value> {
    skeleton_at(name, 0)
}

/// `body` completed to schema `name`: missing properties get their unset value. A property
/// the schema lacks is a sandbox bug: it fails debug builds and is dropped otherwise.
pub(crate) fn conform(name: &str, body: Map<String, Value>) -> Map<String, Value> {
    let mut out = skeleton(name);
    for (k, v) in body {
        if out.contains_key(&k) {
            out.insert(k, v);
        } else {
            debug_assert!(false, "{name} has no property {k}");
            tracing::error!(schema = name, property = %k, "dropped a property the schema lacks");
        }
    }
    out
}

#[cfg(test)]
/// Reads a written value for `field` of schema `name` as the schema types it (leniently, as
/// the API does: numbers as strings, `"true"`). `Ok(None)`: absent in effect (`null` or
/// `""` where the schema does not allow it), so the caller applies its default.
pub(crate) fn read(
    name: &str,
    field: &str,
    label: &str,
    value: &Value,
) -> Result<Option<Value>, ApiError> {
    match property(name, field) {
        Some(prop) => read_prop(prop, label, value, 0),
        None => Ok(None),
    }
}

fn read_prop(
    prop: &Value,
    label: &str,
    value: &Value,
    depth: usize,
) -> Result<Option<Value>, ApiError> {
    if let Some(name) = ref_name(prop) {
        return match value {
            Value::Null => Ok(None),
            Value::Object(input) if depth < MAX_DEPTH => {
                read_object(name, label, input, depth + 1).map(|m| Some(Value::Object(m)))
            }
            _ => Err(invalid(label, value)),
        };
    }
    if value.is_null() {
        return Ok(nullable(prop).then_some(Value::Null));
    }
    let kind = types(prop).into_iter().find(|t| *t != "null").unwrap_or("");
    let read = match kind {
        "string" => read_string(prop, label, value)?,
        "boolean" => boolean(value)
            .map_err(|_| invalid(label, value))?
            .map(Value::Bool),
        "integer" => match integer(value).map_err(|_| invalid(label, value))? {
            None => None,
            Some(n) => {
                bounded(prop, label, value, Decimal::from(n))?;
                Some(Value::from(n))
            }
        },
        "number" => match decimal(value).map_err(|_| invalid(label, value))? {
            None => None,
            Some(d) => {
                bounded(prop, label, value, d)?;
                Some(money(d))
            }
        },
        "array" => {
            let items = value.as_array().ok_or_else(|| invalid(label, value))?;
            let item_schema = prop.get("items").cloned().unwrap_or(Value::Null);
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_label = format!("{label}[{i}]");
                if let Some(v) = read_prop(&item_schema, &item_label, item, depth)? {
                    out.push(v);
                }
            }
            Some(Value::Array(out))
        }
        _ => Some(value.clone()),
    };
    match read {
        None if nullable(prop) => Ok(Some(Value::Null)),
        other => Ok(other),
    }
}

fn read_string(prop: &Value, label: &str, value: &Value) -> Result<Option<Value>, ApiError> {
    let s = string(value)
        .map_err(|_| invalid(label, value))?
        .unwrap_or_default();
    match prop.get("format").and_then(Value::as_str) {
        Some("uuid") if s.trim().is_empty() => return Ok(None),
        Some("uuid") => {
            return Uuid::parse_str(s.trim())
                .map(|u| Some(Value::String(u.to_string())))
                .map_err(|_| invalid(label, value))
        }
        // Visma sends dates as midnight date-times without zone.
        Some("date-time") => {
            return match date(value).map_err(|_| invalid(label, value))? {
                None => Ok(None),
                Some(d) => Ok(Some(Value::String(format!(
                    "{}T00:00:00Z",
                    d.format("%Y-%m-%d")
                )))),
            }
        }
        _ => {}
    }
    if let Some(max) = prop.get("maxLength").and_then(Value::as_u64) {
        if s.chars().count() as u64 > max {
            return Err(too_long(label, max));
        }
    }
    if let Some(Value::Array(options)) = prop.get("enum") {
        if !options.iter().any(|o| o.as_str() == Some(s.as_str())) {
            return Err(invalid(label, value));
        }
    }
    Ok(Some(Value::String(s)))
}

fn bounded(prop: &Value, label: &str, value: &Value, d: Decimal) -> Result<(), ApiError> {
    let bound = |key: &str| prop.get(key).and_then(|b| decimal(b).ok().flatten());
    let below = bound("minimum").is_some_and(|min| d < min);
    let above = bound("maximum").is_some_and(|max| d > max);
    let outside_enum = match prop.get("enum") {
        Some(Value::Array(options)) => {
            !options.iter().any(|o| decimal(o).ok().flatten() == Some(d))
        }
        _ => false,
    };
    if below || above || outside_enum {
        return Err(invalid(label, value));
    }
    Ok(())
}

/// Reads the writable properties of `input` for schema `name` (others are ignored, as the
/// API ignores read-only and unknown ones) onto the schema's skeleton.
pub(crate) fn read_object(
    name: &str,
    label: &str,
    input: &Map<String, Value>,
    depth: usize,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = skeleton_at(name, depth);
    for field in writable(name) {
        if let (Some(value), Some(prop)) = (input.get(field), property(name, field)) {
            let field_label = if label.is_empty() {
                field.to_string()
            } else {
                format!("{label}.{field}")
            };
            if let Some(v) = read_prop(prop, &field_label, value, depth)? {
                out.insert(field.to_string(), v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn skeletons_follow_the_document() {
        let customer = skeleton("CustomerApi");
        assert_eq!(customer["EmailAddress"], Value::Null);
        assert_eq!(customer["IsActive"], false);
        assert!(customer["TermsOfPayment"].is_object());
        assert_eq!(customer["TermsOfPayment"]["NumberOfDays"], 0);
        assert!(!customer.contains_key("VatRatePercent"));
        assert!(writable("CustomerApi").contains(&"Name"));
        assert!(!writable("CustomerApi").contains(&"ChangedUtc"));
        assert!(required_fields("CustomerApi").contains(&"TermsOfPaymentId"));
        let row = skeleton("CustomerInvoiceDraftRowApi");
        assert!(row.contains_key("ReversedConstructionServicesVatFree"));
        assert!(!row.contains_key("IsVatFree"));
        let booked = skeleton("CustomerInvoiceRowApi");
        assert!(booked.contains_key("IsVatFree") && booked.contains_key("PercentVat"));
        assert!(!booked.contains_key("ReversedConstructionServicesVatFree"));
    }

    #[test]
    fn reading_is_typed_and_bounded() {
        let read = |f: &str, v: Value| read("CustomerApi", f, f, &v);
        assert_eq!(read("Name", json!("A")).unwrap(), Some(json!("A")));
        assert_eq!(read("Name", json!("x".repeat(51))).unwrap_err().code, 2002);
        assert_eq!(read("IsActive", json!("true")).unwrap(), Some(json!(true)));
        assert_eq!(read("IsActive", json!("maybe")).unwrap_err().code, 2001);
        assert_eq!(
            read("DiscountPercentage", json!(1.5)).unwrap_err().code,
            2001
        );
        assert_eq!(
            read("EmailAddress", json!(null)).unwrap(),
            Some(Value::Null)
        );
        assert_eq!(read("IsActive", json!(null)).unwrap(), None);
        assert_eq!(
            read("TermsOfPaymentId", json!("nope")).unwrap_err().code,
            2001
        );
    }
}
