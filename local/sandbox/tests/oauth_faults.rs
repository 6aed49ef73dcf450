//! Fault injection at the token and revocation endpoints: failures before the request is
//! handled leave the refresh token alive; answers lost after a rotation leave it spent.

mod common;

use common::Sandbox;
use reqwest::StatusCode;
use sandbox::{
    consent_client, give_consent, start, FaultConfig, FaultKind, OAuthFaults, SandboxConfig,
};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/api/integrations/callback";

async fn fortnox_tokens(sb: &Sandbox, http: &reqwest::Client) -> String {
    let mut url = reqwest::Url::parse(&format!("{}/fortnox/oauth-v1/auth", sb.base_url)).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", "fortnox-dev-client"),
        ("response_type", "code"),
        ("state", "st"),
        ("scope", "customer invoice companyinformation"),
        ("redirect_uri", REDIRECT),
        ("access_type", "offline"),
    ]);
    let location = give_consent(http, url.as_str(), true)
        .await
        .expect("consent");
    let code = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let (status, body) = token_call(
        sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
    .expect("an answer");
    assert_eq!(status, StatusCode::OK, "{body}");
    body["refresh_token"].as_str().unwrap().to_string()
}

async fn token_call(
    sb: &Sandbox,
    form: &[(&str, &str)],
) -> Result<(StatusCode, Value), reqwest::Error> {
    post(sb, "/fortnox/oauth-v1/token", form).await
}

async fn post(
    sb: &Sandbox,
    path: &str,
    form: &[(&str, &str)],
) -> Result<(StatusCode, Value), reqwest::Error> {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sb.base_url))
        .basic_auth("fortnox-dev-client", Some("fortnox-dev-secret"))
        .timeout(std::time::Duration::from_millis(500))
        .form(form)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

fn oauth_faults(sb: &Sandbox, faults: OAuthFaults) {
    sb.state.set_faults(FaultConfig {
        oauth: faults,
        slow_delay: std::time::Duration::from_secs(2),
        ..FaultConfig::default()
    });
}

#[tokio::test]
async fn token_endpoint_faults_before_and_after_the_rotation() {
    let sb = Sandbox::new(
        start(SandboxConfig::with_defaults())
            .await
            .expect("sandbox starts"),
    );
    let http = consent_client().unwrap();
    let first = fortnox_tokens(&sb, &http).await;
    let refresh = |t: String| {
        let sb = &sb;
        async move {
            token_call(
                sb,
                &[("grant_type", "refresh_token"), ("refresh_token", &t)],
            )
            .await
        }
    };

    // Before handling: a 500, a dropped connection, a slow answer. The token lives on.
    oauth_faults(
        &sb,
        OAuthFaults {
            error_500: 1.0,
            max_faults: Some(1),
            ..OAuthFaults::default()
        },
    );
    let (status, body) = refresh(first.clone()).await.unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "server_error");
    assert!(sb.state.is_refresh_token_active(&first));
    for pre in [
        OAuthFaults {
            drop_connection: 1.0,
            ..OAuthFaults::default()
        },
        OAuthFaults {
            slow: 1.0,
            ..OAuthFaults::default()
        },
    ] {
        oauth_faults(&sb, pre);
        assert!(refresh(first.clone()).await.is_err(), "no answer");
        assert!(sb.state.is_refresh_token_active(&first));
    }
    // The client gave up on the slow one: it is never handled.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(sb.state.is_refresh_token_active(&first));
    assert_eq!(sb.state.refresh_count(sandbox::ProviderKind::Fortnox), 0);

    // The limit lets the next one through.
    oauth_faults(
        &sb,
        OAuthFaults {
            error_500: 1.0,
            max_faults: Some(1),
            ..OAuthFaults::default()
        },
    );
    assert_eq!(refresh(first.clone()).await.unwrap().0, 500);
    let (status, body) = refresh(first.clone()).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_string();

    // After handling: the token is spent although the client saw a 500 or nothing.
    oauth_faults(
        &sb,
        OAuthFaults {
            lost_then_500: 1.0,
            ..OAuthFaults::default()
        },
    );
    let (status, body) = refresh(second.clone()).await.unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.get("refresh_token").is_none());
    assert!(!sb.state.is_refresh_token_active(&second));
    let kinds: Vec<FaultKind> = sb.state.faults_injected().iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            FaultKind::Error500,
            FaultKind::DropConnection,
            FaultKind::Slow,
            FaultKind::Error500,
            FaultKind::CommitThenError500
        ]
    );
    assert!(sb
        .state
        .faults_injected()
        .iter()
        .all(|f| f.path == "/oauth-v1/token" && f.method == "POST"));

    // Revocation takes faults too: dropped after revoking, the token is revoked.
    sb.state.set_faults(FaultConfig::default());
    let third = fortnox_tokens(&sb, &http).await;
    oauth_faults(
        &sb,
        OAuthFaults {
            lost_then_drop: 1.0,
            ..OAuthFaults::default()
        },
    );
    let revoked = post(
        &sb,
        "/fortnox/oauth-v1/revoke",
        &[("token", &third), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert!(revoked.is_err(), "no answer");
    assert!(!sb.state.is_refresh_token_active(&third));
    let last = sb.state.faults_injected().pop().unwrap();
    assert_eq!(
        (last.kind, last.path.as_str()),
        (FaultKind::CommitThenDrop, "/oauth-v1/revoke")
    );
}
