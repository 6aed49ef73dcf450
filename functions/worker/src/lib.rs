//! SQS-triggered worker: one slice of one job per message. Failed messages are reported in
//! `batchItemFailures` (the event source mapping has `ReportBatchItemFailures`), so one bad
//! message never brings back the whole batch.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use shared::jobs::worker::{handle, Disposition};
use shared::sqs::partial_batch;
use shared::AppContext;
use std::time::Duration;

/// Handles one invocation.
pub async fn handler(
    ctx: &AppContext,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let deadline_ms = event.context.deadline as i64;
    let remaining = || {
        let left = deadline_ms - chrono::Utc::now().timestamp_millis();
        Duration::from_millis(left.max(0) as u64)
    };
    Ok(handle_batch(ctx, event.payload.records, remaining).await)
}

/// Handles the messages of a batch in order; `remaining` tells how long the invocation may
/// still run.
pub async fn handle_batch(
    ctx: &AppContext,
    records: Vec<SqsMessage>,
    remaining: impl Fn() -> Duration,
) -> SqsBatchResponse {
    partial_batch(records, |m| {
        let left = remaining();
        async move {
            let body = m.body.as_deref().unwrap_or_default();
            let receipt = m.receipt_handle.as_deref().unwrap_or_default();
            match handle(ctx, body, receipt, left).await {
                Disposition::Done => Ok(()),
                // `handle` logged why; the message comes back after its visibility timeout.
                Disposition::Retry => Err("the job slice is to be retried"),
            }
        }
    })
    .await
}
