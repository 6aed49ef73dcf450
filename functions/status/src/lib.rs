//! Read-only views for the frontend:
//! `GET /api/integrations/status` lists the tenant's integrations;
//! `GET /api/integrations/{id}/status` shows one;
//! `GET /api/integrations/{id}/jobs` lists its recent jobs, `GET /api/integrations/{id}/jobs/{job}`
//! shows one with progress, checkpoint, attempts and last error;
//! `GET /api/integrations/{id}/conflicts` is the conflict log;
//! `GET /api/integrations/{id}/quarantine` lists the records set aside (a provider record that
//! could not be read, an app record the provider refused), each tried again by the next sync.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::api::{json, tenant, traced, Problem};
use shared::connections::{get, IntegrationView};
use shared::AppContext;

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let params = req.path_parameters_ref();
    let Some(id) = params.and_then(|p| p.first("id")) else {
        let list: Vec<IntegrationView> = ctx
            .db
            .list_integrations(&tenant)
            .await?
            .into_iter()
            .map(|i| IntegrationView::new(i, &ctx.config))
            .collect();
        return json(200, &serde_json::json!({ "integrations": list }));
    };
    let integration = get(ctx, &tenant, id).await?;
    let path = req.uri().path();
    if let Some(job_id) = params.and_then(|p| p.first("job")) {
        let job = ctx
            .db
            .get_job(&integration.id, job_id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no job `{job_id}` exists")))?;
        return json(200, &job);
    }
    if path.ends_with("/jobs") {
        return json(
            200,
            &serde_json::json!({ "jobs": ctx.db.list_jobs(&integration.id, 50).await? }),
        );
    }
    if path.ends_with("/conflicts") {
        return json(
            200,
            &serde_json::json!({ "conflicts": ctx.db.conflicts(&integration.id, 100).await? }),
        );
    }
    if path.ends_with("/quarantine") {
        return json(
            200,
            &serde_json::json!({
                "quarantine": ctx.db.quarantined(&integration.id, None, 100).await?
            }),
        );
    }
    let freshness = ctx.db.freshness(&integration.id).await?;
    let view = IntegrationView {
        freshness: Some(freshness),
        ..IntegrationView::new(integration, &ctx.config)
    };
    json(200, &view)
}
