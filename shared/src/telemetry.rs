//! Logs and metrics shared by every function.
//!
//! Logs: JSON through `tracing`, at the Lambda log level. The runtime's span carries the request
//! id; our spans add tenant, integration and job ids, so every line says whose work it was.
//! Metrics: CloudWatch embedded metric format (EMF) lines on stdout, which Lambda turns into
//! metrics without an API call.

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "AccountingIntegrations";

/// JSON logs honouring `AWS_LAMBDA_LOG_LEVEL` and `AWS_LAMBDA_LOG_FORMAT` (or `RUST_LOG`).
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
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
