//! The outbound HTTPS client, built on first use.
//!
//! Building a `reqwest` client with rustls loads and parses every root certificate of the
//! system, and the AWS SDK's own client does the same once more. Most functions (status,
//! records, sync, webhook, watchdog…) never call a provider, so building this client at init
//! would cost them that second load for nothing: bench/cold-start measured it as about a third
//! of init CPU. The client is built by the first provider call instead and kept for the life
//! of the container; clones share it.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A cheaply cloned handle to one `reqwest::Client`, built the first time it is used.
#[derive(Clone)]
pub struct LazyClient {
    inner: Arc<Inner>,
}

struct Inner {
    timeout: Duration,
    connect_timeout: Duration,
    client: OnceLock<reqwest::Client>,
}

impl LazyClient {
    /// A client with a whole-request `timeout` and a 5-second connect timeout.
    pub fn new(timeout: Duration) -> Self {
        LazyClient {
            inner: Arc::new(Inner {
                timeout,
                connect_timeout: Duration::from_secs(5),
                client: OnceLock::new(),
            }),
        }
    }

    /// Whether the client has been built yet (a cold start that made no provider call has not).
    pub fn is_built(&self) -> bool {
        self.inner.client.get().is_some()
    }

    fn client(&self) -> &reqwest::Client {
        self.inner.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.inner.timeout)
                .connect_timeout(self.inner.connect_timeout)
                .user_agent(concat!(
                    "accounting-integrations/",
                    env!("CARGO_PKG_VERSION")
                ))
                .build()
                // Fails only when the TLS backend cannot start at all (no crypto provider):
                // nothing a retry or the caller could mend, and true of every request alike.
                .expect("the HTTPS client could not be built (TLS backend)")
        })
    }
}

impl From<reqwest::Client> for LazyClient {
    /// An already built client (tests with their own settings).
    fn from(client: reqwest::Client) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client);
        LazyClient {
            inner: Arc::new(Inner {
                timeout: Duration::ZERO,
                connect_timeout: Duration::ZERO,
                client: cell,
            }),
        }
    }
}

impl Deref for LazyClient {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        self.client()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_built_on_first_use_and_shared_by_clones() {
        let lazy = LazyClient::new(Duration::from_secs(3));
        let clone = lazy.clone();
        assert!(!lazy.is_built());
        let first: *const reqwest::Client = &*clone;
        assert!(lazy.is_built(), "a clone's use builds the shared client");
        let second: *const reqwest::Client = &*lazy;
        assert_eq!(first, second);
    }

    #[test]
    fn a_prepared_client_is_used_as_is() {
        let lazy = LazyClient::from(reqwest::Client::new());
        assert!(lazy.is_built());
    }
}
