//! Every sample event in `events/` goes through its function's handler, against moto and the
//! sandbox, and gets the answer it should.

use aws_lambda_events::event::sqs::SqsEvent;
use devstack::StackOptions;
use lambda_http::{Body, Response};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use system_tests::stack_with;

const PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000001";
const TENANT: &str = "acme-bygg";
/// The key `events/webhook.json` is signed with (see docs/webhooks.md).
const SAMPLE_KEY: &str = "whk-sample-key-for-events-only-not-a-secret";

fn sign(key: &str, message: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
    m.update(message.as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn event(name: &str, id: &str) -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../events/{name}.json"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace(PLACEHOLDER, id)
}

fn request(name: &str, id: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&event(name, id))
        .unwrap_or_else(|e| panic!("{name}.json is not an API Gateway event: {e}"))
}

fn body(r: &Response<Body>) -> Value {
    match r.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn context() -> Context {
    let mut c = Context::default();
    c.deadline = (chrono::Utc::now().timestamp_millis() + 60_000) as u64;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_gets_the_right_answer() {
    let mut opts = StackOptions {
        workers: 0,
        ..StackOptions::default()
    };
    opts.env.insert(
        "ALLOWED_RETURN_URLS".into(),
        "https://app.example.se".into(),
    );
    let stack = stack_with(opts).await;
    let ctx = stack.ctx.as_ref();

    let r = create::handler(ctx, request("create", PLACEHOLDER))
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", body(&r));
    assert_eq!(body(&r)["provider"], "fortnox");
    let fortnox_id = body(&r)["id"].as_str().unwrap().to_string();

    let r = authorize::handler(ctx, request("authorize", PLACEHOLDER))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert!(body(&r)["authorization_url"]
        .as_str()
        .unwrap()
        .contains("/visma/connect/authorize?"));

    // Connect the Fortnox integration through the sandbox, then use it in the other events.
    let back = stack.consent(TENANT, &fortnox_id, true).await.unwrap();
    assert_eq!(devstack::query_of(&back)["status"], "confirm");

    let r = connect::handler(ctx, request("connect", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", body(&r));

    let r = confirm::handler(ctx, request("confirm", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{:?}", body(&r));
    assert_eq!(
        body(&r)["field"],
        "confirmation",
        "a confirmation code never issued is refused"
    );

    let r = oauth_callback::handler(ctx, request("oauth_callback", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        devstack::query_of(&loc)["error"],
        "invalid_state",
        "a state never issued is refused"
    );

    let r = status::handler(ctx, request("status", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(&r)["status"], "connected");

    let r = records::handler(ctx, request("records", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", body(&r));
    assert_eq!(body(&r)["accepted"], 1);
    // A project for the customer just upserted (the records function takes every entity).
    let r = records::handler(ctx, request("records_projects", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", body(&r));
    assert_eq!(body(&r)["accepted"], 1);

    let r = sync_invoice::handler(ctx, request("sync_invoice", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", body(&r));
    let invoice_job = body(&r)["id"].as_str().unwrap().to_string();

    let r = sync::handler(ctx, request("sync", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", body(&r));

    // The worker event, aimed at the sync-invoice job, exports the invoice (and its customer).
    let sqs: SqsEvent = serde_json::from_str(
        &event("worker", &fortnox_id).replace("20261122T101512000Z-3f2a9c1d4e5b", &invoice_job),
    )
    .unwrap();
    let out = worker::handler(ctx, LambdaEvent::new(sqs, context()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    let job = ctx
        .db
        .get_job(&fortnox_id, &invoice_job)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, shared::domain::JobState::Succeeded, "{job:?}");
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox::ProviderKind::Fortnox);
    assert_eq!(
        stack
            .sandbox
            .state
            .invoice_count(sandbox::ProviderKind::Fortnox, &key),
        1
    );

    // The exported invoice, sent by e-mail, printed to PDF and credited at the sandbox.
    let r = invoice_send::handler(ctx, request("invoice_send", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["method"], "email");
    assert_eq!(stack.sandbox.state.sends().len(), 1);
    let r = invoice_pdf::handler(ctx, request("invoice_pdf", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(matches!(r.body(), Body::Binary(b) if b.starts_with(b"%PDF-")));
    let r = invoice_credit::handler(ctx, request("invoice_credit", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", body(&r));
    assert_eq!(body(&r)["credit_note_id"], "inv-2026-0042-K");
    assert_eq!(
        stack
            .sandbox
            .state
            .invoice_count(sandbox::ProviderKind::Fortnox, &key),
        2,
        "the invoice and its credit note"
    );

    let dlq: SqsEvent = serde_json::from_str(&event("dead_letter", &fortnox_id)).unwrap();
    let out = dead_letter::handler(ctx, LambdaEvent::new(dlq, context()))
        .await
        .unwrap();
    assert!(
        out.batch_item_failures.is_empty(),
        "a dead letter for an unknown job is dropped"
    );

    let sched: Value = serde_json::from_str(&event("scheduler", &fortnox_id)).unwrap();
    let report = scheduler::handler(ctx, LambdaEvent::new(sched, context()))
        .await
        .unwrap();
    assert_eq!(report["integrations"], 1, "{report}");
    assert_eq!(report["enqueued"], 1, "{report}");

    // The stream function holds Fortnox's stream until 20 s before its deadline: 3 s here.
    let tick: Value = serde_json::from_str(&event("stream", &fortnox_id)).unwrap();
    let mut short = context();
    short.deadline = (chrono::Utc::now().timestamp_millis() + 23_000) as u64;
    let settings = shared::stream::StreamSettings::from_lookup(|k| stack.vars.get(k).cloned());
    let report = stream::handler(ctx, &settings, LambdaEvent::new(tick, short))
        .await
        .unwrap();
    assert_eq!(report["role"], "held", "{report}");
    assert_eq!(
        report["tenants"], 1,
        "the connected company is on the stream: {report}"
    );

    let wd: Value = serde_json::from_str(&event("watchdog", &fortnox_id)).unwrap();
    let report = watchdog::handler(ctx, LambdaEvent::new(wd, context()))
        .await
        .unwrap();
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");

    // Webhooks: import the sample key through the rotation event, then deliver the sample.
    let mut rotate: Value = serde_json::from_str(&event("webhook_key", &fortnox_id)).unwrap();
    rotate["body"] = serde_json::json!({"key": SAMPLE_KEY, "grace_seconds": 0})
        .to_string()
        .into();
    let r = webhook_key::handler(
        ctx,
        lambda_http::request::from_str(&rotate.to_string()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    let r = webhook::handler(ctx, request("webhook", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the recorded sample's timestamp is long past: {:?}",
        body(&r)
    );
    let mut fresh: Value = serde_json::from_str(&event("webhook", &fortnox_id)).unwrap();
    let raw = fresh["body"].as_str().unwrap().to_string();
    let t = chrono::Utc::now().timestamp();
    fresh["headers"]["x-signature"] =
        format!("t={t},v1={}", sign(SAMPLE_KEY, &format!("{t}.{raw}"))).into();
    let r = webhook::handler(
        ctx,
        lambda_http::request::from_str(&fresh.to_string()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202, "{:?}", body(&r));
    assert!(body(&r)["job_id"].is_string());

    let r = disconnect::handler(ctx, request("disconnect", &fortnox_id))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    assert_eq!(body(&r)["revoked_at_provider"], true);
}
