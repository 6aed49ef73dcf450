//! How fresh the app's copy is, at real speed (no compressed time anywhere):
//! 1. **Fortnox**: a person changes customers in Fortnox (the sandbox); the stream consumer, the
//!    queue and two workers bring each change into the app's feed. Time from the change to the
//!    record in the feed, read through the records API as the app reads it. Target p95 ≤ 30 s.
//! 2. **Visma**: the same changes, found by the scheduler's incremental polls: the scheduler runs
//!    every five minutes as EventBridge runs it (from a random phase), each poll at the
//!    integration's own offset in its period (`visma_poll_seconds`, five minutes for one
//!    integration). Target p95 ≤ the interval + 30 s.
//! 3. **Idle cost**: provider requests an idle integration causes in an hour: one scheduled
//!    incremental job of an integration with nothing new, counted at the sandbox, times the jobs
//!    an hour (Fortnox 1, Visma 3600 / interval); the stream asks Fortnox's REST API nothing
//!    while nothing changes.
//!
//! `FRESHNESS_FORTNOX_CHANGES` (40) and `FRESHNESS_VISMA_MINUTES` (12) size the runs. Exits
//! non-zero when a target is missed.

use chrono::Utc;
use devstack::{Stack, StackOptions};
use rand::Rng;
use reqwest::Method;
use sandbox::ProviderKind as SandboxKind;
use serde_json::json;
use shared::domain::ProviderKind;
use shared::jobs::maintenance::{schedule, visma_poll_seconds};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TENANT: &str = "bench-freshness";

fn env_num(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(d)
}

/// Median and 95th percentile (nearest rank) of `v`, in seconds.
fn quantiles(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.5), at(0.95))
}

/// Changes waiting to be seen in the feed: the name each one gave its record, and when.
type Waiting = std::sync::Arc<std::sync::Mutex<Vec<(String, Instant)>>>;

/// One reader of the feed, as the app reads it (a cursor, every 200 ms), noting when each
/// awaited name first appears. One reader for all changes, so that the measuring does not load
/// the system it measures.
fn watch(stack: &'static Stack, id: String, waiting: Waiting) -> tokio::task::JoinHandle<Vec<f64>> {
    tokio::spawn(async move {
        let mut cursor = 0u64;
        let mut seen = Vec::new();
        loop {
            let r = stack
                .call(
                    Method::GET,
                    &format!("/api/integrations/{id}/records/customers?after={cursor}&limit=500"),
                    Some(TENANT),
                    None,
                )
                .await;
            if let Ok(r) = r {
                let recs = r.json["records"].as_array().cloned().unwrap_or_default();
                if let Some(next) = r.json["next_cursor"].as_u64() {
                    cursor = next;
                }
                let mut w = waiting.lock().expect("waiting");
                for e in &recs {
                    let Some(name) = e["record"]["name"].as_str() else {
                        continue;
                    };
                    if let Some(i) = w.iter().position(|(n, _)| n == name) {
                        let (_, at) = w.remove(i);
                        seen.push(at.elapsed().as_secs_f64());
                    }
                }
                if w.first().is_some_and(|(n, _)| n == "stop") {
                    return seen;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Changes customer `rid` at the provider, noting the name awaited.
fn change(stack: &Stack, kind: SandboxKind, rid: &str, n: usize, waiting: &Waiting) {
    let key = stack.sandbox.state.default_company_key(kind);
    let name = format!("Ändrad {n} {}", Utc::now().timestamp_millis());
    waiting
        .lock()
        .expect("waiting")
        .push((name.clone(), Instant::now()));
    stack
        .sandbox
        .state
        .modify_customer(kind, &key, rid, |v| v["Name"] = json!(name));
}

/// Waits until every change is seen or `give_up` has passed; gives the times and the number
/// never seen.
async fn collect(
    reader: tokio::task::JoinHandle<Vec<f64>>,
    waiting: Waiting,
    give_up: Duration,
) -> (Vec<f64>, usize) {
    let started = Instant::now();
    while !waiting.lock().expect("waiting").is_empty() && started.elapsed() < give_up {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lost = {
        let mut w = waiting.lock().expect("waiting");
        let lost = w.len();
        w.clear();
        w.push(("stop".into(), Instant::now()));
        lost
    };
    (reader.await.unwrap_or_default(), lost)
}

fn customer_ids(stack: &Stack, kind: SandboxKind) -> Vec<String> {
    let key = stack.sandbox.state.default_company_key(kind);
    stack.sandbox.state.customer_ids(kind, &key)
}

/// Provider requests of one incremental job of an idle integration over `body`'s entities
/// (every entity when it names none).
async fn idle_job_requests(
    stack: &Stack,
    provider: ProviderKind,
    id: &str,
    body: serde_json::Value,
) -> Result<usize, BoxError> {
    let kind = match provider {
        ProviderKind::Fortnox => SandboxKind::Fortnox,
        ProviderKind::Visma => SandboxKind::Visma,
    };
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(TENANT),
            Some(json!({})),
        )
        .await?;
    let job = r.json["job_ids"][0].as_str().ok_or("a job id")?.to_string();
    stack
        .wait_for_job(id, &job, Duration::from_secs(120))
        .await?;
    // Settled: now one more, with nothing new since.
    stack.sandbox.state.clear_records();
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(TENANT),
            Some(body),
        )
        .await?;
    let job = r.json["job_ids"][0].as_str().ok_or("a job id")?.to_string();
    stack
        .wait_for_job(id, &job, Duration::from_secs(120))
        .await?;
    Ok(stack
        .sandbox
        .state
        .requests()
        .iter()
        .filter(|r| r.provider == kind && (r.path.starts_with("/3/") || r.path.starts_with("/v2/")))
        .count())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let stack: &'static Stack = Box::leak(Box::new(
        Stack::start(StackOptions {
            workers: 2,
            ..StackOptions::default()
        })
        .await?,
    ));
    let mut failures = Vec::new();
    let (fortnox, _) = stack.connect(TENANT, ProviderKind::Fortnox, true).await?;
    let (visma, _) = stack.connect(TENANT, ProviderKind::Visma, true).await?;
    for kind in [SandboxKind::Fortnox, SandboxKind::Visma] {
        let key = stack.sandbox.state.default_company_key(kind);
        stack.sandbox.state.seed_customers(kind, &key, 30);
    }
    // Both copies complete before the clock starts.
    for id in [&fortnox, &visma] {
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/sync"),
                Some(TENANT),
                Some(json!({"direction": "pull", "mode": "full"})),
            )
            .await?;
        let job = r.json["job_ids"][0].as_str().ok_or("a job id")?.to_string();
        stack
            .wait_for_job(id, &job, Duration::from_secs(300))
            .await?;
    }

    // 3 first, while nothing else runs: requests of idle integrations.
    let fortnox_idle = idle_job_requests(stack, ProviderKind::Fortnox, &fortnox, json!({})).await?;
    // A Visma poll carries projects and articles once an hour (`scheduled_entities`).
    let visma_idle = idle_job_requests(stack, ProviderKind::Visma, &visma, json!({})).await?;
    let visma_idle_between = idle_job_requests(
        stack,
        ProviderKind::Visma,
        &visma,
        json!({"entities": ["customers", "invoices"]}),
    )
    .await?;
    let interval = visma_poll_seconds(1);

    // 1. Fortnox through its stream.
    let consumer = stack.start_stream(Duration::from_secs(840));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stack
        .direct
        .db
        .stream_lease()
        .await?
        .is_some_and(|l| l.subscribed && l.integrations == 1)
    {
        if Instant::now() > deadline {
            return Err("the stream consumer did not subscribe in 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let changes = env_num("FRESHNESS_FORTNOX_CHANGES", 40) as usize;
    let ids = customer_ids(stack, SandboxKind::Fortnox);
    let waiting = Waiting::default();
    let reader = watch(stack, fortnox.clone(), waiting.clone());
    for n in 0..changes {
        // Each change to a record of its own while the one before may be under way (round
        // robin over 30): a later change never hides an earlier one's arrival.
        change(
            stack,
            SandboxKind::Fortnox,
            &ids[n % ids.len()],
            n,
            &waiting,
        );
        let pause = rand::rng().random_range(0..1500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let (mut fx, fx_lost) = collect(reader, waiting, Duration::from_secs(120)).await;
    drop(consumer);

    // 2. Visma through the scheduler's polls, the scheduler every five minutes from a random
    // phase, as EventBridge runs it.
    let minutes = env_num("FRESHNESS_VISMA_MINUTES", 12);
    // 0 skips the Visma part (its figure then prints as not measured).
    let ids = customer_ids(stack, SandboxKind::Visma);
    let ctx = stack.ctx.clone();
    let ticker = tokio::spawn(async move {
        let phase = rand::rng().random_range(0..300);
        tokio::time::sleep(Duration::from_secs(phase)).await;
        loop {
            let _ = schedule(ctx.as_ref(), Utc::now()).await;
            tokio::time::sleep(Duration::from_secs(300)).await;
        }
    });
    let window = Duration::from_secs(minutes * 60);
    let started = Instant::now();
    let waiting = Waiting::default();
    let reader = watch(stack, visma.clone(), waiting.clone());
    let mut n = 0;
    // Changes over the first part of the window (each to a record of its own); each has at
    // least two intervals to arrive.
    while started.elapsed() + Duration::from_secs(2 * interval) < window {
        change(stack, SandboxKind::Visma, &ids[n % ids.len()], n, &waiting);
        n += 1;
        let pause = rand::rng().random_range(10..40);
        tokio::time::sleep(Duration::from_secs(pause)).await;
    }
    let left = window
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(60));
    let (mut vi, vi_lost) = collect(reader, waiting, left).await;
    ticker.abort();

    println!("\nFreshness at real speed (change at the provider → record in the app's feed)");
    let (fm, fp) = quantiles(&mut fx);
    println!(
        "  Fortnox, stream:  {} changes, median {fm:.2} s, p95 {fp:.2} s, max {:.2} s (target p95 ≤ 30 s){}",
        fx.len(),
        fx.last().copied().unwrap_or(0.0),
        if fx_lost > 0 { format!(", {fx_lost} never arrived") } else { String::new() }
    );
    if fp > 30.0 || fx_lost > 0 {
        failures.push(format!("Fortnox p95 {fp:.1} s, {fx_lost} lost"));
    }
    if vi.is_empty() {
        println!("  Visma: not measured (FRESHNESS_VISMA_MINUTES={minutes})");
        if minutes > 0 {
            failures.push("no Visma change measured".into());
        }
    } else {
        let (vm, vp) = quantiles(&mut vi);
        let target = interval as f64 + 30.0;
        println!(
            "  Visma, polls every {interval} s: {} changes over {minutes} min, median {vm:.1} s, p95 {vp:.1} s, max {:.1} s (target p95 ≤ {target:.0} s){}",
            vi.len(),
            vi.last().copied().unwrap_or(0.0),
            if vi_lost > 0 { format!(", {vi_lost} never arrived") } else { String::new() }
        );
        if vp > target || vi_lost > 0 {
            failures.push(format!("Visma p95 {vp:.1} s, {vi_lost} lost"));
        }
    }
    let visma_jobs_an_hour = 3600 / interval.max(1);
    println!("\nProvider requests per idle integration-hour");
    println!(
        "  Fortnox: {fortnox_idle} a scheduled job × 1 job an hour = {fortnox_idle} (the stream: none while nothing changes)"
    );
    // The hour's poll with projects and articles, the others with customers and invoices.
    let between = visma_jobs_an_hour.saturating_sub(1);
    println!(
        "  Visma:   {visma_idle} the hour's poll (every entity) + {visma_idle_between} a poll × {between} others (customers and invoices) = {}",
        visma_idle as u64 + visma_idle_between as u64 * between
    );
    if failures.is_empty() {
        println!("\nall targets met");
        Ok(())
    } else {
        eprintln!("\nmissed: {}", failures.join("; "));
        std::process::exit(1);
    }
}
