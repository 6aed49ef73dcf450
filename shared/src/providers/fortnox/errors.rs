//! Fortnox REST errors, classified from their real bodies:
//! `{"ErrorInformation": {"error": 1, "message": "…", "code": 2000423}}` with keys of varying
//! case and `code` sometimes a string; a bare `{message}`; or an OAuth `{error,
//! error_description}`.

use crate::http::error::{body_excerpt, code_from_json};
use crate::http::ApiError;
use serde_json::Value;
use std::time::Duration;

/// Bad or missing access token.
pub const CODE_TOKEN_MISSING: i64 = 2_000_310;
/// Invalid or expired access token.
pub const CODE_TOKEN_INVALID: i64 = 2_000_311;
/// No licence for the module (or the token lacks the scope).
pub const CODE_NO_LICENCE: i64 = 2_001_101;
/// Customer number already used (numbers stay reserved after deletion).
pub const CODE_CUSTOMER_NUMBER_TAKEN: i64 = 2_000_637;
/// Account not found: a row with neither article nor account.
pub const CODE_ACCOUNT_NOT_FOUND: i64 = 2_001_304;
/// The body is not valid JSON.
pub const CODE_BAD_JSON: i64 = 2_002_115;
/// System exception: retryable.
pub const CODE_SYSTEM_EXCEPTION: i64 = 1_000_003;

/// The sliding window Fortnox counts requests in; a 429 waits this long.
pub const WINDOW: Duration = Duration::from_secs(5);

/// The code and message of a Fortnox error body.
pub fn parse(body: &[u8]) -> (Option<i64>, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let info = ["ErrorInformation", "errorInformation", "errorinformation"]
        .iter()
        .find_map(|k| v.get(*k))
        .unwrap_or(&v);
    let field = |k: &str| {
        info.as_object().and_then(|m| {
            m.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        })
    };
    let code = field("code").and_then(code_from_json);
    let message = field("message")
        .or_else(|| field("error_description"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| field("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body_excerpt(body));
    (code, message)
}

/// Classifies a non-2xx answer of the Fortnox REST API.
pub fn classify(status: u16, body: &[u8]) -> ApiError {
    let (code, message) = parse(body);
    let oauth_error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
    match (status, code) {
        (429, _) => ApiError::RateLimited {
            retry_after: None,
            message,
        },
        (_, Some(CODE_NO_LICENCE)) => ApiError::NeedsPerson { code, message },
        (_, Some(CODE_TOKEN_MISSING | CODE_TOKEN_INVALID)) | (401 | 403, _) => {
            ApiError::NeedsReauth { message }
        }
        (_, Some(CODE_SYSTEM_EXCEPTION)) => ApiError::Retryable { message },
        (s, _) if s >= 500 => ApiError::Retryable {
            message: format!("HTTP {s}: {message}"),
        },
        (404, _) => ApiError::NotFound { message },
        _ if matches!(oauth_error.as_deref(), Some("invalid_token")) => {
            ApiError::NeedsReauth { message }
        }
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

    #[test]
    fn classifies_real_bodies() {
        let e = classify(
            403,
            r#"{"ErrorInformation":{"error":1,"message":"Ogiltig access-token.","code":2000311}}"#
                .as_bytes(),
        );
        assert_eq!(
            e,
            ApiError::NeedsReauth {
                message: "Ogiltig access-token.".into()
            }
        );
        let e = classify(
            401,
            r#"{"ErrorInformation":{"Error":1,"Message":"Saknar access-token.","Code":"2000310"}}"#
                .as_bytes(),
        );
        assert!(matches!(e, ApiError::NeedsReauth { .. }));
        let e = classify(
            403,
            r#"{"ErrorInformation":{"error":1,"message":"Det saknas en licens för att utföra denna åtgärd.","code":2001101}}"#.as_bytes(),
        );
        assert!(matches!(
            e,
            ApiError::NeedsPerson {
                code: Some(2001101),
                ..
            }
        ));
        let e = classify(
            500,
            r#"{"ErrorInformation":{"error":1,"message":"Ett systemfel har uppstått.","code":1000003}}"#.as_bytes(),
        );
        assert!(e.is_retryable());
        let e = classify(
            400,
            r#"{"ErrorInformation":{"error":1,"message":"Kunde inte hitta konto.","code":2001304}}"#.as_bytes(),
        );
        assert_eq!(
            e,
            ApiError::InvalidData {
                code: Some(2001304),
                message: "Kunde inte hitta konto.".into(),
                field: None
            }
        );
        let e = classify(
            400,
            r#"{"ErrorInformation":{"error":1,"message":"Kundnummer 10 används redan.","code":2000637}}"#.as_bytes(),
        );
        assert!(matches!(
            e,
            ApiError::InvalidData {
                code: Some(CODE_CUSTOMER_NUMBER_TAKEN),
                ..
            }
        ));
        let e = classify(
            404,
            r#"{"ErrorInformation":{"error":1,"message":"Kan inte hitta kunden.","code":2000433}}"#
                .as_bytes(),
        );
        assert!(matches!(e, ApiError::NotFound { .. }));
        assert!(matches!(
            classify(429, r#"{"message":"Too many requests"}"#.as_bytes()),
            ApiError::RateLimited { retry_after: None, ref message } if message == "Too many requests"
        ));
        assert!(matches!(
            classify(502, b"<html>Bad gateway</html>"),
            ApiError::Retryable { .. }
        ));
        assert!(matches!(
            classify(400, r#"{"error":"invalid_token","error_description":"expired"}"#.as_bytes()),
            ApiError::NeedsReauth { ref message } if message == "expired"
        ));
    }
}
