//! `POST /api/integrations/sync-invoice` exports one invoice now: body
//! `{"integration_id": "…", "invoice_id": "…"}` for an invoice upserted before, or
//! `{"integration_id": "…", "invoice": {…canonical invoice…}}` to store and export it in one
//! call. Answers 202 with the job, which runs at once on the queue.

use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use shared::api::{json, tenant, traced, typed_body, Problem, Text};
use shared::connections::get;
use shared::domain::{Direction, Entity, IntegrationStatus, Invoice, Mode, Target, Trigger};
use shared::jobs::{enqueue, JobRequest};
use shared::providers::limits_for;
use shared::records::store;
use shared::AppContext;

/// The request body: the integration, and exactly one of `invoice_id` and `invoice`.
#[derive(Debug, Deserialize)]
pub struct SyncInvoiceBody {
    /// The integration to export to.
    pub integration_id: Text<64, 1>,
    /// Our id of an invoice upserted before.
    #[serde(default)]
    pub invoice_id: Option<Text<64>>,
    /// A canonical invoice to store and export.
    #[serde(default)]
    pub invoice: Option<Invoice>,
}

/// Which invoice to export.
enum Export {
    /// One stored before, by our id.
    Stored(String),
    /// One sent with the request.
    Given(Box<Invoice>),
}

impl SyncInvoiceBody {
    fn export(self) -> Result<Export, Problem> {
        match (self.invoice_id, self.invoice) {
            (Some(id), None) => Ok(Export::Stored(id.into_string())),
            (None, Some(invoice)) => Ok(Export::Given(Box::new(invoice))),
            _ => Err(Problem::invalid_field(
                "invoice_id",
                "give exactly one of `invoice_id` and `invoice`",
            )),
        }
    }
}

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let body: SyncInvoiceBody = typed_body(req)?;
    let integration_id = body.integration_id.0.clone();
    let export = body.export()?;
    let integration = get(ctx, &tenant, &integration_id).await?;
    if integration.status != IntegrationStatus::Connected {
        return Err(Problem::conflict(format!(
            "the integration is {}; connect it before syncing",
            integration.status.as_str()
        )));
    }
    let our_id = match export {
        Export::Stored(id) => {
            let found = ctx
                .db
                .local_records(&integration.id, Entity::Invoices, std::slice::from_ref(&id))
                .await?;
            if !found.contains_key(&id) {
                return Err(Problem::not_found(format!(
                    "no invoice `{id}` has been upserted; send it as `invoice` or through the records API"
                )));
            }
            id
        }
        Export::Given(invoice) => {
            invoice
                .validate(&limits_for(integration.provider).invoice)
                .map_err(|errors| {
                    let field = |f: &str| format!("invoice.{f}");
                    let first = errors.first().map(|e| field(&e.field)).unwrap_or_default();
                    let detail = errors
                        .iter()
                        .map(|e| format!("{}: {}", field(&e.field), e.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    Problem::invalid_field(&first, detail)
                })?;
            let id = invoice.id.clone();
            store(ctx, &integration, vec![*invoice]).await?;
            id
        }
    };
    let job = enqueue(
        ctx,
        &integration,
        &JobRequest {
            direction: Direction::Push,
            entities: vec![Entity::Invoices],
            mode: Mode::Incremental,
            trigger: Trigger::Manual,
            target: Some(Target {
                entity: Entity::Invoices,
                our_id: Some(our_id),
                remote_id: None,
                changed_at: None,
                payment_id: None,
            }),
            not_before: None,
        },
    )
    .await?;
    json(202, &job)
}
