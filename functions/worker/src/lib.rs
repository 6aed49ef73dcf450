//! SQS-triggered worker: one slice of one job per message. Failed messages are reported in
//! `batchItemFailures` (the event source mapping has `ReportBatchItemFailures`), so one bad
//! message never brings back the whole batch.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use shared::jobs::worker::{handle, Disposition};
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
    let mut failures = Vec::new();
    for m in records {
        let id = m.message_id.clone().unwrap_or_default();
        let body = m.body.as_deref().unwrap_or_default();
        let receipt = m.receipt_handle.as_deref().unwrap_or_default();
        if handle(ctx, body, receipt, remaining()).await == Disposition::Retry {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            failures.push(f);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
