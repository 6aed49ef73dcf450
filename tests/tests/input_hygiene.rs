//! Input hygiene through the API as the frontend calls it: control characters in records are
//! refused naming the field, with nothing stored and nothing queued; tenant claims that were
//! not strings of the tenant shape never become tenants; a token that is not valid yet is
//! refused by the (local) authorizer.

use devstack::{Stack, StackOptions, DEV_AUDIENCE, DEV_ISSUER};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{Entity, ProviderKind, TenantId};
use system_tests::{customer_json, invoice_json, stack_with};

const T: &str = "tenant-hygiene";

async fn quiet_stack() -> Stack {
    stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await
}

/// Messages waiting on the sync queue (no worker runs, so every queued job would be there).
async fn queued(stack: &Stack) -> usize {
    let out = aws_sdk_sqs::Client::new(&stack.sdk)
        .get_queue_attributes()
        .queue_url(&stack.queues.sync_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    out.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// A token signed like the dev ones, with `tenant_id` set to `tenant` (any JSON) and extra
/// claims.
fn token(stack: &Stack, tenant: Value, extra: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "someone", "iat": now, "exp": now + 300,
        "tenant_id": tenant,
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    stack.jwt.sign(&claims)
}

/// Status, content type and JSON of a call with a raw bearer token.
async fn call_with(
    stack: &Stack,
    method: Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut rb = stack
        .http()
        .request(method, format!("{}{path}", stack.api_url))
        .bearer_auth(bearer);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = r.text().await.unwrap();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_with_control_characters_are_refused_naming_the_field_and_nothing_is_stored() {
    let stack = quiet_stack().await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let now = chrono::Utc::now();
    let ok = customer_json(1, "", now);
    let with = |field: &[&str], value: &str| {
        let mut c = ok.clone();
        let mut at = &mut c;
        for f in &field[..field.len() - 1] {
            at = &mut at[*f];
        }
        at[field[field.len() - 1]] = json!(value);
        c
    };
    let customers = [
        (with(&["name"], "Bygg\u{1b}[31m AB"), "records[1].name"),
        (with(&["email"], "kund\u{7}@example.se"), "records[1].email"),
        (
            with(&["address", "line1"], "Storgatan 1\u{0}"),
            "records[1].address.line1",
        ),
        (
            with(&["address", "city"], "Umeå\nNorr"),
            "records[1].address.city",
        ),
        (with(&["phone"], "08-1\u{9b}2"), "records[1].phone"),
    ];
    let customers_path = format!("/api/integrations/{id}/records/customers");
    for (bad, field) in customers {
        // A good record before the bad one: the whole request is refused, not just the record.
        let r = stack
            .call(
                Method::POST,
                &customers_path,
                Some(T),
                Some(json!({"records": [customer_json(2, "", now), bad]})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{field}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json", "{field}");
        assert_eq!(r.json["field"], field, "{}", r.text);
        let errors = r.json["errors"].as_array().expect("errors");
        assert!(
            errors.iter().any(|e| e["field"] == field
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("control characters"))),
            "{}",
            r.text
        );
    }

    let invoice = invoice_json(1, 1, ProviderKind::Fortnox);
    let mut esc_row = invoice.clone();
    esc_row["rows"][0]["description"] = json!("Arbete \u{1b}]0;pwned\u{7}");
    let mut reference_break = invoice.clone();
    reference_break["our_reference"] = json!("Anna\nAndersson");
    let invoices_path = format!("/api/integrations/{id}/records/invoices");
    for (bad, field) in [
        (esc_row, "records[0].rows[0].description"),
        (reference_break, "records[0].our_reference"),
    ] {
        let r = stack
            .call(
                Method::POST,
                &invoices_path,
                Some(T),
                Some(json!({"records": [bad]})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{field}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.json["field"], field, "{}", r.text);
    }

    for entity in [Entity::Customers, Entity::Invoices] {
        let (stored, _) = stack
            .ctx
            .db
            .local_page(&id, entity, None, 10)
            .await
            .unwrap();
        assert!(stored.is_empty(), "nothing stored for {entity:?}");
    }
    assert!(
        stack.ctx.db.list_jobs(&id, 10).await.unwrap().is_empty(),
        "no job"
    );
    assert_eq!(queued(&stack).await, 0, "nothing queued");

    // A row text may span lines: the same invoice with a line break and a tab goes through.
    let mut multi_line = invoice.clone();
    multi_line["rows"][0]["description"] = json!("Arbete badrum\r\n\tkakel och fog");
    let r = stack
        .call(
            Method::POST,
            &invoices_path,
            Some(T),
            Some(json!({"records": [multi_line]})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text);
    let (stored, _) = stack
        .ctx
        .db
        .local_page(&id, Entity::Invoices, None, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_claims_that_are_not_tenant_strings_never_become_tenants() {
    let stack = quiet_stack().await;
    let create = json!({"provider": "fortnox"});
    for (claim, as_text) in [
        (json!(null), "null"),
        (json!(true), "true"),
        (json!(false), "false"),
        (json!(12345), "12345"),
        (json!(-1), "-1"),
        (json!(1.5), "1.5"),
        // The same texts sent as strings: API Gateway hands every claim on as text, so these
        // cannot be told apart from the JSON values and are refused too.
        (json!("12345"), "12345"),
        (json!("null"), "null"),
    ] {
        let bearer = token(&stack, claim.clone(), json!({}));
        let (status, ct, body) = call_with(
            &stack,
            Method::POST,
            "/api/integrations/create",
            &bearer,
            Some(create.clone()),
        )
        .await;
        assert_eq!(status, 401, "{claim}: {body}");
        assert_eq!(ct, "application/problem+json", "{claim}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("`tenant_id` claim is not a valid tenant id")
                && detail.contains("not null, a boolean or a number"),
            "{claim}: {detail}"
        );
        let tenant = TenantId::parse(as_text).expect("a parseable name");
        assert!(
            stack
                .ctx
                .db
                .list_integrations(&tenant)
                .await
                .unwrap()
                .is_empty(),
            "{claim}: no integration for a tenant named {as_text:?}"
        );
    }
    for (claim, why) in [
        (json!(""), "must be 1 to 128 characters"),
        (json!("acme bygg"), "must be 1 to 128 characters"),
        (json!(["a", "b"]), "must be 1 to 128 characters"),
        (json!({"id": "acme"}), "must be 1 to 128 characters"),
    ] {
        let bearer = token(&stack, claim.clone(), json!({}));
        let (status, ct, body) = call_with(
            &stack,
            Method::GET,
            "/api/integrations/status",
            &bearer,
            None,
        )
        .await;
        assert_eq!(
            (status, ct.as_str()),
            (401, "application/problem+json"),
            "{claim}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(why)),
            "{claim}: {body}"
        );
    }
    // A proper tenant string is served.
    let bearer = token(&stack, json!("acme-bygg.se"), json!({}));
    let (status, _, body) = call_with(
        &stack,
        Method::GET,
        "/api/integrations/status",
        &bearer,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_nbf_lies_in_the_future_is_refused_by_the_authorizer() {
    let stack = quiet_stack().await;
    let now = chrono::Utc::now().timestamp();
    let early = token(&stack, json!(T), json!({"nbf": now + 120}));
    let (status, ct, body) = call_with(
        &stack,
        Method::GET,
        "/api/integrations/status",
        &early,
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // Refused at the gateway, as API Gateway does, before any function runs.
    assert_eq!(ct, "application/json");
    assert_eq!(body, json!({"message": "Unauthorized"}));
    let create = json!({"provider": "visma"});
    let (status, _, _) = call_with(
        &stack,
        Method::POST,
        "/api/integrations/create",
        &early,
        Some(create),
    )
    .await;
    assert_eq!(status, 401);
    assert!(stack
        .ctx
        .db
        .list_integrations(&TenantId::parse(T).unwrap())
        .await
        .unwrap()
        .is_empty());

    let valid = token(&stack, json!(T), json!({"nbf": now - 5}));
    let (status, _, body) = call_with(
        &stack,
        Method::GET,
        "/api/integrations/status",
        &valid,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// What both accounting systems refuse for sure is refused before anything is stored: ROT and
/// RUT rows on one invoice (one tax reduction kind per invoice at Fortnox and at Visma).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_mixing_rot_and_rut_is_refused_before_anything_is_stored() {
    let stack = quiet_stack().await;
    for provider in ProviderKind::ALL {
        let tenant = format!("{T}-{provider}");
        let (id, _) = stack.connect(&tenant, provider, true).await.unwrap();
        let mut inv = invoice_json(1, 0, provider);
        let mut rut = inv["rows"][0].clone();
        inv["rows"][0]["house_work"] = json!({"kind": "rot", "hours": "2"});
        rut["house_work"] = json!({"kind": "rut", "hours": "1"});
        inv["rows"].as_array_mut().unwrap().push(rut);
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/records/invoices"),
                Some(&tenant),
                Some(json!({"records": [inv]})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{provider}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(
            r.json["field"], "records[0].rows[1].house_work.kind",
            "{}",
            r.text
        );
        let (locals, _) = stack
            .ctx
            .db
            .local_page(&id, Entity::Invoices, None, 10)
            .await
            .unwrap();
        assert!(locals.is_empty(), "{provider}: nothing stored");
    }
    assert_eq!(queued(&stack).await, 0, "nothing queued");
}
