//! `POST /api/integrations/{id}/confirm`: completes a consent the provider approved, for the
//! person who started it. The callback sends the browser back to the app with
//! `status=confirm&confirmation=<code>`; the app posts `{"confirmation": "<code>"}` here with
//! its own session. Only the same tenant and person (`sub`) as at the start can confirm; the
//! code is redeemed at the provider only then. Answers with the connected integration.

use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use shared::api::{json, path_param, tenant, traced, typed_body, user, Problem, Text};
use shared::connections::{confirm, IntegrationView};
use shared::AppContext;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The `confirmation` the return URL carried.
    pub confirmation: Text<128, 1>,
}

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let user = user(req)?;
    let id = path_param(req, "id")?;
    let body: ConfirmBody = typed_body(req)?;
    let confirmation = body.confirmation.into_string();
    let integration = confirm(ctx, &tenant, &user, &id, &confirmation).await?;
    json(200, &IntegrationView::new(integration, &ctx.config))
}
