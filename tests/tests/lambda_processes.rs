//! The functions as Lambda runs them: the real binaries (`functions/*/src/main.rs`, built as
//! bins of this package) as processes under a local Lambda Runtime API, against moto and the
//! sandbox. What they write to stdout is what CloudWatch Logs would get, so this is where the
//! observability contract is checked: JSON log lines that all carry the runtime's request id
//! and our tenant, integration and job ids; EMF metric records CloudWatch can read; no token,
//! key or client secret anywhere.

use devstack::runtime_api::{FunctionProcess, Outcome};
use devstack::StackOptions;
use serde_json::{json, Map, Value};
use shared::domain::{JobState, ProviderKind};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use system_tests::{age_stored_token, customer_json, secret, stack_with, upsert, webhook_secret};

const T: &str = "tenant-obs";

/// The template's variables (as the devstack sets them), moto as the AWS endpoint, and
/// template.yaml's RUST_LOG at `level`.
fn function_env(stack: &devstack::Stack, level: &str) -> HashMap<String, String> {
    let mut env = stack.vars.clone();
    env.insert("AWS_ENDPOINT_URL".into(), stack.moto.endpoint.clone());
    env.insert(
        "RUST_LOG".into(),
        format!("{level},hyper=warn,hyper_util=warn,h2=warn,rustls=warn"),
    );
    env
}

/// Every field of the line's spans (outermost first) merged with its own fields.
fn fields_of(line: &Value) -> Map<String, Value> {
    let mut all = Map::new();
    for span in line["spans"].as_array().into_iter().flatten() {
        all.extend(span.as_object().cloned().unwrap_or_default());
    }
    all.extend(line["span"].as_object().cloned().unwrap_or_default());
    all.extend(line["fields"].as_object().cloned().unwrap_or_default());
    all
}

struct Output {
    logs: Vec<Value>,
    metrics: Vec<Value>,
    raw: Vec<String>,
}

/// Splits a process's output into log lines and EMF records; every line must be JSON.
fn parse_output(lines: Vec<String>) -> Output {
    let (mut logs, mut metrics) = (Vec::new(), Vec::new());
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a line that is not JSON ({e}): {line}"));
        if v.get("_aws").is_some() {
            metrics.push(v);
        } else {
            logs.push(v);
        }
    }
    Output {
        logs,
        metrics,
        raw: lines,
    }
}

/// The value of metric `name` in every EMF record that has it, after checking the record is
/// one CloudWatch accepts: each declared metric and dimension present at the top level.
fn metric_values(metrics: &[Value], name: &str) -> Vec<(f64, Map<String, Value>)> {
    let mut found = Vec::new();
    for m in metrics {
        let directive = &m["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "AccountingIntegrations", "{m}");
        assert!(m["_aws"]["Timestamp"].is_i64(), "{m}");
        for d in directive["Dimensions"][0].as_array().expect("dimensions") {
            assert!(
                m[d.as_str().unwrap()].is_string(),
                "dimension {d} missing: {m}"
            );
        }
        for decl in directive["Metrics"].as_array().expect("metrics") {
            let n = decl["Name"].as_str().unwrap();
            assert!(m[n].is_number(), "metric {n} declared but missing: {m}");
            if n == name {
                found.push((m[n].as_f64().unwrap(), m.as_object().unwrap().clone()));
            }
        }
    }
    found
}

async fn receive_one(stack: &devstack::Stack) -> Option<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    sqs.receive_message()
        .queue_url(&stack.queues.sync_url)
        .max_number_of_messages(1)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("receive")
        .messages
        .and_then(|mut m| m.pop())
}

fn sqs_event(message: &aws_sdk_sqs::types::Message) -> Value {
    let mut event: Value = serde_json::from_str(include_str!("../../events/worker.json")).unwrap();
    let record = &mut event["Records"][0];
    record["messageId"] = json!(message.message_id());
    record["receiptHandle"] = json!(message.receipt_handle());
    record["body"] = json!(message.body());
    record["attributes"]["ApproximateReceiveCount"] = json!("1");
    event
}

#[tokio::test]
async fn the_worker_binary_syncs_and_every_line_it_logs_says_whose_work_it_was() {
    let stack = stack_with(StackOptions {
        workers: 0, // the binary below is the only consumer of the queue
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let now = chrono::Utc::now();
    upsert(
        &stack,
        T,
        &id,
        "customers",
        (0..5).map(|i| customer_json(i, "", now)).collect(),
    )
    .await;
    // The records API queued a push job for them.
    let queued = stack.ctx.db.list_jobs(&id, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let job_id = queued[0].id.clone();
    // The access token has expired: the binary's first provider call refreshes it.
    age_stored_token(&stack, T, &id).await;
    let before = secret(&stack, T, &id).await.unwrap().tokens.unwrap();

    let worker = FunctionProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_lambda-worker")),
        "worker",
        "INFO",
        &function_env(&stack, "info"),
    )
    .await
    .expect("the worker binary starts");
    // At INFO a start says nothing: every line below belongs to an invocation.
    let init = worker.init_output(Duration::from_secs(30)).await.unwrap();
    assert_eq!(init, Vec::<String>::new());
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut request_ids = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let job = loop {
        let job = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
        if job.state.is_terminal() {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job not done: {job:?}"
        );
        // As the event source mapping does: one message, one invocation, delete on success.
        let Some(message) = receive_one(&stack).await else {
            continue;
        };
        let (request_id, outcome) = worker
            .invoke(sqs_event(&message), Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", worker.output().join("\n")));
        request_ids.push(request_id);
        match outcome {
            Outcome::Response(v) => {
                assert_eq!(v["batchItemFailures"], json!([]), "{v}");
                sqs.delete_message()
                    .queue_url(&stack.queues.sync_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            Outcome::Error(e) => panic!("the worker failed: {e}"),
        }
    };
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(job.progress.done, 5, "{job:?}");
    let company = stack
        .sandbox
        .state
        .default_company_key(sandbox::ProviderKind::Fortnox);
    assert_eq!(
        stack
            .sandbox
            .state
            .customer_count(sandbox::ProviderKind::Fortnox, &company),
        5
    );
    // Let the last lines reach the pipe readers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = parse_output(worker.output());

    // Logs: each line inside an invocation of ours, naming tenant, integration and job.
    assert!(
        out.logs.len() >= 3,
        "slice, refresh and job lines: {:#?}",
        out.logs
    );
    for line in &out.logs {
        let f = fields_of(line);
        let rid = f.get("requestId").and_then(Value::as_str);
        assert!(
            rid.is_some_and(|r| request_ids.iter().any(|x| x == r)),
            "a line without our request id: {line}"
        );
        assert_eq!(f.get("tenant"), Some(&json!(T)), "{line}");
        assert_eq!(f.get("integration"), Some(&json!(id)), "{line}");
        assert_eq!(f.get("job"), Some(&json!(job_id)), "{line}");
        assert!(f.contains_key("xrayTraceId"), "{line}");
        assert!(line["level"].is_string(), "{line}");
    }
    let messages: Vec<&str> = out
        .logs
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    for expected in ["access token refreshed", "slice ended", "job finished"] {
        assert!(
            messages.contains(&expected),
            "no {expected:?} in {messages:?}"
        );
    }

    // Metrics: records synced, provider requests, 429s, slice and job durations, refreshes.
    let synced: f64 = metric_values(&out.metrics, "RecordsSynced")
        .iter()
        .map(|(v, _)| v)
        .sum();
    assert_eq!(synced, 5.0);
    let requests: f64 = metric_values(&out.metrics, "ProviderRequests")
        .iter()
        .map(|(v, _)| v)
        .sum();
    assert!(
        requests >= 5.0,
        "{requests} provider requests for 5 creates"
    );
    let limited: f64 = metric_values(&out.metrics, "ProviderRateLimited")
        .iter()
        .map(|(v, _)| v)
        .sum();
    assert_eq!(limited, 0.0);
    assert!(!metric_values(&out.metrics, "SliceDuration").is_empty());
    let jobs = metric_values(&out.metrics, "JobDuration");
    assert_eq!(jobs.len(), 1, "{:?}", out.metrics);
    assert_eq!(jobs[0].1["State"], "succeeded");
    let refreshes = metric_values(&out.metrics, "TokenRefreshes");
    assert_eq!(refreshes.len(), 1, "{:?}", out.metrics);
    assert_eq!(refreshes[0].0, 1.0);
    assert_eq!(refreshes[0].1["Provider"], "fortnox");

    // Nothing secret: the tokens before and after the refresh, the webhook key, our client
    // secret.
    let s = secret(&stack, T, &id).await.unwrap();
    let tokens = s.tokens.unwrap();
    let mut secrets = vec![
        tokens.access_token.expose().to_string(),
        tokens.refresh_token.unwrap().expose().to_string(),
        "fortnox-dev-secret".to_string(),
    ];
    // Keys exist only once asked for (none here, unless a rotation made one).
    secrets.extend(
        webhook_secret(&stack, T, &id)
            .await
            .into_iter()
            .flat_map(|s| s.keys)
            .map(|k| k.key.expose().to_string()),
    );
    secrets.push(before.access_token.expose().to_string());
    secrets.extend(before.refresh_token.map(|t| t.expose().to_string()));
    for line in &out.raw {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret in the output: {line}"
            );
        }
    }
    worker.stop().await;
}

#[tokio::test]
async fn the_status_binary_answers_api_gateway_events_as_lambda_runs_it() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    let status = FunctionProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_lambda-status")),
        "status",
        "DEBUG",
        &function_env(&stack, "debug"),
    )
    .await
    .expect("the status binary starts");
    let init = status.init_output(Duration::from_secs(30)).await.unwrap();
    let event_for = |tenant: &str| {
        let text = include_str!("../../events/status.json")
            .replace("00000000-0000-4000-8000-000000000001", &id)
            .replace("\"acme-bygg\"", &format!("\"{tenant}\""));
        serde_json::from_str::<Value>(&text).unwrap()
    };

    let (ours, outcome) = status
        .invoke(event_for(T), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", status.output().join("\n")));
    let Outcome::Response(answer) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["status"], "connected", "{body}");
    let tokens = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
    assert!(
        !answer["body"]
            .as_str()
            .unwrap()
            .contains(tokens.access_token.expose()),
        "{body}"
    );

    // Another tenant's event: 404 problem+json, as for a missing integration.
    let (theirs, outcome) = status
        .invoke(event_for("someone-else"), Duration::from_secs(30))
        .await
        .unwrap();
    let Outcome::Response(answer) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(answer["statusCode"], 404, "{answer}");
    let content_type = answer["headers"]["content-type"]
        .as_str()
        .or(answer["multiValueHeaders"]["content-type"][0].as_str());
    assert_eq!(content_type, Some("application/problem+json"), "{answer}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let init = parse_output(init);
    assert!(init.metrics.is_empty());
    let out = parse_output(status.output().split_off(init.raw.len()));
    // At DEBUG the AWS SDK logs too: every line of an invocation still carries its request id
    // and tenant, so one request's lines can be found together in Logs Insights.
    assert!(!out.logs.is_empty());
    let mut seen = std::collections::HashSet::new();
    for line in &out.logs {
        let f = fields_of(line);
        let rid = f
            .get("requestId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            rid == ours || rid == theirs,
            "a line outside an invocation: {line}"
        );
        let tenant = if rid == ours { T } else { "someone-else" };
        assert_eq!(f.get("tenant"), Some(&json!(tenant)), "{line}");
        seen.insert(rid.to_string());
    }
    assert_eq!(seen.len(), 2, "lines from both invocations");
    assert!(out.metrics.is_empty(), "status emits no metrics");
    status.stop().await;
}

#[path = "lambda_processes/tls.rs"]
mod tls;

#[path = "lambda_processes/init_errors.rs"]
mod init_errors;
