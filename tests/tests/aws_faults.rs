//! AWS faults: the same scenario twice, once with the functions talking to moto straight and
//! once through the devstack's fault proxy (`devstack::aws_faults`) answering 10 % of their
//! AWS calls with the real services' throttling and internal errors, timeouts and answers lost
//! after the write. The scenario: both providers connected, records exported, the providers'
//! own records pulled, a signed webhook, a forced token refresh. Afterwards (faults off)
//! nothing is lost, nothing is duplicated, and both runs end in the same state.
//!
//! Callers behave as real ones do: the app retries a records upsert with the same
//! `Idempotency-Key`, and a webhook sender retries a delivery that was not answered 2xx.

use devstack::aws_faults::{Counts, FaultConfig, FaultKind, ScriptedFault};
use devstack::{Stack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{Entity, IntegrationStatus, JobState, ProviderKind};
use shared::webhooks::signature::sign_ours;
use std::collections::BTreeMap;
use std::time::Duration;
use system_tests::{age_stored_token, customer_json, integration, invoice_json, sandbox_kind};

const T: &str = "tenant-aws-faults";
const CUSTOMERS: usize = 10;
const INVOICES: usize = 4;
const SEEDED: usize = 4;

/// What the scenario leaves behind, with nothing that differs between two clean runs (ids,
/// times, sequence numbers).
#[derive(Debug, PartialEq, Eq)]
struct EndState {
    /// Per provider: the customers at the provider (our reference or, for its own, the name).
    provider_customers: BTreeMap<String, Vec<String>>,
    /// Per provider: invoices at the provider.
    provider_invoices: BTreeMap<String, usize>,
    /// Per provider: the app's customer feed as (op, name), in order of names.
    feed: BTreeMap<String, Vec<(String, String)>>,
    /// Per provider: our records mapped to a provider id (customers, invoices).
    mapped: BTreeMap<String, (usize, usize)>,
    /// Per provider: records still waiting for export.
    pending: BTreeMap<String, usize>,
    /// Per provider: the integration's status and the refreshes the provider saw.
    connection: BTreeMap<String, (IntegrationStatus, usize)>,
}

fn options(faults: bool) -> StackOptions {
    let mut opts = StackOptions {
        aws_faults: faults,
        ..StackOptions::default()
    };
    // The proxy holds a timed-out answer for 1 s; the SDK gives up on an attempt after 0.6 s.
    opts.env
        .insert("AWS_ATTEMPT_TIMEOUT_MS".into(), "600".into());
    opts.sandbox.time_scale = 10.0;
    opts.env
        .insert("FORTNOX_RATE_LIMIT_WINDOW_MS".into(), "500".into());
    opts.env
        .insert("VISMA_RATE_LIMIT_WINDOW_MS".into(), "6000".into());
    opts
}

/// A call as an app or a sender makes it: retried with the same body (and idempotency key)
/// until it is answered below 500. Gives the answer and how many were 5xx.
async fn call_retrying(
    stack: &Stack,
    path: &str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
) -> (u16, Value, usize) {
    let mut failures = 0;
    loop {
        let mut rb = stack
            .http()
            .post(format!("{}{path}", stack.api_url))
            .body(body.clone())
            .header("content-type", "application/json");
        for (k, v) in &headers {
            rb = rb.header(*k, v);
        }
        let r = rb.send().await.expect("the API answers");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        if status < 500 {
            return (
                status,
                serde_json::from_str(&text).unwrap_or(Value::Null),
                failures,
            );
        }
        failures += 1;
        assert!(failures < 20, "{path} keeps failing: {status} {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn api(stack: &Stack, path: &str, body: Value, key: Option<String>) -> (u16, Value, usize) {
    let mut headers = vec![("authorization", format!("Bearer {}", stack.token_for(T)))];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    call_retrying(stack, path, body.to_string().into_bytes(), headers).await
}

/// Waits until every job of the integration has ended (read straight from moto).
async fn settle(stack: &Stack, id: &str) -> Vec<shared::domain::Job> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let jobs = stack.direct.db.list_jobs(id, 100).await.expect("jobs");
        if !jobs.is_empty() && jobs.iter().all(|j| j.state.is_terminal()) {
            return jobs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs still running: {:?}",
            jobs.iter()
                .map(|j| (j.state, j.progress.clone(), j.last_error.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn scenario(faults: Option<FaultConfig>) -> (EndState, Counts) {
    let stack = system_tests::stack_with(options(faults.is_some())).await;
    let label = if faults.is_some() { "faults" } else { "clean" };
    // Connected and given a webhook key before the faults start: consent is a person's
    // browser round trip, tested under faults of its own in oauth_faults.rs.
    let mut setup = Vec::new();
    for provider in ProviderKind::ALL {
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/webhook-key/rotate"),
                Some(T),
                Some(json!({})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        let key = r.json["key"].as_str().unwrap().to_string();
        let company = stack
            .sandbox
            .state
            .default_company_key(sandbox_kind(provider));
        let seeded = stack
            .sandbox
            .state
            .seed_customers(sandbox_kind(provider), &company, SEEDED);
        setup.push((provider, id, key, company, seeded));
    }
    if let Some(f) = &faults {
        stack.set_aws_faults(f.clone());
    }
    let mut api_failures = 0;
    let started = std::time::Instant::now();
    let lap = |what: &str| {
        eprintln!(
            "{label}: {what} at {:.1} s",
            started.elapsed().as_secs_f64()
        )
    };

    // 1. The app's records, exported by the jobs their upserts queue.
    let now = chrono::Utc::now() - chrono::Duration::minutes(5);
    for (provider, id, ..) in &setup {
        let customers: Vec<Value> = (0..CUSTOMERS).map(|i| customer_json(i, "", now)).collect();
        let invoices: Vec<Value> = (0..INVOICES)
            .map(|i| invoice_json(i, i % CUSTOMERS, *provider))
            .collect();
        for (entity, records) in [("customers", customers), ("invoices", invoices)] {
            let (status, body, failed) = api(
                &stack,
                &format!("/api/integrations/{id}/records/{entity}"),
                json!({ "records": records }),
                Some(format!("{label}-{id}-{entity}")),
            )
            .await;
            assert_eq!(status, 202, "{provider} {entity}: {body}");
            api_failures += failed;
        }
    }
    for (_, id, ..) in &setup {
        settle(&stack, id).await;
    }

    lap("exported");
    // 2. A full pull: the providers' own customers come into the feed.
    for (_, id, ..) in &setup {
        let (status, body, failed) = api(
            &stack,
            &format!("/api/integrations/{id}/sync"),
            json!({"direction": "pull", "mode": "full"}),
            None,
        )
        .await;
        assert_eq!(status, 202, "{body}");
        api_failures += failed;
    }
    for (_, id, ..) in &setup {
        settle(&stack, id).await;
    }

    lap("pulled");
    // 3. A person renames one of the provider's customers; a signed webhook says so.
    for (provider, id, key, company, seeded) in &setup {
        assert!(stack.sandbox.state.modify_customer(
            sandbox_kind(*provider),
            company,
            &seeded[0],
            |v| v["Name"] = json!("Omdöpt via webhook AB"),
        ));
        let body = json!({
            "id": format!("evt-{label}-{provider}"),
            "type": "customer.updated",
            "entity_id": seeded[0],
            "occurred_at": chrono::Utc::now().to_rfc3339(),
        })
        .to_string()
        .into_bytes();
        let signature = sign_ours(key.as_bytes(), chrono::Utc::now().timestamp(), &body);
        let (status, answer, failed) = call_retrying(
            &stack,
            &format!("/api/integrations/{id}/webhook"),
            body,
            vec![("x-signature", signature)],
        )
        .await;
        assert!(
            status == 202,
            "{provider}: the delivery is taken: {status} {answer}"
        );
        api_failures += failed;
    }
    for (_, id, ..) in &setup {
        settle(&stack, id).await;
    }

    lap("webhook");
    // 4. Every access token expires: the next sync refreshes, once per integration.
    for (_, id, ..) in &setup {
        age_stored_token(&stack, T, id).await;
    }
    for (_, id, ..) in &setup {
        let (status, body, failed) = api(
            &stack,
            &format!("/api/integrations/{id}/sync"),
            json!({"direction": "both"}),
            None,
        )
        .await;
        assert_eq!(status, 202, "{body}");
        api_failures += failed;
    }
    for (_, id, ..) in &setup {
        settle(&stack, id).await;
    }

    lap("refreshed");
    // Faults off: what is left.
    let counts = stack.aws_fault_counts();
    if let Some(p) = &stack.aws_faults {
        p.faults_off();
        assert!(
            p.scripted_left().iter().all(|n| *n == 0),
            "every scripted fault hit its requests: {:?} left",
            p.scripted_left()
        );
    }
    let mut state = EndState {
        provider_customers: BTreeMap::new(),
        provider_invoices: BTreeMap::new(),
        feed: BTreeMap::new(),
        mapped: BTreeMap::new(),
        pending: BTreeMap::new(),
        connection: BTreeMap::new(),
    };
    for (provider, id, _, company, _) in &setup {
        let p = provider.to_string();
        let kind = sandbox_kind(*provider);
        let jobs = settle(&stack, id).await;
        let failed: Vec<_> = jobs
            .iter()
            .filter(|j| j.state != JobState::Succeeded)
            .map(|j| (j.id.clone(), j.state, j.last_error.clone()))
            .collect();
        assert!(
            failed.is_empty(),
            "{label} {provider}: jobs that did not succeed: {failed:?}"
        );
        let ref_key = match provider {
            ProviderKind::Fortnox => "ExternalReference",
            ProviderKind::Visma => "CustomerNumber",
        };
        let mut customers: Vec<String> = stack
            .sandbox
            .state
            .customers(kind, company)
            .iter()
            .map(|c| match c.get(ref_key).and_then(Value::as_str) {
                Some(r) if r.starts_with("cust-") => r.to_string(),
                _ => format!("theirs: {}", c["Name"].as_str().unwrap_or_default()),
            })
            .collect();
        customers.sort();
        state.provider_customers.insert(p.clone(), customers);
        state
            .provider_invoices
            .insert(p.clone(), stack.sandbox.state.invoice_count(kind, company));
        let mut feed = Vec::new();
        let mut cursor = 0;
        loop {
            let page = stack
                .direct
                .db
                .feed(id, &[Entity::Customers], cursor, 100)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            feed.extend(page.iter().map(|e| {
                (
                    e.op.clone(),
                    e.record
                        .as_ref()
                        .and_then(|r| r["name"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                )
            }));
        }
        feed.sort();
        state.feed.insert(p.clone(), feed);
        let ids = |prefix: &str, n: usize| {
            (0..n)
                .map(|i| format!("{prefix}-{i:05}"))
                .collect::<Vec<_>>()
        };
        let mapped = |m: std::collections::HashMap<String, shared::store::records::Mapping>| {
            m.values().filter(|m| m.remote_id.is_some()).count()
        };
        let c = stack
            .direct
            .db
            .mappings(id, Entity::Customers, &ids("cust", CUSTOMERS))
            .await
            .unwrap();
        let i = stack
            .direct
            .db
            .mappings(id, Entity::Invoices, &ids("inv", INVOICES))
            .await
            .unwrap();
        state.mapped.insert(p.clone(), (mapped(c), mapped(i)));
        let mut pending = 0;
        for entity in [Entity::Customers, Entity::Invoices] {
            let (rows, _) = stack
                .direct
                .db
                .pending_exports(id, entity, None, 100)
                .await
                .unwrap();
            pending += rows.len();
        }
        state.pending.insert(p.clone(), pending);
        let i = integration(&stack, T, id).await;
        state.connection.insert(
            p.clone(),
            (i.status, stack.sandbox.state.refresh_count(kind)),
        );
        // The grant still works.
        let token = stack.direct.tokens.access_token(&i).await;
        assert!(token.is_ok(), "{label} {provider}: {token:?}");
    }
    eprintln!("{label}: {api_failures} API answers were 5xx and retried by the caller");
    (state, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_percent_aws_faults_lose_nothing_and_duplicate_nothing() {
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    // Ten per cent of everything, every operation at least once, and the nastiest cases aimed
    // at the writes where a lost answer hurts: the SDK retries them, and the retry's condition
    // fails on the write that did land.
    let lost = |service: &str, op: &str, body: &[&str], times| {
        ScriptedFault::new(service, op, body, FaultKind::Lost, times)
    };
    let faults = FaultConfig {
        every_operation: true,
        hold_ms: 1000,
        scripted: vec![
            // A webhook's replay record (one per provider).
            lost("dynamodb", "PutItem", &["WHEVT#"], 2),
            // A job's creation and its saves.
            lost(
                "dynamodb",
                "PutItem",
                &["JOB#", "attribute_not_exists(pk)"],
                1,
            ),
            lost("dynamodb", "PutItem", &["JOB#", "version = :v"], 3),
            // A mapping that records the provider's id after a create.
            lost("dynamodb", "PutItem", &["MAP#", "\"remote_id\""], 2),
            // A job message (sent twice: the SDK retries).
            lost("sqs", "SendMessage", &[], 2),
            // The refreshed token pair.
            lost("secretsmanager", "PutSecretValue", &[], 1),
            ScriptedFault::new(
                "secretsmanager",
                "GetSecretValue",
                &[],
                FaultKind::Timeout,
                1,
            ),
        ],
        ..FaultConfig::rate(0.1, 20261130)
    };
    let (clean, faulty) = tokio::join!(scenario(None), scenario(Some(faults)));
    let (clean, _) = clean;
    let (faulty, counts) = faulty;

    // The clean run is what the product is meant to do.
    for provider in ProviderKind::ALL {
        let p = provider.to_string();
        let ours = clean.provider_customers[&p]
            .iter()
            .filter(|c| c.starts_with("cust-"))
            .count();
        assert_eq!(ours, CUSTOMERS, "{p}: {:?}", clean.provider_customers[&p]);
        assert_eq!(clean.provider_customers[&p].len(), CUSTOMERS + SEEDED);
        assert_eq!(clean.provider_invoices[&p], INVOICES);
        assert_eq!(clean.mapped[&p], (CUSTOMERS, INVOICES));
        assert_eq!(clean.pending[&p], 0);
        assert!(
            clean.feed[&p]
                .iter()
                .any(|(_, name)| name == "Omdöpt via webhook AB"),
            "{p}: the webhook's change is in the feed: {:?}",
            clean.feed[&p]
        );
        assert_eq!(clean.connection[&p].0, IntegrationStatus::Connected);
    }
    eprintln!("clean end state: {clean:#?}");
    assert_eq!(faulty, clean, "10 % AWS faults change the end state");

    // The faults really happened, on every service the functions use, writes included.
    let faulted = |service: &str, op: &str| {
        counts
            .get(service)
            .and_then(|ops| ops.get(op))
            .map(|c| c.total_faults())
            .unwrap_or(0)
    };
    let total: u64 = counts
        .values()
        .flat_map(|ops| ops.values())
        .map(|c| c.total_faults())
        .sum();
    let requests: u64 = counts
        .values()
        .flat_map(|ops| ops.values())
        .map(|c| c.requests)
        .sum();
    eprintln!("{total} faults in {requests} AWS requests: {counts:#?}");
    for service in ["dynamodb", "sqs", "secretsmanager"] {
        let n: u64 = counts
            .get(service)
            .map(|ops| ops.values().map(|c| c.total_faults()).sum())
            .unwrap_or(0);
        assert!(n > 0, "no fault hit {service}: {counts:#?}");
    }
    let dynamo_writes: u64 = ["PutItem", "UpdateItem", "TransactWriteItems"]
        .iter()
        .map(|op| faulted("dynamodb", op))
        .sum();
    assert!(dynamo_writes > 0, "DynamoDB writes were faulted");
    assert!(faulted("sqs", "SendMessage") > 0, "SendMessage was faulted");
    assert!(
        faulted("secretsmanager", "GetSecretValue") + faulted("secretsmanager", "PutSecretValue")
            > 0,
        "Secrets Manager was faulted"
    );
}

/// The proxy's errors are the services' own as the real SDK reads them: every one of the four
/// services, KMS included (the functions never call KMS themselves: Secrets Manager encrypts
/// with the key on its side), gets the code its model names, and the SDK's standard retry
/// takes a throttle, an internal error, a timeout and a lost answer in its stride.
#[tokio::test]
async fn the_proxy_answers_as_the_services_do_and_the_sdk_retries_them() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    let moto = devstack::moto::start_own(0).await.unwrap();
    let direct = devstack::aws::sdk_config(&moto.endpoint).await;
    let table = format!("faults-{}", &uuid_like());
    devstack::aws::create_table(&direct, &table).await.unwrap();
    let key = devstack::aws::create_key(&direct).await.unwrap();
    let queues = devstack::aws::create_queues(&direct, &table, 30, 5)
        .await
        .unwrap();
    let proxy = devstack::aws_faults::AwsFaultProxy::start(&moto.endpoint)
        .await
        .unwrap();
    let proxied = devstack::aws::sdk_config(&proxy.endpoint).await;
    let once = proxied
        .to_builder()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let ddb = aws_sdk_dynamodb::Client::new(&once);
    let sqs = aws_sdk_sqs::Client::new(&once);
    let sm = aws_sdk_secretsmanager::Client::new(&once);
    let kms = aws_sdk_kms::Client::new(&once);
    let item = |k: &str| {
        ddb.put_item()
            .table_name(&table)
            .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(k.into()))
            .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("x".into()))
    };

    for (kind, weights) in [
        (FaultKind::Throttle, [1, 0, 0, 0]),
        (FaultKind::Internal, [0, 1, 0, 0]),
    ] {
        proxy.set_faults(FaultConfig {
            weights,
            ..FaultConfig::rate(1.0, 3)
        });
        let throttled = kind == FaultKind::Throttle;
        let code = |c: Option<&str>| c.unwrap_or_default().to_string();
        let d = item("a").send().await.unwrap_err();
        let d = code(d.code());
        assert!(
            if throttled {
                d == "ThrottlingException" || d == "ProvisionedThroughputExceededException"
            } else {
                d == "InternalServerError"
            },
            "{d}"
        );
        let q = sqs
            .send_message()
            .queue_url(&queues.sync_url)
            .message_body("{}")
            .send()
            .await
            .unwrap_err();
        let q = code(q.code());
        assert!(
            if throttled {
                q == "RequestThrottled"
            } else {
                q == "InternalFailure" || q == "ServiceUnavailable"
            },
            "{q}"
        );
        let s = sm
            .get_secret_value()
            .secret_id("nothing")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code(s.code()),
            if throttled {
                "ThrottlingException"
            } else {
                "InternalServiceError"
            }
        );
        let k = kms
            .encrypt()
            .key_id(&key)
            .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code(k.code()),
            if throttled {
                "ThrottlingException"
            } else {
                "KMSInternalException"
            }
        );
        assert!(k
            .as_service_error()
            .is_some_and(|e| throttled != e.is_kms_internal_exception()));
    }
    let counts = proxy.counts();
    for (service, op) in [
        ("dynamodb", "PutItem"),
        ("sqs", "SendMessage"),
        ("secretsmanager", "GetSecretValue"),
        ("kms", "Encrypt"),
    ] {
        assert_eq!(
            counts[service][op].total_faults(),
            1,
            "{service} {op}: {counts:?}"
        );
    }

    // With the functions' own settings the SDK rides out one fault of every kind, and a
    // lost answer means the write happened.
    let tuned = shared::context::tuned(
        &proxied,
        &shared::config::AwsSdkSettings {
            attempt_timeout: Duration::from_millis(600),
            max_attempts: 5,
            ..Default::default()
        },
    );
    let ddb = aws_sdk_dynamodb::Client::new(&tuned);
    let kms = aws_sdk_kms::Client::new(&tuned);
    for kind in [
        FaultKind::Throttle,
        FaultKind::Internal,
        FaultKind::Timeout,
        FaultKind::Lost,
    ] {
        proxy.set_faults(FaultConfig {
            hold_ms: 1000,
            scripted: vec![
                ScriptedFault::new("dynamodb", "PutItem", &[], kind, 1),
                ScriptedFault::new("kms", "Encrypt", &[], kind, 1),
            ],
            ..FaultConfig::default()
        });
        ddb.put_item()
            .table_name(&table)
            .item(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("{kind:?}")),
            )
            .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("x".into()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
        kms.encrypt()
            .key_id(&key)
            .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
        assert_eq!(proxy.scripted_left(), vec![0, 0], "{kind:?} hit");
        let c = proxy.counts();
        assert_eq!(c["dynamodb"]["PutItem"].requests, 2, "{kind:?}: one retry");
        assert_eq!(c["kms"]["Encrypt"].requests, 2, "{kind:?}: one retry");
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
