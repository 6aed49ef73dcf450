//! RFC 9457 problem details: every error a caller sees says what was wrong and what to do.

use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// An error answer, sent as `application/problem+json` (boxed: it travels in `Err`).
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemDetails>);

/// The members of a problem document.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemDetails {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What exactly went wrong and what to do.
    pub detail: String,
    /// The request field at fault, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// More members.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Problem {
    /// A problem of `status` with a kind slug and a detail.
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem(Box::new(ProblemDetails {
            type_: format!("https://docs.accounting-integrations.dev/problems/{kind}"),
            title: title.to_string(),
            status,
            detail: detail.into(),
            field: None,
            extra: Map::new(),
        }))
    }

    /// 400 naming the field at fault.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        let mut p = Problem::new(400, "invalid-field", "Invalid request field", detail);
        p.0.field = Some(field.to_string());
        p
    }

    /// 400 for a request that is malformed as a whole.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(400, "bad-request", "Malformed request", detail)
    }

    /// 401: no usable tenant in the token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Problem::new(401, "unauthorized", "Not authenticated", detail)
    }

    /// 404: the thing does not exist for this tenant (also when another tenant owns it).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(404, "not-found", "Not found", detail)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Problem::new(409, "conflict", "Conflict", detail)
    }

    /// 413: body too large.
    pub fn too_large(limit: usize) -> Self {
        Problem::new(
            413,
            "payload-too-large",
            "Payload too large",
            format!("the body must be at most {limit} bytes"),
        )
    }

    /// 415: wrong content type.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Problem::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 502: the provider failed us.
    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Problem::new(502, "provider-error", "Accounting system error", detail)
    }

    /// 500 with a generic detail; the cause goes to the log, not to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Problem::new(
            500,
            "internal",
            "Internal error",
            "something went wrong on our side; try again later",
        )
    }

    /// Adds a member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.extra.insert(key.to_string(), value.into());
        self
    }

    /// The members.
    pub fn details(&self) -> &ProblemDetails {
        &self.0
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&*self.0).unwrap_or_else(|_| "{}".to_string());
        Response::builder()
            .status(self.0.status)
            .header("content-type", "application/problem+json")
            .header("cache-control", "no-store")
            .body(Body::Text(body))
            .unwrap_or_default()
    }
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        Problem::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_problem_json_with_field() {
        let r = Problem::invalid_field("provider", "`provider` is required")
            .with("allowed", vec!["fortnox", "visma"])
            .into_response();
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let v: Value = match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            _ => panic!("text body expected"),
        };
        assert_eq!(v["field"], "provider");
        assert_eq!(v["status"], 400);
        assert_eq!(v["allowed"][1], "visma");
        assert!(v["type"].as_str().unwrap().ends_with("/invalid-field"));
    }
}
