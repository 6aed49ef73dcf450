//! Writable fields read leniently (numbers as strings, `"true"`, `""` for nothing) and
//! checked as Fortnox checks them. Unset values are not stored: `""` (and for most kinds a
//! JSON `null`) leaves a field unset, and answers render it as `null`.

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::codes::{CODE_INVALID_EMAIL, CODE_INVALID_VALUE};
use super::errors::{bad_request, invalid_value, too_long, ApiError};
use crate::lenient::{boolean, date, decimal, integer, money, string};

/// How a writable field is read and checked.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// Free text up to this many characters; `""` unsets it.
    Text(usize),
    Bool,
    Number,
    Int {
        min: i64,
        max: i64,
    },
    /// One of these (matched case-insensitively, stored as listed); `""` removes it.
    Choice(&'static [&'static str]),
    /// ISO 3166 alpha-2; `""` removes it.
    Country,
    /// Exactly this many letters (upper-cased); `""` removes it.
    Letters(usize),
    /// Exactly this many digits; `""` removes it.
    Digits(usize),
    Email,
    Date,
    /// An object of text fields with these names.
    TextObject(&'static [&'static str]),
    /// `DefaultDeliveryTypes`: each of Invoice/Offer/Order one of PRINT/EMAIL/PRINTSERVICE.
    DeliveryTypes,
    /// `Labels`: `[{"Id": n}]`.
    Labels,
}

pub(super) const DELIVERY_TYPES: &[&str] = &["PRINT", "EMAIL", "PRINTSERVICE"];

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

/// Reads `value` for `field` as `kind`: `Ok(None)` removes the field, `Ok(Some)` sets it;
/// a JSON `null` leaves it as it was (`Err` never for null).
fn read_field(field: &str, kind: Kind, value: &Value) -> Result<Option<Option<Value>>, ApiError> {
    if value.is_null() {
        return Ok(None);
    }
    let text = || -> Result<String, ApiError> {
        string(value)
            .ok()
            .flatten()
            .ok_or_else(|| invalid_value(field, value))
    };
    let set = |v: Value| Ok(Some(Some(v)));
    match kind {
        Kind::Text(max) => {
            let s = text()?;
            if s.chars().count() > max {
                return Err(too_long(field, max));
            }
            if s.is_empty() {
                Ok(Some(None))
            } else {
                set(Value::String(s))
            }
        }
        Kind::Bool => match boolean(value) {
            Ok(Some(b)) => set(Value::Bool(b)),
            Ok(None) => Ok(None),
            Err(_) => Err(invalid_value(field, value)),
        },
        Kind::Number => match decimal(value) {
            Ok(Some(d)) => set(money(d)),
            Ok(None) => set(money(Decimal::ZERO)),
            Err(_) => Err(invalid_value(field, value)),
        },
        Kind::Int { min, max } => match integer(value) {
            Ok(Some(n)) if (min..=max).contains(&n) => set(Value::from(n)),
            Ok(None) => Ok(None),
            _ => Err(invalid_value(field, value)),
        },
        Kind::Choice(options) => {
            let s = text()?;
            if s.is_empty() {
                return Ok(Some(None));
            }
            options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(s.trim()))
                .map(|o| Some(Some(Value::String((*o).to_string()))))
                .ok_or_else(|| invalid_value(field, value))
        }
        Kind::Country => {
            let s = text()?.trim().to_ascii_uppercase();
            if s.is_empty() {
                return Ok(Some(None));
            }
            if s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase()) {
                set(Value::String(s))
            } else {
                Err(bad_request(
                    CODE_INVALID_VALUE,
                    format!("Ogiltig landskod i fältet \"{field}\": {value}."),
                ))
            }
        }
        Kind::Letters(n) => {
            let s = text()?.trim().to_ascii_uppercase();
            if s.is_empty() {
                return Ok(Some(None));
            }
            if s.len() == n && s.chars().all(|c| c.is_ascii_uppercase()) {
                set(Value::String(s))
            } else {
                Err(invalid_value(field, value))
            }
        }
        Kind::Digits(n) => {
            let s = text()?.trim().to_string();
            if s.is_empty() {
                return Ok(Some(None));
            }
            if s.len() == n && s.chars().all(|c| c.is_ascii_digit()) {
                set(Value::String(s))
            } else {
                Err(invalid_value(field, value))
            }
        }
        Kind::Email => {
            let s = text()?.trim().to_string();
            if s.chars().count() > 1024 {
                return Err(too_long(field, 1024));
            }
            if s.is_empty() {
                return Ok(Some(None));
            }
            if !is_email(&s) {
                return Err(bad_request(
                    CODE_INVALID_EMAIL,
                    format!("Ogiltig e-postadress i fältet \"{field}\": \"{s}\"."),
                ));
            }
            set(Value::String(s))
        }
        Kind::Date => match date(value) {
            Ok(Some(d)) => set(Value::String(d.format("%Y-%m-%d").to_string())),
            Ok(None) => Ok(Some(None)),
            Err(_) => Err(bad_request(
                CODE_INVALID_VALUE,
                format!("Ogiltigt datum i fältet \"{field}\": {value} (förväntade ÅÅÅÅ-MM-DD)."),
            )),
        },
        Kind::TextObject(_) | Kind::DeliveryTypes | Kind::Labels => {
            Err(invalid_value(field, value))
        }
    }
}

/// Merges the sub-fields of an object-valued field into `target`.
fn merge_object(
    target: &mut Map<String, Value>,
    field: &str,
    kind: Kind,
    value: &Value,
) -> Result<(), ApiError> {
    if value.is_null() {
        return Ok(());
    }
    let Some(input) = value.as_object() else {
        return Err(invalid_value(field, value));
    };
    let mut current = target
        .get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (sub, v) in input {
        let sub_kind = match kind {
            Kind::TextObject(names) if names.contains(&sub.as_str()) => Kind::Text(1024),
            Kind::DeliveryTypes if ["Invoice", "Offer", "Order"].contains(&sub.as_str()) => {
                Kind::Choice(DELIVERY_TYPES)
            }
            _ => continue,
        };
        match read_field(&format!("{field}.{sub}"), sub_kind, v)? {
            Some(Some(v)) => {
                current.insert(sub.clone(), v);
            }
            Some(None) => {
                current.remove(sub);
            }
            None => {}
        }
    }
    target.insert(field.to_string(), Value::Object(current));
    Ok(())
}

pub(super) fn apply_field(
    body: &mut Map<String, Value>,
    field: &str,
    kind: Kind,
    value: &Value,
) -> Result<(), ApiError> {
    apply_field_as(body, field, field, kind, value)
}

/// [`apply_field`], naming the field `label` in error messages.
pub(super) fn apply_field_as(
    body: &mut Map<String, Value>,
    field: &str,
    label: &str,
    kind: Kind,
    value: &Value,
) -> Result<(), ApiError> {
    match kind {
        Kind::TextObject(_) | Kind::DeliveryTypes => merge_object(body, field, kind, value),
        Kind::Labels => {
            let labels = labels(value).ok_or_else(|| invalid_value(label, value))?;
            body.insert(field.to_string(), labels);
            Ok(())
        }
        _ => {
            match read_field(label, kind, value)? {
                Some(Some(v)) => {
                    body.insert(field.to_string(), v);
                }
                Some(None) => {
                    body.remove(field);
                }
                None => {}
            }
            Ok(())
        }
    }
}

fn labels(value: &Value) -> Option<Value> {
    let items = value.as_array()?;
    let mut out = Vec::new();
    for item in items {
        let id = integer(item.get("Id")?).ok()??;
        out.push(json!({"Id": id}));
    }
    Some(Value::Array(out))
}
