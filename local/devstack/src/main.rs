//! `make dev`: moto, the provider sandbox and every function on localhost, then a visible
//! end-to-end connect of one Fortnox and one Visma integration. Keeps serving until Ctrl-C
//! (or exits after the walk-through with `DEVSTACK_EXIT_AFTER_DEMO=1`).

use devstack::{query_of, Stack, StackOptions};
use reqwest::Method;
use shared::domain::ProviderKind;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn")
            }),
        )
        .with_target(false)
        .init();
    let opts = StackOptions {
        api_port: port("DEVSTACK_PORT", 3000),
        sandbox_port: port("SANDBOX_PORT", 9100),
        table_name: "accounting-integrations-dev".into(),
        secret_prefix: "accounting-integrations".into(),
        ..StackOptions::default()
    };
    let stack = Stack::start(opts).await?;
    let tenant = "demo-tenant";
    let token = stack.token_for(tenant);
    println!(
        r#"
== accounting integrations: local stack ==
API (every function, JWT-checked like API Gateway)  {api}
Provider sandbox (Fortnox under /fortnox, Visma under /visma)  {sb}
Sandbox inspection  {sb}/_sandbox/token-requests
AWS (moto server)  {moto}
KMS key for secrets  {key}

A dev JWT for tenant `{tenant}` (valid 1 hour):
  export TOKEN={token}

Try it:
  curl -s -X POST {api}/api/integrations/create -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{{"provider":"fortnox"}}'
  curl -s -X POST {api}/api/integrations/<id>/connect -H "authorization: Bearer $TOKEN"    # open authorization_url in a browser
  curl -s {api}/api/integrations/status -H "authorization: Bearer $TOKEN"
  curl -s -X DELETE {api}/api/integrations/<id> -H "authorization: Bearer $TOKEN"
"#,
        api = stack.api_url,
        sb = stack.sandbox.base_url,
        moto = devstack::moto::shared().await?.endpoint,
        key = stack.kms_key_arn,
    );

    println!("== walk-through: connect one Fortnox and one Visma integration ==");
    for provider in ProviderKind::ALL {
        walk_through(&stack, tenant, provider).await?;
    }
    let list = stack
        .call(Method::GET, "/api/integrations/status", Some(tenant), None)
        .await?;
    println!(
        "\nGET /api/integrations/status -> {}\n{}",
        list.status,
        serde_json::to_string_pretty(&list.json)?
    );

    if std::env::var("DEVSTACK_EXIT_AFTER_DEMO").is_ok() {
        println!("\nwalk-through done; exiting (DEVSTACK_EXIT_AFTER_DEMO is set)");
        return Ok(());
    }
    println!("\nThe stack keeps running; Ctrl-C stops it.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn walk_through(stack: &Stack, tenant: &str, provider: ProviderKind) -> Result<(), BoxError> {
    println!("\n-- {provider} --");
    let created = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(tenant),
            Some(serde_json::json!({"provider": provider.as_str()})),
        )
        .await?;
    println!(
        "1. POST /api/integrations/create -> {} ({})",
        created.status, created.json["status"]
    );
    let id = created.json["id"]
        .as_str()
        .ok_or("create gave no id")?
        .to_string();
    let start = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/connect"),
            Some(tenant),
            None,
        )
        .await?;
    let auth_url = start.json["authorization_url"]
        .as_str()
        .ok_or("connect gave no authorization_url")?;
    println!(
        "2. POST /api/integrations/{id}/connect -> {}: consent page at {}",
        start.status,
        auth_url.split('?').next().unwrap_or("")
    );
    let callback = sandbox::give_consent(&stack.http(), auth_url, true).await?;
    println!("3. the person approves at the {provider} sandbox; the browser returns to /api/integrations/callback/{provider}");
    let back = stack.follow_callback(&callback).await?;
    let outcome = query_of(&back);
    println!(
        "4. callback -> 302 to the frontend with status={}",
        outcome.get("status").map(String::as_str).unwrap_or("?")
    );
    let status = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(tenant),
            None,
        )
        .await?;
    println!(
        "5. GET /api/integrations/{id}/status -> {} company \"{}\", token valid until {}",
        status.json["status"],
        status.json["company_name"].as_str().unwrap_or(""),
        status.json["token_expires_at"].as_str().unwrap_or("")
    );
    Ok(())
}
