//! Fortnox's change stream (`/fortnox/topics-v1`) through a real WebSocket client:
//! commands and answers, many tenants on one connection, ordered offsets, replay, retention,
//! token checks and the stream's faults.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{api_for, fortnox_customer, sandbox, sandbox_with, Api};
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use sandbox::{
    FaultConfig, FaultKind, ProviderKind, RunningSandbox, StreamFaults,
    DEFAULT_FORTNOX_CLIENT_SECRET,
};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const A: &str = "1234567";
const B: &str = "2345678";

async fn connect(sb: &RunningSandbox) -> Ws {
    let url = format!("{}/topics-v1", sb.fortnox_url().replace("http://", "ws://"));
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the stream accepts the connection");
    ws
}

async fn send(ws: &mut Ws, command: Value) {
    ws.send(Message::text(command.to_string()))
        .await
        .expect("command sent");
}

/// The next JSON message, `None` when nothing arrives within `wait` or the connection ended.
async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return Some(serde_json::from_str(&text).expect("JSON message"))
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

async fn command(ws: &mut Ws, command: Value) -> Value {
    send(ws, command).await;
    next(ws, Duration::from_secs(5)).await.expect("an answer")
}

/// A connection with `tokens` added, `topics` (`[{topic, offset?}]`) added and subscribed.
async fn subscribed(sb: &RunningSandbox, tokens: &[&str], topics: Value) -> Ws {
    let mut ws = connect(sb).await;
    let answer = command(
        &mut ws,
        json!({"command": "add-tenants-v1", "clientSecret": DEFAULT_FORTNOX_CLIENT_SECRET,
               "accessTokens": tokens}),
    )
    .await;
    assert_eq!(answer["result"], "ok", "{answer}");
    let answer = command(
        &mut ws,
        json!({"command": "add-topics-v1", "topics": topics}),
    )
    .await;
    assert_eq!(answer["result"], "ok", "{answer}");
    let answer = command(&mut ws, json!({"command": "subscribe-v1"})).await;
    assert_eq!(
        answer,
        json!({"response": "subscribe-v1", "result": "ok"}),
        "{answer}"
    );
    ws
}

async fn events(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        match next(ws, Duration::from_secs(5)).await {
            Some(event) => got.push(event),
            None => panic!("only {} of {n} events arrived: {got:?}", got.len()),
        }
    }
    got
}

/// `(topic, type, tenantId, entityId)` of each event.
fn summary(events: &[Value]) -> Vec<(String, String, i64, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["topic"].as_str().unwrap_or_default().to_string(),
                e["type"].as_str().unwrap_or_default().to_string(),
                e["tenantId"].as_i64().unwrap_or_default(),
                e["entityId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn offset(event: &Value) -> u64 {
    event["offset"]
        .as_str()
        .and_then(|o| o.parse().ok())
        .unwrap_or_else(|| panic!("offset is a string: {event}"))
}

async fn create_customer(api: &Api, name: &str) -> String {
    let (status, body) = api.post("/3/customers", &fortnox_customer(name)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["Customer"]["CustomerNumber"]
        .as_str()
        .expect("customer number")
        .to_string()
}

fn ev(topic: &str, kind: &str, tenant: &str, id: &str) -> (String, String, i64, String) {
    (
        topic.into(),
        kind.into(),
        tenant.parse().unwrap(),
        id.into(),
    )
}

#[tokio::test]
async fn two_tenants_on_one_connection_see_every_change_in_order() {
    let sb = sandbox().await;
    let a = api_for(&sb, ProviderKind::Fortnox, Some(A));
    let b = api_for(&sb, ProviderKind::Fortnox, Some(B));
    let mut ws = connect(&sb).await;
    let answer = command(
        &mut ws,
        json!({"command": "add-tenants-v1", "clientSecret": DEFAULT_FORTNOX_CLIENT_SECRET,
               "accessTokens": [a.token, format!("Bearer {}", b.token)]}),
    )
    .await;
    assert_eq!(answer["response"], "add-tenants-v1");
    assert_eq!(answer["result"], "ok", "{answer}");
    assert_eq!(answer["tenantIds"][&a.token], 1_234_567);
    assert_eq!(
        answer["tenantIds"][format!("Bearer {}", b.token)],
        2_345_678
    );
    assert_eq!(answer["invalidTokens"], json!([]));
    let answer = command(
        &mut ws,
        json!({"command": "add-topics-v1", "topics": [{"topic": "customers"}, {"topic": "invoices"}]}),
    )
    .await;
    assert_eq!(answer, json!({"response": "add-topics-v1", "result": "ok"}));
    // Nothing flows before subscribe-v1; what changed after add-topics-v1 comes after it.
    let early = create_customer(&a, "Före Prenumeration AB").await;
    assert_eq!(next(&mut ws, Duration::from_millis(300)).await, None);
    let answer = command(&mut ws, json!({"command": "subscribe-v1"})).await;
    assert_eq!(answer["result"], "ok");

    let c1 = create_customer(&a, "Kund Ett AB").await;
    let (status, _) = a
        .put(
            &format!("/3/customers/{c1}"),
            &json!({"Customer": {"City": "Luleå"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let c2 = create_customer(&b, "Kund Två AB").await;
    let (status, body) = a
        .post("/3/invoices", &json!({"Invoice": {"CustomerNumber": c1}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let inv = body["Invoice"]["DocumentNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = a
        .put(
            &format!("/3/invoices/{inv}"),
            &json!({"Invoice": {"YourReference": "Anna"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = a.put_empty(&format!("/3/invoices/{inv}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = a.delete(&format!("/3/customers/{early}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The state helpers stream too.
    let seeded = sb.state.seed_customers(ProviderKind::Fortnox, B, 1);
    assert!(sb
        .state
        .modify_customer(ProviderKind::Fortnox, B, &seeded[0], |c| c["City"] =
            json!("Kiruna")));
    assert!(sb.state.delete_customer(ProviderKind::Fortnox, B, &c2));

    let got = events(&mut ws, 11).await;
    assert_eq!(
        summary(&got),
        vec![
            ev("customers", "customer-created-v1", A, &early),
            ev("customers", "customer-created-v1", A, &c1),
            ev("customers", "customer-updated-v2", A, &c1),
            ev("customers", "customer-created-v1", B, &c2),
            ev("invoices", "invoice-created-v1", A, &inv),
            ev("invoices", "invoice-updated-v1", A, &inv),
            ev("invoices", "invoice-cancelled-v1", A, &inv),
            ev("customers", "customer-deleted-v1", A, &early),
            ev("customers", "customer-created-v1", B, &seeded[0]),
            ev("customers", "customer-updated-v2", B, &seeded[0]),
            ev("customers", "customer-deleted-v1", B, &c2),
        ]
    );
    // Offsets increase by one per topic.
    let customers: Vec<u64> = got
        .iter()
        .filter(|e| e["topic"] == "customers")
        .map(offset)
        .collect();
    let invoices: Vec<u64> = got
        .iter()
        .filter(|e| e["topic"] == "invoices")
        .map(offset)
        .collect();
    assert_eq!(customers, (0..=7).collect::<Vec<_>>());
    assert_eq!(invoices, vec![0, 1, 2]);
    // The timestamp is the record's change time, in Swedish time with milliseconds.
    let stamp = got[2]["timestamp"].as_str().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(stamp).expect("RFC 3339 timestamp");
    assert!(
        stamp.ends_with("+01:00") || stamp.ends_with("+02:00"),
        "{stamp}"
    );
    assert_eq!(
        stamp.split('.').nth(1).map(|f| f.len()),
        Some(3 + 6),
        "{stamp}"
    );
    assert!((chrono::Utc::now() - at.to_utc()).num_seconds() < 60);
    assert_eq!(sb.state.stream_events().len(), 11);

    // remove-tenants-v1: B's changes stop, A's still come.
    let answer = command(
        &mut ws,
        json!({"command": "remove-tenants-v1", "tenants": [2_345_678]}),
    )
    .await;
    assert_eq!(
        answer,
        json!({"response": "remove-tenants-v1", "result": "ok"})
    );
    create_customer(&b, "Borttagen Tenant AB").await;
    let c3 = create_customer(&a, "Kund Tre AB").await;
    let got = events(&mut ws, 1).await;
    assert_eq!(
        summary(&got),
        vec![ev("customers", "customer-created-v1", A, &c3)]
    );
    assert_eq!(next(&mut ws, Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn replay_from_an_offset_inside_the_window_and_an_error_outside_it() {
    let sb = sandbox_with(|c| c.stream_retention = Duration::from_millis(2000)).await;
    let a = api_for(&sb, ProviderKind::Fortnox, Some(A));
    let first = create_customer(&a, "Första AB").await;
    let second = create_customer(&a, "Andra AB").await;

    // From offset 1: the second create, and only it (offsets are inclusive).
    let mut ws = subscribed(
        &sb,
        &[&a.token],
        json!([{"topic": "customers", "offset": "1"}]),
    )
    .await;
    let got = events(&mut ws, 1).await;
    assert_eq!(
        summary(&got),
        vec![ev("customers", "customer-created-v1", A, &second)]
    );
    assert_eq!(offset(&got[0]), 1);
    assert_eq!(next(&mut ws, Duration::from_millis(200)).await, None);
    // From offset 0: both.
    let mut ws = subscribed(
        &sb,
        &[&a.token],
        json!([{"topic": "customers", "offset": "0"}]),
    )
    .await;
    let got = events(&mut ws, 2).await;
    assert_eq!(got[0]["entityId"], first.as_str());
    assert_eq!(got[1]["entityId"], second.as_str());

    // Past the retention window, offsets 0 and 1 are gone.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let third = create_customer(&a, "Tredje AB").await;
    let mut ws = connect(&sb).await;
    let answer = command(
        &mut ws,
        json!({"command": "add-tenants-v1", "clientSecret": DEFAULT_FORTNOX_CLIENT_SECRET,
               "accessTokens": [a.token]}),
    )
    .await;
    assert_eq!(answer["result"], "ok");
    for (topics, invalid) in [
        (
            json!([{"topic": "customers", "offset": "0"}]),
            json!(["customers"]),
        ),
        (
            json!([{"topic": "customers", "offset": "99"}]),
            json!(["customers"]),
        ),
        (json!([{"topic": "orders"}]), json!(["orders"])),
    ] {
        let answer = command(
            &mut ws,
            json!({"command": "add-topics-v1", "topics": topics}),
        )
        .await;
        assert_eq!(
            answer,
            json!({"response": "add-topics-v1", "result": "error", "invalidTopics": invalid})
        );
    }
    let answer = command(
        &mut ws,
        json!({"command": "add-topics-v1", "topics": [{"topic": "customers", "offset": "2"}]}),
    )
    .await;
    assert_eq!(answer["result"], "ok", "{answer}");
    let answer = command(&mut ws, json!({"command": "subscribe-v1"})).await;
    assert_eq!(answer["result"], "ok");
    let got = events(&mut ws, 1).await;
    assert_eq!(
        summary(&got),
        vec![ev("customers", "customer-created-v1", A, &third)]
    );
    assert_eq!(offset(&got[0]), 2);
}

#[tokio::test]
async fn bad_tokens_and_a_wrong_secret_are_refused() {
    let sb = sandbox().await;
    let a = api_for(&sb, ProviderKind::Fortnox, Some(A));
    let visma = api_for(&sb, ProviderKind::Visma, None);
    let mut ws = connect(&sb).await;

    // A wrong client secret: no token is accepted.
    let answer = command(
        &mut ws,
        json!({"command": "add-tenants-v1", "clientSecret": "not-the-secret", "accessTokens": [a.token]}),
    )
    .await;
    assert_eq!(answer["result"], "error", "{answer}");
    assert_eq!(answer["tenantIds"], json!({}));
    assert_eq!(answer["invalidTokens"], json!([a.token]));

    // An unknown token and another provider's token fail; the valid one is added.
    let answer = command(
        &mut ws,
        json!({"command": "add-tenants-v1", "clientSecret": DEFAULT_FORTNOX_CLIENT_SECRET,
               "accessTokens": ["made-up-token", visma.token, a.token]}),
    )
    .await;
    assert_eq!(answer["result"], "error", "{answer}");
    assert_eq!(
        answer["invalidTokens"],
        json!(["made-up-token", visma.token])
    );
    assert_eq!(answer["tenantIds"], json!({ (a.token.clone()): 1_234_567 }));

    // An expired token fails.
    let b = api_for(&sb, ProviderKind::Fortnox, Some(B));
    sb.state.expire_access_tokens();
    let answer = command(
        &mut ws,
        json!({"command": "add-tenants-v1", "clientSecret": DEFAULT_FORTNOX_CLIENT_SECRET,
               "accessTokens": [b.token]}),
    )
    .await;
    assert_eq!(answer["invalidTokens"], json!([b.token]));

    // Only A's changes come; B was never added. Unknown commands get an error answer.
    let answer = command(&mut ws, json!({"command": "start-v1"})).await;
    assert_eq!(answer["result"], "error");
    assert_eq!(answer["response"], "start-v1");
    let answer = command(
        &mut ws,
        json!({"command": "add-topics-v1", "topics": [{"topic": "customers"}]}),
    )
    .await;
    assert_eq!(answer["result"], "ok");
    let answer = command(&mut ws, json!({"command": "subscribe-v1"})).await;
    assert_eq!(answer["result"], "ok");
    sb.state.seed_customers(ProviderKind::Fortnox, B, 1);
    let seeded = sb.state.seed_customers(ProviderKind::Fortnox, A, 1);
    let got = events(&mut ws, 1).await;
    assert_eq!(
        summary(&got),
        vec![ev("customers", "customer-created-v1", A, &seeded[0])]
    );
    assert_eq!(next(&mut ws, Duration::from_millis(200)).await, None);
}

#[tokio::test]
async fn a_dropped_connection_resumes_from_the_last_offset_without_loss() {
    let sb = sandbox().await;
    let a = api_for(&sb, ProviderKind::Fortnox, Some(A));
    let numbers = sb.state.seed_customers(ProviderKind::Fortnox, A, 8);
    sb.state.set_faults(FaultConfig {
        seed: 7,
        stream: StreamFaults {
            drop_connection: 0.3,
            max_faults: Some(2),
            ..StreamFaults::default()
        },
        ..FaultConfig::default()
    });

    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut last: Option<u64> = None;
    let mut connections = 0;
    while seen.len() < numbers.len() {
        connections += 1;
        assert!(connections <= 5, "too many reconnections; seen {seen:?}");
        let from = last.unwrap_or(0).to_string();
        let mut ws = subscribed(
            &sb,
            &[&a.token],
            json!([{"topic": "customers", "offset": from}]),
        )
        .await;
        // Read until the connection drops or everything arrived.
        while let Some(event) = next(&mut ws, Duration::from_millis(500)).await {
            let o = offset(&event);
            // In order: never before the resume point, never backwards.
            assert!(last.is_none_or(|l| o >= l), "{o} after {last:?}");
            last = Some(o);
            seen.insert(o, event["entityId"].as_str().unwrap().to_string());
            if seen.len() == numbers.len() {
                break;
            }
        }
    }
    let drops = sb
        .state
        .faults_injected()
        .iter()
        .filter(|f| f.kind == FaultKind::StreamDrop)
        .count();
    assert_eq!(drops, 2, "the connection was dropped twice");
    assert_eq!(connections, 3);
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    assert_eq!(seen.into_values().collect::<Vec<_>>(), numbers);
}

#[tokio::test]
async fn duplicates_and_a_slow_stream() {
    let sb = sandbox().await;
    let a = api_for(&sb, ProviderKind::Fortnox, Some(A));
    sb.state.set_faults(FaultConfig {
        stream: StreamFaults {
            duplicate: 1.0,
            max_faults: Some(1),
            delay_ms: 150,
            ..StreamFaults::default()
        },
        ..FaultConfig::default()
    });
    let mut ws = subscribed(&sb, &[&a.token], json!([{"topic": "customers"}])).await;
    let started = Instant::now();
    let numbers = sb.state.seed_customers(ProviderKind::Fortnox, A, 2);
    let got = events(&mut ws, 3).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(got[0], got[1], "the first event came twice");
    assert_eq!(
        summary(&got[1..]),
        vec![
            ev("customers", "customer-created-v1", A, &numbers[0]),
            ev("customers", "customer-created-v1", A, &numbers[1]),
        ]
    );
    assert_eq!(next(&mut ws, Duration::from_millis(400)).await, None);
    let kinds: Vec<FaultKind> = sb.state.faults_injected().iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        vec![
            FaultKind::StreamSlow,
            FaultKind::StreamDuplicate,
            FaultKind::StreamSlow
        ]
    );

    // Shutting the sandbox down closes the stream (a close frame, then the end).
    sb.into_inner().shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
    assert!(
        matches!(end, Ok(None | Some(Ok(Message::Close(_))))),
        "the stream closes: {end:?}"
    );
}
