//! Helpers shared by the provider client tests: a stack whose sandbox runs at a time scale, a
//! connected integration, and data clients paced by the shared DynamoDB limiter.

#![allow(dead_code)]

use devstack::{Stack, StackOptions};
use shared::domain::{Address, Customer, Decimal, Invoice, InvoiceRow, ProviderKind};
use shared::http::limiter::{Limit, SlotLimiter, Tuning};
use shared::http::{RateLimiter, RetryPolicy};
use shared::providers::{ApiAuth, ApiSettings, Providers};
use shared::store::ratelimit::RateLimitStore;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Starts a stack whose sandbox divides its rate windows by `time_scale` (and, as always,
/// checks every body against the providers' contracts).
pub async fn stack(time_scale: f64) -> Stack {
    let mut sandbox = sandbox::SandboxConfig::with_defaults();
    sandbox.time_scale = time_scale;
    // No workers: the first sync that consent queues would otherwise call the provider beside
    // the clients under test (four registers since projects and articles), outside their
    // time-scaled limiter, and a rate-limit test could count its requests as theirs.
    system_tests::stack_with(StackOptions {
        sandbox,
        workers: 0,
        ..StackOptions::default()
    })
    .await
}

/// Starts a stack whose provider consent grants `scopes` for `provider`.
pub async fn stack_with_scopes(provider: ProviderKind, scopes: &str) -> Stack {
    let mut env = HashMap::new();
    let key = match provider {
        ProviderKind::Fortnox => "FORTNOX_SCOPES",
        ProviderKind::Visma => "VISMA_SCOPES",
    };
    env.insert(key.to_string(), scopes.to_string());
    system_tests::stack_with(StackOptions {
        env,
        ..StackOptions::default()
    })
    .await
}

/// Client settings matching a sandbox at `time_scale`, taking `batch` slots per reservation.
pub fn settings(time_scale: f64, headroom_percent: u32, batch: u32) -> ApiSettings {
    let scale = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() / time_scale);
    let d = ApiSettings::default();
    ApiSettings {
        fortnox_limit: Limit {
            requests: d.fortnox_limit.requests,
            window: scale(d.fortnox_limit.window),
        },
        visma_limit: Limit {
            requests: d.visma_limit.requests,
            window: scale(d.visma_limit.window),
        },
        tuning: Tuning {
            headroom_percent,
            batch,
        },
        retry: RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
            max_elapsed: Duration::from_secs(20),
        },
        ..d
    }
}

/// A limiter drawing on the rate-limit buckets in the stack's table (as every Lambda does).
pub fn shared_limiter(stack: &Stack, tuning: Tuning) -> Arc<dyn RateLimiter> {
    Arc::new(SlotLimiter::new(
        Arc::new(RateLimitStore::new(&stack.ctx.db)),
        tuning,
    ))
}

/// Providers of a fresh "container" (own caches and limiter state) with these settings,
/// paced by the shared limiter.
pub fn providers(stack: &Stack, settings: ApiSettings) -> Providers {
    let limiter = shared_limiter(stack, settings.tuning);
    stack
        .new_container()
        .providers
        .clone()
        .with_api(settings, limiter)
}

/// Connects `tenant` to `provider` and gives the integration's auth and sandbox company key.
pub async fn connect(stack: &Stack, tenant: &str, provider: ProviderKind) -> (ApiAuth, String) {
    let (id, _) = stack
        .connect(tenant, provider, true)
        .await
        .expect("connect");
    let integration = system_tests::integration(stack, tenant, &id).await;
    let token = stack
        .ctx
        .tokens
        .access_token(&integration)
        .await
        .expect("access token");
    let company = stack
        .sandbox
        .state
        .default_company_key(system_tests::sandbox_kind(provider));
    (ApiAuth::for_integration(&integration, token), company)
}

/// A decimal from text.
pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// A customer of ours.
pub fn customer(id: &str, name: &str) -> Customer {
    Customer {
        id: id.to_string(),
        name: name.to_string(),
        organisation_number: Some("556677-8899".into()),
        email: Some("faktura@exempel.se".into()),
        phone: Some("090-12 34 56".into()),
        address: Address {
            line1: Some("Storgatan 1".into()),
            line2: None,
            postal_code: Some("903 26".into()),
            city: Some("Umeå".into()),
            country_code: Some("SE".into()),
        },
        currency: Some("SEK".into()),
        is_private_person: false,
        vat_number: None,
        reverse_charge_construction: false,
        active: true,
        updated_at: None,
    }
}

/// An invoice of ours with two rows priced through `articles` (and an account on Fortnox).
pub fn invoice(id: &str, customer_id: &str, articles: [&str; 2]) -> Invoice {
    Invoice {
        project: None,
        cost_center: None,
        id: id.to_string(),
        customer_id: customer_id.to_string(),
        invoice_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).expect("date"),
        due_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 2),
        currency: Some("SEK".into()),
        our_reference: Some("Anna Svensson".into()),
        your_reference: Some("Per".into()),
        reverse_charge_construction: false,
        tax_reduction: None,
        rows: vec![
            InvoiceRow {
                project: None,
                cost_center: None,
                description: "Arbete badrum".into(),
                article_number: Some(articles[0].to_string()),
                account_number: None,
                quantity: d("8"),
                unit_price: d("650"),
                vat_rate: Some(d("25")),
                discount: None,
                house_work: None,
            },
            InvoiceRow {
                project: None,
                cost_center: None,
                description: "Material".into(),
                article_number: Some(articles[1].to_string()),
                account_number: None,
                quantity: d("2.5"),
                unit_price: d("100"),
                vat_rate: Some(d("25")),
                discount: Some(d("10")),
                house_work: None,
            },
        ],
        totals: None,
        cancelled: false,
        payment: None,
        credit: None,
        updated_at: None,
    }
}
