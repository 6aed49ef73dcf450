//! `POST /api/integrations/{id}/invoices/{invoice_id}/credit`, body `{}` or
//! `{"credit_note_id": "…"}` (our id for the credit note; `<invoice_id>-credit` by default):
//! credits the invoice in full at the provider (Fortnox `PUT /3/invoices/{n}/credit`; Visma a
//! credit invoice, see the providers' `documents` modules), maps the credit note to our id and
//! queues targeted pulls of both, so the credit note and the credited invoice reach the feed.
//!
//! Exactly once: an invoice is credited once. Before asking the provider, and again after an
//! unknown outcome, its credit note is looked for (Fortnox names it on the invoice, Visma finds
//! it by our reference), so a retry adopts a credit note made before and never makes a second.

use super::send::replay;
use super::{exported, may_have_acted, provider_problem, with_provider, Exported};
use crate::api::{typed_body, Problem, Text};
use crate::domain::{Direction, Entity, Invoice, Mode, Target, Trigger};
use crate::http::ApiError;
use crate::jobs::{enqueue, JobRequest};
use crate::providers::Remote;
use crate::store::actions::ActionStart;
use crate::store::records::Mapping;
use crate::store::StoreError;
use crate::AppContext;
use chrono::Utc;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    /// Our id for the credit note.
    #[serde(default)]
    pub credit_note_id: Option<Text<80, 1>>,
}

/// What was done.
#[derive(Debug, Clone, Serialize)]
pub struct Credited {
    /// Our id of the credited invoice.
    pub invoice_id: String,
    /// Our id of the credit note.
    pub credit_note_id: String,
    /// The provider's id of the credit note.
    pub remote_id: String,
    /// The credit note as the provider made it (`customer_id` is ours when the customer is
    /// mapped).
    pub credit_note: Invoice,
    /// The pulls that bring both to the feed.
    pub jobs: Vec<String>,
}

/// Handles one request.
pub async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let target = exported(ctx, req).await?;
    let body: CreditBody = match req.body() {
        Body::Empty => CreditBody::default(),
        Body::Text(t) if t.trim().is_empty() => CreditBody::default(),
        _ => typed_body(req)?,
    };
    let credit_id = match body.credit_note_id {
        Some(id) => id.into_string(),
        None => default_credit_id(&target.our_id)?,
    };
    let iid = target.integration.id.clone();
    match ctx
        .db
        .begin_action(&iid, "credit", &target.our_id, "", Utc::now())
        .await?
    {
        ActionStart::Done(status, text) => return replay(status, text),
        ActionStart::InProgress => {
            return Err(Problem::new(
                409,
                "credit-in-progress",
                "Credit in progress",
                "this invoice is being credited by another request; ask again in a minute",
            ))
        }
        ActionStart::Fresh | ActionStart::Resume => {}
    }
    let provider = target.integration.provider;
    let note = match credit_once(ctx, &target, &credit_id).await {
        Ok(note) => note,
        Err(e) if may_have_acted(&e) => {
            tracing::warn!(integration = %iid, invoice = %target.our_id, error = %e, "credit outcome unknown");
            ctx.db
                .release_action(&iid, "credit", &target.our_id, "")
                .await?;
            return Err(Problem::new(
                504,
                "credit-outcome-unknown",
                "Credit outcome unknown",
                format!(
                    "{provider} did not answer clearly ({e}); send the same request again: it adopts a credit note made meanwhile and never makes a second"
                ),
            ));
        }
        Err(e) => {
            ctx.db
                .drop_action(&iid, "credit", &target.our_id, "")
                .await?;
            return Err(provider_problem(provider, &e));
        }
    };
    let answer = adopt(ctx, &target, &credit_id, note).await?;
    let text = serde_json::to_string(&answer).map_err(Problem::internal)?;
    ctx.db
        .finish_action(&iid, "credit", &target.our_id, "", 201, &text)
        .await?;
    tracing::info!(integration = %iid, invoice = %target.our_id, credit_note = %credit_id, "invoice credited");
    replay_fresh(text)
}

/// `<invoice_id>-credit`, when that fits an invoice id.
fn default_credit_id(our_id: &str) -> Result<String, Problem> {
    let id = format!("{our_id}-credit");
    if id.len() > crate::domain::invoice::MAX_INVOICE_ID_LEN {
        return Err(Problem::invalid_field(
            "credit_note_id",
            "the invoice id is too long to derive the credit note's from: give `credit_note_id`",
        ));
    }
    Ok(id)
}

/// The invoice's credit note: one made before, else a new one.
async fn credit_once(
    ctx: &AppContext,
    target: &Exported,
    credit_id: &str,
) -> Result<Remote<Invoice>, ApiError> {
    let api = ctx.providers.api(target.integration.provider);
    let find = || {
        with_provider(ctx, &target.integration, |auth| {
            let remote_id = target.remote_id.clone();
            async move { api.find_credit_note(&auth, &remote_id, credit_id).await }
        })
    };
    if let Some(found) = find().await? {
        return Ok(found);
    }
    let original = with_provider(ctx, &target.integration, |auth| {
        let remote_id = target.remote_id.clone();
        async move { api.get_invoice(&auth, &remote_id).await }
    })
    .await?
    .ok_or_else(|| ApiError::NotFound {
        message: format!("invoice {}", target.remote_id),
    })?;
    if original
        .record
        .credit
        .as_ref()
        .is_some_and(|c| c.credit_note)
    {
        return Err(ApiError::invalid_field(
            "invoice_id",
            "this invoice is itself a credit note",
        ));
    }
    if original.record.cancelled {
        return Err(ApiError::invalid_field(
            "invoice_id",
            "a cancelled invoice cannot be credited",
        ));
    }
    let made = with_provider(ctx, &target.integration, |auth| {
        let original = original.clone();
        async move { api.credit_invoice(&auth, &original, credit_id).await }
    })
    .await;
    match made {
        Err(e) if may_have_acted(&e) => match find().await {
            Ok(Some(found)) => Ok(found),
            _ => Err(e),
        },
        other => other,
    }
}

/// Maps the credit note to `credit_id` and queues the pulls that feed both invoices.
async fn adopt(
    ctx: &AppContext,
    target: &Exported,
    credit_id: &str,
    note: Remote<Invoice>,
) -> Result<Credited, Problem> {
    let iid = &target.integration.id;
    let mapping = Mapping {
        our_id: credit_id.to_string(),
        remote_id: Some(note.remote_id.clone()),
        synced_hash: None,
        remote_hash: None,
        remote_modified_at: None,
        create_pending_since: None,
        create_hash: None,
        deleted_at: None,
    };
    match ctx
        .db
        .put_mapping(iid, Entity::Invoices, &mapping, None)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let existing = ctx
                .db
                .mappings(iid, Entity::Invoices, &[credit_id.to_string()])
                .await?
                .remove(credit_id)
                .and_then(|m| m.remote_id);
            if existing.as_deref() != Some(note.remote_id.as_str()) {
                return Err(Problem::invalid_field(
                    "credit_note_id",
                    format!("`{credit_id}` is already the id of another invoice: give another `credit_note_id`"),
                ));
            }
        }
        Err(e) => return Err(e.into()),
    }
    let mut jobs = Vec::new();
    for remote_id in [note.remote_id.clone(), target.remote_id.clone()] {
        let job = enqueue(
            ctx,
            &target.integration,
            &JobRequest {
                direction: Direction::Pull,
                entities: vec![Entity::Invoices],
                mode: Mode::Incremental,
                trigger: Trigger::Manual,
                target: Some(Target {
                    entity: Entity::Invoices,
                    our_id: None,
                    remote_id: Some(remote_id),
                    changed_at: None,
                    payment_id: None,
                }),
                not_before: None,
            },
        )
        .await?;
        jobs.push(job.id);
    }
    let mut record = note.record.clone();
    record.id = credit_id.to_string();
    if let Some(c) = &note.customer_remote_id {
        if let Some(ours) = ctx
            .db
            .our_ids(iid, Entity::Customers, std::slice::from_ref(c))
            .await?
            .remove(c)
        {
            record.customer_id = ours;
        }
    }
    Ok(Credited {
        invoice_id: target.our_id.clone(),
        credit_note_id: credit_id.to_string(),
        remote_id: note.remote_id,
        credit_note: record,
        jobs,
    })
}

fn replay_fresh(text: String) -> Result<Response<Body>, Problem> {
    Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(text))
        .map_err(Problem::internal)
}
