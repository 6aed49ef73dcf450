//! Idle Visma polls measured alone, for the polls that the schedule spreads out at scale.

use crate::usage::Usage;
use crate::{read, reset, tick, BoxError};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use devstack::{metering, Stack};
use sandbox::ProviderKind as SandboxKind;
use std::collections::BTreeMap;

/// What the idle polls of a midday hour used.
pub struct IdlePolls {
    /// One poll's use, with its share of the scheduler's runs.
    pub mean: Usage,
    /// DynamoDB use by operation and kind of item, all polls together.
    kinds: BTreeMap<String, metering::KindUse>,
    /// Each run kept: its use and the polls it started.
    runs: Vec<(Usage, usize)>,
    polls: usize,
}

impl IdlePolls {
    /// Runs the scheduler over a midday hour of the day after `day0`.
    pub async fn measure(
        stack: &Stack,
        day0: DateTime<Utc>,
        violations: &mut usize,
    ) -> Result<IdlePolls, BoxError> {
        // Idle Visma polls alone, for the Visma polls that the schedule spreads out at scale: the
        // scheduler's runs over a midday hour of the next day (outside the night's sweep window,
        // 00:00–04:00 UTC), its last slot first (its Fortnox job, due), then the other eleven. A
        // run may start no poll or two (each run queues the next period's poll ahead,
        // `LOOKAHEAD_SECONDS`), so the unit is what the runs used divided by the polls they
        // started, counted at the sandbox (one `GET /v2/customers` an idle poll). A run that
        // started a Fortnox job or the hour's catalog poll is left out. The mean of a dozen polls: one sample moved the 10,000
        // line by half a cent between runs of the same code (bench/cost/README.md).
        let noon = day0 + ChronoDuration::seconds(86_400 + 12 * 3_600);
        tick(stack, noon + ChronoDuration::seconds(3_599)).await?;
        let mut visma_poll = Usage::default();
        let mut poll_kinds: BTreeMap<String, metering::KindUse> = BTreeMap::new();
        let mut poll_runs: Vec<(Usage, usize)> = Vec::new();
        for s in 0..11 {
            reset(stack);
            tick(stack, noon + ChronoDuration::seconds(300 * s + 299)).await?;
            let seen = stack.sandbox.state.requests();
            let kinds = stack
                .aws_faults
                .as_ref()
                .map(|p| p.kinds())
                .unwrap_or_default();
            let one = read(stack, violations);
            if seen.iter().any(|r| r.provider == SandboxKind::Fortnox) {
                println!(
                    "  (the scheduler's run at {} started a Fortnox job: left out)",
                    s * 5 + 4
                );
                continue;
            }
            // The poll that holds the turn of the hour also reads projects and articles
            // (`scheduled_entities`): one a day-hour at every scale, so it stays in the day
            // at 10,000 and is no part of what is taken out.
            if seen
                .iter()
                .any(|r| r.path.starts_with("/v2/projects") || r.path.starts_with("/v2/articles"))
            {
                println!(
                    "  (the scheduler's run at {} started the hour's catalog poll: left out)",
                    s * 5 + 4
                );
                continue;
            }
            let started = seen
                .iter()
                .filter(|r| r.method == "GET" && r.path == "/v2/customers")
                .count();
            for (kind, u) in kinds {
                let sum = poll_kinds.entry(kind).or_default();
                sum.requests += u.requests;
                sum.write_units += u.write_units;
                sum.read_halves += u.read_halves;
            }
            visma_poll = visma_poll.plus(&one);
            poll_runs.push((one, started));
        }
        let polls = poll_runs.iter().map(|(_, n)| n).sum::<usize>();
        if polls < 6 {
            return Err(format!("the idle hour started {polls} Visma polls, not a dozen").into());
        }
        Ok(IdlePolls {
            mean: visma_poll.times(1.0 / polls as f64),
            kinds: poll_kinds,
            runs: poll_runs,
            polls,
        })
    }

    /// Prints each run and the mean poll's DynamoDB use.
    pub fn print(&self) {
        println!(
            "\n{} idle Visma polls in {} runs of the scheduler; per run: polls started, WRU, RRU, provider requests, worker invocations and ms",
            self.polls,
            self.runs.len()
        );
        for (u, n) in &self.runs {
            let (calls, ms) = u.lambda.get("worker").copied().unwrap_or_default();
            println!(
                "  {n} {:>4.0} {:>6.1} {:>3} {calls:>3} {ms:>6.0}",
                u.wru, u.rru, u.provider_requests
            );
        }
        println!("a mean idle Visma poll (with its share of the scheduler's runs), DynamoDB by operation and item: requests, WRU, RRU");
        let n = self.polls as f64;
        for (kind, u) in &self.kinds {
            println!(
                "  {kind:<40} {:>5.2} {:>7.2} {:>7.2}",
                u.requests as f64 / n,
                u.write_units as f64 / n,
                u.read_halves as f64 / 2.0 / n
            );
        }
    }
}
