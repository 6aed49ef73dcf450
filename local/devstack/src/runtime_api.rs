//! A local Lambda Runtime API, and a function binary run under it the way Lambda runs it.
//!
//! The gateway and the pollers call the handlers in-process; this module runs the *binaries*
//! (`main.rs`: telemetry set-up, `AppContext::from_env`, `lambda_runtime::run`) as separate
//! processes, so tests see what CloudWatch would: the process's stdout with the runtime's own
//! span (request id, X-Ray trace id) on every log line, and the EMF metric records.
//!
//! The protocol (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>):
//! `GET /2018-06-01/runtime/invocation/next` long-polls for an event and answers it with the
//! `Lambda-Runtime-*` headers; `POST …/invocation/{id}/response` and `…/invocation/{id}/error`
//! end an invocation; `POST …/init/error` reports a failed start.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// How an invocation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST …/response`: the handler's answer.
    Response(Value),
    /// `POST …/error`: the runtime's error document (`errorType`, `errorMessage`).
    Error(Value),
}

type Pending = (String, Value);

struct Inner {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
    /// Set when the function first asks for work: its init is over.
    ready: tokio::sync::watch::Sender<bool>,
}

/// A Runtime API for one function (Lambda runs one invocation at a time per process).
pub struct RuntimeApi {
    /// `127.0.0.1:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    send: mpsc::UnboundedSender<Pending>,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the API on a free loopback port.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let (send, recv) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            events: tokio::sync::Mutex::new(recv),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            ready: tokio::sync::watch::channel(false).0,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?.to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            address,
            send,
            inner,
            server,
        })
    }

    /// Hands `event` to the function and waits for its answer. Gives the request id the
    /// invocation had and how it ended.
    pub async fn invoke(
        &self,
        event: Value,
        timeout: Duration,
    ) -> Result<(String, Outcome), String> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.inner
            .waiting
            .lock()
            .expect("lock")
            .insert(id.clone(), tx);
        self.send
            .send((id.clone(), event))
            .map_err(|_| "the runtime API has stopped".to_string())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok((id, outcome)),
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => {
                let init = self.init_error();
                Err(format!(
                    "no answer to invocation {id} within {timeout:?} (init error: {init:?})"
                ))
            }
        }
    }

    /// Waits until the function has asked for its first event, the end of its init phase.
    pub async fn ready(&self, timeout: Duration) -> Result<(), String> {
        let mut rx = self.inner.ready.subscribe();
        let ready = tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok());
        match ready {
            true => Ok(()),
            false => Err(format!(
                "the function did not ask for work within {timeout:?} (init error: {:?})",
                self.init_error()
            )),
        }
    }

    /// What the function reported through `…/init/error`, if it did.
    pub fn init_error(&self) -> Option<Value> {
        self.inner.init_error.lock().expect("lock").clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    inner.ready.send_replace(true);
    let Some((id, event)) = inner.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-north-1:123456789012:function:local".into(),
    );
    let trace = uuid::Uuid::new_v4().simple().to_string();
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{}-{};Parent={};Sampled=0",
            &trace[..8],
            &trace[8..],
            &trace[..16]
        ),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, event.to_string()).into_response()
}

fn finish(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    match inner.waiting.lock().expect("lock").remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn respond(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&inner, &id, Outcome::Response(json_or_text(&body)))
}

async fn fail(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&inner, &id, Outcome::Error(json_or_text(&body)))
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    *inner.init_error.lock().expect("lock") = Some(json_or_text(&body));
    StatusCode::ACCEPTED
}

/// A function binary running under a [`RuntimeApi`], its output kept line by line.
pub struct FunctionProcess {
    /// The Runtime API it asks for work.
    pub api: RuntimeApi,
    child: tokio::process::Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl FunctionProcess {
    /// Starts `binary` with Lambda's environment for a function named `name` (runtime API,
    /// function name, memory, JSON log format at `log_level`, region and credentials as
    /// environment variables) plus `env` (the template's variables; `AWS_ENDPOINT_URL` points
    /// it at moto).
    pub async fn spawn(
        binary: &std::path::Path,
        name: &str,
        log_level: &str,
        env: &HashMap<String, String>,
    ) -> std::io::Result<FunctionProcess> {
        let api = RuntimeApi::start().await?;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", log_level)
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", "eu-north-1")
            .env("AWS_DEFAULT_REGION", "eu-north-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_SESSION_TOKEN", "testing")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        for reader in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(stderr),
        ] {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().expect("lock").push(line);
                }
            });
        }
        Ok(FunctionProcess { api, child, output })
    }

    /// Waits for the end of init and gives the lines written during it (log lines from then
    /// on belong to invocations).
    pub async fn init_output(&self, timeout: Duration) -> Result<Vec<String>, String> {
        self.api.ready(timeout).await?;
        // The pipes are read by other tasks: give them a moment to catch up.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(self.output())
    }

    /// Invokes the function once (see [`RuntimeApi::invoke`]).
    pub async fn invoke(
        &self,
        event: Value,
        timeout: Duration,
    ) -> Result<(String, Outcome), String> {
        self.api.invoke(event, timeout).await
    }

    /// Every line the process has written so far, stdout and stderr.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().expect("lock").clone()
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
