//! OAuth 2.0 authorization-code flow shared by both providers: authorize, consent, token,
//! revoke and bearer checks. Provider differences come in through a [`Flavor`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use serde_json::{json, Value};

use crate::config::{ClientRegistration, Company, ProviderKind, SandboxConfig};
use crate::consent::{self, ConsentPage};
use crate::state::{
    token_fingerprint, AccessEntry, CodeEntry, Grant, OAuthStore, PendingConsent, RefreshEntry,
    RefreshStatus, RevocationRecord, SandboxState, ServiceConsent, TokenRequestRecord,
};

/// How long a consent page stays answerable.
const CONSENT_TTL: Duration = Duration::from_secs(3600);
/// How long spent codes and dead access tokens are kept to give precise errors.
const GRACE: Duration = Duration::from_secs(24 * 3600);

/// What makes one provider's OAuth differ from the other's.
pub(crate) struct Flavor {
    pub provider: ProviderKind,
    /// Full path the consent form posts to.
    pub consent_path: &'static str,
    /// Checks the requested scopes; `Err` carries the `error_description` of `invalid_scope`.
    pub check_scopes: fn(&[String]) -> Result<(), String>,
    /// Checks provider-specific authorize parameters; `Ok(true)` asks for a service account.
    pub check_extras: fn(&Params) -> Result<bool, String>,
    /// Human text for a scope on the consent page.
    pub describe_scope: fn(&str) -> &'static str,
    /// JSON body of a successful token response.
    pub token_body: fn(&IssuedTokens, &SandboxConfig) -> Value,
    /// Whether `grant_type=client_credentials` (service accounts) exists.
    pub client_credentials: bool,
}

/// Query or form parameters, each name at most once.
pub(crate) type Params = HashMap<String, String>;

/// Tokens handed out by one successful token request.
#[derive(Debug, Clone)]
pub(crate) struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in: u64,
}

/// An OAuth error answered by the token and revocation endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OAuthError {
    InvalidRequest(String),
    InvalidClient(String),
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType(String),
    UnsupportedTokenType(String),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::UnsupportedTokenType(_) => "unsupported_token_type",
        }
    }

    fn description(&self) -> &str {
        match self {
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidClient(d)
            | OAuthError::InvalidGrant(d)
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::UnsupportedGrantType(d)
            | OAuthError::UnsupportedTokenType(d) => d,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code(), "error_description": self.description()});
        let mut response = (self.status(), no_store(), Json(body)).into_response();
        if self.status() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth\""),
            );
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// A random URL-safe string with `bytes` bytes of entropy.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Parses `a=1&b=2` strictly: malformed input or a repeated name is an error.
pub(crate) fn parse_params(raw: &[u8]) -> Result<Params, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
        .map_err(|_| "the parameters are malformed".to_string())?;
    let mut params = Params::new();
    for (name, value) in pairs {
        if params.contains_key(&name) {
            return Err(format!("parameter {name} is repeated"));
        }
        params.insert(name, value);
    }
    Ok(params)
}

fn non_empty<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// A 302 to `redirect_uri` with `extra` appended to its query.
fn redirect_with(redirect_uri: &str, extra: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        // Only registered (hence parseable) URIs get here; answer rather than panic anyway.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in extra {
            query.append_pair(name, value);
        }
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut extra = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        extra.push(("state", state));
    }
    redirect_with(redirect_uri, &extra)
}

fn error_page(provider: ProviderKind, status: StatusCode, title: &str, message: &str) -> Response {
    (status, consent::error_page(provider, title, message)).into_response()
}

/// `GET` authorize: validates the request and shows the consent page.
pub(crate) fn authorize(
    state: &SandboxState,
    flavor: &Flavor,
    raw_query: Option<&str>,
) -> Response {
    let provider = flavor.provider;
    let bad = |message: &str| {
        error_page(
            provider,
            StatusCode::BAD_REQUEST,
            "Ogiltig begäran",
            message,
        )
    };
    let params = match parse_params(raw_query.unwrap_or("").as_bytes()) {
        Ok(params) => params,
        Err(message) => return bad(&message),
    };
    let Some(client_id) = non_empty(&params, "client_id") else {
        return bad("client_id is missing.");
    };
    let Some(client) = state.config().client(provider, client_id) else {
        return bad("Unknown client_id: no such app is registered.");
    };
    let Some(redirect_uri) = non_empty(&params, "redirect_uri") else {
        return bad("redirect_uri is missing.");
    };
    if !client.allows_redirect(redirect_uri) {
        return bad("redirect_uri is not registered for this app.");
    }
    let client_state = non_empty(&params, "state");
    let fail = |error: &str, description: &str| {
        error_redirect(redirect_uri, error, description, client_state)
    };
    match non_empty(&params, "response_type") {
        Some("code") => {}
        Some(_) => return fail("unsupported_response_type", "response_type must be code."),
        None => return fail("invalid_request", "response_type is missing."),
    }
    let Some(client_state) = client_state else {
        return fail("invalid_request", "state is required.");
    };
    let scopes: Vec<String> = params
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return fail("invalid_scope", "scope is missing.");
    }
    if let Err(description) = (flavor.check_scopes)(&scopes) {
        return fail("invalid_scope", &description);
    }
    let service_account = match (flavor.check_extras)(&params) {
        Ok(service_account) => service_account,
        Err(description) => return fail("invalid_request", &description),
    };

    let consent_id = random_token(24);
    let now = Instant::now();
    {
        let mut store = state.oauth();
        store
            .consents
            .retain(|_, c| now.duration_since(c.created) < CONSENT_TTL);
        store.consents.insert(
            consent_id.clone(),
            PendingConsent {
                provider,
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_string(),
                state: client_state.to_string(),
                scopes: scopes.clone(),
                service_account,
                created: now,
            },
        );
    }
    let page = ConsentPage {
        provider,
        consent_id: &consent_id,
        client_id: &client.client_id,
        scopes: scopes
            .iter()
            .map(|s| (s.as_str(), (flavor.describe_scope)(s)))
            .collect(),
        companies: state.config().companies(provider),
        action: flavor.consent_path,
        service_account,
    };
    (StatusCode::OK, consent::consent_page(&page)).into_response()
}

/// Axum handler for authorize.
pub(crate) async fn authorize_handler(
    State(state): State<Arc<SandboxState>>,
    RawQuery(query): RawQuery,
    flavor: &'static Flavor,
) -> Response {
    authorize(&state, flavor, query.as_deref())
}

/// `POST` consent: the user's decision; redirects with a code or with `access_denied`.
pub(crate) fn consent_decision(state: &SandboxState, flavor: &Flavor, body: &[u8]) -> Response {
    let provider = flavor.provider;
    let bad = |message: &str| {
        error_page(
            provider,
            StatusCode::BAD_REQUEST,
            "Ogiltig begäran",
            message,
        )
    };
    let params = match parse_params(body) {
        Ok(params) => params,
        Err(message) => return bad(&message),
    };
    let Some(consent_id) = non_empty(&params, "consent_id") else {
        return bad("consent_id is missing.");
    };
    let approve = match non_empty(&params, "decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return bad("decision must be approve or deny."),
    };
    let now = Instant::now();
    let mut store = state.oauth();
    let pending = match store.consents.get(consent_id) {
        Some(p) if p.provider == provider && now.duration_since(p.created) < CONSENT_TTL => {
            p.clone()
        }
        _ => return bad("This consent request is unknown, expired or already answered."),
    };
    if !approve {
        store.consents.remove(consent_id);
        return error_redirect(
            &pending.redirect_uri,
            "access_denied",
            "The user denied the app access.",
            Some(&pending.state),
        );
    }
    let companies = state.config().companies(provider);
    let company: Option<&Company> = match non_empty(&params, "company") {
        Some(key) => companies.iter().find(|c| c.key(provider) == key),
        None => companies.first(),
    };
    let Some(company) = company else {
        return bad("The chosen company does not exist.");
    };
    store.consents.remove(consent_id);
    store.next_family += 1;
    let grant = Grant {
        provider,
        client_id: pending.client_id.clone(),
        scopes: pending.scopes.clone(),
        company_key: company.key(provider),
        family: store.next_family,
    };
    if pending.service_account {
        store.service_consents.retain(|s| {
            !(s.client_id == pending.client_id && s.database_number == company.database_number)
        });
        store.service_consents.push(ServiceConsent {
            client_id: pending.client_id.clone(),
            database_number: company.database_number,
            grant: grant.clone(),
        });
    }
    let code = random_token(24);
    store.codes.retain(|_, c| now < c.expires + GRACE);
    store.codes.insert(
        code.clone(),
        CodeEntry {
            grant,
            redirect_uri: pending.redirect_uri.clone(),
            expires: now + state.config().code_ttl,
            used: false,
        },
    );
    drop(store);
    redirect_with(
        &pending.redirect_uri,
        &[("code", &code), ("state", &pending.state)],
    )
}

/// Axum handler for the consent form.
pub(crate) async fn consent_handler(
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
    flavor: &'static Flavor,
) -> Response {
    consent_decision(&state, flavor, &body)
}

/// Checks HTTP Basic client authentication against the clients of `provider`.
pub(crate) fn authenticate_client<'a>(
    config: &'a SandboxConfig,
    provider: ProviderKind,
    headers: &HeaderMap,
) -> Result<&'a ClientRegistration, OAuthError> {
    let missing =
        || OAuthError::InvalidClient("Client authentication by HTTP Basic is required.".into());
    let wrong = || OAuthError::InvalidClient("Client authentication failed.".into());
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(missing());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| wrong())?;
    let decoded = String::from_utf8(decoded).map_err(|_| wrong())?;
    let (client_id, secret) = decoded.split_once(':').ok_or_else(wrong)?;
    match config.client(provider, client_id) {
        Some(client) if client.client_secret == secret => Ok(client),
        _ => Err(wrong()),
    }
}

fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::InvalidRequest(
            "The body must be application/x-www-form-urlencoded.".into(),
        ));
    }
    parse_params(body).map_err(OAuthError::InvalidRequest)
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    non_empty(params, name).ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is missing.")))
}

/// Stores a fresh access token (and refresh token when asked) for `grant`.
fn issue(
    store: &mut OAuthStore,
    config: &SandboxConfig,
    grant: Grant,
    with_refresh: bool,
    now: Instant,
) -> IssuedTokens {
    let access_token = jwt_like(&grant, config.access_token_ttl);
    let expires = now
        .checked_add(config.access_token_ttl)
        .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600));
    store.access_tokens.retain(|_, a| now < a.expires + GRACE);
    store.access_tokens.insert(
        access_token.clone(),
        AccessEntry {
            grant: grant.clone(),
            expires,
        },
    );
    let refresh_token = with_refresh.then(|| {
        let token = random_token(32);
        let ttl = match grant.provider {
            ProviderKind::Fortnox => Some(config.fortnox_refresh_ttl),
            ProviderKind::Visma => config.visma_refresh_ttl,
        };
        store.refresh_tokens.insert(
            token.clone(),
            RefreshEntry {
                grant: grant.clone(),
                expires: ttl.and_then(|ttl| now.checked_add(ttl)),
                status: RefreshStatus::Active,
            },
        );
        token
    });
    IssuedTokens {
        access_token,
        refresh_token,
        scopes: grant.scopes,
        expires_in: config.access_token_ttl.as_secs(),
    }
}

/// Issues an access token as a finished consent would (no refresh token), for tests that
/// need to call the REST API without the browser dance.
pub(crate) fn mint_access_token(
    state: &SandboxState,
    provider: ProviderKind,
    client_id: &str,
    company_key: &str,
    scopes: &[&str],
) -> String {
    let now = Instant::now();
    let mut store = state.oauth();
    store.next_family += 1;
    let grant = Grant {
        provider,
        client_id: client_id.to_string(),
        scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
        company_key: company_key.to_string(),
        family: store.next_family,
    };
    issue(&mut store, state.config(), grant, false, now).access_token
}

/// An access token shaped like the providers' JWTs; the sandbox only ever looks it up.
fn jwt_like(grant: &Grant, ttl: Duration) -> String {
    let now = Utc::now().timestamp();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "sandbox"});
    let claims = json!({
        "iss": format!("{}-sandbox", grant.provider),
        "client_id": grant.client_id,
        "tenant": grant.company_key,
        "scope": grant.scopes,
        "iat": now,
        "exp": now.saturating_add(ttl),
        "jti": uuid::Uuid::new_v4(),
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        random_token(32)
    )
}

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
    let grant = entry.grant.clone();
    Ok(issue(&mut store, state.config(), grant, true, now))
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

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerError {
    Missing,
    Invalid,
    Expired,
}

/// The grant and company behind the `Authorization: Bearer` header of a REST call.
pub(crate) fn authenticate_bearer<'a>(
    state: &'a SandboxState,
    provider: ProviderKind,
    headers: &HeaderMap,
) -> Result<(Grant, &'a Company), BearerError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(BearerError::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(BearerError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Invalid);
    }
    let now = Instant::now();
    let grant = {
        let store = state.oauth();
        let entry = store
            .access_tokens
            .get(token.trim())
            .ok_or(BearerError::Invalid)?;
        if entry.grant.provider != provider {
            return Err(BearerError::Invalid);
        }
        if now >= entry.expires {
            return Err(BearerError::Expired);
        }
        entry.grant.clone()
    };
    let company = state
        .company(provider, &grant.company_key)
        .ok_or(BearerError::Invalid)?;
    Ok((grant, company))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_rejected() {
        assert!(parse_params(b"a=1&a=2").is_err());
        let params = parse_params(b"scope=customer+invoice&state=x%20y").unwrap();
        assert_eq!(params["scope"], "customer invoice");
        assert_eq!(params["state"], "x y");
    }

    #[test]
    fn redirect_keeps_existing_query() {
        let response = redirect_with("http://127.0.0.1:1/cb?x=1", &[("code", "a b")]);
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(location, "http://127.0.0.1:1/cb?x=1&code=a+b");
    }

    #[test]
    fn random_tokens_differ() {
        assert_ne!(random_token(16), random_token(16));
        assert_eq!(random_token(32).len(), 43);
    }
}
