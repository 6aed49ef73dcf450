//! `POST /api/integrations/{id}/sync` starts a sync job: body
//! `{"direction": "push"|"pull"|"both", "entities": ["customers","invoices"], "mode": "incremental"|"full"}`
//! (all optional; defaults both, every entity, incremental) → 202 with the job.
//! `POST /api/integrations/{id}/jobs/{job}/retry` puts a failed or dead job back on the queue.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::{json, Value};
use shared::api::request::optional_string;
use shared::api::{json, json_body, path_param, tenant, traced, Problem};
use shared::connections::get;
use shared::domain::{Direction, Entity, IntegrationStatus, Mode, Trigger};
use shared::jobs::{enqueue, retry, JobRequest, RetryError};
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let id = path_param(req, "id")?;
    let integration = get(ctx, &tenant, &id).await?;
    if let Some(job_id) = req.path_parameters_ref().and_then(|p| p.first("job")) {
        return match retry(ctx, &integration.id, job_id).await {
            Ok(job) => json(202, &job),
            Err(RetryError::NotFound) => {
                Err(Problem::not_found(format!("no job `{job_id}` exists")))
            }
            Err(e @ RetryError::NotRetryable(_)) => Err(Problem::conflict(e.to_string())),
            Err(RetryError::Store(e)) => Err(e.into()),
        };
    }
    let body = json_body(req)?;
    let direction = match optional_string(&body, "direction", 8)?.as_deref() {
        None | Some("both") => Direction::Both,
        Some("push") => Direction::Push,
        Some("pull") => Direction::Pull,
        Some(other) => {
            return Err(Problem::invalid_field(
                "direction",
                format!("`direction` must be push, pull or both, not `{other}`"),
            ))
        }
    };
    let mode = match optional_string(&body, "mode", 16)?.as_deref() {
        None | Some("incremental") => Mode::Incremental,
        Some("full") => Mode::Full,
        Some(other) => {
            return Err(Problem::invalid_field(
                "mode",
                format!("`mode` must be incremental or full, not `{other}`"),
            ))
        }
    };
    let entities = match body.get("entities") {
        None | Some(Value::Null) => Entity::ALL.to_vec(),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|v| {
                v.as_str().and_then(Entity::parse).ok_or_else(|| {
                    Problem::invalid_field(
                        "entities",
                        format!("`entities` may hold customers and invoices, not {v}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(Problem::invalid_field(
                "entities",
                "`entities` must be a non-empty array",
            ))
        }
    };
    if integration.status != IntegrationStatus::Connected {
        return Err(Problem::conflict(format!(
            "the integration is {}; connect it before syncing",
            integration.status.as_str()
        )));
    }
    let job = enqueue(
        ctx,
        &integration,
        &JobRequest {
            direction,
            entities,
            mode,
            trigger: Trigger::Manual,
            target: None,
            not_before: None,
        },
    )
    .await?;
    json(202, &json!({ "job_ids": [job.id], "jobs": [job] }))
}
