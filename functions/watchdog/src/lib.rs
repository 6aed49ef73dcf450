//! Scheduled every few minutes: running jobs whose worker stopped without progress are put
//! back on the queue, or failed once they used up their attempts.

use lambda_runtime::{Error, LambdaEvent};
use shared::jobs::maintenance::watchdog;
use shared::AppContext;

/// Handles one invocation (the EventBridge event's content is not needed).
pub async fn handler(
    ctx: &AppContext,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let report = watchdog(ctx, chrono::Utc::now()).await?;
    Ok(serde_json::to_value(report)?)
}
