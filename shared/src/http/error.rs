//! What a provider API call can end in, classified by what the caller should do next.

use std::time::Duration;

/// A failed provider API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A fault that may pass (network, timeout, 5xx, Fortnox 1000003, Visma 5000–5002).
    #[error("temporary provider failure: {message}")]
    Retryable {
        /// What happened.
        message: String,
    },
    /// Too many requests: wait `retry_after` (or the provider's window) first.
    #[error("rate limited by the provider: {message}")]
    RateLimited {
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// The provider's words.
        message: String,
    },
    /// The access token was refused: refresh it, or a person must connect again.
    #[error("the provider refused the access token: {message}")]
    NeedsReauth {
        /// The provider's words.
        message: String,
    },
    /// Something only a person can fix at the provider: a licence, a scope, a product
    /// variant, an unfinished startup guide, unaccepted terms.
    #[error("the provider needs a person to act (code {code:?}): {message}")]
    NeedsPerson {
        /// The provider's error code.
        code: Option<i64>,
        /// The provider's words.
        message: String,
    },
    /// The provider (or our mapping) rejected the data.
    #[error("the provider rejected the data (code {code:?}): {message}")]
    InvalidData {
        /// The provider's error code, when it sent one.
        code: Option<i64>,
        /// The provider's own message (often Swedish), or ours.
        message: String,
        /// The canonical field at fault, when known (`rows[0].article_number`).
        field: Option<String>,
    },
    /// The record does not exist (or no longer does).
    #[error("not found at the provider: {message}")]
    NotFound {
        /// The provider's words.
        message: String,
    },
    /// A create was sent and its outcome is unknown (timeout, 5xx, reset after sending).
    /// Look the record up by our reference before creating it again.
    #[error("the outcome of a create is unknown: {message}")]
    Ambiguous {
        /// What happened.
        message: String,
    },
    /// The provider answered something we cannot read.
    #[error("unreadable provider response: {message}")]
    Unexpected {
        /// What could not be read.
        message: String,
    },
}

impl ApiError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::Retryable { .. } | ApiError::RateLimited { .. }
        )
    }

    /// A stable machine-readable code for job errors and status pages.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Retryable { .. } => "provider_unavailable",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::NeedsReauth { .. } => "needs_reauth",
            ApiError::NeedsPerson { .. } => "needs_person",
            ApiError::InvalidData { .. } => "invalid_data",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Ambiguous { .. } => "ambiguous_create",
            ApiError::Unexpected { .. } => "provider_response_unreadable",
        }
    }

    /// Invalid data found by our own mapping, naming the canonical field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidData {
            code: None,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// An answer that could not be decoded.
    pub fn unexpected(message: impl std::fmt::Display) -> Self {
        ApiError::Unexpected {
            message: message.to_string(),
        }
    }
}

/// Reads a provider error code that may be a number or a numeric string.
pub fn code_from_json(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The start of a body for an error message when nothing better was found.
pub fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}
