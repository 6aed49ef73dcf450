//! Adapters to AWS: one file per service. Every key is led by the tenant (or by a hash of an
//! OAuth state, which is bound to a tenant), see `docs/data-model.md`.

pub mod actions;
pub mod articles;
pub mod bulk;
pub mod consent;
pub mod dynamo;
pub mod feed;
pub mod idempotency;
pub mod item;
pub mod jobs;
pub mod lease;
pub mod marks;
pub mod port;
pub mod quarantine;
pub mod queue;
pub mod ratelimit;
pub mod records;
pub mod secrets;
pub mod stream;
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

/// The attribute a conditional put carries to know itself again: a token of its own, new for
/// every logical write (not for every attempt).
pub(crate) const WRITE_TOKEN: &str = "write_token";

/// A new write token.
pub(crate) fn write_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `old`, the item a failed condition found (`ReturnValuesOnConditionCheckFailure =
/// ALL_OLD`), is our own write: the SDK retried a put whose first attempt had landed and whose
/// answer was lost (a timeout, a 500 after the commit), and the retry's condition failed on
/// that very write. Without this, a job save would look like a lost race and a webhook
/// delivery like a replay, and the work would be dropped (docs/design.md, "AWS faults").
pub(crate) fn is_own_write(
    old: Option<&std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    token: &str,
) -> bool {
    old.and_then(|it| it.get(WRITE_TOKEN))
        .and_then(|v| v.as_s().ok())
        .is_some_and(|t| t == token)
}

/// [`written`] for a conditional PutItem that carries `token` in [`WRITE_TOKEN`] and asks for
/// `ALL_OLD` on a failed condition (see [`put_once`]): a condition that failed on our own
/// write counts as written.
pub(crate) fn put_written(
    res: Result<
        aws_sdk_dynamodb::operation::put_item::PutItemOutput,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::put_item::PutItemError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    >,
    token: &str,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    match res {
        Ok(_) => Ok(true),
        Err(e) => match e.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(c)) => {
                Ok(is_own_write(c.item(), token))
            }
            _ => Err(StoreError::dynamo(e)),
        },
    }
}

/// Marks a conditional put with a new write token and asks for the item that fails its
/// condition; gives the token for [`put_written`].
pub(crate) fn put_once(
    req: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
) -> (
    aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    String,
) {
    let token = write_token();
    (
        req.item(WRITE_TOKEN, item::s(&token))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            ),
        token,
    )
}

#[cfg(test)]
mod own_write_tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;

    #[test]
    fn a_failed_condition_on_our_own_token_is_our_write() {
        let mine = HashMap::from([
            ("pk".to_string(), AttributeValue::S("x".into())),
            (WRITE_TOKEN.to_string(), AttributeValue::S("t1".into())),
        ]);
        assert!(is_own_write(Some(&mine), "t1"));
        assert!(!is_own_write(Some(&mine), "t2"), "someone else's write");
        let untokened = HashMap::from([("pk".to_string(), AttributeValue::S("x".into()))]);
        assert!(!is_own_write(Some(&untokened), "t1"), "an older write");
        assert!(!is_own_write(None, "t1"), "no item came back");
        assert_ne!(write_token(), write_token());
    }
}
