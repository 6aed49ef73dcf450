//! `POST /api/integrations/create`: creates an integration for the caller's tenant.
//!
//! Body: `{"provider": "fortnox" | "visma", "display_name"?: string}`. Answers 201 with the
//! integration, 409 when the tenant already has an active one with that provider.

use lambda_http::{Body, Error, Request, Response};
use shared::api::request::{optional_string, required_string};
use shared::api::{json, json_body, tenant, traced, Problem};
use shared::connections::{create_integration, IntegrationView};
use shared::domain::ProviderKind;
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let body = json_body(req)?;
    let provider: ProviderKind = required_string(&body, "provider", 32)?
        .parse()
        .map_err(|e| {
            Problem::invalid_field("provider", format!("{e}"))
                .with("allowed", ProviderKind::names())
        })?;
    let display_name = optional_string(&body, "display_name", 100)?;
    let integration = create_integration(ctx, &tenant, provider, display_name).await?;
    json(201, &IntegrationView::new(integration, &ctx.config))
}
