//! Triggered by the dead-letter queue (fed by the sync queue's redrive policy after five
//! receives): marks each message's job dead with its last error.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use shared::jobs::maintenance::bury;
use shared::sqs::partial_batch;
use shared::AppContext;

/// Handles one invocation.
pub async fn handler(
    ctx: &AppContext,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    Ok(handle_batch(ctx, event.payload.records).await)
}

/// Handles the messages of a batch; a job that could not be marked dead is reported failed.
pub async fn handle_batch(ctx: &AppContext, records: Vec<SqsMessage>) -> SqsBatchResponse {
    partial_batch(records, |m| async move {
        bury(ctx, m.body.as_deref().unwrap_or_default())
            .await
            .map(|_| ())
    })
    .await
}
