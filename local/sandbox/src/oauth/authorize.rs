//! Authorize and consent: validates the authorization request, shows the consent page and
//! turns the user's decision into a redirect with a code or an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::common::{non_empty, parse_params, Flavor};
use super::grants::{random_token, CodeEntry, Grant, PendingConsent, ServiceConsent, GRACE};
use crate::config::Company;
use crate::consent::{self, ConsentPage};
use crate::provider::ProviderKind;
use crate::state::SandboxState;

/// How long a consent page stays answerable.
const CONSENT_TTL: Duration = Duration::from_secs(3600);

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
    // PKCE (RFC 7636 §4.3): only S256; a challenge is 43 characters of base64url.
    let code_challenge = match (
        non_empty(&params, "code_challenge"),
        non_empty(&params, "code_challenge_method"),
    ) {
        (None, None) => None,
        (Some(c), Some("S256"))
            if c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(c.to_string())
        }
        (Some(_), Some("S256")) => {
            return fail(
                "invalid_request",
                "code_challenge must be 43 base64url characters.",
            )
        }
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted).",
            )
        }
        (None, Some(_)) => return fail("invalid_request", "code_challenge is missing."),
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
                code_challenge,
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
            code_challenge: pending.code_challenge.clone(),
            service_account: pending.service_account,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_existing_query() {
        let response = redirect_with("http://127.0.0.1:1/cb?x=1", &[("code", "a b")]);
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(location, "http://127.0.0.1:1/cb?x=1&code=a+b");
    }
}
