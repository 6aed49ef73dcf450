//! Token lifetimes, revocation, consent ids, the company endpoints and the inspection views.

use super::*;

#[tokio::test]
async fn fortnox_refresh_token_expires_after_its_ttl() {
    let (sb, http) = sandbox_with(|c| c.fortnox_refresh_ttl = Duration::from_millis(200)).await;
    let (_, token) = tokens(&sb, &http, &FORTNOX).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = refresh(&sb, &http, &FORTNOX, &token).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn fortnox_revoke_kills_the_refresh_token() {
    let (sb, http) = sandbox().await;
    let (_, token) = tokens(&sb, &http, &FORTNOX).await;
    let response = http
        .post(format!("{}{}", sb.base_url, FORTNOX.revoke))
        .basic_auth(FORTNOX.client_id, Some(FORTNOX.secret))
        .form(&[
            ("token_type_hint", "refresh_token"),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"revoked": true}));
    assert!(!sb.state.is_refresh_token_active(&token));

    let (status, body) = refresh(&sb, &http, &FORTNOX, &token).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    let revocations = sb.state.revocations();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].provider, ProviderKind::Fortnox);
    assert_eq!(revocations[0].token_fingerprint, token_fingerprint(&token));
    assert!(revocations[0].was_active);

    // Revocation needs client authentication too.
    let response = http
        .post(format!("{}{}", sb.base_url, FORTNOX.revoke))
        .basic_auth(FORTNOX.client_id, Some("wrong"))
        .form(&[
            ("token_type_hint", "refresh_token"),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn visma_revocation_kills_the_refresh_token_or_is_absent() {
    let (sb, http) = sandbox().await;
    let (_, token) = tokens(&sb, &http, &VISMA).await;
    let response = http
        .post(format!("{}{}", sb.base_url, VISMA.revoke))
        .basic_auth(VISMA.client_id, Some(VISMA.secret))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().is_empty());
    let (status, body) = refresh(&sb, &http, &VISMA, &token).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(sb.state.revocations().len(), 1);

    let (sb, http) = sandbox_with(|c| c.visma_revocation_enabled = false).await;
    let (_, token) = tokens(&sb, &http, &VISMA).await;
    let response = http
        .post(format!("{}{}", sb.base_url, VISMA.revoke))
        .basic_auth(VISMA.client_id, Some(VISMA.secret))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(sb.state.is_refresh_token_active(&token));
}

#[tokio::test]
async fn denied_consent_redirects_with_access_denied() {
    let (sb, http) = sandbox().await;
    for flow in FLOWS {
        let location = give_consent(&http, &authorize_url(&sb, flow, "deny-me"), false)
            .await
            .unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(
            query_param(&location, "error").as_deref(),
            Some("access_denied")
        );
        assert!(query_param(&location, "error_description").is_some());
        assert_eq!(query_param(&location, "state").as_deref(), Some("deny-me"));
        assert!(query_param(&location, "code").is_none());
    }
}

#[tokio::test]
async fn consent_id_is_single_use() {
    let (sb, http) = sandbox().await;
    let page = http
        .get(authorize_url(&sb, &FORTNOX, "s"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"consent_id\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let consent_id = &page[start..start + page[start..].find('"').unwrap()];
    let post = |decision: &'static str| {
        http.post(format!("{}/fortnox/oauth-v1/auth/consent", sb.base_url))
            .form(&[
                ("consent_id", consent_id),
                ("decision", decision),
                ("company", "1234567"),
            ])
            .send()
    };
    assert_eq!(post("approve").await.unwrap().status(), StatusCode::FOUND);
    assert_eq!(
        post("approve").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("deny").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let unknown = http
        .post(format!("{}/visma/connect/consent", sb.base_url))
        .form(&[("consent_id", "nope"), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fortnox_company_information_refuses_bad_tokens() {
    let (sb, http) = sandbox().await;
    let (access, _) = tokens(&sb, &http, &FORTNOX).await;
    assert_eq!(
        api_get(&sb, &http, FORTNOX.info, Some(&access)).await.0,
        StatusCode::OK
    );

    // No token: Fortnox's error body with code 2000310.
    let (status, body) = api_get(&sb, &http, FORTNOX.info, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["ErrorInformation"]["error"], 1);
    assert_eq!(body["ErrorInformation"]["code"], 2000310);
    // An unknown token: the gateway's bare 401.
    let (status, body) = api_get(&sb, &http, FORTNOX.info, Some("not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body, serde_json::json!({"message": "unauthorized"}));

    // A Visma token means nothing to Fortnox.
    let (visma_access, _) = tokens(&sb, &http, &VISMA).await;
    assert_eq!(
        api_get(&sb, &http, FORTNOX.info, Some(&visma_access))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(sb.state.expire_access_tokens(), 2);
    let (status, body) = api_get(&sb, &http, FORTNOX.info, Some(&access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, serde_json::json!({"message": "unauthorized"}));
}

#[tokio::test]
async fn fortnox_company_information_needs_its_scope() {
    let (sb, http) = sandbox().await;
    let url = authorize_url_with(
        &sb,
        &FORTNOX,
        &[
            ("client_id", FORTNOX.client_id),
            ("response_type", "code"),
            ("state", "s"),
            ("scope", "customer invoice"),
            ("redirect_uri", REDIRECT),
            ("access_type", "offline"),
        ],
    );
    let location = give_consent(&http, &url, true).await.unwrap();
    let code = query_param(&location, "code").unwrap();
    let (_, body) = exchange(&sb, &http, &FORTNOX, &code).await;
    let (status, body) = api_get(&sb, &http, FORTNOX.info, body["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["ErrorInformation"]["code"], 2001101);
}

#[tokio::test]
async fn visma_company_settings_refuses_bad_tokens() {
    let (sb, http) = sandbox().await;
    let (access, refresh_token) = tokens(&sb, &http, &VISMA).await;
    for token in [None, Some("not-a-token")] {
        let (status, body) = api_get(&sb, &http, VISMA.info, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["ErrorCode"], 4001);
    }
    let response = http
        .post(format!("{}/_sandbox/expire-access-tokens", sb.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["expired"], 1);
    let (status, body) = api_get(&sb, &http, VISMA.info, Some(&access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["ErrorCode"], 4001);
    assert!(body["DeveloperErrorMessage"].is_string());
    let error_id = body["ErrorId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(error_id).is_ok(), "{error_id}");

    // Refreshing is the way back.
    let (status, body) = refresh(&sb, &http, &VISMA, &refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api_get(&sb, &http, VISMA.info, body["access_token"].as_str())
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn access_tokens_expire_after_their_ttl() {
    let (sb, http) = sandbox_with(|c| c.access_token_ttl = Duration::from_secs(1)).await;
    let code = code_for(&sb, &http, &FORTNOX).await;
    let (_, body) = exchange(&sb, &http, &FORTNOX, &code).await;
    assert_eq!(body["expires_in"], 1);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        api_get(&sb, &http, FORTNOX.info, Some(access)).await.0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        api_get(&sb, &http, FORTNOX.info, Some(access)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn fortnox_service_account_uses_client_credentials() {
    let (sb, http) = sandbox().await;
    let mut url = authorize_url(&sb, &FORTNOX, "svc");
    url.push_str("&account_type=service");
    let location = give_consent(&http, &url, true).await.unwrap();
    let code = query_param(&location, "code").expect("code");
    // The consent's own code gives an access token and no refresh token: none exists.
    let (status, body) = exchange(&sb, &http, &FORTNOX, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("access_token").is_some(), "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");

    let call = |tenant: &'static str| {
        http.post(format!("{}{}", sb.base_url, FORTNOX.token))
            .basic_auth(FORTNOX.client_id, Some(FORTNOX.secret))
            .header("TenantId", tenant)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let response = call("1234567").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    let (status, info) = api_get(&sb, &http, FORTNOX.info, body["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["CompanyInformation"]["DatabaseNumber"], 1_234_567);

    assert_eq!(
        call("2345678").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // Without the TenantId header the request is incomplete.
    let response = http
        .post(format!("{}{}", sb.base_url, FORTNOX.token))
        .basic_auth(FORTNOX.client_id, Some(FORTNOX.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_personal_consent_gives_no_client_credentials() {
    let (sb, http) = sandbox().await;
    // A consent without `account_type=service` keeps its refresh token and opens no
    // client-credentials grant for its company.
    let (_, refresh_token) = tokens(&sb, &http, &FORTNOX).await;
    assert!(!refresh_token.is_empty());
    let response = http
        .post(format!("{}{}", sb.base_url, FORTNOX.token))
        .basic_auth(FORTNOX.client_id, Some(FORTNOX.secret))
        .header("TenantId", "1234567")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_oauth_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
    );
}

#[tokio::test]
async fn inspection_endpoints_report_token_requests_and_requests() {
    let (sb, http) = sandbox().await;
    let (_, token) = tokens(&sb, &http, &FORTNOX).await;
    refresh(&sb, &http, &FORTNOX, &token).await;
    refresh(&sb, &http, &FORTNOX, &token).await;

    let records: Value = http
        .get(format!("{}/_sandbox/token-requests", sb.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["provider"], "fortnox");
    assert_eq!(records[1]["grant_type"], "refresh_token");
    assert_eq!(records[1]["ok"], true);
    assert_eq!(records[2]["ok"], false);
    assert_eq!(records[2]["error"], "invalid_grant");
    assert_eq!(sb.state.refresh_count(ProviderKind::Fortnox), 2);
    assert_eq!(sb.state.refresh_count(ProviderKind::Visma), 0);

    let requests: Value = http
        .get(format!("{}/_sandbox/requests", sb.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 5, "inspection calls are not recorded");
    assert!(requests.iter().all(|r| r["provider"] == "fortnox"));
    // Nothing recorded carries a token or code.
    let dump =
        serde_json::to_string(&requests).unwrap() + &serde_json::to_string(&records).unwrap();
    assert!(!dump.contains(&token));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let (sb, http) = sandbox().await;
    let url = format!("{}/_sandbox/requests", sb.base_url);
    assert!(http.get(&url).send().await.is_ok());
    sb.into_inner().shutdown().await;
    let fresh = consent_client().unwrap();
    assert!(fresh.get(&url).send().await.is_err());
}
