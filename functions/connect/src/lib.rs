//! `POST /api/integrations/{id}/connect`: starts OAuth consent for an integration.
//!
//! Body (optional): `{"return_url": "https://app…"}`, an origin on the allow-list. Answers with
//! the provider's authorization URL, valid for 10 minutes and once. The consent is bound to the
//! tenant and to the calling person (`sub`): only they can confirm it afterwards
//! (`POST /api/integrations/{id}/confirm`). `"mode": "service"` asks for a service account
//! (Fortnox only; any other provider answers 400 naming `mode`).

use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use shared::api::{json, path_param, tenant, traced, typed_body, user, Problem, Text};
use shared::connections::begin_connect;
use shared::domain::ConnectionMode;
use shared::AppContext;

/// The request body.
#[derive(Debug, Deserialize)]
pub struct ConnectBody {
    /// Where the browser goes after consent.
    #[serde(default)]
    pub return_url: Option<Text<2048>>,
    /// `user` (default) or `service`.
    #[serde(default)]
    pub mode: ConnectionMode,
}

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let id = path_param(req, "id")?;
    let body: ConnectBody = typed_body(req)?;
    let return_url = body.return_url.map(Text::into_string);
    let user = user(req)?;
    let start = begin_connect(ctx, &tenant, &user, &id, return_url.as_deref(), body.mode).await?;
    json(200, &start)
}
