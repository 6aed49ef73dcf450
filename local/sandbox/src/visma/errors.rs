//! Visma API errors: every failure is an [`ApiError`], answered as the document's
//! `CommonExtendedBadRequest` (`{"ErrorCode", "DeveloperErrorMessage", "ErrorId", "Errors"}`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use super::codes::{
    CODE_INVALID_BODY, CODE_INVALID_VALUE, CODE_NOT_FOUND, CODE_RATE_LIMITED, CODE_REQUIRED_FIELD,
    CODE_SERVER_ERROR, CODE_TOO_LONG,
};

/// A Visma API error. Handlers return `Result<Response, ApiError>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The body as the document's `CommonExtendedBadRequest` has it. `Errors` (the per-field
    /// list) is `null`: the message names the field.
    pub fn body(&self) -> Value {
        json!({
            "ErrorCode": self.code,
            "DeveloperErrorMessage": self.message,
            "ErrorId": Uuid::new_v4().to_string(),
            "Errors": null,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// What a handler answers.
pub(crate) type Answer = Result<Response, ApiError>;

/// [`answer`] for operations whose documented 404 has no body (`GET /projects/{id}`,
/// `PUT /costcenteritems/{id}`, …: `404: {description: "Not Found"}` without `content`): a
/// 404 goes out bare. Other errors keep `CommonExtendedBadRequest`.
pub(crate) fn answer_bare_404(result: Answer) -> Response {
    match result {
        Err(e) if e.status == StatusCode::NOT_FOUND => StatusCode::NOT_FOUND.into_response(),
        other => answer(other),
    }
}

/// Turns an [`Answer`] into the response.
pub(crate) fn answer(result: Answer) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) fn bad_request(code: i64, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// 404 for a record that does not exist. The document lists only 200 and 400 for most
/// operations but 404 for `GET /vatcodes/{id}`; the body is `CommonExtendedBadRequest`.
pub(crate) fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        CODE_NOT_FOUND,
        format!("{what} with id {id} was not found."),
    )
}

pub(crate) fn invalid(field: &str, value: &Value) -> ApiError {
    bad_request(
        CODE_INVALID_VALUE,
        format!("Validation failed: {field} has an invalid value {value}."),
    )
}

pub(crate) fn required(field: &str) -> ApiError {
    bad_request(
        CODE_REQUIRED_FIELD,
        format!("Validation failed: {field} is required."),
    )
}

pub(crate) fn too_long(field: &str, max: u64) -> ApiError {
    bad_request(
        CODE_TOO_LONG,
        format!("Validation failed: {field} can be at most {max} characters long."),
    )
}

pub(crate) fn invalid_body(message: impl Into<String>) -> ApiError {
    bad_request(CODE_INVALID_BODY, message)
}

/// Visma's 429 body; `wait_secs` is when a slot frees up (at least 1).
pub(crate) fn too_many_requests(wait_secs: u64) -> Response {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        CODE_RATE_LIMITED,
        format!(
            "You have exceeded the rate limit of 600 requests per minute for this endpoint. Try again in {} seconds.",
            wait_secs.max(1)
        ),
    )
    .into_response()
}

/// Visma's 500 body (ErrorCode 5000, retryable).
pub(crate) fn server_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        CODE_SERVER_ERROR,
        "An unexpected error occurred. Please try again later.",
    )
    .into_response()
}
