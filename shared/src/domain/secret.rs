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
    /// Set when this pair was refreshed because the provider refused its predecessor's access
    /// token: a refusal of this one soon after is not answered with another refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_for_refusal_at: Option<DateTime<Utc>>,
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

/// What a secret stored in Secrets Manager is: its JSON shape and how it is described.
pub trait SecretDocument: Serialize + serde::de::DeserializeOwned {
    /// The secret's description in Secrets Manager.
    const DESCRIPTION: &'static str;
}

/// An integration's OAuth token secret, `{SECRET_PREFIX}/{tenant}/{integration}`. Only the
/// functions that call the provider (worker, scheduler, consent callback, disconnect) may read it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct TokenSecret {
    /// Format version.
    pub version: u32,
    /// OAuth tokens, once connected.
    pub tokens: Option<TokenSet>,
    /// Webhook keys that an older release kept in this secret. They are carried over unchanged
    /// by every rewrite until `webhooks::migrate` moves them to the integration's webhook
    /// secret; nothing else reads them.
    #[serde(
        rename = "webhook_keys",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub legacy_webhook_keys: Vec<WebhookKey>,
}

impl TokenSecret {
    /// A token secret holding `tokens`.
    pub fn with_tokens(tokens: TokenSet) -> Self {
        TokenSecret {
            version: 1,
            tokens: Some(tokens),
            legacy_webhook_keys: Vec::new(),
        }
    }
}

impl SecretDocument for TokenSecret {
    const DESCRIPTION: &'static str = "Accounting integration OAuth tokens";
}

/// An integration's webhook signing keys, `{WEBHOOK_SECRET_PREFIX}/{tenant}/{integration}`,
/// apart from the tokens so that the public webhook function can read keys and never tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct WebhookSecret {
    /// Format version.
    pub version: u32,
    /// Signing keys, newest first.
    pub keys: Vec<WebhookKey>,
}

impl WebhookSecret {
    /// A secret holding `keys`.
    pub fn with_keys(keys: Vec<WebhookKey>) -> Self {
        WebhookSecret { version: 1, keys }
    }
}

impl SecretDocument for WebhookSecret {
    const DESCRIPTION: &'static str = "Accounting integration webhook signing keys";
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
            refreshed_for_refusal_at: None,
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
            refreshed_for_refusal_at: None,
        };
        assert!(!t.is_fresh(now, chrono::Duration::minutes(5)));
        assert!(t.is_fresh(now, chrono::Duration::minutes(3)));
    }

    #[test]
    fn legacy_token_secrets_keep_their_webhook_keys_through_a_rewrite() {
        // The shape an older release wrote: tokens and webhook keys in one secret.
        let legacy = r#"{"version":1,"tokens":null,"webhook_keys":[{"id":"k1","key":"old-key","created_at":"2026-01-01T00:00:00Z","retire_at":null}]}"#;
        let s: TokenSecret = serde_json::from_str(legacy).unwrap();
        assert_eq!(s.legacy_webhook_keys.len(), 1);
        let rewritten = serde_json::to_string(&s).unwrap();
        assert!(rewritten.contains("old-key"), "{rewritten}");
        // A secret without legacy keys does not grow an empty list.
        let clean = serde_json::to_string(&TokenSecret {
            legacy_webhook_keys: Vec::new(),
            ..s
        })
        .unwrap();
        assert!(!clean.contains("webhook_keys"), "{clean}");
    }

    #[test]
    fn random_tokens_differ_and_have_expected_length() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
