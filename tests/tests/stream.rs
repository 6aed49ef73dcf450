//! Fortnox's change stream end to end: the sandbox's WebSocket, the consumer as the stream
//! function runs it (`devstack::Stack::start_stream`), the queue and the workers, and the app's
//! feed. No test here asks for a sync: what reaches the feed came through the stream.

use chrono::Utc;
use devstack::{Stack, StackOptions};
use reqwest::Method;
use sandbox::{FaultConfig, ProviderKind as SandboxKind, StreamFaults};
use serde_json::{json, Value};
use shared::domain::{Entity, JobState, Mode, ProviderKind, Trigger};
use std::time::{Duration, Instant};
use system_tests::{assert_contracts_kept, stack_with};

const T: &str = "tenant-stream";
const F: SandboxKind = SandboxKind::Fortnox;
/// A run of the consumer in these tests (a Lambda run holds it for 14 minutes).
const RUN: Duration = Duration::from_secs(600);

async fn stack(workers: usize) -> Stack {
    stack_with(StackOptions {
        workers,
        ..StackOptions::default()
    })
    .await
}

/// Waits until a consumer holds the stream, subscribed, with `n` integrations on it.
async fn wait_on_stream(stack: &Stack, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lease = stack.direct.db.stream_lease().await.unwrap();
        if lease
            .as_ref()
            .is_some_and(|l| l.subscribed && l.integrations == n)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no consumer subscribed with {n} integrations: {lease:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

use system_tests::feed;

/// Waits until the feed's latest entry for `remote_id` satisfies `ok`; gives how long it took.
async fn wait_feed(
    stack: &Stack,
    id: &str,
    entity: &str,
    remote_id: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let entries = feed(stack, T, id, entity).await;
        let latest = entries
            .iter()
            .rev()
            .find(|e| e["remote_id"] == remote_id)
            .cloned();
        if latest.as_ref().is_some_and(&ok) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "{what}: {entity} {remote_id} never reached the feed; latest entry {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A person's session at the sandbox's Fortnox: its REST API with a token of its own.
struct Person {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Person {
    fn new(stack: &Stack, company: &str) -> Person {
        let token = stack.sandbox.state.issue_access_token(
            F,
            "fortnox-dev-client",
            company,
            &["customer", "invoice"],
        );
        Person {
            http: reqwest::Client::new(),
            base: stack.sandbox.fortnox_url(),
            token,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

/// Waits until every event the sandbox streamed is behind the stored offsets.
async fn wait_offsets_caught_up(stack: &Stack) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = stack.sandbox.state.stream_events();
        let stored = stack.direct.db.stream_offsets().await.unwrap();
        let behind = ["customers", "invoices"].iter().any(|t| {
            let head = events
                .iter()
                .filter(|e| e.topic == *t)
                .map(|e| e.offset + 1)
                .max();
            head.is_some_and(|h| stored.get(*t).and_then(|o| o.parse::<u64>().ok()) < Some(h))
        });
        if !behind {
            return;
        }
        assert!(Instant::now() < deadline, "offsets stay behind: {stored:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stream_jobs(stack: &Stack, id: &str) -> Vec<shared::domain::Job> {
    stack
        .direct
        .db
        .list_jobs(id, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.trigger == Trigger::Stream)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_updates_and_deletes_at_fortnox_reach_the_feed_with_no_sync() {
    let stack = stack(2).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let company = stack.sandbox.state.default_company_key(F);
    let _consumer = stack.start_stream(RUN);
    wait_on_stream(&stack, 1).await;
    let mut lags = Vec::new();

    // A customer: created, renamed, deleted by a person in Fortnox.
    let c = stack.sandbox.state.seed_customers(F, &company, 1)[0].clone();
    lags.push(
        wait_feed(&stack, &id, "customers", &c, "created", |e| {
            e["op"] == "upsert"
        })
        .await,
    );
    assert!(stack
        .sandbox
        .state
        .modify_customer(F, &company, &c, |v| v["Name"] = json!("Strömmad Bygg AB")));
    lags.push(
        wait_feed(&stack, &id, "customers", &c, "renamed", |e| {
            e["record"]["name"] == "Strömmad Bygg AB"
        })
        .await,
    );
    assert!(stack.sandbox.state.delete_customer(F, &company, &c));
    lags.push(
        wait_feed(&stack, &id, "customers", &c, "deleted", |e| {
            e["op"] == "delete"
        })
        .await,
    );

    // An invoice: created, changed, cancelled (Fortnox deletes no invoice: it cancels it).
    let buyer = stack.sandbox.state.seed_customers(F, &company, 2)[1].clone();
    let person = Person::new(&stack, &company);
    let created = person
        .send(
            Method::POST,
            "/3/invoices",
            Some(json!({"Invoice": {
                "CustomerNumber": buyer,
                "InvoiceRows": [{"AccountNumber": 3001, "DeliveredQuantity": "2", "Price": 450, "Description": "Montering"}]
            }})),
        )
        .await;
    let n = created["Invoice"]["DocumentNumber"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            created["Invoice"]["DocumentNumber"]
                .as_i64()
                .map(|n| n.to_string())
        })
        .expect("a document number");
    lags.push(
        wait_feed(&stack, &id, "invoices", &n, "created", |e| {
            e["op"] == "upsert"
        })
        .await,
    );
    person
        .send(
            Method::PUT,
            &format!("/3/invoices/{n}"),
            Some(json!({"Invoice": {"YourReference": "Anna Svensson"}})),
        )
        .await;
    lags.push(
        wait_feed(&stack, &id, "invoices", &n, "changed", |e| {
            e["record"]["your_reference"] == "Anna Svensson"
        })
        .await,
    );
    person
        .send(Method::PUT, &format!("/3/invoices/{n}/cancel"), None)
        .await;
    lags.push(
        wait_feed(&stack, &id, "invoices", &n, "cancelled", |e| {
            e["record"]["cancelled"] == true
        })
        .await,
    );
    eprintln!("change → feed: {lags:?}");

    let jobs = stream_jobs(&stack, &id).await;
    assert!(jobs.len() >= 6, "one targeted pull a change: {jobs:?}");
    assert!(jobs
        .iter()
        .all(|j| j.target.as_ref().is_some_and(|t| t.changed_at.is_some())));
    // Freshness counts from the provider's change times the events gave.
    let r = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    let customers = r.json["freshness"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["entity"] == "customers").cloned())
        .expect("customer freshness");
    assert!(customers["newest_change_at"].is_string(), "{customers}");
    assert!(
        customers["lag_seconds"].as_i64().unwrap() < 30,
        "{customers}"
    );
    assert_contracts_kept(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stopped_mid_stream_loses_nothing_and_queues_one_pull_a_pending_record() {
    // No workers at first: every queued pull stays pending.
    let stack = stack(0).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let company = stack.sandbox.state.default_company_key(F);
    let seeded = stack.sandbox.state.seed_customers(F, &company, 5);
    let name = |c: usize, round: usize| format!("Kund {c} version {round}");

    let first = stack.start_stream(RUN);
    wait_on_stream(&stack, 1).await;
    let from = stack.sandbox.state.stream_events().len() as u64;
    for round in 1..=2 {
        for (c, cid) in seeded.iter().enumerate() {
            assert!(stack
                .sandbox
                .state
                .modify_customer(F, &company, cid, |v| { v["Name"] = json!(name(c, round)) }));
        }
    }
    wait_offsets_caught_up(&stack).await;
    first.kill();
    // Changes while no consumer runs; then a replay from before everything (as after a run
    // that queued its work but died before storing its offsets).
    for (c, cid) in seeded.iter().enumerate() {
        assert!(stack
            .sandbox
            .state
            .modify_customer(F, &company, cid, |v| { v["Name"] = json!(name(c, 3)) }));
    }
    rewind(&stack, "customers", from).await;
    let second = stack.start_stream(RUN);
    wait_on_stream(&stack, 1).await;
    wait_offsets_caught_up(&stack).await;

    let jobs = stream_jobs(&stack, &id).await;
    assert_eq!(
        jobs.len(),
        5,
        "15 changes (10 of them delivered twice) of 5 records: one pending pull each: {jobs:?}"
    );
    assert!(jobs.iter().all(|j| j.state == JobState::Queued));

    stack.start_workers(2);
    for (c, cid) in seeded.iter().enumerate() {
        wait_feed(&stack, &id, "customers", cid, "third change", |e| {
            e["record"]["name"] == name(c, 3).as_str()
        })
        .await;
    }
    // The pulls have taken their markers: a new change is a new pull.
    assert!(stack
        .sandbox
        .state
        .modify_customer(F, &company, &seeded[0], |v| {
            v["Name"] = json!(name(0, 4))
        }));
    wait_feed(&stack, &id, "customers", &seeded[0], "fourth change", |e| {
        e["record"]["name"] == name(0, 4).as_str()
    })
    .await;
    assert_eq!(stream_jobs(&stack, &id).await.len(), 6);
    drop(second);
    assert_contracts_kept(&stack);
}

/// Sets the stored offset of `topic` back to `offset`, as a run that died before storing its
/// progress leaves it.
async fn rewind(stack: &Stack, topic: &str, offset: u64) {
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .update_item()
        .table_name(stack.ctx.db.table())
        .key("pk", s("STREAM#fortnox"))
        .key("sk", s("OFFSETS"))
        .update_expression("SET #t = :o")
        .expression_attribute_names("#t", format!("topic_{topic}"))
        .expression_attribute_values(":o", s(offset.to_string()))
        .send()
        .await
        .unwrap();
}

fn s(v: impl Into<String>) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_duplicate_deliveries_lose_and_change_nothing() {
    let stack = stack(2).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let company = stack.sandbox.state.default_company_key(F);
    let seeded = stack.sandbox.state.seed_customers(F, &company, 8);
    let _consumer = stack.start_stream(RUN);
    wait_on_stream(&stack, 1).await;
    stack.sandbox.state.set_faults(FaultConfig {
        stream: StreamFaults {
            duplicate: 0.3,
            drop_connection: 0.15,
            ..StreamFaults::default()
        },
        ..FaultConfig::default()
    });
    for round in 1..=3 {
        for (c, cid) in seeded.iter().enumerate() {
            assert!(stack.sandbox.state.modify_customer(F, &company, cid, |v| {
                v["Name"] = json!(format!("Kund {c} runda {round}"))
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (c, cid) in seeded.iter().enumerate() {
        wait_feed(&stack, &id, "customers", cid, "last round", |e| {
            e["record"]["name"] == format!("Kund {c} runda 3").as_str()
        })
        .await;
    }
    let faults = stack.sandbox.state.faults_injected();
    let count = |k: sandbox::FaultKind| faults.iter().filter(|f| f.kind == k).count();
    assert!(
        count(sandbox::FaultKind::StreamDuplicate) >= 1,
        "{faults:?}"
    );
    assert!(count(sandbox::FaultKind::StreamDrop) >= 1, "{faults:?}");
    stack.sandbox.state.set_faults(FaultConfig::default());
    // Every record's feed ends at its last name, written once per change at most.
    for cid in &seeded {
        let entries = feed(&stack, T, &id, "customers").await;
        let mine = entries
            .iter()
            .filter(|e| e["remote_id"] == cid.as_str())
            .count();
        assert!(
            (1..=3).contains(&mine),
            "{cid}: {mine} feed entries for 3 changes"
        );
    }
    let jobs = stream_jobs(&stack, &id).await;
    assert!(
        jobs.len() <= 24,
        "at most one pull a change: {}",
        jobs.len()
    );
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
    assert_contracts_kept(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_older_than_the_retention_window_falls_back_to_a_full_pull() {
    let stack = stack(2).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let company = stack.sandbox.state.default_company_key(F);
    let seeded = stack.sandbox.state.seed_customers(F, &company, 2);
    let first = stack.start_stream(RUN);
    wait_on_stream(&stack, 1).await;
    assert!(stack
        .sandbox
        .state
        .modify_customer(F, &company, &seeded[0], |v| {
            v["Name"] = json!("Före uppehållet AB")
        }));
    wait_offsets_caught_up(&stack).await;
    first.kill();
    // While nobody listens, a change, and then the stream forgets everything before now.
    assert!(stack
        .sandbox
        .state
        .modify_customer(F, &company, &seeded[1], |v| {
            v["Name"] = json!("Under uppehållet AB")
        }));
    stack.sandbox.state.set_stream_retention(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(20)).await;
    stack
        .sandbox
        .state
        .set_stream_retention(Duration::from_secs(14 * 24 * 3600));

    let _second = stack.start_stream(RUN);
    wait_on_stream(&stack, 1).await;
    wait_feed(&stack, &id, "customers", &seeded[1], "missed change", |e| {
        e["record"]["name"] == "Under uppehållet AB"
    })
    .await;
    let full: Vec<_> = stream_jobs(&stack, &id)
        .await
        .into_iter()
        .filter(|j| j.mode == Mode::Full)
        .collect();
    assert_eq!(full.len(), 1, "one full pull: {full:?}");
    assert_eq!(full[0].entities, vec![Entity::Customers]);
    // From then on the topic is read from its head, with no second fallback.
    assert!(stack
        .sandbox
        .state
        .modify_customer(F, &company, &seeded[0], |v| {
            v["Name"] = json!("Efter uppehållet AB")
        }));
    wait_feed(&stack, &id, "customers", &seeded[0], "after", |e| {
        e["record"]["name"] == "Efter uppehållet AB"
    })
    .await;
    assert_eq!(
        stored_topic(&stack, "customers").await,
        Some((stack.sandbox.state.stream_events().last().unwrap().offset + 1).to_string())
    );
    assert_contracts_kept(&stack);
}

async fn stored_topic(stack: &Stack, topic: &str) -> Option<String> {
    stack
        .direct
        .db
        .stream_offsets()
        .await
        .unwrap()
        .get(topic)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_integration_leaves_the_stream() {
    let stack = stack(2).await;
    // Two of the app's tenants connect the same Fortnox company.
    let (kept, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let (leaving, _) = stack
        .connect("tenant-stream-2", ProviderKind::Fortnox, true)
        .await
        .unwrap();
    let company = stack.sandbox.state.default_company_key(F);
    let seeded = stack.sandbox.state.seed_customers(F, &company, 1);
    let _consumer = stack.start_stream(RUN);
    wait_on_stream(&stack, 2).await;

    let r = stack
        .call(
            Method::DELETE,
            &format!("/api/integrations/{leaving}"),
            Some("tenant-stream-2"),
            None,
        )
        .await
        .unwrap();
    assert!(r.status < 300, "{}", r.text);
    wait_on_stream(&stack, 1).await;
    let at = Utc::now();
    assert!(stack
        .sandbox
        .state
        .modify_customer(F, &company, &seeded[0], |v| {
            v["Name"] = json!("Bara för den som stannar AB")
        }));
    wait_feed(&stack, &kept, "customers", &seeded[0], "kept", |e| {
        e["record"]["name"] == "Bara för den som stannar AB"
    })
    .await;
    let late: Vec<_> = stream_jobs(&stack, &leaving)
        .await
        .into_iter()
        .filter(|j| j.created_at >= at)
        .collect();
    assert!(
        late.is_empty(),
        "no pulls for a disconnected integration: {late:?}"
    );

    // The last integration of the company leaves: the company leaves the stream.
    let r = stack
        .call(
            Method::DELETE,
            &format!("/api/integrations/{kept}"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert!(r.status < 300, "{}", r.text);
    wait_on_stream(&stack, 0).await;
    let at = Utc::now();
    assert!(stack
        .sandbox
        .state
        .modify_customer(F, &company, &seeded[0], |v| {
            v["Name"] = json!("Ingen lyssnar AB")
        }));
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in [&kept, &leaving] {
        let late: Vec<_> = stream_jobs(&stack, id)
            .await
            .into_iter()
            .filter(|j| j.created_at >= at)
            .collect();
        assert!(late.is_empty(), "{late:?}");
    }
    assert_contracts_kept(&stack);
}

/// The Fortnox name of customer `rid`.
fn fortnox_name(stack: &Stack, rid: &str) -> String {
    let company = stack.sandbox.state.default_company_key(F);
    stack
        .sandbox
        .state
        .customers(F, &company)
        .into_iter()
        .find(|c| c["CustomerNumber"] == rid)
        .and_then(|c| c["Name"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Waits until the stream has queued `n` pulls for the integration.
async fn wait_stream_jobs(stack: &Stack, id: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stream_jobs(stack, id).await.len() < n {
        assert!(Instant::now() < deadline, "the stream queued no pull");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_with_fortnox_records_are_decided_by_the_events_times_in_both_orders() {
    let stack = stack(2).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let company = stack.sandbox.state.default_company_key(F);
    let _consumer = stack.start_stream(RUN);
    wait_on_stream(&stack, 1).await;
    let mut customer = system_tests::customer_json(1, "", Utc::now() - chrono::Duration::hours(1));
    system_tests::upsert(&stack, T, &id, "customers", vec![customer.clone()]).await;
    system_tests::wait_idle(&stack, &id, Duration::from_secs(60)).await;
    let rid = stack
        .direct
        .db
        .mappings(&id, Entity::Customers, &["cust-00001".to_string()])
        .await
        .unwrap()["cust-00001"]
        .remote_id
        .clone()
        .expect("exported");
    // Our own create comes back as a stream event, and its pull must be done before the count:
    // a person's change made while that pull still waits (its workers stopped below) is folded
    // into it, rightly, and no new pull is queued (a CI run met exactly that).
    wait_stream_jobs(&stack, &id, 1).await;
    system_tests::wait_idle(&stack, &id, Duration::from_secs(60)).await;
    let mut pulls = stream_jobs(&stack, &id).await.len();

    // 1. Fortnox changes first, the app a moment later: both changes lie in the past when
    //    they meet, and only the event's time says Fortnox's came first. The app wins.
    stack.kill_workers();
    let person_at = Utc::now();
    assert!(stack.sandbox.state.modify_customer(F, &company, &rid, |v| {
        v["Name"] = json!("Ändrad i Fortnox först AB")
    }));
    pulls += 1;
    wait_stream_jobs(&stack, &id, pulls).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    customer["name"] = json!("Ändrad i appen sedan AB");
    customer["updated_at"] = json!(Utc::now());
    system_tests::upsert(&stack, T, &id, "customers", vec![customer.clone()]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stack.start_workers(2);
    system_tests::wait_idle(&stack, &id, Duration::from_secs(60)).await;
    assert_eq!(fortnox_name(&stack, &rid), "Ändrad i appen sedan AB");
    let conflicts = conflicts(&stack, &id).await;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["winner"], "local");
    let remote_at: chrono::DateTime<Utc> =
        serde_json::from_value(conflicts[0]["remote_modified_at"].clone()).unwrap();
    assert!(
        (remote_at - person_at).num_milliseconds().abs() < 1000,
        "decided by the event's time {remote_at}, the change was made at {person_at}"
    );

    // 2. The app first, Fortnox a moment later: Fortnox wins, and the app hears of it.
    stack.kill_workers();
    customer["name"] = json!("Ändrad i appen först AB");
    customer["updated_at"] = json!(Utc::now());
    system_tests::upsert(&stack, T, &id, "customers", vec![customer.clone()]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(stack.sandbox.state.modify_customer(F, &company, &rid, |v| {
        v["Name"] = json!("Ändrad i Fortnox sedan AB")
    }));
    pulls += 1;
    wait_stream_jobs(&stack, &id, pulls).await;
    stack.start_workers(2);
    system_tests::wait_idle(&stack, &id, Duration::from_secs(60)).await;
    assert_eq!(fortnox_name(&stack, &rid), "Ändrad i Fortnox sedan AB");
    wait_feed(&stack, &id, "customers", &rid, "Fortnox wins", |e| {
        e["record"]["name"] == "Ändrad i Fortnox sedan AB"
    })
    .await;
    let conflicts = self::conflicts(&stack, &id).await;
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    assert!(
        conflicts.iter().any(|c| c["winner"] == "provider"),
        "{conflicts:?}"
    );
    assert_contracts_kept(&stack);
}

async fn conflicts(stack: &Stack, id: &str) -> Vec<Value> {
    let r = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/conflicts"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["conflicts"].as_array().cloned().unwrap_or_default()
}

#[path = "stream/offsets.rs"]
mod offsets;
