//! Signed webhooks end to end: deliveries through the devstack's function-URL route, keys
//! from the rotation endpoint, replay records in DynamoDB, jobs on the SQS queue (no worker
//! runs, so every message stays on the queue to be counted).

use devstack::{Stack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{Direction, Entity, IntegrationStatus, JobState, ProviderKind, Trigger};
use shared::webhooks::signature::{sign_ours, sign_visma};
use std::time::Duration;
use system_tests::{integration, secret, stack_with, webhook_secret};

const T: &str = "tenant-webhooks";

async fn quiet_stack() -> Stack {
    stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await
}

/// A connected integration and its webhook key, as a sender gets it: from the rotation answer.
async fn connected(stack: &Stack, provider: ProviderKind) -> (String, String) {
    let (id, _) = stack.connect(T, provider, true).await.unwrap();
    let r = rotate(stack, &id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    (
        id,
        r.json["key"]
            .as_str()
            .expect("the new key is shown")
            .to_string(),
    )
}

async fn rotate(stack: &Stack, id: &str, body: Value) -> devstack::ApiResponse {
    stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/webhook-key/rotate"),
            Some(T),
            Some(body),
        )
        .await
        .unwrap()
}

/// A reply, read whole.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    json: Value,
    text: String,
}

/// Posts raw bytes with the given headers to the integration's webhook URL.
async fn post(stack: &Stack, id: &str, body: &[u8], headers: &[(&str, String)]) -> Reply {
    let mut rb = stack
        .http()
        .post(format!("{}/api/integrations/{id}/webhook", stack.api_url))
        .body(body.to_vec());
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = r.text().await.unwrap();
    Reply {
        status,
        content_type,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// A delivery signed with our scheme at `t`.
async fn send_at(stack: &Stack, id: &str, key: &str, body: &[u8], t: i64) -> Reply {
    post(
        stack,
        id,
        body,
        &[
            ("content-type", "application/json".into()),
            ("x-signature", sign_ours(key.as_bytes(), t, body)),
        ],
    )
    .await
}

async fn send(stack: &Stack, id: &str, key: &str, body: &[u8]) -> Reply {
    send_at(stack, id, key, body, now()).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn invoice_event(event_id: &str, invoice: &str) -> Vec<u8> {
    json!({
        "id": event_id,
        "type": "invoice.updated",
        "entity_id": invoice,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    })
    .to_string()
    .into_bytes()
}

/// Every message now on the sync queue, as JSON; each is then hidden for ten minutes, so the
/// next call sees only messages sent after this one.
async fn take_messages(stack: &Stack) -> Vec<Value> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let r = stack
            .ctx
            .queue
            .client()
            .receive_message()
            .queue_url(&stack.queues.sync_url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .send()
            .await
            .unwrap();
        if r.messages().is_empty() {
            empty += 1;
            continue;
        }
        for m in r.messages() {
            out.push(serde_json::from_str(m.body().unwrap_or_default()).unwrap());
        }
    }
    out
}

async fn webhook_jobs(stack: &Stack, id: &str) -> Vec<shared::domain::Job> {
    let mut jobs = stack.ctx.db.list_jobs(id, 1000).await.unwrap();
    jobs.retain(|j| j.trigger == Trigger::Webhook);
    jobs
}

#[tokio::test]
async fn a_valid_delivery_queues_one_targeted_pull_and_answers_202() {
    let stack = quiet_stack().await;
    let (id, key) = connected(&stack, ProviderKind::Fortnox).await;
    let r = send(&stack, &id, &key, &invoice_event("evt-1", "1042")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["accepted"], true);
    assert_eq!(r.json["event_id"], "evt-1");
    let job_id = r.json["job_id"].as_str().expect("job id").to_string();

    let jobs = webhook_jobs(&stack, &id).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.id, job_id);
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.direction, Direction::Pull);
    assert_eq!(job.entities, vec![Entity::Invoices]);
    let target = job.target.as_ref().expect("a targeted job");
    assert_eq!(
        (target.entity, target.remote_id.as_deref()),
        (Entity::Invoices, Some("1042"))
    );

    let msgs = take_messages(&stack).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["job_id"], job_id.as_str());
    assert_eq!(msgs[0]["integration_id"], id.as_str());

    // A customer event of the Fortnox stream shape, and a body sent with a charset.
    let body = br#"{"topic":"customers","offset":"9","type":"customer-updated-v2","entityId":"77","tenantId":1}"#;
    let r = post(
        &stack,
        &id,
        body,
        &[
            ("content-type", "application/json; charset=utf-8".into()),
            ("x-signature", sign_ours(key.as_bytes(), now(), body)),
        ],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["event_id"], "customers:9");
    let job = stack
        .ctx
        .db
        .get_job(&id, r.json["job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.target.unwrap().remote_id.as_deref(), Some("77"));
    assert_eq!(job.entities, vec![Entity::Customers]);
    assert_eq!(take_messages(&stack).await.len(), 1);
    assert!(
        stack.sandbox.state.token_requests().len() <= 1,
        "the webhook never calls the provider (only the consent's code exchange happened)"
    );
}

#[tokio::test]
async fn every_verification_failure_gets_the_same_401_and_queues_nothing() {
    let stack = quiet_stack().await;
    let (id, key) = connected(&stack, ProviderKind::Visma).await;
    let (other_id, other_key) = {
        let (oid, _) = stack
            .connect("tenant-other", ProviderKind::Fortnox, true)
            .await
            .unwrap();
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{oid}/webhook-key/rotate"),
                Some("tenant-other"),
                Some(json!({})),
            )
            .await
            .unwrap();
        (oid, r.json["key"].as_str().unwrap().to_string())
    };
    let body = invoice_event("evt-x", "1");
    // Each case's headers are made when it is sent: a timestamp signed early would drift.
    type Headers = Box<dyn Fn() -> Vec<(&'static str, String)>>;
    let json_ct = || ("content-type", "application/json".to_string());
    let signed = |k: &str, skew: i64| -> Headers {
        let (k, body) = (k.to_string(), body.clone());
        Box::new(move || {
            vec![
                json_ct(),
                ("x-signature", sign_ours(k.as_bytes(), now() + skew, &body)),
            ]
        })
    };
    let tampered: Headers = {
        let (k, body) = (key.clone(), body.clone());
        Box::new(move || {
            let mut h = sign_ours(k.as_bytes(), now(), &body);
            let last = h.pop().unwrap();
            h.push(if last == '0' { '1' } else { '0' });
            vec![json_ct(), ("x-signature", h)]
        })
    };
    let visma_style: Headers = {
        let (k, body) = (key.clone(), body.clone());
        Box::new(move || {
            vec![
                json_ct(),
                ("x-webhook-signature", sign_visma(k.as_bytes(), &body)),
            ]
        })
    };
    let cases: Vec<(&str, String, Headers)> = vec![
        ("bad signature", id.clone(), tampered),
        (
            "wrong key: another integration's",
            id.clone(),
            signed(&other_key, 0),
        ),
        (
            "wrong key: made up",
            id.clone(),
            signed("not-the-key-at-all", 0),
        ),
        ("stale timestamp", id.clone(), signed(&key, -301)),
        ("future timestamp", id.clone(), signed(&key, 400)),
        (
            "no signature",
            id.clone(),
            Box::new(move || vec![json_ct()]),
        ),
        (
            "malformed header",
            id.clone(),
            Box::new(move || vec![json_ct(), ("x-signature", "v1=abc".into())]),
        ),
        (
            "visma header on an ours integration",
            id.clone(),
            visma_style,
        ),
        (
            "unknown integration",
            "7d1b3a52-0000-4000-8000-000000000000".into(),
            signed(&key, 0),
        ),
        (
            "not an integration id",
            "..%2F..%2Fetc".into(),
            signed(&key, 0),
        ),
        (
            "right key, other integration's URL",
            other_id.clone(),
            signed(&key, 0),
        ),
    ];
    let mut bodies = std::collections::BTreeSet::new();
    for (what, target, headers) in cases {
        let r = post(&stack, &target, &body, &headers()).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json", "{what}");
        assert!(
            !r.text.contains(&key) && !r.text.contains(&other_key),
            "{what}: no key in the answer"
        );
        bodies.insert(r.text);
    }
    assert_eq!(bodies.len(), 1, "one answer for all failures: {bodies:?}");

    // Just inside the tolerance both ways is fine; nothing above reached the queue.
    assert!(
        take_messages(&stack).await.is_empty(),
        "nothing queued by failures"
    );
    assert!(webhook_jobs(&stack, &id).await.is_empty());
    assert!(webhook_jobs(&stack, &other_id).await.is_empty());
    for (i, skew) in [-295i64, 295].into_iter().enumerate() {
        let b = invoice_event(&format!("edge-{i}"), "1");
        let r = send_at(&stack, &id, &key, &b, now() + skew).await;
        assert_eq!(r.status, 202, "skew {skew}: {}", r.text);
    }
    assert_eq!(take_messages(&stack).await.len(), 2);
}

#[tokio::test]
async fn a_replay_answers_200_and_does_nothing_even_when_sent_concurrently() {
    let stack = quiet_stack().await;
    let (id, key) = connected(&stack, ProviderKind::Fortnox).await;
    let body = invoice_event("evt-replay", "5");
    let first = send(&stack, &id, &key, &body).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let again = send(&stack, &id, &key, &body).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.json,
        json!({"duplicate": true, "event_id": "evt-replay"})
    );
    // A resend with a new timestamp (a sender's retry) is the same event.
    let later = send_at(&stack, &id, &key, &body, now() + 2).await;
    assert_eq!(later.status, 200);

    // Twenty copies of one new event at once: exactly one is acted on.
    let body = invoice_event("evt-race", "6");
    let replies = futures::future::join_all((0..20).map(|_| send(&stack, &id, &key, &body))).await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    let duplicates = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!((accepted, duplicates), (1, 19), "{replies:?}");

    // Without an id the body's hash is the event id.
    let anonymous = br#"{"type":"customer.created","entity_id":"c-9"}"#;
    assert_eq!(send(&stack, &id, &key, anonymous).await.status, 202);
    assert_eq!(send(&stack, &id, &key, anonymous).await.status, 200);

    assert_eq!(webhook_jobs(&stack, &id).await.len(), 3);
    assert_eq!(
        take_messages(&stack).await.len(),
        3,
        "one message per distinct event"
    );
    let record = stack
        .ctx
        .db
        .client()
        .get_item()
        .table_name(stack.ctx.db.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("INTEGRATION#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("WHEVT#evt-replay".into()),
        )
        .send()
        .await
        .unwrap();
    let ttl: i64 = record.item().unwrap()["ttl"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    let week = 7 * 24 * 3600;
    assert!(
        (ttl - now() - week).abs() < 60,
        "replay records expire after 7 days"
    );
}

#[tokio::test]
async fn limits_and_malformed_bodies_get_clear_errors() {
    let stack = quiet_stack().await;
    let (id, key) = connected(&stack, ProviderKind::Fortnox).await;
    let limit = 256 * 1024;

    // Exactly 256 KiB is fine; one byte more is not, signature or not.
    let mut exact = br#"{"id":"big","type":"invoice.updated","entity_id":"1","pad":""#.to_vec();
    let tail = br#""}"#;
    exact.resize(limit - tail.len(), b'x');
    exact.extend_from_slice(tail);
    assert_eq!(exact.len(), limit);
    assert_eq!(send(&stack, &id, &key, &exact).await.status, 202);
    let mut over = exact.clone();
    over.insert(over.len() - 2, b'x');
    let r = send(&stack, &id, &key, &over).await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (413, "application/problem+json"),
        "{}",
        r.text
    );
    assert!(r.json["detail"].as_str().unwrap().contains("262144"));

    let body = invoice_event("evt-ct", "1");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
    ] {
        let r = post(
            &stack,
            &id,
            &body,
            &[
                ("content-type", ct.into()),
                ("x-signature", sign_ours(key.as_bytes(), now(), &body)),
            ],
        )
        .await;
        assert_eq!(r.status, 415, "{ct}: {}", r.text);
        assert!(r.json["detail"].as_str().unwrap().contains(ct));
    }

    let r = send(&stack, &id, &key, b"{\"type\": \"invoice.updated\", ").await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (400, "application/problem+json"),
        "{}",
        r.text
    );
    assert!(r.json["detail"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let r = send(&stack, &id, &key, b"[]").await;
    assert_eq!(r.status, 400);

    let r = send(
        &stack,
        &id,
        &key,
        br#"{"id":"u1","type":"invoice.paid","entity_id":"1"}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["event_type"], "invoice.paid");
    assert!(r.json["detail"].as_str().unwrap().contains("invoice.paid"));
    assert!(r.json["known_types"]
        .as_array()
        .unwrap()
        .contains(&json!("consent.revoked")));
    let r = send(
        &stack,
        &id,
        &key,
        br#"{"id":"u2","type":"invoice.updated"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (422, Some("entity_id")),
        "{}",
        r.text
    );

    // A rejected event is not recorded: corrected, the same id goes through.
    let r = send(
        &stack,
        &id,
        &key,
        br#"{"id":"u2","type":"invoice.updated","entity_id":"8"}"#,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);

    // Any other method or path of the function URL.
    let r = stack
        .http()
        .get(format!("{}/api/integrations/{id}/webhook", stack.api_url))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status().as_u16(), 202);

    assert_eq!(
        take_messages(&stack).await.len(),
        2,
        "only the two good deliveries"
    );
}

#[tokio::test]
async fn consent_revoked_marks_the_integration_revoked_and_stops_data_events() {
    let stack = quiet_stack().await;
    let (id, key) = connected(&stack, ProviderKind::Fortnox).await;
    let revoked = json!({"id": "consent-1", "type": "consent.revoked", "tenant_id": "123456", "occurred_at": chrono::Utc::now().to_rfc3339()})
        .to_string();
    let r = send(&stack, &id, &key, revoked.as_bytes()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["integration_status"], "revoked");
    let i = integration(&stack, T, &id).await;
    assert_eq!(i.status, IntegrationStatus::Revoked);
    assert_eq!(
        i.last_error.as_ref().map(|e| e.code.as_str()),
        Some("consent_revoked")
    );
    let st = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(st.json["status"], "revoked");
    assert_eq!(
        send(&stack, &id, &key, revoked.as_bytes()).await.status,
        200,
        "replay"
    );

    // Data events for a revoked integration are accepted and ignored: a full sync follows
    // the next consent.
    let r = send(&stack, &id, &key, &invoice_event("after-revoke", "3")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(
        r.json["job_id"].is_null() && r.json["ignored"].is_string(),
        "{}",
        r.text
    );
    assert!(webhook_jobs(&stack, &id).await.is_empty());
    assert!(take_messages(&stack).await.is_empty());

    // Connected again, a late revocation from before that consent changes nothing.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let back = stack.consent(T, &id, true).await.unwrap();
    assert_eq!(devstack::query_of(&back)["status"], "confirm");
    let late = json!({"id": "consent-0", "type": "consent.revoked", "occurred_at": (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339()})
        .to_string();
    let r = send(&stack, &id, &key, late.as_bytes()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(r.json["ignored"].is_string());
    assert_eq!(
        integration(&stack, T, &id).await.status,
        IntegrationStatus::Connected
    );
}

#[tokio::test]
async fn rotation_accepts_the_old_key_for_the_grace_period_only() {
    let stack = quiet_stack().await;
    let (id, old) = connected(&stack, ProviderKind::Fortnox).await;
    assert_eq!(
        send(&stack, &id, &old, &invoice_event("r-1", "1"))
            .await
            .status,
        202
    );

    let r = rotate(&stack, &id, json!({"grace_seconds": 6})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.json["key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(r.json["scheme"], "ours");
    assert_eq!(r.json["signature_header"], "X-Signature");
    assert_eq!(
        r.json["webhook_url"].as_str(),
        Some(format!("{}/api/integrations/{id}/webhook", stack.api_url).as_str())
    );
    assert_eq!(
        r.json["retiring_keys"].as_array().unwrap().len(),
        1,
        "the first rotation's key (an integration starts with none)"
    );
    let stored = webhook_secret(&stack, T, &id).await.unwrap();
    assert_eq!(stored.keys[0].key.expose(), new, "newest first");
    assert!(stored.keys[0].retire_at.is_none());
    assert!(stored.keys[1].retire_at.is_some());
    let tokens = secret(&stack, T, &id).await.unwrap();
    assert!(tokens.tokens.is_some(), "the token secret is untouched");
    assert!(
        tokens.legacy_webhook_keys.is_empty(),
        "no key reaches the token secret"
    );

    // The function's cached keys (filled by the delivery just before) do not know the new key:
    // the owner item names a newer key, so it reads them again at once, with no wait.
    assert_eq!(
        send(&stack, &id, &new, &invoice_event("r-2", "2"))
            .await
            .status,
        202
    );
    assert_eq!(
        send(&stack, &id, &old, &invoice_event("r-3", "3"))
            .await
            .status,
        202,
        "grace"
    );
    let retire_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(r.json["retiring_keys"][0]["retire_at"].clone()).unwrap();
    let left = (retire_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(200)).await;
    let r = send(&stack, &id, &old, &invoice_event("r-4", "4")).await;
    assert_eq!(r.status, 401, "retired: {}", r.text);
    assert_eq!(
        send(&stack, &id, &new, &invoice_event("r-5", "5"))
            .await
            .status,
        202
    );

    // An urgent rotation cuts the previous key off at once.
    let r = rotate(&stack, &id, json!({"grace_seconds": 0})).await;
    let newest = r.json["key"].as_str().unwrap().to_string();
    assert!(r.json["retiring_keys"].as_array().unwrap().is_empty());
    assert_eq!(
        send(&stack, &id, &newest, &invoice_event("r-6", "6"))
            .await
            .status,
        202
    );
    assert_eq!(
        send(&stack, &id, &new, &invoice_event("r-7", "7"))
            .await
            .status,
        401
    );

    assert_eq!(webhook_jobs(&stack, &id).await.len(), 5);
    assert_eq!(take_messages(&stack).await.len(), 5);

    // Another tenant cannot rotate it; bad input names the field.
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/webhook-key/rotate"),
            Some("tenant-intruder"),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    let r = rotate(&stack, &id, json!({"grace_seconds": 999_999_999})).await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("grace_seconds"))
    );
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/webhook-key/rotate"),
            None,
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401, "the rotation route is behind the JWT");
}

#[path = "webhooks/integrations.rs"]
mod integrations;
