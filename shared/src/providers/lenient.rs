//! Lenient reading and exact writing of provider JSON.
//!
//! Provider data is loosely typed in practice: numbers arrive as strings and back, empty
//! strings stand for null, booleans may be `"true"` or `1`. These helpers accept all of it.
//! Decimals are written as JSON numbers from their exact text (never through a float).

use crate::domain::Decimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;
use std::str::FromStr;

fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Option::<Value>::deserialize(d).map(|v| v.unwrap_or(Value::Null))
}

/// Text from a string, number or boolean; empty or blank means `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(text(&value(d)?))
}

/// The text of a JSON scalar; empty strings and null are `None`.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A decimal from a number or a numeric string (`"12.50"`, `"12,50"`); empty means `None`.
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    Ok(decimal(&value(d)?))
}

/// The decimal of a JSON scalar, if it holds one.
pub fn decimal(v: &Value) -> Option<Decimal> {
    let s = match v {
        // A JSON number's text is its shortest exact form: "12.34" stays 12.34.
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().replace(',', ".").replace(' ', ""),
        _ => return None,
    };
    if s.is_empty() {
        return None;
    }
    Decimal::from_str(&s)
        .or_else(|_| Decimal::from_scientific(&s))
        .ok()
}

/// A whole number from a number or a numeric string.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match value(d)? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A boolean from `true`, `"true"`, `1`, `"1"` (and their opposites); anything else is `None`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match value(d)? {
        Value::Bool(b) => Some(b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// A date from `YYYY-MM-DD`, optionally followed by a time (`2026-11-22T00:00:00`).
pub fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    Ok(text(&value(d)?).and_then(|s| parse_date(&s)))
}

/// Parses a date, ignoring any time part.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// A UTC time from RFC 3339, or a time without offset taken as UTC (Visma's `…Utc` fields).
pub fn opt_utc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(text(&value(d)?).and_then(|s| parse_utc(&s)))
}

/// Parses a UTC time with or without an offset.
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Writes a decimal as a JSON number from its exact text.
pub fn number<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    let raw = serde_json::value::RawValue::from_string(v.normalize().to_string())
        .map_err(serde::ser::Error::custom)?;
    raw.serialize(s)
}

/// Writes an optional decimal as a JSON number (skip `None` with `skip_serializing_if`).
pub fn opt_number<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => number(v, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Loose {
        #[serde(deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(deserialize_with = "opt_decimal")]
        d: Option<Decimal>,
        #[serde(deserialize_with = "opt_i64")]
        i: Option<i64>,
        #[serde(deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(deserialize_with = "opt_date")]
        date: Option<NaiveDate>,
        #[serde(deserialize_with = "opt_utc")]
        t: Option<DateTime<Utc>>,
    }

    fn loose(json: &str) -> Loose {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn strings_numbers_and_empties_are_all_accepted() {
        let a = loose(r#"{"s":"","d":"","i":"","b":"","date":"","t":""}"#);
        assert!(a.s.is_none() && a.d.is_none() && a.i.is_none() && a.b.is_none());
        assert!(a.date.is_none() && a.t.is_none());
        let b = loose(
            r#"{"s":123,"d":"1 234,50","i":"42","b":"true","date":"2026-11-22T00:00:00",
                "t":"2026-11-22T10:00:00.5"}"#,
        );
        assert_eq!(b.s.as_deref(), Some("123"));
        assert_eq!(b.d, Some(Decimal::from_str("1234.50").unwrap()));
        assert_eq!(b.i, Some(42));
        assert_eq!(b.b, Some(true));
        assert_eq!(b.date, NaiveDate::from_ymd_opt(2026, 11, 22));
        assert_eq!(b.t.unwrap().to_rfc3339(), "2026-11-22T10:00:00.500+00:00");
        let c = loose(r#"{"d":12.34,"i":7.0,"b":0,"s":null,"t":"2026-11-22T10:00:00+01:00"}"#);
        assert_eq!(c.d, Some(Decimal::from_str("12.34").unwrap()));
        assert_eq!(c.i, Some(7));
        assert_eq!(c.b, Some(false));
        assert_eq!(c.t.unwrap().to_rfc3339(), "2026-11-22T09:00:00+00:00");
        // missing fields and unknown shapes are None, never an error
        let d = loose(r#"{"d":{"x":1},"b":"maybe"}"#);
        assert!(d.d.is_none() && d.b.is_none());
    }

    #[derive(Serialize)]
    struct Out {
        #[serde(serialize_with = "number")]
        price: Decimal,
        #[serde(serialize_with = "opt_number", skip_serializing_if = "Option::is_none")]
        discount: Option<Decimal>,
    }

    #[test]
    fn decimals_are_written_as_exact_numbers() {
        let o = Out {
            price: Decimal::from_str("1234567890.123456789").unwrap(),
            discount: Some(Decimal::from_str("10.50").unwrap()),
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"price":1234567890.123456789,"discount":10.5}"#
        );
        let o = Out {
            price: Decimal::from(-3),
            discount: None,
        };
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"price":-3}"#);
    }
}

/// Property tests over wide inputs. A failing case is shrunk and printed ("minimal failing
/// input: …"), and its seed is saved in `shared/proptest-regressions/providers/lenient.txt`:
/// commit that file and every later run replays the case first. `PROPTEST_RNG_SEED=<n>` fixes
/// the generator for a whole run; `PROPTEST_CASES=<n>` runs more cases.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::json;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Loose {
        #[serde(deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(deserialize_with = "opt_decimal")]
        d: Option<Decimal>,
        #[serde(deserialize_with = "opt_i64")]
        i: Option<i64>,
        #[serde(deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(deserialize_with = "opt_date")]
        date: Option<NaiveDate>,
        #[serde(deserialize_with = "opt_utc")]
        t: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Out {
        #[serde(serialize_with = "number")]
        v: Decimal,
    }

    fn read(v: serde_json::Value) -> Loose {
        serde_json::from_value(v).unwrap()
    }

    /// Decimals of up to 15 significant digits (what a JSON number carries exactly).
    fn decimal_value() -> impl Strategy<Value = Decimal> {
        (-999_999_999_999_999i64..=999_999_999_999_999, 0u32..=6)
            .prop_map(|(m, scale)| Decimal::new(m, scale))
    }

    /// Any JSON value a field may hold, nested a little.
    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,40}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Whatever a provider sends in a field, reading never fails: an unusable value is
        /// `None`.
        #[test]
        fn reading_never_fails(v in any_json()) {
            let all = json!({"s": v, "d": v, "i": v, "b": v, "date": v, "t": v});
            prop_assert!(serde_json::from_value::<Loose>(all).is_ok());
        }

        /// Null, a missing field and a blank string all read as `None`.
        #[test]
        fn blanks_are_absent(blank in "[ \t]{0,5}") {
            for v in [json!({}), json!({"s": null, "d": null, "i": null, "b": null, "date": null, "t": null}),
                      json!({"s": blank, "d": blank, "i": blank, "b": blank, "date": blank, "t": blank})] {
                let l = read(v);
                prop_assert!(l.s.is_none() && l.d.is_none() && l.i.is_none() && l.b.is_none());
                prop_assert!(l.date.is_none() && l.t.is_none());
            }
        }

        /// A decimal reads the same as a JSON number, as its text, with a decimal comma, with
        /// spaces between thousands, and around spaces; it is written back as the same number.
        #[test]
        fn decimals_read_in_every_spelling(x in decimal_value()) {
            let text = x.to_string();
            let comma = text.replace('.', ",");
            let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
            let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
            let grouped: Vec<String> = digits
                .as_bytes()
                .rchunks(3)
                .rev()
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            let spaced = format!("{sign}{}{}", grouped.join(" "), frac.map(|f| format!(",{f}")).unwrap_or_default());
            let number: serde_json::Value = serde_json::from_str(&text).unwrap();
            for v in [number, json!(text), json!(comma), json!(spaced), json!(format!("  {text} "))] {
                prop_assert_eq!(read(json!({"d": v.clone()})).d, Some(x), "{}", v);
            }
            let written = serde_json::to_string(&Out { v: x }).unwrap();
            let back: serde_json::Value = serde_json::from_str(&written).unwrap();
            prop_assert_eq!(decimal(&back["v"]), Some(x));
            prop_assert!(back["v"].is_number(), "{}", written);
        }

        /// Whole numbers read from numbers, from whole doubles and from text.
        #[test]
        fn integers_read_from_numbers_and_text(n in any::<i64>(), small in -9_000_000_000_000_000i64..9_000_000_000_000_000) {
            prop_assert_eq!(read(json!({"i": n})).i, Some(n));
            prop_assert_eq!(read(json!({"i": n.to_string()})).i, Some(n));
            prop_assert_eq!(read(json!({"i": format!(" {n} ")})).i, Some(n));
            let whole = (small / 1000) as f64;
            prop_assert_eq!(read(json!({"i": whole})).i, Some(small / 1000));
            prop_assert_eq!(read(json!({"s": n})).s, Some(n.to_string()));
        }

        /// Booleans read from `true`/`false`, 1/0 and yes/no in any case and spacing.
        #[test]
        fn booleans_read_in_every_spelling(b in any::<bool>(), word in 0usize..3, upper in any::<bool>(), pad in "[ ]{0,3}") {
            let words = if b { ["true", "1", "yes"] } else { ["false", "0", "no"] };
            let w = if upper { words[word].to_ascii_uppercase() } else { words[word].to_string() };
            prop_assert_eq!(read(json!({"b": format!("{pad}{w}{pad}")})).b, Some(b));
            prop_assert_eq!(read(json!({"b": b})).b, Some(b));
            prop_assert_eq!(read(json!({"b": i64::from(b) * 7})).b, Some(b));
        }

        /// Dates and times read from the shapes providers send: a date with or without a time
        /// after it, RFC 3339 with any offset, and local date-times taken as UTC.
        #[test]
        fn dates_and_times_read_in_every_shape(secs in 0i64..32_503_680_000, millis in 0u32..1000, offset_min in -720i32..=840) {
            let t = DateTime::from_timestamp(secs, millis * 1_000_000).unwrap();
            let date = t.date_naive();
            for s in [date.format("%Y-%m-%d").to_string(), t.format("%Y-%m-%dT%H:%M:%S").to_string(), format!(" {} ", t.to_rfc3339())] {
                prop_assert_eq!(read(json!({"date": s})).date, Some(date));
            }
            prop_assert_eq!(read(json!({"t": t.to_rfc3339()})).t, Some(t));
            let offset = chrono::FixedOffset::east_opt(offset_min * 60).unwrap();
            prop_assert_eq!(read(json!({"t": t.with_timezone(&offset).to_rfc3339()})).t, Some(t));
            prop_assert_eq!(read(json!({"t": t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()})).t, Some(t));
            prop_assert_eq!(read(json!({"t": t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()})).t, Some(t));
        }
    }
}
