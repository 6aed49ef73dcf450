//! One HTTPS client for every AWS SDK client of a container: the SDK's own, its root
//! certificates parsed once instead of at every client's construction.
//!
//! When an `SdkConfig` names no HTTP client, each service client built from it gets a new
//! default client of its own (`default_http_client_plugin_v2` in aws-smithy-runtime: hyper 1,
//! rustls with aws-lc, proxy settings from the environment), and building a service client runs
//! that client's `validate_base_client_config`, which builds a throw-away connector "so that
//! native certs load at client initialization time instead of upon first request"
//! (aws-smithy-http-client). A function builds three service clients (DynamoDB, Secrets Manager,
//! SQS) before it asks for its first event: three parses of the whole CA bundle at init, and one
//! more at the first request of each service, whose client caches the connector it then builds.
//!
//! [`https_client`] takes that very default client from the SDK's plugin (nothing of it is
//! rebuilt here) and wraps it so that its validation runs once. Set on the `SdkConfig` (see
//! `context::tuned`), the service clients of a context share it: the certificates are parsed once
//! at init as the SDK intends, and once for the connector every service then shares (the
//! connector cache is keyed by the timeout settings, the same for all of ours). TLS, pooling,
//! timeouts and proxying are the SDK's. One client per context, not per process: its pool's
//! connections belong to the tokio runtime that opened them, and tests run a runtime each.

use aws_config::BehaviorVersion;
use aws_smithy_runtime::client::defaults::default_http_client_plugin_v2;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::OnceLock;

/// A new default HTTPS client of the SDK (latest behaviour version), validated once, to be shared
/// by the service clients of one context. `None` only if the SDK was built without its default
/// HTTPS client (then each service client keeps whatever the SDK picks).
pub fn https_client() -> Option<SharedHttpClient> {
    sdk_default_client().map(|inner| ValidatedOnce::new(inner).into_shared())
}

/// The client the SDK's default-client plugin would give a service client.
fn sdk_default_client() -> Option<SharedHttpClient> {
    let plugin = default_http_client_plugin_v2(BehaviorVersion::latest())?;
    plugin
        .runtime_components(&RuntimeComponentsBuilder::new("shared_https_client"))
        .http_client()
}

/// Delegates everything to the SDK's client; its validation (the certificate load) runs for the
/// first service client only.
#[derive(Debug)]
struct ValidatedOnce {
    inner: SharedHttpClient,
    validated: OnceLock<()>,
}

impl ValidatedOnce {
    fn new(inner: SharedHttpClient) -> Self {
        Self {
            inner,
            validated: OnceLock::new(),
        }
    }
}

impl HttpClient for ValidatedOnce {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        if self.validated.get().is_some() {
            return Ok(());
        }
        // A failed validation is not remembered: the next client's construction tries again.
        self.inner.validate_base_client_config(components, cfg)?;
        let _ = self.validated.set(());
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Debug, Default)]
    struct Counting {
        validations: AtomicUsize,
        fail_first: bool,
    }

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("not asked for a connector here")
        }

        fn validate_base_client_config(
            &self,
            _: &RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            let n = self.validations.fetch_add(1, Ordering::SeqCst);
            if self.fail_first && n == 0 {
                return Err("no certificates".into());
            }
            Ok(())
        }

        fn connector_metadata(&self) -> Option<ConnectorMetadata> {
            Some(ConnectorMetadata::new("counting", None))
        }
    }

    fn validate(client: &ValidatedOnce) -> Result<(), BoxError> {
        client
            .validate_base_client_config(&RuntimeComponentsBuilder::new("test"), &ConfigBag::base())
    }

    #[test]
    fn the_inner_client_is_validated_once_however_many_service_clients_are_built() {
        let inner = Arc::new(Counting::default());
        let client = ValidatedOnce::new(SharedHttpClient::new(SharedCounting(inner.clone())));
        for _ in 0..3 {
            validate(&client).unwrap();
        }
        assert_eq!(inner.validations.load(Ordering::SeqCst), 1);
        assert_eq!(
            client.connector_metadata().map(|m| m.name().to_string()),
            Some("counting".to_string())
        );
    }

    #[test]
    fn a_failed_validation_is_reported_and_tried_again() {
        let inner = Arc::new(Counting {
            fail_first: true,
            ..Counting::default()
        });
        let client = ValidatedOnce::new(SharedHttpClient::new(SharedCounting(inner.clone())));
        assert!(validate(&client).is_err());
        validate(&client).unwrap();
        validate(&client).unwrap();
        assert_eq!(inner.validations.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn three_service_clients_over_one_config_validate_it_once() {
        let inner = Arc::new(Counting::default());
        let client = ValidatedOnce::new(SharedHttpClient::new(SharedCounting(inner.clone())));
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-north-1"))
            .http_client(client)
            .build();
        let _dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let _secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let _sqs = aws_sdk_sqs::Client::new(&sdk);
        // The SDK validates the client as it builds each service client (that is where the
        // certificates were parsed three times); once is what reaches the SDK's client now.
        assert_eq!(inner.validations.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_client_is_the_sdks_own_hyper_client() {
        let client = https_client().expect("the SDK is built with its default HTTPS client");
        let metadata = client
            .connector_metadata()
            .expect("the SDK's client names itself");
        assert_eq!(metadata.name(), "hyper");
        assert_eq!(metadata.version().as_deref(), Some("1.x"));
    }

    /// `Arc<Counting>` as an `HttpClient`, so the test keeps a handle on the counter.
    #[derive(Debug)]
    struct SharedCounting(Arc<Counting>);

    impl HttpClient for SharedCounting {
        fn http_connector(
            &self,
            s: &HttpConnectorSettings,
            c: &RuntimeComponents,
        ) -> SharedHttpConnector {
            self.0.http_connector(s, c)
        }

        fn validate_base_client_config(
            &self,
            b: &RuntimeComponentsBuilder,
            cfg: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.validate_base_client_config(b, cfg)
        }

        fn connector_metadata(&self) -> Option<ConnectorMetadata> {
            self.0.connector_metadata()
        }
    }
}
