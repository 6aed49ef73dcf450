//! Small helpers to read and write DynamoDB attribute maps.

use super::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An RFC 3339 timestamp attribute.
pub fn ts(v: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(v.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Reads an optional string.
pub fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Reads a required string.
pub fn req_s<'a>(item: &'a Item, k: &str) -> Result<&'a str, StoreError> {
    get_s(item, k).ok_or_else(|| StoreError::Corrupt(format!("attribute `{k}` missing")))
}

/// Reads an optional number.
pub fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads an optional timestamp.
pub fn get_ts(item: &Item, k: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    match get_s(item, k) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|e| StoreError::Corrupt(format!("attribute `{k}`: {e}"))),
    }
}

/// Reads a required timestamp.
pub fn req_ts(item: &Item, k: &str) -> Result<DateTime<Utc>, StoreError> {
    get_ts(item, k)?.ok_or_else(|| StoreError::Corrupt(format!("attribute `{k}` missing")))
}
