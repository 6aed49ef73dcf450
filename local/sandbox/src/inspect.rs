//! Inspection endpoints under `/_sandbox`, for tests and the local devstack.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::{RequestRecord, RevocationRecord, SandboxState, TokenRequestRecord};

/// Routes of the inspection API, to be nested under `/_sandbox`.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/token-requests", get(token_requests))
        .route("/requests", get(requests))
        .route("/revocations", get(revocations))
        .route("/expire-access-tokens", post(expire_access_tokens))
        .route("/clear-records", post(clear_records))
}

async fn token_requests(State(state): State<Arc<SandboxState>>) -> Json<Vec<TokenRequestRecord>> {
    Json(state.token_requests())
}

async fn requests(State(state): State<Arc<SandboxState>>) -> Json<Vec<RequestRecord>> {
    Json(state.requests())
}

async fn revocations(State(state): State<Arc<SandboxState>>) -> Json<Vec<RevocationRecord>> {
    Json(state.revocations())
}

async fn expire_access_tokens(State(state): State<Arc<SandboxState>>) -> Json<Value> {
    Json(json!({"expired": state.expire_access_tokens()}))
}

async fn clear_records(State(state): State<Arc<SandboxState>>) -> Json<Value> {
    state.clear_records();
    Json(json!({"cleared": true}))
}
