//! `POST /api/integrations/{id}/invoices/{invoice_id}/credit`: see
//! [`shared::invoicing::credit`].

use lambda_http::{Body, Error, Request, Response};
use shared::api::traced;
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, shared::invoicing::credit::handle(ctx, &req)).await)
}
