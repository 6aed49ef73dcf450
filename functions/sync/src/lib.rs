//! `POST /api/integrations/{id}/sync` starts a sync job: body
//! `{"direction": "push"|"pull"|"both", "entities": ["customers","invoices"], "mode": "incremental"|"full"|"sweep"}`
//! (all optional; defaults both, every entity, incremental) → 202 with the job.
//! `POST /api/integrations/{id}/jobs/{job}/retry` puts a failed or dead job back on the queue.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use shared::api::{json, path_param, tenant, traced, typed_body, Problem};
use shared::connections::get;
use shared::domain::{Direction, Entity, IntegrationStatus, Mode, Trigger};
use shared::jobs::{enqueue, retry, JobRequest, RetryError};
use shared::AppContext;

/// The request body; every field is optional.
#[derive(Debug, Default, Deserialize)]
pub struct SyncBody {
    /// `push`, `pull` or `both` (the default).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// `incremental` (the default) or `full`.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Which entities, in order; every entity when absent.
    #[serde(default, deserialize_with = "entity_list")]
    pub entities: Option<Vec<Entity>>,
}

/// A non-empty list of entity names, answered as a whole (`entities`) when one is wrong.
fn entity_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Entity>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|v| {
                v.as_str().and_then(Entity::parse).ok_or_else(|| {
                    D::Error::custom(format!("may hold customers and invoices, not {v}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(D::Error::custom("must be a non-empty array")),
    }
}

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
    let body: SyncBody = typed_body(req)?;
    let direction = body.direction.unwrap_or(Direction::Both);
    let mode = body.mode.unwrap_or(Mode::Incremental);
    let entities = body.entities.unwrap_or_else(|| Entity::ALL.to_vec());
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
