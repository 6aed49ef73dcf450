//! Shared library of the accounting-integration functions: domain rules, provider clients,
//! AWS adapters, inbound API helpers and the use cases every Lambda function calls.

pub mod api;
pub mod aws_http;
pub mod config;
pub mod connections;
pub mod context;
pub mod domain;
pub mod http;
pub mod invoicing;
pub mod jobs;
#[cfg(any(test, feature = "mocks"))]
pub mod mocks;
pub mod providers;
pub mod records;
pub mod sqs;
pub mod store;
pub mod stream;
pub mod sync;
pub mod telemetry;
pub mod webhooks;

pub use config::Config;
pub use context::AppContext;
