//! End-to-end connection tests: handlers behind the local gateway, moto, and the sandbox.

use devstack::{query_of, StackOptions};
use reqwest::Method;
use serde_json::json;
use shared::domain::{IntegrationStatus, ProviderKind};
use system_tests::{integration, sandbox_kind, secret, stack, stack_with, webhook_secret_name};

const T: &str = "tenant-a";

#[tokio::test]
async fn connect_approved_stores_encrypted_tokens_and_reports_connected() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (id, back) = stack.connect(T, provider, true).await.unwrap();
        let q = query_of(&back);
        // The callback asks the app to confirm; `connect` confirmed as the same person.
        assert_eq!(
            q.get("status").map(String::as_str),
            Some("confirm"),
            "{back}"
        );
        assert_eq!(q.get("confirmation").map(String::len), Some(43), "{back}");
        assert_eq!(q.get("integration_id"), Some(&id));
        assert!(
            back.starts_with(&format!("{}/dev/return", stack.api_url)),
            "{back}"
        );

        // The secret exists in Secrets Manager, under the prefix, encrypted with our key.
        let i = integration(&stack, T, &id).await;
        assert_eq!(
            i.secret_name,
            format!("{}/{T}/{id}", stack.vars["SECRET_PREFIX"])
        );
        let described = stack
            .ctx
            .vault
            .client()
            .describe_secret()
            .secret_id(&i.secret_name)
            .send()
            .await
            .unwrap();
        assert_eq!(described.kms_key_id(), Some(stack.kms_key_arn.as_str()));
        let s = secret(&stack, T, &id).await.expect("secret");
        let tokens = s.tokens.expect("tokens stored");
        assert!(tokens.refresh_token.is_some());
        assert!(tokens.expires_at > chrono::Utc::now());
        // Webhook signing keys are never here: they get a secret of their own when first asked
        // for (webhook_secrets.rs).
        assert!(s.legacy_webhook_keys.is_empty(), "no webhook key here");

        // Status: connected, with the company name from the provider.
        let st = stack
            .call(
                Method::GET,
                &format!("/api/integrations/{id}/status"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        assert_eq!(st.status, 200, "{}", st.text);
        assert_eq!(st.json["status"], "connected");
        assert_eq!(st.json["provider"], provider.as_str());
        let expected_company = &stack
            .sandbox
            .state
            .config()
            .companies(sandbox_kind(provider))[0]
            .name;
        assert_eq!(
            st.json["company_name"].as_str(),
            Some(expected_company.as_str())
        );
        assert!(st.json["token_expires_at"].is_string());
        assert!(
            !st.text.contains(tokens.access_token.expose()),
            "status must never show a token"
        );
    }
    let list = stack
        .call(Method::GET, "/api/integrations/status", Some(T), None)
        .await
        .unwrap();
    assert_eq!(list.json["integrations"].as_array().map(Vec::len), Some(2));
    // Nothing in DynamoDB holds a token.
    let scan = stack
        .ctx
        .db
        .client()
        .scan()
        .table_name(stack.ctx.db.table())
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", scan.items());
    let tokens = secret(
        &stack,
        T,
        list.json["integrations"][0]["id"].as_str().unwrap(),
    )
    .await
    .unwrap()
    .tokens
    .unwrap();
    assert!(!dump.contains(tokens.access_token.expose()));
}

#[tokio::test]
async fn denied_consent_redirects_with_access_denied_and_changes_nothing() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (id, back) = stack.connect(T, provider, false).await.unwrap();
        let q = query_of(&back);
        assert_eq!(q.get("status").map(String::as_str), Some("error"));
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("access_denied"),
            "{back}"
        );
        assert_eq!(
            integration(&stack, T, &id).await.status,
            IntegrationStatus::Pending
        );
        // The token secret is made only when consent completes.
        assert!(secret(&stack, T, &id).await.is_none(), "no token secret");
    }
    assert!(
        stack.sandbox.state.token_requests().is_empty(),
        "no code exchange after a denial"
    );
}

#[tokio::test]
async fn a_failing_company_lookup_keeps_the_connection_and_the_first_sync_fills_it_in() {
    let stack = stack_with(StackOptions {
        workers: 1,
        ..StackOptions::default()
    })
    .await;
    for provider in ProviderKind::ALL {
        let (id, callback) = stack.create_and_consent(T, provider, true).await.unwrap();
        let back = stack.follow_callback(&callback).await.unwrap();
        assert_eq!(query_of(&back)["status"], "confirm", "{back}");
        // The code exchange works; every REST call (the company lookup) answers 500.
        stack.sandbox.state.set_faults(sandbox::FaultConfig {
            error_500: 1.0,
            ..Default::default()
        });
        let started = std::time::Instant::now();
        let r = stack.confirm(T, None, &back).await.unwrap();
        stack
            .sandbox
            .state
            .set_faults(sandbox::FaultConfig::default());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "the confirmation answers within its Lambda's 10 s: {:?}",
            started.elapsed()
        );
        assert!(!stack.sandbox.state.faults_injected().is_empty());
        // The consent is kept: connected, tokens stored, the company still to come.
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "connected");
        assert_eq!(r.json["company_pending"], true, "{}", r.text);
        assert!(r.json["company_name"].is_null(), "{}", r.text);
        assert!(secret(&stack, T, &id).await.unwrap().tokens.is_some());
        // The first sync fills it in.
        let job = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/sync"),
                Some(T),
                Some(json!({"direction": "pull", "entities": ["customers"]})),
            )
            .await
            .unwrap();
        assert_eq!(job.status, 202, "{}", job.text);
        let job_id = job.json["job_ids"][0].as_str().unwrap().to_string();
        stack
            .wait_for_job(&id, &job_id, std::time::Duration::from_secs(120))
            .await
            .unwrap();
        let st = stack
            .call(
                Method::GET,
                &format!("/api/integrations/{id}/status"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        let expected = &stack
            .sandbox
            .state
            .config()
            .companies(sandbox_kind(provider))[0]
            .name;
        assert_eq!(
            st.json["company_name"].as_str(),
            Some(expected.as_str()),
            "{}",
            st.text
        );
        assert_eq!(st.json["company_pending"], false);
    }
}

#[tokio::test]
async fn a_replayed_state_is_refused_and_changes_nothing() {
    let stack = stack().await;
    let (id, callback) = stack
        .create_and_consent(T, ProviderKind::Fortnox, true)
        .await
        .unwrap();
    let first = stack.follow_callback(&callback).await.unwrap();
    assert_eq!(query_of(&first)["status"], "confirm");
    stack.confirm_if_asked(T, &first).await.unwrap();
    let before = secret(&stack, T, &id).await.unwrap();
    let exchanges = stack.sandbox.state.token_requests().len();

    let replay = stack.follow_callback(&callback).await.unwrap();
    let q = query_of(&replay);
    assert_eq!(q["status"], "error");
    assert_eq!(q["error"], "invalid_state");
    assert!(
        replay.starts_with(&stack.vars["DEFAULT_RETURN_URL"]),
        "unknown state goes to the default URL: {replay}"
    );
    assert_eq!(
        stack.sandbox.state.token_requests().len(),
        exchanges,
        "no second code exchange"
    );
    assert_eq!(secret(&stack, T, &id).await.unwrap(), before);
    assert_eq!(
        integration(&stack, T, &id).await.status,
        IntegrationStatus::Connected
    );

    // A made-up state and a missing state are refused the same way.
    for bad in [
        "/api/integrations/callback/fortnox?code=x&state=made-up",
        "/api/integrations/callback/fortnox?code=x",
    ] {
        let r = stack
            .http()
            .get(format!("{}{bad}", stack.api_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(query_of(&loc)["error"], "invalid_state", "{loc}");
    }
}

#[tokio::test]
async fn an_expired_state_is_refused_and_changes_nothing() {
    let mut opts = StackOptions::default();
    opts.env
        .insert("OAUTH_STATE_TTL_SECONDS".into(), "1".into());
    let stack = stack_with(opts).await;
    let (id, callback) = stack
        .create_and_consent(T, ProviderKind::Visma, true)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let back = stack.follow_callback(&callback).await.unwrap();
    let q = query_of(&back);
    assert_eq!(q["error"], "state_expired", "{back}");
    assert_eq!(q["integration_id"], id);
    assert!(
        stack.sandbox.state.token_requests().is_empty(),
        "the code was not exchanged"
    );
    assert_eq!(
        integration(&stack, T, &id).await.status,
        IntegrationStatus::Pending
    );
}

#[tokio::test]
async fn callback_for_the_wrong_provider_is_refused() {
    let stack = stack().await;
    let (id, callback) = stack
        .create_and_consent(T, ProviderKind::Fortnox, true)
        .await
        .unwrap();
    let swapped = callback.replace("/callback/fortnox", "/callback/visma");
    let back = stack.follow_callback(&swapped).await.unwrap();
    assert_eq!(query_of(&back)["error"], "invalid_state");
    assert!(stack.sandbox.state.token_requests().is_empty());
    assert_eq!(
        integration(&stack, T, &id).await.status,
        IntegrationStatus::Pending
    );
}

#[tokio::test]
async fn return_urls_off_the_allow_list_are_refused_and_create_nothing() {
    let stack = stack().await;
    let created = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(T),
            Some(json!({"provider": "fortnox"})),
        )
        .await
        .unwrap();
    let id = created.json["id"].as_str().unwrap().to_string();
    for bad in [
        "https://evil.example.com/steal",
        "javascript:alert(1)",
        "not a url",
        "http://localhost:5174/x",
    ] {
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/connect"),
                Some(T),
                Some(json!({"return_url": bad})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.json["field"], "return_url");
    }
    // Allowed origin: accepted, and the callback returns there.
    let ok = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/connect"),
            Some(T),
            Some(json!({"return_url": "http://localhost:5173/settings/integrations"})),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text);
    let cb = sandbox::give_consent(
        &stack.http(),
        ok.json["authorization_url"].as_str().unwrap(),
        true,
    )
    .await
    .unwrap();
    let back = stack.follow_callback(&cb).await.unwrap();
    assert!(
        back.starts_with("http://localhost:5173/settings/integrations?"),
        "{back}"
    );

    // authorize with a bad return URL creates no integration.
    let r = stack
        .call(
            Method::GET,
            "/api/integrations/authorize/visma?return_url=https%3A%2F%2Fevil.example.com",
            Some("tenant-b"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json["field"], "return_url");
    let list = stack
        .call(
            Method::GET,
            "/api/integrations/status",
            Some("tenant-b"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(list.json["integrations"], json!([]));
}

#[tokio::test]
async fn another_tenants_integration_answers_exactly_like_a_missing_one() {
    let stack = stack().await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let missing = "00000000-0000-4000-8000-000000000000";
    for (method, path) in [
        (Method::GET, "/api/integrations/{id}/status"),
        (Method::POST, "/api/integrations/{id}/connect"),
        (Method::DELETE, "/api/integrations/{id}"),
    ] {
        let theirs = stack
            .call(
                method.clone(),
                &path.replace("{id}", &id),
                Some("tenant-b"),
                None,
            )
            .await
            .unwrap();
        let nobodys = stack
            .call(
                method.clone(),
                &path.replace("{id}", missing),
                Some("tenant-b"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(theirs.status, 404, "{path}");
        assert_eq!(theirs.content_type, "application/problem+json");
        assert_eq!(
            theirs.text.replace(&id, "ID"),
            nobodys.text.replace(missing, "ID"),
            "{path}: another tenant's integration must look missing"
        );
    }
    assert_eq!(
        integration(&stack, T, &id).await.status,
        IntegrationStatus::Connected,
        "still connected"
    );
    let list = stack
        .call(
            Method::GET,
            "/api/integrations/status",
            Some("tenant-b"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(list.json["integrations"], json!([]));
}

#[tokio::test]
async fn bad_input_gets_problem_json_naming_the_problem_and_changes_nothing() {
    let stack = stack().await;
    let url = format!("{}/api/integrations/create", stack.api_url);
    let token = stack.token_for(T);
    let cases: Vec<(&str, Option<&str>, u16, Option<&str>)> = vec![
        ("{}", Some("application/json"), 400, Some("provider")),
        (
            r#"{"provider":"quickbooks"}"#,
            Some("application/json"),
            400,
            Some("provider"),
        ),
        (
            r#"{"provider":5}"#,
            Some("application/json"),
            400,
            Some("provider"),
        ),
        (
            r#"{"provider":""}"#,
            Some("application/json"),
            400,
            Some("provider"),
        ),
        (
            r#"{"provider":"visma","display_name":7}"#,
            Some("application/json"),
            400,
            Some("display_name"),
        ),
        ("not json", Some("application/json"), 400, None),
        ("[1,2]", Some("application/json"), 400, None),
        (r#"{"provider":"visma"}"#, Some("text/plain"), 415, None),
    ];
    let long_name = format!(
        r#"{{"provider":"visma","display_name":"{}"}}"#,
        "x".repeat(101)
    );
    let mut cases = cases;
    cases.push((
        &long_name,
        Some("application/json"),
        400,
        Some("display_name"),
    ));
    for (body, ct, status, field) in cases {
        let mut rb = stack
            .http()
            .post(&url)
            .bearer_auth(&token)
            .body(body.to_string());
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
        let p: serde_json::Value = r.json().await.unwrap();
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
        if let Some(f) = field {
            assert_eq!(p["field"], f, "{body}: {p}");
            assert!(
                p["detail"].as_str().unwrap().contains(f),
                "the detail names the field: {p}"
            );
        }
    }
    // Unknown provider in a path.
    let r = stack
        .call(
            Method::GET,
            "/api/integrations/authorize/quickbooks",
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("provider"))
    );
    // No token, a forged token: the gateway's 401.
    let r = stack
        .call(Method::GET, "/api/integrations/status", None, None)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let r = stack
        .http()
        .get(format!("{}/api/integrations/status", stack.api_url))
        .bearer_auth(format!("{}x", stack.token_for(T)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A token without the tenant claim: problem+json 401 from the function.
    let no_tenant = stack.jwt.sign(&json!({"iss": devstack::DEV_ISSUER, "aud": devstack::DEV_AUDIENCE, "exp": chrono::Utc::now().timestamp() + 60, "sub": "x"}));
    let r = stack
        .http()
        .get(format!("{}/api/integrations/status", stack.api_url))
        .bearer_auth(no_tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    let list = stack
        .call(Method::GET, "/api/integrations/status", Some(T), None)
        .await
        .unwrap();
    assert_eq!(list.json["integrations"], json!([]), "nothing was created");
}

#[tokio::test]
async fn one_active_integration_per_provider_and_authorize_reuses_it() {
    let stack = stack().await;
    let first = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(T),
            Some(json!({"provider": "visma", "display_name": "Visma AB"})),
        )
        .await
        .unwrap();
    assert_eq!(first.status, 201);
    assert_eq!(first.json["status"], "pending");
    assert_eq!(first.json["display_name"], "Visma AB");
    let id = first.json["id"].as_str().unwrap();
    let dup = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(T),
            Some(json!({"provider": "visma"})),
        )
        .await
        .unwrap();
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json["existing_integration_id"], id);

    let a = stack
        .call(
            Method::GET,
            "/api/integrations/authorize/visma",
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.json["integration_id"], id,
        "authorize reuses the active integration"
    );
    let auth_url = url::Url::parse(a.json["authorization_url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = auth_url.query_pairs().into_owned().collect();
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(
        q["acr_values"],
        "service:44643EB1-3F76-4C1C-A672-402AE8085934"
    );
    assert!(q["scope"].split(' ').any(|s| s == "offline_access"));
    assert_eq!(
        q["redirect_uri"],
        format!("{}/api/integrations/callback/visma", stack.api_url)
    );

    // authorize for a provider without an integration creates one.
    let f = stack
        .call(
            Method::GET,
            "/api/integrations/authorize/fortnox",
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(f.status, 200);
    assert_ne!(f.json["integration_id"], id);
    let fq: std::collections::HashMap<_, _> =
        url::Url::parse(f.json["authorization_url"].as_str().unwrap())
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
    assert_eq!(fq["access_type"], "offline");
    assert_eq!(
        fq["scope"],
        "customer invoice companyinformation payment article project"
    );
    let list = stack
        .call(Method::GET, "/api/integrations/status", Some(T), None)
        .await
        .unwrap();
    assert_eq!(list.json["integrations"].as_array().unwrap().len(), 2);
}

#[path = "connections/consent_binding.rs"]
mod consent_binding;
