//! The token endpoint (code exchange, refresh, client credentials) and revocation; the
//! tokens themselves are made in `grants.rs`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use super::common::{
    authenticate_client, form_params, no_store, non_empty, required, Flavor, OAuthError, Params,
};
use super::grants::{issue, IssuedTokens, OAuthStore, RefreshStatus};
use crate::config::ClientRegistration;
use crate::provider::ProviderKind;
use crate::state::{token_fingerprint, RevocationRecord, SandboxState, TokenRequestRecord};

fn exchange_code(
    state: &SandboxState,
    client: &ClientRegistration,
    params: &Params,
) -> Result<IssuedTokens, OAuthError> {
    let code = required(params, "code")?;
    let redirect_uri = required(params, "redirect_uri")?;
    let now = Instant::now();
    let mut store = state.oauth();
    let entry = store
        .codes
        .get_mut(code)
        .ok_or_else(|| OAuthError::InvalidGrant("The authorization code is unknown.".into()))?;
    if entry.grant.provider != client.provider || entry.grant.client_id != client.client_id {
        return Err(OAuthError::InvalidGrant(
            "The authorization code was issued to another client.".into(),
        ));
    }
    if entry.used {
        return Err(OAuthError::InvalidGrant(
            "The authorization code has already been used.".into(),
        ));
    }
    if now >= entry.expires {
        return Err(OAuthError::InvalidGrant(
            "The authorization code has expired.".into(),
        ));
    }
    if entry.redirect_uri != redirect_uri {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri does not match the one of the authorization request.".into(),
        ));
    }
    entry.used = true;
    // PKCE: a code issued with a challenge is redeemed only with its verifier; a wrong one
    // spends the code all the same (an injected code is not tried twice).
    if let Some(challenge) = &entry.code_challenge {
        let verifier = non_empty(params, "code_verifier").ok_or_else(|| {
            OAuthError::InvalidGrant("code_verifier is required for this code.".into())
        })?;
        if !verifier_meets(verifier, challenge) {
            return Err(OAuthError::InvalidGrant(
                "code_verifier does not match the code_challenge.".into(),
            ));
        }
    }
    let grant = entry.grant.clone();
    // A service account has no refresh token (docs/providers.md, Fortnox OAuth, service
    // accounts: "no refresh token exists"): its code gives an access token only, and new
    // ones come from `client_credentials`.
    let with_refresh = !entry.service_account;
    Ok(issue(&mut store, state.config(), grant, with_refresh, now))
}

/// Whether `verifier` (43–128 characters of `[A-Za-z0-9-._~]`) hashes to `challenge` (S256).
fn verifier_meets(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let shaped = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    shaped
        && base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier))
            == challenge
}

fn refresh(
    state: &SandboxState,
    client: &ClientRegistration,
    params: &Params,
) -> Result<IssuedTokens, OAuthError> {
    let token = required(params, "refresh_token")?;
    let now = Instant::now();
    let mut store = state.oauth();
    let entry = store
        .refresh_tokens
        .get_mut(token)
        .ok_or_else(|| OAuthError::InvalidGrant("The refresh token is unknown.".into()))?;
    if entry.grant.provider != client.provider || entry.grant.client_id != client.client_id {
        return Err(OAuthError::InvalidGrant(
            "The refresh token was issued to another client.".into(),
        ));
    }
    match entry.status {
        RefreshStatus::Active if entry.expires.is_some_and(|e| now >= e) => Err(
            OAuthError::InvalidGrant("The refresh token has expired.".into()),
        ),
        RefreshStatus::Active => {
            entry.status = RefreshStatus::Spent;
            let grant = entry.grant.clone();
            Ok(issue(&mut store, state.config(), grant, true, now))
        }
        RefreshStatus::Spent => {
            let family = entry.grant.family;
            if state.config().refresh_reuse_revokes_family {
                revoke_family(&mut store, family, now);
            }
            Err(OAuthError::InvalidGrant(
                "The refresh token has already been used.".into(),
            ))
        }
        RefreshStatus::Revoked => Err(OAuthError::InvalidGrant(
            "The refresh token has been revoked.".into(),
        )),
    }
}

fn revoke_family(store: &mut OAuthStore, family: u64, now: Instant) {
    for entry in store.refresh_tokens.values_mut() {
        if entry.grant.family == family && entry.status == RefreshStatus::Active {
            entry.status = RefreshStatus::Revoked;
        }
    }
    for entry in store.access_tokens.values_mut() {
        if entry.grant.family == family {
            entry.expires = entry.expires.min(now);
        }
    }
}

/// Fortnox service accounts (docs/providers.md, Fortnox OAuth): `grant_type=client_credentials`
/// with HTTP Basic client authentication and the company in a `TenantId` header (its
/// `DatabaseNumber`); answered with a 1-hour access token and no refresh token. Without a
/// service-account consent of this client for that company: `unauthorized_client`.
fn client_credentials(
    state: &SandboxState,
    client: &ClientRegistration,
    headers: &HeaderMap,
) -> Result<IssuedTokens, OAuthError> {
    let tenant = headers
        .get("TenantId")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest("The TenantId header is missing.".into()))?;
    let tenant: i64 = tenant
        .parse()
        .map_err(|_| OAuthError::InvalidRequest("TenantId must be a number.".into()))?;
    let now = Instant::now();
    let mut store = state.oauth();
    let grant = store
        .service_consents
        .iter()
        .find(|s| s.client_id == client.client_id && s.database_number == tenant)
        .map(|s| s.grant.clone())
        .ok_or_else(|| {
            OAuthError::UnauthorizedClient(
                "No service-account consent exists for this client and tenant.".into(),
            )
        })?;
    Ok(issue(&mut store, state.config(), grant, false, now))
}

/// `POST` token: every grant both providers support, recorded for inspection.
pub(crate) async fn token_handler(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
    flavor: &'static Flavor,
) -> Response {
    let params = form_params(&headers, &body);
    let grant_type = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("grant_type").cloned())
        .unwrap_or_default();
    let result =
        authenticate_client(state.config(), flavor.provider, &headers).and_then(|client| {
            let params = params.clone()?;
            match grant_type.as_str() {
                "authorization_code" => exchange_code(&state, client, &params),
                "refresh_token" => refresh(&state, client, &params),
                "client_credentials" if flavor.client_credentials => {
                    client_credentials(&state, client, &headers)
                }
                "" => Err(OAuthError::InvalidRequest("grant_type is missing.".into())),
                other => Err(OAuthError::UnsupportedGrantType(format!(
                    "grant_type {other} is not supported."
                ))),
            }
        });
    let (status, error) = match &result {
        Ok(_) => (StatusCode::OK, None),
        Err(e) => (e.status(), Some(e.code().to_string())),
    };
    tracing::info!(
        provider = %flavor.provider,
        grant_type = %grant_type,
        status = status.as_u16(),
        error = error.as_deref().unwrap_or(""),
        "token request"
    );
    state.record_token_request(TokenRequestRecord {
        provider: flavor.provider,
        grant_type,
        tenant_id: headers
            .get("TenantId")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ok: result.is_ok(),
        status: status.as_u16(),
        error,
        at: Utc::now(),
    });
    match result {
        Ok(issued) => (
            StatusCode::OK,
            no_store(),
            Json((flavor.token_body)(&issued, state.config())),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Revokes a refresh token (access tokens can't be revoked on either provider).
pub(crate) fn revoke(
    state: &SandboxState,
    provider: ProviderKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), OAuthError> {
    let client = authenticate_client(state.config(), provider, headers)?;
    let params = form_params(headers, body)?;
    let token = required(&params, "token")?;
    match non_empty(&params, "token_type_hint") {
        None | Some("refresh_token") => {}
        Some(_) => {
            return Err(OAuthError::UnsupportedTokenType(
                "Only refresh tokens can be revoked.".into(),
            ))
        }
    }
    let mut store = state.oauth();
    let was_active = match store.refresh_tokens.get_mut(token) {
        Some(entry) if entry.grant.provider == provider => {
            if entry.grant.client_id != client.client_id {
                return Err(OAuthError::UnauthorizedClient(
                    "The token was issued to another client.".into(),
                ));
            }
            let was_active = entry.status == RefreshStatus::Active;
            entry.status = RefreshStatus::Revoked;
            was_active
        }
        // RFC 7009: an unknown token is not an error.
        _ => false,
    };
    drop(store);
    let fingerprint = token_fingerprint(token);
    tracing::info!(%provider, token = %fingerprint, was_active, "refresh token revoked");
    state.record_revocation(RevocationRecord {
        provider,
        token_fingerprint: fingerprint,
        was_active,
        at: Utc::now(),
    });
    Ok(())
}

#[cfg(test)]
mod pkce_tests {
    use super::verifier_meets;

    #[test]
    fn verifiers_are_checked_against_s256_challenges() {
        // RFC 7636, Appendix B.
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_meets(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            challenge
        ));
        assert!(!verifier_meets(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        // Too short, even when it hashes right, and the challenge itself as verifier.
        let short = {
            use base64::Engine;
            use sha2::{Digest, Sha256};
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest("abc"))
        };
        assert!(!verifier_meets("abc", &short));
        assert!(!verifier_meets(challenge, challenge));
    }
}
