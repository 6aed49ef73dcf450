//! Values that must never reach a log: tokens, client secrets, signing keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A string that redacts itself in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a sensitive value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An OAuth token pair with its expiry times.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct TokenSet {
    /// Bearer token for API calls.
    pub access_token: Secret,
    /// Single-use refresh token (both providers rotate it on every refresh).
    pub refresh_token: Option<Secret>,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    /// When the refresh token dies unless used (Fortnox: 45 days); `None` when unknown.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Scopes granted, as the provider reported them.
    pub scope: Option<String>,
}

impl TokenSet {
    /// Whether the access token is still good for at least `margin`.
    pub fn is_fresh(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.expires_at - margin > now
    }
}

/// A webhook signing key of an integration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct WebhookKey {
    /// Short id of the key, safe to show.
    pub id: String,
    /// The key material.
    pub key: Secret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Set on a rotated-out key: accepted until then.
    pub retire_at: Option<DateTime<Utc>>,
}

/// Everything kept in an integration's Secrets Manager secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct IntegrationSecret {
    /// Format version.
    pub version: u32,
    /// OAuth tokens, once connected.
    pub tokens: Option<TokenSet>,
    /// Webhook signing keys, newest first.
    #[serde(default)]
    pub webhook_keys: Vec<WebhookKey>,
}

impl IntegrationSecret {
    /// A new secret with one fresh webhook signing key and no tokens.
    pub fn new_with_webhook_key(now: DateTime<Utc>) -> Self {
        IntegrationSecret {
            version: 1,
            tokens: None,
            webhook_keys: vec![WebhookKey {
                id: crate::domain::secret::random_token(6),
                key: Secret::new(random_token(32)),
                created_at: now,
                retire_at: None,
            }],
        }
    }
}

/// `bytes` random bytes from the OS generator, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::TryRngCore;
    let mut buf = vec![0u8; bytes];
    // The OS generator is the right source for secrets; if it fails there is nothing safe to do.
    rand::rngs::OsRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("abc123-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        let t = TokenSet {
            access_token: s.clone(),
            refresh_token: Some(Secret::new("refresh-xyz")),
            expires_at: Utc::now(),
            refresh_expires_at: None,
            scope: None,
        };
        let dbg = format!("{t:?}");
        assert!(
            !dbg.contains("abc123") && !dbg.contains("refresh-xyz"),
            "{dbg}"
        );
        // but they do serialize, for storage in Secrets Manager
        assert!(serde_json::to_string(&t)
            .unwrap()
            .contains("abc123-very-secret"));
    }

    #[test]
    fn freshness_honours_margin() {
        let now = Utc::now();
        let t = TokenSet {
            access_token: Secret::new("a"),
            refresh_token: None,
            expires_at: now + chrono::Duration::minutes(4),
            refresh_expires_at: None,
            scope: None,
        };
        assert!(!t.is_fresh(now, chrono::Duration::minutes(5)));
        assert!(t.is_fresh(now, chrono::Duration::minutes(3)));
    }

    #[test]
    fn random_tokens_differ_and_have_expected_length() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
