//! `cargo run --release -p provider-throughput [-- --scale 1 --creates 300]`
//!
//! Starts moto and the sandbox through the devstack harness, connects a Fortnox integration
//! and creates customers through the Fortnox data client, paced by the shared DynamoDB rate
//! limiter, against the sandbox's real sliding window divided by `--scale` (25 requests per
//! 5 s / scale; 1 by default, Fortnox's own window). Prints the rate achieved as a share of the
//! provider's ceiling and the 429s drawn: once with one sequential worker, once with two
//! concurrent workers (two "Lambda instances" with their own limiter state) on the same tenant.
//! Target: ≥ 0.95, zero 429s; exits 1 on a miss. A compressed window (`--scale 10`) is a quick
//! look only: the limiter's round trips to moto weigh ten times more against it.

use devstack::StackOptions;
use shared::domain::{Address, Customer, ProviderKind};
use shared::http::limiter::{Limit, SlotLimiter, Tuning};
use shared::providers::{ApiAuth, ApiSettings, Providers};
use shared::store::ratelimit::RateLimitStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    scale: f64,
    creates: usize,
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        scale: 1.0,
        creates: 300,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--scale" => a.scale = it.next().ok_or("--scale needs a value")?.parse()?,
            "--creates" => a.creates = it.next().ok_or("--creates needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.scale.is_nan() || a.scale <= 0.0 {
        return Err("--scale must be positive".into());
    }
    Ok(a)
}

fn customer(id: String) -> Customer {
    Customer {
        id,
        name: "Genomströmning AB".into(),
        organisation_number: Some("556677-8899".into()),
        email: Some("faktura@exempel.se".into()),
        phone: None,
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

/// A "container": its own providers and limiter state over the shared bucket table.
fn container(stack: &devstack::Stack, settings: &ApiSettings) -> (Providers, Arc<SlotLimiter>) {
    let limiter = Arc::new(SlotLimiter::new(
        Arc::new(RateLimitStore::new(&stack.ctx.db)),
        settings.tuning,
    ));
    let p = stack
        .new_container()
        .providers
        .clone()
        .with_api(settings.clone(), limiter.clone());
    (p, limiter)
}

async fn worker(p: Providers, auth: ApiAuth, tag: &str, n: usize) -> Result<(), BoxError> {
    let api = p.api(ProviderKind::Fortnox);
    for i in 0..n {
        api.create_customer(&auth, &customer(format!("{tag}-{i}")))
            .await
            .map_err(|e| format!("create {tag}-{i}: {e}"))?;
    }
    Ok(())
}

struct Run {
    label: &'static str,
    requests: usize,
    elapsed: Duration,
    limited: usize,
    /// (reservations, dropped slots) over the run's limiters.
    store: (u64, u64),
}

fn store_use(limiters: &[&SlotLimiter]) -> (u64, u64) {
    limiters.iter().fold((0, 0), |(r, d), l| {
        let (_, reservations, dropped) = l.stats().snapshot();
        (r + reservations, d + dropped)
    })
}

impl Run {
    fn ratio(&self, ceiling: f64) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64() / ceiling
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let mut sandbox = sandbox::SandboxConfig::with_defaults();
    sandbox.time_scale = args.scale;
    let stack = devstack::Stack::start(StackOptions {
        sandbox,
        ..StackOptions::default()
    })
    .await?;
    let (id, _) = stack
        .connect("bench-tenant", ProviderKind::Fortnox, true)
        .await?;
    let integration = system_tests::integration(&stack, "bench-tenant", &id).await;
    let token = stack.ctx.tokens.access_token(&integration).await?;
    let auth = ApiAuth::for_integration(&integration, token);

    let defaults = ApiSettings::from_env()?;
    let window = Duration::from_secs_f64(sandbox::FORTNOX_RATE_WINDOW.as_secs_f64() / args.scale);
    let settings = ApiSettings {
        fortnox_limit: Limit {
            requests: sandbox::FORTNOX_RATE_LIMIT as u32,
            window,
        },
        tuning: Tuning {
            headroom_percent: defaults.tuning.headroom_percent,
            batch: defaults.tuning.batch,
        },
        ..defaults
    };
    let ceiling = sandbox::FORTNOX_RATE_LIMIT as f64 / window.as_secs_f64();
    println!(
        "provider-throughput: Fortnox sandbox at time_scale {} ({} requests per {:?} sliding window, ceiling {:.1} req/s); limiter headroom {} %, {} slots per DynamoDB write",
        args.scale,
        sandbox::FORTNOX_RATE_LIMIT,
        window,
        ceiling,
        settings.tuning.headroom_percent,
        settings.tuning.batch,
    );

    // Warm up (credentials, connections, the bucket item), then let the window clear.
    let (warm, _) = container(&stack, &settings);
    warm.api(ProviderKind::Fortnox).company(&auth).await?;
    tokio::time::sleep(window * 2).await;

    let mut runs = Vec::new();
    let state = &stack.sandbox.state;

    let (one, one_limiter) = container(&stack, &settings);
    let before = state.rate_limited_count(sandbox::ProviderKind::Fortnox);
    let started = Instant::now();
    worker(one, auth.clone(), "seq", args.creates).await?;
    runs.push(Run {
        label: "1 worker, sequential",
        requests: args.creates,
        elapsed: started.elapsed(),
        limited: state.rate_limited_count(sandbox::ProviderKind::Fortnox) - before,
        store: store_use(&[&one_limiter]),
    });
    tokio::time::sleep(window * 2).await;

    let ((a, la), (b, lb)) = (container(&stack, &settings), container(&stack, &settings));
    let half = args.creates / 2;
    let before = state.rate_limited_count(sandbox::ProviderKind::Fortnox);
    let started = Instant::now();
    let (ra, rb) = tokio::join!(
        worker(a, auth.clone(), "par-a", half),
        worker(b, auth.clone(), "par-b", args.creates - half)
    );
    ra?;
    rb?;
    runs.push(Run {
        label: "2 workers, one tenant",
        requests: args.creates,
        elapsed: started.elapsed(),
        limited: state.rate_limited_count(sandbox::ProviderKind::Fortnox) - before,
        store: store_use(&[&la, &lb]),
    });

    let mut met = true;
    for r in &runs {
        let ratio = r.ratio(ceiling);
        met &= ratio >= 0.95 && r.limited == 0;
        println!(
            "{:<24} {} creates in {:.2} s = {:.1} req/s = {:.3} of ceiling, {} × 429; {} DynamoDB reservations, {} slots dropped late",
            r.label,
            r.requests,
            r.elapsed.as_secs_f64(),
            r.requests as f64 / r.elapsed.as_secs_f64(),
            ratio,
            r.limited,
            r.store.0,
            r.store.1,
        );
    }
    println!(
        "target ≥ 0.95 of ceiling with zero 429s: {}",
        if met { "met" } else { "NOT met" }
    );
    if !met {
        std::process::exit(1);
    }
    Ok(())
}
