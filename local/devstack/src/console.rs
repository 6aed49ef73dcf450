//! The integrations console at `/dev/console`: one page that shows a tenant's integrations,
//! their jobs, conflicts and change feed, and runs the real consent flow through the sandbox.
//! It is the TypeScript client (`clients/typescript`) at work in a browser: the page and its
//! script live there (`console/`), compiled by `npm run build` into `dist/`, and are read from
//! disk on every request, so a rebuild shows without restarting the stack.
//!
//! Also here, because the console needs it: `GET /dev/token?tenant=…` mints a dev JWT for any
//! tenant (`make token TENANT=…` does the same offline). Development only, never deployed: the
//! devstack listens on loopback and its signing key is no secret.

use crate::jwt::DevJwt;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the client package lives: `DEVSTACK_CONSOLE_DIR`, else `clients/typescript` of this
/// checkout.
pub fn client_dir() -> PathBuf {
    std::env::var_os("DEVSTACK_CONSOLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/typescript")
        })
}

struct Console {
    dir: PathBuf,
    jwt: DevJwt,
}

/// The console's routes and the dev token route.
pub fn router(jwt: DevJwt) -> Router {
    let state = Arc::new(Console {
        dir: client_dir(),
        jwt,
    });
    Router::new()
        .route("/dev/console", get(page))
        .route("/dev/console/", get(page))
        .route("/dev/console/console.css", get(css))
        .route("/dev/console/vendor/openapi-fetch.js", get(openapi_fetch))
        .route("/dev/console/js/{*path}", get(script))
        .route("/dev/token", get(token))
        .with_state(state)
}

fn not_built(what: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "The console is not built ({what} is missing). Run `make client` (npm ci and npm run \
             build in clients/typescript), then reload.\n"
        ),
    )
        .into_response()
}

fn file(path: PathBuf, content_type: &'static str) -> Response {
    match std::fs::read(&path) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_built(&path.to_string_lossy()),
    }
}

async fn page(State(c): State<Arc<Console>>) -> Response {
    file(c.dir.join("console/index.html"), "text/html; charset=utf-8")
}

async fn css(State(c): State<Arc<Console>>) -> Response {
    file(c.dir.join("console/console.css"), "text/css; charset=utf-8")
}

async fn openapi_fetch(State(c): State<Arc<Console>>) -> Response {
    file(
        c.dir.join("node_modules/openapi-fetch/dist/index.mjs"),
        "text/javascript; charset=utf-8",
    )
}

/// Compiled scripts under `dist/`: `.js` files only, no way out of the folder.
async fn script(State(c): State<Arc<Console>>, Path(path): Path<String>) -> Response {
    let safe = path.ends_with(".js")
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != ".." && seg != "." && !seg.contains('\\'));
    if !safe {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    file(
        c.dir.join("dist").join(path),
        "text/javascript; charset=utf-8",
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    tenant: Option<String>,
    user: Option<String>,
}

/// A dev JWT for `tenant` (default `demo-tenant`) and `user` (default `user-of-<tenant>`),
/// valid one hour.
async fn token(State(c): State<Arc<Console>>, Query(q): Query<TokenQuery>) -> Response {
    let tenant = q.tenant.unwrap_or_else(|| "demo-tenant".into());
    let user = q.user.unwrap_or_else(|| format!("user-of-{tenant}"));
    for (name, value) in [("tenant", &tenant), ("user", &user)] {
        if !valid_id(value) {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/problem+json")],
                json!({
                    "type": "https://docs.accounting-integrations.dev/problems/invalid-field",
                    "title": "Invalid request field", "status": 400, "field": name,
                    "detail": format!("{name} must be 1 to 128 characters from A-Z a-z 0-9 . _ -")
                })
                .to_string(),
            )
                .into_response();
        }
    }
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "token": c.jwt.sign_for(&tenant, &user, 3600),
            "tenant": tenant, "user": user, "expires_in": 3600
        })),
    )
        .into_response()
}

/// A tenant id or user as the dev token route takes them.
pub fn valid_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_of_the_dev_token_route() {
        assert!(super::valid_id("demo-tenant"));
        assert!(super::valid_id("a.b_c-1"));
        assert!(!super::valid_id(""));
        assert!(!super::valid_id("a b"));
        assert!(!super::valid_id(&"x".repeat(129)));
    }
}
