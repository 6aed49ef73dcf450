//! Fortnox's error answers. Handlers return `Result<Response, ApiError>`.
//!
//! The body is `{"ErrorInformation": {…}}`, but its key casing depends on the answer, as real
//! Fortnox sends it: a 404 spells the keys as `fortnox_ErrorInformation` does (`Error`,
//! `Message`, `Code`), other errors (400, 403, 500) use lower case (`error`, `message`,
//! `code`). An expired or unknown access token is refused before the API proper with a bare
//! 401 `{"message": "unauthorized"}`, and the rate limit with a bare 429
//! `{"message": "Too many requests"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::codes::{CODE_INVALID_VALUE, CODE_TOKEN_MISSING};
use super::codes::{CODE_NOT_FOUND, CODE_REQUIRED_FIELD, CODE_SYSTEM_ERROR, CODE_VALUE_TOO_LONG};

/// A Fortnox API error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// Fortnox's error code; `None` for the bare `{"message"}` answers of the gateway.
    pub code: Option<i64>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: Some(code),
            message: message.into(),
        }
    }

    /// The gateway's 401 for an expired or unknown access token: `{"message": "unauthorized"}`.
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: None,
            message: "unauthorized".into(),
        }
    }

    /// The answer's JSON body.
    pub fn body(&self) -> Value {
        let Some(code) = self.code else {
            return json!({"message": self.message});
        };
        if self.status == StatusCode::NOT_FOUND {
            json!({"ErrorInformation": {"Error": 1, "Message": self.message, "Code": code}})
        } else {
            json!({"ErrorInformation": {"error": 1, "message": self.message, "code": code}})
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

pub(crate) fn bad_request(code: i64, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, CODE_NOT_FOUND, message)
}

/// A request without an `Authorization` header.
pub(crate) fn token_missing() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        CODE_TOKEN_MISSING,
        "Kan inte logga in, access-token saknas.",
    )
}

/// Fortnox's 429 body. Fortnox sends no `Retry-After`.
pub(crate) fn too_many_requests() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"message": "Too many requests"})),
    )
        .into_response()
}

/// Fortnox's 500 body (code 1000003, retryable).
pub(crate) fn system_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        CODE_SYSTEM_ERROR,
        "Systemfel: ett oväntat fel inträffade, försök igen senare.",
    )
    .into_response()
}

pub(crate) fn customer_not_found(number: &str) -> ApiError {
    not_found(format!("Kan inte hitta kunden \"{number}\"."))
}

pub(crate) fn invoice_not_found(number: &str) -> ApiError {
    not_found(format!("Kan inte hitta fakturan \"{number}\"."))
}

pub(crate) fn name_required() -> ApiError {
    bad_request(CODE_REQUIRED_FIELD, "Kunden måste ha ett namn (Name).")
}

pub(crate) fn invalid_value(field: &str, value: &Value) -> ApiError {
    bad_request(
        CODE_INVALID_VALUE,
        format!("Ogiltigt värde för fältet \"{field}\": {value}."),
    )
}

pub(crate) fn too_long(field: &str, max: usize) -> ApiError {
    bad_request(
        CODE_VALUE_TOO_LONG,
        format!("Fältet \"{field}\" får innehålla högst {max} tecken."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_casing_follows_the_status() {
        let missing = customer_not_found("7").body();
        assert_eq!(missing["ErrorInformation"]["Code"], CODE_NOT_FOUND);
        assert_eq!(missing["ErrorInformation"]["Error"], 1);
        assert!(missing["ErrorInformation"].get("code").is_none());
        let bad = name_required().body();
        assert_eq!(bad["ErrorInformation"]["code"], CODE_REQUIRED_FIELD);
        assert!(bad["ErrorInformation"].get("Code").is_none());
        assert_eq!(
            ApiError::unauthorized().body(),
            json!({"message": "unauthorized"})
        );
    }
}
