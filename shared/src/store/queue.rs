//! The sync queue (SQS standard queue with a redrive policy to a dead-letter queue).

use super::StoreError;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};

/// What a queue message says: run the next slice of this job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// Owner.
    pub tenant_id: String,
    /// Integration.
    pub integration_id: String,
    /// Job.
    pub job_id: String,
    /// The slice this message is for: a message older than the job's progress is a stale
    /// duplicate and is dropped.
    #[serde(default)]
    pub slice: u32,
}

/// SQS caps a message delay at 15 minutes.
pub const MAX_DELAY_SECONDS: u64 = 900;

/// The sync queue.
#[derive(Clone)]
pub struct Queue {
    client: crate::aws_http::OnFirstUse<aws_sdk_sqs::Client>,
    url: String,
}

impl Queue {
    /// The queue at `url`.
    pub fn new(
        client: impl Into<crate::aws_http::OnFirstUse<aws_sdk_sqs::Client>>,
        url: impl Into<String>,
    ) -> Self {
        Queue {
            client: client.into(),
            url: url.into(),
        }
    }

    /// The SDK client.
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.url.is_empty() {
            return Err(StoreError::Aws {
                service: "SQS",
                message: "SYNC_QUEUE_URL is not configured".into(),
            });
        }
        Ok(())
    }

    /// Sends one message, visible after `delay_seconds` (at most 900).
    pub async fn send(&self, msg: &JobMessage, delay_seconds: u64) -> Result<(), StoreError> {
        self.check()?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body(msg)?)
            .delay_seconds(delay_seconds.min(MAX_DELAY_SECONDS) as i32)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    /// Sends many messages with SendMessageBatch, ten at a time; failed entries are retried
    /// once and then reported.
    pub async fn send_batch(&self, msgs: &[(JobMessage, u64)]) -> Result<(), StoreError> {
        self.check()?;
        for chunk in msgs.chunks(10) {
            let mut entries: Vec<SendMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, (m, delay))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body(m)?)
                        .delay_seconds((*delay).min(MAX_DELAY_SECONDS) as i32)
                        .build()
                        .map_err(sqs_error)
                })
                .collect::<Result<_, _>>()?;
            for attempt in 0..2 {
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(sqs_error)?;
                let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                if failed.is_empty() {
                    break;
                }
                if attempt == 1 {
                    return Err(StoreError::Aws {
                        service: "SQS",
                        message: format!("{} messages not sent", failed.len()),
                    });
                }
                entries.retain(|e| failed.contains(&e.id()));
            }
        }
        Ok(())
    }

    /// Makes a received message visible again after `seconds` (a retry with backoff).
    pub async fn retry_after(&self, receipt_handle: &str, seconds: u64) -> Result<(), StoreError> {
        self.check()?;
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds.min(43_200) as i32)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }
}

fn body(msg: &JobMessage) -> Result<String, StoreError> {
    serde_json::to_string(msg).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn sqs_error<E: std::error::Error + 'static>(e: E) -> StoreError {
    StoreError::Aws {
        service: "SQS",
        message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
    }
}
