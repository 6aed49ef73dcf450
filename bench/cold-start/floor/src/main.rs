//! The floor of the cold-start bench: a minimal Rust Lambda (`lambda_runtime` with the
//! workspace's tokio, answering a constant). No AWS SDK, no logging set-up, no configuration:
//! what the functions' init and memory are compared with in bench/cold-start.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "body": "floor"}))
    }))
    .await
}
