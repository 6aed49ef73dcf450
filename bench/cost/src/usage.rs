//! What a stretch of running used, read from the devstack's meters, and what it costs at the
//! prices of [`crate::prices`].

use crate::prices as p;
use devstack::metering;
use std::collections::BTreeMap;

/// Use of every billed dimension.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    /// AWS requests by `service:Operation` (the functions' through the proxy, and the event
    /// source mapping's as `sqs-esm:…`).
    pub calls: BTreeMap<String, f64>,
    /// DynamoDB write request units.
    pub wru: f64,
    /// DynamoDB read request units.
    pub rru: f64,
    /// Per function: invocations and handler milliseconds.
    pub lambda: BTreeMap<String, (f64, f64)>,
    /// Requests to the provider (REST and token endpoints), answered at the sandbox.
    pub provider_requests: f64,
    /// Log lines the functions wrote, and their bytes.
    pub log_events: f64,
    /// Bytes of those lines.
    pub log_bytes: f64,
    /// Per function whose containers' waits on AWS are metered (the worker's): its requests,
    /// the milliseconds they waited on moto, taken out of `lambda`, and those put back at
    /// `aws_ms` a request.
    pub aws_waits: BTreeMap<String, (f64, f64, f64)>,
}

/// The functions behind the HTTP API (API Gateway bills their requests); the webhook function
/// has a function URL, which adds nothing.
const HTTP_API_FUNCTIONS: [&str; 14] = [
    "create",
    "authorize",
    "connect",
    "oauth_callback",
    "confirm",
    "status",
    "disconnect",
    "sync",
    "sync_invoice",
    "records",
    "invoice_send",
    "invoice_pdf",
    "invoice_credit",
    "webhook_key",
];

impl Usage {
    /// Reads the meters (they count since they were last reset). A function whose waits on AWS
    /// are metered has them replaced by `aws_ms` a request: moto answers in tens of
    /// milliseconds, more as its tables grow (it scans a partition to query it), where
    /// DynamoDB answers in single-digit milliseconds.
    pub fn read(
        counts: &devstack::aws_faults::Counts,
        provider_requests: usize,
        logs: (u64, u64),
        aws_ms: f64,
    ) -> Usage {
        let mut u = Usage::default();
        for (service, ops) in counts {
            for (op, c) in ops {
                u.calls.insert(format!("{service}:{op}"), c.requests as f64);
                u.wru += c.write_units as f64;
                u.rru += c.read_halves as f64 / 2.0;
            }
        }
        for (op, n) in metering::esm() {
            u.calls.insert(format!("sqs-esm:{op}"), n as f64);
        }
        for (f, use_) in metering::functions() {
            u.lambda.insert(f, (use_.invocations as f64, use_.ms));
        }
        for (f, w) in metering::aws_waits() {
            if let Some((_, ms)) = u.lambda.get_mut(&f) {
                let modelled = w.requests as f64 * aws_ms;
                let waited = w.ms.min(*ms);
                *ms = *ms - waited + modelled;
                u.aws_waits.insert(f, (w.requests as f64, waited, modelled));
            }
        }
        u.provider_requests = provider_requests as f64;
        u.log_events = logs.0 as f64;
        u.log_bytes = logs.1 as f64;
        u
    }

    /// Every figure times `k`.
    pub fn times(&self, k: f64) -> Usage {
        self.combine(&Usage::default(), |a, _| a * k)
    }

    /// `self` − `other`, never below zero.
    pub fn minus(&self, other: &Usage) -> Usage {
        self.combine(other, |a, b| (a - b).max(0.0))
    }

    /// `self` + `other`.
    pub fn plus(&self, other: &Usage) -> Usage {
        self.combine(other, |a, b| a + b)
    }

    fn combine(&self, other: &Usage, f: impl Fn(f64, f64) -> f64) -> Usage {
        let mut calls = self.calls.clone();
        for k in other.calls.keys() {
            calls.entry(k.clone()).or_insert(0.0);
        }
        let calls = calls
            .into_iter()
            .map(|(k, v)| {
                let o = other.calls.get(&k).copied().unwrap_or(0.0);
                (k, f(v, o))
            })
            .collect();
        let mut lambda = self.lambda.clone();
        for k in other.lambda.keys() {
            lambda.entry(k.clone()).or_insert((0.0, 0.0));
        }
        let lambda = lambda
            .into_iter()
            .map(|(k, (n, ms))| {
                let (on, oms) = other.lambda.get(&k).copied().unwrap_or((0.0, 0.0));
                (k, (f(n, on), f(ms, oms)))
            })
            .collect();
        let mut aws_waits = self.aws_waits.clone();
        for k in other.aws_waits.keys() {
            aws_waits.entry(k.clone()).or_insert((0.0, 0.0, 0.0));
        }
        let aws_waits = aws_waits
            .into_iter()
            .map(|(k, (n, w, m))| {
                let (on, ow, om) = other.aws_waits.get(&k).copied().unwrap_or_default();
                (k, (f(n, on), f(w, ow), f(m, om)))
            })
            .collect();
        Usage {
            calls,
            aws_waits,
            wru: f(self.wru, other.wru),
            rru: f(self.rru, other.rru),
            lambda,
            provider_requests: f(self.provider_requests, other.provider_requests),
            log_events: f(self.log_events, other.log_events),
            log_bytes: f(self.log_bytes, other.log_bytes),
        }
    }

    fn calls_of(&self, service: &str) -> f64 {
        self.calls
            .iter()
            .filter(|(k, _)| k.split(':').next() == Some(service))
            .map(|(_, v)| v)
            .sum()
    }

    /// Only the function's invocations and milliseconds of `function`, nothing else.
    pub fn only_function(&self, function: &str) -> Usage {
        Usage {
            lambda: self
                .lambda
                .iter()
                .filter(|(k, _)| k.as_str() == function)
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            ..Usage::default()
        }
    }

    /// What it costs, by line, in USD. Lambda milliseconds are the handlers' own, plus
    /// `provider_ms` for each provider request (the sandbox answers at once; Fortnox and Visma
    /// do not), billed to the worker at its memory.
    pub fn cost(
        &self,
        memory_mb: &BTreeMap<String, f64>,
        provider_ms: f64,
    ) -> BTreeMap<&'static str, f64> {
        let mb = |f: &str| memory_mb.get(f).copied().unwrap_or(256.0);
        let mut gb_s = 0.0;
        let mut invocations = 0.0;
        for (f, (n, ms)) in &self.lambda {
            invocations += n;
            gb_s += ms / 1000.0 * mb(f) / 1024.0;
        }
        gb_s += self.provider_requests * provider_ms / 1000.0 * mb("worker") / 1024.0;
        let http_api: f64 = self
            .lambda
            .iter()
            .filter(|(f, _)| HTTP_API_FUNCTIONS.contains(&f.as_str()))
            .map(|(_, (n, _))| n)
            .sum();
        // Secrets Manager asks KMS with the customer-managed key for every secret it reads or
        // writes (Decrypt, GenerateDataKey): those requests are billed to us too.
        let secret_crypto = ["GetSecretValue", "PutSecretValue", "CreateSecret"]
            .iter()
            .map(|op| {
                self.calls
                    .get(&format!("secretsmanager:{op}"))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum::<f64>();
        [
            ("DynamoDB writes", self.wru * p::DYNAMODB_WRU),
            ("DynamoDB reads", self.rru * p::DYNAMODB_RRU),
            ("Lambda requests", invocations * p::LAMBDA_REQUEST),
            ("Lambda duration", gb_s * p::LAMBDA_GB_SECOND_ARM64),
            (
                "SQS requests",
                (self.calls_of("sqs") + self.calls_of("sqs-esm")) * p::SQS_REQUEST,
            ),
            (
                "Secrets Manager calls",
                self.calls_of("secretsmanager") * p::SECRETS_CALL,
            ),
            (
                "KMS requests",
                (self.calls_of("kms") + secret_crypto) * p::KMS_REQUEST,
            ),
            ("API Gateway requests", http_api * p::HTTP_API_REQUEST),
            (
                "CloudWatch Logs",
                // CloudWatch bills each event's bytes plus 26 bytes of metadata.
                (self.log_bytes + 26.0 * self.log_events) / 1e9 * p::LOGS_GB_INGESTED,
            ),
        ]
        .into_iter()
        .collect()
    }
}

/// Each function's memory (MB) from `template.yaml`: the resource's `MemorySize` when it has
/// one, else the `FunctionMemorySize` parameter's default; functions named by their `Binary`.
pub fn template_memory(template: &str) -> BTreeMap<String, f64> {
    let default = template
        .split("FunctionMemorySize:")
        .nth(1)
        .and_then(|s| s.lines().find_map(|l| l.trim().strip_prefix("Default:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(128.0);
    let mut out = BTreeMap::new();
    let mut binary: Option<String> = None;
    let mut memory: Option<f64> = None;
    let mut flush = |binary: &mut Option<String>, memory: &mut Option<f64>| {
        if let Some(b) = binary.take() {
            out.insert(b, memory.unwrap_or(default));
        }
        *memory = None;
    };
    for line in template.lines() {
        // A resource starts at two spaces of indent.
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            flush(&mut binary, &mut memory);
        }
        let t = line.trim();
        if let Some(b) = t.strip_prefix("Binary:") {
            binary = Some(b.trim().to_string());
        }
        if line.starts_with("      MemorySize:") {
            memory = t
                .strip_prefix("MemorySize:")
                .and_then(|v| v.trim().parse().ok());
        }
    }
    flush(&mut binary, &mut memory);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_comes_from_the_template() {
        let m = template_memory(include_str!("../../../template.yaml"));
        assert_eq!(m.get("worker"), Some(&512.0));
        assert_eq!(m.get("stream"), Some(&128.0));
        assert_eq!(m.get("status"), Some(&256.0));
        assert!(m.len() >= 17, "{m:?}");
    }

    #[test]
    fn the_workers_waits_on_moto_are_replaced_by_the_modelled_latency() {
        metering::reset();
        metering::invoked("worker", std::time::Duration::from_millis(1_000));
        {
            // Two requests in flight together wait once.
            let _a = metering::aws_request("worker-7");
            let _b = metering::aws_request("worker-7");
            std::thread::sleep(std::time::Duration::from_millis(60));
        }
        let u = Usage::read(&Default::default(), 0, (0, 0), 10.0);
        let (n, waited, modelled) = u.aws_waits["worker"];
        assert_eq!(n, 2.0);
        assert!((60.0..200.0).contains(&waited), "{waited}");
        assert_eq!(modelled, 20.0);
        let ms = u.lambda["worker"].1;
        assert!((ms - (1_000.0 - waited + 20.0)).abs() < 1e-6, "{ms}");
        metering::reset();
    }

    #[test]
    fn costs_follow_the_table() {
        let mut u = Usage {
            wru: 1e6,
            rru: 2e6,
            ..Usage::default()
        };
        u.lambda.insert("worker".into(), (1e6, 1e6 * 1000.0));
        u.calls
            .insert("secretsmanager:GetSecretValue".into(), 10_000.0);
        let c = u.cost(
            &template_memory(include_str!("../../../template.yaml")),
            0.0,
        );
        assert!((c["DynamoDB writes"] - p::DYNAMODB_WRU * 1e6).abs() < 1e-9);
        assert!((c["DynamoDB reads"] - p::DYNAMODB_RRU * 2e6).abs() < 1e-9);
        // A million seconds at 512 MB: 500,000 GB-s.
        assert!((c["Lambda duration"] - 500_000.0 * p::LAMBDA_GB_SECOND_ARM64).abs() < 1e-6);
        assert!((c["KMS requests"] - 10_000.0 * p::KMS_REQUEST).abs() < 1e-9);
        assert_eq!(
            c["API Gateway requests"], 0.0,
            "the worker is not behind the HTTP API"
        );
    }
}
