//! Dev JWTs: HS256, checked for signature, issuer, audience, expiry and not-before, like API
//! Gateway's JWT authorizer checks the real ones (which are RS256 against the issuer's JWKS).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::HashMap;

/// Signs and verifies dev tokens.
#[derive(Clone)]
pub struct DevJwt {
    issuer: String,
    audience: String,
    key: Vec<u8>,
}

impl DevJwt {
    /// A signer/verifier.
    pub fn new(issuer: &str, audience: &str, key: &[u8]) -> Self {
        DevJwt {
            issuer: issuer.into(),
            audience: audience.into(),
            key: key.to_vec(),
        }
    }

    /// A token for `tenant`'s user (`sub` = `user-of-<tenant>`), valid for `ttl_seconds`.
    pub fn sign_for_tenant(&self, tenant: &str, ttl_seconds: i64) -> String {
        self.sign_for(tenant, &format!("user-of-{tenant}"), ttl_seconds)
    }

    /// A token for `user` (`sub`) of `tenant`, valid for `ttl_seconds`.
    pub fn sign_for(&self, tenant: &str, user: &str, ttl_seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(&json!({
            "iss": self.issuer, "aud": self.audience, "sub": user,
            "tenant_id": tenant, "iat": now, "exp": now + ttl_seconds, "scope": "integrations"
        }))
    }

    /// Signs arbitrary claims.
    pub fn sign(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(self.mac(signing_input.as_bytes()));
        format!("{signing_input}.{sig}")
    }

    fn mac(&self, input: &[u8]) -> Vec<u8> {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(input);
        m.finalize().into_bytes().to_vec()
    }

    /// Verifies a token and gives its claims as API Gateway passes them: every value a string.
    pub fn verify(&self, token: &str) -> Option<HashMap<String, String>> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg")? != "HS256" {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        m.update(format!("{h}.{p}").as_bytes());
        m.verify_slice(&sig).ok()?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let now = chrono::Utc::now().timestamp();
        if claims.get("iss")?.as_str()? != self.issuer {
            return None;
        }
        let aud_ok = match claims.get("aud")? {
            Value::String(a) => a == &self.audience,
            Value::Array(list) => list.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !aud_ok || claims.get("exp")?.as_i64()? <= now {
            return None;
        }
        // Like API Gateway: a token whose `nbf` lies in the future is not valid yet, and an
        // `nbf` that is not a NumericDate makes the token invalid.
        if let Some(nbf) = claims.get("nbf") {
            if nbf.as_f64()? > now as f64 {
                return None;
            }
        }
        Some(
            claims
                .into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s,
                        Value::Array(items) => format!(
                            "[{}]",
                            items
                                .iter()
                                .map(|i| i
                                    .as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| i.to_string()))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                        other => other.to_string(),
                    };
                    (k, s)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_its_own_tokens_and_rejects_tampering() {
        let j = DevJwt::new("iss", "aud", b"k");
        let t = j.sign_for_tenant("acme", 60);
        assert_eq!(j.verify(&t).unwrap()["tenant_id"], "acme");
        let other = DevJwt::new("iss", "aud", b"other");
        assert!(other.verify(&t).is_none());
        let wrong_aud = DevJwt::new("iss", "aud2", b"k");
        assert!(wrong_aud.verify(&t).is_none());
        assert!(j.verify(&j.sign_for_tenant("acme", -1)).is_none());
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD
            .encode(r#"{"iss":"iss","aud":"aud","exp":9999999999,"tenant_id":"evil"}"#);
        parts[1] = &forged;
        assert!(j.verify(&parts.join(".")).is_none());
    }

    #[test]
    fn refuses_a_token_that_is_not_valid_yet() {
        let j = DevJwt::new("iss", "aud", b"k");
        let now = chrono::Utc::now().timestamp();
        let with_nbf = |nbf: Value| {
            j.sign(&json!({"iss": "iss", "aud": "aud", "exp": now + 600, "nbf": nbf, "tenant_id": "acme"}))
        };
        assert!(
            j.verify(&with_nbf(json!(now + 120))).is_none(),
            "nbf in the future"
        );
        assert!(
            j.verify(&with_nbf(json!(now + 2))).is_none(),
            "even a little"
        );
        assert!(
            j.verify(&with_nbf(json!("soon"))).is_none(),
            "nbf not a date"
        );
        assert_eq!(
            j.verify(&with_nbf(json!(now - 60))).unwrap()["tenant_id"],
            "acme"
        );
        assert!(j.verify(&with_nbf(json!(now))).is_some(), "valid from now");
        assert!(
            j.verify(&with_nbf(json!((now - 1) as f64 + 0.5))).is_some(),
            "fractional"
        );
    }
}
