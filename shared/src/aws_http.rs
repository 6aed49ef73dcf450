//! The AWS SDK's HTTPS client, without its certificate load at client construction.
//!
//! The SDK's default client (hyper 1, rustls with aws-lc) loads and parses every root
//! certificate of the system when a service client is *built*
//! (`HttpClient::validate_base_client_config`), so that the first request does not pay for it.
//! It does so once per service client and throws the result away; the connector the first
//! request uses parses them again. A function builds three clients (DynamoDB, Secrets Manager,
//! SQS) before it asks for its first event: three parses of the whole CA bundle, the largest
//! part of init after the process start (bench/cold-start/README.md, "The floor").
//!
//! [`https_client`] is the same client (same TLS provider, connector settings, sleep and proxy
//! from the environment) whose validation does nothing: the certificates are loaded by the first
//! request, once, when the connector for its settings is built and cached.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;

/// The SDK's default HTTPS client with its certificates loaded on first use.
pub fn https_client() -> SharedHttpClient {
    // As aws-smithy-runtime's `default_https_client` builds it for the current behaviour
    // version (proxy settings from the environment).
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    });
    DeferredValidation(inner).into_shared()
}

/// Delegates everything but `validate_base_client_config` (the default: nothing to check).
#[derive(Debug)]
struct DeferredValidation(SharedHttpClient);

impl HttpClient for DeferredValidation {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
