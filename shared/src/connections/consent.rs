//! Consent: start it (a single-use state bound to the tenant, the person and a PKCE pair),
//! take the browser back from the provider (the callback parks the approved consent under a
//! one-time confirmation code), and complete it only when the person who started it confirms
//! from the app with their own session (RFC 6749 §10.12, RFC 9700 §4.7: a consent link sent
//! to someone else connects nothing).

use super::{get, return_url, ConnectionError};
use crate::domain::secret::random_token;
use crate::domain::{ConnectionMode, Integration, ProviderKind, TenantId, TokenSecret};
use crate::providers::oauth::Pkce;
use crate::providers::ApiAuth;
use crate::store::{OAuthState, PendingConsent, StoreError};
use crate::AppContext;
use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

/// How long an approved consent waits for its confirmation. The app confirms as soon as the
/// browser is back; the provider's code must still be fresh (Fortnox: 10 minutes).
const CONFIRM_WITHIN: chrono::Duration = chrono::Duration::minutes(5);

/// What the frontend gets to start a consent.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectStart {
    /// The integration being connected.
    pub integration_id: String,
    /// Provider.
    pub provider: ProviderKind,
    /// The grant asked for: a person's (`user`) or a service account's (`service`).
    pub mode: ConnectionMode,
    /// Send the browser here.
    pub authorization_url: String,
    /// The consent must be completed before this.
    pub expires_at: DateTime<Utc>,
}

/// Refuses a mode the provider does not have, naming the request field `mode`.
fn check_mode(
    ctx: &AppContext,
    provider: ProviderKind,
    mode: ConnectionMode,
) -> Result<(), ConnectionError> {
    if mode == ConnectionMode::Service && !ctx.providers.get(provider).service_accounts() {
        return Err(ConnectionError::Invalid {
            field: "mode",
            detail: format!("{provider} has no service accounts; connect it with mode `user`"),
        });
    }
    Ok(())
}

/// Starts consent for an integration: stores a single-use state and builds the provider URL
/// asking for the grant of `mode`.
pub async fn begin_connect(
    ctx: &AppContext,
    tenant: &TenantId,
    user: &str,
    integration_id: &str,
    return_url: Option<&str>,
    mode: ConnectionMode,
) -> Result<ConnectStart, ConnectionError> {
    let return_url = return_url::resolve(return_url, &ctx.config).map_err(|detail| {
        ConnectionError::Invalid {
            field: "return_url",
            detail,
        }
    })?;
    let integration = get(ctx, tenant, integration_id).await?;
    check_mode(ctx, integration.provider, mode)?;
    if !integration.status.can_connect() {
        return Err(ConnectionError::WrongState(
            "this integration is disconnected; create a new one to connect again".into(),
        ));
    }
    let state = random_token(32);
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ctx.config.oauth_state_ttl).unwrap_or_default();
    let provider = ctx.providers.get(integration.provider);
    // PKCE binds the code to this consent: only the holder of this state's verifier can
    // redeem it (RFC 9700 §4.5, code injection).
    let pkce = provider.uses_pkce().then(Pkce::new);
    let authorization_url = provider
        .authorization_url(
            &state,
            &ctx.config.redirect_uri(integration.provider),
            pkce.as_ref().map(|p| p.challenge.as_str()),
            mode,
        )
        .await?;
    ctx.db
        .put_oauth_state(
            &state,
            &OAuthState {
                tenant_id: tenant.clone(),
                integration_id: integration.id.clone(),
                provider: integration.provider,
                return_url: return_url.to_string(),
                expires_at,
                pkce_verifier: pkce.map(|p| p.verifier),
                user: user.to_string(),
                mode,
            },
        )
        .await?;
    tracing::info!(tenant = %tenant, integration = %integration.id, provider = %integration.provider, %mode, "consent started");
    Ok(ConnectStart {
        integration_id: integration.id,
        provider: integration.provider,
        mode,
        authorization_url,
        expires_at,
    })
}

/// Reuses the tenant's active integration with `provider`, or creates one, and starts consent.
pub async fn authorize(
    ctx: &AppContext,
    tenant: &TenantId,
    user: &str,
    provider: ProviderKind,
    return_url: Option<&str>,
    mode: ConnectionMode,
) -> Result<ConnectStart, ConnectionError> {
    // Validate before creating anything: bad input changes nothing.
    return_url::resolve(return_url, &ctx.config).map_err(|detail| ConnectionError::Invalid {
        field: "return_url",
        detail,
    })?;
    check_mode(ctx, provider, mode)?;
    let id = match ctx.db.active_integration_id(tenant, provider).await? {
        Some(id) => id,
        None => match super::create_integration(ctx, tenant, provider, None).await {
            Ok(i) => i.id,
            // Lost a race with a concurrent authorize: use the winner's integration.
            Err(ConnectionError::AlreadyExists { existing_id, .. }) if !existing_id.is_empty() => {
                existing_id
            }
            Err(e) => return Err(e),
        },
    };
    begin_connect(ctx, tenant, user, &id, return_url, mode).await
}

/// The query a provider sends the browser back with.
#[derive(Debug, Default, Clone)]
pub struct CallbackParams {
    /// Authorization code on approval.
    pub code: Option<String>,
    /// Our state.
    pub state: Option<String>,
    /// OAuth error on denial.
    pub error: Option<String>,
    /// The provider's words about the error.
    pub error_description: Option<String>,
}

/// Takes the browser back from the provider and answers where to send it. Never fails: every
/// outcome is a redirect that says what happened. Connects nothing: an approved consent is
/// parked for [`confirm`] by the person who started it.
pub async fn complete_callback(
    ctx: &AppContext,
    provider_segment: &str,
    params: CallbackParams,
) -> String {
    let fallback = ctx.config.default_return_url.clone();
    let Ok(provider) = provider_segment.parse::<ProviderKind>() else {
        return outcome_url(
            &fallback,
            None,
            None,
            Err(("unknown_provider", "the callback names no known provider")),
        );
    };
    let Some(state_value) = params.state.as_deref().filter(|s| !s.is_empty()) else {
        return outcome_url(
            &fallback,
            None,
            Some(provider),
            Err(("invalid_state", "the provider sent no state")),
        );
    };
    let state = match ctx.db.take_oauth_state(state_value).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::warn!(%provider, "callback with an unknown or already used state");
            return outcome_url(
                &fallback,
                None,
                Some(provider),
                Err((
                    "invalid_state",
                    "this sign-in link was already used or is unknown; start again",
                )),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "reading OAuth state");
            return outcome_url(
                &fallback,
                None,
                Some(provider),
                Err(("server_error", "try again in a moment")),
            );
        }
    };
    let back = Url::parse(&state.return_url).unwrap_or(fallback);
    let id = Some(state.integration_id.as_str());
    if state.provider != provider {
        return outcome_url(
            &back,
            id,
            Some(provider),
            Err(("invalid_state", "the state belongs to another provider")),
        );
    }
    if state.expires_at <= Utc::now() {
        tracing::warn!(tenant = %state.tenant_id, integration = %state.integration_id, "callback with an expired state");
        return outcome_url(
            &back,
            id,
            Some(provider),
            Err((
                "state_expired",
                "the sign-in took longer than 10 minutes; start again",
            )),
        );
    }
    if let Some(err) = params.error.as_deref() {
        tracing::info!(tenant = %state.tenant_id, integration = %state.integration_id, oauth_error = %err, "consent not given");
        let code = if err == "access_denied" {
            "access_denied"
        } else {
            "provider_error"
        };
        let detail = params
            .error_description
            .as_deref()
            .unwrap_or("the accounting system did not grant access");
        return outcome_url(&back, id, Some(provider), Err((code, detail)));
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return outcome_url(
            &back,
            id,
            Some(provider),
            Err(("invalid_request", "the provider sent no authorization code")),
        );
    };
    // Nothing is exchanged here: the consent waits for the person who started it to confirm
    // it from the app. Whoever else lands here (a consent link sent to someone else) holds a
    // confirmation code that only the starter's session can use.
    let confirmation = random_token(32);
    let pending = PendingConsent {
        state: state.clone(),
        code: code.to_string(),
        expires_at: Utc::now() + CONFIRM_WITHIN,
    };
    match ctx.db.put_pending_consent(&confirmation, &pending).await {
        Ok(()) => {
            tracing::info!(tenant = %state.tenant_id, integration = %state.integration_id, %provider, "consent approved; waiting for confirmation");
            outcome_url(&back, id, Some(provider), Outcome::Confirm(&confirmation))
        }
        Err(e) => {
            tracing::error!(error = %e, "storing an approved consent");
            outcome_url(
                &back,
                id,
                Some(provider),
                Err(("server_error", "try again in a moment")),
            )
        }
    }
}

/// Completes a consent the provider approved, for the person who started it: redeems the
/// code (with the consent's PKCE verifier), stores the tokens and marks the integration
/// connected. A confirmation code of another tenant, person or integration, a used one and
/// an unknown one are all refused alike, and leave the consent where it was.
pub async fn confirm(
    ctx: &AppContext,
    tenant: &TenantId,
    user: &str,
    integration_id: &str,
    confirmation: &str,
) -> Result<Integration, ConnectionError> {
    let Some(pending) = ctx
        .db
        .take_pending_consent(confirmation, tenant, user, integration_id)
        .await?
    else {
        tracing::warn!(tenant = %tenant, integration = %integration_id, "confirmation refused: no such consent for this person");
        return Err(ConnectionError::Invalid {
            field: "confirmation",
            detail: "no consent of yours awaits confirmation with this code (it is unknown, used, \
                     or was started by someone else); start the connection again"
                .into(),
        });
    };
    if pending.expires_at <= Utc::now() {
        return Err(ConnectionError::Invalid {
            field: "confirmation",
            detail: "the consent was not confirmed within 5 minutes; start the connection again"
                .into(),
        });
    }
    finish_consent(ctx, &pending.state, &pending.code).await?;
    get(ctx, tenant, integration_id).await
}

/// Puts new tokens into the integration's token secret (creating it at the first consent).
async fn store_tokens(
    ctx: &AppContext,
    state: &OAuthState,
    integration: &Integration,
    tokens: &crate::domain::TokenSet,
) -> Result<(), StoreError> {
    let mut secret = ctx
        .vault
        .read::<TokenSecret>(&integration.secret_name)
        .await?
        .unwrap_or_else(|| TokenSecret::with_tokens(tokens.clone()));
    secret.tokens = Some(tokens.clone());
    match ctx.vault.write(&integration.secret_name, &secret).await {
        Ok(()) => Ok(()),
        Err(StoreError::Aws { .. })
            if ctx
                .vault
                .read::<TokenSecret>(&integration.secret_name)
                .await?
                .is_none() =>
        {
            ctx.vault
                .create(
                    &integration.secret_name,
                    &secret,
                    state.tenant_id.as_str(),
                    &integration.id,
                )
                .await
        }
        Err(e) => Err(e),
    }
}

/// How long the confirmation waits for the connected company's name and id.
const COMPANY_LOOKUP_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

async fn finish_consent(
    ctx: &AppContext,
    state: &OAuthState,
    code: &str,
) -> Result<(), ConnectionError> {
    let integration = get(ctx, &state.tenant_id, &state.integration_id).await?;
    if !integration.status.can_connect() {
        return Err(ConnectionError::WrongState(
            "integration is disconnected".into(),
        ));
    }
    let provider = ctx.providers.get(state.provider);
    let mut tokens = provider
        .exchange_code(
            code,
            &ctx.config.redirect_uri(state.provider),
            state.pkce_verifier.as_deref(),
        )
        .await?;
    let auth = ApiAuth::for_integration(&integration, tokens.access_token.clone());
    // A service account needs the company's tenant id before anything is stored: without it
    // no token could ever be fetched again. Fortnox: the tenant id is the company's
    // `DatabaseNumber` (docs/providers.md), read with the token the consent gave.
    let (service_tenant, mut company) = match state.mode {
        ConnectionMode::User => (None, None),
        ConnectionMode::Service => {
            // docs/providers.md, Fortnox service accounts: "no refresh token exists". Should
            // the code exchange bring one anyway, a service account keeps none.
            tokens.refresh_token = None;
            tokens.refresh_expires_at = None;
            let company = lookup_company(ctx, &integration, &auth).await;
            let Some(tenant) = company.as_ref().and_then(|c| provider.service_tenant(c)) else {
                return Err(ConnectionError::Upstream(format!(
                    "{} did not say which company the service account is for; start the \
                     connection again",
                    state.provider
                )));
            };
            (Some(tenant), company)
        }
    };
    // Read, change and write the token secret under the same lease as a token refresh (and the
    // migration of legacy webhook keys), so no writer loses another's change.
    let owner = uuid::Uuid::new_v4().to_string();
    let lease_ttl = ctx.config.refresh_lease_ttl;
    if !ctx
        .db
        .acquire_secret_lease(
            &state.tenant_id,
            &integration.id,
            &owner,
            lease_ttl,
            lease_ttl,
        )
        .await?
    {
        return Err(ConnectionError::WrongState(
            "the integration's secret is busy; try again".into(),
        ));
    }
    let stored = store_tokens(ctx, state, &integration, &tokens).await;
    if let Err(e) = ctx
        .db
        .release_secret_lease(&state.tenant_id, &integration.id, &owner)
        .await
    {
        tracing::warn!(integration = %integration.id, error = %e, "could not release the secret lease; it will expire");
    }
    stored?;
    if company.is_none() {
        company = lookup_company(ctx, &integration, &auth).await;
    }
    ctx.db
        .mark_connected(
            &integration,
            company
                .as_ref()
                .map(|c| (c.name.as_str(), c.provider_company_id.as_deref())),
            tokens.expires_at,
            tokens.refresh_expires_at,
            state.mode,
            service_tenant.as_deref(),
        )
        .await?;
    ctx.tokens.remember(&integration.secret_name, tokens);
    tracing::info!(tenant = %state.tenant_id, integration = %integration.id, provider = %state.provider, mode = %state.mode, "integration connected");
    Ok(())
}

/// The connected company, or `None` when the provider is slow or failing.
///
/// Through the data client: paced by the shared rate limiter, retried, and classified like
/// every other provider call; time-boxed, because its retries (or a Visma "try again in N
/// seconds") could otherwise outlast the confirm function's 10-second timeout. A slow or
/// failing lookup never costs a person their consent: the tokens are stored, the integration
/// is connected without a company, and the next sync fills it in (a service account, which
/// needs the company's tenant id, is the exception: see `finish_consent`).
async fn lookup_company(
    ctx: &AppContext,
    integration: &Integration,
    auth: &ApiAuth,
) -> Option<crate::providers::CompanyInfo> {
    let lookup = ctx.providers.api(integration.provider).company(auth);
    match tokio::time::timeout(COMPANY_LOOKUP_BUDGET, lookup).await {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            tracing::warn!(integration = %integration.id, error = %e, "company lookup failed; the next sync fills it in");
            None
        }
        Err(_) => {
            tracing::warn!(integration = %integration.id, budget = ?COMPANY_LOOKUP_BUDGET, "company lookup too slow; the next sync fills it in");
            None
        }
    }
}

/// What the return URL is told.
enum Outcome<'a> {
    /// Approved at the provider: the app confirms with this code.
    Confirm(&'a str),
    /// Failed: an error code and a sentence.
    Error(&'a str, &'a str),
}

impl<'a> From<Result<(), (&'a str, &'a str)>> for Outcome<'a> {
    fn from(r: Result<(), (&'a str, &'a str)>) -> Self {
        match r {
            Ok(()) => Outcome::Error("server_error", "no outcome"),
            Err((code, description)) => Outcome::Error(code, description),
        }
    }
}

/// Appends the outcome to a return URL: `status=confirm&confirmation=…` or
/// `status=error&error=…`.
fn outcome_url<'a>(
    base: &Url,
    integration_id: Option<&str>,
    provider: Option<ProviderKind>,
    outcome: impl Into<Outcome<'a>>,
) -> String {
    let outcome = outcome.into();
    let mut url = base.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(id) = integration_id {
            q.append_pair("integration_id", id);
        }
        if let Some(p) = provider {
            q.append_pair("provider", p.as_str());
        }
        match outcome {
            Outcome::Confirm(code) => {
                q.append_pair("status", "confirm");
                q.append_pair("confirmation", code);
            }
            Outcome::Error(code, description) => {
                q.append_pair("status", "error");
                q.append_pair("error", code);
                q.append_pair("error_description", description);
            }
        }
    }
    url.into()
}
