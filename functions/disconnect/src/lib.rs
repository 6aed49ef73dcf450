//! `DELETE /api/integrations/{id}`: revokes the grant at the provider where it can, deletes the
//! secret and marks the integration disconnected.

use lambda_http::{Body, Error, Request, Response};
use shared::api::{json, path_param, tenant, traced, Problem};
use shared::connections::disconnect;
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let id = path_param(req, "id")?;
    json(200, &disconnect(ctx, &tenant, &id).await?)
}
