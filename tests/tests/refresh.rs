//! Token refresh: one refresh at a time per integration across every container, rotating
//! single-use refresh tokens, and a dead grant that ends in `needs_reauth`.

use shared::connections::tokens::TokenError;
use shared::domain::{IntegrationStatus, ProviderKind};
use system_tests::{age_stored_token, integration, sandbox_kind, secret, stack};

const T: &str = "tenant-r";

#[tokio::test]
async fn twenty_concurrent_requests_on_an_expired_token_cause_exactly_one_refresh() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        let old = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
        age_stored_token(&stack, T, &id).await;
        let refreshes_before = stack.sandbox.state.refresh_count(sandbox_kind(provider));
        let i = integration(&stack, T, &id).await;

        // Twenty containers, each with its own cache, asking at once.
        let containers: Vec<_> = (0..20).map(|_| stack.new_container()).collect();
        let results =
            futures::future::join_all(containers.iter().map(|c| c.tokens.access_token(&i))).await;
        let tokens: Vec<String> = results
            .into_iter()
            .map(|r| r.expect("a token").expose().to_string())
            .collect();

        assert_eq!(
            stack.sandbox.state.refresh_count(sandbox_kind(provider)) - refreshes_before,
            1,
            "{provider}: exactly one refresh at the provider"
        );
        assert!(
            tokens.iter().all(|t| t == &tokens[0]),
            "{provider}: everyone got the same new token"
        );
        assert_ne!(
            tokens[0],
            old.access_token.expose(),
            "{provider}: a new token"
        );
        let stored = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
        assert_eq!(
            stored.access_token.expose(),
            tokens[0],
            "the new pair is stored"
        );
        assert_ne!(
            stored.refresh_token, old.refresh_token,
            "the refresh token rotated"
        );
        assert!(stack
            .sandbox
            .state
            .is_refresh_token_active(stored.refresh_token.as_ref().unwrap().expose()));
        // And it works at the provider.
        let auth = shared::providers::ApiAuth::for_integration(
            &integration(&stack, T, &id).await,
            stored.access_token.clone(),
        );
        let company = stack.ctx.providers.api(provider).company(&auth).await;
        assert!(company.is_ok(), "{provider}: {company:?}");
        assert!(integration(&stack, T, &id).await.token_expires_at.unwrap() > chrono::Utc::now());
    }
}

#[tokio::test]
async fn a_valid_token_is_used_as_is_and_warm_calls_hit_the_cache() {
    let stack = stack().await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let i = integration(&stack, T, &id).await;
    let container = stack.new_container();
    let a = container.tokens.access_token(&i).await.unwrap();
    let b = container.tokens.access_token(&i).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(
        stack
            .sandbox
            .state
            .refresh_count(sandbox::ProviderKind::Fortnox),
        0
    );
}

#[tokio::test]
async fn a_spent_refresh_token_leads_to_needs_reauth_and_no_further_attempts() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        let stored = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
        // Someone else spends our refresh token (e.g. a second system refreshing in parallel).
        let spent = stack
            .ctx
            .providers
            .get(provider)
            .refresh(stored.refresh_token.as_ref().unwrap())
            .await;
        assert!(spent.is_ok());
        age_stored_token(&stack, T, &id).await;
        let i = integration(&stack, T, &id).await;
        let attempts_before = stack.sandbox.state.refresh_count(sandbox_kind(provider));

        let err = stack
            .new_container()
            .tokens
            .access_token(&i)
            .await
            .unwrap_err();
        assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
        assert_eq!(
            stack.sandbox.state.refresh_count(sandbox_kind(provider)) - attempts_before,
            1
        );
        let after = integration(&stack, T, &id).await;
        assert_eq!(after.status, IntegrationStatus::NeedsReauth);
        let last = after.last_error.clone().expect("a reason");
        assert_eq!(last.code, "refresh_token_rejected");
        assert!(!last.message.is_empty());

        // Nothing retries it: more requests, from the stale row and from a fresh read, from
        // several containers, make no further refresh attempts.
        for _ in 0..3 {
            let c = stack.new_container();
            assert!(matches!(
                c.tokens.access_token(&i).await,
                Err(TokenError::NeedsReauth(_))
            ));
            assert!(matches!(
                c.tokens.access_token(&after).await,
                Err(TokenError::NeedsReauth(_))
            ));
        }
        assert_eq!(
            stack.sandbox.state.refresh_count(sandbox_kind(provider)) - attempts_before,
            1
        );

        // The status API shows it with the reason; connecting again heals it.
        let st = stack
            .call(
                reqwest::Method::GET,
                &format!("/api/integrations/{id}/status"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        assert_eq!(st.json["status"], "needs_reauth");
        assert_eq!(st.json["last_error"]["code"], "refresh_token_rejected");
        let back = stack.consent(T, &id, true).await.unwrap();
        assert_eq!(devstack::query_of(&back)["status"], "confirm");
        let healed = integration(&stack, T, &id).await;
        assert_eq!(healed.status, IntegrationStatus::Connected);
        assert!(healed.last_error.is_none());
        assert!(stack
            .new_container()
            .tokens
            .access_token(&healed)
            .await
            .is_ok());
    }
}

/// The refresh token is spent the moment the provider answers: a new pair that Secrets Manager
/// will not take at once (more internal errors than the SDK's own retries) is stored by trying
/// again within the refresh lease, never dropped (the next caller would send the spent token,
/// and the provider would end the grant).
#[tokio::test]
async fn a_refreshed_pair_that_cannot_be_stored_at_once_is_stored_all_the_same() {
    use devstack::aws_faults::{FaultConfig, FaultKind, ScriptedFault};
    let stack = system_tests::stack_with(devstack::StackOptions {
        aws_faults: true,
        ..devstack::StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    age_stored_token(&stack, T, &id).await;
    let i = integration(&stack, T, &id).await;
    stack.set_aws_faults(FaultConfig {
        scripted: vec![ScriptedFault::new(
            "secretsmanager",
            "PutSecretValue",
            &[],
            FaultKind::Internal,
            7,
        )],
        ..FaultConfig::default()
    });
    let container = stack.new_container();
    let token = container
        .tokens
        .access_token(&i)
        .await
        .expect("a token, once the new pair is stored");
    let proxy = stack.aws_faults.as_ref().expect("fault proxy");
    assert_eq!(proxy.scripted_left(), vec![0], "every fault happened");
    proxy.faults_off();
    let stored = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
    assert_eq!(
        stored.access_token.expose(),
        token.expose(),
        "the new pair is stored"
    );
    assert!(stack
        .sandbox
        .state
        .is_refresh_token_active(stored.refresh_token.as_ref().unwrap().expose()));
    // Another container uses the stored pair, no refresh.
    let again = stack.new_container().tokens.access_token(&i).await.unwrap();
    assert_eq!(again.expose(), token.expose());
}
