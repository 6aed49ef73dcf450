//! Logging set-up shared by every function.

/// JSON logs through `tracing`, honouring the Lambda log level and format settings
/// (`AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`) or `RUST_LOG`.
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
