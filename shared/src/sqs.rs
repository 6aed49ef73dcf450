//! SQS-triggered functions with partial batch failures: the event source mapping has
//! `ReportBatchItemFailures`, so a handler names the messages that failed and SQS brings back
//! only those; one bad message never returns the whole batch.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

/// Runs `handle` on each message of a batch, in order, and answers with the messages whose
/// `handle` failed, by message id.
pub async fn partial_batch<'a, F, Fut, E>(
    records: Vec<SqsMessage>,
    mut handle: F,
) -> SqsBatchResponse
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'a,
    E: Display,
{
    let mut failures = Vec::new();
    for message in records {
        let id = message.message_id.clone().unwrap_or_default();
        // Boxed: the batch's future then does not embed the whole per-message future (a job
        // slice is a deep one), which keeps the handler's future small and its type shallow.
        let work: Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'a>> =
            Box::pin(handle(message));
        if let Err(e) = work.await {
            tracing::warn!(message_id = %id, error = %e, "message failed; SQS brings it back");
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            failures.push(f);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_string());
        m.body = Some(body.to_string());
        m
    }

    #[tokio::test]
    async fn only_failed_messages_are_reported_in_order() {
        let mut seen = Vec::new();
        let records = vec![message("a", "ok"), message("b", "bad"), message("c", "bad")];
        let out = partial_batch(records, |m| {
            seen.push(m.message_id.clone().unwrap_or_default());
            async move {
                match m.body.as_deref() {
                    Some("ok") => Ok(()),
                    _ => Err("refused"),
                }
            }
        })
        .await;
        assert_eq!(seen, ["a", "b", "c"]);
        let failed: Vec<_> = out
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["b", "c"]);
        let none = partial_batch(vec![message("d", "ok")], |_| async { Ok::<_, String>(()) }).await;
        assert!(none.batch_item_failures.is_empty());
    }
}
