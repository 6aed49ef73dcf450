//! Acting on an exported invoice at its provider, for the app: send it to the customer
//! ([`send`]), fetch its PDF ([`pdf`]), credit it ([`credit`]). Each is its own endpoint and
//! Lambda function (`functions/invoice_send`, `invoice_pdf`, `invoice_credit`) over this module.
//!
//! The invoice must have been exported (its mapping names the provider's id). The provider is
//! called with the integration's access token; a refused token is replaced once through the
//! shared refresh. Sends and credits are not idempotent at either provider: each is taken in
//! the store before the provider is asked ([`crate::store::actions`]), so a retried request
//! answers what was done and never does it twice.

pub mod credit;
pub mod pdf;
pub mod send;

use crate::api::{path_param, tenant, Problem};
use crate::connections::get;
use crate::domain::{Entity, Integration, IntegrationStatus};
use crate::http::ApiError;
use crate::providers::ApiAuth;
use crate::AppContext;
use lambda_http::Request;
use std::future::Future;

/// An exported invoice of a connected integration.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The integration.
    pub integration: Integration,
    /// Our id of the invoice.
    pub our_id: String,
    /// The provider's id of it.
    pub remote_id: String,
}

/// The invoice the request names (`/api/integrations/{id}/invoices/{invoice_id}/…`), exported
/// and of a connected integration of the caller's tenant.
pub async fn exported(ctx: &AppContext, req: &Request) -> Result<Exported, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let id = path_param(req, "id")?;
    let our_id = path_param(req, "invoice_id")?;
    if our_id.is_empty() || our_id.len() > crate::domain::invoice::MAX_INVOICE_ID_LEN {
        return Err(Problem::invalid_field(
            "invoice_id",
            "an invoice id is 1 to 80 characters",
        ));
    }
    let integration = get(ctx, &tenant, &id).await?;
    if integration.status != IntegrationStatus::Connected {
        return Err(Problem::conflict(format!(
            "the integration is {}; connect it first",
            integration.status.as_str()
        )));
    }
    let mapping = ctx
        .db
        .mappings(
            &integration.id,
            Entity::Invoices,
            std::slice::from_ref(&our_id),
        )
        .await?
        .remove(&our_id);
    let Some(remote_id) = mapping.and_then(|m| m.remote_id) else {
        return Err(Problem::new(
            409,
            "invoice-not-exported",
            "Invoice not exported",
            format!(
                "invoice `{our_id}` has not been exported to {} yet: upsert it and let its export finish first",
                integration.provider
            ),
        ));
    };
    Ok(Exported {
        integration,
        our_id,
        remote_id,
    })
}

/// Calls the provider with the integration's access token; a token the provider refuses is
/// replaced once (a refused request did nothing, so asking again is safe).
pub async fn with_provider<T, F, Fut>(
    ctx: &AppContext,
    integration: &Integration,
    call: F,
) -> Result<T, ApiError>
where
    F: Fn(ApiAuth) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let token = ctx
        .tokens
        .access_token(integration)
        .await
        .map_err(token_error)?;
    match call(ApiAuth::for_integration(integration, token.clone())).await {
        Err(ApiError::NeedsReauth { .. }) => {
            let fresh = ctx
                .tokens
                .replace_refused(integration, &token)
                .await
                .map_err(token_error)?;
            call(ApiAuth::for_integration(integration, fresh.access_token)).await
        }
        other => other,
    }
}

fn token_error(e: crate::connections::tokens::TokenError) -> ApiError {
    use crate::connections::tokens::TokenError;
    match e {
        TokenError::NotConnected | TokenError::NeedsReauth(_) => ApiError::NeedsReauth {
            message: e.to_string(),
        },
        other => ApiError::Retryable {
            message: other.to_string(),
        },
    }
}

/// Whether a failed call may have acted at the provider (its outcome is unknown).
pub fn may_have_acted(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Ambiguous { .. } | ApiError::Retryable { .. } | ApiError::Unexpected { .. }
    )
}

/// The problem answered for a provider's failure.
pub fn provider_problem(provider: crate::domain::ProviderKind, e: &ApiError) -> Problem {
    match e {
        ApiError::InvalidData { message, field, .. } => Problem::new(
            422,
            "provider-refused",
            "Refused by the provider",
            format!("{provider} refused it: {message}"),
        )
        .with("field", field.clone().unwrap_or_default()),
        ApiError::NotFound { .. } => Problem::new(
            404,
            "gone-at-provider",
            "Gone at the provider",
            format!("the invoice no longer exists at {provider}"),
        ),
        ApiError::NeedsReauth { .. } | ApiError::NeedsPerson { .. } => Problem::new(
            409,
            "needs-person",
            "The connection needs a person",
            format!("{provider}: {e}"),
        ),
        ApiError::RateLimited { .. } => Problem::new(
            503,
            "provider-busy",
            "Provider busy",
            format!("{provider} asked us to slow down; try again shortly"),
        ),
        ApiError::Retryable { .. } | ApiError::Unexpected { .. } | ApiError::Ambiguous { .. } => {
            Problem::bad_gateway(format!("{provider} failed: {e}"))
        }
    }
}
