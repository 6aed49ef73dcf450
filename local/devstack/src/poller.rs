//! A local stand-in for Lambda's SQS event source mapping: receives batches, invokes the
//! function's handler with an `SqsEvent`, deletes the messages that were not reported in
//! `batchItemFailures`, and leaves the failed ones to come back after their visibility timeout.

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use shared::AppContext;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Which function the messages go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The worker (sync queue).
    Worker,
    /// The dead-letter handler (dead-letter queue).
    DeadLetter,
}

/// Runs pollers until stopped.
pub struct Pollers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Pollers {
    /// Starts `concurrency` pollers on `queue_url` for `target`. `sqs` receives and deletes:
    /// the event source mapping is AWS's own, so it goes straight to moto even when the
    /// functions meet AWS faults.
    pub fn start(
        ctx: Arc<AppContext>,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        target: Target,
        concurrency: usize,
        batch_size: i32,
    ) -> Pollers {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..concurrency)
            .map(|_| {
                let (ctx, sqs, url, stop) =
                    (ctx.clone(), sqs.clone(), queue_url.clone(), stop.clone());
                tokio::spawn(async move { poll(ctx, sqs, url, target, batch_size, stop).await })
            })
            .collect();
        Pollers { stop, tasks }
    }

    /// Stops every poller at once, as if the containers were killed mid-invocation.
    pub fn kill(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn poll(
    ctx: Arc<AppContext>,
    sqs: aws_sdk_sqs::Client,
    url: String,
    target: Target,
    batch_size: i32,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(batch_size)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let msgs = match out {
            Ok(o) => o.messages().to_vec(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if msgs.is_empty() {
            continue;
        }
        // Lambda's event source mapping is billed for the receives that bring messages and
        // for one DeleteMessageBatch a batch (idle long polls are a fixed cost of the app).
        crate::metering::esm_request("ReceiveMessage");
        crate::metering::esm_request("DeleteMessageBatch");
        let records: Vec<SqsMessage> = msgs
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = m.message_id().map(str::to_string);
                r.receipt_handle = m.receipt_handle().map(str::to_string);
                r.body = m.body().map(str::to_string);
                r.attributes = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_else(HashMap::new);
                r
            })
            .collect();
        let started = std::time::Instant::now();
        let response = match target {
            Target::Worker => {
                worker::handle_batch(&ctx, records, || {
                    Duration::from_secs(900).saturating_sub(started.elapsed())
                })
                .await
            }
            Target::DeadLetter => dead_letter::handle_batch(&ctx, records).await,
        };
        crate::metering::invoked(
            match target {
                Target::Worker => "worker",
                Target::DeadLetter => "dead_letter",
            },
            started.elapsed(),
        );
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for m in msgs
            .iter()
            .filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
        {
            if let Some(rh) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(rh)
                    .send()
                    .await;
            }
        }
    }
}
