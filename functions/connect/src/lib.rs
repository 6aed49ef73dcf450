//! `POST /api/integrations/{id}/connect`: starts OAuth consent for an integration.
//!
//! Body (optional): `{"return_url": "https://app…"}`, an origin on the allow-list. Answers with
//! the provider's authorization URL, valid for 10 minutes and once.

use lambda_http::{Body, Error, Request, Response};
use shared::api::request::optional_string;
use shared::api::{json, json_body, path_param, tenant, traced, Problem};
use shared::connections::begin_connect;
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let id = path_param(req, "id")?;
    let body = json_body(req)?;
    let return_url = optional_string(&body, "return_url", 2048)?;
    let start = begin_connect(ctx, &tenant, &id, return_url.as_deref()).await?;
    json(200, &start)
}
