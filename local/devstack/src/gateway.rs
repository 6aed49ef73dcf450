//! A local stand-in for API Gateway's HTTP API: matches routes, verifies the JWT, builds the
//! same version 2.0 event AWS sends, and hands it to the function's handler through
//! `lambda_http`'s own event parsing.

use crate::jwt::DevJwt;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lambda_http::Body;
use serde_json::{json, Map, Value};
use shared::AppContext;
use std::collections::HashMap;
use std::sync::Arc;

/// The Lambda functions behind HTTP routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `create`
    Create,
    /// `authorize`
    Authorize,
    /// `connect`
    Connect,
    /// `oauth_callback`
    OAuthCallback,
    /// `confirm`
    Confirm,
    /// `status`
    Status,
    /// `disconnect`
    Disconnect,
    /// `sync`
    Sync,
    /// `sync_invoice`
    SyncInvoice,
    /// `records`
    Records,
    /// `invoice_send`
    InvoiceSend,
    /// `invoice_pdf`
    InvoicePdf,
    /// `invoice_credit`
    InvoiceCredit,
    /// `webhook` (behind its Lambda function URL, not the HTTP API)
    Webhook,
    /// `webhook_key`
    WebhookKey,
}

impl Function {
    /// The function's name: its package under `functions/`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Create => "create",
            Function::Authorize => "authorize",
            Function::Connect => "connect",
            Function::OAuthCallback => "oauth_callback",
            Function::Confirm => "confirm",
            Function::Status => "status",
            Function::Disconnect => "disconnect",
            Function::Sync => "sync",
            Function::SyncInvoice => "sync_invoice",
            Function::Records => "records",
            Function::InvoiceSend => "invoice_send",
            Function::InvoicePdf => "invoice_pdf",
            Function::InvoiceCredit => "invoice_credit",
            Function::Webhook => "webhook",
            Function::WebhookKey => "webhook_key",
        }
    }
}

/// A route: method, path template, function, and whether the JWT authorizer guards it.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template with `{param}` segments.
    pub path: &'static str,
    /// The function serving it.
    pub function: Function,
    /// Whether a JWT is required.
    pub authorized: bool,
}

/// Every route, as in `template.yaml`.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/integrations/create",
        function: Function::Create,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/authorize/{provider}",
        function: Function::Authorize,
        authorized: true,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/connect",
        function: Function::Connect,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/callback/{provider}",
        function: Function::OAuthCallback,
        authorized: false,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/confirm",
        function: Function::Confirm,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/status",
        function: Function::Status,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/status",
        function: Function::Status,
        authorized: true,
    },
    Route {
        method: "DELETE",
        path: "/api/integrations/{id}",
        function: Function::Disconnect,
        authorized: true,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/sync",
        function: Function::Sync,
        authorized: true,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/jobs/{job}/retry",
        function: Function::Sync,
        authorized: true,
    },
    Route {
        method: "POST",
        path: "/api/integrations/sync-invoice",
        function: Function::SyncInvoice,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/jobs",
        function: Function::Status,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/jobs/{job}",
        function: Function::Status,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/conflicts",
        function: Function::Status,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/quarantine",
        function: Function::Status,
        authorized: true,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/records/{entity}",
        function: Function::Records,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/records/{entity}",
        function: Function::Records,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/records",
        function: Function::Records,
        authorized: true,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/invoices/{invoice_id}/send",
        function: Function::InvoiceSend,
        authorized: true,
    },
    Route {
        method: "GET",
        path: "/api/integrations/{id}/invoices/{invoice_id}/pdf",
        function: Function::InvoicePdf,
        authorized: true,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/invoices/{invoice_id}/credit",
        function: Function::InvoiceCredit,
        authorized: true,
    },
    // In AWS this is the webhook function's URL (auth type NONE), not an HTTP API route: no
    // JWT, and the function gets a function URL event.
    Route {
        method: "POST",
        path: "/api/integrations/{id}/webhook",
        function: Function::Webhook,
        authorized: false,
    },
    Route {
        method: "POST",
        path: "/api/integrations/{id}/webhook-key/rotate",
        function: Function::WebhookKey,
        authorized: true,
    },
];

/// Finds the route for a request and its path parameters. Literal segments win over
/// parameters, as in API Gateway.
pub fn match_route(method: &str, path: &str) -> Option<(&'static Route, HashMap<String, String>)> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut best: Option<(&Route, HashMap<String, String>, usize)> = None;
    for r in ROUTES.iter().filter(|r| r.method == method) {
        let tsegs: Vec<&str> = r.path.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut params = HashMap::new();
        let mut literals = 0;
        let ok = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                params.insert(
                    t.trim_matches(|c| c == '{' || c == '}').to_string(),
                    percent_decode(s),
                );
                !s.is_empty()
            } else {
                literals += 1;
                t == s
            }
        });
        if ok && best.as_ref().is_none_or(|b| literals > b.2) {
            best = Some((r, params, literals));
        }
    }
    best.map(|(r, p, _)| (r, p))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

struct Gateway {
    ctx: Arc<AppContext>,
    jwt: DevJwt,
}

/// Serves every route on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Arc<AppContext>,
    jwt: DevJwt,
    _tenant_claim: String,
) {
    let console = crate::console::router(jwt.clone());
    let state = Arc::new(Gateway { ctx, jwt });
    let app = axum::Router::new()
        .route("/dev/return", axum::routing::get(dev_return))
        .fallback(dispatch)
        .with_state(state)
        .merge(console);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "devstack gateway stopped");
    }
}

async fn dev_return(uri: Uri) -> impl IntoResponse {
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    axum::Json(json!({ "returned_to_frontend": q }))
}

async fn dispatch(
    State(gw): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let Some((route, path_params)) = match_route(method.as_str(), &path) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response();
    };
    let claims = if route.authorized {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        match token.and_then(|t| gw.jwt.verify(t)) {
            Some(c) => Some(c),
            // What API Gateway's JWT authorizer answers.
            None => {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"message": "Unauthorized"})),
                )
                    .into_response()
            }
        }
    } else {
        None
    };
    let event = if route.function == Function::Webhook {
        function_url_event(&method, &uri, &headers, &body)
    } else {
        api_gateway_event(
            route,
            &method,
            &uri,
            &headers,
            &body,
            &path_params,
            claims.as_ref(),
        )
    };
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("event did not parse: {e}"),
            )
                .into_response()
        }
    };
    let ctx = gw.ctx.as_ref();
    let started = std::time::Instant::now();
    let result = match route.function {
        Function::Create => create::handler(ctx, request).await,
        Function::Authorize => authorize::handler(ctx, request).await,
        Function::Connect => connect::handler(ctx, request).await,
        Function::OAuthCallback => oauth_callback::handler(ctx, request).await,
        Function::Confirm => confirm::handler(ctx, request).await,
        Function::Status => status::handler(ctx, request).await,
        Function::Disconnect => disconnect::handler(ctx, request).await,
        Function::Sync => sync::handler(ctx, request).await,
        Function::SyncInvoice => sync_invoice::handler(ctx, request).await,
        Function::Records => records::handler(ctx, request).await,
        Function::InvoiceSend => invoice_send::handler(ctx, request).await,
        Function::InvoicePdf => invoice_pdf::handler(ctx, request).await,
        Function::InvoiceCredit => invoice_credit::handler(ctx, request).await,
        Function::Webhook => webhook::handler(ctx, request).await,
        Function::WebhookKey => webhook_key::handler(ctx, request).await,
    };
    crate::metering::invoked(route.function.name(), started.elapsed());
    match result {
        Ok(resp) => to_axum(resp),
        // A function error is what API Gateway turns into a bare 500.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"message": "Internal Server Error"})),
        )
            .into_response(),
    }
}

/// The API Gateway HTTP API payload format 2.0 event for a request.
pub fn api_gateway_event(
    route: &Route,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    path_params: &HashMap<String, String>,
    claims: Option<&HashMap<String, String>>,
) -> Value {
    let mut hdrs = Map::new();
    for (k, v) in headers {
        let v = v.to_str().unwrap_or_default().to_string();
        let entry = hdrs
            .entry(k.as_str().to_ascii_lowercase())
            .or_insert(Value::String(String::new()));
        if let Value::String(s) = entry {
            if s.is_empty() {
                *s = v;
            } else {
                s.push(',');
                s.push_str(&v);
            }
        }
    }
    let raw_query = uri.query().unwrap_or("").to_string();
    let mut query = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        let entry = query
            .entry(k.into_owned())
            .or_insert(Value::String(String::new()));
        if let Value::String(s) = entry {
            if s.is_empty() {
                *s = v.into_owned();
            } else {
                s.push(',');
                s.push_str(&v);
            }
        }
    }
    let (body_text, is_b64) = match std::str::from_utf8(body) {
        Ok(t) => (t.to_string(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        }
    };
    let route_key = format!("{} {}", route.method, route.path);
    let now = chrono::Utc::now();
    let mut ctx = json!({
        "accountId": "123456789012",
        "apiId": "devstack",
        "domainName": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
        "domainPrefix": "devstack",
        "http": {
            "method": method.as_str(),
            "path": uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or("")
        },
        "requestId": uuid::Uuid::new_v4().to_string(),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis()
    });
    if let Some(c) = claims {
        ctx["authorizer"] = json!({ "jwt": { "claims": c, "scopes": null } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": hdrs,
        "requestContext": ctx,
        "isBase64Encoded": is_b64
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_params.is_empty() {
        event["pathParameters"] = json!(path_params);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body_text);
    }
    event
}

/// The event a Lambda function URL sends (payload format 2.0 without API Gateway's parts):
/// route key `$default`, no `pathParameters`, no authorizer, and a body that is base64-encoded
/// unless its content type is text, as the function URL does it.
pub fn function_url_event(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Value {
    let mut hdrs = Map::new();
    for (k, v) in headers {
        let v = v.to_str().unwrap_or_default();
        match hdrs.get_mut(k.as_str()) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(v);
            }
            _ => {
                hdrs.insert(k.as_str().to_string(), Value::String(v.to_string()));
            }
        }
    }
    let raw_query = uri.query().unwrap_or("").to_string();
    let content_type = headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let textual = content_type.starts_with("text/")
        || ["json", "xml", "javascript", "x-www-form-urlencoded"]
            .iter()
            .any(|t| content_type.contains(t));
    let (body_value, is_b64) = match std::str::from_utf8(body) {
        Ok(t) if textual => (t.to_string(), false),
        _ => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        }
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": hdrs,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "devstackwebhookurl",
            "domainName": host,
            "domainPrefix": "devstackwebhookurl",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or("")
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": is_b64
    });
    if !body.is_empty() {
        event["body"] = Value::String(body_value);
    }
    event
}

fn to_axum(resp: lambda_http::Response<Body>) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    let mut out = Response::new(axum::body::Body::from(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_url_events_parse_like_aws_sends_them() {
        use lambda_http::RequestExt;
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/octet-stream".parse().unwrap());
        headers.insert("x-signature", "t=1,v1=ab".parse().unwrap());
        let uri: Uri = "/api/integrations/i-1/webhook?x=1".parse().unwrap();
        let body = [0u8, 159, 146, 150];
        let event = function_url_event(&Method::POST, &uri, &headers, &body);
        assert_eq!(event["isBase64Encoded"], true);
        assert!(event.get("pathParameters").is_none());
        assert!(event["requestContext"].get("authorizer").is_none());
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(req.raw_http_path(), "/api/integrations/i-1/webhook");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.headers()["x-signature"], "t=1,v1=ab");
        assert!(req
            .path_parameters_ref()
            .is_none_or(|p| p.first("id").is_none()));
        match req.body() {
            Body::Binary(b) => assert_eq!(b.as_slice(), &body),
            other => panic!("binary body expected, got {other:?}"),
        }
        headers.insert("content-type", "application/json".parse().unwrap());
        let event = function_url_event(&Method::POST, &uri, &headers, b"{}");
        assert_eq!(
            (event["isBase64Encoded"].clone(), event["body"].clone()),
            (json!(false), json!("{}"))
        );
    }

    #[test]
    fn matches_literal_routes_before_parameters() {
        let (r, p) = match_route("GET", "/api/integrations/status").unwrap();
        assert_eq!(r.function, Function::Status);
        assert!(p.is_empty());
        let (r, p) = match_route("GET", "/api/integrations/abc/status").unwrap();
        assert_eq!(r.function, Function::Status);
        assert_eq!(p["id"], "abc");
        let (r, p) = match_route("GET", "/api/integrations/callback/visma").unwrap();
        assert_eq!((r.function, r.authorized), (Function::OAuthCallback, false));
        assert_eq!(p["provider"], "visma");
        assert_eq!(
            match_route("DELETE", "/api/integrations/x")
                .unwrap()
                .0
                .function,
            Function::Disconnect
        );
        assert!(match_route("PUT", "/api/integrations/x").is_none());
        let (r, p) = match_route("POST", "/api/integrations/abc/webhook").unwrap();
        assert_eq!((r.function, r.authorized), (Function::Webhook, false));
        assert_eq!(p["id"], "abc");
        let (r, _) = match_route("POST", "/api/integrations/abc/webhook-key/rotate").unwrap();
        assert_eq!((r.function, r.authorized), (Function::WebhookKey, true));
        assert!(match_route("GET", "/api/integrations/").is_none());
    }
}
