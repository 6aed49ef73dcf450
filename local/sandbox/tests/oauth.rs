//! The OAuth side of both simulators, driven over HTTP as the product would.

mod common;

use std::time::Duration;

use common::Sandbox;
use reqwest::{Client, StatusCode};
use sandbox::{
    consent_client, give_consent, give_consent_for_company, start, token_fingerprint,
    ClientRegistration, ProviderKind, RunningSandbox, SandboxConfig,
};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/api/integrations/callback";

/// Paths and credentials of one provider's flow.
struct Flow {
    provider: ProviderKind,
    authorize: &'static str,
    token: &'static str,
    revoke: &'static str,
    info: &'static str,
    scope: &'static str,
    client_id: &'static str,
    secret: &'static str,
}

const FORTNOX: Flow = Flow {
    provider: ProviderKind::Fortnox,
    authorize: "/fortnox/oauth-v1/auth",
    token: "/fortnox/oauth-v1/token",
    revoke: "/fortnox/oauth-v1/revoke",
    info: "/fortnox/3/companyinformation",
    scope: "customer invoice companyinformation",
    client_id: "fortnox-dev-client",
    secret: "fortnox-dev-secret",
};

const VISMA: Flow = Flow {
    provider: ProviderKind::Visma,
    authorize: "/visma/connect/authorize",
    token: "/visma/connect/token",
    revoke: "/visma/connect/revocation",
    info: "/visma/v2/companysettings",
    scope: "ea:api offline_access ea:sales",
    client_id: "visma-dev-client",
    secret: "visma-dev-secret",
};

const FLOWS: [&Flow; 2] = [&FORTNOX, &VISMA];

/// A sandbox whose contract record is checked when the test ends, and a consent client.
async fn sandbox_with(edit: impl FnOnce(&mut SandboxConfig)) -> (Sandbox, Client) {
    let mut config = SandboxConfig::with_defaults();
    edit(&mut config);
    let sandbox = start(config).await.expect("sandbox starts");
    (
        Sandbox::new(sandbox),
        consent_client().expect("client builds"),
    )
}

async fn sandbox() -> (Sandbox, Client) {
    sandbox_with(|_| {}).await
}

fn authorize_url_with(sb: &RunningSandbox, flow: &Flow, params: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(&format!("{}{}", sb.base_url, flow.authorize)).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

fn authorize_url(sb: &RunningSandbox, flow: &Flow, state: &str) -> String {
    let mut params = vec![
        ("client_id", flow.client_id),
        ("response_type", "code"),
        ("state", state),
        ("scope", flow.scope),
        ("redirect_uri", REDIRECT),
    ];
    match flow.provider {
        ProviderKind::Fortnox => params.push(("access_type", "offline")),
        ProviderKind::Visma => {
            params.push(("prompt", "select_account"));
            params.push(("acr_values", "service:44643EB1-3F76-4C1C-A672-402AE8085934"));
        }
    }
    authorize_url_with(sb, flow, &params)
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(location).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Approves the default company and returns the code from the callback.
async fn code_for(sb: &RunningSandbox, http: &Client, flow: &Flow) -> String {
    let location = give_consent(http, &authorize_url(sb, flow, "st-1"), true)
        .await
        .expect("consent");
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("st-1"));
    query_param(&location, "code").expect("code in callback")
}

async fn token_call(
    sb: &RunningSandbox,
    http: &Client,
    flow: &Flow,
    secret: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = http
        .post(format!("{}{}", sb.base_url, flow.token))
        .basic_auth(flow.client_id, Some(secret))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn exchange(
    sb: &RunningSandbox,
    http: &Client,
    flow: &Flow,
    code: &str,
) -> (StatusCode, Value) {
    token_call(
        sb,
        http,
        flow,
        flow.secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

async fn refresh(
    sb: &RunningSandbox,
    http: &Client,
    flow: &Flow,
    token: &str,
) -> (StatusCode, Value) {
    token_call(
        sb,
        http,
        flow,
        flow.secret,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// A fresh (access token, refresh token) pair through the whole code flow.
async fn tokens(sb: &RunningSandbox, http: &Client, flow: &Flow) -> (String, String) {
    let code = code_for(sb, http, flow).await;
    let (status, body) = exchange(sb, http, flow, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn api_get(
    sb: &RunningSandbox,
    http: &Client,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = http.get(format!("{}{}", sb.base_url, path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("api request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_oauth_error(status: StatusCode, body: &Value, expected_status: StatusCode, error: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn fortnox_full_code_flow() {
    let (sb, http) = sandbox().await;
    let code = code_for(&sb, &http, &FORTNOX).await;
    let (status, body) = exchange(&sb, &http, &FORTNOX, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "customer invoice companyinformation");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "a JWT-shaped access token");
    assert!(body["refresh_token"]
        .as_str()
        .is_some_and(|t| t.len() >= 32));

    let (status, info) = api_get(&sb, &http, FORTNOX.info, Some(access)).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let company = &info["CompanyInformation"];
    assert_eq!(company["CompanyName"], "Bygg & Service i Norrland AB");
    assert_eq!(company["OrganizationNumber"], "556677-8899");
    assert_eq!(company["DatabaseNumber"], 1_234_567);
    for key in [
        "Address",
        "City",
        "CountryCode",
        "DatabaseNumber",
        "CompanyName",
        "OrganizationNumber",
        "VisitAddress",
        "VisitCity",
        "VisitCountryCode",
        "VisitZipCode",
        "ZipCode",
    ] {
        assert!(company.get(key).is_some(), "missing {key}");
    }

    let records = sb.state.token_requests();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].provider, ProviderKind::Fortnox);
    assert_eq!(records[0].grant_type, "authorization_code");
    assert!(records[0].ok);
    let paths: Vec<_> = sb
        .state
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("GET".to_string(), "/oauth-v1/auth".to_string(), 200),
            (
                "POST".to_string(),
                "/oauth-v1/auth/consent".to_string(),
                302
            ),
            ("POST".to_string(), "/oauth-v1/token".to_string(), 200),
            ("GET".to_string(), "/3/companyinformation".to_string(), 200),
        ]
    );
}

#[tokio::test]
async fn visma_full_code_flow() {
    let (sb, http) = sandbox().await;
    let code = code_for(&sb, &http, &VISMA).await;
    let (status, body) = exchange(&sb, &http, &VISMA, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let access = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"].is_string());

    let (status, settings) = api_get(&sb, &http, VISMA.info, Some(access)).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["Name"], "Rörmokare Svensson i Göteborg AB");
    assert_eq!(settings["CorporateIdentityNumber"], "556123-4567");
    assert_eq!(settings["CurrencyCode"], "SEK");
    assert_eq!(settings["CountryCode"], "SE");
    assert!(settings["Email"].is_string() && settings["Phone"].is_string());
}

#[tokio::test]
async fn picked_company_is_the_one_the_token_belongs_to() {
    let (sb, http) = sandbox().await;
    let url = authorize_url(&sb, &FORTNOX, "s");
    let location = give_consent_for_company(&http, &url, true, Some("2345678"))
        .await
        .unwrap();
    let code = query_param(&location, "code").unwrap();
    let (_, body) = exchange(&sb, &http, &FORTNOX, &code).await;
    let (_, info) = api_get(&sb, &http, FORTNOX.info, body["access_token"].as_str()).await;
    assert_eq!(info["CompanyInformation"]["DatabaseNumber"], 2_345_678);
}

#[tokio::test]
async fn code_is_single_use() {
    let (sb, http) = sandbox().await;
    for flow in FLOWS {
        let code = code_for(&sb, &http, flow).await;
        let (status, _) = exchange(&sb, &http, flow, &code).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = exchange(&sb, &http, flow, &code).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

#[tokio::test]
async fn code_expires() {
    let (sb, http) = sandbox_with(|c| c.code_ttl = Duration::from_millis(200)).await;
    for flow in FLOWS {
        let code = code_for(&sb, &http, flow).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (status, body) = exchange(&sb, &http, flow, &code).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"));
    }
}

#[tokio::test]
async fn token_redirect_uri_must_match_authorize() {
    let (sb, http) = sandbox().await;
    for flow in FLOWS {
        let code = code_for(&sb, &http, flow).await;
        let (status, body) = token_call(
            &sb,
            &http,
            flow,
            flow.secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
            ],
        )
        .await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

#[tokio::test]
async fn unregistered_redirect_uri_or_client_gets_an_error_page_not_a_redirect() {
    let (sb, http) = sandbox_with(|c| {
        c.clients.push(ClientRegistration {
            provider: ProviderKind::Fortnox,
            client_id: "registered".into(),
            client_secret: "s".into(),
            redirect_uris: vec!["https://app.example.se/callback".into()],
        })
    })
    .await;
    let cases = [
        ("registered", REDIRECT),
        ("registered", "https://app.example.se/callback/extra"),
        ("fortnox-dev-client", "https://evil.example.com/cb"),
        ("no-such-client", REDIRECT),
    ];
    for (client_id, redirect) in cases {
        let url = authorize_url_with(
            &sb,
            &FORTNOX,
            &[
                ("client_id", client_id),
                ("response_type", "code"),
                ("state", "s"),
                ("scope", "customer"),
                ("redirect_uri", redirect),
            ],
        );
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{client_id} {redirect}"
        );
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("<html"));
    }
    // The exact registered URI is accepted.
    let url = authorize_url_with(
        &sb,
        &FORTNOX,
        &[
            ("client_id", "registered"),
            ("response_type", "code"),
            ("state", "s"),
            ("scope", "customer"),
            ("redirect_uri", "https://app.example.se/callback"),
        ],
    );
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn invalid_authorize_parameters_redirect_with_an_oauth_error() {
    let (sb, http) = sandbox().await;
    let base = |scope: &'static str, state: Option<&'static str>, response_type: &'static str| {
        let mut params = vec![
            ("client_id", "fortnox-dev-client"),
            ("response_type", response_type),
            ("scope", scope),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params
    };
    type Case = (
        Vec<(&'static str, &'static str)>,
        &'static str,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            base("customer nosuchscope", Some("s1"), "code"),
            "invalid_scope",
            Some("s1"),
        ),
        (base("", Some("s2"), "code"), "invalid_scope", Some("s2")),
        (
            base("Customer", Some("s3"), "code"),
            "invalid_scope",
            Some("s3"),
        ),
        (base("customer", None, "code"), "invalid_request", None),
        (
            base("customer", Some("s4"), "token"),
            "unsupported_response_type",
            Some("s4"),
        ),
    ];
    for (params, error, state) in cases {
        let location = give_consent(&http, &authorize_url_with(&sb, &FORTNOX, &params), true)
            .await
            .unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(
            query_param(&location, "error").as_deref(),
            Some(error),
            "{location}"
        );
        assert_eq!(query_param(&location, "state").as_deref(), state);
        assert!(query_param(&location, "code").is_none());
    }

    // Visma needs ea:api and offline_access.
    let url = authorize_url_with(
        &sb,
        &VISMA,
        &[
            ("client_id", "visma-dev-client"),
            ("response_type", "code"),
            ("state", "v1"),
            ("scope", "ea:api ea:sales"),
            ("redirect_uri", REDIRECT),
        ],
    );
    let location = give_consent(&http, &url, true).await.unwrap();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_scope")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("v1"));
}

#[tokio::test]
async fn client_authentication_is_required() {
    let (sb, http) = sandbox().await;
    for flow in FLOWS {
        let code = code_for(&sb, &http, flow).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let (status, body) = token_call(&sb, &http, flow, "wrong-secret", &form).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");

        let response = http
            .post(format!("{}{}", sb.base_url, flow.token))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");

        // The other provider's client is unknown here.
        let other = if flow.provider == ProviderKind::Fortnox {
            &VISMA
        } else {
            &FORTNOX
        };
        let response = http
            .post(format!("{}{}", sb.base_url, flow.token))
            .basic_auth(other.client_id, Some(other.secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

        // A failed authentication does not burn the code.
        let (status, _) = exchange(&sb, &http, flow, &code).await;
        assert_eq!(status, StatusCode::OK);
    }
    let failures = sb
        .state
        .token_requests()
        .iter()
        .filter(|r| r.error.as_deref() == Some("invalid_client"))
        .count();
    assert_eq!(failures, 6);
}

#[tokio::test]
async fn unsupported_grant_type_and_bad_body() {
    let (sb, http) = sandbox().await;
    for flow in FLOWS {
        let (status, body) =
            token_call(&sb, &http, flow, flow.secret, &[("grant_type", "password")]).await;
        assert_oauth_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        );
        let response = http
            .post(format!("{}{}", sb.base_url, flow.token))
            .basic_auth(flow.client_id, Some(flow.secret))
            .json(&serde_json::json!({"grant_type": "refresh_token"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    let (status, body) = token_call(
        &sb,
        &http,
        &VISMA,
        VISMA.secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_are_single_use() {
    let (sb, http) = sandbox().await;
    for flow in FLOWS {
        let (_, first) = tokens(&sb, &http, flow).await;
        assert!(sb.state.is_refresh_token_active(&first));

        let (status, body) = refresh(&sb, &http, flow, &first).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let second = body["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(second, first);
        assert!(!sb.state.is_refresh_token_active(&first));
        assert!(sb.state.is_refresh_token_active(&second));
        let (status, info) = api_get(&sb, &http, flow.info, body["access_token"].as_str()).await;
        assert_eq!(status, StatusCode::OK, "{info}");

        let (status, body) = refresh(&sb, &http, flow, &first).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

        let (status, body) = refresh(&sb, &http, flow, &second).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let (status, body) = refresh(&sb, &http, flow, "never-issued").await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

        assert_eq!(sb.state.refresh_count(flow.provider), 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_refreshes_with_one_token_let_exactly_one_win() {
    let (sb, http) = sandbox().await;
    for flow in FLOWS {
        let (_, token) = tokens(&sb, &http, flow).await;
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (http, url, token) = (
                    http.clone(),
                    format!("{}{}", sb.base_url, flow.token),
                    token.clone(),
                );
                tokio::spawn(async move {
                    http.post(url)
                        .basic_auth(flow.client_id, Some(flow.secret))
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", token.as_str()),
                        ])
                        .send()
                        .await
                        .map(|r| r.status())
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap().unwrap());
        }
        let wins = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(wins, 1, "{statuses:?}");
        assert_eq!(statuses.len() - wins, 5);
    }
}

#[path = "oauth/lifetimes.rs"]
mod lifetimes;
