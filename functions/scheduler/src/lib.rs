//! Scheduled hourly: enqueues an incremental sync for every connected integration, spread over
//! the hour, and refreshes tokens whose refresh token would otherwise die unused.

use lambda_runtime::{Error, LambdaEvent};
use shared::jobs::maintenance::schedule;
use shared::AppContext;

/// Handles one invocation (the EventBridge event's content is not needed).
pub async fn handler(
    ctx: &AppContext,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let report = schedule(ctx, chrono::Utc::now()).await?;
    Ok(serde_json::to_value(report)?)
}
