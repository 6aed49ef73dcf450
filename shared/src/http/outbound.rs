//! Sends one provider API call: waits for the rate limiter, sends, classifies the answer, and
//! retries what may be retried (see [`RetryPolicy::next_step`]).

use super::backoff::{RetryPolicy, Sent, Step};
use super::error::ApiError;
use super::limiter::{Bucket, RateLimiter};
use crate::domain::Secret;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Turns a non-2xx answer into an [`ApiError`].
pub type Classifier = fn(status: u16, body: &[u8]) -> ApiError;

/// One call to make.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Full URL without the query.
    pub url: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// JSON body, already serialised.
    pub body: Option<Vec<u8>>,
    /// Whether repeating the call after an unknown outcome is harmless.
    pub idempotent: bool,
}

impl Call {
    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Call {
            method: reqwest::Method::GET,
            url: url.into(),
            query: Vec::new(),
            body: None,
            idempotent: true,
        }
    }

    /// A call with a JSON body; idempotent unless it is a POST.
    pub fn with_body(method: reqwest::Method, url: impl Into<String>, body: Vec<u8>) -> Self {
        Call {
            idempotent: method != reqwest::Method::POST,
            method,
            url: url.into(),
            query: Vec::new(),
            body: Some(body),
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_string(), v.into()));
        self
    }

    /// Whether the call may be repeated after an unknown outcome.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status (2xx).
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// Counters of what one executor did, for benchmarks and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent (every attempt).
    pub sent: AtomicU64,
    /// 429 answers received.
    pub rate_limited: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
}

impl Stats {
    /// (sent, rate_limited, retries) now.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.rate_limited.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
        )
    }
}

/// Sends provider calls through a limiter with retries.
#[derive(Clone)]
pub struct Outbound {
    http: super::LazyClient,
    limiter: Arc<dyn RateLimiter>,
    policy: RetryPolicy,
    stats: Arc<Stats>,
}

impl Outbound {
    /// An executor over `http` and `limiter`.
    pub fn new(
        http: super::LazyClient,
        limiter: Arc<dyn RateLimiter>,
        policy: RetryPolicy,
    ) -> Self {
        Outbound {
            http,
            limiter,
            policy,
            stats: Arc::new(Stats::default()),
        }
    }

    /// What this executor has done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Sends `call`, retrying as the policy allows. `default_wait` is how long a 429 without a
    /// stated wait pauses the bucket (the provider's window).
    pub async fn send(
        &self,
        call: &Call,
        token: &Secret,
        bucket: &Bucket,
        classify: Classifier,
        default_wait: Duration,
    ) -> Result<Answer, ApiError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.limiter.acquire(bucket).await;
            let (error, sent) = match self.attempt(call, token).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err((status, body))) => {
                    let e = classify(status, &body);
                    if let ApiError::RateLimited { retry_after, .. } = &e {
                        self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        // Everyone drawing on this bucket waits, not only this caller.
                        self.limiter
                            .pause(bucket, retry_after.unwrap_or(default_wait))
                            .await;
                    }
                    tracing::debug!(method = %call.method, url = %call.url, status,
                        code = e.code(), attempt, "provider call failed");
                    (e, Sent::Maybe)
                }
                Err((e, sent)) => (e, sent),
            };
            let unit: f64 = rand::random();
            match self.policy.next_step(
                attempt,
                started.elapsed(),
                error,
                sent,
                call.is_idempotent(),
                default_wait,
                unit,
            ) {
                Step::GiveUp(e) => return Err(e),
                Step::Retry(wait) => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(method = %call.method, url = %call.url, attempt,
                        wait_ms = wait.as_millis() as u64, "retrying provider call");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    async fn attempt(
        &self,
        call: &Call,
        token: &Secret,
    ) -> Result<Result<Answer, (u16, Vec<u8>)>, (ApiError, Sent)> {
        let mut rb = self
            .http
            .request(call.method.clone(), &call.url)
            .bearer_auth(token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if !call.query.is_empty() {
            rb = rb.query(&call.query);
        }
        if let Some(body) = &call.body {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| (transport(e).0, Sent::Maybe))?
            .to_vec();
        if (200..300).contains(&status) {
            Ok(Ok(Answer { status, body }))
        } else {
            Ok(Err((status, body)))
        }
    }
}

/// A transport failure: retryable, and "never sent" only when the connection was not made.
fn transport(e: reqwest::Error) -> (ApiError, Sent) {
    let sent = if e.is_connect() {
        Sent::No
    } else {
        Sent::Maybe
    };
    // reqwest's Display carries the URL but never headers or bodies: no token leaks here.
    (
        ApiError::Retryable {
            message: e.without_url().to_string(),
        },
        sent,
    )
}
