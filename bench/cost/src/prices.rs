//! The price table: AWS list prices in USD, the one place the bench prices anything.
//!
//! Region: eu-north-1 (Stockholm), where the product runs. The live price pages cannot be read
//! from the machine this bench was written on, so each figure is the **highest** EU list price
//! known for it (Frankfurt, eu-central-1, where Stockholm's could not be confirmed): the cost
//! printed is an upper bound at list prices, never flattered. No free tier is counted.
//! On-demand DynamoDB prices are those after the cut of 2024-11-01 (half the earlier ones).

/// When the table was last set.
pub const AS_OF: &str = "2026-11-30";

/// Lambda: per request.
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// Lambda: per GB-second on arm64 (`template.yaml` `Architecture` defaults to arm64).
pub const LAMBDA_GB_SECOND_ARM64: f64 = 0.000_013_333_4;
/// DynamoDB on-demand: per write request unit.
pub const DYNAMODB_WRU: f64 = 0.7625 / 1e6;
/// DynamoDB on-demand: per read request unit.
pub const DYNAMODB_RRU: f64 = 0.1525 / 1e6;
/// DynamoDB Standard table class: per GB-month stored.
pub const DYNAMODB_GB_MONTH: f64 = 0.306;
/// SQS standard queue: per request (each 64 KB chunk of a payload is one request).
pub const SQS_REQUEST: f64 = 0.40 / 1e6;
/// Secrets Manager: per secret-month.
pub const SECRET_MONTH: f64 = 0.40;
/// Secrets Manager: per API call.
pub const SECRETS_CALL: f64 = 0.05 / 10_000.0;
/// KMS: per customer-managed key-month.
pub const KMS_KEY_MONTH: f64 = 1.0;
/// KMS: per request (including those Secrets Manager makes with the key on our behalf).
pub const KMS_REQUEST: f64 = 0.03 / 10_000.0;
/// API Gateway HTTP API: per request (the first 300 million a month).
pub const HTTP_API_REQUEST: f64 = 1.20 / 1e6;
/// CloudWatch Logs: per GB ingested (standard log class).
pub const LOGS_GB_INGESTED: f64 = 0.63;
/// CloudWatch: per standard-resolution alarm-month.
pub const ALARM_MONTH: f64 = 0.10;
/// EventBridge Scheduler: per invocation past the 14 million free a month (the app's three
/// schedules make about 60,000).
pub const SCHEDULER_INVOCATION: f64 = 1.00 / 1e6;
