//! `cargo run --release -p sync-throughput`: measures, for Fortnox,
//! 1. provider list requests used to pull 10,000 customers (target: exactly ceil(10,000 / 500)),
//! 2. DynamoDB write calls per 1,000 pulled records,
//! 3. export throughput through the worker (SQS → worker → engine → client → sandbox) divided by
//!    the provider's ceiling (target ≥ 0.95), the 429s drawn (target 0), and the shared
//!    limiter's reservations per 1,000 provider requests under that steady load (target ≤ 60).
//!
//! Everything runs locally: moto, the sandbox with Fortnox's real window shape (25 requests per
//! sliding 5 s), time-scaled so the run takes seconds. Exits non-zero when a target is missed.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use devstack::{Stack, StackOptions};
use shared::domain::{Direction, Entity, JobState, Mode, ProviderKind, TenantId, Trigger};
use shared::jobs::{new_job, JobRequest};
use shared::sync::{run_slice, SliceOutcome};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TIME_SCALE: f64 = 10.0;
const CUSTOMERS: usize = 10_000;
const EXPORTS: usize = 300;
/// The export runs at Fortnox's real window: its own 25 requests per sliding 5 s.
const EXPORT_TIME_SCALE: f64 = 1.0;

/// Counts DynamoDB write operations as they leave the SDK: the sync engine's, and the shared
/// rate limiter's (its items are keyed `RATELIMIT#…`) apart.
#[derive(Debug, Default, Clone)]
struct WriteCounter(Arc<AtomicU64>, Arc<AtomicU64>);

impl Intercept for WriteCounter {
    fn name(&self) -> &'static str {
        "WriteCounter"
    }
    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        let op = target.rsplit('.').next().unwrap_or_default();
        if matches!(
            op,
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
        ) {
            let body = ctx.request().body().bytes().unwrap_or_default();
            let limiter = String::from_utf8_lossy(body).contains("RATELIMIT#");
            if limiter { &self.1 } else { &self.0 }.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn options() -> StackOptions {
    let mut opts = StackOptions {
        workers: 0,
        ..StackOptions::default()
    };
    opts.sandbox.time_scale = TIME_SCALE;
    opts.env.insert(
        "FORTNOX_RATE_LIMIT_WINDOW_MS".into(),
        ((5000.0 / TIME_SCALE) as u64).to_string(),
    );
    opts
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let stack = Stack::start(options()).await?;
    let tenant = "bench-tenant";
    let (id, _) = stack.connect(tenant, ProviderKind::Fortnox, true).await?;
    let kind = sandbox::ProviderKind::Fortnox;
    let key = stack.sandbox.state.default_company_key(kind);
    let mut failures = Vec::new();

    // 1 and 2: a full pull of 10,000 customers, counted at the sandbox and at the SDK.
    stack.sandbox.state.seed_customers(kind, &key, CUSTOMERS);
    let counter = WriteCounter::default();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
            .interceptor(counter.clone())
            .build(),
    );
    let config = shared::Config::from_lookup(|k| stack.vars.get(k).cloned())?;
    let ctx = shared::AppContext::new_with_dynamodb(config, &stack.sdk, ddb);
    let integration = ctx
        .db
        .get_integration(&TenantId::parse(tenant).ok_or("tenant")?, &id)
        .await?
        .ok_or("integration")?;
    let mut job = new_job(
        &integration,
        // The first pull of an integration: no checkpoint yet, so everything is read.
        &JobRequest {
            direction: Direction::Pull,
            entities: vec![Entity::Customers],
            mode: Mode::Incremental,
            trigger: Trigger::Manual,
            target: None,
            not_before: None,
        },
        chrono::Utc::now(),
    );
    ctx.db.create_job(&job).await?;
    job.state = JobState::Running;
    ctx.db.save_job(&mut job).await?;
    stack.sandbox.state.clear_records();
    let writes_before = counter.0.load(Ordering::Relaxed);
    let limiter_before = counter.1.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut slices = 0;
    loop {
        slices += 1;
        match run_slice(&ctx, &integration, &mut job, Duration::from_secs(60)).await? {
            SliceOutcome::Finished => break,
            SliceOutcome::MoreWork | SliceOutcome::Settling(_) => continue,
        }
    }
    let pull_time = started.elapsed();
    let writes = counter.0.load(Ordering::Relaxed) - writes_before;
    let limiter_writes = counter.1.load(Ordering::Relaxed) - limiter_before;
    let requests = stack.sandbox.state.requests();
    let lists = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/3/customers")
        .count();
    let expected_lists = CUSTOMERS.div_ceil(500);
    let per_thousand = writes as f64 * 1000.0 / job.progress.done.max(1) as f64;
    println!(
        "pull of {CUSTOMERS} Fortnox customers ({slices} slice(s), {:.1} s):",
        pull_time.as_secs_f64()
    );
    println!("  records pulled:                 {}", job.progress.done);
    println!("  list requests:                  {lists} (target exactly {expected_lists})");
    println!(
        "  all provider requests:          {} (Fortnox list items lack fields of the canonical customer, so each new record is read once in full)",
        requests.len()
    );
    println!(
        "  DynamoDB write calls (sync):    {writes} ({per_thousand:.1} per 1,000 pulled records)"
    );
    println!(
        "  DynamoDB write calls (limiter): {limiter_writes} ({:.1} per 1,000 provider requests)",
        limiter_writes as f64 * 1000.0 / requests.len().max(1) as f64
    );
    if lists != expected_lists {
        failures.push(format!("{lists} list requests, expected {expected_lists}"));
    }
    if job.progress.done != CUSTOMERS as u64 {
        failures.push(format!(
            "pulled {} records, expected {CUSTOMERS}",
            job.progress.done
        ));
    }

    // 3: export through the worker at Fortnox's real window (25 requests per sliding 5 s),
    // with the production slice length (the devstack's default is shorter, to show slicing).
    drop(ctx);
    let mut opts = StackOptions {
        workers: 0,
        ..StackOptions::default()
    };
    opts.env.insert("SLICE_SECONDS".into(), "60".into());
    let stack = Stack::start(opts).await?;
    let (id, _) = stack.connect(tenant, ProviderKind::Fortnox, true).await?;
    stack.sandbox.state.clear_records();
    let now = chrono::Utc::now();
    let records: Vec<serde_json::Value> = (0..EXPORTS)
        .map(|i| {
            serde_json::json!({"id": format!("bench-{i:05}"), "name": format!("Benchkund {i} AB"),
                "address": {"line1": "Storgatan 1", "postal_code": "111 22", "city": "Stockholm", "country_code": "SE"},
                "updated_at": now})
        })
        .collect();
    for chunk in records.chunks(100) {
        let r = stack
            .call(
                reqwest::Method::POST,
                &format!("/api/integrations/{id}/records/customers"),
                Some(tenant),
                Some(serde_json::json!({"records": chunk})),
            )
            .await?;
        if r.status != 202 {
            return Err(format!("upsert answered {}: {}", r.status, r.text).into());
        }
    }
    let job_id = stack.ctx.db.list_jobs(&id, 1).await?[0].id.clone();
    let reserved_before = reservations(&stack).await?;
    stack.start_workers(1);
    let done = stack
        .wait_for_job(&id, &job_id, Duration::from_secs(600))
        .await?;
    let reqs = stack.sandbox.state.requests();
    let posts: Vec<_> = reqs.iter().filter(|r| r.path.starts_with("/3/")).collect();
    let (first, last) = (posts.first().map(|r| r.at), posts.last().map(|r| r.at));
    let span = match (first, last) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default().as_secs_f64(),
        _ => 0.0,
    };
    let ceiling = 25.0 / (5.0 / EXPORT_TIME_SCALE);
    // Requests per second between the first and the last request (n requests span n - 1
    // intervals), against the provider's stated ceiling of 25 per 5 s = 5 per second.
    let achieved = if span > 0.0 {
        (posts.len() as f64 - 1.0) / span
    } else {
        0.0
    };
    let ratio = achieved / ceiling;
    let throttled = stack.sandbox.state.rate_limited_count(kind);
    println!(
        "export of {EXPORTS} customers through the worker ({:?}, {} slices):",
        done.state, done.slices
    );
    println!(
        "  provider requests:              {} in {span:.2} s",
        posts.len()
    );
    println!("  achieved / ceiling:             {achieved:.1} / {ceiling:.1} req/s = {ratio:.3} (target >= 0.95)");
    println!("  429s from the provider:         {throttled} (target 0)");
    let reserved = reservations(&stack).await? - reserved_before;
    let per_thousand = reserved as f64 * 1000.0 / posts.len().max(1) as f64;
    println!(
        "  limiter reservations:           {reserved} ({per_thousand:.1} per 1,000 provider requests, target <= 60)"
    );
    if per_thousand > 60.0 {
        failures.push(format!(
            "{per_thousand:.1} limiter writes per 1,000 requests"
        ));
    }
    if done.state != JobState::Succeeded {
        failures.push(format!("export job ended {:?}", done.state));
    }
    if ratio < 0.95 {
        failures.push(format!("export ran at {ratio:.3} of the ceiling"));
    }
    if throttled > 0 {
        failures.push(format!("{throttled} 429s"));
    }
    if failures.is_empty() {
        println!("all targets met");
        Ok(())
    } else {
        Err(format!("targets missed: {}", failures.join("; ")).into())
    }
}

/// Reservations made so far in every rate-limit bucket (each one conditional write; the items
/// count them, see `shared::store::ratelimit`).
async fn reservations(stack: &Stack) -> Result<u64, BoxError> {
    let out = stack
        .ctx
        .db
        .client()
        .scan()
        .table_name(stack.ctx.db.table())
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("RATELIMIT#".into()),
        )
        .send()
        .await?;
    Ok(out
        .items()
        .iter()
        .filter_map(|i| i.get("reservations"))
        .filter_map(|v| v.as_n().ok())
        .filter_map(|v| v.parse::<u64>().ok())
        .sum())
}
