//! What a function builds once per container and hands to every invocation.

use crate::aws_http::OnFirstUse;
use crate::connections::tokens::TokenManager;
use crate::http::LazyClient;
use crate::providers::{CredentialStore, Providers};
use crate::store::{Db, Queue, Vault};
use crate::Config;
use std::sync::Arc;

/// Clients and configuration shared by all invocations of a container.
pub struct AppContext {
    /// Configuration.
    pub config: Arc<Config>,
    /// DynamoDB adapter.
    pub db: Db,
    /// Secrets Manager adapter.
    pub vault: Vault,
    /// Fortnox and Visma.
    pub providers: Providers,
    /// Access tokens.
    pub tokens: TokenManager,
    /// Outbound HTTPS client to the providers, built on first use.
    pub http: LazyClient,
    /// The sync queue.
    pub queue: Queue,
}

impl AppContext {
    /// Builds the context from the environment Lambda gives a function: the configuration
    /// (`Config::from_env`) and the AWS configuration ([`lambda_sdk_config`]).
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let config = Config::from_env()?;
        // template.yaml names Amazon Linux 2023's CA bundle; should a runtime ever move it, every
        // HTTPS call would fail with a certificate error: say why, once, at the start.
        if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
            if !std::path::Path::new(&path).is_file() {
                tracing::error!(path = ?path, "SSL_CERT_FILE names no file: TLS has no root certificates");
            }
        }
        let has_credentials = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
            .iter()
            .all(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
        let sdk = lambda_sdk_config(&config.aws, has_credentials)?;
        Ok(Self::new(config, &sdk))
    }

    /// Builds the context over an explicit AWS configuration.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let sdk = tuned(sdk, &config.aws);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        Self::over_tuned(config, &sdk, dynamodb)
    }

    /// Builds the context with a prepared DynamoDB client (benchmarks count its calls).
    pub fn new_with_dynamodb(
        config: Config,
        sdk: &aws_config::SdkConfig,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let sdk = tuned(sdk, &config.aws);
        Self::over_tuned(config, &sdk, dynamodb)
    }

    /// The context over `sdk`, already `tuned`.
    fn over_tuned(
        config: Config,
        sdk: &aws_config::SdkConfig,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        // Built by the first provider call, not here: see `LazyClient`.
        let http = LazyClient::new(config.provider_timeout);
        let db = Db::new(dynamodb, config.table_name.clone());
        // Secrets Manager and SQS clients are built by their first use: many functions never
        // call one of them, and building a client costs its endpoint rules at every cold start.
        let secrets = OnFirstUse::new({
            let sdk = sdk.clone();
            move || aws_sdk_secretsmanager::Client::new(&sdk)
        });
        let vault = Vault::new(secrets.clone(), config.kms_key_id.clone());
        let credentials = Arc::new(CredentialStore::new(config.credentials.clone(), secrets));
        // Every instance paces provider calls through the same DynamoDB buckets.
        let providers = Providers::new(
            &config.fortnox,
            &config.visma,
            config.api.clone(),
            http.clone(),
            credentials,
        )
        .with_shared_limiter(&db, config.api.clone());
        let tokens = TokenManager::new(
            db.clone(),
            vault.clone(),
            providers.clone(),
            config.refresh_margin,
            config.refresh_lease_ttl,
        );
        let queue = Queue::new(
            OnFirstUse::new({
                let sdk = sdk.clone();
                move || aws_sdk_sqs::Client::new(&sdk)
            }),
            config.sync.queue_url.clone(),
        );
        AppContext {
            config: Arc::new(config),
            db,
            vault,
            providers,
            tokens,
            http,
            queue,
        }
    }
}

/// The AWS configuration of a function, from what Lambda puts in its environment: the region
/// (`AWS_REGION`), the credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, read by the SDK's environment provider), and the variables of the AWS
/// SDKs that `Config` reads (`AWS_ENDPOINT_URL`, `AWS_USE_FIPS_ENDPOINT`,
/// `AWS_USE_DUALSTACK_ENDPOINT`, `AWS_CA_BUNDLE`). Built directly instead of through
/// `aws_config`'s loader: the loader resolves every setting through a chain of sources (the
/// environment, then the profile files, then IMDS or STS) that a Lambda function never reaches
/// past the environment, and linking those chains cost each bootstrap about 0.7 MiB and a
/// share of its init. What the loader would read beyond this (profile files, per-service
/// endpoint variables, an application name) is not read; without credentials in the
/// environment the function stops at init with this error instead of finding none at its first
/// AWS call. Connect timeout: the SDK's default for the behaviour version, 3.1 s.
pub fn lambda_sdk_config(
    aws: &crate::config::AwsSdkSettings,
    has_credentials: bool,
) -> Result<aws_config::SdkConfig, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let region = aws
        .region
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ConfigError("AWS_REGION is not set (Lambda sets it)".into()))?;
    if !has_credentials {
        return Err(ConfigError(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: the functions read their \
             AWS credentials from the environment, where Lambda puts them"
                .into(),
        ));
    }
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ))
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
        .time_source(aws_smithy_async::time::SharedTimeSource::default())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(3100))
                .build(),
        )
        .use_fips(aws.use_fips)
        .use_dual_stack(aws.use_dual_stack)
        .http_client(crate::aws_http::https_client(&aws.trust));
    if let Some(url) = &aws.endpoint_url {
        sdk = sdk.endpoint_url(url);
    }
    Ok(sdk.build())
}

/// `sdk` with the function's retry and timeout settings: standard retries (throttling, 5xx and
/// timeouts, with jittered backoff) up to `max_attempts`, and each attempt cut off after
/// `attempt_timeout`, so a lost answer costs one retry instead of the whole invocation. Unless
/// `sdk` names an HTTP client, its service clients share one (`aws_http::https_client`: the
/// SDK's, trusting `aws.trust`, its certificates parsed once instead of once per service client).
pub fn tuned(
    sdk: &aws_config::SdkConfig,
    aws: &crate::config::AwsSdkSettings,
) -> aws_config::SdkConfig {
    let mut builder = sdk.to_builder();
    if sdk.http_client().is_none() {
        builder.set_http_client(Some(crate::aws_http::https_client(&aws.trust)));
    }
    builder
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(aws.max_attempts),
        )
        .timeout_config(
            // Keeps the connect timeout the behaviour version gives.
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(aws.attempt_timeout)
                .take_unset_from(
                    sdk.timeout_config()
                        .map(|t| t.to_builder())
                        .unwrap_or_default(),
                )
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> crate::config::AwsSdkSettings {
        crate::config::AwsSdkSettings {
            region: Some("eu-north-1".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_functions_aws_configuration_is_what_lambda_puts_in_its_environment() {
        let sdk = lambda_sdk_config(&settings(), true).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-north-1"));
        assert_eq!(
            sdk.behavior_version(),
            Some(aws_config::BehaviorVersion::latest())
        );
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.sleep_impl().is_some() && sdk.time_source().is_some());
        assert!(sdk.http_client().is_some());
        assert_eq!(sdk.endpoint_url(), None);
        assert_eq!(sdk.use_fips(), Some(false));
        assert_eq!(
            sdk.timeout_config().and_then(|t| t.connect_timeout()),
            Some(Duration::from_millis(3100)),
            "the SDK's default connect timeout"
        );
        // Service clients build over it (the SDK panics on a configuration it cannot use).
        let tuned = tuned(&sdk, &settings());
        let _ = aws_sdk_dynamodb::Client::new(&tuned);
        let _ = aws_sdk_sqs::Client::new(&tuned);

        let emulator = crate::config::AwsSdkSettings {
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            use_fips: true,
            use_dual_stack: true,
            ..settings()
        };
        let sdk = lambda_sdk_config(&emulator, true).unwrap();
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(sdk.use_fips(), Some(true));
        assert_eq!(sdk.use_dual_stack(), Some(true));
    }

    #[test]
    fn without_region_or_credentials_a_function_stops_at_init_saying_which() {
        let no_region = crate::config::AwsSdkSettings {
            region: None,
            ..settings()
        };
        let e = lambda_sdk_config(&no_region, true).unwrap_err();
        assert!(e.0.contains("AWS_REGION"), "{e}");
        let e = lambda_sdk_config(&settings(), false).unwrap_err();
        assert!(e.0.contains("AWS_ACCESS_KEY_ID"), "{e}");
    }

    #[test]
    fn every_aws_client_retries_and_times_out_as_configured() {
        let sdk = aws_config::SdkConfig::builder()
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(3100))
                    .build(),
            )
            .build();
        let aws = crate::config::AwsSdkSettings {
            attempt_timeout: Duration::from_millis(1500),
            ..settings()
        };
        let t = tuned(&sdk, &aws);
        assert_eq!(t.retry_config().map(|r| r.max_attempts()), Some(5));
        assert_eq!(
            t.timeout_config()
                .and_then(|c| c.operation_attempt_timeout()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            t.timeout_config().and_then(|c| c.connect_timeout()),
            Some(Duration::from_millis(3100)),
            "the connect timeout is kept"
        );
    }
}
