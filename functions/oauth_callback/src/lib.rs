//! `GET /api/integrations/callback/{provider}`: public; the browser returns here from the
//! provider's consent page. Every outcome is a redirect to the return URL saying what happened.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::api::{query_param, redirect};
use shared::connections::{complete_callback, CallbackParams};
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    let provider = req
        .path_parameters_ref()
        .and_then(|p| p.first("provider"))
        .unwrap_or_default()
        .to_string();
    let params = CallbackParams {
        code: query_param(&req, "code"),
        state: query_param(&req, "state"),
        error: query_param(&req, "error"),
        error_description: query_param(&req, "error_description"),
    };
    let location = complete_callback(ctx, &provider, params).await;
    Ok(redirect(&location))
}
