//! Helpers shared by the system tests.

use devstack::{Stack, StackOptions};
use shared::domain::{Integration, IntegrationSecret, TenantId};

/// Starts a stack with its own table and secret prefix.
pub async fn stack() -> Stack {
    stack_with(StackOptions::default()).await
}

/// Starts a stack with options.
pub async fn stack_with(opts: StackOptions) -> Stack {
    Stack::start(opts)
        .await
        .expect("stack starts (run `make venv` for moto)")
}

/// Reads an integration straight from the table.
pub async fn integration(stack: &Stack, tenant: &str, id: &str) -> Integration {
    stack
        .ctx
        .db
        .get_integration(&TenantId::parse(tenant).expect("tenant"), id)
        .await
        .expect("read")
        .expect("integration exists")
}

/// Reads an integration's secret straight from Secrets Manager.
pub async fn secret(stack: &Stack, tenant: &str, id: &str) -> Option<IntegrationSecret> {
    let i = integration(stack, tenant, id).await;
    stack
        .ctx
        .vault
        .read(&i.secret_name)
        .await
        .expect("read secret")
}

/// Makes the stored access token look expired, as if an hour had passed.
pub async fn age_stored_token(stack: &Stack, tenant: &str, id: &str) {
    let i = integration(stack, tenant, id).await;
    let mut s = stack
        .ctx
        .vault
        .read(&i.secret_name)
        .await
        .expect("read")
        .expect("secret");
    if let Some(t) = s.tokens.as_mut() {
        t.expires_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    }
    stack
        .ctx
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
