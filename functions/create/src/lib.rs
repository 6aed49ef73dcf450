//! `POST /api/integrations/create`: creates an integration for the caller's tenant.
//!
//! Body: `{"provider": "fortnox" | "visma", "display_name"?: string}`. Answers 201 with the
//! integration, 409 when the tenant already has an active one with that provider.

use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use shared::api::{json, tenant, traced, typed_body, Problem, Text};
use shared::connections::{create_integration, IntegrationView};
use shared::domain::ProviderKind;
use shared::AppContext;

/// The request body.
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    /// Which accounting system.
    pub provider: ProviderKind,
    /// A name the tenant chose.
    #[serde(default)]
    pub display_name: Option<Text<100>>,
}

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let body: CreateBody = typed_body(req).map_err(|p| {
        if p.details().field.as_deref() == Some("provider") {
            p.with("allowed", ProviderKind::names())
        } else {
            p
        }
    })?;
    let display_name = body.display_name.map(Text::into_string);
    let integration = create_integration(ctx, &tenant, body.provider, display_name).await?;
    json(201, &IntegrationView::new(integration, &ctx.config))
}
