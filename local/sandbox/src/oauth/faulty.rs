//! Fault injection at the token and revocation endpoints ([`crate::faults::OAuthFaults`]):
//! failures before the request is handled (nothing applied) and answers lost after it was
//! (a refresh token rotated, the client told nothing or a 500).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::json;

use crate::faults::{Decision, DropConnection, FaultKind, InjectedFault};
use crate::provider::ProviderKind;
use crate::state::SandboxState;

/// The provider and provider-side path of a token or revocation endpoint.
pub(crate) fn oauth_target(path: &str) -> Option<(ProviderKind, &str)> {
    match path {
        "/fortnox/oauth-v1/token" | "/fortnox/oauth-v1/revoke" => {
            Some((ProviderKind::Fortnox, &path["/fortnox".len()..]))
        }
        "/visma/connect/token" | "/visma/connect/revocation" => {
            Some((ProviderKind::Visma, &path["/visma".len()..]))
        }
        _ => None,
    }
}

fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({
            "error": "server_error",
            "error_description": "The server encountered an unexpected condition."
        })),
    )
        .into_response()
}

fn dropped() -> Response {
    let mut response = server_error();
    response.extensions_mut().insert(DropConnection);
    response
}

/// Middleware over the whole router; passes every other request straight through.
pub(crate) async fn oauth_fault_layer(
    State(state): State<Arc<SandboxState>>,
    request: Request,
    next: Next,
) -> Response {
    let target = oauth_target(request.uri().path()).map(|(p, path)| (p, path.to_string()));
    let Some((provider, path)) = target.filter(|_| request.method() == Method::POST) else {
        return next.run(request).await;
    };
    let (decision, delay) = state.oauth_fault_decision();
    let record = |kind: FaultKind| {
        state.record_fault(InjectedFault {
            provider,
            method: Method::POST.to_string(),
            path: path.clone(),
            kind,
            at: Utc::now(),
        });
    };
    match decision {
        // Late commits are drawn for REST creates only.
        Decision::None | Decision::Late { .. } => next.run(request).await,
        Decision::Pre(kind) => {
            record(kind);
            match kind {
                FaultKind::DropConnection => dropped(),
                FaultKind::Error500 => server_error(),
                _ => {
                    // A client that gives up first drops this future: nothing is applied.
                    tokio::time::sleep(delay).await;
                    next.run(request).await
                }
            }
        }
        Decision::CommitThen(kind) => {
            let response = next.run(request).await;
            if !response.status().is_success() {
                return response;
            }
            record(kind);
            match kind {
                FaultKind::CommitThenError500 => server_error(),
                FaultKind::CommitThenDrop => dropped(),
                _ => {
                    tokio::time::sleep(delay).await;
                    response
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_the_token_and_revocation_endpoints_only() {
        assert_eq!(
            oauth_target("/fortnox/oauth-v1/token"),
            Some((ProviderKind::Fortnox, "/oauth-v1/token"))
        );
        assert_eq!(
            oauth_target("/visma/connect/revocation"),
            Some((ProviderKind::Visma, "/connect/revocation"))
        );
        assert_eq!(oauth_target("/visma/connect/authorize"), None);
        assert_eq!(oauth_target("/fortnox/3/customers"), None);
    }
}
