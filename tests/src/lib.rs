//! Helpers shared by the system tests.

use devstack::{Stack, StackOptions};
use shared::domain::{Integration, TenantId, TokenSecret, WebhookSecret};

/// Starts a stack with its own table and secret prefix.
pub async fn stack() -> Stack {
    stack_with(StackOptions::default()).await
}

/// Starts a stack with options. The sandbox checks every request and response against the
/// providers' OpenAPI documents, and the stack asserts on drop that none broke them (see
/// [`assert_contracts_kept`] to check earlier).
pub async fn stack_with(opts: StackOptions) -> Stack {
    Stack::start(opts)
        .await
        .expect("stack starts (run `make venv` for moto)")
}

/// Asserts now that no request or response so far broke a provider's contract; the report
/// groups violations by operation, direction and status with their first problems.
#[track_caller]
pub fn assert_contracts_kept(stack: &Stack) {
    stack.assert_contracts_kept();
}

/// Reads an integration straight from the table.
pub async fn integration(stack: &Stack, tenant: &str, id: &str) -> Integration {
    stack
        .direct
        .db
        .get_integration(&TenantId::parse(tenant).expect("tenant"), id)
        .await
        .expect("read")
        .expect("integration exists")
}

/// Reads an integration's token secret straight from Secrets Manager.
pub async fn secret(stack: &Stack, tenant: &str, id: &str) -> Option<TokenSecret> {
    let i = integration(stack, tenant, id).await;
    stack
        .direct
        .vault
        .read(&i.secret_name)
        .await
        .expect("read secret")
}

/// Name of an integration's webhook key secret, built from the stack's variables (not from the
/// code under test).
pub fn webhook_secret_name(stack: &Stack, tenant: &str, id: &str) -> String {
    format!("{}/{tenant}/{id}", stack.vars["WEBHOOK_SECRET_PREFIX"])
}

/// Reads an integration's webhook key secret straight from Secrets Manager.
pub async fn webhook_secret(stack: &Stack, tenant: &str, id: &str) -> Option<WebhookSecret> {
    stack
        .direct
        .vault
        .read(&webhook_secret_name(stack, tenant, id))
        .await
        .expect("read webhook secret")
}

/// Makes the stored access token look expired, as if an hour had passed.
pub async fn age_stored_token(stack: &Stack, tenant: &str, id: &str) {
    let i = integration(stack, tenant, id).await;
    let mut s: TokenSecret = stack
        .direct
        .vault
        .read(&i.secret_name)
        .await
        .expect("read")
        .expect("secret");
    if let Some(t) = s.tokens.as_mut() {
        t.expires_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    }
    stack
        .direct
        .vault
        .write(&i.secret_name, &s)
        .await
        .expect("write");
    stack.sandbox.state.expire_access_tokens();
}

/// Maps the shared provider kind to the sandbox's.
pub fn sandbox_kind(p: shared::domain::ProviderKind) -> sandbox::ProviderKind {
    match p {
        shared::domain::ProviderKind::Fortnox => sandbox::ProviderKind::Fortnox,
        shared::domain::ProviderKind::Visma => sandbox::ProviderKind::Visma,
    }
}

/// A canonical customer as the app sends it.
pub fn customer_json(
    i: usize,
    name_suffix: &str,
    updated_at: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "id": format!("cust-{i:05}"),
        "name": format!("Kund {i} Bygg AB{name_suffix}"),
        "organisation_number": format!("556{:03}-{:04}", i % 1000, i % 10000),
        "email": format!("kund{i}@example.se"),
        "phone": "08-123 456 78",
        "address": {"line1": format!("Storgatan {}", i % 90 + 1), "postal_code": "111 22", "city": "Stockholm", "country_code": "SE"},
        "currency": "SEK",
        "is_private_person": false,
        "active": true,
        "updated_at": updated_at,
    })
}

/// A canonical invoice for customer `customer` as the app sends it; rows fit `provider`
/// (Fortnox needs an article or an account, Visma an article).
pub fn invoice_json(
    i: usize,
    customer: usize,
    provider: shared::domain::ProviderKind,
) -> serde_json::Value {
    let row = match provider {
        shared::domain::ProviderKind::Fortnox => {
            serde_json::json!({"description": "Arbete enligt offert", "account_number": 3001, "quantity": "2.5", "unit_price": "650.00", "vat_rate": "25"})
        }
        shared::domain::ProviderKind::Visma => {
            serde_json::json!({"description": "Arbete enligt offert", "article_number": "1", "quantity": "2.5", "unit_price": "650.00", "vat_rate": "25"})
        }
    };
    serde_json::json!({
        "id": format!("inv-{i:05}"),
        "customer_id": format!("cust-{customer:05}"),
        "invoice_date": "2026-11-20",
        "due_date": "2026-12-20",
        "currency": "SEK",
        "our_reference": "Anna Andersson",
        "your_reference": "Bo Berg",
        "rows": [row],
    })
}

/// Upserts records through the records API, 100 per request; panics on a refusal.
pub async fn upsert(
    stack: &devstack::Stack,
    tenant: &str,
    integration: &str,
    entity: &str,
    records: Vec<serde_json::Value>,
) {
    for chunk in records.chunks(100) {
        let r = stack
            .call(
                reqwest::Method::POST,
                &format!("/api/integrations/{integration}/records/{entity}"),
                Some(tenant),
                Some(serde_json::json!({ "records": chunk })),
            )
            .await
            .expect("records API answers");
        assert_eq!(r.status, 202, "upsert refused: {}", r.text);
    }
}

/// Waits until every job of the integration has ended; gives them.
pub async fn wait_idle(
    stack: &devstack::Stack,
    integration: &str,
    timeout: std::time::Duration,
) -> Vec<shared::domain::Job> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let jobs = stack
            .direct
            .db
            .list_jobs(integration, 100)
            .await
            .expect("jobs");
        if !jobs.is_empty() && jobs.iter().all(|j| j.state.is_terminal()) {
            return jobs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs still running: {:?}",
            jobs.iter()
                .map(|j| (j.state, j.progress.clone(), j.last_error.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Every entry of an integration's change feed of `entity` (of every entity when `entity` is
/// empty), read page by page with the cursor as the app reads it.
pub async fn feed(
    stack: &devstack::Stack,
    tenant: &str,
    id: &str,
    entity: &str,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let r = stack
            .call(
                reqwest::Method::GET,
                &if entity.is_empty() {
                    // The feed of every entity, in small pages (each merges four queries).
                    format!("/api/integrations/{id}/records?after={cursor}&limit=7")
                } else {
                    format!("/api/integrations/{id}/records/{entity}?after={cursor}&limit=500")
                },
                Some(tenant),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        let recs = r.json["records"].as_array().cloned().unwrap_or_default();
        if recs.is_empty() {
            return out;
        }
        cursor = r.json["next_cursor"].as_u64().unwrap();
        out.extend(recs);
    }
}

/// The integration's current access token, as the company's bookkeeper's own calls to the
/// sandbox use it.
pub async fn provider_token(stack: &Stack, tenant: &str, id: &str) -> String {
    secret(stack, tenant, id)
        .await
        .and_then(|s| s.tokens)
        .expect("connected")
        .access_token
        .expose()
        .to_string()
}

/// Calls the sandbox as the company's bookkeeper would (a change made in the accounting
/// system), with the integration's token; panics unless it succeeds; gives the answer.
pub async fn provider_call(
    stack: &Stack,
    tenant: &str,
    id: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(provider_token(stack, tenant, id).await);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("sandbox answers");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Upserts one record and expects a refusal: 400 problem+json naming `field`.
pub async fn refused(
    stack: &Stack,
    tenant: &str,
    id: &str,
    entity: &str,
    record: serde_json::Value,
    field: &str,
) {
    let r = stack
        .call(
            reqwest::Method::POST,
            &format!("/api/integrations/{id}/records/{entity}"),
            Some(tenant),
            Some(serde_json::json!({ "records": [record] })),
        )
        .await
        .expect("records API answers");
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "{}",
        r.text
    );
    assert_eq!(r.json["field"], field, "{}", r.text);
}

/// Runs a pull of `entity` to its end; gives the newest feed entry of `our_id` after
/// `cursor` (moved past what was read), if any.
pub async fn pull_entry(
    stack: &Stack,
    tenant: &str,
    id: &str,
    entity: &str,
    our_id: &str,
    cursor: &mut u64,
) -> Option<serde_json::Value> {
    let r = stack
        .call(
            reqwest::Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(tenant),
            Some(serde_json::json!({"direction": "pull", "entities": [entity]})),
        )
        .await
        .expect("sync answers");
    assert_eq!(r.status, 202, "{}", r.text);
    let job = r.json["job_ids"][0].as_str().expect("a job").to_string();
    let job = stack
        .wait_for_job(id, &job, std::time::Duration::from_secs(120))
        .await
        .expect("the pull ends");
    assert_eq!(job.state, shared::domain::JobState::Succeeded, "{job:?}");
    let r = stack
        .call(
            reqwest::Method::GET,
            &format!("/api/integrations/{id}/records/{entity}?after={cursor}&limit=500"),
            Some(tenant),
            None,
        )
        .await
        .expect("feed answers");
    assert_eq!(r.status, 200, "{}", r.text);
    *cursor = r.json["next_cursor"].as_u64().expect("a cursor");
    r.json["records"]
        .as_array()
        .expect("records")
        .iter()
        .rev()
        .find(|e| e["our_id"] == our_id)
        .cloned()
}
