//! Inbound HTTP: tenant from verified JWT claims, request limits, problem+json errors.

pub mod body;
pub mod problem;
pub mod request;

pub use body::{typed_body, Text};
pub use problem::Problem;
pub use request::{json_body, path_param, query_param, request_span, tenant, user};

use lambda_http::{Body, Response};
use serde::Serialize;

/// Turns a handler outcome into the response API Gateway returns. Handlers always answer
/// `Ok(response)`: an `Err` from a function would become a bare 500.
pub fn respond(outcome: Result<Response<Body>, Problem>) -> Response<Body> {
    outcome.unwrap_or_else(|p| p.into_response())
}

/// Runs a handler inside the request's span (request id, route, tenant on every log line) and
/// turns its outcome into the response.
pub async fn traced(
    req: &lambda_http::Request,
    work: impl std::future::Future<Output = Result<Response<Body>, Problem>>,
) -> Response<Body> {
    use tracing::Instrument;
    respond(work.instrument(request_span(req)).await)
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response<Body>, Problem> {
    let text = serde_json::to_string(body)
        .map_err(|e| Problem::internal(format!("serialising response: {e}")))?;
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(text))
        .map_err(|e| Problem::internal(e.to_string()))
}

/// A 302 redirect to `location`.
pub fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(302)
        .header("location", location)
        .header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
        .body(Body::Empty)
        .unwrap_or_default()
}
