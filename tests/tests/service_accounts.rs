//! Fortnox service accounts: a consent asked for with `mode: "service"` (Fortnox's
//! `account_type=service`), no refresh token stored, access tokens fetched by client
//! credentials with the company's `TenantId` under the refresh lease, the mode on the status
//! API, and a disconnect that deletes the tokens; a consent withdrawn at Fortnox ends in
//! `needs_reauth` after one refused request. Visma has no service accounts: asking for one is
//! a 400 naming `mode`, and changes nothing.

use reqwest::Method;
use serde_json::json;
use shared::connections::tokens::TokenError;
use shared::domain::{ConnectionMode, IntegrationStatus};
use std::time::Duration;
use system_tests::{age_stored_token, integration, secret, stack, stack_with};

const T: &str = "tenant-svc";
/// The sandbox's first Fortnox company, which its consent page picks by default.
const DATABASE_NUMBER: &str = "1234567";

/// `client_credentials` token requests at the sandbox's Fortnox, with the `TenantId` each sent.
fn client_credentials_requests(stack: &devstack::Stack) -> Vec<Option<String>> {
    stack
        .sandbox
        .state
        .token_requests()
        .into_iter()
        .filter(|r| r.provider == sandbox::ProviderKind::Fortnox)
        .filter(|r| r.grant_type == "client_credentials")
        .map(|r| r.tenant_id)
        .collect()
}

/// Creates a Fortnox integration for `tenant` and connects it as a service account through
/// the sandbox's consent page, the way the app would; gives its id.
async fn connect_service_account(stack: &devstack::Stack, tenant: &str) -> String {
    let created = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(tenant),
            Some(json!({"provider": "fortnox"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_string();

    // Ask for a service account: the consent URL says so to Fortnox.
    let start = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/connect"),
            Some(tenant),
            Some(json!({"mode": "service"})),
        )
        .await
        .unwrap();
    assert_eq!(start.status, 200, "{}", start.text);
    assert_eq!(start.json["mode"], "service");
    let auth_url = start.json["authorization_url"].as_str().unwrap();
    let query = devstack::query_of(auth_url);
    assert_eq!(query["account_type"], "service", "{auth_url}");
    assert_eq!(query["access_type"], "offline", "{auth_url}");
    assert!(query.contains_key("code_challenge"), "PKCE as ever");

    // Consent, callback, confirmation by the same person: the usual flow.
    let callback = sandbox::give_consent(&sandbox::consent_client().unwrap(), auth_url, true)
        .await
        .unwrap();
    let back = stack.follow_callback(&callback).await.unwrap();
    assert_eq!(devstack::query_of(&back)["status"], "confirm", "{back}");
    stack.confirm_if_asked(tenant, &back).await.unwrap();
    id
}

#[tokio::test]
async fn a_fortnox_service_account_lives_on_client_credentials() {
    let stack = stack().await;
    let id = connect_service_account(&stack, T).await;
    let i = integration(&stack, T, &id).await;
    assert_eq!(i.status, IntegrationStatus::Connected);
    assert_eq!(i.mode, ConnectionMode::Service);
    assert_eq!(i.service_tenant_id.as_deref(), Some(DATABASE_NUMBER));
    assert_eq!(i.refresh_expires_at, None, "nothing to keep alive");
    // No refresh token in the secret as Secrets Manager (moto) holds it.
    let raw = stack
        .ctx
        .vault
        .client()
        .get_secret_value()
        .secret_id(&i.secret_name)
        .send()
        .await
        .expect("the token secret exists")
        .secret_string()
        .unwrap()
        .to_string();
    let stored: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(
        stored["tokens"]["access_token"].is_string(),
        "an access token is stored"
    );
    assert!(
        stored["tokens"]["refresh_token"].is_null(),
        "no refresh token is stored: {}",
        stored["tokens"]["refresh_token"]
    );
    let first = secret(&stack, T, &id).await.unwrap().tokens.unwrap();

    // The status API shows the mode.
    let status = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["mode"], "service");
    assert_eq!(status.json["status"], "connected");
    assert_eq!(status.json["provider_company_id"], DATABASE_NUMBER);
    assert!(status.json["refresh_expires_at"].is_null());

    // The access token runs out: two containers at once, one client-credentials request.
    assert!(client_credentials_requests(&stack).is_empty());
    age_stored_token(&stack, T, &id).await;
    let (a, b) = (stack.new_container(), stack.new_container());
    let (ta, tb) = tokio::join!(a.tokens.access_token(&i), b.tokens.access_token(&i));
    let (ta, tb) = (ta.expect("a token"), tb.expect("a token"));
    assert_eq!(ta, tb, "both callers got the one new token");
    assert_ne!(ta, first.access_token, "a new token");
    assert_eq!(
        client_credentials_requests(&stack),
        vec![Some(DATABASE_NUMBER.to_string())],
        "exactly one client-credentials request, for the company's TenantId"
    );
    assert_eq!(
        stack
            .sandbox
            .state
            .refresh_count(sandbox::ProviderKind::Fortnox),
        0,
        "no refresh grant, ever"
    );
    let replaced = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
    assert_eq!(replaced.access_token, ta, "the new token is stored");
    assert!(replaced.refresh_token.is_none(), "still no refresh token");
    assert!(replaced.expires_at > chrono::Utc::now() + chrono::Duration::minutes(30));

    // A sync pulls the company's customers with it.
    stack
        .sandbox
        .state
        .seed_customers(sandbox::ProviderKind::Fortnox, DATABASE_NUMBER, 3);
    let sync = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(T),
            Some(json!({"direction": "pull", "entities": ["customers"], "mode": "full"})),
        )
        .await
        .unwrap();
    assert_eq!(sync.status, 202, "{}", sync.text);
    let job_id = sync.json["job_ids"][0].as_str().unwrap().to_string();
    let job = stack
        .wait_for_job(&id, &job_id, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(job.state, shared::domain::JobState::Succeeded, "{job:?}");
    let feed = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/records/customers?limit=500"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(feed.status, 200, "{}", feed.text);
    let pulled = feed.json["records"].as_array().cloned().unwrap_or_default();
    let seeded = stack
        .sandbox
        .state
        .customers(sandbox::ProviderKind::Fortnox, DATABASE_NUMBER)
        .len();
    assert!(seeded >= 3);
    assert_eq!(pulled.len(), seeded, "every customer of the company pulled");
    assert_eq!(
        client_credentials_requests(&stack).len(),
        1,
        "the sync used the token fetched before"
    );

    // Disconnect: the tokens are deleted; Fortnox revokes nothing of a service account (only
    // refresh tokens can be revoked), so nothing is sent to its revocation endpoint.
    let gone = stack
        .call(
            Method::DELETE,
            &format!("/api/integrations/{id}"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(gone.status, 200, "{}", gone.text);
    assert_eq!(gone.json["status"], "disconnected");
    assert_eq!(gone.json["revoked_at_provider"], false);
    assert!(stack.sandbox.state.revocations().is_empty());
    let read = stack
        .ctx
        .vault
        .client()
        .get_secret_value()
        .secret_id(&i.secret_name)
        .send()
        .await;
    assert!(read.is_err(), "the token secret is deleted");
    let after = integration(&stack, T, &id).await;
    assert_eq!(after.status, IntegrationStatus::Disconnected);
    let err = stack
        .new_container()
        .tokens
        .access_token(&after)
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::NotConnected), "{err:?}");
    assert_eq!(
        client_credentials_requests(&stack).len(),
        1,
        "a disconnected service account fetches nothing"
    );
}

#[tokio::test]
async fn visma_refuses_service_mode_naming_the_field_and_changes_nothing() {
    let stack = stack().await;
    let tenant = "tenant-svc-visma";
    // Through authorize: refused before any integration is made.
    let r = stack
        .call(
            Method::GET,
            "/api/integrations/authorize/visma?mode=service",
            Some(tenant),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.json["field"], "mode");
    assert!(
        r.json["detail"].as_str().unwrap().contains("service"),
        "{}",
        r.text
    );
    let list = stack
        .call(Method::GET, "/api/integrations/status", Some(tenant), None)
        .await
        .unwrap();
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(
        list.json["integrations"].as_array().map(Vec::len),
        Some(0),
        "nothing created: {}",
        list.text
    );
    // An unknown mode is refused the same way, listing the modes there are.
    let r = stack
        .call(
            Method::GET,
            "/api/integrations/authorize/fortnox?mode=robot",
            Some(tenant),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["field"], "mode");
    assert_eq!(r.json["allowed"], json!(["user", "service"]));

    // Through connect on an existing Visma integration: refused, no state, no consent.
    let created = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(tenant),
            Some(json!({"provider": "visma"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_string();
    for body in [json!({"mode": "service"}), json!({"mode": "robot"})] {
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/connect"),
                Some(tenant),
                Some(body.clone()),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.json["field"], "mode", "{body}: {}", r.text);
    }
    let i = integration(&stack, tenant, &id).await;
    assert_eq!(i.status, IntegrationStatus::Pending);
    assert_eq!(i.mode, ConnectionMode::User);
    assert!(
        stack.sandbox.state.token_requests().is_empty(),
        "nothing reached the provider"
    );
    // The same integration still connects as a person would.
    let back = stack.consent(tenant, &id, true).await.unwrap();
    assert_eq!(devstack::query_of(&back)["status"], "confirm");
    let i = integration(&stack, tenant, &id).await;
    assert_eq!(i.status, IntegrationStatus::Connected);
    assert_eq!(i.mode, ConnectionMode::User);
    assert!(secret(&stack, tenant, &id)
        .await
        .unwrap()
        .tokens
        .unwrap()
        .refresh_token
        .is_some());
}

#[tokio::test]
async fn a_withdrawn_service_consent_needs_a_person_and_is_asked_once() {
    let stack = stack().await;
    let tenant = "tenant-svc-gone";
    let id = connect_service_account(&stack, tenant).await;
    // The company's administrator removes the integration in Fortnox.
    assert_eq!(
        stack
            .sandbox
            .state
            .withdraw_service_consents(DATABASE_NUMBER.parse().unwrap()),
        1
    );
    age_stored_token(&stack, tenant, &id).await;
    let i = integration(&stack, tenant, &id).await;
    let err = stack
        .new_container()
        .tokens
        .access_token(&i)
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
    let after = integration(&stack, tenant, &id).await;
    assert_eq!(after.status, IntegrationStatus::NeedsReauth);
    assert_eq!(
        after.last_error.as_ref().map(|e| e.code.as_str()),
        Some("service_consent_refused")
    );
    // A refusal is not asked again: one request, however many callers come after.
    for _ in 0..2 {
        assert!(matches!(
            stack.new_container().tokens.access_token(&after).await,
            Err(TokenError::NeedsReauth(_))
        ));
    }
    let asked = client_credentials_requests(&stack);
    assert_eq!(asked, vec![Some(DATABASE_NUMBER.to_string())], "{asked:?}");
    assert!(stack
        .sandbox
        .state
        .token_requests()
        .iter()
        .any(|r| r.grant_type == "client_credentials"
            && r.error.as_deref() == Some("unauthorized_client")));
    let status = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(tenant),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status.json["status"], "needs_reauth");
    assert_eq!(status.json["mode"], "service");
    assert_eq!(status.json["last_error"]["code"], "service_consent_refused");
}

#[tokio::test]
async fn the_schedulers_keep_alive_leaves_service_accounts_alone() {
    let stack = stack_with(devstack::StackOptions {
        workers: 0,
        ..devstack::StackOptions::default()
    })
    .await;
    let tenant = "tenant-svc-sched";
    let id = connect_service_account(&stack, tenant).await;
    // Even a row that says a refresh token dies in 3 days (as an older consent's would).
    let i = integration(&stack, tenant, &id).await;
    stack
        .ctx
        .db
        .record_refresh(
            &i.tenant_id,
            &id,
            i.token_expires_at.unwrap(),
            Some(chrono::Utc::now() + chrono::Duration::days(3)),
        )
        .await
        .unwrap();
    let before = stack.sandbox.state.token_requests().len();
    let report = shared::jobs::maintenance::schedule(stack.ctx.as_ref(), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (report.refreshed, report.refresh_failed),
        (0, 0),
        "{report:?}"
    );
    assert_eq!(
        stack.sandbox.state.token_requests().len(),
        before,
        "no token request of any kind"
    );
}
