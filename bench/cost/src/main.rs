//! What one connected integration costs in AWS a month.
//!
//! A day in the life of a Fortnox and a Visma integration runs in the devstack at compressed
//! time: the scheduler runs for each five-minute slot of a virtual day (Fortnox hourly, Visma
//! polls, the nightly sweep), the app upserts and reads its feeds, and people change customers
//! in the accounting systems (Fortnox's reach the app through its event stream). One token
//! refresh is measured on its own and counted 24 times a day. The devstack's AWS proxy counts
//! every request and bills DynamoDB's capacity by item size (`devstack::metering`); every
//! function's invocations and milliseconds are metered. Priced at `prices.rs` for 100, 1,000
//! and 10,000 integrations (half each provider), app-wide costs shared out. Target: ≤ $0.50 per
//! integration-month at 10,000. Exits non-zero on a miss.
//!
//! Knobs (per integration and day): `COST_APP_CUSTOMERS` (10), `COST_APP_INVOICES` (20),
//! `COST_PROVIDER_CHANGES` (10), `COST_FEED_READS_PER_HOUR` (12: each reads the customers and
//! invoices in one request, `GET /records?entities=customers,invoices`; `COST_FEED_SEPARATE=1`
//! reads each entity's own feed instead), `COST_RECORDS` (records stored per integration,
//! 5,000), `COST_PROVIDER_MS` (provider latency, 300), `COST_AWS_MS` (the latency of an AWS
//! request of the worker, the scheduler or the watchdog, billed instead of their measured
//! waits on moto, 10), `COST_HOURS` (24; fewer for a quick look only).

mod compressed;
mod polls;
mod prices;
mod usage;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use devstack::{metering, Stack, StackOptions};
use reqwest::Method;
use sandbox::ProviderKind as SandboxKind;
use serde_json::json;
use shared::domain::ProviderKind;
use shared::jobs::maintenance::{schedule, visma_poll_seconds, watchdog};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use usage::Usage;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TARGET_USD: f64 = 0.50;
const SLOTS_A_DAY: usize = 288;
const MONTH_DAYS: f64 = 30.0;
const MONTH_SECONDS: f64 = MONTH_DAYS * 86_400.0;

/// Hours of the virtual day to run (`COST_HOURS`, 24): fewer only for a quick look, the day
/// then counted as if every hour were like its first ones (the night's sweeps and the working
/// day's churn fall where they fall).
fn hours() -> usize {
    knob("COST_HOURS", 24.0).clamp(1.0, 24.0) as usize
}

fn knob(k: &str, d: f64) -> f64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(d)
}

/// The functions' log lines, counted as CloudWatch would ingest them.
static LOG_EVENTS: AtomicU64 = AtomicU64::new(0);
static LOG_BYTES: AtomicU64 = AtomicU64::new(0);
/// Jobs the scheduler made, and integrations it skipped (a job of the period already there).
static SCHEDULED: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// `COST_SHOW_LOGS=1`: the counted lines go to stderr as well.
static SHOW_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct CountingWriter;

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG_BYTES.fetch_add(buf.len() as u64, Ordering::Relaxed);
        let lines = buf.iter().filter(|b| **b == b'\n').count() as u64;
        LOG_EVENTS.fetch_add(lines, Ordering::Relaxed);
        if SHOW_LOGS.load(Ordering::Relaxed) {
            std::io::Write::write_all(&mut std::io::stderr(), buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The functions' logging as `shared::telemetry::init` sets it up in Lambda (JSON, INFO), into
/// a counter; the sandbox's, the devstack's and the bench's own lines are not the product's.
fn count_logs() {
    SHOW_LOGS.store(knob("COST_SHOW_LOGS", 0.0) > 0.0, Ordering::Relaxed);
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::prelude::*;
    let filter = shared::telemetry::log_filter(Some("INFO"), None)
        .with_target("sandbox", LevelFilter::OFF)
        .with_target("devstack", LevelFilter::OFF)
        .with_target("cost_per_integration", LevelFilter::OFF);
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(|| CountingWriter)
        .json()
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Starts every meter afresh.
fn reset(stack: &Stack) {
    if let Some(p) = &stack.aws_faults {
        p.set_faults(devstack::aws_faults::FaultConfig::default());
    }
    metering::reset();
    LOG_EVENTS.store(0, Ordering::Relaxed);
    LOG_BYTES.store(0, Ordering::Relaxed);
}

/// What was used since the last [`reset`]; keeps the sandbox's contract violations.
fn read(stack: &Stack, violations: &mut usize) -> Usage {
    let counts = stack
        .aws_faults
        .as_ref()
        .map(|p| p.counts())
        .unwrap_or_default();
    let provider = stack.sandbox.state.requests().len();
    *violations += stack.sandbox.state.contract_violations().len();
    stack.sandbox.state.clear_records();
    Usage::read(
        &counts,
        provider,
        (
            LOG_EVENTS.load(Ordering::Relaxed),
            LOG_BYTES.load(Ordering::Relaxed),
        ),
        aws_ms(),
    )
}

/// What a request to AWS is billed at in a function whose waits are metered (`COST_AWS_MS`,
/// 10 ms): DynamoDB answers in single-digit milliseconds; moto in tens, more as the day's items
/// pile up in its partitions.
fn aws_ms() -> f64 {
    knob("COST_AWS_MS", 10.0)
}

/// Waits until the sync queue is empty and nothing is in flight (read straight from moto,
/// not through the metered proxy), at most `limit`.
async fn drain(stack: &Stack, limit: Duration) -> bool {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let started = Instant::now();
    let mut quiet = 0;
    while started.elapsed() < limit {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&stack.queues.sync_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await;
        let busy: u64 = attrs
            .ok()
            .and_then(|a| a.attributes().cloned())
            .map(|m| m.values().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(1);
        quiet = if busy == 0 { quiet + 1 } else { 0 };
        if quiet >= 2 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    false
}

/// One integration of the day.
struct Tenant {
    tenant: String,
    id: String,
    provider: ProviderKind,
    cursors: BTreeMap<&'static str, u64>,
}

impl Tenant {
    fn kind(&self) -> SandboxKind {
        system_tests::sandbox_kind(self.provider)
    }
}

/// Reads the integration's feed from its cursor, as the app does: `entities` is one entity (its
/// own route) or a comma-separated list (the feed of several in one request).
async fn read_feed(stack: &Stack, t: &mut Tenant, entities: &'static str) -> Result<(), BoxError> {
    let after = t.cursors.get(entities).copied().unwrap_or(0);
    let path = if entities.contains(',') {
        format!(
            "/api/integrations/{}/records?entities={entities}&after={after}&limit=500",
            t.id
        )
    } else {
        format!(
            "/api/integrations/{}/records/{entities}?after={after}&limit=500",
            t.id
        )
    };
    let r = stack
        .call(Method::GET, &path, Some(&t.tenant), None)
        .await?;
    if let Some(next) = r.json["next_cursor"].as_u64() {
        t.cursors.insert(entities, next);
    }
    Ok(())
}

/// Reads the customers' and invoices' feeds from the cursors, in one request (or one an entity,
/// `COST_FEED_SEPARATE=1`).
async fn read_feeds(stack: &Stack, t: &mut Tenant) -> Result<(), BoxError> {
    if knob("COST_FEED_SEPARATE", 0.0) > 0.0 {
        for e in ["customers", "invoices"] {
            read_feed(stack, t, e).await?;
        }
        Ok(())
    } else {
        read_feed(stack, t, "customers,invoices").await
    }
}

/// Slot numbers (of 288 in the day) at which `n` events fall, spread over the working day
/// (07:00–17:00 UTC).
fn spread(n: usize) -> Vec<usize> {
    (0..n).map(|j| 84 + j * 120 / n.max(1)).collect()
}

/// Calls the scheduler and the watchdog for the virtual time `at`, metered as their
/// functions, and waits for the jobs.
async fn tick(stack: &Stack, at: DateTime<Utc>) -> Result<(), BoxError> {
    let hosts = compressed::containers(stack);
    let t = Instant::now();
    let r = schedule(&compressed::Compressed(&hosts.scheduler), at).await?;
    SCHEDULED.fetch_add(r.enqueued as u64, Ordering::Relaxed);
    SKIPPED.fetch_add(r.skipped as u64, Ordering::Relaxed);
    metering::invoked("scheduler", t.elapsed());
    let t = Instant::now();
    watchdog(&hosts.watchdog, at).await?;
    metering::invoked("watchdog", t.elapsed());
    if !drain(stack, Duration::from_secs(60)).await {
        eprintln!("  the jobs of {at} still run after 60 s");
    }
    Ok(())
}

/// The virtual day: every slot's scheduler run, churn and feed reads.
async fn day(stack: &Stack, tenants: &mut [Tenant], day0: DateTime<Utc>) -> Result<(), BoxError> {
    let app_customers = spread(knob("COST_APP_CUSTOMERS", 10.0) as usize);
    let app_invoices = spread(knob("COST_APP_INVOICES", 20.0) as usize);
    let changes = spread(knob("COST_PROVIDER_CHANGES", 10.0) as usize);
    let reads_per_hour = knob("COST_FEED_READS_PER_HOUR", 12.0).clamp(0.0, 12.0) as usize;
    let mut made = 0usize;
    for hour in 0..hours() {
        // The hour's last slot first: its run creates the hour's Fortnox job at a virtual time
        // by which the job is due, so no SQS delay holds it (virtual time is in the past, the
        // worker's clock is real). The other slots follow in order.
        for s in std::iter::once(11).chain(0..11) {
            let slot = hour * 12 + s;
            let at = day0 + ChronoDuration::seconds(slot as i64 * 300 + 299);
            for t in tenants.iter_mut() {
                let n = app_customers.iter().filter(|x| **x == slot).count();
                for _ in 0..n {
                    made += 1;
                    let c = system_tests::customer_json(1000 + made, "", Utc::now());
                    system_tests::upsert(stack, &t.tenant, &t.id, "customers", vec![c]).await;
                }
                let n = app_invoices.iter().filter(|x| **x == slot).count();
                for _ in 0..n {
                    made += 1;
                    let inv = system_tests::invoice_json(made, made % 20, t.provider);
                    system_tests::upsert(stack, &t.tenant, &t.id, "invoices", vec![inv]).await;
                }
                for (j, _) in changes.iter().enumerate().filter(|(_, x)| **x == slot) {
                    let key = stack.sandbox.state.default_company_key(t.kind());
                    let ids = provider_customer_ids(stack, t.kind());
                    if let Some(rid) = ids.get(j % ids.len().max(1)) {
                        let name = format!("Ändrad {slot}-{j}");
                        stack
                            .sandbox
                            .state
                            .modify_customer(t.kind(), &key, rid, |v| v["Name"] = json!(name));
                    }
                }
                if reads_per_hour > 0 && s % (12 / reads_per_hour).max(1) == 0 {
                    read_feeds(stack, t).await?;
                }
            }
            tick(stack, at).await?;
        }
        let mut states = Vec::new();
        for t in tenants.iter() {
            let i = system_tests::integration(stack, &t.tenant, &t.id).await;
            states.push(format!("{} {:?}", t.provider.as_str(), i.status));
        }
        eprintln!(
            "  hour {hour:>2} of the virtual day done: {} jobs scheduled, {} skipped; {}",
            SCHEDULED.load(Ordering::Relaxed),
            SKIPPED.load(Ordering::Relaxed),
            states.join(", ")
        );
    }
    Ok(())
}

fn provider_customer_ids(stack: &Stack, kind: SandboxKind) -> Vec<String> {
    let key = stack.sandbox.state.default_company_key(kind);
    stack.sandbox.state.customer_ids(kind, &key)
}

/// Makes the stored access token of `t` look expired (the provider's copy stays valid), so
/// that a container without it cached refreshes it.
async fn age_secret(stack: &Stack, t: &Tenant) -> Result<(), BoxError> {
    let i = system_tests::integration(stack, &t.tenant, &t.id).await;
    let mut s: shared::domain::TokenSecret = stack
        .direct
        .vault
        .read(&i.secret_name)
        .await?
        .ok_or("no token secret")?;
    if let Some(tokens) = s.tokens.as_mut() {
        tokens.expires_at = Utc::now() - ChronoDuration::minutes(1);
    }
    stack.direct.vault.write(&i.secret_name, &s).await?;
    Ok(())
}

/// One incremental job of `t`, queued as the scheduler queues it, and waited for (with nothing
/// pulled yet, the first sync).
async fn sync_job(stack: &Stack, t: &Tenant) -> Result<(), BoxError> {
    use shared::domain::{Direction, Entity, Mode, Trigger};
    let i = system_tests::integration(stack, &t.tenant, &t.id).await;
    let req = shared::jobs::JobRequest {
        direction: Direction::Both,
        entities: Entity::ALL.to_vec(),
        mode: Mode::Incremental,
        trigger: Trigger::Schedule,
        target: None,
        not_before: None,
    };
    shared::jobs::enqueue(&stack.ctx, &i, &req).await?;
    drain(stack, Duration::from_secs(120)).await;
    Ok(())
}

/// What one token refresh uses, per integration: an idle job in a new container whose stored
/// token has run out, less the same job once the new token is cached. Both providers' access
/// tokens live an hour, so an integration whose jobs run all day refreshes 24 times a day.
async fn refresh_unit(
    stack: &Stack,
    tenants: &[Tenant],
    violations: &mut usize,
) -> Result<Usage, BoxError> {
    stack.kill_workers();
    stack.start_workers(1);
    let mut unit = Usage::default();
    for t in tenants {
        age_secret(stack, t).await?;
        reset(stack);
        sync_job(stack, t).await?;
        let with = read(stack, violations);
        sync_job(stack, t).await?;
        let without = read(stack, violations);
        unit = unit.plus(&with.minus(&without));
    }
    Ok(unit.times(1.0 / tenants.len() as f64))
}

/// Bytes the table holds per record of the app (DynamoDB bills each item's size plus 100
/// bytes), and the secrets per integration.
async fn storage(stack: &Stack, integrations: usize) -> Result<(f64, f64), BoxError> {
    let db = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.vars.get("TABLE_NAME").cloned().unwrap_or_default();
    let (mut bytes, mut records, mut start) = (0u64, 0u64, None);
    loop {
        let page = db
            .scan()
            .table_name(&table)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in page.items() {
            // The item as JSON, the shape the meter sizes.
            let json: serde_json::Map<String, serde_json::Value> = item
                .iter()
                .map(|(k, v)| (k.clone(), attribute_json(v)))
                .collect();
            bytes += devstack::metering::item_size(&json) + 100;
            if item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s.starts_with("LOCAL#"))
            {
                records += 1;
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    let sm = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    let prefix = stack.vars.get("SECRET_PREFIX").cloned().unwrap_or_default();
    let secrets = sm
        .list_secrets()
        .max_results(100)
        .send()
        .await?
        .secret_list()
        .iter()
        .filter(|s| s.name().is_some_and(|n| n.starts_with(&prefix)))
        .count();
    Ok((
        bytes as f64 / records.max(1) as f64,
        secrets as f64 / integrations as f64,
    ))
}

fn attribute_json(v: &aws_sdk_dynamodb::types::AttributeValue) -> serde_json::Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match v {
        A::S(s) => json!({"S": s}),
        A::N(n) => json!({"N": n}),
        A::Bool(b) => json!({"BOOL": b}),
        A::M(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect::<serde_json::Map<_, _>>()})
        }
        A::L(l) => json!({"L": l.iter().map(attribute_json).collect::<Vec<_>>()}),
        A::Ss(l) => json!({"SS": l}),
        _ => json!({"NULL": true}),
    }
}

fn usd(x: f64) -> String {
    if x >= 1.0 {
        format!("${x:.2}")
    } else {
        format!("${x:.4}")
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    count_logs();
    let provider_ms = knob("COST_PROVIDER_MS", 300.0);
    let records_each = knob("COST_RECORDS", 5000.0);
    let memory = usage::template_memory(&std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../template.yaml"
    ))?);
    let stack: &'static Stack = Box::leak(Box::new(
        Stack::start(StackOptions {
            workers: 2,
            aws_faults: true,
            // Time runs about 150 times faster here: a change stays inside the pull's overlap
            // window (120 s) for about as many polls as it would at real speed, not 100 times
            // more.
            env: [("PULL_OVERLAP_SECONDS".to_string(), "1".to_string())]
                .into_iter()
                .collect(),
            ..StackOptions::default()
        })
        .await?,
    ));
    let mut violations = 0;

    // Onboarding (once per integration): consent, the first full sync of a company with 50
    // customers, the app's first 20 customers exported.
    for kind in [SandboxKind::Fortnox, SandboxKind::Visma] {
        let key = stack.sandbox.state.default_company_key(kind);
        stack.sandbox.state.seed_customers(kind, &key, 50);
    }
    reset(stack);
    let mut tenants = Vec::new();
    for (tenant, provider) in [
        ("cost-fortnox", ProviderKind::Fortnox),
        ("cost-visma", ProviderKind::Visma),
    ] {
        let (id, _) = stack.connect(tenant, provider, true).await?;
        let first: Vec<_> = (0..20)
            .map(|i| system_tests::customer_json(i, "", Utc::now()))
            .collect();
        system_tests::upsert(stack, tenant, &id, "customers", first).await;
        tenants.push(Tenant {
            tenant: tenant.into(),
            id,
            provider,
            cursors: BTreeMap::new(),
        });
    }
    drain(stack, Duration::from_secs(300)).await;
    // The first sync (nothing is pulled yet: every record comes) and the app's first read of
    // its feeds, so that the day starts in the steady state it prices.
    for t in &mut tenants {
        sync_job(stack, t).await?;
        read_feeds(stack, t).await?;
    }
    let onboarding = read(stack, &mut violations).times(0.5);

    // The stream's own idle use, a fixed cost of the app: 20 s with nothing else running.
    let stream = stack.start_stream(Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(3)).await;
    reset(stack);
    let idle_window = Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let stream_idle = read(stack, &mut violations).times(1.0 / idle_window.elapsed().as_secs_f64());

    // The day.
    let day0 = (Utc::now() - ChronoDuration::days(2)).duration_trunc(ChronoDuration::days(1))?;
    reset(stack);
    let wall = Instant::now();
    day(stack, &mut tenants, day0).await?;
    if !drain(stack, Duration::from_secs(900)).await {
        return Err("the day's jobs did not finish".into());
    }
    let wall = wall.elapsed().as_secs_f64();
    let day_kinds = stack
        .aws_faults
        .as_ref()
        .map(|p| p.kinds())
        .unwrap_or_default();
    let day_use = read(stack, &mut violations).times(24.0 / hours() as f64);
    drop(stream);
    let idle = polls::IdlePolls::measure(stack, day0, &mut violations).await?;
    let visma_poll = idle.mean.clone();
    let refresh = refresh_unit(stack, &tenants, &mut violations).await?;
    let (bytes_per_record, secrets_each) = storage(stack, tenants.len()).await?;

    // Per integration-day, without what is app-wide: the stream's idle use over the day's wall
    // time and the scheduler's and watchdog's invocations (counted below once for the app).
    let app_runs = day_use.only_function("watchdog").plus(&Usage {
        lambda: [(
            "scheduler".to_string(),
            (day_use.lambda.get("scheduler").map_or(0.0, |x| x.0), 0.0),
        )]
        .into_iter()
        .collect(),
        ..Usage::default()
    });
    let per_day = day_use
        .minus(&stream_idle.times(wall * 24.0 / hours() as f64))
        .minus(&app_runs)
        .times(1.0 / tenants.len() as f64)
        .plus(&refresh.times(24.0));
    let poll_unit = visma_poll
        .minus(&visma_poll.only_function("watchdog"))
        .minus(&Usage {
            lambda: [(
                "scheduler".to_string(),
                (visma_poll.lambda.get("scheduler").map_or(0.0, |x| x.0), 0.0),
            )]
            .into_iter()
            .collect(),
            ..Usage::default()
        });

    // App-wide, a month: the stream (one run always holding the socket at 128 MB, a run a
    // minute that finds it held), the scheduler's and watchdog's runs, the event source
    // mappings' idle long polls (five pollers a queue, a 20 s poll each), the key, the
    // provider credentials' secret and the alarms.
    let runs = MONTH_SECONDS / 300.0;
    let watchdog_ms = day_use
        .lambda
        .get("watchdog")
        .map_or(0.0, |(n, ms)| ms / n.max(1.0));
    let mut fixed_use = stream_idle.times(MONTH_SECONDS);
    fixed_use.lambda.insert(
        "stream".into(),
        (MONTH_SECONDS / 60.0, MONTH_SECONDS * 1000.0),
    );
    fixed_use.lambda.insert("scheduler".into(), (runs, 0.0));
    fixed_use
        .lambda
        .insert("watchdog".into(), (runs, runs * watchdog_ms));
    fixed_use.calls.insert(
        "sqs-esm:idle long polls".into(),
        2.0 * 5.0 * 3.0 * MONTH_SECONDS / 60.0,
    );
    let alarms = include_str!("../../../template.yaml")
        .matches("Type: AWS::CloudWatch::Alarm")
        .count() as f64;
    let mut fixed = fixed_use.cost(&memory, 0.0);
    fixed.insert("KMS key", prices::KMS_KEY_MONTH);
    fixed.insert("Secrets (provider credentials)", prices::SECRET_MONTH);
    fixed.insert("CloudWatch alarms", alarms * prices::ALARM_MONTH);
    fixed.insert(
        "EventBridge Scheduler",
        0.0 * prices::SCHEDULER_INVOCATION, // ~60,000 a month: inside the free 14 million
    );
    let fixed_total: f64 = fixed.values().sum();

    println!(
        "\nCost per integration-month (prices of {}, eu-north-1 upper bounds, prices.rs)",
        prices::AS_OF
    );
    println!(
        "virtual day: {} slots in {wall:.0} s wall (a day: {SLOTS_A_DAY}); {} provider requests a day per integration (+{provider_ms:.0} ms each billed to the worker); contract violations: {violations}",
        hours() * 12, per_day.provider_requests
    );
    println!("\nAWS requests per integration-day (without the app-wide):");
    for (k, v) in per_day.calls.iter().filter(|(_, v)| **v >= 0.05) {
        println!("  {k:<40} {v:>9.1}");
    }
    println!(
        "  DynamoDB capacity: {:.1} WRU, {:.1} RRU; Lambda: {}",
        per_day.wru,
        per_day.rru,
        per_day
            .lambda
            .iter()
            .map(|(f, (n, ms))| format!("{f} {n:.1}× {:.0} ms", ms / n.max(1.0)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (f, (n, waited, modelled)) in &per_day.aws_waits {
        println!(
            "  the {f}'s waits on AWS: {n:.0} requests waited {waited:.0} ms on moto, billed as {modelled:.0} ms ({:.0} ms a request)",
            aws_ms()
        );
    }
    let mut top: Vec<_> = day_kinds.iter().collect();
    top.sort_by_key(|(_, u)| std::cmp::Reverse(u.write_units * 2 + u.read_halves / 4));
    println!("\nthe day's DynamoDB by operation and item, per integration-day: requests, WRU, RRU (the ten largest)");
    let per = 24.0 / hours() as f64 / tenants.len() as f64;
    for (kind, u) in top.iter().take(10) {
        println!(
            "  {kind:<40} {:>7.0} {:>7.0} {:>7.0}",
            u.requests as f64 * per,
            u.write_units as f64 * per,
            u.read_halves as f64 / 2.0 * per
        );
    }
    idle.print();
    let onboarding_usd: f64 = onboarding.cost(&memory, provider_ms).values().sum();
    println!("onboarding (once): {} per integration", usd(onboarding_usd));
    println!(
        "storage: {bytes_per_record:.0} bytes per record × {records_each:.0} records; {secrets_each:.1} secrets per integration"
    );
    println!("\napp-wide fixed, a month: {}", usd(fixed_total));
    for (k, v) in fixed.iter().filter(|(_, v)| **v > 0.0) {
        println!("  {k:<32} {}", usd(*v));
    }

    let mut missed = false;
    for n in [100u64, 1_000, 10_000] {
        let visma = n / 2;
        let polls = 86_400.0 / visma_poll_seconds(visma) as f64;
        // Half the integrations are Visma's, polled less often at scale than in the day.
        let fewer = (SLOTS_A_DAY as f64 - polls) * 0.5;
        let month = per_day.minus(&poll_unit.times(fewer)).times(MONTH_DAYS);
        let mut lines = month.cost(&memory, provider_ms);
        lines.insert(
            "DynamoDB storage",
            bytes_per_record * records_each / 1e9 * prices::DYNAMODB_GB_MONTH,
        );
        lines.insert("Secrets (tokens)", secrets_each * prices::SECRET_MONTH);
        lines.insert("app-wide fixed, shared", fixed_total / n as f64);
        let total: f64 = lines.values().sum();
        let (top, top_usd) = lines
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, v)| (*k, *v))
            .unwrap_or(("", 0.0));
        println!(
            "\n{n:>6} integrations (Visma polled every {} s): {} per integration-month{}",
            visma_poll_seconds(visma),
            usd(total),
            if n == 10_000 {
                format!(" (target ≤ {})", usd(TARGET_USD))
            } else {
                String::new()
            }
        );
        let mut sorted: Vec<_> = lines.iter().collect();
        sorted.sort_by(|a, b| b.1.total_cmp(a.1));
        for (k, v) in sorted.iter().filter(|(_, v)| **v > 0.0) {
            println!("  {k:<32} {:>9} {:>5.1} %", usd(**v), **v / total * 100.0);
        }
        println!(
            "  dominated by: {top} ({:.0} %); without the token secret: {}",
            top_usd / total * 100.0,
            usd(total - lines["Secrets (tokens)"])
        );
        if n == 10_000 && total > TARGET_USD {
            missed = true;
        }
    }
    if violations > 0 {
        eprintln!("FAIL: {violations} contract violations at the sandbox");
        missed = true;
    }
    if missed {
        eprintln!("FAIL: a target was missed");
        std::process::exit(1);
    }
    println!("\nall targets met");
    Ok(())
}
