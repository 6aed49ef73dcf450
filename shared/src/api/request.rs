//! Reading requests: tenant, path and query parameters, JSON bodies with limits.

use super::Problem;
use crate::domain::TenantId;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};

/// Largest JSON body accepted by the API: 100 canonical records with many rows each fit;
/// Lambda's own limit is 6 MB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The tenant, taken only from the claims API Gateway's JWT authorizer verified, and only when
/// the claim is a string of the tenant shape ([`TenantId::from_claim`]).
pub fn tenant(req: &Request, claim: &str) -> Result<TenantId, Problem> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|j| &j.claims),
        _ => None,
    };
    let raw = claims.and_then(|c| c.get(claim)).ok_or_else(|| {
        Problem::unauthorized(format!("the access token carries no `{claim}` claim"))
    })?;
    // The claim's value never reaches the answer or the log: only why it was refused.
    let tenant = TenantId::from_claim(raw).map_err(|why| {
        Problem::unauthorized(format!(
            "the `{claim}` claim is not a valid tenant id: it {why}"
        ))
    })?;
    tracing::Span::current().record("tenant", tenant.as_str());
    Ok(tenant)
}

/// The person calling: the `sub` claim API Gateway's JWT authorizer verified. A consent is
/// bound to it, so only the person who started a connection can complete it.
pub fn user(req: &Request) -> Result<String, Problem> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|j| &j.claims),
        _ => None,
    };
    claims
        .and_then(|c| c.get("sub"))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_string)
        .ok_or_else(|| {
            Problem::unauthorized("the access token carries no usable `sub` claim (the user)")
        })
}

/// A path parameter that API Gateway matched.
pub fn path_param(req: &Request, name: &str) -> Result<String, Problem> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Problem::bad_request(format!("the path has no `{name}`")))
}

/// A query parameter, if present and not empty.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The body as a JSON object. An empty body counts as `{}`.
pub fn json_body(req: &Request) -> Result<Map<String, Value>, Problem> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => return Ok(Map::new()),
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => return Ok(Map::new()),
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::too_large(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if let Some(ct) = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
    {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(Problem::unsupported_media_type(format!(
                "send the body as application/json, not `{mime}`"
            )));
        }
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Problem::bad_request("the body must be a JSON object")),
        Err(e) => Err(Problem::bad_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// An optional string field of a JSON body, at most `max` characters.
pub fn optional_string(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, Problem> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(Problem::invalid_field(
            field,
            format!("`{field}` must be at most {max} characters"),
        )),
        Some(_) => Err(Problem::invalid_field(
            field,
            format!("`{field}` must be a string"),
        )),
    }
}

/// A required string field of a JSON body.
pub fn required_string(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<String, Problem> {
    optional_string(body, field, max)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Problem::invalid_field(field, format!("`{field}` is required")))
}

/// A span for one API request: its id and route; `tenant` is filled in once it is known.
pub fn request_span(req: &Request) -> tracing::Span {
    let (request_id, route) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.request_id.clone().unwrap_or_default(),
            ctx.route_key.clone().unwrap_or_default(),
        ),
        _ => (String::new(), String::new()),
    };
    tracing::info_span!("request", request_id = %request_id, route = %route, tenant = tracing::field::Empty)
}
