//! Signature checks over the raw body, as plain functions over plain data.
//!
//! Two schemes, chosen per integration:
//! - **ours**: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>`, with
//!   a tolerance on `t` both ways. Several `v1=` entries may be sent (a sender that signs with
//!   its old and new key while it rolls over); one match is enough.
//! - **visma-portal**: base64 HMAC-SHA256(key, raw body) in a configurable header, as the Visma
//!   developer portal signs (no timestamp: replays are caught by the event-id record only).
//!
//! The key is the UTF-8 bytes of the key string as handed out. Every comparison goes through
//! `Mac::verify_slice`, which compares in constant time.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::str::FromStr;

type HmacSha256 = Hmac<Sha256>;

/// The header of our own scheme.
pub const OUR_HEADER: &str = "x-signature";

/// Longest signature header accepted: a few `v1=` entries and a timestamp.
const MAX_HEADER_LEN: usize = 1024;
/// Most `v1=` entries looked at.
const MAX_SIGNATURES: usize = 8;
/// Bytes of an HMAC-SHA256.
const MAC_LEN: usize = 32;

/// How an integration's deliveries are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `X-Signature: t=…,v1=…` over `"<t>.<body>"`, with a timestamp tolerance.
    Ours,
    /// Base64 HMAC-SHA256 of the body in a configurable header.
    VismaPortal,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 2] = [Scheme::Ours, Scheme::VismaPortal];

    /// The name used in storage, configuration and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ours => "ours",
            Scheme::VismaPortal => "visma-portal",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ours" => Ok(Scheme::Ours),
            "visma-portal" => Ok(Scheme::VismaPortal),
            other => Err(format!(
                "unknown webhook scheme `{other}`: expected `ours` or `visma-portal`"
            )),
        }
    }
}

/// Why a delivery did not verify. Callers answer every variant with the same 401; the variant
/// is only for the log (it never holds a key or a signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No signature header.
    #[error("no signature header")]
    MissingHeader,
    /// The header is not in the scheme's format.
    #[error("malformed signature header")]
    MalformedHeader,
    /// The signed timestamp is older than the tolerance.
    #[error("signed timestamp too old")]
    Stale,
    /// The signed timestamp is further in the future than the tolerance.
    #[error("signed timestamp in the future")]
    Future,
    /// The integration has no key that is still accepted.
    #[error("no accepted key")]
    NoKeys,
    /// No accepted key produced the signature.
    #[error("signature mismatch")]
    Mismatch,
}

/// The parts of an `X-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurHeader {
    /// Unix seconds the sender signed at.
    pub timestamp: i64,
    /// The `v1` MACs, decoded.
    pub signatures: Vec<[u8; MAC_LEN]>,
}

/// Parses `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`. Unknown entries (a future `v2`) are
/// skipped, so senders can add a scheme without breaking us.
pub fn parse_our_header(value: &str) -> Result<OurHeader, VerifyError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(VerifyError::MalformedHeader);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in value.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(VerifyError::MalformedHeader)?;
        match k.trim() {
            "t" => {
                let v = v.trim();
                // Digits only: no sign, no exponent, at most 12 of them (year 33658).
                if timestamp.is_some()
                    || v.is_empty()
                    || v.len() > 12
                    || !v.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(VerifyError::MalformedHeader);
                }
                timestamp = Some(v.parse::<i64>().map_err(|_| VerifyError::MalformedHeader)?);
            }
            // Entries past the cap are skipped unread, like unknown ones.
            "v1" if signatures.len() < MAX_SIGNATURES => {
                let mac = decode_hex_mac(v.trim()).ok_or(VerifyError::MalformedHeader)?;
                signatures.push(mac);
            }
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if !signatures.is_empty() => Ok(OurHeader {
            timestamp,
            signatures,
        }),
        _ => Err(VerifyError::MalformedHeader),
    }
}

/// Checks a delivery signed with our scheme against `keys` (newest first). Gives the index of
/// the key that matched.
pub fn verify_ours(
    header: Option<&str>,
    body: &[u8],
    keys: &[&[u8]],
    now: i64,
    tolerance_seconds: i64,
) -> Result<usize, VerifyError> {
    let header = parse_our_header(header.ok_or(VerifyError::MissingHeader)?)?;
    check_timestamp(header.timestamp, now, tolerance_seconds)?;
    if keys.is_empty() {
        return Err(VerifyError::NoKeys);
    }
    let t = header.timestamp.to_string();
    for (i, key) in keys.iter().enumerate() {
        let mac = our_mac(key, &t, body);
        // Every signature is compared against every key: no early exit on which one failed
        // tells a caller nothing it could use, and the sets are tiny.
        if header
            .signatures
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok())
        {
            return Ok(i);
        }
    }
    Err(VerifyError::Mismatch)
}

/// Checks a Visma-portal-style delivery: base64 HMAC-SHA256 of the body. Gives the index of
/// the key that matched.
pub fn verify_visma(
    header: Option<&str>,
    body: &[u8],
    keys: &[&[u8]],
) -> Result<usize, VerifyError> {
    let value = header.ok_or(VerifyError::MissingHeader)?.trim();
    if value.is_empty() || value.len() > MAX_HEADER_LEN {
        return Err(VerifyError::MalformedHeader);
    }
    let sig = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| VerifyError::MalformedHeader)?;
    if sig.len() != MAC_LEN {
        return Err(VerifyError::MalformedHeader);
    }
    if keys.is_empty() {
        return Err(VerifyError::NoKeys);
    }
    for (i, key) in keys.iter().enumerate() {
        let mut mac = new_mac(key);
        mac.update(body);
        if mac.verify_slice(&sig).is_ok() {
            return Ok(i);
        }
    }
    Err(VerifyError::Mismatch)
}

/// Whether `t` is within `tolerance` seconds of `now`, both ways.
pub fn check_timestamp(t: i64, now: i64, tolerance_seconds: i64) -> Result<(), VerifyError> {
    if t < now.saturating_sub(tolerance_seconds) {
        Err(VerifyError::Stale)
    } else if t > now.saturating_add(tolerance_seconds) {
        Err(VerifyError::Future)
    } else {
        Ok(())
    }
}

/// The `X-Signature` value a sender of our scheme sends: `t=<t>,v1=<hex>`.
pub fn sign_ours(key: &[u8], t: i64, body: &[u8]) -> String {
    let mac = our_mac(key, &t.to_string(), body).finalize().into_bytes();
    format!("t={t},v1={}", hex(&mac))
}

/// The header value a Visma-portal-style sender sends: base64 HMAC-SHA256 of the body.
pub fn sign_visma(key: &[u8], body: &[u8]) -> String {
    let mut mac = new_mac(key);
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn our_mac(key: &[u8], t: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = new_mac(key);
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

fn decode_hex_mac(s: &str) -> Option<[u8; MAC_LEN]> {
    let bytes = s.as_bytes();
    if bytes.len() != MAC_LEN * 2 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; MAC_LEN];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"k3y-for-tests-only";
    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    #[test]
    fn a_signed_body_verifies_with_its_key_only() {
        let body = br#"{"id":"e1","type":"invoice.updated","entity_id":"17"}"#;
        let h = sign_ours(KEY, NOW, body);
        assert_eq!(verify_ours(Some(&h), body, &[KEY], NOW, 300), Ok(0));
        assert_eq!(
            verify_ours(Some(&h), body, &[b"other".as_slice()], NOW, 300),
            Err(VerifyError::Mismatch)
        );
        // The second key of the list matches: its index is reported.
        assert_eq!(
            verify_ours(Some(&h), body, &[b"new".as_slice(), KEY], NOW, 300),
            Ok(1)
        );
        assert_eq!(
            verify_ours(Some(&h), body, &[], NOW, 300),
            Err(VerifyError::NoKeys)
        );
    }

    #[test]
    fn the_timestamp_is_part_of_what_is_signed() {
        let body = b"{}";
        let h = sign_ours(KEY, NOW, body);
        let moved = h.replacen(&format!("t={NOW}"), &format!("t={}", NOW + 1), 1);
        assert_eq!(
            verify_ours(Some(&moved), body, &[KEY], NOW, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tolerance_holds_both_ways_inclusive() {
        let body = b"{}";
        for (t, want) in [
            (NOW - 300, Ok(0)),
            (NOW + 300, Ok(0)),
            (NOW - 301, Err(VerifyError::Stale)),
            (NOW + 301, Err(VerifyError::Future)),
            (0, Err(VerifyError::Stale)),
        ] {
            let h = sign_ours(KEY, t, body);
            assert_eq!(verify_ours(Some(&h), body, &[KEY], NOW, 300), want, "t={t}");
        }
    }

    #[test]
    fn header_parsing_is_strict_about_what_matters() {
        let sig = "a".repeat(64);
        let ok = parse_our_header(&format!("t=12, v1={sig} ,v0=zz,v1={}", "B".repeat(64))).unwrap();
        assert_eq!(ok.timestamp, 12);
        assert_eq!(ok.signatures.len(), 2);
        for bad in [
            String::new(),
            "t=12".to_string(),
            format!("v1={sig}"),
            format!("t=-5,v1={sig}"),
            format!("t=1e3,v1={sig}"),
            format!("t=1,t=2,v1={sig}"),
            format!("t=1,v1={}", &sig[..63]),
            format!("t=1,v1={}g", &sig[..63]),
            format!("t=1;v1={sig}"),
            format!("t=1234567890123,v1={sig}"),
            format!("t=1,v1={sig},{}", "x".repeat(1100)),
        ] {
            assert_eq!(
                parse_our_header(&bad),
                Err(VerifyError::MalformedHeader),
                "{bad:?}"
            );
        }
        assert_eq!(
            verify_ours(None, b"", &[KEY], NOW, 300),
            Err(VerifyError::MissingHeader)
        );
    }

    #[test]
    fn visma_scheme_is_base64_hmac_of_the_body() {
        let body = br#"{"type":"customer.updated","entity_id":"c-1"}"#;
        let h = sign_visma(KEY, body);
        assert_eq!(verify_visma(Some(&h), body, &[KEY]), Ok(0));
        assert_eq!(verify_visma(Some(&format!(" {h} ")), body, &[KEY]), Ok(0));
        assert_eq!(
            verify_visma(Some(&h), b"{}", &[KEY]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_visma(Some("not base64!"), body, &[KEY]),
            Err(VerifyError::MalformedHeader)
        );
        assert_eq!(
            verify_visma(Some("AAAA"), body, &[KEY]),
            Err(VerifyError::MalformedHeader)
        );
        assert_eq!(
            verify_visma(None, body, &[KEY]),
            Err(VerifyError::MissingHeader)
        );
        // Known answer (RFC 4231 test case 2), so other senders can check their code.
        let rfc = sign_visma(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&base64::engine::general_purpose::STANDARD
                .decode(rfc)
                .unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn scheme_names_round_trip() {
        for s in Scheme::ALL {
            assert_eq!(s.as_str().parse::<Scheme>(), Ok(s));
        }
        assert!("Ours".parse::<Scheme>().is_err());
    }
}

/// Property tests over wide inputs. A failing case is shrunk and printed ("minimal failing
/// input: …"), and its seed is saved in `shared/proptest-regressions/webhooks/signature.txt`:
/// commit that file and every later run replays the case first. `PROPTEST_RNG_SEED=<n>` fixes
/// the generator for a whole run; `PROPTEST_CASES=<n>` runs more cases.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const KEY: &[u8] = b"k3y-for-tests-only";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// A signature verifies exactly when the key, the body and the time window are right,
        /// and any single flipped bit of the body or digit of the MAC breaks it.
        #[test]
        fn sign_then_verify(
            key in vec(any::<u8>(), 1..80),
            body in vec(any::<u8>(), 0..600),
            t in 0..4_000_000_000i64,
            skew in -600..600i64,
            flip in any::<prop::sample::Index>(),
            bit in 0..8u32,
            digit in 0..64usize,
        ) {
            let now = t + skew;
            let h = sign_ours(&key, t, &body);
            let got = verify_ours(Some(&h), &body, &[&key], now, 300);
            if skew.abs() <= 300 {
                prop_assert_eq!(got, Ok(0));
            } else {
                prop_assert!(matches!(got, Err(VerifyError::Stale | VerifyError::Future)));
            }
            if !body.is_empty() {
                let mut flipped = body.clone();
                let i = flip.index(flipped.len());
                flipped[i] ^= 1 << bit;
                prop_assert_eq!(
                    verify_ours(Some(&h), &flipped, &[&key], t, 300),
                    Err(VerifyError::Mismatch)
                );
                prop_assert_eq!(
                    verify_visma(Some(&sign_visma(&key, &body)), &flipped, &[&key]),
                    Err(VerifyError::Mismatch)
                );
            }
            // A flipped hex digit of the MAC.
            let mut bad = h.clone().into_bytes();
            let i = bad.len() - 1 - digit;
            bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap();
            prop_assert_eq!(
                verify_ours(Some(&bad), &body, &[&key], t, 300),
                Err(VerifyError::Mismatch)
            );
            prop_assert_eq!(
                verify_visma(Some(&sign_visma(&key, &body)), &body, &[&key]),
                Ok(0)
            );
        }

        /// The parser never panics, and only accepts what it can account for: a timestamp that
        /// is not negative and at least one MAC.
        #[test]
        fn the_parser_never_panics(
            s in prop_oneof![
                "[tv1=,0-9a-fA-F ;x\u{ff}-]{0,200}",
                any::<String>(),
                "t=[0-9]{1,14}(,v[0-9]=[0-9a-f]{60,68}){0,10}",
            ]
        ) {
            if let Ok(h) = parse_our_header(&s) {
                prop_assert!(!h.signatures.is_empty() && h.timestamp >= 0);
                prop_assert!(h.signatures.len() <= MAX_SIGNATURES);
            }
            let _ = verify_visma(Some(&s), b"{}", &[KEY]);
            let _ = verify_ours(Some(&s), b"{}", &[KEY], 0, 300);
        }

        /// What `sign_ours` writes, the parser reads back: the timestamp, and the MAC as one
        /// `v1` entry. Spaces around entries, unknown entries (a future `v2`) and further `v1`
        /// entries from an old key do not stop it from verifying.
        #[test]
        fn signed_headers_parse_back_and_tolerate_extras(
            key in vec(any::<u8>(), 1..64),
            old in vec(any::<u8>(), 1..64),
            body in vec(any::<u8>(), 0..300),
            t in 0..=999_999_999_999i64,
            junk in "[a-z0-9]{1,12}",
        ) {
            let h = sign_ours(&key, t, &body);
            let parsed = parse_our_header(&h).unwrap();
            prop_assert_eq!(parsed.timestamp, t);
            prop_assert_eq!(parsed.signatures.len(), 1);
            prop_assert_eq!(format!("t={t},v1={}", hex(&parsed.signatures[0])), h.clone());
            let from_old = sign_ours(&old, t, &body);
            let old_mac = from_old.split_once(",v1=").unwrap().1;
            let (ts, mac) = h.split_once(",v1=").unwrap();
            let decorated = format!(" v2={junk} , v1={old_mac},{ts} , v1= {mac} ");
            prop_assert_eq!(verify_ours(Some(&decorated), &body, &[&key], t, 0), Ok(0));
        }

        /// With several keys (newest first), the index of the first key that signed is given.
        #[test]
        fn the_matching_key_is_named(
            keys in vec(vec(any::<u8>(), 1..40), 1..5),
            which in any::<prop::sample::Index>(),
            body in vec(any::<u8>(), 0..200),
        ) {
            let w = which.index(keys.len());
            let first = keys.iter().position(|k| *k == keys[w]).unwrap();
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let h = sign_ours(&keys[w], 1_000, &body);
            prop_assert_eq!(verify_ours(Some(&h), &body, &refs, 1_000, 0), Ok(first));
            let v = sign_visma(&keys[w], &body);
            prop_assert_eq!(verify_visma(Some(&v), &body, &refs), Ok(first));
        }

        /// The tolerance holds both ways, inclusive, for every pair of times (no overflow at
        /// the ends of the range).
        #[test]
        fn the_tolerance_is_symmetric_and_inclusive(
            t in any::<i64>(),
            now in any::<i64>(),
            tolerance in 0..10_000_000i64,
        ) {
            let gap = i128::from(t) - i128::from(now);
            let got = check_timestamp(t, now, tolerance);
            if gap.abs() <= i128::from(tolerance) {
                prop_assert_eq!(got, Ok(()));
            } else if gap < 0 {
                prop_assert_eq!(got, Err(VerifyError::Stale));
            } else {
                prop_assert_eq!(got, Err(VerifyError::Future));
            }
        }
    }
}
