//! The HTTPS client of every AWS SDK client of a context: the SDK's own client, built with the
//! SDK's own settings, trusting Amazon's roots only, its certificates parsed once.
//!
//! **Whom it trusts.** Every AWS service endpoint's certificate is issued by Amazon Trust
//! Services (DynamoDB, Secrets Manager, SQS and KMS among the first services moved to it), whose
//! chains end at Amazon Root CA 1–4 or, cross-signed, at Starfield Services Root CA G2. The
//! SDK's default trusts the whole system store instead (about 140 roots, any of which could issue
//! a certificate for `dynamodb.eu-north-1.amazonaws.com`). Here the AWS clients trust those five
//! roots (`aws_roots.pem`, with their fingerprints), and nothing else unless `AWS_CA_BUNDLE`
//! names a bundle (the variable the AWS CLI and the other SDKs honour; for a TLS-inspecting proxy
//! or an emulator behind TLS, and for the tests). The provider clients (`crate::http`) keep the
//! system store: Fortnox and Visma choose their own CAs.
//!
//! **Parsed once, built when asked.** Building a service client runs its HTTP client's
//! `validate_base_client_config`, which in aws-smithy-http-client 1.5 builds a throw-away
//! connector "so that native certs load at client initialization time instead of upon first
//! request", and checks nothing else. With no client in the `SdkConfig`, each service client gets
//! a default client of its own: a function building three (DynamoDB, Secrets Manager, SQS) parsed
//! the whole CA bundle three times at init, and once more at the first request of each service.
//! [`https_client`] is one client for all of them (set on the `SdkConfig` by
//! `context::lambda_sdk_config`, or by `context::tuned` when a configuration built elsewhere has
//! none), whose connector cache the services share (it is keyed by the timeout settings, the same
//! for all of ours). Its validation builds nothing ([`NoThrowAwayConnector`]): the connector the
//! first request needs is built then, from a trust store already checked (the embedded roots by
//! a test, an `AWS_CA_BUNDLE` when the configuration is read), so a connector built at init would
//! only be thrown away. One client per context, not per process: its pool's connections belong
//! to the tokio runtime that opened them, and tests run a runtime each.
//!
//! The connector is built as aws-smithy-runtime's `default_https_client` builds it for the
//! current behaviour version (hyper 1, rustls with aws-lc and the SDK's cipher suites, proxy
//! settings from the environment, the runtime's sleep), with the trust store as the one change.
//! `tests/tests/lambda_processes/tls.rs` runs a function over HTTPS with it.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;
use rustls::pki_types::{pem::PemObject, CertificateDer};
use std::sync::{Arc, OnceLock};

/// Amazon Trust Services' roots (Amazon Root CA 1–4, Starfield Services Root CA G2).
const AMAZON_ROOTS: &[u8] = include_bytes!("aws_roots.pem");

/// The roots the AWS clients trust.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AwsTrust {
    /// Amazon Trust Services' five roots: what every AWS endpoint chains to.
    #[default]
    AmazonRoots,
    /// The certificates of the bundle `AWS_CA_BUNDLE` names, and no others.
    Bundle {
        /// Where the bundle was read from.
        path: String,
        /// Its PEM text, checked: at least one certificate, each one usable as a root.
        pem: Arc<[u8]>,
    },
}

impl AwsTrust {
    /// Reads and checks the PEM bundle at `path`.
    pub fn from_file(path: &str) -> Result<AwsTrust, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let count = checked_roots(&pem).map_err(|e| format!("{path}: {e}"))?;
        tracing::info!(
            path,
            certificates = count,
            "AWS clients trust AWS_CA_BUNDLE's roots"
        );
        Ok(AwsTrust::Bundle {
            path: path.to_string(),
            pem: pem.into(),
        })
    }

    fn pem(&self) -> &[u8] {
        match self {
            AwsTrust::AmazonRoots => AMAZON_ROOTS,
            AwsTrust::Bundle { pem, .. } => pem,
        }
    }
}

/// The number of certificates in `pem`, after checking that each is one rustls takes as a root
/// (the connector would otherwise panic on it).
fn checked_roots(pem: &[u8]) -> Result<usize, String> {
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = cert.map_err(|e| format!("certificate {} is not valid PEM: {e:?}", i + 1))?;
        roots
            .add(cert)
            .map_err(|e| format!("certificate {} cannot be a root: {e}", i + 1))?;
    }
    match roots.len() {
        0 => Err("no certificate in it".into()),
        n => Ok(n),
    }
}

/// One HTTPS client for the AWS service clients of a context, trusting `trust`, its connector
/// built by the first request.
pub fn https_client(trust: &AwsTrust) -> SharedHttpClient {
    let tls_context = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(trust.pem()),
        )
        .build()
        .expect("a TLS context without extra server names builds");
    let inner = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls_context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    NoThrowAwayConnector(inner).into_shared()
}

/// A service client built by its first use, not with the context: a function whose requests
/// never reach Secrets Manager or SQS does not build (nor set up the endpoint rules of) those
/// clients at every cold start. Clones share the client.
pub struct OnFirstUse<C> {
    client: Arc<OnceLock<C>>,
    make: Arc<dyn Fn() -> C + Send + Sync>,
}

impl<C> OnFirstUse<C> {
    /// A client `make` builds when it is first asked for.
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        OnFirstUse {
            client: Arc::new(OnceLock::new()),
            make: Arc::new(make),
        }
    }

    /// Whether the client has been built.
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

impl<C> Clone for OnFirstUse<C> {
    fn clone(&self) -> Self {
        OnFirstUse {
            client: self.client.clone(),
            make: self.make.clone(),
        }
    }
}

impl<C> std::ops::Deref for OnFirstUse<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.client.get_or_init(|| (self.make)())
    }
}

/// An already built client.
impl<C: Clone + Send + Sync + 'static> From<C> for OnFirstUse<C> {
    fn from(client: C) -> Self {
        let built = OnFirstUse::new({
            let client = client.clone();
            move || client.clone()
        });
        let _ = built.client.set(client);
        built
    }
}

impl<C> std::fmt::Debug for OnFirstUse<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnFirstUse")
            .field("built", &self.is_built())
            .finish()
    }
}

/// Delegates everything to the SDK's client but its validation, which would build a connector
/// and drop it (see the module's documentation): the first request builds the one it uses.
#[derive(Debug)]
struct NoThrowAwayConnector(SharedHttpClient);

impl HttpClient for NoThrowAwayConnector {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// An SDK HTTP client that counts what it is asked for.
    #[derive(Debug, Default)]
    struct Counting {
        validations: AtomicUsize,
        connectors: AtomicUsize,
    }

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            s: &HttpConnectorSettings,
            c: &RuntimeComponents,
        ) -> SharedHttpConnector {
            self.connectors.fetch_add(1, Ordering::SeqCst);
            https_client(&AwsTrust::AmazonRoots).http_connector(s, c)
        }

        fn validate_base_client_config(
            &self,
            _: &RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            // What the SDK's hyper client does here: build a connector and drop it.
            self.validations.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        fn connector_metadata(&self) -> Option<ConnectorMetadata> {
            Some(ConnectorMetadata::new("counting", None))
        }
    }

    #[tokio::test]
    async fn building_service_clients_builds_no_connector_and_a_request_builds_one() {
        let inner = Arc::new(Counting::default());
        let client = NoThrowAwayConnector(SharedHttpClient::new(SharedCounting(inner.clone())));
        assert_eq!(
            client.connector_metadata().map(|m| m.name().to_string()),
            Some("counting".to_string())
        );
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-north-1"))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"),
            ))
            .endpoint_url("http://127.0.0.1:1")
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(client)
            .build();
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let _secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let _sqs = aws_sdk_sqs::Client::new(&sdk);
        // The SDK validates the client as it builds each service client (where the SDK's own
        // client builds a connector it drops): none of that reaches it now.
        assert_eq!(inner.validations.load(Ordering::SeqCst), 0);
        assert_eq!(inner.connectors.load(Ordering::SeqCst), 0);
        // A request asks for the connector it uses (nothing listens on port 1: refused).
        let sent = dynamodb.list_tables().send().await;
        assert!(sent.is_err());
        assert_eq!(inner.connectors.load(Ordering::SeqCst), 1);
        assert_eq!(inner.validations.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_client_is_a_hyper_client_of_the_sdk() {
        let client = https_client(&AwsTrust::AmazonRoots);
        let metadata = client
            .connector_metadata()
            .expect("the SDK's client names itself");
        assert_eq!(metadata.name(), "hyper");
        assert_eq!(metadata.version().as_deref(), Some("1.x"));
    }

    #[test]
    fn amazons_five_roots_are_embedded_and_usable() {
        assert_eq!(checked_roots(AMAZON_ROOTS), Ok(5));
        let text = std::str::from_utf8(AMAZON_ROOTS).unwrap();
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(text.contains(name), "{name}");
        }
    }

    #[test]
    fn a_bundle_is_read_and_a_bad_one_is_refused_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("aws-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.pem");
        std::fs::write(&good, AMAZON_ROOTS).unwrap();
        let trust = AwsTrust::from_file(good.to_str().unwrap()).unwrap();
        assert_eq!(trust.pem(), AMAZON_ROOTS);

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "# nothing\n").unwrap();
        let e = AwsTrust::from_file(empty.to_str().unwrap()).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");

        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = AwsTrust::from_file(broken.to_str().unwrap()).unwrap_err();
        assert!(e.contains("certificate 1 cannot be a root"), "{e}");

        let e = AwsTrust::from_file(dir.join("missing.pem").to_str().unwrap()).unwrap_err();
        assert!(e.starts_with("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_client_on_first_use_is_built_once_at_its_first_use_and_shared_by_clones() {
        let made = Arc::new(AtomicUsize::new(0));
        let lazy = OnFirstUse::new({
            let made = made.clone();
            move || made.fetch_add(1, Ordering::SeqCst) + 100
        });
        let twin = lazy.clone();
        assert!(!lazy.is_built());
        assert_eq!(
            made.load(Ordering::SeqCst),
            0,
            "nothing is built before it is used"
        );
        assert_eq!(*twin, 100);
        assert_eq!(*lazy, 100);
        assert!(lazy.is_built());
        assert_eq!(made.load(Ordering::SeqCst), 1);
        let ready = OnFirstUse::from(7_u32);
        assert!(ready.is_built());
        assert_eq!(*ready, 7);
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
