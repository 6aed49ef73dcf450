//! What the simulation counts, and the printed figures against their targets.

use shared::domain::{Job, JobState, ProviderKind, Trigger};
use std::collections::HashMap;
use std::time::Duration;

/// Visma's limit per endpoint, app-wide, a minute (docs/rate-limits.md).
const VISMA_PER_MINUTE: u32 = 600;
/// Fairness: the slowest integration's mean freshness over the median one's, per provider.
const FAIRNESS_TARGET: f64 = 2.0;
/// The busiest minute's scheduled job starts over the average minute's.
const SPREAD_TARGET: f64 = 2.0;

/// The endpoint of a `FakeApi` call ("list customers page 1", "create invoices inv7", …): the
/// register it names, as Visma's endpoints are (`customers`, `customerinvoices`, …).
pub fn endpoint(call: &str) -> &'static str {
    for (word, name) in [
        ("customers", "customers"),
        ("invoices", "customerinvoices"),
        ("articles", "articles"),
        ("projects", "projects"),
    ] {
        if call.split(' ').any(|w| w == word) {
            return name;
        }
    }
    "other"
}

#[derive(Default)]
pub struct Stats {
    exporter: String,
    pub export_job: Option<String>,
    export_done_ms: Option<i64>,
    pub scheduled: usize,
    /// Scheduled jobs queued by a run after their slot had passed (they start at once).
    pub late_queued: u64,
    pub slices: u64,
    pub requests: u64,
    pub retries: u64,
    pub dead_letters: u64,
    pub limiter_wait_ms: i64,
    pub longest_slice_ms: i64,
    pub queue_wait_ms: Vec<i64>,
    visma_minutes: HashMap<(&'static str, i64), u32>,
    starts: Vec<(ProviderKind, i64)>,
    start_lag_ms: Vec<i64>,
    failed_jobs: u64,
    fresh: HashMap<String, (ProviderKind, Vec<i64>)>,
}

/// The end state the event loop found.
pub struct Outcome {
    pub integrations: usize,
    pub changes: usize,
    pub undelivered: usize,
    pub export_invoices: usize,
    pub exported: usize,
    pub created_twice: usize,
    pub visma_period: u64,
    pub fortnox_period: u64,
    pub end_ms: i64,
    pub wall: Duration,
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn secs(ms: i64) -> String {
    format!("{:.0} s", ms as f64 / 1000.0)
}

impl Stats {
    pub fn new(exporter: String) -> Self {
        Stats {
            exporter,
            ..Default::default()
        }
    }

    pub fn visma_request(&mut self, endpoint: &'static str, at_ms: i64) {
        *self
            .visma_minutes
            .entry((endpoint, at_ms.div_euclid(60_000)))
            .or_insert(0) += 1;
    }

    /// A job's first slice ran at `at_ms`; its slot was `due_ms`.
    pub fn job_started(
        &mut self,
        job: &Job,
        provider: ProviderKind,
        at_ms: i64,
        due_ms: Option<i64>,
    ) {
        if job.trigger == Trigger::Schedule {
            self.starts.push((provider, at_ms));
            if let Some(due) = due_ms {
                self.start_lag_ms.push(at_ms - due);
            }
        }
    }

    pub fn job_finished(&mut self, job: &Job, at_ms: i64) {
        if matches!(job.state, JobState::Failed | JobState::Dead) {
            self.failed_jobs += 1;
        }
        if self.export_job.as_deref() == Some(job.id.as_str()) {
            self.export_done_ms = Some(at_ms);
        }
    }

    pub fn freshness(&mut self, iid: &str, provider: Option<ProviderKind>, ms: i64) {
        let p = provider.unwrap_or(ProviderKind::Fortnox);
        self.fresh
            .entry(iid.to_string())
            .or_insert_with(|| (p, Vec::new()))
            .1
            .push(ms);
    }

    /// Whether the export job reached its end.
    #[cfg(test)]
    pub fn export_finished(&self) -> bool {
        self.export_done_ms.is_some()
    }

    /// Jobs failed, messages dead-lettered.
    #[cfg(test)]
    pub fn failures(&self) -> (u64, u64) {
        (self.failed_jobs, self.dead_letters)
    }

    /// The most Visma requests one endpoint had in one minute.
    #[cfg(test)]
    pub fn visma_busiest_minute(&self) -> u32 {
        self.visma_minutes.values().copied().max().unwrap_or(0)
    }

    /// Prints every figure against its target; whether all were met.
    pub fn print(&mut self, o: &Outcome) -> bool {
        let mut ok = true;
        let mut check = |met: bool, what: String| {
            println!("  {} {what}", if met { "ok  " } else { "MISS" });
            ok &= met;
        };
        println!(
            "\nran {} slices, {} provider requests, {} scheduled jobs in {:.1} s of wall time",
            self.slices,
            self.requests,
            self.scheduled,
            o.wall.as_secs_f64()
        );

        println!("\nspread of scheduled job starts, per minute, after the first hour:");
        for (p, period) in [
            (ProviderKind::Fortnox, o.fortnox_period),
            (ProviderKind::Visma, o.visma_period),
        ] {
            let mut per_minute: HashMap<i64, u32> = HashMap::new();
            for (_, t) in self
                .starts
                .iter()
                .filter(|(q, t)| *q == p && *t >= 3_600_000)
            {
                *per_minute.entry(t / 60_000).or_insert(0) += 1;
            }
            let minutes = (o.end_ms - 3_600_000) / 60_000;
            let counts: Vec<u32> = (60..60 + minutes)
                .map(|m| per_minute.get(&m).copied().unwrap_or(0))
                .collect();
            let total: u32 = counts.iter().sum();
            let mean = total as f64 / counts.len().max(1) as f64;
            let max = counts.iter().copied().max().unwrap_or(0);
            let min = counts.iter().copied().min().unwrap_or(0);
            let tens: Vec<String> = counts
                .chunks(10)
                .take(6)
                .map(|c| c.iter().sum::<u32>().to_string())
                .collect();
            println!(
                "  {p:?} (every {period} s): mean {mean:.0}, min {min}, max {max} a minute; per ten \
                 minutes of hour 2: {}",
                tens.join(", ")
            );
            check(
                mean > 0.0 && max as f64 / mean <= SPREAD_TARGET,
                format!(
                    "{p:?} busiest minute ÷ mean = {:.2} (target ≤ {SPREAD_TARGET})",
                    max as f64 / mean.max(1e-9)
                ),
            );
        }
        println!(
            "  scheduled jobs queued after their slot had passed (after hour 1): {}",
            self.late_queued
        );
        let mut lag = std::mem::take(&mut self.start_lag_ms);
        println!(
            "  start after the job's slot: p50 {}, p95 {}, max {}",
            secs(pct(&mut lag, 0.5)),
            secs(pct(&mut lag, 0.95)),
            secs(pct(&mut lag, 1.0))
        );
        let mut wait = std::mem::take(&mut self.queue_wait_ms);
        println!(
            "  queue wait for a free worker: p50 {}, p95 {}, max {}",
            secs(pct(&mut wait, 0.5)),
            secs(pct(&mut wait, 0.95)),
            secs(pct(&mut wait, 1.0))
        );

        println!(
            "\nVisma's shared budget, requests per endpoint per minute (limit {VISMA_PER_MINUTE}):"
        );
        let mut by_endpoint: HashMap<&str, Vec<u32>> = HashMap::new();
        for ((e, _), c) in &self.visma_minutes {
            by_endpoint.entry(e).or_default().push(*c);
        }
        let mut endpoints: Vec<_> = by_endpoint.into_iter().collect();
        endpoints.sort();
        for (e, counts) in endpoints {
            let max = counts.iter().copied().max().unwrap_or(0);
            let mean = counts.iter().sum::<u32>() as f64 / (o.end_ms / 60_000) as f64;
            // After the first hour: the first runs find every job missing and start all the
            // slots that passed before them at once, as a first deployment would.
            let steady = self
                .visma_minutes
                .iter()
                .filter(|((x, m), _)| *x == e && *m >= 60)
                .map(|(_, c)| *c)
                .max()
                .unwrap_or(0);
            check(
                max <= VISMA_PER_MINUTE,
                format!(
                    "{e}: busiest minute {max} ({steady} after the first hour), mean {mean:.0}"
                ),
            );
        }
        println!(
            "  waiting for limiter slots: {} in all",
            secs(self.limiter_wait_ms)
        );

        println!("\nfreshness, a change at the provider → the app's feed (scheduled syncs only):");
        let mut all_ok = true;
        for (p, period) in [
            (ProviderKind::Fortnox, o.fortnox_period),
            (ProviderKind::Visma, o.visma_period),
        ] {
            let mut all: Vec<i64> = Vec::new();
            let mut means: Vec<f64> = Vec::new();
            for (iid, (q, v)) in &self.fresh {
                if *q != p || *iid == self.exporter {
                    continue;
                }
                all.extend(v);
                means.push(v.iter().sum::<i64>() as f64 / v.len() as f64);
            }
            means.sort_by(|a, b| a.total_cmp(b));
            let median = means.get(means.len() / 2).copied().unwrap_or(0.0);
            let slowest = means.last().copied().unwrap_or(0.0);
            let p95 = pct(&mut all, 0.95);
            println!(
                "  {p:?}: {} changes, p50 {}, p95 {}, max {}",
                all.len(),
                secs(pct(&mut all, 0.5)),
                secs(p95),
                secs(pct(&mut all, 1.0))
            );
            let target = (period as i64 + 300) * 1000;
            check(
                p95 <= target,
                format!(
                    "{p:?} p95 {} (target ≤ the period + 300 s = {})",
                    secs(p95),
                    secs(target)
                ),
            );
            let ratio = slowest / median.max(1.0);
            check(
                ratio <= FAIRNESS_TARGET,
                format!(
                    "{p:?} fairness: slowest integration's mean {} ÷ median {} = {ratio:.2} \
                     (target ≤ {FAIRNESS_TARGET})",
                    secs(slowest as i64),
                    secs(median as i64)
                ),
            );
            all_ok &= !means.is_empty();
        }
        if let Some((_, v)) = self.fresh.get(&self.exporter) {
            let mut v = v.clone();
            println!(
                "  the exporting tenant's own changes: {}, p50 {}, max {} (they wait for its export's slices)",
                v.len(),
                secs(pct(&mut v, 0.5)),
                secs(pct(&mut v, 1.0))
            );
        }
        check(
            o.undelivered == 0 && all_ok,
            format!(
                "{} of {} changes reached the feed",
                o.changes - o.undelivered,
                o.changes
            ),
        );

        println!("\nthe 10,000-invoice first export:");
        let took = self.export_done_ms.map(|t| t - 3_600_000);
        check(
            o.exported == o.export_invoices && o.created_twice == 0 && took.is_some(),
            format!(
                "{} of {} invoices at Visma, {} created twice, finished after {}",
                o.exported,
                o.export_invoices,
                o.created_twice,
                took.map(secs).unwrap_or_else(|| "never".into())
            ),
        );
        println!(
            "  longest slice {} (the worker's timeout is 300 s)",
            secs(self.longest_slice_ms)
        );
        check(
            self.longest_slice_ms <= 300_000,
            "every slice within the worker's timeout".into(),
        );
        check(
            self.failed_jobs == 0 && self.dead_letters == 0,
            format!(
                "{} jobs failed, {} messages dead-lettered, {} retried",
                self.failed_jobs, self.dead_letters, self.retries
            ),
        );
        println!(
            "\n{} integrations: {}",
            o.integrations,
            if ok {
                "all targets met"
            } else {
                "TARGET MISSED"
            }
        );
        ok
    }
}
