//! `POST /api/integrations/sync-invoice` exports one invoice now: body
//! `{"integration_id": "…", "invoice_id": "…"}` for an invoice upserted before, or
//! `{"integration_id": "…", "invoice": {…canonical invoice…}}` to store and export it in one
//! call. Answers 202 with the job, which runs at once on the queue.

use lambda_http::{Body, Error, Request, Response};
use shared::api::request::{optional_string, required_string};
use shared::api::{json, json_body, tenant, traced, Problem};
use shared::connections::get;
use shared::domain::{Direction, Entity, IntegrationStatus, Invoice, Mode, Target, Trigger};
use shared::jobs::{enqueue, JobRequest};
use shared::records::{parse_records, store};
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let body = json_body(req)?;
    let integration_id = required_string(&body, "integration_id", 64)?;
    let invoice_id = optional_string(&body, "invoice_id", 64)?;
    let invoice = body.get("invoice").filter(|v| !v.is_null());
    if invoice_id.is_some() == invoice.is_some() {
        return Err(Problem::invalid_field(
            "invoice_id",
            "give exactly one of `invoice_id` and `invoice`",
        ));
    }
    let integration = get(ctx, &tenant, &integration_id).await?;
    if integration.status != IntegrationStatus::Connected {
        return Err(Problem::conflict(format!(
            "the integration is {}; connect it before syncing",
            integration.status.as_str()
        )));
    }
    let our_id = match (invoice_id, invoice) {
        (Some(id), _) => {
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
        (None, Some(v)) => {
            let parsed = parse_records::<Invoice>(
                &serde_json::Value::Array(vec![v.clone()]),
                integration.provider,
            )
            .map_err(|r| {
                let first =
                    r.0.first()
                        .map(|e| e.field.replacen("records[0]", "invoice", 1))
                        .unwrap_or_default();
                Problem::invalid_field(
                    &first,
                    r.0.iter()
                        .map(|e| {
                            format!(
                                "{}: {}",
                                e.field.replacen("records[0]", "invoice", 1),
                                e.message
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
            let id = parsed[0].id.clone();
            store(ctx, &integration, parsed).await?;
            id
        }
        (None, None) => unreachable!("checked above"),
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
            }),
            not_before: None,
        },
    )
    .await?;
    json(202, &job)
}
