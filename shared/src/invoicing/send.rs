//! `POST /api/integrations/{id}/invoices/{invoice_id}/send` with `{"method": "email" |
//! "einvoice" | "print"}`: the provider's own send action (see the providers' `documents`
//! modules), answering what the provider did.
//!
//! Exactly once: a send is taken under (`method`, `Idempotency-Key` or none) before the
//! provider is asked. The same request again answers the first answer (header
//! `Idempotent-Replayed: true`) and sends nothing; to send the invoice again on purpose, give a
//! new `Idempotency-Key`. When the provider's answer is lost, nothing is sent again on a retry:
//! the problem says so, and a new key sends again.

use super::{exported, may_have_acted, provider_problem, with_provider};
use crate::api::{typed_body, Problem};
use crate::providers::SendMethod;
use crate::store::actions::ActionStart;
use crate::AppContext;
use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// How: `email`, `einvoice` or `print`.
    pub method: SendMethod,
}

/// What was done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sent {
    /// Our id of the invoice.
    pub invoice_id: String,
    /// The provider's id of it.
    pub remote_id: String,
    /// How it was sent.
    pub method: SendMethod,
    /// The provider's request that sent it.
    pub provider_action: String,
    /// When.
    pub sent_at: DateTime<Utc>,
}

/// Handles one request.
pub async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let target = exported(ctx, req).await?;
    let body: SendBody = typed_body(req)?;
    let key = idempotency_key(req)?.unwrap_or_default();
    let action_key = format!("{}#{key}", body.method.as_str());
    let iid = &target.integration.id;
    match ctx
        .db
        .begin_action(iid, "send", &target.our_id, &action_key, Utc::now())
        .await?
    {
        ActionStart::Done(status, text) => return replay(status, text),
        ActionStart::InProgress => {
            return Err(Problem::new(
                409,
                "send-in-progress",
                "Send in progress",
                "this send is being made by another request; ask again in a minute",
            ))
        }
        ActionStart::Resume => {
            return Err(Problem::new(
                409,
                "send-outcome-unknown",
                "Send outcome unknown",
                "an earlier request for this send lost the provider's answer, so it may have been sent: it is not sent again. Check the invoice at the provider; to send it again, use a new Idempotency-Key",
            ))
        }
        ActionStart::Fresh => {}
    }
    let api = ctx.providers.api(target.integration.provider);
    let done = with_provider(ctx, &target.integration, |auth| {
        let remote_id = target.remote_id.clone();
        async move { api.send_invoice(&auth, &remote_id, body.method).await }
    })
    .await;
    match done {
        Ok(provider_action) => {
            let sent = Sent {
                invoice_id: target.our_id.clone(),
                remote_id: target.remote_id.clone(),
                method: body.method,
                provider_action: provider_action.to_string(),
                sent_at: Utc::now(),
            };
            let text = serde_json::to_string(&sent).map_err(Problem::internal)?;
            ctx.db
                .finish_action(iid, "send", &target.our_id, &action_key, 200, &text)
                .await?;
            tracing::info!(integration = %iid, invoice = %target.our_id, method = body.method.as_str(), "invoice sent");
            crate::api::json(200, &sent)
        }
        Err(e) if may_have_acted(&e) => {
            tracing::warn!(integration = %iid, invoice = %target.our_id, error = %e, "invoice send outcome unknown");
            ctx.db
                .release_action(iid, "send", &target.our_id, &action_key)
                .await?;
            Err(Problem::new(
                504,
                "send-outcome-unknown",
                "Send outcome unknown",
                format!(
                    "{} did not answer clearly ({e}); the invoice may have been sent and is not sent again by a retry. Check it at the provider; to send it again, use a new Idempotency-Key",
                    target.integration.provider
                ),
            ))
        }
        Err(e) => {
            ctx.db
                .drop_action(iid, "send", &target.our_id, &action_key)
                .await?;
            Err(provider_problem(target.integration.provider, &e))
        }
    }
}

/// The request's `Idempotency-Key`, 1 to 255 ASCII characters.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, Problem> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .map_err(|_| Problem::invalid_field("Idempotency-Key", "the header must be ASCII"))?;
    if k.is_empty() || k.len() > 255 {
        return Err(Problem::invalid_field(
            "Idempotency-Key",
            "the header must be 1 to 255 characters",
        ));
    }
    Ok(Some(k.to_string()))
}

/// A stored answer, again.
pub fn replay(status: u16, body: String) -> Result<Response<Body>, Problem> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("idempotent-replayed", "true")
        .body(Body::Text(body))
        .map_err(Problem::internal)
}
