//! What every REST request (`/fortnox/3/…`, `/visma/v2/…`) goes through, outermost first:
//! the provider's contract check (both providers, always), fault injection, the provider's
//! rate limit, then the handler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;

use crate::contract::{Contract, ContractViolation, Direction};
use crate::faults::{Decision, DropConnection, FaultKind, InjectedFault};
use crate::provider::ProviderKind;
use crate::ratelimit::{
    scaled, FORTNOX_RATE_LIMIT, FORTNOX_RATE_WINDOW, VISMA_RATE_LIMIT, VISMA_RATE_WINDOW,
};
use crate::state::SandboxState;
use crate::{fortnox, oauth, visma};

/// Largest request or response body the contract check buffers.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The provider and provider-side path (`/3/customers`) of a REST request path.
pub(crate) fn rest_target(path: &str) -> Option<(ProviderKind, &str)> {
    let under = |prefix: &str, api: &str| {
        path.strip_prefix(prefix)
            .filter(|rest| *rest == api || rest.starts_with(&format!("{api}/")))
    };
    under("/fortnox", "/3")
        .map(|rest| (ProviderKind::Fortnox, rest))
        .or_else(|| under("/visma", "/v2").map(|rest| (ProviderKind::Visma, rest)))
}

/// Middleware over the whole router; passes non-REST requests straight through.
pub(crate) async fn rest_layer(
    State(state): State<Arc<SandboxState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let Some((provider, api_path)) = rest_target(&path) else {
        return next.run(request).await;
    };
    let api_path = api_path.to_string();
    let method = request.method().clone();
    let contract = state.contract(provider).clone();
    let check = Check {
        state: &state,
        contract: &contract,
        method: &method,
        path: &api_path,
    };
    // An operation the document lacks is one violation, whatever the handler answers; its
    // bodies have no schema to be checked against.
    let operation = match contract.operation_template(method.as_str(), &api_path) {
        Ok(template) => template,
        Err(problem) => {
            check.record(None, Direction::Request, None, vec![problem]);
            return guarded(&state, provider, &method, &api_path, request, next).await;
        }
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    if !bytes.is_empty() {
        let errors = match json(&bytes) {
            Ok(v) => contract
                .validate_request(method.as_str(), &api_path, &v)
                .err(),
            Err(e) => Some(vec![e]),
        };
        if let Some(errors) = errors {
            check.record(Some(&operation), Direction::Request, None, errors);
        }
    }
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = guarded(&state, provider, &method, &api_path, request, next).await;
    if response.extensions().get::<DropConnection>().is_some() {
        return response;
    }
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let errors = contract
        .check_response_bytes(method.as_str(), &api_path, status, &bytes)
        .err();
    if let Some(errors) = errors {
        check.record(Some(&operation), Direction::Response, Some(status), errors);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn json(bytes: &Bytes) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("/: the body is not JSON: {e}"))
}

/// One REST request's contract bookkeeping.
struct Check<'a> {
    state: &'a SandboxState,
    contract: &'a Contract,
    method: &'a Method,
    path: &'a str,
}

impl Check<'_> {
    fn record(
        &self,
        operation: Option<&str>,
        direction: Direction,
        status: Option<u16>,
        errors: Vec<String>,
    ) {
        self.state.record_violation(ContractViolation {
            provider: self.contract.provider(),
            method: self.method.to_string(),
            path: self.path.to_string(),
            operation: operation.map(str::to_string),
            direction,
            status,
            errors,
        });
    }
}

fn server_error(provider: ProviderKind) -> Response {
    match provider {
        ProviderKind::Fortnox => fortnox::system_error(),
        ProviderKind::Visma => visma::server_error(),
    }
}

fn drop_connection(provider: ProviderKind) -> Response {
    let mut response = server_error(provider);
    response.extensions_mut().insert(DropConnection);
    response
}

fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn too_many_requests(provider: ProviderKind, wait: Duration) -> Response {
    match provider {
        ProviderKind::Fortnox => fortnox::too_many_requests(),
        ProviderKind::Visma => visma::too_many_requests(whole_seconds(wait)),
    }
}

/// Visma's rate-limit "endpoint": the first path segment after `/v2/` (`customers`,
/// `customerinvoicedrafts`, …), whatever follows it.
fn visma_endpoint(api_path: &str) -> String {
    api_path
        .trim_start_matches("/v2")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Applies the provider's rate limit to an authenticated request; requests whose token does
/// not authenticate are left to the handler (which answers 401).
fn rate_limit(
    state: &SandboxState,
    provider: ProviderKind,
    api_path: &str,
    request: &Request,
) -> Option<Response> {
    let (grant, company) = oauth::authenticate_bearer(state, provider, request.headers()).ok()?;
    let scale = state.config().time_scale;
    let now = Instant::now();
    let (key, limit, window) = match provider {
        ProviderKind::Fortnox => (
            company.key(provider),
            FORTNOX_RATE_LIMIT,
            scaled(FORTNOX_RATE_WINDOW, scale),
        ),
        ProviderKind::Visma => (
            visma_endpoint(api_path),
            VISMA_RATE_LIMIT,
            scaled(VISMA_RATE_WINDOW, scale),
        ),
    };
    let checked = state
        .rate_limits()
        .check(provider, &grant.client_id, &key, limit, window, now);
    checked.err().map(|wait| too_many_requests(provider, wait))
}

/// Fault injection around the rate limit and the handler.
async fn guarded(
    state: &SandboxState,
    provider: ProviderKind,
    method: &Method,
    api_path: &str,
    request: Request,
    next: Next,
) -> Response {
    let is_write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let (decision, delay) = state.fault_decision(is_write, *method == Method::POST);
    let record = |kind: FaultKind| {
        state.record_fault(InjectedFault {
            provider,
            method: method.to_string(),
            path: api_path.to_string(),
            kind,
            at: Utc::now(),
        });
    };
    if let Decision::Pre(kind) = decision {
        record(kind);
        match kind {
            FaultKind::DropConnection => return drop_connection(provider),
            FaultKind::Error500 => return server_error(provider),
            FaultKind::RateLimited => return too_many_requests(provider, Duration::from_secs(1)),
            _ => tokio::time::sleep(delay).await,
        }
    }
    if let Some(limited) = rate_limit(state, provider, api_path, &request) {
        return limited;
    }
    if let Decision::Late { answer, after } = decision {
        record(FaultKind::LateCommit);
        return late_commit(provider, answer, delay, after, request, next).await;
    }
    let response = next.run(request).await;
    match decision {
        Decision::CommitThen(kind) if response.status().is_success() => {
            record(kind);
            match kind {
                FaultKind::CommitThenError500 => server_error(provider),
                FaultKind::CommitThenDrop => drop_connection(provider),
                _ => {
                    tokio::time::sleep(delay).await;
                    response
                }
            }
        }
        _ => response,
    }
}

/// Fails a create now and applies it `after` the client has given up, apart from the client's
/// connection (a provider still working through a request whose caller saw it fail). The body
/// was read in full before this point, so the request outlives the connection.
async fn late_commit(
    provider: ProviderKind,
    answer: FaultKind,
    hold: Duration,
    after: Duration,
    request: Request,
    next: Next,
) -> Response {
    // Spawned at once, so that a client hanging up (which drops this future) cannot cancel it.
    let commit_in = if answer == FaultKind::Slow {
        hold + after
    } else {
        after
    };
    tokio::spawn(async move {
        tokio::time::sleep(commit_in).await;
        let committed = next.run(request).await;
        tracing::info!(status = %committed.status(), "late commit applied");
    });
    match answer {
        FaultKind::DropConnection => drop_connection(provider),
        FaultKind::Slow => {
            // Held past the client's timeout; the commit comes after the client has left.
            tokio::time::sleep(hold).await;
            server_error(provider)
        }
        _ => server_error(provider),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            rest_target("/fortnox/3/customers"),
            Some((ProviderKind::Fortnox, "/3/customers"))
        );
        assert_eq!(
            rest_target("/visma/v2/customers/x"),
            Some((ProviderKind::Visma, "/v2/customers/x"))
        );
        assert_eq!(rest_target("/fortnox/oauth-v1/token"), None);
        assert_eq!(rest_target("/fortnox/30/x"), None);
        assert_eq!(
            visma_endpoint("/v2/customerinvoicedrafts/abc/convert"),
            "customerinvoicedrafts"
        );
        assert_eq!(whole_seconds(Duration::from_millis(100)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(2100)), 3);
    }
}
