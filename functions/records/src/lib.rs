//! `POST /api/integrations/{id}/records/{customers|invoices}` upserts up to 100 of the app's
//! records (`{"records": [...]}`, canonical JSON with our id and `updated_at`), validated field by
//! field, honouring an `Idempotency-Key` header, and queues their export.
//! `GET /api/integrations/{id}/records/{entity}?after=<cursor>&limit=<n>` is the feed of records
//! pulled from the provider; `GET /api/integrations/{id}/records?entities=<a,b>&after=&limit=`
//! is the feed of several entities (all when `entities` is absent) in one request, in the order
//! the changes reached it.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::api::{json, path_param, query_param, tenant, traced, typed_body, Problem};
use shared::connections::get;
use shared::domain::{
    Article, ArticleVat, Customer, Entity, Integration, IntegrationStatus, Invoice, Project,
};
use shared::records::{feed, parse_records, upsert, Record, Rejected};
use shared::AppContext;

/// The body of an upsert. Each record is read and validated on its own
/// (`shared::sync::records::parse_records`), so that every fault is named at once.
#[derive(Debug, Deserialize)]
pub struct UpsertBody {
    /// The records, canonical JSON.
    #[serde(default)]
    pub records: Value,
}

/// An entity named in the path or in `entities`.
fn parse_entity(field: &str, raw: &str) -> Result<Entity, Problem> {
    Entity::parse(raw).ok_or_else(|| {
        Problem::invalid_field(
            field,
            format!("`{raw}` is not an entity: use customers, invoices, projects or articles"),
        )
    })
}

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(traced(&req, handle(ctx, &req)).await)
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let id = path_param(req, "id")?;
    // The feed of several entities has no entity in its path.
    let entity_raw = req
        .path_parameters_ref()
        .and_then(|p| p.first("entity"))
        .map(str::to_string);
    let entities = match &entity_raw {
        Some(raw) => vec![parse_entity("entity", raw)?],
        None if req.method() == "GET" => match query_param(req, "entities") {
            None => Entity::ALL.to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for raw in list.split(',') {
                    let e = parse_entity("entities", raw.trim())?;
                    if !out.contains(&e) {
                        out.push(e);
                    }
                }
                out
            }
        },
        None => return Err(Problem::bad_request("the path has no `entity`")),
    };
    let integration = get(ctx, &tenant, &id).await?;
    if req.method() == "GET" {
        let after = match query_param(req, "after") {
            None => 0,
            Some(a) => a.parse::<u64>().map_err(|_| {
                Problem::invalid_field("after", "`after` must be a cursor from `next_cursor`")
            })?,
        };
        let limit = match query_param(req, "limit") {
            None => 100,
            Some(l) => l
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=500).contains(l))
                .ok_or_else(|| Problem::invalid_field("limit", "`limit` must be 1 to 500"))?,
        };
        return json(
            200,
            &feed(ctx, &integration, &entities, after, limit).await?,
        );
    }
    let entity = entities[0];
    if integration.status == IntegrationStatus::Disconnected {
        return Err(Problem::conflict("the integration is disconnected"));
    }
    let raw_body = match req.body() {
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| Problem::invalid_field("Idempotency-Key", "the header must be ASCII"))
        })
        .transpose()?;
    if let Some(k) = &key {
        if k.is_empty() || k.len() > 255 {
            return Err(Problem::invalid_field(
                "Idempotency-Key",
                "the header must be 1 to 255 characters",
            ));
        }
    }
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(entity.as_str().as_bytes());
        h.update([0]);
        h.update(&raw_body);
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    if let Some(k) = &key {
        if let Some((fp, status, body)) = ctx.db.idempotent_answer(&integration.id, k).await? {
            if fp != fingerprint {
                return Err(Problem::new(
                    422,
                    "idempotency-key-reused",
                    "Idempotency key reused",
                    "this Idempotency-Key was used with a different request; use a new key",
                ));
            }
            return replay(status, body);
        }
    }
    let UpsertBody { records } = typed_body(req)?;
    let outcome = match entity {
        Entity::Customers => upsert_parsed::<Customer>(ctx, &integration, &records, None).await?,
        Entity::Projects => upsert_parsed::<Project>(ctx, &integration, &records, None).await?,
        Entity::Articles => upsert_parsed::<Article>(ctx, &integration, &records, None).await?,
        Entity::Invoices => {
            let articles = article_vat(ctx, &integration).await?;
            let parsed =
                parse_records::<Invoice>(&records, integration.provider, articles.as_ref())
                    .map_err(rejected)?;
            shared::records::reverse_charge::check_customers(&ctx.db, &integration.id, &parsed)
                .await?
                .map_err(rejected)?;
            shared::records::house_work::check_customers(&ctx.db, &integration.id, &parsed)
                .await?
                .map_err(rejected)?;
            upsert(ctx, &integration, parsed).await?
        }
    };
    let text = serde_json::to_string(&outcome).map_err(Problem::internal)?;
    if let Some(k) = &key {
        ctx.db
            .store_idempotent_answer(&integration.id, k, &fingerprint, 202, &text)
            .await?;
    }
    replay(202, text)
}

async fn upsert_parsed<T: Record>(
    ctx: &AppContext,
    integration: &Integration,
    records: &Value,
    articles: Option<&ArticleVat>,
) -> Result<shared::records::UpsertOutcome, Problem> {
    let parsed = parse_records::<T>(records, integration.provider, articles).map_err(rejected)?;
    Ok(upsert(ctx, integration, parsed).await?)
}

/// How old a copy of the article VAT rates may be and still refuse a row: the worker reads
/// them again at least every 15 minutes while it syncs, and the schedule syncs every hour.
const ARTICLE_VAT_TRUSTED_HOURS: i64 = 6;

/// The company's article VAT rates, where the provider books VAT through the article and a
/// recent copy is stored. Without one the rows are checked at export, against the provider.
async fn article_vat(
    ctx: &AppContext,
    integration: &Integration,
) -> Result<Option<ArticleVat>, Problem> {
    if !ctx.providers.api(integration.provider).vat_by_article() {
        return Ok(None);
    }
    let max_age = chrono::Duration::hours(ARTICLE_VAT_TRUSTED_HOURS);
    Ok(ctx
        .db
        .article_vat(&integration.id)
        .await?
        .filter(|c| !c.is_stale(chrono::Utc::now(), max_age)))
}

fn rejected(r: Rejected) -> Problem {
    let first =
        r.0.first()
            .map(|e| e.field.clone())
            .unwrap_or_else(|| "records".into());
    let detail =
        r.0.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
    let errors: Vec<Value> =
        r.0.iter()
            .map(|e| serde_json::json!({"field": e.field, "message": e.message}))
            .collect();
    Problem::invalid_field(&first, detail).with("errors", errors)
}

fn replay(status: u16, body: String) -> Result<Response<Body>, Problem> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(body))
        .map_err(Problem::internal)
}
