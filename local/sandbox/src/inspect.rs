//! Inspection endpoints under `/_sandbox`, for tests and the local devstack.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::contract::ContractViolation;
use crate::faults::{FaultConfig, InjectedFault};
use crate::provider::ProviderKind;
use crate::state::{RequestRecord, RevocationRecord, SandboxState, TokenRequestRecord};

/// Routes of the inspection API, to be nested under `/_sandbox`.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/token-requests", get(token_requests))
        .route("/requests", get(requests))
        .route("/revocations", get(revocations))
        .route("/expire-access-tokens", post(expire_access_tokens))
        .route("/clear-records", post(clear_records))
        .route("/faults", get(faults).post(set_faults))
        .route("/faults-injected", get(faults_injected))
        .route("/contract-violations", get(contract_violations))
        .route("/rate-limited", get(rate_limited))
        .route("/{provider}/customers", get(customers))
        .route("/{provider}/invoices", get(invoices))
        .route("/{provider}/articles", get(articles))
        .route("/{provider}/projects", get(projects))
        .route("/{provider}/costcenters", get(cost_centers))
        .route("/{provider}/seed-customers", post(seed_customers))
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

async fn faults(State(state): State<Arc<SandboxState>>) -> Json<FaultConfig> {
    Json(state.faults())
}

/// `POST /_sandbox/faults` with a [`FaultConfig`] as JSON (`slow_delay_ms` for the delay);
/// missing fields take their defaults.
async fn set_faults(State(state): State<Arc<SandboxState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultConfig>(&body) {
        Ok(config) => {
            state.set_faults(config.clone());
            Json(config).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("not a fault configuration: {e}")})),
        )
            .into_response(),
    }
}

async fn faults_injected(State(state): State<Arc<SandboxState>>) -> Json<Vec<InjectedFault>> {
    Json(state.faults_injected())
}

async fn contract_violations(
    State(state): State<Arc<SandboxState>>,
) -> Json<Vec<ContractViolation>> {
    Json(state.contract_violations())
}

async fn rate_limited(State(state): State<Arc<SandboxState>>) -> Json<Value> {
    Json(json!({
        "fortnox": state.rate_limited_count(ProviderKind::Fortnox),
        "visma": state.rate_limited_count(ProviderKind::Visma),
    }))
}

fn provider(raw: &str) -> Result<ProviderKind, Box<Response>> {
    match raw {
        "fortnox" => Ok(ProviderKind::Fortnox),
        "visma" => Ok(ProviderKind::Visma),
        other => Err(Box::new(
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": format!("unknown provider {other}")})),
            )
                .into_response(),
        )),
    }
}

/// `?company=<key>` or the provider's default company.
fn company(state: &SandboxState, provider: ProviderKind, query: Option<&str>) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "company")
                .map(|(_, v)| v)
        })
        .unwrap_or_else(|| state.default_company_key(provider))
}

async fn customers(
    State(state): State<Arc<SandboxState>>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match provider(&raw) {
        Ok(p) => Json(state.customers(p, &company(&state, p, query.as_deref()))).into_response(),
        Err(r) => *r,
    }
}

async fn invoices(
    State(state): State<Arc<SandboxState>>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match provider(&raw) {
        Ok(p) => Json(state.invoices(p, &company(&state, p, query.as_deref()))).into_response(),
        Err(r) => *r,
    }
}

macro_rules! listing {
    ($name:ident, $method:ident) => {
        /// `GET /_sandbox/{provider}/…?company=…`: the records as `GET` answers them.
        async fn $name(
            State(state): State<Arc<SandboxState>>,
            Path(raw): Path<String>,
            RawQuery(query): RawQuery,
        ) -> Response {
            match provider(&raw) {
                Ok(p) => {
                    Json(state.$method(p, &company(&state, p, query.as_deref()))).into_response()
                }
                Err(r) => *r,
            }
        }
    };
}

listing!(articles, articles);
listing!(projects, projects);
listing!(cost_centers, cost_centers);

#[derive(Deserialize)]
struct SeedRequest {
    n: usize,
    company: Option<String>,
}

/// `POST /_sandbox/{provider}/seed-customers` with `{"n": 100, "company": "<key>"?}`.
async fn seed_customers(
    State(state): State<Arc<SandboxState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let p = match provider(&raw) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match serde_json::from_slice::<SeedRequest>(&body) {
        Ok(req) => {
            let key = req.company.unwrap_or_else(|| state.default_company_key(p));
            Json(json!({"ids": state.seed_customers(p, &key, req.n)})).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("expected {{\"n\": <count>}}: {e}")})),
        )
            .into_response(),
    }
}
