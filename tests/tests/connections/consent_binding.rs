//! Disconnect, and consents bound to their state and to the person who started them.

use super::*;

#[tokio::test]
async fn disconnect_revokes_at_the_provider_and_removes_the_secret() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        let i = integration(&stack, T, &id).await;
        let refresh = secret(&stack, T, &id)
            .await
            .unwrap()
            .tokens
            .unwrap()
            .refresh_token
            .unwrap();
        assert!(stack
            .sandbox
            .state
            .is_refresh_token_active(refresh.expose()));

        let r = stack
            .call(
                Method::DELETE,
                &format!("/api/integrations/{id}"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "disconnected");
        assert_eq!(r.json["revoked_at_provider"], true);
        assert!(
            !stack
                .sandbox
                .state
                .is_refresh_token_active(refresh.expose()),
            "revoked at the {provider} sandbox"
        );
        assert!(stack
            .sandbox
            .state
            .revocations()
            .iter()
            .any(|rv| rv.provider == sandbox_kind(provider) && rv.was_active));
        let gone = stack
            .ctx
            .vault
            .client()
            .get_secret_value()
            .secret_id(&i.secret_name)
            .send()
            .await;
        assert!(gone.is_err(), "the secret is deleted");
        let keys_gone = stack
            .ctx
            .vault
            .client()
            .get_secret_value()
            .secret_id(webhook_secret_name(&stack, T, &id))
            .send()
            .await;
        assert!(keys_gone.is_err(), "the webhook secret is deleted too");
        assert_eq!(
            integration(&stack, T, &id).await.status,
            IntegrationStatus::Disconnected
        );

        // A disconnected integration cannot be connected again; a new one can be created.
        let again = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/connect"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        assert_eq!(again.status, 409);
        let fresh = stack
            .call(
                Method::POST,
                "/api/integrations/create",
                Some(T),
                Some(json!({"provider": provider.as_str()})),
            )
            .await
            .unwrap();
        assert_eq!(fresh.status, 201);
    }
}

/// Code injection (RFC 9700 §4.5): an authorization code obtained in one consent, sent to the
/// callback with another consent's state, connects nothing. Each consent carries a PKCE
/// challenge; its verifier stays with the state on our side, and the provider redeems a code
/// only with the verifier of the consent that obtained it.
#[tokio::test]
async fn a_code_from_one_consent_with_another_consents_state_connects_nothing() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        let (victim_id, victim_callback) = stack
            .create_and_consent("tenant-victim", provider, true)
            .await
            .unwrap();
        let (attacker_id, attacker_callback) = stack
            .create_and_consent("tenant-attacker", provider, true)
            .await
            .unwrap();
        // The consent URL carries a challenge, never the verifier.
        let start = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{attacker_id}/connect"),
                Some("tenant-attacker"),
                Some(json!({})),
            )
            .await
            .unwrap();
        let url = start.json["authorization_url"].as_str().unwrap_or_default();
        let q = query_of(url);
        assert_eq!(
            q.get("code_challenge_method").map(String::as_str),
            Some("S256"),
            "{url}"
        );
        assert_eq!(q.get("code_challenge").map(String::len), Some(43), "{url}");
        assert!(!url.contains("code_verifier"), "{url}");

        let victim_code = query_of(&victim_callback)["code"].clone();
        let attacker_state = query_of(&attacker_callback)["state"].clone();
        let (base, _) = attacker_callback.split_once('?').unwrap();
        let injected = format!(
            "{base}?code={}&state={}",
            urlencode(&victim_code),
            urlencode(&attacker_state)
        );
        let before = stack.sandbox.state.token_requests().len();
        let back = stack.follow_callback(&injected).await.unwrap();
        assert_eq!(query_of(&back)["status"], "confirm", "{back}");
        // The attacker confirms in their own session: the provider refuses the code.
        let r = stack.confirm("tenant-attacker", None, &back).await.unwrap();
        assert_eq!(r.status, 502, "{}", r.text);
        let exchanges = stack.sandbox.state.token_requests();
        let tried: Vec<_> = exchanges[before..]
            .iter()
            .filter(|r| r.grant_type == "authorization_code")
            .collect();
        assert_eq!(
            tried.len(),
            1,
            "the injected code was tried once: {tried:?}"
        );
        assert_eq!(
            (tried[0].ok, tried[0].error.as_deref()),
            (false, Some("invalid_grant")),
            "the provider refused the code with the wrong verifier"
        );
        for (tenant, id) in [
            ("tenant-attacker", &attacker_id),
            ("tenant-victim", &victim_id),
        ] {
            let i = integration(&stack, tenant, id).await;
            assert_eq!(i.status, IntegrationStatus::Pending, "{tenant}: {i:?}");
            assert!(
                secret(&stack, tenant, id)
                    .await
                    .is_none_or(|s| s.tokens.is_none()),
                "{tenant}: no tokens stored"
            );
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Consent CSRF (RFC 6749 §10.12, RFC 9700 §4.7): a consent started by one person and approved
/// by someone else (a link sent to a victim, or a victim's browser made to follow the
/// attacker's callback) connects nothing. The callback only parks the approved consent; only
/// the person who started it, in their own session, can confirm it, and the code is redeemed
/// at the provider only then.
#[tokio::test]
async fn a_consent_completed_by_anyone_but_its_starter_connects_nothing() {
    let stack = stack().await;
    for provider in ProviderKind::ALL {
        // The attacker starts a consent for their own tenant and gets the victim to approve it;
        // the victim's browser comes back to the app with the confirmation.
        let (id, callback) = stack
            .create_and_consent("tenant-attacker", provider, true)
            .await
            .unwrap();
        let back = stack.follow_callback(&callback).await.unwrap();
        assert_eq!(query_of(&back)["status"], "confirm", "{back}");
        let exchanges = stack.sandbox.state.token_requests().len();
        // The victim's app session, another user of the attacker's tenant, and a browser with
        // no session at all: none can complete it.
        for (tenant, user) in [
            ("tenant-victim", "user-of-tenant-victim"),
            ("tenant-attacker", "someone-else"),
            ("tenant-victim", "user-of-tenant-attacker"),
        ] {
            let r = stack.confirm(tenant, Some(user), &back).await.unwrap();
            assert!(
                r.status == 400 || r.status == 404,
                "{tenant}/{user}: {} {}",
                r.status,
                r.text
            );
            assert_eq!(r.content_type, "application/problem+json");
            if r.status == 400 {
                assert_eq!(r.json["field"], "confirmation", "{}", r.text);
            }
        }
        let q = query_of(&back);
        let anonymous = stack
            .http()
            .post(format!(
                "{}/api/integrations/{}/confirm",
                stack.api_url, q["integration_id"]
            ))
            .json(&json!({"confirmation": q["confirmation"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(
            stack.sandbox.state.token_requests().len(),
            exchanges,
            "the code was never redeemed"
        );
        let i = integration(&stack, "tenant-attacker", &id).await;
        assert_eq!(i.status, IntegrationStatus::Pending);
        assert!(secret(&stack, "tenant-attacker", &id)
            .await
            .is_none_or(|s| s.tokens.is_none()));
        // The refusals left the consent in place for its starter, once.
        let r = stack.confirm("tenant-attacker", None, &back).await.unwrap();
        assert_eq!(
            (r.status, r.json["status"].as_str()),
            (200, Some("connected")),
            "{}",
            r.text
        );
        let again = stack.confirm("tenant-attacker", None, &back).await.unwrap();
        assert_eq!(
            again.status, 400,
            "a confirmation works once: {}",
            again.text
        );
    }
}

/// A confirmation without a code, with an unknown one, or for another integration changes
/// nothing and names the field.
#[tokio::test]
async fn a_bad_confirmation_gets_a_problem_naming_the_field() {
    let stack = stack().await;
    let (id, callback) = stack
        .create_and_consent(T, ProviderKind::Fortnox, true)
        .await
        .unwrap();
    let back = stack.follow_callback(&callback).await.unwrap();
    let path = format!("/api/integrations/{id}/confirm");
    for body in [
        json!({}),
        json!({"confirmation": ""}),
        json!({"confirmation": 12}),
        json!({"confirmation": "made-up"}),
        json!({"confirmation": "x".repeat(129)}),
    ] {
        let r = stack
            .call(Method::POST, &path, Some(T), Some(body.clone()))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.json["field"], "confirmation", "{body}: {}", r.text);
    }
    // The right code for another integration of the tenant.
    let (other, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    let q = query_of(&back);
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{other}/confirm"),
            Some(T),
            Some(json!({"confirmation": q["confirmation"]})),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("confirmation"))
    );
    assert_eq!(
        integration(&stack, T, &id).await.status,
        IntegrationStatus::Pending
    );
    assert!(stack
        .sandbox
        .state
        .token_requests()
        .iter()
        .all(|t| t.provider != sandbox::ProviderKind::Fortnox));
}
