//! Amounts, quantities, currency and country codes, and the field errors their validation
//! reports. Money is always [`Decimal`], never a float: it serialises as a string (`"12.50"`) and
//! reads from a string or a JSON number.

pub use rust_decimal::Decimal;

use rust_decimal::RoundingStrategy;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// One invalid field, named by its path in the canonical JSON (`rows[2].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the field, e.g. `address.country_code` or `rows[0].description`.
    pub field: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects field errors while a record is checked.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Records an error.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// A required text: present and not blank.
    pub fn required(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(field, "is required");
        }
    }

    /// A text of at most `max` characters.
    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            self.push(field, format!("must be at most {max} characters (is {n})"));
        }
    }

    /// An optional text of at most `max` characters.
    pub fn opt_max_len(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            self.max_len(field, v, max);
        }
    }

    /// A decimal with at most `places` decimal places.
    pub fn max_scale(&mut self, field: &str, value: Decimal, places: u32) {
        if value.normalize().scale() > places {
            self.push(field, format!("must have at most {places} decimal places"));
        }
    }

    /// A decimal within `min..=max`.
    pub fn range(&mut self, field: &str, value: Decimal, min: Decimal, max: Decimal) {
        if value < min || value > max {
            self.push(field, format!("must be between {min} and {max}"));
        }
    }

    /// Adds every error of `other`.
    pub fn extend(&mut self, other: FieldErrors) {
        self.0.extend(other.0);
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Rounds an amount to öre (two decimals), half away from zero as Swedish invoices do.
pub fn round_money(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The canonical text of a decimal for hashing and comparison: `1.50` and `1.5` are equal.
pub fn canonical_decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Whether `code` looks like an ISO 4217 currency code (three upper-case letters).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Whether `code` is an assigned ISO 3166-1 alpha-2 country code.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && ISO_COUNTRIES.split(' ').any(|c| c == code)
}

/// Every assigned ISO 3166-1 alpha-2 code, plus `XK` (Kosovo), which both providers accept.
const ISO_COUNTRIES: &str =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE \
DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS \
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW \
KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW \
MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO \
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM \
TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Serde for a [`Decimal`]: written as a string, read from a string or a JSON number.
pub mod decimal_str {
    use super::*;

    /// Writes the decimal as a string.
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    /// Reads a string or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        // rust_decimal reads numbers through their shortest round-trip text, so `12.34`
        // becomes exactly 12.34: no float arithmetic touches the value.
        <Decimal as Deserialize>::deserialize(d)
    }
}

/// Serde for an optional [`Decimal`]: written as a string or null.
pub mod opt_decimal_str {
    use super::*;

    /// Writes the decimal as a string, `None` as null.
    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    /// Reads a string, a number or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Option::<Decimal>::deserialize(d)
    }
}

/// Serde for an optional whole number that may arrive written with a fraction (`3001.0`):
/// JSON Schema's `integer`, which docs/openapi.yaml promises, is any number without a fractional
/// part. `3001.5`, negative numbers and numbers past `u32` are refused.
pub mod opt_whole_u32 {
    use super::*;

    /// Reads a whole number or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
            return Ok(None);
        };
        let whole = match n.as_u64() {
            Some(u) => Some(u),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
                .map(|f| f as u64),
        };
        whole
            .and_then(|u| u32::try_from(u).ok())
            .map(Some)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected a whole number from 0 to {}, got {n}",
                    u32::MAX
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Account {
        #[serde(deserialize_with = "opt_whole_u32::deserialize", default)]
        account: Option<u32>,
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_fraction() {
        let read = |s: &str| serde_json::from_str::<Account>(s).map(|a| a.account);
        assert_eq!(read(r#"{"account":3001}"#).unwrap(), Some(3001));
        assert_eq!(read(r#"{"account":3001.0}"#).unwrap(), Some(3001));
        assert_eq!(read(r#"{"account":null}"#).unwrap(), None);
        assert_eq!(read(r#"{}"#).unwrap(), None);
        for bad in ["3001.5", "-1", "-1.0", "4294967296", "1e300", "\"3001\""] {
            assert!(
                read(&format!(r#"{{"account":{bad}}}"#)).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Row {
        #[serde(with = "decimal_str")]
        price: Decimal,
        #[serde(with = "opt_decimal_str", default)]
        discount: Option<Decimal>,
    }

    #[test]
    fn decimals_read_strings_and_numbers_and_write_strings() {
        let a: Row = serde_json::from_str(r#"{"price":"12.34","discount":10}"#).unwrap();
        let b: Row = serde_json::from_str(r#"{"price":12.34,"discount":"10"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.price, Decimal::from_str("12.34").unwrap());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"price":"12.34","discount":"10"}"#
        );
        let c: Row = serde_json::from_str(r#"{"price":"0.1"}"#).unwrap();
        assert_eq!(c.discount, None);
        assert_eq!(
            c.price * Decimal::from(3),
            Decimal::from_str("0.3").unwrap()
        );
    }

    #[test]
    fn money_rounds_half_away_from_zero() {
        let d = |s| Decimal::from_str(s).unwrap();
        assert_eq!(round_money(d("2.345")), d("2.35"));
        assert_eq!(round_money(d("-2.345")), d("-2.35"));
        assert_eq!(round_money(d("2.344")), d("2.34"));
        assert_eq!(canonical_decimal(d("1.50")), canonical_decimal(d("1.5")));
    }

    #[test]
    fn codes() {
        assert!(is_currency_code("SEK"));
        assert!(!is_currency_code("sek"));
        assert!(!is_currency_code("SEKK"));
        for c in ["SE", "NO", "DK", "FI", "DE", "GB", "US"] {
            assert!(is_country_code(c), "{c}");
        }
        for c in ["", "S", "se", "XX", "SWE", "ZZ"] {
            assert!(!is_country_code(c), "{c}");
        }
    }

    #[test]
    fn field_errors_collect() {
        let mut e = FieldErrors::default();
        e.required("name", "  ");
        e.max_len("city", "Göteborg", 5);
        e.max_scale("q", Decimal::from_str("1.230").unwrap(), 2);
        e.max_scale("p", Decimal::from_str("1.234").unwrap(), 2);
        let errs = e.finish().unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "city", "p"]);
    }
}

/// Property tests over wide inputs. A failing case is shrunk and printed ("minimal failing
/// input: …"), and its seed is saved in `shared/proptest-regressions/domain/money.txt`: commit
/// that file and every later run replays the case first. `PROPTEST_RNG_SEED=<n>` fixes the
/// generator for a whole run; `PROPTEST_CASES=<n>` runs more cases.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    /// Amounts from -10^13 to 10^13 with 0 to 8 decimals, trailing zeros included.
    fn amount() -> impl Strategy<Value = Decimal> {
        (
            -10_000_000_000_000_000_000i128..10_000_000_000_000_000_000i128,
            0u32..=8,
        )
            .prop_map(|(m, scale)| Decimal::from_i128_with_scale(m / 10i128.pow(8 - scale), scale))
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Money {
        #[serde(with = "decimal_str")]
        v: Decimal,
        #[serde(with = "opt_decimal_str", default)]
        o: Option<Decimal>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Whole {
        #[serde(deserialize_with = "opt_whole_u32::deserialize", default)]
        n: Option<u32>,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Rounding to öre: at most two decimals, at most half an öre away, idempotent,
        /// symmetric around zero, and a value with two decimals already stays as it is.
        #[test]
        fn rounding_is_to_the_nearest_ore(x in amount()) {
            let r = round_money(x);
            let half = Decimal::new(5, 3);
            prop_assert!(r.scale() <= 2);
            prop_assert!((r - x).abs() <= half, "{} -> {}", x, r);
            prop_assert_eq!(round_money(r), r);
            prop_assert_eq!(round_money(-x), -r);
            if x.normalize().scale() <= 2 {
                prop_assert_eq!(r, x);
            }
        }

        /// A midpoint rounds away from zero (2.345 → 2.35, -2.345 → -2.35).
        #[test]
        fn midpoints_round_away_from_zero(ore in -10_000_000_000i64..10_000_000_000) {
            let sign = if ore < 0 { -1 } else { 1 };
            let x = Decimal::new(ore * 10 + 5 * sign, 3);
            let r = round_money(x);
            prop_assert!(r.abs() > x.abs(), "{} -> {}", x, r);
            prop_assert_eq!((r - x).abs(), Decimal::new(5, 3));
        }

        /// Sums of rounded amounts are exact: adding and subtracting öre never drifts.
        #[test]
        fn sums_of_ore_are_exact(xs in proptest::collection::vec(amount(), 0..50)) {
            let rounded: Vec<Decimal> = xs.iter().map(|x| round_money(*x)).collect();
            let sum: Decimal = rounded.iter().sum();
            prop_assert!(sum.scale() <= 2);
            prop_assert_eq!(rounded.iter().rev().fold(sum, |acc, x| acc - x), Decimal::ZERO);
        }

        /// The canonical text is the same for the same value (whatever its scale) and reads
        /// back to the value.
        #[test]
        fn the_canonical_text_depends_on_the_value_only(x in amount(), extra in 0u32..6) {
            let mut wider = x;
            wider.rescale(x.scale() + extra);
            prop_assert_eq!(wider, x);
            prop_assert_eq!(canonical_decimal(wider), canonical_decimal(x));
            prop_assert_eq!(Decimal::from_str(&canonical_decimal(x)).unwrap(), x);
        }

        /// Money is written as a string and read back exactly, from that string or from a
        /// JSON number with the same text.
        #[test]
        fn money_round_trips_through_json(v in amount(), o in proptest::option::of(amount())) {
            let m = Money { v, o };
            let text = serde_json::to_string(&m).unwrap();
            prop_assert!(text.contains(&format!("\"v\":\"{v}\"")), "{}", text);
            let back: Money = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &m);
            // A JSON number travels as a double: exact up to 15 significant digits.
            if v.mantissa().abs() < 1_000_000_000_000_000 {
                let number: Money = serde_json::from_str(&format!("{{\"v\":{v}}}")).unwrap();
                prop_assert_eq!(number.v, v);
            }
        }

        /// Every whole number a u32 holds is read, also written with a fraction of zero;
        /// anything with a fraction, negative or too large is refused.
        #[test]
        fn whole_numbers_read_exactly(n in any::<u32>(), frac in 1u32..1000, big in 4_294_967_296u64..u64::MAX) {
            let read = |s: String| serde_json::from_str::<Whole>(&s).map(|w| w.n);
            prop_assert_eq!(read(format!("{{\"n\":{n}}}")).unwrap(), Some(n));
            prop_assert_eq!(read(format!("{{\"n\":{n}.0}}")).unwrap(), Some(n));
            for bad in [
                format!("{{\"n\":{n}.{frac:03}}}"),
                format!("{{\"n\":-{}}}", u64::from(n) + 1),
                format!("{{\"n\":{big}}}"),
                format!("{{\"n\":\"{n}\"}}"),
            ] {
                let got = read(bad.clone());
                prop_assert!(got.is_err(), "{} read as {:?}", bad, got);
            }
        }
    }
}
