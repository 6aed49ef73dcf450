//! Fortnox and Visma eAccounting simulators that behave as the providers document
//! (`docs/providers.md`), for tests and the local devstack.
//!
//! Tests call [`start`] with [`SandboxConfig::with_defaults`] and point the product at
//! `{base_url}/fortnox` (`FORTNOX_AUTH_URL`, `FORTNOX_API_URL`) and `{base_url}/visma`
//! (`VISMA_IDENTITY_URL`, `VISMA_API_URL`). Routes:
//!
//! | route | what |
//! |---|---|
//! | `GET /fortnox/oauth-v1/auth` | authorize: consent page, or an error redirect / page |
//! | `POST /fortnox/oauth-v1/auth/consent` | the user's decision: 302 with `code` or `error` |
//! | `POST /fortnox/oauth-v1/token` | `authorization_code`, `refresh_token`, `client_credentials` |
//! | `POST /fortnox/oauth-v1/revoke` | revoke a refresh token: `{"revoked": true}` |
//! | `GET /fortnox/3/companyinformation` | `{"CompanyInformation": …}` |
//! | `GET /visma/connect/authorize` | authorize: consent page, or an error redirect / page |
//! | `POST /visma/connect/consent` | the user's decision: 302 with `code` or `error` |
//! | `POST /visma/connect/token` | `authorization_code`, `refresh_token` |
//! | `POST /visma/connect/revocation` | revoke a refresh token (404 when switched off) |
//! | `GET /visma/v2/companysettings` | company settings |
//! | `GET\|POST /fortnox/3/customers`, `GET\|PUT\|DELETE /fortnox/3/customers/{n}` | customers |
//! | `GET\|POST /fortnox/3/invoices`, `GET\|PUT /fortnox/3/invoices/{n}` | invoices |
//! | `PUT /fortnox/3/invoices/{n}/bookkeep`, `…/cancel`, `…/credit` | invoice actions |
//! | `GET\|POST /fortnox/3/articles`, `GET\|PUT\|DELETE /fortnox/3/articles/{n}` | articles |
//! | `GET\|POST /fortnox/3/projects`, `GET\|PUT\|DELETE /fortnox/3/projects/{n}` | projects |
//! | `GET\|POST /fortnox/3/costcenters`, `GET\|PUT\|DELETE /fortnox/3/costcenters/{code}` | cost centres |
//! | `GET /fortnox/3/invoices/{n}/email`, `…/einvoice`, `…/eprint`, `…/print`, `…/preview` | sends and PDFs |
//! | `GET\|POST /visma/v2/customers`, `GET\|PUT\|DELETE /visma/v2/customers/{id}` | customers |
//! | `GET /visma/v2/termsofpayments[/{id}]`, `…/articleaccountcodings[/{id}]`, `…/units[/{id}]` | lookups |
//! | `GET\|POST /visma/v2/articles`, `GET\|PUT /visma/v2/articles/{id}` | articles |
//! | `GET\|POST /visma/v2/projects`, `GET\|PUT /visma/v2/projects/{id}` | projects |
//! | `GET /visma/v2/costcenters`, `PUT …/costcenters/{id}`, `POST /visma/v2/costcenteritems`, `GET\|PUT …/costcenteritems/{id}` | cost centres |
//! | `GET\|POST /visma/v2/customerinvoicedrafts`, `GET\|PUT\|DELETE …/{id}`, `POST …/{id}/convert` | drafts |
//! | `GET\|POST /visma/v2/customerinvoices`, `GET /visma/v2/customerinvoices/{id}` | invoices |
//! | `POST /visma/v2/customerinvoices/{id}/email`, `…/einvoice`, `GET …/print`, `…/pdf` | sends and PDFs |
//! | `GET /_sandbox/token-requests`, `/_sandbox/requests`, `/_sandbox/revocations` | records |
//! | `POST /_sandbox/expire-access-tokens`, `/_sandbox/clear-records` | test controls |
//! | `GET\|POST /_sandbox/faults`, `GET /_sandbox/faults-injected` | fault injection |
//! | `GET /_sandbox/contract-violations`, `GET /_sandbox/rate-limited` | records |
//! | `GET /_sandbox/{provider}/customers`, `…/invoices`, `…/articles`, `…/projects`, `…/costcenters`, `POST …/seed-customers` | data |
//! | `GET /fortnox/topics-v1` (WebSocket) | Fortnox's change stream ([`StreamEvent`]) |
//!
//! Every REST request (`/fortnox/3/…`, `/visma/v2/…`) passes, outermost first: the contract
//! check, fault injection ([`FaultConfig`]), the provider's rate limit, then the handler.
//! The token and revocation endpoints take faults of their own ([`OAuthFaults`], the `oauth`
//! field of the same configuration): 500s, slow answers and dropped connections before the
//! request is handled, and answers lost after it was (a refresh rotated, the client told a 500,
//! nothing, or too late). Every injected fault is listed by `faults-injected`.
//!
//! The contract check is always on: each request (its operation and body) and each response
//! (status and body) is validated against the provider's own OpenAPI document in
//! `contracts/` ([`FORTNOX_CONTRACT`], [`VISMA_CONTRACT`], or the files named in
//! [`SandboxConfig::contracts`]); violations are recorded, never refused, and listed by
//! [`SandboxState::contract_violations`] and `GET /_sandbox/contract-violations`.
//! [`RunningSandbox::assert_contracts_kept`] fails a test with a grouped report
//! ([`violation_report`]); [`Contract`] validates bodies directly.
//!
//! A client registered without redirect URIs (the defaults) accepts any
//! `http://127.0.0.1:<port>/…` or `http://localhost:<port>/…` redirect URI, since test
//! callbacks listen on random ports; registered URIs are compared exactly.
//!
//! Neither tokens, codes nor secrets are logged; [`token_fingerprint`] names them.

// `json!` literals of whole Fortnox records nest deeper than the default allows.
#![recursion_limit = "512"]

mod browser;
mod clock;
mod config;
mod consent;
mod contract;
mod faults;
pub mod fortnox;
mod inspect;
mod lenient;
mod oauth;
mod pdf;
mod provider;
mod ratelimit;
mod rest;
mod seed;
mod server;
mod state;
mod state_registers;
mod store;
mod stream;
pub mod visma;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use chrono::Utc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use browser::{consent_client, give_consent, give_consent_for_company};
pub use config::{
    ClientRegistration, Company, ContractFiles, SandboxConfig, DEFAULT_FORTNOX_CLIENT_ID,
    DEFAULT_FORTNOX_CLIENT_SECRET, DEFAULT_VISMA_CLIENT_ID, DEFAULT_VISMA_CLIENT_SECRET,
};
pub use contract::{
    fortnox_contract, load_contract, violation_report, visma_contract, Contract, ContractError,
    ContractViolation, Direction, FORTNOX_CONTRACT, VISMA_CONTRACT,
};
pub use faults::{FaultConfig, FaultKind, InjectedFault, OAuthFaults, LOST_AFTER_ROTATION};
pub use provider::ProviderKind;
pub use ratelimit::{FORTNOX_RATE_LIMIT, FORTNOX_RATE_WINDOW, VISMA_RATE_LIMIT, VISMA_RATE_WINDOW};
pub use state::{
    token_fingerprint, RequestRecord, RevocationRecord, SandboxState, SendRecord,
    TokenRequestRecord,
};
pub use stream::{StreamEvent, StreamFaults, TOPICS as STREAM_TOPICS};

/// What can go wrong starting the sandbox or driving its consent page.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listening socket could not be opened.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// Address that was asked for.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
    /// An HTTP request of [`give_consent`] failed.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The provider answered [`give_consent`] with an unexpected status.
    #[error("unexpected HTTP status {status} from {url}: {body}")]
    UnexpectedStatus {
        /// HTTP status.
        status: u16,
        /// Path that answered.
        url: String,
        /// Response body (HTML error page or JSON).
        body: String,
    },
    /// The consent page could not be read or used.
    #[error("consent: {0}")]
    Consent(String),
    /// A contract document of `SandboxConfig::contracts` could not be loaded.
    #[error("OpenAPI contract: {0}")]
    Contract(#[from] ContractError),
}

/// A sandbox serving on a loopback port; dropping it or calling [`shutdown`](Self::shutdown)
/// stops the server.
#[derive(Debug)]
pub struct RunningSandbox {
    /// `http://<addr>`, without a trailing slash.
    pub base_url: String,
    /// The address actually bound.
    pub addr: SocketAddr,
    /// Shared state, for inspection and test controls.
    pub state: Arc<SandboxState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// `{base_url}/fortnox`: the product's `FORTNOX_AUTH_URL` and `FORTNOX_API_URL`.
    pub fn fortnox_url(&self) -> String {
        format!("{}/fortnox", self.base_url)
    }

    /// `{base_url}/visma`: the product's `VISMA_IDENTITY_URL` and `VISMA_API_URL`.
    pub fn visma_url(&self) -> String {
        format!("{}/visma", self.base_url)
    }

    /// Panics, listing the violations grouped by operation ([`violation_report`]), when any
    /// request or response so far broke a provider's contract. Test harnesses call it when a
    /// test ends (devstack's `Stack` does on drop).
    #[track_caller]
    pub fn assert_contracts_kept(&self) {
        let violations = self.state.contract_violations();
        assert!(
            violations.is_empty(),
            "the providers' OpenAPI contracts were broken (GET {}/_sandbox/contract-violations \
             lists them):\n{}",
            self.base_url,
            violation_report(&violations)
        );
    }

    /// The grouped report of the violations recorded so far (empty when there are none): for
    /// a harness to print when a test fails for another reason.
    pub fn contract_report(&self) -> String {
        violation_report(&self.state.contract_violations())
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.state.close_streams();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until the server task ends (for the binary: that is, forever).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.state.close_streams();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `config.bind` and serves the sandbox on a background task.
pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
    let requested = config.bind;
    let bind_error = |source| SandboxError::Bind {
        addr: requested,
        source,
    };
    let listener = tokio::net::TcpListener::bind(requested)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let state = Arc::new(SandboxState::try_new(config)?);
    let app = router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, app, rx));
    tracing::info!(%addr, "sandbox listening");
    Ok(RunningSandbox {
        base_url: format!("http://{addr}"),
        addr,
        state,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// The whole sandbox as one router over `state`, for embedding in another server.
pub fn router(state: Arc<SandboxState>) -> Router {
    Router::new()
        .nest("/fortnox", fortnox::router())
        .nest("/visma", visma::router())
        .nest("/_sandbox", inspect::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rest::rest_layer,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            oauth::oauth_fault_layer,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ))
        .with_state(state)
}

/// Records every request under a provider prefix; logs method, path and status only (never
/// the query, which may carry codes).
async fn record_request(
    State(state): State<Arc<SandboxState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let full_path = request.uri().path().to_string();
    // Only REST queries are kept: OAuth queries may carry codes and state.
    let query = rest::rest_target(&full_path)
        .and(request.uri().query())
        .map(str::to_string);
    let response = next.run(request).await;
    let status = if response
        .extensions()
        .get::<faults::DropConnection>()
        .is_some()
    {
        0
    } else {
        response.status().as_u16()
    };
    tracing::debug!(%method, path = %full_path, status, "served");
    let provider_path = [ProviderKind::Fortnox, ProviderKind::Visma]
        .into_iter()
        .find_map(|p| {
            let rest = full_path.strip_prefix('/')?.strip_prefix(p.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (p, rest.to_string()))
        });
    if let Some((provider, path)) = provider_path {
        state.record_request(RequestRecord {
            provider,
            method,
            path: if path.is_empty() {
                "/".to_string()
            } else {
                path
            },
            query,
            status,
            at: Utc::now(),
        });
    }
    response
}
