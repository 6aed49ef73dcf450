//! Webhook signing keys live apart from the OAuth tokens (docs/webhooks.md, "Where the keys are
//! kept"): two secrets under two prefixes, both on the stack's KMS key, neither holding the
//! other's values; the receiver reads only the webhook secret, rotation writes only it, and keys that an
//! older release kept in the token secret are moved by the scheduler's migration run, after
//! which the old key verifies again and the token secret holds tokens only.

use devstack::{Stack, StackOptions};
use lambda_runtime::{Context, LambdaEvent};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{ProviderKind, Secret, TokenSecret, WebhookKey, WebhookSecret};
use shared::webhooks::signature::sign_ours;
use system_tests::{integration, secret, stack_with, webhook_secret, webhook_secret_name};

const T: &str = "tenant-webhook-secrets";

async fn quiet_stack() -> Stack {
    stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await
}

/// Posts an invoice event signed with `key` to the integration's webhook URL; the status.
async fn deliver(stack: &Stack, id: &str, key: &str, event_id: &str) -> u16 {
    let body = json!({"id": event_id, "type": "invoice.updated", "entity_id": "1"}).to_string();
    let t = chrono::Utc::now().timestamp();
    stack
        .http()
        .post(format!("{}/api/integrations/{id}/webhook", stack.api_url))
        .header("content-type", "application/json")
        .header("x-signature", sign_ours(key.as_bytes(), t, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asks for a new webhook key, as the tenant does; the answer.
async fn rotate(stack: &Stack, id: &str) -> devstack::ApiResponse {
    stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/webhook-key/rotate"),
            Some(T),
            Some(json!({})),
        )
        .await
        .unwrap()
}

/// The raw JSON of a secret, as Secrets Manager holds it.
async fn raw(stack: &Stack, name: &str) -> Option<String> {
    stack
        .ctx
        .vault
        .client()
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.secret_string().map(str::to_string))
}

async fn delete_webhook_secret(stack: &Stack, id: &str) {
    stack
        .ctx
        .vault
        .delete(&webhook_secret_name(stack, T, id))
        .await
        .unwrap();
}

/// Puts the integration back into the shape an older release left: its webhook keys inside
/// its token secret (created if consent never happened), no webhook secret.
async fn make_legacy(stack: &Stack, id: &str, key: &str) {
    delete_webhook_secret(stack, id).await;
    let i = integration(stack, T, id).await;
    let legacy = WebhookKey {
        id: "k_legacy".into(),
        key: Secret::new(key),
        created_at: chrono::Utc::now(),
        retire_at: None,
    };
    match secret(stack, T, id).await {
        Some(mut s) => {
            s.legacy_webhook_keys = vec![legacy];
            stack.ctx.vault.write(&i.secret_name, &s).await.unwrap();
        }
        None => {
            let s = TokenSecret {
                version: 1,
                tokens: None,
                legacy_webhook_keys: vec![legacy],
            };
            stack
                .ctx
                .vault
                .create(&i.secret_name, &s, T, id)
                .await
                .unwrap();
        }
    }
}

async fn migrate(stack: &Stack) -> Value {
    let mut c = Context::default();
    c.deadline = (chrono::Utc::now().timestamp_millis() + 60_000) as u64;
    let event = json!({"migrate_webhook_keys": true});
    scheduler::handler(&stack.ctx, LambdaEvent::new(event, c))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_tokens_live_in_separate_secrets_and_rotation_never_writes_the_tokens() {
    let stack = quiet_stack().await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let token_name = integration(&stack, T, &id).await.secret_name;
    let keys_name = webhook_secret_name(&stack, T, &id);
    assert_eq!(
        token_name,
        format!("{}/{T}/{id}", stack.vars["SECRET_PREFIX"])
    );
    assert!(
        !keys_name.starts_with(&format!("{}/", stack.vars["SECRET_PREFIX"])),
        "{keys_name} would fall under the token prefix"
    );
    // No webhook secret until the first key is asked for: a key nobody was shown verifies
    // nothing, and a secret costs $0.40 a month (bench/cost). A delivery meanwhile is refused.
    assert!(raw(&stack, &keys_name).await.is_none(), "no key secret yet");
    assert_eq!(
        deliver(&stack, &id, "any-key", "evt-before-keys").await,
        401
    );
    let first = rotate(&stack, &id).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.json["retiring_keys"].as_array().map(Vec::len),
        Some(0)
    );
    let first_key = first.json["key"].as_str().unwrap().to_string();
    assert_eq!(deliver(&stack, &id, &first_key, "evt-first-key").await, 202);

    let sm = stack.ctx.vault.client();
    for name in [&token_name, &keys_name] {
        let d = sm.describe_secret().secret_id(name).send().await.unwrap();
        assert_eq!(d.kms_key_id(), Some(stack.kms_key_arn.as_str()), "{name}");
    }
    let tokens = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
    let keys = webhook_secret(&stack, T, &id).await.unwrap();
    assert_eq!(keys.keys.len(), 1, "the first rotation's key");
    assert_eq!(keys.keys[0].key.expose(), first_key);
    let keys_raw = raw(&stack, &keys_name).await.unwrap();
    assert!(!keys_raw.contains(tokens.access_token.expose()));
    assert!(!keys_raw.contains(tokens.refresh_token.as_ref().unwrap().expose()));
    let tokens_raw = raw(&stack, &token_name).await.unwrap();
    assert!(!tokens_raw.contains("webhook_keys"), "{tokens_raw}");
    assert!(!tokens_raw.contains(keys.keys[0].key.expose()));

    // A rotation writes a new version of the key secret and leaves the token secret alone.
    let version = |name: String| async move {
        sm.get_secret_value()
            .secret_id(name)
            .send()
            .await
            .unwrap()
            .version_id()
            .map(str::to_string)
    };
    let tokens_version = version(token_name.clone()).await;
    let keys_version = version(keys_name.clone()).await;
    let r = rotate(&stack, &id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(version(token_name.clone()).await, tokens_version);
    assert_ne!(version(keys_name.clone()).await, keys_version);
    assert_eq!(raw(&stack, &token_name).await.unwrap(), tokens_raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_keys_are_moved_out_of_the_token_secret_and_verify_again() {
    let stack = quiet_stack().await;
    let legacy_key = "legacy-key-kept-with-the-tokens-0001";

    // A connected integration and a pending one, both with their keys in the old place.
    let (connected, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let tokens_before = secret(&stack, T, &connected).await.unwrap().tokens;
    assert!(tokens_before.is_some());
    make_legacy(&stack, &connected, legacy_key).await;
    let created = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(T),
            Some(json!({"provider": "visma"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.text);
    let pending = created.json["id"].as_str().unwrap().to_string();
    make_legacy(&stack, &pending, "legacy-key-of-a-pending-integration").await;

    // The receiver never looks into the token secret: the legacy key does not verify.
    assert_eq!(deliver(&stack, &connected, legacy_key, "m-1").await, 401);

    // A token refresh before the migration keeps the legacy keys (it rewrites the secret).
    system_tests::age_stored_token(&stack, T, &connected).await;
    let i = integration(&stack, T, &connected).await;
    stack.new_container().tokens.access_token(&i).await.unwrap();
    let refreshed = secret(&stack, T, &connected).await.unwrap();
    assert_ne!(refreshed.tokens, tokens_before, "the tokens were refreshed");
    assert_eq!(
        refreshed.legacy_webhook_keys.len(),
        1,
        "legacy key survived"
    );

    let report = migrate(&stack).await;
    assert_eq!(report["moved"], 2, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["busy"], 0, "{report}");

    // The keys are in the webhook secret, and the token secret holds tokens only.
    for (id, key) in [
        (&connected, legacy_key),
        (&pending, "legacy-key-of-a-pending-integration"),
    ] {
        let keys = webhook_secret(&stack, T, id).await.expect("webhook secret");
        assert_eq!(keys.keys.len(), 1);
        assert_eq!(keys.keys[0].key.expose(), key);
        let token_name = integration(&stack, T, id).await.secret_name;
        let token_raw = raw(&stack, &token_name).await.unwrap();
        assert!(!token_raw.contains("webhook_keys"), "{id}: {token_raw}");
        assert!(!token_raw.contains(key), "{id}");
    }
    assert_eq!(
        secret(&stack, T, &connected).await.unwrap().tokens,
        refreshed.tokens,
        "the migration leaves the tokens alone"
    );
    assert_eq!(deliver(&stack, &connected, legacy_key, "m-2").await, 202);

    // Running it again finds nothing to move.
    let again = migrate(&stack).await;
    assert_eq!(again["moved"], 0, "{again}");
    assert_eq!(again["kept_existing"], 0, "{again}");
    assert_eq!(again["integrations"], 2, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_before_the_migration_wins_over_the_legacy_keys() {
    let stack = quiet_stack().await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    make_legacy(&stack, &id, "legacy-key-that-a-rotation-replaces").await;

    // The rotation cannot read the token secret; it starts a webhook secret of its own.
    let r = rotate(&stack, &id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_key = r.json["key"].as_str().unwrap().to_string();
    assert_eq!(r.json["retiring_keys"], json!([]));
    let after_rotation: WebhookSecret = webhook_secret(&stack, T, &id).await.unwrap();
    assert_eq!(after_rotation.keys.len(), 1);
    assert_eq!(
        secret(&stack, T, &id)
            .await
            .unwrap()
            .legacy_webhook_keys
            .len(),
        1,
        "the rotation did not touch the token secret"
    );

    let report = migrate(&stack).await;
    assert_eq!(report["moved"], 0, "{report}");
    assert_eq!(report["kept_existing"], 1, "{report}");
    assert_eq!(
        webhook_secret(&stack, T, &id).await.unwrap(),
        after_rotation,
        "the rotated key is kept"
    );
    assert!(secret(&stack, T, &id)
        .await
        .unwrap()
        .legacy_webhook_keys
        .is_empty());
    assert_eq!(deliver(&stack, &id, &new_key, "r-1").await, 202);
    assert_eq!(
        deliver(&stack, &id, "legacy-key-that-a-rotation-replaces", "r-2").await,
        401
    );
}
