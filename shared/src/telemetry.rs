//! Logs and metrics shared by every function.
//!
//! Logs: JSON through `tracing`, at the Lambda log level. The runtime's span carries the request
//! id; our spans add tenant, integration and job ids, so every line says whose work it was.
//! Metrics: CloudWatch embedded metric format (EMF) lines on stdout, which Lambda turns into
//! metrics without an API call.

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "AccountingIntegrations";

/// Logs on stdout, as JSON when `AWS_LAMBDA_LOG_FORMAT=JSON` (Lambda's LoggingConfig), filtered
/// by [`log_filter`]. Each line carries the fields of its spans: the runtime's
/// "Lambda runtime invoke" span (request id, X-Ray trace id) and ours (tenant, integration, job).
///
/// The same as `lambda_runtime`'s default subscriber, except that it filters with `Targets`
/// instead of `EnvFilter`, which keeps a regex engine (about 0.3 MiB) out of every bootstrap.
pub fn init() {
    use tracing_subscriber::prelude::*;
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    let registry = tracing_subscriber::registry();
    let _ = if json {
        registry.with(layer.json().with_filter(filter)).try_init()
    } else {
        registry.with(layer.with_filter(filter)).try_init()
    };
}

/// The log filter: the level is `AWS_LAMBDA_LOG_LEVEL` (set from the function's LoggingConfig)
/// when there is one, else the bare level in `RUST_LOG`, else INFO; `RUST_LOG`'s
/// `target=level` directives (`hyper=warn`, …) apply on top. Lambda's FATAL counts as ERROR;
/// what does not parse is left out.
pub fn log_filter(
    lambda_level: Option<&str>,
    rust_log: Option<&str>,
) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    fn level(s: &str) -> Option<LevelFilter> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("fatal") {
            return Some(LevelFilter::ERROR);
        }
        s.parse().ok()
    }
    let mut targets = Targets::new();
    let mut bare = None;
    for directive in rust_log.unwrap_or_default().split(',') {
        let directive = directive.trim();
        if directive.is_empty() {
            continue;
        }
        match directive.split_once('=') {
            Some((target, l)) => {
                if let Some(l) = level(l) {
                    targets = targets.with_target(target.trim(), l);
                }
            }
            None => bare = level(directive).or(bare),
        }
    }
    let default = lambda_level
        .and_then(level)
        .or(bare)
        .unwrap_or(LevelFilter::INFO);
    targets.with_default(default)
}

/// A metric unit as CloudWatch names it.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF record: several metrics sharing one set of dimensions.
pub fn emf_line(
    metrics: &[(&str, f64, Unit)],
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> String {
    let mut root = Map::new();
    let dims: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims],
                "Metrics": metrics.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u.as_str()})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).to_string(), Value::String((*v).to_string()));
    }
    for (n, v, _) in metrics {
        root.insert((*n).to_string(), json!(v));
    }
    Value::Object(root).to_string()
}

/// Emits metrics when running in Lambda (or when `EMF_METRICS` is set): on stdout, where
/// CloudWatch picks EMF records up.
pub fn emit(metrics: &[(&str, f64, Unit)], dimensions: &[(&str, &str)]) {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let on = *ENABLED.get_or_init(|| {
        std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
            || std::env::var_os("EMF_METRICS").is_some()
    });
    if on {
        println!(
            "{}",
            emf_line(metrics, dimensions, chrono::Utc::now().timestamp_millis())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_lambda_level_comes_first_and_targets_apply_on_top() {
        let f = log_filter(Some("DEBUG"), Some("info,hyper=warn,h2=error"));
        assert!(f.would_enable("shared::jobs", &Level::DEBUG));
        assert!(!f.would_enable("shared::jobs", &Level::TRACE));
        assert!(!f.would_enable("hyper::client", &Level::INFO));
        assert!(f.would_enable("hyper::client", &Level::WARN));
        assert!(!f.would_enable("h2", &Level::WARN));
    }

    #[test]
    fn without_a_lambda_level_rust_log_decides_then_info() {
        let f = log_filter(None, Some("warn,aws_smithy_runtime=debug"));
        assert!(!f.would_enable("shared", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        let f = log_filter(None, None);
        assert!(f.would_enable("shared", &Level::INFO));
        assert!(!f.would_enable("shared", &Level::DEBUG));
        // Lambda's FATAL is ERROR; rubbish is ignored.
        let f = log_filter(Some("FATAL"), Some("verbose,=,x=loud"));
        assert!(f.would_enable("shared", &Level::ERROR));
        assert!(!f.would_enable("shared", &Level::WARN));
    }

    #[test]
    fn emf_records_declare_their_metrics_and_dimensions() {
        let line = emf_line(
            &[
                ("RecordsSynced", 12.0, Unit::Count),
                ("SliceDuration", 840.0, Unit::Milliseconds),
            ],
            &[("Provider", "fortnox")],
            1_700_000_000_000,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["Provider"]]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "SliceDuration", "Unit": "Milliseconds"})
        );
        assert_eq!(v["Provider"], "fortnox");
        assert_eq!(v["RecordsSynced"], 12.0);
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
