//! What OAuth keeps: grants, codes, refresh and access tokens, and how tokens are issued.
//! A leaf of the crate (it knows the configuration, nothing that serves requests), so the
//! shared state can hold the store and tests can mint tokens without the endpoints.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use serde_json::json;

use crate::config::SandboxConfig;
use crate::provider::ProviderKind;

/// How long spent codes and dead access tokens are kept to give precise errors.
pub(crate) const GRACE: Duration = Duration::from_secs(24 * 3600);

/// What an issued code or token allows: who asked, for which company and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub provider: ProviderKind,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// [`Company::key`] of the company picked on the consent page.
    pub company_key: String,
    /// Every token descended from one consent shares this number.
    pub family: u64,
}

/// An authorize request waiting for the user's decision on the consent page.
#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    pub provider: ProviderKind,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub scopes: Vec<String>,
    pub service_account: bool,
    pub created: Instant,
    /// The PKCE S256 `code_challenge` of the authorization request, when it sent one.
    pub code_challenge: Option<String>,
}

/// An authorization code handed to the redirect URI.
#[derive(Debug, Clone)]
pub(crate) struct CodeEntry {
    pub grant: Grant,
    pub redirect_uri: String,
    pub expires: Instant,
    pub used: bool,
    /// The challenge the redeeming `code_verifier` must meet (RFC 7636 §4.6).
    pub code_challenge: Option<String>,
    /// Issued by a service-account consent: redeemed without a refresh token.
    pub service_account: bool,
}

/// Life cycle of a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshStatus {
    Active,
    /// Exchanged once already (refresh tokens are single use on both providers).
    Spent,
    Revoked,
}

/// A refresh token and what it grants.
#[derive(Debug, Clone)]
pub(crate) struct RefreshEntry {
    pub grant: Grant,
    /// `None`: no age limit.
    pub expires: Option<Instant>,
    pub status: RefreshStatus,
}

/// An access token and what it grants.
#[derive(Debug, Clone)]
pub(crate) struct AccessEntry {
    pub grant: Grant,
    pub expires: Instant,
}

/// A Fortnox service-account consent: `client_credentials` with `TenantId` works for it
/// (the shared docs/providers.md, Fortnox OAuth: "after a consent with `account_type=service`,
/// a fresh 1-hour token can be had at any time with `grant_type=client_credentials`, Basic
/// auth and a `TenantId: <id>` header; no refresh token exists. The tenant id equals
/// `DatabaseNumber`").
#[derive(Debug, Clone)]
pub(crate) struct ServiceConsent {
    pub client_id: String,
    pub database_number: i64,
    pub grant: Grant,
}

/// Everything OAuth keeps; handlers lock it once per request so rotation is atomic.
#[derive(Debug, Default)]
pub(crate) struct OAuthStore {
    pub consents: HashMap<String, PendingConsent>,
    pub codes: HashMap<String, CodeEntry>,
    pub refresh_tokens: HashMap<String, RefreshEntry>,
    pub access_tokens: HashMap<String, AccessEntry>,
    pub service_consents: Vec<ServiceConsent>,
    pub next_family: u64,
}

/// Tokens handed out by one successful token request.
#[derive(Debug, Clone)]
pub(crate) struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in: u64,
}

/// A random URL-safe string with `bytes` bytes of entropy.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Stores a fresh access token (and refresh token when asked) for `grant`.
pub(crate) fn issue(
    store: &mut OAuthStore,
    config: &SandboxConfig,
    grant: Grant,
    with_refresh: bool,
    now: Instant,
) -> IssuedTokens {
    let access_token = jwt_like(&grant, config.access_token_ttl);
    let expires = now
        .checked_add(config.access_token_ttl)
        .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600));
    store.access_tokens.retain(|_, a| now < a.expires + GRACE);
    store.access_tokens.insert(
        access_token.clone(),
        AccessEntry {
            grant: grant.clone(),
            expires,
        },
    );
    let refresh_token = with_refresh.then(|| {
        let token = random_token(32);
        let ttl = match grant.provider {
            ProviderKind::Fortnox => Some(config.fortnox_refresh_ttl),
            ProviderKind::Visma => config.visma_refresh_ttl,
        };
        store.refresh_tokens.insert(
            token.clone(),
            RefreshEntry {
                grant: grant.clone(),
                expires: ttl.and_then(|ttl| now.checked_add(ttl)),
                status: RefreshStatus::Active,
            },
        );
        token
    });
    IssuedTokens {
        access_token,
        refresh_token,
        scopes: grant.scopes,
        expires_in: config.access_token_ttl.as_secs(),
    }
}

/// Issues an access token as a finished consent would (no refresh token), for tests that
/// need to call the REST API without the browser dance.
pub(crate) fn mint_access_token(
    store: &mut OAuthStore,
    config: &SandboxConfig,
    provider: ProviderKind,
    client_id: &str,
    company_key: &str,
    scopes: &[&str],
) -> String {
    let now = Instant::now();
    store.next_family += 1;
    let grant = Grant {
        provider,
        client_id: client_id.to_string(),
        scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
        company_key: company_key.to_string(),
        family: store.next_family,
    };
    issue(store, config, grant, false, now).access_token
}

/// An access token shaped like the providers' JWTs; the sandbox only ever looks it up.
fn jwt_like(grant: &Grant, ttl: Duration) -> String {
    let now = Utc::now().timestamp();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "sandbox"});
    let claims = json!({
        "iss": format!("{}-sandbox", grant.provider),
        "client_id": grant.client_id,
        "tenant": grant.company_key,
        "scope": grant.scopes,
        "iat": now,
        "exp": now.saturating_add(ttl),
        "jti": uuid::Uuid::new_v4(),
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        random_token(32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_differ() {
        assert_ne!(random_token(16), random_token(16));
        assert_eq!(random_token(32).len(), 43);
    }
}
