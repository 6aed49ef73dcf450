//! `POST /api/integrations/{id}/webhook`, served by a Lambda function URL with auth type NONE:
//! signed deliveries from providers and our relays.
//!
//! The function URL passes every path and method, so this handler matches them itself. It
//! checks size and content type, then hands the raw body, exactly as received, to
//! `shared::webhooks::receive`, which verifies the signature before any JSON parsing.
//! Answers: 202 `{"accepted": true, "event_id", "job_id"}` (or `"integration_status"` /
//! `"ignored"` instead of `job_id`), 200 `{"duplicate": true, "event_id"}` for a replay, and
//! problem+json otherwise: the same 401 for every verification failure, 413 over 256 KiB,
//! 415 for a content type other than JSON, 400 for malformed JSON, 422 for an unknown type.

use lambda_http::http::{header, Method};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::json;
use shared::api::{self, respond, Problem};
use shared::webhooks::{receive, KeyCache, Outcome, MAX_BODY_BYTES};
use shared::AppContext;
use std::sync::LazyLock;

/// Signing keys read by this container, kept across invocations.
static KEYS: LazyLock<KeyCache> = LazyLock::new(KeyCache::new);

/// Handles one delivery.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    let mut resp = respond(handle(ctx, &req).await);
    if resp.status() == 405 {
        resp.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    }
    Ok(resp)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let (id, body) = precheck(req)?;
    match receive(ctx, &KEYS, id, req.headers(), body).await? {
        Outcome::Enqueued { event_id, job_id } => api::json(
            202,
            &json!({"accepted": true, "event_id": event_id, "job_id": job_id}),
        ),
        Outcome::Revoked { event_id } => api::json(
            202,
            &json!({"accepted": true, "event_id": event_id, "integration_status": "revoked"}),
        ),
        Outcome::Ignored { event_id, reason } => api::json(
            202,
            &json!({"accepted": true, "event_id": event_id, "job_id": null, "ignored": reason}),
        ),
        Outcome::Duplicate { event_id } => {
            api::json(200, &json!({"duplicate": true, "event_id": event_id}))
        }
    }
}

/// Everything that can be refused without reading any state: the path names an integration,
/// the method is POST, the body is at most 256 KiB of `application/json`. Gives the
/// integration id and the raw body.
pub fn precheck(req: &Request) -> Result<(&str, &[u8]), Problem> {
    let path = match req.raw_http_path() {
        "" => req.uri().path(),
        raw => raw,
    };
    let id = integration_id(path)
        .ok_or_else(|| Problem::not_found("post deliveries to /api/integrations/{id}/webhook"))?;
    if req.method() != Method::POST {
        return Err(Problem::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            "deliveries are sent with POST",
        ));
    }
    // Function URLs hand over non-text bodies base64-encoded; lambda_http has decoded them
    // into bytes either way, and these are the bytes the sender signed.
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::too_large(MAX_BODY_BYTES));
    }
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if mime.as_deref() != Some("application/json") {
        return Err(Problem::unsupported_media_type(format!(
            "send the delivery as application/json, not `{}`",
            mime.as_deref().unwrap_or("no content type")
        )));
    }
    Ok((id, body))
}

/// The `{id}` of `/api/integrations/{id}/webhook` (a trailing slash is tolerated).
pub fn integration_id(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/integrations/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let id = rest.strip_suffix("/webhook")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, content_type: Option<&str>, body: Body) -> Request {
        let mut b = lambda_http::http::Request::builder()
            .method(method)
            .uri(path);
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.body(body).unwrap()
    }

    fn status(r: Result<(&str, &[u8]), Problem>) -> u16 {
        r.map(|_| 0).unwrap_or_else(|p| p.details().status)
    }

    /// `events/webhook.json` is what a function URL sends, and its signature is right for the
    /// sample key documented in `docs/webhooks.md` at its own timestamp.
    #[test]
    fn the_sample_event_parses_and_verifies() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/webhook.json");
        let text = std::fs::read_to_string(path).unwrap();
        let req = lambda_http::request::from_str(&text).unwrap();
        let (id, body) = precheck(&req).unwrap();
        assert_eq!(id, "00000000-0000-4000-8000-000000000001");
        let header = req.headers()["x-signature"].to_str().unwrap();
        let key = b"whk-sample-key-for-events-only-not-a-secret".as_slice();
        let verified = shared::webhooks::signature::verify_ours(
            Some(header),
            body,
            &[key],
            1_795_342_512,
            300,
        );
        assert_eq!(verified, Ok(0));
        let event = shared::webhooks::parse_event(body).unwrap();
        assert_eq!(event.kind, shared::webhooks::EventType::InvoiceUpdated);
    }

    #[test]
    fn finds_the_integration_in_the_path() {
        assert_eq!(
            integration_id("/api/integrations/abc-1/webhook"),
            Some("abc-1")
        );
        assert_eq!(
            integration_id("/api/integrations/abc-1/webhook/"),
            Some("abc-1")
        );
        for bad in [
            "/api/integrations//webhook",
            "/api/integrations/a/b/webhook",
            "/api/integrations/abc/status",
            "/webhook",
            "/api/integrations/abc/webhooks",
        ] {
            assert_eq!(integration_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_what_needs_no_lookup() {
        let p = "/api/integrations/i1/webhook";
        let ok = request(
            "POST",
            p,
            Some("application/json; charset=utf-8"),
            Body::Text("{}".into()),
        );
        assert_eq!(precheck(&ok).unwrap(), ("i1", b"{}".as_slice()));
        let bin = request(
            "POST",
            p,
            Some("application/json"),
            Body::Binary(b"{}".to_vec()),
        );
        assert_eq!(precheck(&bin).unwrap().1, b"{}");
        assert_eq!(
            status(precheck(&request(
                "POST",
                "/x",
                Some("application/json"),
                Body::Empty
            ))),
            404
        );
        assert_eq!(
            status(precheck(&request(
                "GET",
                p,
                Some("application/json"),
                Body::Empty
            ))),
            405
        );
        let big = Body::Binary(vec![b' '; MAX_BODY_BYTES + 1]);
        assert_eq!(
            status(precheck(&request("POST", p, Some("application/json"), big))),
            413
        );
        let exact = Body::Binary(vec![b' '; MAX_BODY_BYTES]);
        assert_eq!(
            status(precheck(&request(
                "POST",
                p,
                Some("application/json"),
                exact
            ))),
            0
        );
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
        ] {
            assert_eq!(
                status(precheck(&request("POST", p, ct, Body::Text("{}".into())))),
                415,
                "{ct:?}"
            );
        }
    }
}
