//! 10,000 integrations through the real scheduler and worker code, in virtual time.
//!
//! `shared::jobs::maintenance::schedule` runs every five minutes as EventBridge runs it, and
//! every message goes through `shared::jobs::worker::handle` (lease, slice, continuation,
//! retry), with the real sync engine behind it. What moto and the simulators cannot do at this
//! scale is in memory (`host.rs`): the jobs and sync state in `MemoryStore`, one `FakeApi` per
//! company, and a queue and 50 workers (the event source's `MaximumConcurrency`) driven by an
//! event loop over a virtual clock. A slice takes, in virtual time, what its calls would take:
//! see [`Model`]. Provider requests go through a model of the shared limiter: Fortnox per
//! company (25 per 5 s), Visma per endpoint for the whole app (600 a minute), each with the
//! product's 4 % headroom.
//!
//! Prints the spread of scheduled job starts over the hour, the Visma budget used per endpoint,
//! freshness (a change at the provider → the app's feed) and fairness while one Visma tenant
//! runs a 10,000-invoice first export. Exits 1 on a missed target.

mod host;
mod report;

use chrono::{DateTime, Duration as Ch, Utc};
use host::SimHost;
use shared::config::Config;
use shared::domain::{
    ConnectionMode, Customer, Direction, Entity, Integration, IntegrationStatus, Invoice,
    InvoiceRow, Mode, ProviderKind, TenantId, Trigger,
};
use shared::jobs::worker::{handle, Disposition};
use shared::jobs::{message_for, new_job, JobRequest};
use shared::mocks::FakeApi;
use shared::store::JobMessage;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Duration;

/// What a slice costs in virtual time.
struct Model {
    /// Lambda's invocation overhead for one message.
    invoke_ms: i64,
    /// One DynamoDB call.
    store_ms: i64,
    /// One Fortnox request, answered.
    fortnox_ms: i64,
    /// One Visma request, answered.
    visma_ms: i64,
}

const MODEL: Model = Model {
    invoke_ms: 15,
    store_ms: 6,
    fortnox_ms: 180,
    visma_ms: 250,
};

/// Fortnox: 25 requests per 5 s per company; Visma: 600 a minute per endpoint, app-wide; both
/// spaced with the limiter's default 4 % headroom (docs/rate-limits.md).
const FORTNOX_SPACING_MS: i64 = 5_000 * 104 / 100 / 25;
const VISMA_SPACING_MS: i64 = 60_000 * 104 / 100 / 600;
/// The worker's event source runs at most this many at once (template.yaml).
const WORKERS: usize = 50;
/// Budget checks per slice: about the worker's 60-second slice at the modelled latencies (an
/// exported invoice costs two or three requests).
const SLICE_CHECKS: u32 = 100;
/// Customers per company.
const CUSTOMERS: usize = 20;
/// One change per integration every this many seconds on average.
const CHANGE_EVERY_SECONDS: f64 = 600.0;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (splitmix64): the same seed, the same run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn integration(k: usize, provider: ProviderKind, at: DateTime<Utc>) -> Integration {
    Integration {
        tenant_id: TenantId::parse(&format!("t{k}")).expect("tenant id"),
        id: format!(
            "{:08x}-0000-4000-8000-{k:012x}",
            (k as u64).wrapping_mul(2_654_435_761) & 0xffff_ffff
        ),
        provider,
        status: IntegrationStatus::Connected,
        display_name: None,
        company_name: Some(format!("Company {k}")),
        provider_company_id: None,
        token_expires_at: None,
        refresh_expires_at: None,
        mode: ConnectionMode::User,
        service_tenant_id: None,
        connected_at: Some(at),
        last_error: None,
        secret_name: format!("s/{k}"),
        created_at: at,
        updated_at: at,
    }
}

fn customer(j: usize, name: String) -> Customer {
    Customer {
        id: format!("c{j}"),
        name,
        organisation_number: None,
        email: None,
        phone: None,
        address: Default::default(),
        currency: None,
        is_private_person: false,
        vat_number: None,
        reverse_charge_construction: false,
        active: true,
        updated_at: None,
    }
}

fn invoice(i: usize, customer: usize) -> Invoice {
    use rust_decimal::Decimal;
    Invoice {
        project: None,
        cost_center: None,
        id: format!("inv{i}"),
        customer_id: format!("c{customer}"),
        invoice_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default(),
        due_date: None,
        currency: None,
        our_reference: None,
        your_reference: None,
        reverse_charge_construction: false,
        tax_reduction: None,
        rows: vec![InvoiceRow {
            project: None,
            cost_center: None,
            description: format!("work order {i}"),
            article_number: None,
            account_number: Some(3001),
            quantity: Decimal::ONE,
            unit_price: Decimal::new(100 + (i % 900) as i64, 0),
            vat_rate: Some(Decimal::new(25, 0)),
            discount: None,
            house_work: None,
        }],
        totals: None,
        cancelled: false,
        payment: None,
        credit: None,
        updated_at: None,
    }
}

/// A change made at the provider, waiting to reach the feed.
struct Change {
    at_ms: i64,
    remote_id: String,
    version: u64,
}

/// The virtual world: events in time order.
struct Sim {
    host: SimHost,
    t0: DateTime<Utc>,
    /// Visible messages: (visible at, sequence) → message and its receives.
    queue: BinaryHeap<Reverse<(i64, u64)>>,
    messages: HashMap<u64, (JobMessage, u32)>,
    seq: u64,
    workers: BinaryHeap<Reverse<i64>>,
    /// Limiter buckets: the slots taken (slot k starts at k × the bucket's spacing).
    slots: HashMap<String, HashSet<i64>>,
    /// Remote ids of each integration's customers.
    remote: HashMap<String, Vec<String>>,
    versions: HashMap<(String, usize), u64>,
    outstanding: HashMap<String, Vec<Change>>,
    feed_seen: HashMap<String, u64>,
    stats: report::Stats,
}

impl Sim {
    fn at(&self, ms: i64) -> DateTime<Utc> {
        self.t0 + Ch::milliseconds(ms)
    }

    fn push(&mut self, visible_ms: i64, msg: JobMessage, receives: u32) {
        self.seq += 1;
        self.queue.push(Reverse((visible_ms, self.seq)));
        self.messages.insert(self.seq, (msg, receives));
    }

    /// The provider's answer to a change made by a person, now (virtual `at_ms`).
    fn change(&mut self, iid: &str, j: usize, at_ms: i64) {
        let v = self.versions.entry((iid.to_string(), j)).or_insert(0);
        *v += 1;
        let version = *v;
        let remote_id = self.remote[iid][j].clone();
        // The provider's own clock is the wall clock (as its records' times are), the same
        // one the engine's marks use; only the scheduling runs in virtual time.
        self.host.apis[iid].modify_customer(&remote_id, Utc::now(), |c| {
            c.name = format!("c{j} v{version}")
        });
        self.outstanding
            .entry(iid.to_string())
            .or_default()
            .push(Change {
                at_ms,
                remote_id,
                version,
            });
    }

    async fn run_schedule(&mut self, at_ms: i64) {
        let now = self.at(at_ms);
        self.host.set_now(now);
        let report = shared::jobs::maintenance::schedule(&self.host, now)
            .await
            .expect("schedule");
        self.stats.scheduled += report.enqueued;
        for (m, delay) in self.host.take_outbox().sent {
            if delay == 0 && at_ms >= 3_600_000 {
                self.stats.late_queued += 1;
            }
            self.push(at_ms + delay as i64 * 1000, m, 0);
        }
    }

    /// One message on one worker, from `start_ms`.
    async fn run_message(&mut self, start_ms: i64, seq: u64, visible_ms: i64) {
        let (msg, receives) = self.messages.remove(&seq).expect("message");
        self.stats.queue_wait_ms.push(start_ms - visible_ms);
        let iid = msg.integration_id.clone();
        let provider = self.host.integration(&iid).expect("integration").provider;
        let api = &self.host.apis[&iid];
        let calls_before = api.calls().len();
        let store_before = self.host.store.calls();
        let before = self.host.store.job(&msg.job_id);
        self.host.set_now(self.at(start_ms));
        let body = serde_json::to_string(&msg).expect("message json");
        let disposition = handle(&self.host, &body, "receipt", Duration::from_secs(300)).await;
        let out = self.host.take_outbox();
        let calls: Vec<String> = self.host.apis[&iid].calls()[calls_before..].to_vec();
        let store_calls = (self.host.store.calls() - store_before) as i64;
        let mut t = start_ms + MODEL.invoke_ms + store_calls * MODEL.store_ms;
        for call in &calls {
            let endpoint = report::endpoint(call);
            let (bucket, spacing, latency) = match provider {
                ProviderKind::Fortnox => (format!("f:{iid}"), FORTNOX_SPACING_MS, MODEL.fortnox_ms),
                ProviderKind::Visma => (format!("v:{endpoint}"), VISMA_SPACING_MS, MODEL.visma_ms),
            };
            // The limiter's slots are `spacing` apart; a request takes the first free one from
            // when it is sent. A slice's requests are placed as it runs, not reserved ahead: a
            // long export's later requests leave the slots between them to the others, as the
            // shared limiter does when each request reserves its slot as it goes.
            let used = self.slots.entry(bucket).or_default();
            let mut k = (t + spacing - 1).div_euclid(spacing);
            while !used.insert(k) {
                k += 1;
            }
            let slot = k * spacing;
            self.stats.limiter_wait_ms += slot - t;
            if provider == ProviderKind::Visma {
                self.stats.visma_request(endpoint, slot);
            }
            t = slot + latency;
        }
        let end = t;
        self.stats.slices += 1;
        self.stats.requests += calls.len() as u64;
        self.stats.longest_slice_ms = self.stats.longest_slice_ms.max(end - start_ms);
        self.workers.push(Reverse(end));
        if let Some((lease_iid, owner)) = out.released {
            self.host.hold_until(&lease_iid, &owner, self.at(end));
        }
        for (m, delay) in out.sent {
            self.push(end + delay as i64 * 1000, m, 0);
        }
        if disposition == Disposition::Retry {
            self.stats.retries += 1;
            let back = out.retry_after.unwrap_or(300) as i64 * 1000;
            if receives + 1 >= 5 {
                self.stats.dead_letters += 1; // maxReceiveCount: the dead-letter queue
            } else {
                self.push(end + back, msg.clone(), receives + 1);
            }
        }
        // A job's start: the first slice that ran (not one sent back because it was early or
        // its integration busy).
        let after = self.host.store.job(&msg.job_id);
        if let (Some(b), Some(a)) = (before, after) {
            if b.slices == 0 && (a.slices > 0 || a.state.is_terminal()) {
                let due = a.not_before.map(|nb| (nb - self.t0).num_milliseconds());
                self.stats.job_started(&a, provider, start_ms, due);
            }
            if a.state.is_terminal() {
                self.stats.job_finished(&a, end);
            }
        }
        self.collect_feed(&iid, end);
    }

    /// Changes of `iid` that reached the feed by `end_ms`.
    fn collect_feed(&mut self, iid: &str, end_ms: i64) {
        let Some(waiting) = self.outstanding.get_mut(iid) else {
            return;
        };
        if waiting.is_empty() {
            return;
        }
        let seen = self.feed_seen.entry(iid.to_string()).or_insert(0);
        let provider = self.host.integration(iid).map(|i| i.provider);
        for e in self.host.store.all_feed(iid, Entity::Customers) {
            if e.seq <= *seen {
                continue;
            }
            *seen = e.seq;
            let version = e
                .record
                .as_ref()
                .and_then(|r| r.get("name"))
                .and_then(|n| n.as_str())
                .and_then(|n| n.rsplit_once(" v"))
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(0);
            waiting.retain(|c| {
                let arrived = c.remote_id == e.remote_id && c.version <= version;
                if arrived {
                    self.stats.freshness(iid, provider, end_ms - c.at_ms);
                }
                !arrived
            });
        }
    }
}

/// What to simulate.
struct Params {
    /// Integrations, half of them Fortnox, half Visma.
    n: usize,
    /// Virtual hours (at least 3: a warm-up hour, changes, an hour for the last to arrive).
    hours: i64,
    /// Invoices of the first export.
    export_invoices: usize,
    seed: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let p = Params {
        n: env_num("SCALE_INTEGRATIONS", 10_000) as usize,
        hours: env_num("SCALE_HOURS", 4).max(3) as i64,
        export_invoices: env_num("SCALE_EXPORT_INVOICES", 10_000) as usize,
        seed: env_num("SCALE_SEED", 7),
    };
    println!(
        "{} integrations ({} Fortnox, {} Visma), {} virtual hours, {WORKERS} workers; one \
         Visma tenant exports {} invoices from hour 1",
        p.n,
        p.n / 2,
        p.n - p.n / 2,
        p.hours,
        p.export_invoices
    );
    let (mut stats, outcome) = simulate(&p).await;
    if !stats.print(&outcome) {
        std::process::exit(1);
    }
}

/// Runs the virtual hours; what was counted and how things ended.
async fn simulate(p: &Params) -> (report::Stats, report::Outcome) {
    let (n, hours, export_invoices) = (p.n, p.hours, p.export_invoices);
    let mut rng = Rng(p.seed);
    let config = Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some("scale".into()),
        "DEFAULT_RETURN_URL" | "PUBLIC_API_URL" => Some("https://app.example".into()),
        // Only the sync settings are read; the rest is the product's defaults.
        _ => None,
    })
    .expect("configuration");
    let started = std::time::Instant::now();
    // Periods align to the clock: start on the hour, as a deployment would meet it.
    let t0 = DateTime::from_timestamp(Utc::now().timestamp() / 3600 * 3600, 0).expect("t0");
    let mut host = SimHost::new(config.sync.clone(), SLICE_CHECKS, t0);
    let mut remote = HashMap::new();
    let created = Utc::now() - Ch::days(30);
    for k in 0..n {
        let provider = if k % 2 == 0 {
            ProviderKind::Visma
        } else {
            ProviderKind::Fortnox
        };
        let i = integration(k, provider, created);
        let api = FakeApi::new(config.sync.page_size as usize);
        if provider == ProviderKind::Fortnox {
            api.undated(); // Fortnox's records carry no modification time
        }
        let ids: Vec<String> = (0..CUSTOMERS)
            .map(|j| api.insert_customer(customer(j, format!("c{j} v0")), None, created))
            .collect();
        remote.insert(i.id.clone(), ids);
        host.add(i, api);
    }
    // The exporting tenant: a Visma company whose app has 10,000 invoices (and their
    // customers) to send.
    let exporter = integration(0, ProviderKind::Visma, created);
    let mut sim = Sim {
        host,
        t0,
        queue: BinaryHeap::new(),
        messages: HashMap::new(),
        seq: 0,
        workers: (0..WORKERS).map(|_| Reverse(0)).collect(),
        slots: HashMap::new(),
        remote,
        versions: HashMap::new(),
        outstanding: HashMap::new(),
        feed_seen: HashMap::new(),
        stats: report::Stats::new(exporter.id.clone()),
    };
    // People change customers at the provider from hour 1 until an hour before the end, so
    // every change has at least an hour (Fortnox's period) to arrive.
    let mut changes: Vec<(i64, usize, usize)> = Vec::new();
    let (from, to) = (3_600_000i64, (hours - 1) * 3_600_000);
    for k in 0..n {
        let mut t = from as f64;
        loop {
            t += -CHANGE_EVERY_SECONDS * 1000.0 * (1.0 - rng.unit()).ln();
            if t >= to as f64 {
                break;
            }
            changes.push((t as i64, k, (rng.next() % CUSTOMERS as u64) as usize));
        }
    }
    changes.sort_unstable();
    let ids: Vec<String> = (0..n)
        .map(|k| integration(k, ProviderKind::Visma, created).id)
        .collect();
    let mut next_change = 0;
    // EventBridge's five-minute schedule, from a random phase.
    let mut next_schedule = (rng.next() % 300_000) as i64;
    let mut export_at = Some(3_600_000i64);
    let end_ms = hours * 3_600_000;
    loop {
        let change_at = changes.get(next_change).map(|c| c.0).unwrap_or(i64::MAX);
        let message_at = match (sim.queue.peek(), sim.workers.peek()) {
            (Some(Reverse((v, _))), Some(Reverse(free))) => (*v).max(*free),
            _ => i64::MAX,
        };
        let export = export_at.unwrap_or(i64::MAX);
        let now = change_at.min(message_at).min(next_schedule).min(export);
        if now >= end_ms {
            break;
        }
        if now == export {
            // The app hands over its records (the records API stages them), then asks for
            // the first export.
            let customers: Vec<Customer> = (CUSTOMERS..CUSTOMERS + 100)
                .map(|j| customer(j, format!("export customer {j}")))
                .collect();
            let invoices: Vec<Invoice> = (0..export_invoices)
                .map(|i| invoice(i, CUSTOMERS + i % 100))
                .collect();
            shared::records::stage(&sim.host.store, &exporter.id, customers)
                .await
                .expect("stage customers");
            shared::records::stage(&sim.host.store, &exporter.id, invoices)
                .await
                .expect("stage invoices");
            let req = JobRequest {
                direction: Direction::Push,
                entities: vec![Entity::Customers, Entity::Invoices],
                mode: Mode::Full,
                trigger: Trigger::Manual,
                target: None,
                not_before: None,
            };
            let job = new_job(&exporter, &req, sim.at(now));
            sim.host.store.insert_job(&job);
            sim.stats.export_job = Some(job.id.clone());
            sim.push(now, message_for(&job), 0);
            export_at = None;
        } else if now == change_at {
            let (at, k, j) = changes[next_change];
            next_change += 1;
            sim.change(&ids[k], j, at);
        } else if now == next_schedule {
            sim.run_schedule(now).await;
            next_schedule += 300_000;
        } else {
            let Some(Reverse((visible, seq))) = sim.queue.pop() else {
                break;
            };
            sim.workers.pop();
            sim.run_message(now, seq, visible).await;
        }
    }
    let waiting: usize = sim.outstanding.values().map(Vec::len).sum();
    let exported = sim.host.apis[&exporter.id].invoices().len();
    let twice = (0..export_invoices)
        .filter(|i| sim.host.apis[&exporter.id].creates(Entity::Invoices, &format!("inv{i}")) > 1)
        .count();
    let outcome = report::Outcome {
        integrations: n,
        changes: changes.len(),
        undelivered: waiting,
        export_invoices,
        exported,
        created_twice: twice,
        visma_period: shared::jobs::maintenance::visma_poll_seconds((n - n / 2) as u64),
        fortnox_period: config.sync.schedule_period.as_secs(),
        end_ms,
        wall: started.elapsed(),
    };
    (sim.stats, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small run through the same code: every change arrives, the export lands exactly
    /// once, nothing fails, Visma's budget holds. (The spread of job starts needs the full
    /// scale to mean anything: `make bench-scale`.)
    #[tokio::test(flavor = "current_thread")]
    async fn a_small_world_delivers_every_change_and_exports_exactly_once() {
        let p = Params {
            n: 120,
            hours: 3,
            export_invoices: 300,
            seed: 11,
        };
        let (stats, o) = simulate(&p).await;
        assert!(o.changes > 500, "{} changes", o.changes);
        assert_eq!(o.undelivered, 0, "every change reached the feed");
        assert_eq!((o.exported, o.created_twice), (300, 0));
        assert!(stats.export_finished(), "the export job finished");
        assert_eq!(stats.failures(), (0, 0), "failed jobs, dead letters");
        let busiest = stats.visma_busiest_minute();
        assert!(busiest > 0 && busiest <= 600, "{busiest}");
    }
}
