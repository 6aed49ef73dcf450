//! Adapters to AWS: one file per service. Every key is led by the tenant (or by a hash of an
//! OAuth state, which is bound to a tenant), see `docs/data-model.md`.

pub mod articles;
pub mod consent;
pub mod dynamo;
pub mod feed;
pub mod idempotency;
pub mod item;
pub mod jobs;
pub mod lease;
pub mod port;
pub mod quarantine;
pub mod queue;
pub mod ratelimit;
pub mod records;
pub mod secrets;
pub mod sync_dynamo;
pub mod webhooks;

pub use consent::{OAuthState, PendingConsent};
pub use dynamo::Db;
pub use port::{SyncStore, SyncWrite};
pub use queue::{JobMessage, Queue};
pub use secrets::Vault;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists, or is not in the expected state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored item could not be read back into a domain type.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// The AWS call failed.
    #[error("{service} call failed: {message}")]
    Aws {
        /// Which service.
        service: &'static str,
        /// What the SDK said.
        message: String,
    },
}

impl StoreError {
    pub(crate) fn dynamo<E: std::error::Error + 'static>(e: E) -> Self {
        StoreError::Aws {
            service: "DynamoDB",
            message: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        }
    }
    pub(crate) fn secrets<E: std::error::Error + 'static>(e: E) -> Self {
        StoreError::Aws {
            service: "Secrets Manager",
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        }
    }
}

/// Whether a conditional DynamoDB write happened: `Ok(false)` when its condition failed (the
/// item exists, the lease is someone else's, the version moved on), `Err` for anything else.
pub(crate) fn written<T, E>(
    res: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|se| se.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::dynamo(e)),
    }
}
