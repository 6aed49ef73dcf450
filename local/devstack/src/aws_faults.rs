//! A fault-injecting proxy between the functions' AWS SDK and moto.
//!
//! Every request is forwarded to moto unless the dice say otherwise; then the proxy answers
//! instead with the error the real service sends, in the service's own protocol, or lets the
//! SDK time out. The kinds of fault ([`FaultKind`]):
//!
//! - **throttle**: a 400 with the service's throttling error;
//! - **internal**: a 5xx with the service's internal error;
//! - **timeout**: the request is held, never forwarded, longer than the SDK waits;
//! - **lost**: the request is forwarded (moto commits it) and its answer is held past the
//!   SDK's timeout: the write happened and the caller cannot know (a late or lost answer).
//!
//! The services are told apart by `x-amz-target`, which every one of them sends (all four
//! speak AWS JSON): `DynamoDB_20120810.<Op>` (JSON 1.0), `AmazonSQS.<Op>` (JSON 1.0: aws-sdk-sqs
//! 1.119 sends `x-amz-target: AmazonSQS.SendMessage` and `x-amzn-query-mode: true`),
//! `secretsmanager.<Op>` (JSON 1.1), `TrentService.<Op>` (KMS, JSON 1.1).
//!
//! Every fault is counted by service, operation and kind, and every request by service and
//! operation, since the faults were last set: [`AwsFaultProxy::counts`] in process,
//! `GET /_faults` over HTTP. `PUT /_faults` with a [`FaultConfig`] as JSON sets the faults
//! from outside (e.g. under `make dev`).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What to inject.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultConfig {
    /// Share of AWS requests that get a fault instead of moto's answer (0.0 to 1.0).
    pub rate: f64,
    /// Seed of the dice: the same seed gives the same sequence of decisions.
    pub seed: u64,
    /// How long a `timeout` or `lost` fault holds the answer: longer than the SDK's attempt
    /// timeout (`AWS_ATTEMPT_TIMEOUT_MS`), so the SDK gives up first.
    pub hold_ms: u64,
    /// Relative weights of throttle, internal, timeout and lost faults.
    pub weights: [u32; 4],
    /// Only these services (`dynamodb`, `sqs`, `secretsmanager`, `kms`); empty means all.
    pub services: Vec<String>,
    /// The first request of every service operation gets a fault as well (its kind by the
    /// dice), so that a short scenario meets faults on every operation it uses, not only on
    /// the busy ones.
    pub every_operation: bool,
    /// Faults aimed at particular requests, over and above the dice: the first `times`
    /// requests that match get the fault.
    pub scripted: Vec<ScriptedFault>,
}

/// A fault for the requests of one service operation whose body holds every one of
/// `body_contains` (e.g. the sort key prefix of an item: `"WHEVT#"`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScriptedFault {
    /// `dynamodb`, `sqs`, `secretsmanager` or `kms`.
    pub service: String,
    /// The operation, as in `x-amz-target` (`PutItem`).
    pub operation: String,
    /// Texts the request body must all hold.
    #[serde(default)]
    pub body_contains: Vec<String>,
    /// What happens to it.
    pub kind: FaultKind,
    /// How many matching requests get it.
    pub times: u32,
}

impl ScriptedFault {
    /// `times` faults of `kind` on `service`'s `operation` when the body holds all of
    /// `body_contains`.
    pub fn new(
        service: &str,
        operation: &str,
        body_contains: &[&str],
        kind: FaultKind,
        times: u32,
    ) -> Self {
        ScriptedFault {
            service: service.into(),
            operation: operation.into(),
            body_contains: body_contains.iter().map(|b| b.to_string()).collect(),
            kind,
            times,
        }
    }

    fn matches(&self, service: Service, operation: &str, body: &[u8]) -> bool {
        self.service == service.as_str()
            && self.operation == operation
            && self.body_contains.iter().all(|needle| {
                body.windows(needle.len().max(1))
                    .any(|w| w == needle.as_bytes())
            })
    }
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate: 0.0,
            seed: 1,
            hold_ms: 2500,
            weights: [35, 25, 15, 25],
            services: Vec::new(),
            every_operation: false,
            scripted: Vec::new(),
        }
    }
}

impl FaultConfig {
    /// `rate` faults of every kind with `seed`.
    pub fn rate(rate: f64, seed: u64) -> Self {
        FaultConfig {
            rate,
            seed,
            ..FaultConfig::default()
        }
    }
}

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The service's throttling error (400).
    Throttle,
    /// The service's internal error (5xx).
    Internal,
    /// Held, never forwarded: the SDK times out and nothing happened.
    Timeout,
    /// Forwarded and committed, the answer held past the SDK's timeout.
    Lost,
}

impl FaultKind {
    const ALL: [FaultKind; 4] = [
        FaultKind::Throttle,
        FaultKind::Internal,
        FaultKind::Timeout,
        FaultKind::Lost,
    ];
}

/// An AWS service behind the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// DynamoDB, AWS JSON 1.0.
    Dynamodb,
    /// SQS, AWS JSON 1.0 with query-compatible error codes.
    Sqs,
    /// Secrets Manager, AWS JSON 1.1.
    Secretsmanager,
    /// KMS, AWS JSON 1.1.
    Kms,
}

impl Service {
    /// The service and operation an `x-amz-target` names.
    pub fn from_target(target: &str) -> Option<(Service, String)> {
        let (prefix, op) = target.split_once('.')?;
        let service = match prefix {
            "DynamoDB_20120810" => Service::Dynamodb,
            "AmazonSQS" => Service::Sqs,
            "secretsmanager" => Service::Secretsmanager,
            "TrentService" => Service::Kms,
            _ => return None,
        };
        Some((service, op.to_string()))
    }

    /// The name used in [`FaultConfig::services`] and in the counts.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Dynamodb => "dynamodb",
            Service::Sqs => "sqs",
            Service::Secretsmanager => "secretsmanager",
            Service::Kms => "kms",
        }
    }
}

/// The error a real service answers for `kind` (throttle or internal), as status, extra
/// headers and body. `alt` picks between the two codes a service has for one kind.
///
/// Sources (names, status codes and shapes):
/// - DynamoDB, "Error handling with DynamoDB" (developer guide): a JSON 1.0 body
///   `{"__type":"com.amazonaws.dynamodb.v20120810#<Code>","message":…}`; throttling is
///   `ThrottlingException` or `ProvisionedThroughputExceededException` (400), the server side
///   fails with `InternalServerError` (500). Both throttling shapes and `InternalServerError`
///   are in aws-sdk-dynamodb's model (`types/error/`).
/// - SQS, "Interpreting Amazon SQS JSON API responses" (developer guide): the code travels in
///   `x-amzn-query-error: <Code>;<Sender|Receiver>`, which aws-sdk-sqs reads before the body
///   (`aws_query_compatible_errors.rs`); `RequestThrottled` (400) is in the model, and the
///   API reference's common errors give `InternalFailure` (500) and `ServiceUnavailable` (503).
/// - Secrets Manager: `InternalServiceError` (500) is in the model; throttling is the common
///   `ThrottlingException` (400), a JSON 1.1 body `{"__type":"<Code>","message":…}`.
/// - KMS: `KMSInternalException` (500) is in the model; a request quota exceeded is the
///   common `ThrottlingException` (400) (KMS developer guide, "Request quotas").
///
/// aws-runtime's `AwsErrorCodeClassifier` retries `ThrottlingException`,
/// `ProvisionedThroughputExceededException` and `RequestThrottled` as throttling, and the
/// HTTP status classifier retries 500, 502, 503 and 504 as transient.
pub fn error_answer(
    service: Service,
    kind: FaultKind,
    alt: bool,
) -> (u16, Vec<(&'static str, String)>, String) {
    let (status, code): (u16, &str) = match (service, kind, alt) {
        (Service::Dynamodb, FaultKind::Throttle, false) => (400, "ThrottlingException"),
        (Service::Dynamodb, FaultKind::Throttle, true) => {
            (400, "ProvisionedThroughputExceededException")
        }
        (Service::Dynamodb, _, _) => (500, "InternalServerError"),
        (Service::Sqs, FaultKind::Throttle, _) => (400, "RequestThrottled"),
        (Service::Sqs, _, false) => (500, "InternalFailure"),
        (Service::Sqs, _, true) => (503, "ServiceUnavailable"),
        (Service::Secretsmanager, FaultKind::Throttle, _) => (400, "ThrottlingException"),
        (Service::Secretsmanager, _, _) => (500, "InternalServiceError"),
        (Service::Kms, FaultKind::Throttle, _) => (400, "ThrottlingException"),
        (Service::Kms, _, _) => (500, "KMSInternalException"),
    };
    let message = match kind {
        FaultKind::Throttle => "Rate exceeded",
        _ => "The request processing has failed because of an unknown error, exception or failure.",
    };
    let (content_type, type_name, extra) = match service {
        Service::Dynamodb => (
            "application/x-amz-json-1.0",
            format!("com.amazonaws.dynamodb.v20120810#{code}"),
            None,
        ),
        Service::Sqs => (
            "application/x-amz-json-1.0",
            format!("com.amazonaws.sqs#{code}"),
            Some((
                "x-amzn-query-error",
                format!(
                    "{code};{}",
                    if status < 500 { "Sender" } else { "Receiver" }
                ),
            )),
        ),
        Service::Secretsmanager | Service::Kms => {
            ("application/x-amz-json-1.1", code.to_string(), None)
        }
    };
    let mut headers = vec![
        ("content-type", content_type.to_string()),
        ("x-amzn-requestid", uuid::Uuid::new_v4().to_string()),
    ];
    headers.extend(extra);
    let body = serde_json::json!({"__type": type_name, "message": message}).to_string();
    (status, headers, body)
}

/// splitmix64: a small, good, seedable generator; the proxy needs nothing more.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fault for the `n`th request under `config`, if any, and the alternative-code bit.
pub fn decide(config: &FaultConfig, service: Service, n: u64) -> Option<(FaultKind, bool)> {
    if config.rate <= 0.0
        || (!config.services.is_empty() && !config.services.iter().any(|s| s == service.as_str()))
    {
        return None;
    }
    let r = splitmix(config.seed ^ splitmix(n));
    if (r >> 11) as f64 / (1u64 << 53) as f64 >= config.rate {
        return None;
    }
    let total: u32 = config.weights.iter().sum();
    if total == 0 {
        return None;
    }
    let r2 = splitmix(r);
    let mut pick = (r2 % u64::from(total)) as u32;
    for (kind, w) in FaultKind::ALL.iter().zip(config.weights) {
        if pick < w {
            return Some((*kind, r2 & (1 << 40) != 0));
        }
        pick -= w;
    }
    None
}

/// Counts of one service and operation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpCounts {
    /// Requests seen (faulted or not).
    pub requests: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// DynamoDB write request units consumed ([`crate::metering::dynamo_units`]).
    #[serde(default)]
    pub write_units: u64,
    /// DynamoDB read request units consumed, in halves.
    #[serde(default)]
    pub read_halves: u64,
}

impl OpCounts {
    /// Faults of every kind.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }
}

/// Counts by service name, then operation.
pub type Counts = BTreeMap<String, BTreeMap<String, OpCounts>>;

struct Shared {
    upstream: String,
    http: reqwest::Client,
    config: Mutex<FaultConfig>,
    seq: AtomicU64,
    counts: Mutex<Counts>,
    /// How many more times each scripted fault fires.
    script_left: Mutex<Vec<u32>>,
    /// Item sizes seen, for billing updates and deletes by them.
    known: Mutex<crate::metering::KnownSizes>,
    /// DynamoDB use by operation and kind of item ([`crate::metering::item_kind`]).
    kinds: Mutex<BTreeMap<String, crate::metering::KindUse>>,
}

impl Shared {
    /// A new configuration starts new counts.
    fn configure(&self, config: FaultConfig) {
        *self.script_left.lock().expect("script lock") =
            config.scripted.iter().map(|f| f.times).collect();
        *self.config.lock().expect("config lock") = config;
        self.counts.lock().expect("counts lock").clear();
        self.kinds.lock().expect("kinds lock").clear();
    }

    /// Adds the capacity a forwarded DynamoDB request consumed to its operation's counts.
    fn meter(&self, op: &str, req: &[u8], resp: &[u8], ok: bool) {
        let units = {
            let mut known = self.known.lock().expect("sizes lock");
            crate::metering::dynamo_units(&mut known, op, req, resp, ok)
        };
        let mut counts = self.counts.lock().expect("counts lock");
        let c = counts
            .entry(Service::Dynamodb.as_str().to_string())
            .or_default()
            .entry(op.to_string())
            .or_default();
        c.write_units += units.write;
        c.read_halves += units.read_halves;
        drop(counts);
        let mut kinds = self.kinds.lock().expect("kinds lock");
        let k = kinds
            .entry(format!("{op} {}", crate::metering::item_kind(req)))
            .or_default();
        k.requests += 1;
        k.write_units += units.write;
        k.read_halves += units.read_halves;
    }

    /// The scripted fault this request gets, if any (and one fewer left of it).
    fn scripted(
        &self,
        config: &FaultConfig,
        service: Service,
        op: &str,
        body: &[u8],
    ) -> Option<FaultKind> {
        let mut left = self.script_left.lock().expect("script lock");
        for (i, f) in config.scripted.iter().enumerate() {
            if left.get(i).copied().unwrap_or(0) > 0 && f.matches(service, op, body) {
                left[i] -= 1;
                return Some(f.kind);
            }
        }
        None
    }
}

/// A running proxy.
pub struct AwsFaultProxy {
    /// `http://127.0.0.1:port`: the endpoint to give the SDK.
    pub endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl AwsFaultProxy {
    /// Starts a proxy in front of `upstream` (moto's endpoint), injecting nothing yet.
    pub async fn start(upstream: &str) -> Result<AwsFaultProxy, BoxError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            config: Mutex::new(FaultConfig::default()),
            seq: AtomicU64::new(0),
            counts: Mutex::new(Counts::new()),
            script_left: Mutex::new(Vec::new()),
            known: Mutex::new(crate::metering::KnownSizes::default()),
            kinds: Mutex::new(BTreeMap::new()),
        });
        let app = axum::Router::new()
            .route("/_faults", axum::routing::get(get_faults).put(put_faults))
            .fallback(proxy)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(AwsFaultProxy {
            endpoint,
            shared,
            task,
        })
    }

    /// Sets what to inject from now on, and starts the counts afresh.
    pub fn set_faults(&self, config: FaultConfig) {
        self.shared.configure(config);
    }

    /// Turns faults off (the counts are kept).
    pub fn faults_off(&self) {
        let mut c = self.shared.config.lock().expect("config lock");
        c.rate = 0.0;
    }

    /// How many more times each scripted fault ([`FaultConfig::scripted`]) would fire: all
    /// zeros once every one of them has hit its requests.
    pub fn scripted_left(&self) -> Vec<u32> {
        self.shared.script_left.lock().expect("script lock").clone()
    }

    /// DynamoDB requests and capacity by operation and kind of item, since the faults were
    /// last set.
    pub fn kinds(&self) -> BTreeMap<String, crate::metering::KindUse> {
        self.shared.kinds.lock().expect("kinds lock").clone()
    }

    /// What was seen and injected so far.
    pub fn counts(&self) -> Counts {
        self.shared.counts.lock().expect("counts lock").clone()
    }
}

impl Drop for AwsFaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    let body = serde_json::json!({
        "config": *s.config.lock().expect("config lock"),
        "counts": *s.counts.lock().expect("counts lock"),
        "scripted_left": *s.script_left.lock().expect("script lock"),
    });
    axum::Json(body).into_response()
}

async fn put_faults(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultConfig>(&body) {
        Ok(c) if (0.0..=1.0).contains(&c.rate) => {
            s.configure(c.clone());
            axum::Json(c).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/problem+json")],
            serde_json::json!({
                "type": "about:blank",
                "title": "Bad fault configuration",
                "status": 400,
                "detail": "expected {\"rate\": 0.0..1.0, \"seed\", \"hold_ms\", \"weights\": [throttle, internal, timeout, lost], \"services\"}"
            })
            .to_string(),
        )
            .into_response(),
    }
}

/// A container whose SDK's endpoint ends in `/fn/<container>` (`Stack::start_workers`) has its
/// waits on AWS metered ([`crate::metering::aws_request`]); the path is taken off.
async fn proxy(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tagged = uri.path().strip_prefix("/fn/").and_then(|rest| {
        let (container, path) = rest.split_once('/').unwrap_or((rest, ""));
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let uri: Uri = format!("/{path}{query}").parse().ok()?;
        Some((container.to_string(), uri))
    });
    match tagged {
        Some((container, uri)) => {
            let _wait = crate::metering::aws_request(&container);
            answer(s, method, uri, headers, body).await
        }
        None => answer(s, method, uri, headers, body).await,
    }
}

async fn answer(
    s: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(Service::from_target);
    let (fault, hold) = match &target {
        Some((service, op)) => {
            let config = s.config.lock().expect("config lock").clone();
            let n = s.seq.fetch_add(1, Ordering::SeqCst);
            let mut counts = s.counts.lock().expect("counts lock");
            let c = counts
                .entry(service.as_str().to_string())
                .or_default()
                .entry(op.clone())
                .or_default();
            let first = c.requests == 0 && config.rate > 0.0 && config.every_operation;
            let fault = if let Some(kind) = s.scripted(&config, *service, op, &body) {
                Some((kind, false))
            } else if first {
                decide(
                    &FaultConfig {
                        rate: 1.0,
                        ..config.clone()
                    },
                    *service,
                    n,
                )
            } else {
                decide(&config, *service, n)
            };
            c.requests += 1;
            if let Some((kind, _)) = fault {
                *c.faults.entry(kind).or_default() += 1;
            }
            (fault, Duration::from_millis(config.hold_ms))
        }
        None => (None, Duration::ZERO),
    };
    match (fault, target.clone()) {
        (Some((kind @ (FaultKind::Throttle | FaultKind::Internal), alt)), Some((service, _))) => {
            let (status, hdrs, body) = error_answer(service, kind, alt);
            let mut r = Response::builder().status(status);
            for (k, v) in hdrs {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).expect("error answer")
        }
        (Some((FaultKind::Timeout, _)), _) => {
            tokio::time::sleep(hold).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        (Some((FaultKind::Lost, _)), _) => {
            // Forwarded on a task of its own, so that the SDK giving up (and the connection
            // closing) cannot stop the write from reaching moto.
            let forwarded = tokio::spawn(forward(s.clone(), target, method, uri, headers, body));
            let answer = forwarded.await;
            tokio::time::sleep(hold).await;
            match answer {
                Ok(r) => r,
                Err(_) => StatusCode::BAD_GATEWAY.into_response(),
            }
        }
        (_, target) => forward(s, target, method, uri, headers, body).await,
    }
}

async fn forward(
    s: Arc<Shared>,
    target: Option<(Service, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut rb = s.http.request(method, format!("{}{path}", s.upstream));
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            rb = rb.header(k, v);
        }
    }
    match rb.body(body.clone()).send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out = Response::builder().status(status);
            for (k, v) in resp.headers() {
                if k != "transfer-encoding" && k != "content-length" && k != "connection" {
                    out = out.header(k, v);
                }
            }
            match resp.bytes().await {
                Ok(b) => {
                    if let Some((Service::Dynamodb, op)) = &target {
                        s.meter(op, &body, &b, status.is_success());
                    }
                    out.body(Body::from(b)).expect("forwarded answer")
                }
                Err(_) => StatusCode::BAD_GATEWAY.into_response(),
            }
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_their_service_and_operation() {
        assert_eq!(
            Service::from_target("DynamoDB_20120810.TransactWriteItems"),
            Some((Service::Dynamodb, "TransactWriteItems".into()))
        );
        assert_eq!(
            Service::from_target("AmazonSQS.SendMessage"),
            Some((Service::Sqs, "SendMessage".into()))
        );
        assert_eq!(
            Service::from_target("secretsmanager.PutSecretValue"),
            Some((Service::Secretsmanager, "PutSecretValue".into()))
        );
        assert_eq!(
            Service::from_target("TrentService.Encrypt"),
            Some((Service::Kms, "Encrypt".into()))
        );
        assert_eq!(Service::from_target("Other.Thing"), None);
    }

    #[test]
    fn the_dice_hit_about_the_rate_and_repeat_with_the_seed() {
        let c = FaultConfig::rate(0.1, 42);
        let hits: Vec<_> = (0..10_000)
            .map(|n| decide(&c, Service::Dynamodb, n))
            .collect();
        let n = hits.iter().filter(|h| h.is_some()).count();
        assert!((800..1200).contains(&n), "{n}");
        for kind in FaultKind::ALL {
            assert!(
                hits.iter().any(|h| h.map(|x| x.0) == Some(kind)),
                "{kind:?}"
            );
        }
        let again: Vec<_> = (0..10_000)
            .map(|n| decide(&c, Service::Dynamodb, n))
            .collect();
        assert_eq!(hits, again);
        assert!((0..1000).all(|n| decide(&FaultConfig::default(), Service::Sqs, n).is_none()));
        let only_sqs = FaultConfig {
            services: vec!["sqs".into()],
            ..FaultConfig::rate(1.0, 1)
        };
        assert!(decide(&only_sqs, Service::Dynamodb, 3).is_none());
        assert!(decide(&only_sqs, Service::Sqs, 3).is_some());
    }

    #[test]
    fn scripted_faults_hit_their_requests_as_often_as_asked() {
        let f = ScriptedFault::new(
            "dynamodb",
            "PutItem",
            &["WHEVT#", "ttl"],
            FaultKind::Lost,
            1,
        );
        assert!(f.matches(
            Service::Dynamodb,
            "PutItem",
            br#"{"sk":{"S":"WHEVT#e1"},"ttl":1}"#
        ));
        assert!(!f.matches(
            Service::Dynamodb,
            "PutItem",
            br#"{"sk":{"S":"JOB#1"},"ttl":1}"#
        ));
        assert!(!f.matches(Service::Dynamodb, "UpdateItem", br#"WHEVT# ttl"#));
        assert!(!f.matches(Service::Sqs, "PutItem", br#"WHEVT# ttl"#));
        let shared = Shared {
            upstream: String::new(),
            http: reqwest::Client::new(),
            config: Mutex::new(FaultConfig::default()),
            seq: AtomicU64::new(0),
            counts: Mutex::new(Counts::new()),
            script_left: Mutex::new(Vec::new()),
            known: Mutex::new(crate::metering::KnownSizes::default()),
            kinds: Mutex::new(BTreeMap::new()),
        };
        let config = FaultConfig {
            scripted: vec![f],
            ..FaultConfig::default()
        };
        shared.configure(config.clone());
        let body = br#"WHEVT# ttl"#;
        assert_eq!(
            shared.scripted(&config, Service::Dynamodb, "PutItem", body),
            Some(FaultKind::Lost)
        );
        assert_eq!(
            shared.scripted(&config, Service::Dynamodb, "PutItem", body),
            None
        );
    }

    #[test]
    fn error_answers_are_the_services_own() {
        let (s, h, b) = error_answer(Service::Sqs, FaultKind::Throttle, false);
        assert_eq!(s, 400);
        assert!(h.contains(&("x-amzn-query-error", "RequestThrottled;Sender".into())));
        assert!(b.contains("com.amazonaws.sqs#RequestThrottled"));
        let (s, _, b) = error_answer(Service::Dynamodb, FaultKind::Internal, false);
        assert_eq!(s, 500);
        assert!(b.contains("com.amazonaws.dynamodb.v20120810#InternalServerError"));
        let (s, _, b) = error_answer(Service::Kms, FaultKind::Internal, true);
        assert_eq!((s, b.contains("\"KMSInternalException\"")), (500, true));
        let (s, _, b) = error_answer(Service::Secretsmanager, FaultKind::Throttle, true);
        assert_eq!((s, b.contains("\"ThrottlingException\"")), (400, true));
    }
}
