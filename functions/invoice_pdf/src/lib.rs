//! `GET /api/integrations/{id}/invoices/{invoice_id}/pdf`: see
//! [`shared::invoicing::pdf`].

use lambda_http::{Body, Error, Request, Response};
use shared::api::traced;
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, shared::invoicing::pdf::handle(ctx, &req)).await)
}
