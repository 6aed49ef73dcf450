//! Tuning of the provider data clients, read from environment variables.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `FORTNOX_RATE_LIMIT_REQUESTS` | 25 | Fortnox requests per window, per tenant |
//! | `FORTNOX_RATE_LIMIT_WINDOW_MS` | 5000 | Fortnox sliding window; also the wait after a 429 |
//! | `VISMA_RATE_LIMIT_REQUESTS` | 600 | Visma requests per window, per client id and endpoint |
//! | `VISMA_RATE_LIMIT_WINDOW_MS` | 60000 | Visma window; also the wait after a 429 without "Try again in N seconds" |
//! | `RATE_LIMIT_HEADROOM_PERCENT` | 4 | spare capacity kept under each limit |
//! | `RATE_LIMIT_BATCH` | 5 | slots taken from the shared DynamoDB bucket per write |
//! | `PROVIDER_RETRY_MAX_ATTEMPTS` | 5 | attempts per call, the first included |
//! | `PROVIDER_RETRY_BASE_MS` | 250 | first backoff ceiling (doubles per attempt, full jitter) |
//! | `PROVIDER_RETRY_CAP_MS` | 8000 | largest backoff ceiling |
//! | `PROVIDER_RETRY_MAX_ELAPSED_SECONDS` | 60 | no new attempt after this long |
//! | `FORTNOX_PAGE_SIZE` | 500 | `limit` of Fortnox lists (Fortnox's maximum) |
//! | `VISMA_PAGE_SIZE` | 1000 | `$pagesize` asked of Visma (its maximum is unconfirmed; `Meta.PageSize` is read back) |
//! | `VISMA_CONVERT_DRAFTS` | true | create Visma invoices as drafts and convert them at once |
//! | `VISMA_DEFAULT_PAYMENT_DAYS` | 30 | terms of payment picked for new Visma customers |

use crate::domain::{ProviderKind, Secret};
use crate::http::limiter::{Limit, Tuning};
use crate::http::RetryPolicy;
use serde::Deserialize;
use std::time::Duration;

/// Where the app's OAuth client credentials come from.
#[derive(Clone, Debug)]
pub enum CredentialsSource {
    /// A Secrets Manager secret holding `{"fortnox":{"client_id","client_secret"},"visma":{…}}`.
    SecretArn(String),
    /// Plain values (local development and tests).
    Inline(AppCredentials),
}

/// One OAuth client registration (an app at the provider).
#[derive(Clone, Debug, Deserialize)]
pub struct ClientCredentials {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: Secret,
}

/// The app's credentials at every provider.
#[derive(Clone, Debug, Deserialize)]
pub struct AppCredentials {
    /// Fortnox app.
    pub fortnox: ClientCredentials,
    /// Visma app.
    pub visma: ClientCredentials,
}

impl AppCredentials {
    /// The credentials for `kind`.
    pub fn for_provider(&self, kind: ProviderKind) -> &ClientCredentials {
        match kind {
            ProviderKind::Fortnox => &self.fortnox,
            ProviderKind::Visma => &self.visma,
        }
    }
}

/// Fortnox endpoints and scopes.
#[derive(Clone, Debug)]
pub struct FortnoxSettings {
    /// Base of the OAuth server (`https://apps.fortnox.se`).
    pub auth_url: String,
    /// Base of the REST API (`https://api.fortnox.se`).
    pub api_url: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Whether consents use PKCE (S256). Fortnox does not document PKCE; a server that does not
    /// know the parameters ignores them (RFC 6749 §3.1), so it is on unless switched off.
    pub pkce: bool,
}

/// Visma eAccounting endpoints and scopes.
#[derive(Clone, Debug)]
pub struct VismaSettings {
    /// Base of the identity server (`https://identity.vismaonline.com`).
    pub identity_url: String,
    /// Base of the REST API (`https://eaccountingapi.vismaonline.com`).
    pub api_url: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Whether to call `/connect/revocation` on disconnect (unconfirmed by Visma: switchable).
    pub revocation_enabled: bool,
    /// Whether consents use PKCE (S256); unconfirmed for Visma's identity server: switchable.
    pub pkce: bool,
    /// Refresh-token lifetime in days, as set on the app's registration at Visma Developer
    /// Portal ("refresh token expiration in days"); a `refresh_token_expires_in` in the token
    /// answer wins over it.
    pub refresh_token_days: u32,
}

/// Everything the data clients can be tuned with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// Fortnox's limit per tenant.
    pub fortnox_limit: Limit,
    /// Visma's limit per client id and endpoint.
    pub visma_limit: Limit,
    /// Headroom and batch size of the shared limiter.
    pub tuning: Tuning,
    /// Retries.
    pub retry: RetryPolicy,
    /// Fortnox list page size.
    pub fortnox_page_size: u32,
    /// Visma list page size asked for.
    pub visma_page_size: u32,
    /// Whether Visma invoices are converted from drafts right after creation.
    pub visma_convert_drafts: bool,
    /// Payment days of the terms picked for new Visma customers.
    pub visma_payment_days: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            fortnox_limit: Limit {
                requests: 25,
                window: Duration::from_secs(5),
            },
            visma_limit: Limit {
                requests: 600,
                window: Duration::from_secs(60),
            },
            tuning: Tuning::default(),
            retry: RetryPolicy::default(),
            fortnox_page_size: 500,
            visma_page_size: 1000,
            visma_convert_drafts: true,
            visma_payment_days: 30,
        }
    }
}

/// A variable that is set but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {0} must be a whole number")]
pub struct BadSetting(pub String);

impl ApiSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, BadSetting> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get`; unset variables keep their defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, BadSetting> {
        let num = |k: &str, d: u64| -> Result<u64, BadSetting> {
            match get(k).filter(|v| !v.trim().is_empty()) {
                None => Ok(d),
                Some(v) => v.trim().parse().map_err(|_| BadSetting(k.to_string())),
            }
        };
        let d = ApiSettings::default();
        let small = |k: &str, v: u64| u32::try_from(v).map_err(|_| BadSetting(k.to_string()));
        Ok(ApiSettings {
            fortnox_limit: Limit {
                requests: small(
                    "FORTNOX_RATE_LIMIT_REQUESTS",
                    num("FORTNOX_RATE_LIMIT_REQUESTS", 25)?,
                )?
                .max(1),
                window: Duration::from_millis(num("FORTNOX_RATE_LIMIT_WINDOW_MS", 5000)?),
            },
            visma_limit: Limit {
                requests: small(
                    "VISMA_RATE_LIMIT_REQUESTS",
                    num("VISMA_RATE_LIMIT_REQUESTS", 600)?,
                )?
                .max(1),
                window: Duration::from_millis(num("VISMA_RATE_LIMIT_WINDOW_MS", 60_000)?),
            },
            tuning: Tuning {
                headroom_percent: small(
                    "RATE_LIMIT_HEADROOM_PERCENT",
                    num("RATE_LIMIT_HEADROOM_PERCENT", 4)?,
                )?,
                batch: small("RATE_LIMIT_BATCH", num("RATE_LIMIT_BATCH", 5)?)?.max(1),
            },
            retry: RetryPolicy {
                max_attempts: small(
                    "PROVIDER_RETRY_MAX_ATTEMPTS",
                    num("PROVIDER_RETRY_MAX_ATTEMPTS", 5)?,
                )?
                .max(1),
                base: Duration::from_millis(num("PROVIDER_RETRY_BASE_MS", 250)?),
                cap: Duration::from_millis(num("PROVIDER_RETRY_CAP_MS", 8000)?),
                max_elapsed: Duration::from_secs(num("PROVIDER_RETRY_MAX_ELAPSED_SECONDS", 60)?),
            },
            fortnox_page_size: small("FORTNOX_PAGE_SIZE", num("FORTNOX_PAGE_SIZE", 500)?)?
                .clamp(1, 500),
            visma_page_size: small("VISMA_PAGE_SIZE", num("VISMA_PAGE_SIZE", 1000)?)?.max(1),
            visma_convert_drafts: get("VISMA_CONVERT_DRAFTS")
                .map(|v| v.trim() != "false")
                .unwrap_or(d.visma_convert_drafts),
            visma_payment_days: small(
                "VISMA_DEFAULT_PAYMENT_DAYS",
                num("VISMA_DEFAULT_PAYMENT_DAYS", 30)?,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_providers() {
        let s = ApiSettings::from_lookup(|_| None).unwrap();
        assert_eq!(s, ApiSettings::default());
        assert_eq!(s.fortnox_limit.requests, 25);
        assert_eq!(s.fortnox_limit.window, Duration::from_secs(5));
        assert_eq!(s.visma_limit.requests, 600);
    }

    #[test]
    fn overrides_and_errors_name_the_variable() {
        let s = ApiSettings::from_lookup(|k| match k {
            "FORTNOX_RATE_LIMIT_WINDOW_MS" => Some("500".into()),
            "FORTNOX_PAGE_SIZE" => Some("9000".into()),
            "VISMA_CONVERT_DRAFTS" => Some("false".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.fortnox_limit.window, Duration::from_millis(500));
        assert_eq!(s.fortnox_page_size, 500);
        assert!(!s.visma_convert_drafts);
        let e = ApiSettings::from_lookup(|k| (k == "RATE_LIMIT_BATCH").then(|| "five".into()))
            .unwrap_err();
        assert_eq!(e.0, "RATE_LIMIT_BATCH");
    }
}
