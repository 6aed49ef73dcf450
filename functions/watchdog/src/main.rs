//! Lambda entry point: builds the clients once per container and serves invocations.

use lambda_runtime::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let ctx = shared::AppContext::from_env().await?;
    run(service_fn(|event| watchdog::handler(&ctx, event))).await
}
