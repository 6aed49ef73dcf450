//! Scheduled every minute: holds the app's one connection to Fortnox's change stream for most of
//! its run (14 minutes by default), turning each change event into a targeted pull of that
//! record, and hands over to the next run through the stored offsets (docs/stream.md). The runs
//! in between find the stream held and end at once.

use lambda_runtime::{Error, LambdaEvent};
use shared::stream::{run, StreamSettings};
use shared::AppContext;
use std::time::Duration;

/// Time kept back from the Lambda deadline: the last batch is queued, the offsets stored and
/// the lease released within it.
const MARGIN: Duration = Duration::from_secs(20);

/// Handles one invocation (the EventBridge event's content is not needed).
pub async fn handler(
    ctx: &AppContext,
    settings: &StreamSettings,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let left_ms = event.context.deadline.saturating_sub(now_ms());
    let left = Duration::from_millis(left_ms).saturating_sub(MARGIN);
    let deadline = tokio::time::Instant::now() + left;
    let report = run(ctx, settings, deadline).await?;
    Ok(serde_json::to_value(report)?)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
