//! `GET /api/integrations/status` lists the tenant's integrations;
//! `GET /api/integrations/{id}/status` shows one.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::api::{json, respond, tenant, Problem};
use shared::connections::{get, IntegrationView};
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(respond(handle(ctx, &req).await))
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    match req.path_parameters_ref().and_then(|p| p.first("id")) {
        Some(id) => json(200, &IntegrationView::from(get(ctx, &tenant, id).await?)),
        None => {
            let list: Vec<IntegrationView> = ctx
                .db
                .list_integrations(&tenant)
                .await?
                .into_iter()
                .map(IntegrationView::from)
                .collect();
            json(200, &serde_json::json!({ "integrations": list }))
        }
    }
}
