//! `cargo run --release -p webhook-load [-- --deliveries 1000 --senders 50 --duplicates 0.1]`
//!
//! Starts the devstack (moto, the sandbox, the functions on loopback; no worker, so every
//! queued job stays on the queue to be counted), connects a Fortnox integration, takes its
//! webhook key from the rotation endpoint, and sends signed deliveries from concurrent
//! senders. A tenth are duplicates of earlier events; half of those are sent right behind
//! their original, so the two race on different senders. Then checks:
//! - no error answers (only 202 accepted and 200 duplicate);
//! - every distinct event got exactly one 202, every duplicate a 200;
//! - every distinct event is on the queue exactly once, as a stored webhook job aimed at its
//!   record, and nothing else is.
//!
//! Prints throughput and latency percentiles (p50, p90, p99, max); exits 1 when a check fails.

use devstack::{Stack, StackOptions};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use shared::domain::{ProviderKind, Trigger};
use shared::webhooks::signature::sign_ours;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TENANT: &str = "load-tenant";

struct Args {
    deliveries: usize,
    senders: usize,
    duplicates: f64,
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        deliveries: 1000,
        senders: 50,
        duplicates: 0.1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--deliveries" => a.deliveries = value()?.parse()?,
            "--senders" => a.senders = value()?.parse()?,
            "--duplicates" => a.duplicates = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.deliveries == 0 || a.senders == 0 || !(0.0..0.5).contains(&a.duplicates) {
        return Err("--deliveries and --senders must be positive, --duplicates in [0, 0.5)".into());
    }
    Ok(a)
}

/// One distinct event.
struct Event {
    id: String,
    entity_id: String,
    body: Vec<u8>,
}

/// One answer.
struct Sent {
    event: usize,
    status: u16,
    latency: Duration,
    body: String,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("webhook-load: {e}");
            std::process::exit(2);
        }
    }
}

async fn run() -> Result<bool, BoxError> {
    let args = args()?;
    let stack = Stack::start(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await?;
    let (id, _) = stack.connect(TENANT, ProviderKind::Fortnox, true).await?;
    let rotated = stack
        .call(
            reqwest::Method::POST,
            &format!("/api/integrations/{id}/webhook-key/rotate"),
            Some(TENANT),
            Some(json!({})),
        )
        .await?;
    let key = rotated.json["key"]
        .as_str()
        .ok_or_else(|| format!("rotation answered {}: {}", rotated.status, rotated.text))?
        .to_string();
    let url = rotated.json["webhook_url"]
        .as_str()
        .ok_or("the rotation answer has no webhook_url")?
        .to_string();

    let (calls_per_s, call_p99) = emulator_baseline(&stack, &id, args.senders).await?;
    println!(
        "emulator baseline: {calls_per_s:.0} DynamoDB GetItem/s from {} tasks (p99 {:.1} ms); \
         a delivery costs 4 emulator calls (GetItem, 2 PutItem, SendMessage)",
        args.senders,
        call_p99.as_secs_f64() * 1000.0
    );

    let duplicates = (args.deliveries as f64 * args.duplicates).round() as usize;
    let distinct = args.deliveries - duplicates;
    let events: Vec<Event> = (0..distinct).map(event).collect();
    let plan = plan(distinct, duplicates, &mut StdRng::seed_from_u64(0x5eed));

    println!(
        "webhook-load: {} deliveries ({distinct} distinct events, {duplicates} duplicates) from {} senders to {url}",
        plan.len(),
        args.senders
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.senders)
        .build()?;
    let events = Arc::new(events);
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(Vec::with_capacity(plan.len())));
    let started = Instant::now();
    let senders: Vec<_> = (0..args.senders)
        .map(|_| {
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            let (events, plan, next, sent) =
                (events.clone(), plan.clone(), next.clone(), sent.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&e) = plan.get(i) else { break };
                    let body = &events[e].body;
                    let t0 = Instant::now();
                    // Signed at send time, as a real sender does.
                    let sig = sign_ours(key.as_bytes(), chrono::Utc::now().timestamp(), body);
                    let res = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-signature", sig)
                        .body(body.clone())
                        .send()
                        .await;
                    let (status, text) = match res {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            (s, r.text().await.unwrap_or_default())
                        }
                        Err(err) => (0, err.to_string()),
                    };
                    let latency = t0.elapsed();
                    if let Ok(mut v) = sent.lock() {
                        v.push(Sent {
                            event: e,
                            status,
                            latency,
                            body: text,
                        });
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.await?;
    }
    let wall = started.elapsed();
    let sent = std::mem::take(&mut *sent.lock().map_err(|_| "poisoned")?);

    let mut ok = true;
    let mut fail = |what: String| {
        println!("FAIL {what}");
        ok = false;
    };

    // Answers.
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for s in &sent {
        *by_status.entry(s.status).or_default() += 1;
    }
    let errors: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.status != 202 && s.status != 200)
        .collect();
    if !errors.is_empty() {
        fail(format!(
            "{} error answers, e.g. {} {}",
            errors.len(),
            errors[0].status,
            errors[0].body
        ));
    }
    if sent.len() != plan.len() {
        fail(format!(
            "{} answers for {} deliveries",
            sent.len(),
            plan.len()
        ));
    }
    let mut accepted: HashMap<usize, Vec<String>> = HashMap::new();
    let mut duplicate_answers = 0;
    for s in &sent {
        match s.status {
            202 => {
                let v: Value = serde_json::from_str(&s.body).unwrap_or(Value::Null);
                let job = v["job_id"].as_str().unwrap_or_default().to_string();
                accepted.entry(s.event).or_default().push(job);
            }
            200 => duplicate_answers += 1,
            _ => {}
        }
    }
    let twice: Vec<_> = accepted
        .iter()
        .filter(|(_, jobs)| jobs.len() != 1)
        .collect();
    if accepted.len() != distinct || !twice.is_empty() {
        fail(format!(
            "{} of {distinct} events accepted, {} accepted more than once (e.g. {})",
            accepted.len(),
            twice.len(),
            twice
                .first()
                .map(|(e, _)| events[**e].id.as_str())
                .unwrap_or("none")
        ));
    }
    if duplicate_answers != duplicates {
        fail(format!(
            "{duplicate_answers} duplicate answers for {duplicates} duplicates"
        ));
    }

    // The queue: one message per distinct event, for the job its 202 named.
    let messages = drain(&stack).await?;
    let mut queued: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *queued
            .entry(m["job_id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let answered: HashSet<String> = accepted.values().flatten().cloned().collect();
    let queued_twice = queued.values().filter(|n| **n > 1).count();
    let unanswered = queued.keys().filter(|j| !answered.contains(*j)).count();
    if messages.len() != distinct
        || queued_twice > 0
        || unanswered > 0
        || queued.len() != answered.len()
    {
        fail(format!(
            "{} messages on the queue for {distinct} events ({queued_twice} jobs queued twice, {unanswered} not from a 202)",
            messages.len()
        ));
    }

    // The stored jobs: webhook-triggered pulls of exactly the events' records.
    let keys: Vec<(String, String)> = queued.keys().map(|j| (id.clone(), j.clone())).collect();
    let jobs = stack.ctx.db.get_jobs(&keys).await?;
    let expected: HashSet<&str> = events.iter().map(|e| e.entity_id.as_str()).collect();
    let mut targets: HashMap<String, usize> = HashMap::new();
    for j in &jobs {
        if j.trigger != Trigger::Webhook {
            fail(format!("job {} has trigger {:?}", j.id, j.trigger));
        }
        let remote = j
            .target
            .as_ref()
            .and_then(|t| t.remote_id.clone())
            .unwrap_or_default();
        *targets.entry(remote).or_default() += 1;
    }
    let hit: HashSet<&str> = targets.keys().map(String::as_str).collect();
    if jobs.len() != distinct || hit != expected || targets.values().any(|n| *n != 1) {
        fail(format!(
            "{} stored jobs; {} of {distinct} records targeted exactly once",
            jobs.len(),
            targets.values().filter(|n| **n == 1).count()
        ));
    }

    // Report.
    let mut lat: Vec<Duration> = sent.iter().map(|s| s.latency).collect();
    lat.sort();
    let pct = |p: f64| lat[((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "answers: {}",
        by_status
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "queued: {} messages, {} distinct jobs, {} stored webhook jobs",
        messages.len(),
        queued.len(),
        jobs.len()
    );
    println!(
        "wall {:.2} s, throughput {:.0} deliveries/s",
        wall.as_secs_f64(),
        sent.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    println!(
        "{}",
        if ok {
            "OK: every distinct event queued exactly once, no error answers"
        } else {
            "FAILED"
        }
    );
    Ok(ok)
}

/// Event `i`: invoices and customers alternately, each about its own record.
fn event(i: usize) -> Event {
    // `% 2 == 1` rather than `is_multiple_of`, which is newer than the workspace's rust-version.
    let (kind, entity_id) = if i % 2 == 1 {
        ("customer.updated", format!("cus-{i}"))
    } else {
        ("invoice.updated", format!("inv-{i}"))
    };

    let id = format!("load-{i:05}");
    let body = json!({
        "id": id,
        "type": kind,
        "entity_id": entity_id,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    })
    .to_string()
    .into_bytes();
    Event {
        id,
        entity_id,
        body,
    }
}

/// The order of deliveries, as event indices: every event once, in random order, plus
/// `duplicates` repeats of random events. Half of the repeats go right behind their original
/// (two senders pick them up at once and race); the rest land anywhere later.
fn plan(distinct: usize, duplicates: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..distinct).collect();
    order.shuffle(rng);
    let repeated: Vec<usize> = (0..distinct)
        .collect::<Vec<_>>()
        .choose_multiple(rng, duplicates.min(distinct))
        .copied()
        .collect();
    let (racing, later) = repeated.split_at(repeated.len() / 2);
    // The later ones first, so that no later insertion splits a racing pair.
    for &e in later {
        let at = order.iter().position(|x| *x == e).unwrap_or(0);
        let to = rng.random_range(at + 1..=order.len());
        order.insert(to, e);
    }
    for &e in racing {
        let at = order.iter().position(|x| *x == e).unwrap_or(0);
        order.insert(at + 1, e);
    }
    order
}

/// How fast the local AWS emulator answers on its own, for scale: `tasks` concurrent tasks
/// each reading the integration 8 times. Gives calls per second and the p99 of one call.
async fn emulator_baseline(
    stack: &Stack,
    integration_id: &str,
    tasks: usize,
) -> Result<(f64, Duration), BoxError> {
    let tenant = shared::domain::TenantId::parse(TENANT).ok_or("tenant")?;
    let started = Instant::now();
    let runs = (0..tasks).map(|_| {
        let (ctx, tenant, id) = (
            stack.ctx.clone(),
            tenant.clone(),
            integration_id.to_string(),
        );
        tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in 0..8 {
                let t0 = Instant::now();
                ctx.db.get_integration(&tenant, &id).await?;
                lat.push(t0.elapsed());
            }
            Ok::<_, shared::store::StoreError>(lat)
        })
    });
    let mut lat = Vec::new();
    for r in runs.collect::<Vec<_>>() {
        lat.extend(r.await??);
    }
    let wall = started.elapsed();
    lat.sort();
    let p99 = lat[((0.99 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1];
    Ok((lat.len() as f64 / wall.as_secs_f64(), p99))
}

/// Every message on the sync queue (each hidden for 15 minutes once read).
async fn drain(stack: &Stack) -> Result<Vec<Value>, BoxError> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 3 {
        let r = stack
            .ctx
            .queue
            .client()
            .receive_message()
            .queue_url(&stack.queues.sync_url)
            .max_number_of_messages(10)
            .visibility_timeout(900)
            .send()
            .await?;
        if r.messages().is_empty() {
            empty += 1;
            continue;
        }
        for m in r.messages() {
            out.push(serde_json::from_str(m.body().unwrap_or_default())?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_sends_every_event_once_plus_the_duplicates() {
        let p = plan(900, 100, &mut StdRng::seed_from_u64(1));
        assert_eq!(p.len(), 1000);
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for e in &p {
            *counts.entry(*e).or_default() += 1;
        }
        assert_eq!(counts.len(), 900);
        assert_eq!(counts.values().filter(|n| **n == 2).count(), 100);
        let adjacent = p.windows(2).filter(|w| w[0] == w[1]).count();
        assert_eq!(adjacent, 50, "half the duplicates race their original");
    }
}
