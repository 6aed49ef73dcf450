//! `GET /api/integrations/{id}/invoices/{invoice_id}/pdf`: the invoice as the provider prints
//! it (Fortnox `GET /3/invoices/{n}/preview`, which does not mark it sent; Visma
//! `GET /v2/customerinvoices/{id}/print`), answered as `application/pdf`.

use super::{exported, provider_problem, with_provider};
use crate::api::Problem;
use crate::AppContext;
use lambda_http::{Body, Request, Response};

/// The largest PDF answered: Lambda's response limit is 6 MB, and a binary body travels
/// base64-encoded (4/3 of its size) beside the headers.
pub const MAX_PDF_BYTES: usize = 4_300_000;

/// Handles one request.
pub async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let target = exported(ctx, req).await?;
    let api = ctx.providers.api(target.integration.provider);
    let pdf = with_provider(ctx, &target.integration, |auth| {
        let remote_id = target.remote_id.clone();
        async move { api.invoice_pdf(&auth, &remote_id).await }
    })
    .await
    .map_err(|e| provider_problem(target.integration.provider, &e))?;
    if !pdf.starts_with(b"%PDF-") {
        return Err(Problem::bad_gateway(format!(
            "{} answered something that is not a PDF",
            target.integration.provider
        )));
    }
    if pdf.len() > MAX_PDF_BYTES {
        return Err(Problem::new(
            502,
            "pdf-too-large",
            "PDF too large",
            format!(
                "the PDF is {} bytes, more than the {MAX_PDF_BYTES} a function may answer; fetch it in the accounting system",
                pdf.len()
            ),
        ));
    }
    let name: String = target
        .our_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Response::builder()
        .status(200)
        .header("content-type", "application/pdf")
        .header("cache-control", "no-store")
        .header(
            "content-disposition",
            format!("inline; filename=\"invoice-{name}.pdf\""),
        )
        .body(Body::Binary(pdf))
        .map_err(Problem::internal)
}
