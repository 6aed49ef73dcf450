//! Lenient reading of JSON values (both providers accept numbers as strings and back, and
//! empty strings for "nothing"), decimal money helpers and small shared utilities.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Number, Value};

/// A value that could not be read as the type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrongType;

/// A decimal from a JSON number or numeric string; `null` and `""` are `None`.
pub(crate) fn decimal(v: &Value) -> Result<Option<Decimal>, WrongType> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => parse_decimal(&n.to_string()).map(Some),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => parse_decimal(s.trim()).map(Some),
        _ => Err(WrongType),
    }
}

fn parse_decimal(s: &str) -> Result<Decimal, WrongType> {
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map_err(|_| WrongType)
}

/// A whole number from a JSON number or numeric string; `null` and `""` are `None`.
pub(crate) fn integer(v: &Value) -> Result<Option<i64>, WrongType> {
    match decimal(v)? {
        None => Ok(None),
        Some(d) if d.fract().is_zero() => d.to_i64().map(Some).ok_or(WrongType),
        Some(_) => Err(WrongType),
    }
}

/// A boolean from `true`/`false`, `"true"`/`"false"` (any case) or `1`/`0`; `null` and `""`
/// are `None`.
pub(crate) fn boolean(v: &Value) -> Result<Option<bool>, WrongType> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Ok(Some(true)),
            Some(0) => Ok(Some(false)),
            _ => Err(WrongType),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(WrongType),
        },
        _ => Err(WrongType),
    }
}

/// A string from a JSON string, number or boolean; `null` is `None`.
pub(crate) fn string(v: &Value) -> Result<Option<String>, WrongType> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(WrongType),
    }
}

/// A calendar date from `YYYY-MM-DD` (a `THH:MM:SS…` tail is tolerated, as Visma sends
/// dates as midnight date-times); `null` and `""` are `None`.
pub(crate) fn date(v: &Value) -> Result<Option<NaiveDate>, WrongType> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            let s = s.trim();
            let day = s.split_once('T').map_or(s, |(d, _)| d);
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| WrongType)
        }
        _ => Err(WrongType),
    }
}

/// Rounds to öre (two decimals), half away from zero, as invoices do.
pub(crate) fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds to whole kronor, half away from zero (Swedish invoice round-off).
pub(crate) fn round0(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
}

/// A JSON number for an amount. JSON numbers are doubles in `serde_json`; the conversion
/// happens only here, at the edge, after all arithmetic was done in decimals.
pub(crate) fn money(d: Decimal) -> Value {
    d.to_f64()
        .and_then(Number::from_f64)
        .map_or(Value::from(0), Value::Number)
}

/// A decimal with exactly two decimals as text (`"2.00"`), as Fortnox sends quantities.
pub(crate) fn two_decimals(d: Decimal) -> String {
    let mut r = round2(d);
    r.rescale(2);
    r.to_string()
}

/// The decimal in `map[key]`, or zero when missing or unreadable (stored data is clean).
pub(crate) fn dec_field(map: &Map<String, Value>, key: &str) -> Decimal {
    map.get(key)
        .and_then(|v| decimal(v).ok().flatten())
        .unwrap_or_default()
}

/// The string in `map[key]`, or `""`.
pub(crate) fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The boolean in `map[key]`, or `false`.
pub(crate) fn bool_field(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Case-insensitive substring test, as the providers' search parameters match.
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// Luhn (modulus 10) check digit of `digits` (non-digits are skipped), as Swedish OCR
/// numbers and organisation numbers use.
pub(crate) fn luhn_check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// FNV-1a over `parts` (with separators): a stable hash for deterministic data.
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A deterministic version-4-shaped GUID from `parts`.
pub(crate) fn stable_uuid(parts: &[&str]) -> uuid::Uuid {
    let hi = SplitMix64::new(stable_hash(parts)).next_u64();
    let lo = SplitMix64::new(hi ^ 0x5851_f42d_4c95_7f2d).next_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// SplitMix64: a tiny, fast, version-stable pseudo-random generator, so seeded runs (fault
/// injection, seed data) are reproducible whatever `rand` version is around.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Ordering key for record numbers: numeric ones first, by value, then the rest as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum NatKey {
    Num(u128, String),
    Text(String),
}

impl NatKey {
    pub fn of(s: &str) -> Self {
        match s.parse::<u128>() {
            Ok(n) if !s.starts_with('+') => NatKey::Num(n, s.to_string()),
            _ => NatKey::Text(s.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_numbers() {
        assert_eq!(
            decimal(&json!("12.50")).unwrap(),
            Some(Decimal::new(1250, 2))
        );
        assert_eq!(decimal(&json!(0.1)).unwrap(), Some(Decimal::new(1, 1)));
        assert_eq!(decimal(&json!("")).unwrap(), None);
        assert!(decimal(&json!("abc")).is_err());
        assert_eq!(integer(&json!("3001")).unwrap(), Some(3001));
        assert!(integer(&json!(1.5)).is_err());
        assert_eq!(boolean(&json!("TRUE")).unwrap(), Some(true));
        assert_eq!(two_decimals(Decimal::new(3, 0)), "3.00");
    }

    #[test]
    fn luhn_matches_known_numbers() {
        // 556036-0793 is a real-looking organisation number with a valid check digit.
        assert_eq!(luhn_check_digit("556036079"), 3);
        assert_eq!(luhn_check_digit("7992739871"), 3);
    }

    #[test]
    fn natural_order() {
        let mut v = [
            NatKey::of("10"),
            NatKey::of("9"),
            NatKey::of("A1"),
            NatKey::of("2"),
        ];
        v.sort();
        assert_eq!(v[0], NatKey::of("2"));
        assert_eq!(v[3], NatKey::of("A1"));
    }
}
