//! Triggered by the dead-letter queue (fed by the sync queue's redrive policy after five
//! receives): marks each message's job dead with its last error.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use shared::jobs::maintenance::bury;
use shared::AppContext;

/// Handles one invocation.
pub async fn handler(
    ctx: &AppContext,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    Ok(handle_batch(ctx, event.payload.records).await)
}

/// Handles the messages of a batch.
pub async fn handle_batch(ctx: &AppContext, records: Vec<SqsMessage>) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for m in records {
        if let Err(e) = bury(ctx, m.body.as_deref().unwrap_or_default()).await {
            tracing::error!(error = %e, "could not mark a dead job");
            let mut f = BatchItemFailure::default();
            f.item_identifier = m.message_id.unwrap_or_default();
            failures.push(f);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
