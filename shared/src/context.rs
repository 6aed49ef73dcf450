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
    /// Builds the context from the environment and the default AWS configuration (which honours
    /// `AWS_ENDPOINT_URL`, so the same code runs against AWS or a local emulator).
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let config = Config::from_env()?;
        // template.yaml names Amazon Linux 2023's CA bundle; should a runtime ever move it, every
        // HTTPS call would fail with a certificate error: say why, once, at the start.
        if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
            if !std::path::Path::new(&path).is_file() {
                tracing::error!(path = ?path, "SSL_CERT_FILE names no file: TLS has no root certificates");
            }
        }
        // The loader's own clients get the context's HTTPS client as well: with the SDK's default
        // one, the STS client it builds for web identity parsed the whole system CA bundle at
        // every cold start.
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws_http::https_client(&config.aws.trust));
        // Lambda hands the function's credentials over in the environment (AWS_ACCESS_KEY_ID,
        // AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the first source the default chain asks.
        // Naming that source spares building the rest of the chain (STS for web identity, ECS,
        // IMDS) at every cold start; without those variables the default chain is used.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
            loader = loader.credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
        }
        // Likewise Lambda sets AWS_REGION, the default region chain's first source: naming it
        // spares building the chain's profile and IMDS providers (an IMDS client) at every start.
        if let Some(region) = std::env::var("AWS_REGION")
            .ok()
            .filter(|r| !r.trim().is_empty())
        {
            loader = loader.region(aws_config::Region::new(region));
        }
        Ok(Self::new(config, &loader.load().await))
    }

    /// Builds the context over an explicit AWS configuration.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let sdk = tuned(sdk, &config.aws);
        Self::new_with_dynamodb(config, &sdk, aws_sdk_dynamodb::Client::new(&sdk))
    }

    /// Builds the context with a prepared DynamoDB client (benchmarks count its calls).
    pub fn new_with_dynamodb(
        config: Config,
        sdk: &aws_config::SdkConfig,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let sdk = &tuned(sdk, &config.aws);
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
            max_attempts: 5,
            trust: Default::default(),
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
