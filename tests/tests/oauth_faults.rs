//! Faults at the providers' token endpoints, and access tokens the provider refuses: what is
//! retried, what ends in `needs_reauth` with which reason, and that a refresh token is never
//! spent twice by accident. The sandbox revokes a token's whole family when a spent refresh
//! token is presented (`refresh_reuse_revokes_family`, on in every stack).

use chrono::Utc;
use devstack::{Stack, StackOptions};
use reqwest::Method;
use sandbox::{FaultConfig, FaultKind, OAuthFaults, TokenRequestRecord};
use serde_json::json;
use shared::connections::tokens::TokenError;
use shared::domain::{IntegrationStatus, ProviderKind, Secret};
use shared::providers::ApiAuth;
use std::time::Duration;
use system_tests::{age_stored_token, integration, sandbox_kind, secret, stack, stack_with};

const T: &str = "tenant-oauth-faults";

fn token_paths(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Fortnox => "/oauth-v1/token",
        ProviderKind::Visma => "/connect/token",
    }
}

/// The refresh requests the sandbox handled for `provider` after the first `skip` records.
fn refreshes_since(stack: &Stack, provider: ProviderKind, skip: usize) -> Vec<TokenRequestRecord> {
    stack
        .sandbox
        .state
        .token_requests()
        .into_iter()
        .skip(skip)
        .filter(|r| r.provider == sandbox_kind(provider) && r.grant_type == "refresh_token")
        .collect()
}

fn only_oauth(faults: OAuthFaults, slow_delay: Duration) -> FaultConfig {
    FaultConfig {
        oauth: faults,
        slow_delay,
        ..FaultConfig::default()
    }
}

#[tokio::test]
async fn a_500_from_the_token_endpoint_is_retried_and_the_integration_stays_connected() {
    let stack = stack().await;
    assert!(stack.sandbox.state.config().refresh_reuse_revokes_family);
    for provider in ProviderKind::ALL {
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        let old = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
        age_stored_token(&stack, T, &id).await;
        let skip = stack.sandbox.state.token_requests().len();
        let faults_before = stack.sandbox.state.faults_injected().len();
        stack.sandbox.state.set_faults(only_oauth(
            OAuthFaults {
                error_500: 1.0,
                max_faults: Some(1),
                ..OAuthFaults::default()
            },
            Duration::from_secs(1),
        ));

        let i = integration(&stack, T, &id).await;
        let token = stack.new_container().tokens.access_token(&i).await;
        stack.sandbox.state.set_faults(FaultConfig::default());

        let token = token.expect("the second attempt refreshes");
        let injected = &stack.sandbox.state.faults_injected()[faults_before..];
        assert_eq!(injected.len(), 1, "{provider}: {injected:?}");
        assert_eq!(injected[0].kind, FaultKind::Error500);
        assert_eq!(injected[0].path, token_paths(provider));
        // The 500 came before the refresh was handled: one refresh, successful.
        let handled = refreshes_since(&stack, provider, skip);
        assert_eq!(handled.len(), 1, "{provider}: {handled:?}");
        assert!(handled[0].ok);
        let after = integration(&stack, T, &id).await;
        assert_eq!(after.status, IntegrationStatus::Connected, "{provider}");
        assert!(after.last_error.is_none(), "{:?}", after.last_error);
        let stored = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
        assert_eq!(stored.access_token, token);
        assert_ne!(stored.refresh_token, old.refresh_token, "rotated");
        assert!(stack
            .sandbox
            .state
            .is_refresh_token_active(stored.refresh_token.as_ref().unwrap().expose()));
        let company = stack
            .ctx
            .providers
            .api(provider)
            .company(&ApiAuth::for_integration(&after, token))
            .await;
        assert!(company.is_ok(), "{provider}: {company:?}");
    }
}

/// Connects, ages the access token, injects `faults` and asks for a token: the answer of a
/// refresh the sandbox applied never arrives.
async fn lose_the_answer(
    stack: &Stack,
    tenant: &str,
    provider: ProviderKind,
    faults: OAuthFaults,
) -> (String, Secret, usize, TokenError) {
    let (id, _) = stack.connect(tenant, provider, true).await.unwrap();
    let old = secret(stack, tenant, &id)
        .await
        .unwrap()
        .tokens
        .unwrap()
        .refresh_token
        .unwrap();
    age_stored_token(stack, tenant, &id).await;
    let skip = stack.sandbox.state.token_requests().len();
    stack
        .sandbox
        .state
        .set_faults(only_oauth(faults, Duration::from_secs(4)));
    let i = integration(stack, tenant, &id).await;
    let err = stack
        .new_container()
        .tokens
        .access_token(&i)
        .await
        .expect_err("the answer was lost");
    stack.sandbox.state.set_faults(FaultConfig::default());
    (id, old, skip, err)
}

#[tokio::test]
async fn a_refresh_answer_lost_after_rotation_ends_in_needs_reauth_without_a_second_use() {
    let mut opts = StackOptions::default();
    // The late answer comes after the client gave up.
    opts.env
        .insert("PROVIDER_TIMEOUT_SECONDS".into(), "1".into());
    let stack = stack_with(opts).await;
    let cases = [
        (
            OAuthFaults {
                lost_then_drop: 1.0,
                ..OAuthFaults::default()
            },
            FaultKind::CommitThenDrop,
        ),
        (
            OAuthFaults {
                lost_then_delay: 1.0,
                ..OAuthFaults::default()
            },
            FaultKind::CommitThenDelay,
        ),
    ];
    for provider in ProviderKind::ALL {
        for (n, (faults, kind)) in cases.clone().into_iter().enumerate() {
            let tenant = &format!("tenant-lost-{provider}-{n}");
            let faults_before = stack.sandbox.state.faults_injected().len();
            let (id, old, skip, err) = lose_the_answer(&stack, tenant, provider, faults).await;
            assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
            let injected = &stack.sandbox.state.faults_injected()[faults_before..];
            assert_eq!(
                injected.iter().map(|f| f.kind).collect::<Vec<_>>(),
                [kind],
                "{provider}"
            );
            // Exactly one refresh reached the sandbox, and it was applied: the old token is
            // spent. Nothing presented it again (a reuse would show as a refused request).
            let handled = refreshes_since(&stack, provider, skip);
            assert_eq!(handled.len(), 1, "{provider} {kind:?}: {handled:?}");
            assert!(handled[0].ok);
            assert!(!stack.sandbox.state.is_refresh_token_active(old.expose()));

            let after = integration(&stack, tenant, &id).await;
            assert_eq!(after.status, IntegrationStatus::NeedsReauth);
            let last = after.last_error.expect("a reason");
            assert_eq!(last.code, "refresh_answer_lost");
            assert!(
                last.message.contains("refresh answer was lost"),
                "{}",
                last.message
            );
            // The stored pair is the old one: nothing stored what never arrived.
            let stored = secret(&stack, tenant, &id).await.unwrap().tokens.unwrap();
            assert_eq!(stored.refresh_token.as_ref(), Some(&old));
            // Later calls from other containers do not try again.
            let c = stack.new_container();
            assert!(matches!(
                c.tokens
                    .access_token(&integration(&stack, tenant, &id).await)
                    .await,
                Err(TokenError::NeedsReauth(_))
            ));
            assert_eq!(refreshes_since(&stack, provider, skip).len(), 1);
            // The status API shows the reason.
            let st = stack
                .call(
                    Method::GET,
                    &format!("/api/integrations/{id}/status"),
                    Some(tenant),
                    None,
                )
                .await
                .unwrap();
            assert_eq!(st.json["status"], "needs_reauth");
            assert_eq!(st.json["last_error"]["code"], "refresh_answer_lost");
            // A new consent heals it.
            stack.consent(tenant, &id, true).await.unwrap();
            assert_eq!(
                integration(&stack, tenant, &id).await.status,
                IntegrationStatus::Connected
            );
        }
    }
}

#[tokio::test]
async fn a_500_after_rotation_shows_itself_when_the_token_comes_back_spent() {
    // A 500 answered after the refresh was applied looks like any other 500, which is tried
    // again (see the first test): the resent token is refused as spent, and the reason says
    // the answer was lost. This is the one case where a refresh token is sent twice.
    let stack = stack().await;
    let faults_before = stack.sandbox.state.faults_injected().len();
    let (id, old, skip, err) = lose_the_answer(
        &stack,
        T,
        ProviderKind::Fortnox,
        OAuthFaults {
            lost_then_500: 1.0,
            max_faults: Some(1),
            ..OAuthFaults::default()
        },
    )
    .await;
    assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
    let injected = &stack.sandbox.state.faults_injected()[faults_before..];
    assert_eq!(injected.len(), 1);
    assert_eq!(injected[0].kind, FaultKind::CommitThenError500);
    let handled = refreshes_since(&stack, ProviderKind::Fortnox, skip);
    assert_eq!(handled.len(), 2, "{handled:?}");
    assert!(handled[0].ok);
    assert_eq!(handled[1].error.as_deref(), Some("invalid_grant"));
    assert!(!stack.sandbox.state.is_refresh_token_active(old.expose()));
    let last = integration(&stack, T, &id).await.last_error.unwrap();
    assert_eq!(last.code, "refresh_answer_lost");
    assert!(
        last.message.contains("refresh answer was lost") && last.message.contains("500"),
        "{}",
        last.message
    );
}

#[tokio::test]
async fn concurrent_401s_for_one_token_cause_one_refresh_and_a_refused_replacement_no_loop() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        let i = integration(&stack, T, &id).await;
        let refused = stack.new_container().tokens.access_token(&i).await.unwrap();
        // The provider stops accepting the token although it looks valid to us.
        stack.sandbox.state.expire_access_tokens();
        let before = stack.sandbox.state.refresh_count(sandbox_kind(provider));

        let containers: Vec<_> = (0..8).map(|_| stack.new_container()).collect();
        let results = futures::future::join_all(containers.iter().map(|c| {
            let (i, refused) = (&i, refused.clone());
            async move {
                let auth = ApiAuth::for_integration(i, refused.clone());
                let seen = c.providers.api(provider).company(&auth).await;
                assert!(
                    matches!(seen, Err(shared::http::ApiError::NeedsReauth { .. })),
                    "{seen:?}"
                );
                c.tokens.replace_refused(i, &refused).await
            }
        }))
        .await;
        let tokens: Vec<Secret> = results
            .into_iter()
            .map(|r| r.expect("a replacement").access_token)
            .collect();
        assert_eq!(
            stack.sandbox.state.refresh_count(sandbox_kind(provider)) - before,
            1,
            "{provider}: one refresh for one refused token"
        );
        assert!(tokens.iter().all(|t| t == &tokens[0] && t != &refused));
        let auth = ApiAuth::for_integration(&i, tokens[0].clone());
        assert!(stack
            .ctx
            .providers
            .api(provider)
            .company(&auth)
            .await
            .is_ok());
        // A late caller with the old refused token gets the replacement, no refresh.
        let late = stack
            .new_container()
            .tokens
            .replace_refused(&i, &refused)
            .await
            .unwrap();
        assert_eq!(late.access_token, tokens[0]);
        assert_eq!(
            stack.sandbox.state.refresh_count(sandbox_kind(provider)) - before,
            1
        );

        // The replacement is refused too: no second refresh, a person is needed.
        stack.sandbox.state.expire_access_tokens();
        let err = stack
            .new_container()
            .tokens
            .replace_refused(&i, &tokens[0])
            .await
            .unwrap_err();
        assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
        assert_eq!(
            stack.sandbox.state.refresh_count(sandbox_kind(provider)) - before,
            1,
            "{provider}: no loop"
        );
        let after = integration(&stack, T, &id).await;
        assert_eq!(after.status, IntegrationStatus::NeedsReauth);
        assert_eq!(after.last_error.unwrap().code, "access_token_refused");
    }
}

#[tokio::test]
async fn a_job_whose_token_is_refused_refreshes_once_and_finishes() {
    let stack = stack().await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    let i = integration(&stack, T, &id).await;
    // Every worker container has the token cached; the provider stops accepting it.
    stack.ctx.tokens.access_token(&i).await.unwrap();
    stack.sandbox.state.expire_access_tokens();
    let before = stack
        .sandbox
        .state
        .refresh_count(sandbox::ProviderKind::Visma);
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(T),
            Some(json!({})),
        )
        .await
        .unwrap();
    let job_id = r.json["job_ids"][0].as_str().unwrap().to_string();
    let job = stack
        .wait_for_job(&id, &job_id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(job.state, shared::domain::JobState::Succeeded, "{job:?}");
    assert_eq!(
        stack
            .sandbox
            .state
            .refresh_count(sandbox::ProviderKind::Visma)
            - before,
        1
    );
    let after = integration(&stack, T, &id).await;
    assert_eq!(after.status, IntegrationStatus::Connected);
    assert!(after.token_expires_at.unwrap() > Utc::now());
}

#[tokio::test]
async fn a_refresh_without_an_answer_is_not_resent_even_when_it_was_not_applied() {
    // The price of never presenting a token twice: a connection dropped, or a request timed
    // out, before the provider handled it looks the same as a lost answer, and the integration
    // needs a person although its refresh token still lives.
    let mut opts = StackOptions::default();
    opts.env
        .insert("PROVIDER_TIMEOUT_SECONDS".into(), "1".into());
    let stack = stack_with(opts).await;
    let cases = [
        (
            OAuthFaults {
                drop_connection: 1.0,
                ..OAuthFaults::default()
            },
            FaultKind::DropConnection,
        ),
        (
            OAuthFaults {
                slow: 1.0,
                ..OAuthFaults::default()
            },
            FaultKind::Slow,
        ),
    ];
    for (n, (faults, kind)) in cases.into_iter().enumerate() {
        let tenant = &format!("tenant-unanswered-{n}");
        let faults_before = stack.sandbox.state.faults_injected().len();
        let (id, old, skip, err) =
            lose_the_answer(&stack, tenant, ProviderKind::Fortnox, faults).await;
        assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
        let injected = &stack.sandbox.state.faults_injected()[faults_before..];
        assert_eq!(injected.iter().map(|f| f.kind).collect::<Vec<_>>(), [kind]);
        // Give a slow request time to be handled, had the sandbox kept it after the client
        // left: it does not.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(refreshes_since(&stack, ProviderKind::Fortnox, skip).is_empty());
        assert!(stack.sandbox.state.is_refresh_token_active(old.expose()));
        let last = integration(&stack, tenant, &id).await.last_error.unwrap();
        assert_eq!(last.code, "refresh_answer_lost");
    }
}

#[tokio::test]
async fn a_failed_revocation_is_tried_again_on_disconnect() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        let refresh = secret(&stack, T, &id)
            .await
            .unwrap()
            .tokens
            .unwrap()
            .refresh_token
            .unwrap();
        let faults_before = stack.sandbox.state.faults_injected().len();
        stack.sandbox.state.set_faults(only_oauth(
            OAuthFaults {
                error_500: 0.5,
                drop_connection: 0.5,
                max_faults: Some(2),
                ..OAuthFaults::default()
            },
            Duration::from_secs(1),
        ));
        let r = stack
            .call(
                Method::DELETE,
                &format!("/api/integrations/{id}"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        stack.sandbox.state.set_faults(FaultConfig::default());
        let injected = &stack.sandbox.state.faults_injected()[faults_before..];
        assert_eq!(injected.len(), 2, "{provider}: {injected:?}");
        assert!(injected.iter().all(|f| f.path.contains("revo")));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["revoked_at_provider"], true);
        assert!(!stack
            .sandbox
            .state
            .is_refresh_token_active(refresh.expose()));
        assert_eq!(
            integration(&stack, T, &id).await.status,
            IntegrationStatus::Disconnected
        );
    }
}
