//! Helpers shared by the REST tests: a sandbox whose contract record must be clean when the
//! test ends, tokens without the OAuth dance, and small JSON request helpers.
#![allow(dead_code)]

use std::ops::Deref;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use sandbox::{
    start, ContractViolation, ProviderKind, RunningSandbox, SandboxConfig,
    DEFAULT_FORTNOX_CLIENT_ID, DEFAULT_VISMA_CLIENT_ID,
};
use serde_json::Value;

/// A running sandbox that, when the test ends without panicking, asserts that no request or
/// response broke a provider's contract. Tests that provoke violations on purpose take them
/// with [`Sandbox::take_violations`] and assert on them.
pub struct Sandbox(Option<RunningSandbox>);

impl Deref for Sandbox {
    type Target = RunningSandbox;

    fn deref(&self) -> &RunningSandbox {
        self.0.as_ref().expect("the sandbox is running")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(sb) = self.0.as_ref() {
            if !std::thread::panicking() {
                sb.assert_contracts_kept();
            }
        }
    }
}

impl Sandbox {
    /// Guards an already started sandbox.
    pub fn new(sb: RunningSandbox) -> Self {
        Sandbox(Some(sb))
    }

    /// The violations recorded so far, removed from the record.
    pub fn take_violations(&self) -> Vec<ContractViolation> {
        self.state.take_contract_violations()
    }

    /// Checks the contract record now and hands over the sandbox (to shut it down).
    pub fn into_inner(mut self) -> RunningSandbox {
        let sb = self.0.take().expect("the sandbox is running");
        sb.assert_contracts_kept();
        sb
    }
}

/// A sandbox with the providers' contracts checked (as always). Rate-limit windows are
/// shrunk 1000× so ordinary tests never meet them; `edit` may change that.
pub async fn sandbox_with(edit: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = SandboxConfig::with_defaults();
    config.time_scale = 1000.0;
    edit(&mut config);
    Sandbox::new(start(config).await.expect("sandbox starts"))
}

pub async fn sandbox() -> Sandbox {
    sandbox_with(|_| {}).await
}

pub fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

/// A REST client for one provider, token and company.
#[derive(Clone)]
pub struct Api {
    pub http: Client,
    pub base: String,
    pub token: String,
    pub company: String,
}

/// Scopes the product asks for.
pub fn scopes(provider: ProviderKind) -> &'static [&'static str] {
    match provider {
        ProviderKind::Fortnox => &["customer", "invoice", "companyinformation"],
        ProviderKind::Visma => &["ea:api", "offline_access", "ea:sales"],
    }
}

/// A client for `provider`'s default app and `company` (default company when `None`).
pub fn api_for(sb: &RunningSandbox, provider: ProviderKind, company: Option<&str>) -> Api {
    let company = company
        .map(str::to_string)
        .unwrap_or_else(|| sb.state.default_company_key(provider));
    let client_id = match provider {
        ProviderKind::Fortnox => DEFAULT_FORTNOX_CLIENT_ID,
        ProviderKind::Visma => DEFAULT_VISMA_CLIENT_ID,
    };
    let token = sb
        .state
        .issue_access_token(provider, client_id, &company, scopes(provider));
    let base = match provider {
        ProviderKind::Fortnox => sb.fortnox_url(),
        ProviderKind::Visma => sb.visma_url(),
    };
    Api {
        http: http(),
        base,
        token,
        company,
    }
}

pub fn fortnox(sb: &RunningSandbox) -> Api {
    api_for(sb, ProviderKind::Fortnox, None)
}

pub fn visma(sb: &RunningSandbox) -> Api {
    api_for(sb, ProviderKind::Visma, None)
}

impl Api {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request is answered");
        let status = response.status();
        let text = response.text().await.expect("body reads");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn put_empty(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, None).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// POST with a raw (possibly broken) body.
    pub async fn post_raw(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request is answered");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Asserts a Fortnox error body with `status` and `code`, and a message.
pub fn assert_fortnox_error(status: StatusCode, body: &Value, expected: StatusCode, code: i64) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["ErrorInformation"]["error"], 1, "{body}");
    assert_eq!(body["ErrorInformation"]["code"], code, "{body}");
    assert!(
        body["ErrorInformation"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Asserts a Visma error body with `status` and `code`, and a GUID `ErrorId`.
pub fn assert_visma_error(status: StatusCode, body: &Value, expected: StatusCode, code: i64) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["ErrorCode"], code, "{body}");
    assert!(
        body["DeveloperErrorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["ErrorId"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{body}"
    );
}

/// Every response the sandbox sent so far kept to its provider's contract (requests are
/// checked when the test ends).
pub fn assert_responses_match_contract(sb: &RunningSandbox) {
    let bad: Vec<_> = sb
        .state
        .contract_violations()
        .into_iter()
        .filter(|v| v.direction == sandbox::Direction::Response)
        .collect();
    assert!(
        bad.is_empty(),
        "responses violating the contract:\n{}",
        sandbox::violation_report(&bad)
    );
}

/// For a test that sent bodies off the contract on purpose (to prove the simulator's error
/// paths or leniency): takes the violations recorded so far and asserts they are exactly
/// `n` request violations. Response violations are never excused.
pub fn excuse_request_violations(sb: &Sandbox, n: usize) {
    let taken = sb.take_violations();
    let requests = taken
        .iter()
        .filter(|v| v.direction == sandbox::Direction::Request)
        .count();
    assert!(
        requests == n && requests == taken.len(),
        "expected {n} request violation(s) sent on purpose, got:\n{}",
        sandbox::violation_report(&taken)
    );
}

/// No request or response so far, of either provider, broke its contract.
pub fn assert_contract_clean(sb: &RunningSandbox) {
    sb.assert_contracts_kept();
}

/// A minimal valid Fortnox customer body.
pub fn fortnox_customer(name: &str) -> Value {
    serde_json::json!({"Customer": {"Name": name, "CountryCode": "SE", "City": "Umeå"}})
}
