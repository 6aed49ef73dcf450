//! `GET /api/integrations/authorize/{provider}?return_url=…`: reuses the tenant's active
//! integration with the provider, or creates one, and answers with the authorization URL.
//! `mode=service` asks for a service account (Fortnox only; any other provider answers 400
//! naming `mode`, and nothing is created).

use lambda_http::{Body, Error, Request, Response};
use shared::api::{json, path_param, query_param, tenant, traced, user, Problem};
use shared::connections::authorize;
use shared::domain::{ConnectionMode, ProviderKind};
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let provider: ProviderKind = path_param(req, "provider")?.parse().map_err(|e| {
        Problem::invalid_field("provider", format!("{e}")).with("allowed", ProviderKind::names())
    })?;
    let return_url = query_param(req, "return_url");
    let mode = match query_param(req, "mode") {
        None => ConnectionMode::User,
        Some(m) => ConnectionMode::parse(&m).ok_or_else(|| {
            Problem::invalid_field("mode", format!("unknown mode `{m}`"))
                .with("allowed", ConnectionMode::names())
        })?,
    };
    let user = user(req)?;
    let start = authorize(ctx, &tenant, &user, provider, return_url.as_deref(), mode).await?;
    json(200, &start)
}
