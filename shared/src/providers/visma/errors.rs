//! Visma eAccounting REST errors, classified from their real bodies:
//! `{"ErrorCode": 4010, "DeveloperErrorMessage": "…", "ErrorId": "<guid>"}`. Families: 2xxx
//! validation, 3xxx not found, 4xxx permission, quota and business rules, 5xxx server, 6xxx
//! query.

use crate::http::error::{body_excerpt, code_from_json};
use crate::http::ApiError;
use serde_json::Value;
use std::time::Duration;

/// Too many requests ("… Try again in N seconds.").
pub const CODE_RATE_LIMITED: i64 = 4010;
/// The token lacks a scope the endpoint needs.
pub const CODE_MISSING_SCOPE: i64 = 4006;
/// Codes only a person can resolve: startup guide not done (4003), missing scope (4006),
/// product variant (4009), licence or terms not accepted (4011, 4012), a sandbox client used
/// on production (4034).
pub const NEEDS_PERSON: &[i64] = &[4003, 4006, 4009, 4011, 4012, 4034];
/// The token is not accepted.
pub const CODE_UNAUTHORIZED: i64 = 4001;

/// The wait after a 429 without "Try again in N seconds": Visma's window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The code and message of a Visma error body.
pub fn parse(body: &[u8]) -> (Option<i64>, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |k: &str| {
        v.as_object().and_then(|m| {
            m.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        })
    };
    let code = field("ErrorCode").and_then(code_from_json);
    let message = [
        "DeveloperErrorMessage",
        "Message",
        "error_description",
        "error",
    ]
    .iter()
    .find_map(|k| field(k).and_then(Value::as_str))
    .map(str::to_string)
    .unwrap_or_else(|| body_excerpt(body));
    (code, message)
}

/// Reads N from "… Try again in N seconds."
pub fn retry_after(message: &str) -> Option<Duration> {
    let tail = message.split("Try again in ").nth(1)?;
    let n: u64 = tail
        .split_whitespace()
        .next()?
        .trim_end_matches('.')
        .parse()
        .ok()?;
    Some(Duration::from_secs(n))
}

/// Classifies a non-2xx answer of the Visma REST API.
pub fn classify(status: u16, body: &[u8]) -> ApiError {
    let (code, message) = parse(body);
    match (status, code) {
        (429, _) | (_, Some(CODE_RATE_LIMITED)) => ApiError::RateLimited {
            retry_after: retry_after(&message),
            message,
        },
        (_, Some(c)) if NEEDS_PERSON.contains(&c) => ApiError::NeedsPerson { code, message },
        (401, _) | (_, Some(CODE_UNAUTHORIZED)) => ApiError::NeedsReauth { message },
        (_, Some(5000..=5999)) => ApiError::Retryable { message },
        (s, _) if s >= 500 => ApiError::Retryable {
            message: format!("HTTP {s}: {message}"),
        },
        (403, _) => ApiError::NeedsPerson { code, message },
        (404, _) | (_, Some(3000..=3999)) => ApiError::NotFound { message },
        _ => ApiError::InvalidData {
            code,
            message,
            field: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str) -> ApiError {
        classify(status, body.as_bytes())
    }

    #[test]
    fn classifies_real_bodies() {
        let e = c(
            429,
            r#"{"ErrorCode":4010,"DeveloperErrorMessage":"You have exceeded the rate limit of 600 requests per minute for this endpoint. Try again in 17 seconds.","ErrorId":"2b8e61d0-5f3a-4e27-b1c9-08d4e6f2a301"}"#,
        );
        assert!(
            matches!(e, ApiError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(17))
        );
        let e = c(
            429,
            r#"{"ErrorCode":4010,"DeveloperErrorMessage":"Slow down."}"#,
        );
        assert!(matches!(
            e,
            ApiError::RateLimited {
                retry_after: None,
                ..
            }
        ));
        let e = c(
            403,
            r#"{"ErrorCode":4006,"DeveloperErrorMessage":"Missing scope ea:sales.","ErrorId":"x"}"#,
        );
        assert!(matches!(
            e,
            ApiError::NeedsPerson {
                code: Some(4006),
                ..
            }
        ));
        for code in [4003, 4009, 4011, 4012, 4034] {
            let e = c(
                400,
                &format!(r#"{{"ErrorCode":{code},"DeveloperErrorMessage":"m"}}"#),
            );
            assert!(matches!(e, ApiError::NeedsPerson { .. }), "{code}");
        }
        assert!(matches!(
            c(
                401,
                r#"{"ErrorCode":4001,"DeveloperErrorMessage":"Unauthorized"}"#
            ),
            ApiError::NeedsReauth { .. }
        ));
        for code in [5000, 5001, 5002] {
            let e = c(
                500,
                &format!(r#"{{"ErrorCode":{code},"DeveloperErrorMessage":"m"}}"#),
            );
            assert!(e.is_retryable(), "{code}");
        }
        assert!(c(503, "Service Unavailable").is_retryable());
        assert!(matches!(
            c(
                404,
                r#"{"ErrorCode":3000,"DeveloperErrorMessage":"Customer with id x was not found."}"#
            ),
            ApiError::NotFound { .. }
        ));
        let e = c(
            400,
            r#"{"ErrorCode":2000,"DeveloperErrorMessage":"Validation failed: InvoiceCity is required.","ErrorId":"y"}"#,
        );
        assert_eq!(
            e,
            ApiError::InvalidData {
                code: Some(2000),
                message: "Validation failed: InvoiceCity is required.".into(),
                field: None
            }
        );
        assert!(matches!(
            c(
                400,
                r#"{"ErrorCode":"6000","DeveloperErrorMessage":"bad filter"}"#
            ),
            ApiError::InvalidData {
                code: Some(6000),
                ..
            }
        ));
    }
}
