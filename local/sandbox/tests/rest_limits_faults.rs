//! Rate limits (Fortnox sliding 25 per 5 s per client and tenant; Visma 600 a minute per
//! client and endpoint) and fault injection, over HTTP.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use futures::future::join_all;
use reqwest::StatusCode;
use sandbox::{ClientRegistration, FaultConfig, FaultKind, ProviderKind, RunningSandbox};
use serde_json::{json, Value};

/// A raw GET, for status and headers.
async fn raw_get(api: &Api, path: &str) -> reqwest::Response {
    api.http
        .get(format!("{}{}", api.base, path))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("answered")
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep(t.saturating_duration_since(Instant::now())).await;
}

#[tokio::test]
async fn fortnox_window_slides() {
    // time_scale 1.25: the 5 s window becomes 4 s, the shape stays.
    let sb = sandbox_with(|c| c.time_scale = 1.25).await;
    let window = Duration::from_secs(4);
    let api = fortnox(&sb);
    let ok = |api: Api| async move {
        let (status, body) = api.get("/3/customers?limit=1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    for _ in 0..20 {
        ok(api.clone()).await;
    }
    let first_batch_done = Instant::now();
    sleep_until(first_batch_done + Duration::from_secs(1)).await;
    for _ in 0..5 {
        ok(api.clone()).await;
    }
    // The 26th inside the window.
    let response = raw_get(&api, "/3/customers?limit=1").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response.headers().get("retry-after").is_none(),
        "Fortnox sends no Retry-After"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["message"], "Too many requests");
    assert_eq!(sb.state.rate_limited_count(ProviderKind::Fortnox), 1);

    // Once the first 20 have left the window, exactly 20 slots are free: the 5 later ones
    // still count. A fixed bucket that restarted would allow 25.
    sleep_until(first_batch_done + window + Duration::from_millis(150)).await;
    for _ in 0..20 {
        ok(api.clone()).await;
    }
    let (status, _) = api.get("/3/customers?limit=1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the window slides");
    assert_eq!(sb.state.rate_limited_count(ProviderKind::Fortnox), 2);
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn fortnox_limit_is_per_tenant_and_scaled() {
    let sb = sandbox_with(|c| c.time_scale = 2.5).await; // window 2 s
    let first = fortnox(&sb);
    let second_key = sb.state.config().fortnox_companies[1]
        .database_number
        .to_string();
    let second = api_for(&sb, ProviderKind::Fortnox, Some(&second_key));
    // Another token for the same tenant shares the budget.
    let other_token = fortnox(&sb);
    let statuses = join_all((0..30).map(|i| {
        let api = if i % 2 == 0 {
            first.clone()
        } else {
            other_token.clone()
        };
        async move { api.get("/3/companyinformation").await.0 }
    }))
    .await;
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(limited, 5, "{statuses:?}");
    let (status, _) = second.get("/3/companyinformation").await;
    assert_eq!(status, StatusCode::OK, "another tenant has its own window");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _) = first.get("/3/companyinformation").await;
    assert_eq!(status, StatusCode::OK, "a scaled window of 2 s has passed");
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn visma_limit_is_per_client_and_endpoint_across_companies() {
    // time_scale 6: the minute becomes 10 s.
    let sb = sandbox_with(|c| {
        c.time_scale = 6.0;
        c.clients.push(ClientRegistration {
            provider: ProviderKind::Visma,
            client_id: "other-visma-client".into(),
            client_secret: "other-secret".into(),
            redirect_uris: Vec::new(),
        });
    })
    .await;
    let a = visma(&sb);
    let b_key = sb.state.config().visma_companies[1].company_id.to_string();
    let b = api_for(&sb, ProviderKind::Visma, Some(&b_key));
    for chunk in 0..600 / 20 {
        let statuses = join_all((0..20).map(|i| {
            let api = if (chunk * 20 + i) % 2 == 0 {
                a.clone()
            } else {
                b.clone()
            };
            async move { api.get("/v2/customers?$pagesize=1").await.0 }
        }))
        .await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
    }
    let (status, body) = b.get("/v2/customers").await;
    assert_visma_error(status, &body, StatusCode::TOO_MANY_REQUESTS, 4010);
    let message = body["DeveloperErrorMessage"].as_str().unwrap();
    let n: u64 = message
        .strip_suffix(" seconds.")
        .and_then(|m| m.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'Try again in N seconds.' in {message}"));
    assert!(message.contains("Try again in"), "{message}");
    assert!((1..=10).contains(&n), "N = {n}");
    // Other endpoints and other apps have their own budgets.
    let (status, _) = b.get("/v2/termsofpayments").await;
    assert_eq!(status, StatusCode::OK);
    let mut other_app = a.clone();
    other_app.token = sb.state.issue_access_token(
        ProviderKind::Visma,
        "other-visma-client",
        &a.company,
        scopes(ProviderKind::Visma),
    );
    let (status, _) = other_app.get("/v2/customers").await;
    assert_eq!(status, StatusCode::OK);
    // Sub-paths count against the endpoint.
    let (status, _) = a
        .get(&format!("/v2/customers/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sb.state.rate_limited_count(ProviderKind::Visma), 2);
    // After N seconds a slot is free again.
    tokio::time::sleep(Duration::from_secs(n)).await;
    let (status, body) = a.get("/v2/customers").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn faults(edit: impl FnOnce(&mut FaultConfig)) -> FaultConfig {
    let mut config = FaultConfig {
        seed: 1,
        ..FaultConfig::default()
    };
    edit(&mut config);
    config
}

fn kinds(sb: &RunningSandbox) -> Vec<FaultKind> {
    sb.state.faults_injected().iter().map(|f| f.kind).collect()
}

#[tokio::test]
async fn injected_500_and_429() {
    let sb = sandbox().await;
    let (fx, vm) = (fortnox(&sb), visma(&sb));
    sb.state.set_faults(faults(|f| f.error_500 = 1.0));
    let (status, body) = fx.get("/3/customers").await;
    assert_fortnox_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, 1_000_003);
    assert!(body["ErrorInformation"]["message"]
        .as_str()
        .unwrap()
        .contains("Systemfel"));
    let (status, body) = vm.get("/v2/customers").await;
    assert_visma_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, 5000);

    sb.state.set_faults(faults(|f| f.rate_429 = 1.0));
    let response = raw_get(&fx, "/3/customers").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_none());
    let (status, body) = vm.get("/v2/customers").await;
    assert_visma_error(status, &body, StatusCode::TOO_MANY_REQUESTS, 4010);
    assert!(body["DeveloperErrorMessage"]
        .as_str()
        .unwrap()
        .ends_with("Try again in 1 seconds."));
    assert_eq!(
        kinds(&sb),
        [
            FaultKind::Error500,
            FaultKind::Error500,
            FaultKind::RateLimited,
            FaultKind::RateLimited
        ]
    );
    assert_eq!(
        sb.state.rate_limited_count(ProviderKind::Fortnox),
        0,
        "injected 429s are not the limiter's"
    );

    // OAuth and inspection are never touched.
    sb.state.set_faults(faults(|f| {
        f.error_500 = 1.0;
        f.drop_connection = 0.0;
    }));
    let response = http()
        .post(format!("{}/oauth-v1/token", sb.fortnox_url()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = http()
        .get(format!("{}/_sandbox/requests", sb.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    sb.state.set_faults(FaultConfig::default());
    let (status, _) = fx.get("/3/customers").await;
    assert_eq!(status, StatusCode::OK);
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn slow_answers_outlast_a_client_timeout() {
    let sb = sandbox().await;
    let mut api = fortnox(&sb);
    api.http = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    sb.state.set_faults(faults(|f| {
        f.slow = 1.0;
        f.slow_delay = Duration::from_millis(800);
    }));
    let err = api
        .http
        .get(format!("{}/3/customers", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(kinds(&sb), [FaultKind::Slow]);
    sb.state.set_faults(FaultConfig::default());
    let (status, _) = fortnox(&sb).get("/3/customers").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn dropped_connections_are_connection_errors() {
    let sb = sandbox().await;
    let (fx, vm) = (fortnox(&sb), visma(&sb));
    // Warm a pooled keep-alive connection first, so the drop hits a live connection.
    assert_eq!(fx.get("/3/customers").await.0, StatusCode::OK);
    sb.state.set_faults(faults(|f| f.drop_connection = 1.0));
    for (api, path) in [(&fx, "/3/customers"), (&vm, "/v2/customers")] {
        let started = Instant::now();
        let err = api
            .http
            .get(format!("{}{path}", api.base))
            .bearer_auth(&api.token)
            .send()
            .await
            .expect_err("no response");
        assert!(!err.is_timeout(), "{err:?}");
        assert!(err.status().is_none(), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "closed promptly"
        );
    }
    assert_eq!(
        kinds(&sb),
        [FaultKind::DropConnection, FaultKind::DropConnection]
    );
    let dropped: Vec<_> = sb
        .state
        .requests()
        .into_iter()
        .filter(|r| r.status == 0)
        .collect();
    assert_eq!(dropped.len(), 2, "recorded with status 0");
    sb.state.set_faults(FaultConfig::default());
    assert_eq!(
        fx.get("/3/customers").await.0,
        StatusCode::OK,
        "a new connection works"
    );
}

#[tokio::test]
async fn commit_then_fail_applies_the_write_first() {
    let sb = sandbox().await;
    let mut fx = fortnox(&sb);
    sb.state.set_faults(faults(|f| {
        f.commit_then_fail = 1.0;
        f.slow_delay = Duration::from_secs(6);
        f.seed = 3;
    }));
    // Reads cannot commit anything: untouched.
    assert_eq!(fx.get("/3/customers").await.0, StatusCode::OK);
    // The client gives up long before the held-back answer, and long after any real one.
    fx.http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut seen = HashSet::new();
    let mut posted = 0;
    while seen.len() < 3 && posted < 30 {
        posted += 1;
        let result = fx
            .http
            .post(format!("{}/3/customers", fx.base))
            .bearer_auth(&fx.token)
            .json(&fortnox_customer(&format!("Kund {posted}")))
            .send()
            .await;
        let kind = kinds(&sb).last().copied().expect("a fault per write");
        match (kind, result) {
            (FaultKind::CommitThenError500, Ok(response)) => {
                assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            }
            (FaultKind::CommitThenDrop, Err(e)) => assert!(!e.is_timeout(), "{e:?}"),
            (FaultKind::CommitThenDelay, Err(e)) => assert!(e.is_timeout(), "{e:?}"),
            (kind, other) => panic!("{kind:?} gave {other:?}"),
        }
        seen.insert(kind);
        // Whatever the client saw, the customer exists.
        assert_eq!(
            sb.state.customer_count(ProviderKind::Fortnox, &fx.company),
            posted
        );
    }
    assert_eq!(
        seen.len(),
        3,
        "all three endings within {posted} writes: {seen:?}"
    );
    assert!(kinds(&sb).iter().all(|k| k.committed()));
    let names: Vec<Value> = sb
        .state
        .customers(ProviderKind::Fortnox, &fx.company)
        .iter()
        .map(|c| c["Name"].clone())
        .collect();
    assert!(names.contains(&json!("Kund 1")));

    // Visma too; a write that fails validation commits nothing and is not faulted.
    let vm = visma(&sb);
    let (status, body) = vm.post("/v2/customers", &json!({"Name": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(sb.state.customer_count(ProviderKind::Visma, &vm.company), 0);
    // That body lacked required fields on purpose.
    excuse_request_violations(&sb, 1);
    sb.state.set_faults(FaultConfig::default());
}

#[tokio::test]
async fn seeded_faults_repeat_and_only_writes_spares_reads() {
    async fn outcomes(seed: u64) -> Vec<StatusCode> {
        let sb = sandbox().await;
        let api = fortnox(&sb);
        sb.state.set_faults(FaultConfig {
            error_500: 0.5,
            only_writes: true,
            seed,
            ..FaultConfig::default()
        });
        let mut out = Vec::new();
        for i in 0..20 {
            assert_eq!(
                api.get("/3/customers").await.0,
                StatusCode::OK,
                "reads are spared"
            );
            out.push(
                api.post("/3/customers", &fortnox_customer(&format!("K{i}")))
                    .await
                    .0,
            );
        }
        out
    }
    let first = outcomes(7).await;
    assert_eq!(first, outcomes(7).await, "same seed, same faults");
    assert_ne!(first, outcomes(8).await);
    assert!(
        first.contains(&StatusCode::INTERNAL_SERVER_ERROR) && first.contains(&StatusCode::CREATED)
    );
}

#[tokio::test]
async fn faults_are_set_over_http() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let control = http();
    let response = control
        .post(format!("{}/_sandbox/faults", sb.base_url))
        .json(&json!({"error_500": 1.0, "seed": 5, "slow_delay_ms": 1500}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sb.state.faults().slow_delay, Duration::from_millis(1500));
    assert_eq!(
        api.get("/3/customers").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let injected: Value = control
        .get(format!("{}/_sandbox/faults-injected", sb.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(injected[0]["kind"], "error500");
    assert_eq!(injected[0]["path"], "/3/customers");
    let response = control
        .post(format!("{}/_sandbox/faults", sb.base_url))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    control
        .post(format!("{}/_sandbox/faults", sb.base_url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.get("/3/customers").await.0, StatusCode::OK);
    let seeded: Value = control
        .post(format!("{}/_sandbox/fortnox/seed-customers", sb.base_url))
        .json(&json!({"n": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seeded["ids"], json!(["1", "2", "3"]));
    let listed: Value = control
        .get(format!("{}/_sandbox/fortnox/customers", sb.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
}
