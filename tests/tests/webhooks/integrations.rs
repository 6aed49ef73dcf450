//! Webhooks for imported keys and integrations that are unknown, disconnected, pending or shown in the status API.

use super::*;

#[tokio::test]
async fn visma_portal_scheme_with_an_imported_key() {
    let stack = quiet_stack().await;
    let (id, ours) = connected(&stack, ProviderKind::Visma).await;
    let portal_key = "portal-generated-signature-key-0123456789";
    let r = rotate(
        &stack,
        &id,
        json!({"scheme": "visma-portal", "key": portal_key, "grace_seconds": 0}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["key"].is_null(), "an imported key is not echoed");
    assert_eq!(r.json["scheme"], "visma-portal");
    assert_eq!(r.json["signature_header"], "x-webhook-signature");

    let body = br#"{"id":"v-1","type":"customer.updated","entity_id":"5d3f-guid"}"#;
    let r = post(
        &stack,
        &id,
        body,
        &[
            ("content-type", "application/json".into()),
            (
                "x-webhook-signature",
                sign_visma(portal_key.as_bytes(), body),
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    // Our scheme is no longer accepted for this integration, nor a signature of another body.
    assert_eq!(
        send(
            &stack,
            &id,
            portal_key,
            br#"{"id":"v-2","type":"customer.updated","entity_id":"x"}"#
        )
        .await
        .status,
        401
    );
    assert_eq!(
        send(
            &stack,
            &id,
            &ours,
            br#"{"id":"v-3","type":"customer.updated","entity_id":"x"}"#
        )
        .await
        .status,
        401
    );
    let r = post(
        &stack,
        &id,
        br#"{"id":"v-4","type":"customer.updated","entity_id":"y"}"#,
        &[
            ("content-type", "application/json".into()),
            (
                "x-webhook-signature",
                sign_visma(portal_key.as_bytes(), body),
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(take_messages(&stack).await.len(), 1);
}

#[tokio::test]
async fn unknown_disconnected_and_pre_owner_integrations() {
    let stack = quiet_stack().await;
    let (id, key) = connected(&stack, ProviderKind::Fortnox).await;

    // An integration created before owner items existed: not found by its URL until its key is
    // rotated, which writes the owner item.
    stack
        .ctx
        .db
        .client()
        .delete_item()
        .table_name(stack.ctx.db.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("INTEGRATION#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
        )
        .send()
        .await
        .unwrap();
    let pre = send(&stack, &id, &key, &invoice_event("p-1", "1")).await;
    assert_eq!(pre.status, 401);
    let r = rotate(&stack, &id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let key = r.json["key"].as_str().unwrap().to_string();
    assert!(stack.ctx.db.integration_owner(&id).await.unwrap().is_some());
    assert_eq!(
        send(&stack, &id, &key, &invoice_event("p-1", "1"))
            .await
            .status,
        202
    );

    // Disconnected: the keys went with the secret; the same 401 as for an unknown id.
    let d = stack
        .call(
            Method::DELETE,
            &format!("/api/integrations/{id}"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let gone = send(&stack, &id, &key, &invoice_event("p-2", "2")).await;
    assert_eq!(gone.status, 401);
    assert_eq!(gone.text, pre.text);
    let unknown = send(
        &stack,
        "3f0c2d1e-9999-4000-8000-000000000000",
        &key,
        &invoice_event("p-3", "3"),
    )
    .await;
    assert_eq!(unknown.text, pre.text);
    assert_eq!(
        rotate(&stack, &id, json!({})).await.status,
        409,
        "no keys for a disconnected integration"
    );
    assert_eq!(take_messages(&stack).await.len(), 1);
}

#[tokio::test]
async fn a_pending_integration_ignores_data_events() {
    let stack = quiet_stack().await;
    let created = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(T),
            Some(json!({"provider": "visma"})),
        )
        .await
        .unwrap();
    let id = created.json["id"].as_str().unwrap().to_string();
    let key = rotate(&stack, &id, json!({})).await.json["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = send(&stack, &id, &key, &invoice_event("pend-1", "1")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(r.json["ignored"].as_str().unwrap().contains("pending"));
    assert!(take_messages(&stack).await.is_empty());
}

/// Needs `functions/status` (and `create`) to build `IntegrationView::new(i, &ctx.config)`
/// instead of `IntegrationView::from(i)`.
#[tokio::test]
async fn the_status_api_shows_the_webhook_url_never_the_key() {
    let stack = quiet_stack().await;
    let (id, key) = connected(&stack, ProviderKind::Fortnox).await;
    let st = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        st.json["webhook_url"].as_str(),
        Some(format!("{}/api/integrations/{id}/webhook", stack.api_url).as_str()),
        "{}",
        st.text
    );
    let list = stack
        .call(Method::GET, "/api/integrations/status", Some(T), None)
        .await
        .unwrap();
    for text in [&st.text, &list.text] {
        assert!(!text.contains(&key));
        for k in webhook_secret(&stack, T, &id).await.unwrap().keys {
            assert!(!text.contains(k.key.expose()));
        }
    }
}
