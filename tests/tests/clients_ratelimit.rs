//! The shared rate limiter against the sandbox's real windows (time-scaled): two clients of
//! one Fortnox tenant stay under 25 requests per sliding window together, a client without
//! the limiter draws 429s, and 429s (injected) are honoured.
//!
//! At time scale 10 a window is 0.5 s, so the limiter's spare time is a tenth of production's;
//! these tests keep 10 % headroom (50 ms per window, production keeps 4 % of 5 s = 200 ms) and
//! run one at a time so that their timing does not depend on each other's load.

mod clients_support;

use clients_support::{connect, customer, providers, settings, stack};
use sandbox::{FaultConfig, ProviderKind as SandboxKind};
use shared::domain::ProviderKind;
use shared::http::limiter::Unlimited;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCALE: f64 = 10.0;

/// Serialises the tests of this file.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_of_one_fortnox_tenant_draw_no_429s() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stack = stack(SCALE).await;
    let (auth, company) = connect(&stack, "tenant-shared", ProviderKind::Fortnox).await;
    // Two containers: separate caches and limiter state, one DynamoDB bucket.
    let a = providers(&stack, settings(SCALE, 10, 5));
    let b = providers(&stack, settings(SCALE, 10, 5));
    stack.sandbox.state.clear_records();
    let per_client = 60;
    let started = Instant::now();
    let run = |p: shared::providers::Providers, tag: &'static str| {
        let auth = auth.clone();
        async move {
            for i in 0..per_client {
                p.api(ProviderKind::Fortnox)
                    .create_customer(&auth, &customer(&format!("{tag}-{i}"), "Delad AB"))
                    .await
                    .expect("create");
            }
        }
    };
    tokio::join!(run(a, "a"), run(b, "b"));
    let elapsed = started.elapsed();
    assert_eq!(
        stack.sandbox.state.rate_limited_count(SandboxKind::Fortnox),
        0,
        "no 429s"
    );
    assert_eq!(
        stack
            .sandbox
            .state
            .customer_count(SandboxKind::Fortnox, &company),
        2 * per_client
    );
    // 120 requests at 25 per 0.5 s take at least 4.5 windows; together they ran close to the
    // limit rather than each at half of it.
    let window = Duration::from_millis(500);
    assert!(elapsed >= window * 4, "{elapsed:?}");
    assert!(
        elapsed < window * 8,
        "{elapsed:?}: too slow for a shared limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_limiter_draws_429s_and_still_finishes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stack = stack(SCALE).await;
    let (auth, _) = connect(&stack, "tenant-naive", ProviderKind::Fortnox).await;
    let naive = stack
        .new_container()
        .providers
        .clone()
        .with_api(settings(SCALE, 4, 5), Arc::new(Unlimited));
    for _ in 0..60 {
        naive
            .api(ProviderKind::Fortnox)
            .list_customer_ids(&auth, 1)
            .await
            .expect("a 429 is waited out and retried");
    }
    assert!(stack.sandbox.state.rate_limited_count(SandboxKind::Fortnox) > 0);
    let (_, limited, _) = naive.fortnox_api().stats().snapshot();
    assert!(limited > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_429s_are_honoured() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stack = stack(SCALE).await;
    let (fauth, _) = connect(&stack, "tenant-429", ProviderKind::Fortnox).await;
    let (vauth, _) = connect(&stack, "tenant-429", ProviderKind::Visma).await;
    let p = providers(&stack, settings(SCALE, 4, 5));
    stack.sandbox.state.set_faults(FaultConfig {
        rate_429: 0.3,
        seed: 11,
        ..FaultConfig::default()
    });

    // Fortnox's 429 has no wait: the client pauses the tenant's bucket for the window.
    let started = Instant::now();
    for _ in 0..20 {
        p.api(ProviderKind::Fortnox)
            .list_customer_ids(&fauth, 1)
            .await
            .expect("honoured and retried");
    }
    let (_, limited, retries) = p.fortnox_api().stats().snapshot();
    assert!(
        limited > 0 && retries >= limited,
        "{limited} 429s, {retries} retries"
    );
    let window = Duration::from_millis(500);
    assert!(
        started.elapsed() >= window * u32::try_from(limited).unwrap_or(1),
        "each 429 waits a window"
    );

    // Visma's says "Try again in N seconds": the client waits N.
    let started = Instant::now();
    for _ in 0..6 {
        p.api(ProviderKind::Visma)
            .list_customer_ids(&vauth, 1)
            .await
            .expect("honoured and retried");
    }
    let (_, limited, _) = p.visma_api().stats().snapshot();
    stack.sandbox.state.set_faults(FaultConfig::default());
    assert!(limited > 0);
    assert!(
        started.elapsed() >= Duration::from_secs(limited),
        "waited the second Visma asked for"
    );
}
