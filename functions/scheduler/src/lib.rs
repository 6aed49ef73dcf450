//! Scheduled every five minutes: enqueues an incremental sync for every connected integration
//! (Fortnox hourly, Visma as often as the app-wide Visma budget allows), spread over each
//! period, and refreshes tokens whose refresh token would otherwise die unused.
//!
//! Invoked by hand with `{"migrate_webhook_keys": true}`, it instead moves webhook keys that an
//! older release kept in the token secrets into their own secrets (docs/webhooks.md).

use lambda_runtime::{Error, LambdaEvent};
use shared::jobs::maintenance::schedule;
use shared::webhooks::migrate::migrate_legacy_keys;
use shared::AppContext;

/// Handles one invocation: the EventBridge event's content is not needed, except that an event
/// with `"migrate_webhook_keys": true` runs the key migration instead of the schedule.
pub async fn handler(
    ctx: &AppContext,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    if event.payload.get("migrate_webhook_keys") == Some(&serde_json::Value::Bool(true)) {
        let report = migrate_legacy_keys(ctx).await?;
        return Ok(serde_json::to_value(report)?);
    }
    let report = schedule(ctx, chrono::Utc::now()).await?;
    Ok(serde_json::to_value(report)?)
}
