//! Configuration, read once per container from environment variables.

use crate::providers::settings::{
    ApiSettings, AppCredentials, ClientCredentials, CredentialsSource, FortnoxSettings,
    VismaSettings,
};
use crate::webhooks::settings::WebhookSettings;
use std::time::Duration;
use url::Url;

/// How background sync work runs.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// URL of the sync queue.
    pub queue_url: String,
    /// Longest time one slice of a job runs before it checkpoints and re-enqueues itself.
    pub slice_budget: Duration,
    /// Failed attempts before a job is given up (the queue's maxReceiveCount says the same).
    pub max_attempts: u32,
    /// How much longer than a slice the integration lease lasts (covers a crashed worker).
    pub lease_grace: Duration,
    /// Delay before a message for a busy integration comes back.
    pub busy_delay: Duration,
    /// Base of the exponential backoff after a retryable failure.
    pub backoff_base: Duration,
    /// Cap of that backoff.
    pub backoff_cap: Duration,
    /// The scheduler's period; integrations are spread over it.
    pub schedule_period: Duration,
    /// Refresh tokens whose refresh token would die within this.
    pub refresh_ahead: Duration,
    /// A running job with no progress for this long is stuck.
    pub stuck_after: Duration,
    /// Overlap of incremental pulls, against clock skew and late commits at the provider.
    pub pull_overlap: Duration,
    /// Records per page when pulling or pushing.
    pub page_size: u32,
    /// After a create whose answer was lost, how long the provider may still commit it: the
    /// record stays in doubt (looked up again by our reference) and is created a second time
    /// only after this.
    pub create_settle: Duration,
}

/// Everything a function needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The single DynamoDB table.
    pub table_name: String,
    /// Prefix of every integration secret name.
    pub secret_prefix: String,
    /// Customer-managed KMS key for the secrets; `None` uses the account default key.
    pub kms_key_id: Option<String>,
    /// JWT claim that carries the tenant id.
    pub tenant_claim: String,
    /// Origins a return URL may point at.
    pub allowed_return_origins: Vec<url::Origin>,
    /// Where the browser goes when no trustworthy return URL is known.
    pub default_return_url: Url,
    /// Public base URL of this API, used to build OAuth redirect URIs.
    pub public_api_url: String,
    /// Lifetime of an OAuth state.
    pub oauth_state_ttl: Duration,
    /// Refresh a token that has less than this left.
    pub refresh_margin: Duration,
    /// How long a refresh lease is held at most.
    pub refresh_lease_ttl: Duration,
    /// Timeout for one provider HTTP request.
    pub provider_timeout: Duration,
    /// App credentials.
    pub credentials: CredentialsSource,
    /// Fortnox settings.
    pub fortnox: FortnoxSettings,
    /// Visma settings.
    pub visma: VismaSettings,
    /// Background sync settings.
    pub sync: SyncSettings,
    /// Signed webhooks.
    pub webhook: WebhookSettings,
    /// Provider data API tuning: rate limits, retries, page sizes.
    pub api: ApiSettings,
    /// How the AWS SDK retries and times out.
    pub aws: AwsSdkSettings,
}

/// How every AWS SDK client of a function retries and times out (docs/design.md, "AWS
/// faults"). Without an attempt timeout the SDK waits for an answer as long as the Lambda
/// runs, so a lost answer would cost the whole invocation instead of one retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSdkSettings {
    /// Longest wait for one attempt of one AWS call (`AWS_ATTEMPT_TIMEOUT_MS`).
    pub attempt_timeout: Duration,
    /// Attempts of one AWS call in all, the first one included (`AWS_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The roots AWS endpoints are checked against: Amazon Trust Services' unless
    /// `AWS_CA_BUNDLE` names a PEM bundle (read and checked here, see `aws_http`).
    pub trust: crate::aws_http::AwsTrust,
    /// The region: `AWS_REGION` (Lambda sets it), else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// One endpoint for every AWS service instead of AWS's own (`AWS_ENDPOINT_URL`, the
    /// variable of the AWS SDKs and CLI): an emulator such as moto in tests and `make dev`.
    pub endpoint_url: Option<String>,
    /// FIPS endpoints (`AWS_USE_FIPS_ENDPOINT=true`).
    pub use_fips: bool,
    /// Dual-stack endpoints (`AWS_USE_DUALSTACK_ENDPOINT=true`).
    pub use_dual_stack: bool,
}

/// What an empty environment gives (`AWS_ATTEMPT_TIMEOUT_MS` 3000, `AWS_MAX_ATTEMPTS` 5,
/// Amazon's roots, no region).
impl Default for AwsSdkSettings {
    fn default() -> Self {
        AwsSdkSettings {
            attempt_timeout: Duration::from_millis(3000),
            max_attempts: 5,
            trust: crate::aws_http::AwsTrust::AmazonRoots,
            region: None,
            endpoint_url: None,
            use_fips: false,
            use_dual_stack: false,
        }
    }
}

/// A configuration value that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get`, which maps a variable name to its value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let required = |k: &str| get(k).ok_or_else(|| ConfigError(format!("{k} is not set")));
        let or = |k: &str, d: &str| get(k).unwrap_or_else(|| d.to_string());
        let secs = |k: &str, d: u64| -> Result<Duration, ConfigError> {
            match get(k) {
                None => Ok(Duration::from_secs(d)),
                Some(v) => v
                    .parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| ConfigError(format!("{k} must be a whole number of seconds"))),
            }
        };

        let allowed_return_origins = or("ALLOWED_RETURN_URLS", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Url::parse(s)
                    .map(|u| u.origin())
                    .map_err(|e| ConfigError(format!("ALLOWED_RETURN_URLS entry `{s}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let default_return_url = Url::parse(&required("DEFAULT_RETURN_URL")?)
            .map_err(|e| ConfigError(format!("DEFAULT_RETURN_URL: {e}")))?;

        let credentials = match get("PROVIDER_CREDENTIALS_SECRET_ARN") {
            Some(arn) => CredentialsSource::SecretArn(arn),
            None => CredentialsSource::Inline(AppCredentials {
                fortnox: ClientCredentials {
                    client_id: or("FORTNOX_CLIENT_ID", ""),
                    client_secret: crate::domain::Secret::new(or("FORTNOX_CLIENT_SECRET", "")),
                },
                visma: ClientCredentials {
                    client_id: or("VISMA_CLIENT_ID", ""),
                    client_secret: crate::domain::Secret::new(or("VISMA_CLIENT_SECRET", "")),
                },
            }),
        };

        let secret_prefix = or("SECRET_PREFIX", "accounting-integrations");
        let webhook_secret_prefix = or(
            "WEBHOOK_SECRET_PREFIX",
            &format!("{secret_prefix}-webhooks"),
        );
        if prefixes_overlap(&secret_prefix, &webhook_secret_prefix) {
            return Err(ConfigError(format!(
                "WEBHOOK_SECRET_PREFIX `{webhook_secret_prefix}` must not lie inside or around \
                 SECRET_PREFIX `{secret_prefix}`: IAM grants each function one of them"
            )));
        }

        Ok(Config {
            table_name: required("TABLE_NAME")?,
            secret_prefix,
            kms_key_id: get("KMS_KEY_ID"),
            tenant_claim: or("TENANT_CLAIM", "tenant_id"),
            allowed_return_origins,
            default_return_url,
            public_api_url: required("PUBLIC_API_URL")?
                .trim_end_matches('/')
                .to_string(),
            oauth_state_ttl: secs("OAUTH_STATE_TTL_SECONDS", 600)?,
            refresh_margin: secs("TOKEN_REFRESH_MARGIN_SECONDS", 300)?,
            refresh_lease_ttl: secs("TOKEN_REFRESH_LEASE_SECONDS", 30)?,
            provider_timeout: secs("PROVIDER_TIMEOUT_SECONDS", 10)?,
            credentials,
            fortnox: FortnoxSettings {
                auth_url: trim(or("FORTNOX_AUTH_URL", "https://apps.fortnox.se")),
                api_url: trim(or("FORTNOX_API_URL", "https://api.fortnox.se")),
                scopes: or(
                    "FORTNOX_SCOPES",
                    "customer invoice companyinformation payment article project",
                ),
                pkce: or("FORTNOX_PKCE", "true") != "false",
            },
            visma: VismaSettings {
                identity_url: trim(or("VISMA_IDENTITY_URL", "https://identity.vismaonline.com")),
                api_url: trim(or(
                    "VISMA_API_URL",
                    "https://eaccountingapi.vismaonline.com",
                )),
                scopes: or("VISMA_SCOPES", "ea:api offline_access ea:sales ea:accounting"),
                revocation_enabled: or("VISMA_REVOCATION_ENABLED", "true") != "false",
                pkce: or("VISMA_PKCE", "true") != "false",
                refresh_token_days: or("VISMA_REFRESH_TOKEN_DAYS", "30")
                    .trim()
                    .parse()
                    .ok()
                    .filter(|d| *d > 0)
                    .ok_or_else(|| {
                        ConfigError(
                            "VISMA_REFRESH_TOKEN_DAYS must be a whole number of days, at least 1"
                                .into(),
                        )
                    })?,
            },
            sync: SyncSettings {
                queue_url: or("SYNC_QUEUE_URL", ""),
                slice_budget: secs("SLICE_SECONDS", 60)?,
                max_attempts: or("JOB_MAX_ATTEMPTS", "5")
                    .parse()
                    .map_err(|_| ConfigError("JOB_MAX_ATTEMPTS must be a whole number".into()))?,
                lease_grace: secs("LEASE_GRACE_SECONDS", 60)?,
                busy_delay: secs("BUSY_RETRY_SECONDS", 20)?,
                backoff_base: secs("BACKOFF_BASE_SECONDS", 5)?,
                backoff_cap: secs("BACKOFF_CAP_SECONDS", 900)?,
                schedule_period: secs("SCHEDULE_PERIOD_SECONDS", 3600)?,
                refresh_ahead: secs("REFRESH_AHEAD_SECONDS", 7 * 24 * 3600)?,
                stuck_after: secs("STUCK_AFTER_SECONDS", 300)?,
                pull_overlap: secs("PULL_OVERLAP_SECONDS", 120)?,
                page_size: or("PAGE_SIZE", "100")
                    .parse()
                    .map_err(|_| ConfigError("PAGE_SIZE must be a whole number".into()))?,
                create_settle: secs("CREATE_SETTLE_SECONDS", 300)?,
            },
            aws: AwsSdkSettings {
                attempt_timeout: Duration::from_millis(
                    or("AWS_ATTEMPT_TIMEOUT_MS", "3000")
                        .parse::<u64>()
                        .ok()
                        .filter(|ms| *ms > 0)
                        .ok_or_else(|| {
                            ConfigError(
                                "AWS_ATTEMPT_TIMEOUT_MS must be a whole number of milliseconds, at least 1".into(),
                            )
                        })?,
                ),
                max_attempts: or("AWS_MAX_ATTEMPTS", "5")
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ConfigError("AWS_MAX_ATTEMPTS must be a whole number, at least 1".into())
                    })?,
                trust: match get("AWS_CA_BUNDLE") {
                    None => crate::aws_http::AwsTrust::AmazonRoots,
                    Some(path) => crate::aws_http::AwsTrust::from_file(path.trim())
                        .map_err(|e| ConfigError(format!("AWS_CA_BUNDLE: {e}")))?,
                },
                region: get("AWS_REGION")
                    .or_else(|| get("AWS_DEFAULT_REGION"))
                    .map(|r| r.trim().to_string()),
                endpoint_url: match get("AWS_ENDPOINT_URL") {
                    None => None,
                    Some(u) => Some(
                        Url::parse(u.trim())
                            .ok()
                            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                            .map(|_| u.trim().to_string())
                            .ok_or_else(|| {
                                ConfigError(format!(
                                    "AWS_ENDPOINT_URL `{u}` must be an http or https URL"
                                ))
                            })?,
                    ),
                },
                use_fips: flag(&get, "AWS_USE_FIPS_ENDPOINT")?,
                use_dual_stack: flag(&get, "AWS_USE_DUALSTACK_ENDPOINT")?,
            },
            api: ApiSettings::from_lookup(get)
                .map_err(|e| ConfigError(e.0 + " must be a whole number"))?,
            webhook: WebhookSettings {
                base_url: get("WEBHOOK_BASE_URL").map(trim),
                secret_prefix: webhook_secret_prefix,
                default_scheme: or("WEBHOOK_DEFAULT_SCHEME", "ours")
                    .parse()
                    .map_err(|e| ConfigError(format!("WEBHOOK_DEFAULT_SCHEME: {e}")))?,
                visma_signature_header: or("WEBHOOK_VISMA_SIGNATURE_HEADER", "X-Webhook-Signature")
                    .parse::<http::HeaderName>()
                    .map_err(|_| {
                        ConfigError("WEBHOOK_VISMA_SIGNATURE_HEADER must be a header name".into())
                    })?
                    .to_string(),
                tolerance: secs("WEBHOOK_TOLERANCE_SECONDS", 300)?,
                rotation_grace: secs("WEBHOOK_ROTATION_GRACE_SECONDS", 24 * 3600)?,
                replay_ttl: secs("WEBHOOK_REPLAY_TTL_SECONDS", 7 * 24 * 3600)?,
                key_cache_ttl: secs("WEBHOOK_KEY_CACHE_SECONDS", 30)?,
            },
        })
    }

    /// The OAuth redirect URI registered with `provider`.
    pub fn redirect_uri(&self, provider: crate::domain::ProviderKind) -> String {
        format!(
            "{}/api/integrations/callback/{provider}",
            self.public_api_url
        )
    }
}

/// A true/false variable of the AWS SDKs (absent: false); anything else is refused.
fn flag(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<bool, ConfigError> {
    match get(key).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError(format!("{key} must be true or false"))),
    }
}

/// Whether a policy on `{a}/*` would reach secrets named under `b` or the other way round.
fn prefixes_overlap(a: &str, b: &str) -> bool {
    a == b || b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/"))
}

fn trim(s: String) -> String {
    s.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("TABLE_NAME", "t"),
        ("DEFAULT_RETURN_URL", "https://app.example.se/integrations"),
        ("PUBLIC_API_URL", "https://api.example.se/"),
        (
            "ALLOWED_RETURN_URLS",
            "https://app.example.se, http://localhost:3000",
        ),
    ];

    #[test]
    fn reads_defaults_and_lists() {
        let c = Config::from_lookup(vars(BASE)).unwrap();
        assert_eq!(c.allowed_return_origins.len(), 2);
        assert_eq!(c.oauth_state_ttl, Duration::from_secs(600));
        assert_eq!(c.fortnox.auth_url, "https://apps.fortnox.se");
        assert_eq!(
            c.redirect_uri(crate::domain::ProviderKind::Visma),
            "https://api.example.se/api/integrations/callback/visma"
        );
        assert!(c.visma.revocation_enabled);
        assert_eq!(c.visma.refresh_token_days, 30);
        assert_eq!(c.webhook.url_for("i1"), None);
        assert_eq!(c.webhook.default_scheme, crate::webhooks::Scheme::Ours);
        assert_eq!(c.webhook.tolerance, Duration::from_secs(300));
        assert_eq!(c.webhook.rotation_grace, Duration::from_secs(86_400));
    }

    #[test]
    fn reads_the_aws_environment_and_refuses_what_the_sdk_could_not_use() {
        let c = Config::from_lookup(vars(BASE)).unwrap();
        assert_eq!(c.aws, AwsSdkSettings::default());

        let mut v = BASE.to_vec();
        v.extend([
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_USE_FIPS_ENDPOINT", "TRUE"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "false"),
        ]);
        let c = Config::from_lookup(vars(&v)).unwrap();
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(c.aws.use_fips && !c.aws.use_dual_stack);
        v.push(("AWS_REGION", "eu-north-1"));
        let c = Config::from_lookup(vars(&v)).unwrap();
        assert_eq!(
            c.aws.region.as_deref(),
            Some("eu-north-1"),
            "AWS_REGION first"
        );

        for (key, value) in [
            ("AWS_ENDPOINT_URL", "localhost:5000"),
            ("AWS_ENDPOINT_URL", "ftp://example.se"),
            ("AWS_USE_FIPS_ENDPOINT", "yes"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "1"),
        ] {
            let mut bad = BASE.to_vec();
            bad.push((key, value));
            let err = Config::from_lookup(vars(&bad)).unwrap_err();
            assert!(err.0.contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn reads_webhook_settings() {
        let mut v = BASE.to_vec();
        v.extend([
            (
                "WEBHOOK_BASE_URL",
                "https://abc.lambda-url.eu-north-1.on.aws/",
            ),
            ("WEBHOOK_DEFAULT_SCHEME", "visma-portal"),
            ("WEBHOOK_VISMA_SIGNATURE_HEADER", "X-Visma-Signature"),
        ]);
        let c = Config::from_lookup(vars(&v)).unwrap();
        assert_eq!(
            c.webhook.url_for("i1").as_deref(),
            Some("https://abc.lambda-url.eu-north-1.on.aws/api/integrations/i1/webhook")
        );
        assert_eq!(
            c.webhook.default_scheme,
            crate::webhooks::Scheme::VismaPortal
        );
        assert_eq!(c.webhook.visma_signature_header, "x-visma-signature");
        let mut bad = BASE.to_vec();
        bad.push(("WEBHOOK_DEFAULT_SCHEME", "stripe"));
        let err = Config::from_lookup(vars(&bad)).unwrap_err();
        assert!(err.0.contains("WEBHOOK_DEFAULT_SCHEME"), "{err}");
    }

    #[test]
    fn webhook_keys_live_under_a_prefix_of_their_own() {
        let c = Config::from_lookup(vars(BASE)).unwrap();
        assert_eq!(c.secret_prefix, "accounting-integrations");
        assert_eq!(c.webhook.secret_prefix, "accounting-integrations-webhooks");
        let t = crate::domain::TenantId::parse("t1").unwrap();
        assert_eq!(
            c.webhook.secret_name(&t, "i1"),
            "accounting-integrations-webhooks/t1/i1"
        );
        for (tokens, keys) in [("p", "p"), ("p", "p/webhooks"), ("p/a", "p")] {
            let mut v = BASE.to_vec();
            v.extend([("SECRET_PREFIX", tokens), ("WEBHOOK_SECRET_PREFIX", keys)]);
            let err = Config::from_lookup(vars(&v)).unwrap_err();
            assert!(err.0.contains("WEBHOOK_SECRET_PREFIX"), "{err}");
        }
        let mut v = BASE.to_vec();
        v.extend([("SECRET_PREFIX", "p"), ("WEBHOOK_SECRET_PREFIX", "p-keys")]);
        assert_eq!(
            Config::from_lookup(vars(&v)).unwrap().webhook.secret_prefix,
            "p-keys"
        );
    }

    #[test]
    fn names_the_missing_variable() {
        let err = Config::from_lookup(vars(&BASE[1..])).unwrap_err();
        assert!(err.0.contains("TABLE_NAME"), "{err}");
        let mut bad = BASE.to_vec();
        bad.push(("OAUTH_STATE_TTL_SECONDS", "ten"));
        let err = Config::from_lookup(vars(&bad)).unwrap_err();
        assert!(err.0.contains("OAUTH_STATE_TTL_SECONDS"), "{err}");
    }

    #[test]
    fn reads_the_visma_refresh_token_lifetime() {
        let mut v = BASE.to_vec();
        v.push(("VISMA_REFRESH_TOKEN_DAYS", "90"));
        assert_eq!(
            Config::from_lookup(vars(&v))
                .unwrap()
                .visma
                .refresh_token_days,
            90
        );
        for bad in ["0", "thirty", "-1"] {
            let mut v = BASE.to_vec();
            v.push(("VISMA_REFRESH_TOKEN_DAYS", bad));
            let err = Config::from_lookup(vars(&v)).unwrap_err();
            assert!(err.0.contains("VISMA_REFRESH_TOKEN_DAYS"), "{bad}: {err}");
        }
    }
}
