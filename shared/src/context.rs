//! What a function builds once per container and hands to every invocation.

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
        let sdk = aws_config::load_from_env().await;
        Ok(Self::new(config, &sdk))
    }

    /// Builds the context over an explicit AWS configuration.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        Self::new_with_dynamodb(config, sdk, aws_sdk_dynamodb::Client::new(sdk))
    }

    /// Builds the context with a prepared DynamoDB client (benchmarks count its calls).
    pub fn new_with_dynamodb(
        config: Config,
        sdk: &aws_config::SdkConfig,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        // Built by the first provider call, not here: see `LazyClient`.
        let http = LazyClient::new(config.provider_timeout);
        let db = Db::new(dynamodb, config.table_name.clone());
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
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
        let queue = Queue::new(aws_sdk_sqs::Client::new(sdk), config.sync.queue_url.clone());
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
