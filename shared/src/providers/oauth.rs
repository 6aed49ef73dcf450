//! The token endpoint both providers share the shape of: form-encoded requests with HTTP Basic
//! client authentication, JSON answers, RFC 6749 error bodies.

use super::{ClientCredentials, ProviderError};
use crate::domain::{Secret, TokenSet};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    // Fortnox has been seen sending `expires_in` as a string: accept both.
    expires_in: Option<serde_json::Value>,
    // Not documented by either provider, honoured when sent (it then wins over the configured
    // lifetime): seconds until the refresh token dies unused.
    refresh_token_expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

#[derive(Deserialize, Default)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

/// A PKCE pair (RFC 7636): the verifier stays with the consent's state on our side, only the
/// challenge goes to the browser.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// `code_verifier`: 43 characters of the URL-safe alphabet (256 random bits).
    pub verifier: String,
    /// `code_challenge`: BASE64URL(SHA-256(verifier)), method S256.
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn new() -> Self {
        let verifier = crate::domain::secret::random_token(32);
        let challenge = s256_challenge(&verifier);
        Pkce {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// The S256 `code_challenge` of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Appends the PKCE challenge to an authorization URL's query.
pub fn append_challenge(url: &mut url::Url, challenge: Option<&str>) {
    if let Some(c) = challenge {
        url.query_pairs_mut()
            .append_pair("code_challenge", c)
            .append_pair("code_challenge_method", "S256");
    }
}

/// The form of an authorization-code exchange, with the PKCE verifier when there is one.
pub fn code_form<'a>(
    code: &'a str,
    redirect_uri: &'a str,
    verifier: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    form
}

/// Posts a grant to `token_url` and reads the token answer.
///
/// `refresh_ttl` is the provider's documented refresh-token lifetime, when it has one.
pub async fn request_tokens(
    http: &reqwest::Client,
    token_url: &str,
    creds: &ClientCredentials,
    form: &[(&str, &str)],
    refresh_ttl: Option<chrono::Duration>,
) -> Result<TokenSet, ProviderError> {
    request_tokens_with(http, token_url, creds, form, &[], refresh_ttl).await
}

/// [`request_tokens`] with extra request headers (Fortnox's client-credentials grant names
/// the company in a `TenantId` header).
pub async fn request_tokens_with(
    http: &reqwest::Client,
    token_url: &str,
    creds: &ClientCredentials,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
    refresh_ttl: Option<chrono::Duration>,
) -> Result<TokenSet, ProviderError> {
    let mut req = http
        .post(token_url)
        .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
        .header(reqwest::header::ACCEPT, "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.form(form).send().await.map_err(grant_transport_error)?;
    let status = resp.status();
    let body = match resp.bytes().await {
        Ok(b) => b,
        // A failure status says enough; a success whose tokens never arrived is lost.
        Err(_) if !status.is_success() => Default::default(),
        Err(e) => return Err(grant_transport_error(e)),
    };
    if !status.is_success() {
        return Err(classify_oauth_error(status.as_u16(), &body));
    }
    token_set_from_answer(&body, Utc::now(), refresh_ttl)
}

/// Reads a token answer received at `now`. The refresh token's expiry is the answer's
/// `refresh_token_expires_in` when it has one, else `refresh_ttl` (the provider's documented or
/// configured lifetime), else unknown.
pub fn token_set_from_answer(
    body: &[u8],
    now: DateTime<Utc>,
    refresh_ttl: Option<chrono::Duration>,
) -> Result<TokenSet, ProviderError> {
    let t: TokenResponse = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Decode(format!("token response: {e}")))?;
    let expires_in = t
        .expires_in
        .as_ref()
        .and_then(seconds_from_json)
        .unwrap_or(3600);
    let answered_ttl = t
        .refresh_token_expires_in
        .as_ref()
        .and_then(seconds_from_json)
        .filter(|s| *s > 0)
        .map(chrono::Duration::seconds);
    Ok(TokenSet {
        access_token: Secret::new(t.access_token),
        refresh_expires_at: t
            .refresh_token
            .as_ref()
            .and(answered_ttl.or(refresh_ttl))
            .map(|ttl| now + ttl),
        refresh_token: t.refresh_token.map(Secret::new),
        expires_at: now + chrono::Duration::seconds(expires_in),
        scope: t.scope,
        refreshed_for_refusal_at: None,
    })
}

/// Attempts of a revocation: revoking is idempotent (RFC 7009 §2.2: revoking a revoked or
/// unknown token succeeds), so any failure may be retried.
const REVOKE_ATTEMPTS: u32 = 3;

/// Posts a revocation form; any 2xx counts as revoked. Failures that may pass (5xx, 429, no
/// connection, no answer) are tried again, up to [`REVOKE_ATTEMPTS`] in all.
pub async fn revoke_token(
    http: &reqwest::Client,
    url: &str,
    creds: &ClientCredentials,
    token: &Secret,
) -> Result<(), ProviderError> {
    let mut attempt = 1;
    loop {
        match revoke_once(http, url, creds, token).await {
            Err(e)
                if attempt < REVOKE_ATTEMPTS
                    && (e.is_retryable() || matches!(e, ProviderError::AnswerLost(_))) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                    .await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn revoke_once(
    http: &reqwest::Client,
    url: &str,
    creds: &ClientCredentials,
    token: &Secret,
) -> Result<(), ProviderError> {
    let resp = http
        .post(url)
        .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
        .form(&[
            ("token_type_hint", "refresh_token"),
            ("token", token.expose()),
        ])
        .send()
        .await
        .map_err(grant_transport_error)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.bytes().await.unwrap_or_default();
    Err(classify_oauth_error(status.as_u16(), &body))
}

fn seconds_from_json(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Classifies a non-2xx answer of an OAuth endpoint.
pub fn classify_oauth_error(status: u16, body: &[u8]) -> ProviderError {
    let parsed: OAuthErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed
        .error_description
        .clone()
        .or(parsed.message.clone())
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    match (status, parsed.error.as_deref()) {
        (_, Some("invalid_grant")) => ProviderError::InvalidGrant(message),
        (_, Some("invalid_client")) | (_, Some("unauthorized_client")) => {
            ProviderError::InvalidClient(message)
        }
        (429, _) => ProviderError::RateLimited { retry_after: None },
        (s, _) if s >= 500 => ProviderError::Transient(format!("HTTP {s}: {message}")),
        (401, _) => ProviderError::InvalidClient(message),
        (s, _) => ProviderError::Rejected { status: s, message },
    }
}

/// Maps a reqwest failure of a request to a token or revocation endpoint: a request that
/// never got a connection was not sent ([`ProviderError::Unreachable`]); any other failure
/// (timeout, dropped connection, an answer cut short) leaves unknown whether the provider
/// applied it ([`ProviderError::AnswerLost`]).
pub fn grant_transport_error(e: reqwest::Error) -> ProviderError {
    // reqwest's Display carries the URL but never headers or bodies, so no secret leaks here.
    let connect = e.is_connect();
    let what = error_chain(&e.without_url());
    if connect {
        ProviderError::Unreachable(what)
    } else {
        ProviderError::AnswerLost(what)
    }
}

/// An error with its sources ("error sending request: connection closed before message
/// completed"), which name the cause without any header or body.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// When an expiry `seconds` from now falls.
pub fn in_seconds(seconds: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_oauth_error_bodies() {
        let e = classify_oauth_error(
            400,
            br#"{"error":"invalid_grant","error_description":"Refresh token is spent"}"#,
        );
        assert!(matches!(e, ProviderError::InvalidGrant(ref m) if m == "Refresh token is spent"));
        let e = classify_oauth_error(401, br#"{"error":"invalid_grant"}"#);
        assert!(matches!(e, ProviderError::InvalidGrant(_)));
        assert!(matches!(
            classify_oauth_error(401, br#"{"error":"invalid_client"}"#),
            ProviderError::InvalidClient(_)
        ));
        assert!(classify_oauth_error(503, b"down").is_retryable());
        assert!(classify_oauth_error(429, b"").is_retryable());
        assert!(matches!(
            classify_oauth_error(400, br#"{"message":"bad"}"#),
            ProviderError::Rejected { status: 400, ref message } if message == "bad"
        ));
    }

    #[test]
    fn the_s256_challenge_is_rfc_7636s() {
        // RFC 7636, Appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::new();
        assert_eq!(p.verifier.len(), 43);
        assert!(p
            .verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(p.challenge, s256_challenge(&p.verifier));
        assert_ne!(Pkce::new().verifier, p.verifier);
    }

    #[test]
    fn the_verifier_goes_with_the_code_only_when_there_is_one() {
        let f = code_form("c", "https://x/cb", Some("v"));
        assert!(f.contains(&("code_verifier", "v")));
        assert!(!code_form("c", "https://x/cb", None)
            .iter()
            .any(|(k, _)| *k == "code_verifier"));
        let mut u = url::Url::parse("https://idp/auth?a=1").unwrap();
        append_challenge(&mut u, Some("ch"));
        assert_eq!(
            u.as_str(),
            "https://idp/auth?a=1&code_challenge=ch&code_challenge_method=S256"
        );
    }

    #[test]
    fn the_refresh_expiry_comes_from_the_answer_first_then_the_setting() {
        let now = Utc::now();
        let days = |d| Some(chrono::Duration::days(d));
        // No lifetime in the answer: the configured one.
        let t = token_set_from_answer(
            br#"{"access_token":"a","refresh_token":"r","expires_in":3600}"#,
            now,
            days(30),
        )
        .unwrap();
        assert_eq!(t.refresh_expires_at, Some(now + chrono::Duration::days(30)));
        assert_eq!(t.expires_at, now + chrono::Duration::hours(1));
        // The answer's own lifetime wins, as a number or a string.
        for field in [r#"7200"#, r#""7200""#] {
            let body = format!(
                r#"{{"access_token":"a","refresh_token":"r","refresh_token_expires_in":{field}}}"#
            );
            let t = token_set_from_answer(body.as_bytes(), now, days(30)).unwrap();
            assert_eq!(t.refresh_expires_at, Some(now + chrono::Duration::hours(2)));
        }
        let t = token_set_from_answer(
            br#"{"access_token":"a","refresh_token":"r","refresh_token_expires_in":86400}"#,
            now,
            None,
        )
        .unwrap();
        assert_eq!(t.refresh_expires_at, Some(now + chrono::Duration::days(1)));
        // Nonsense in the field falls back to the setting; no refresh token, no expiry.
        let t = token_set_from_answer(
            br#"{"access_token":"a","refresh_token":"r","refresh_token_expires_in":0}"#,
            now,
            days(45),
        )
        .unwrap();
        assert_eq!(t.refresh_expires_at, Some(now + chrono::Duration::days(45)));
        let t = token_set_from_answer(
            br#"{"access_token":"a","refresh_token_expires_in":86400}"#,
            now,
            days(45),
        )
        .unwrap();
        assert_eq!(t.refresh_expires_at, None);
        assert!(token_set_from_answer(br#"{"refresh_token":"r"}"#, now, None).is_err());
    }

    #[tokio::test]
    async fn a_request_never_sent_is_unreachable_and_one_unanswered_is_lost() {
        let http = reqwest::Client::new();
        let creds = ClientCredentials {
            client_id: "c".into(),
            client_secret: Secret::new("s"),
        };
        // Nothing listens: the request never left.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", closed.local_addr().unwrap());
        drop(closed);
        let e = request_tokens(
            &http,
            &url,
            &creds,
            &[("grant_type", "refresh_token")],
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ProviderError::Unreachable(_)), "{e:?}");
        assert!(e.is_retryable());
        // Someone reads the request and hangs up without answering: it may have been applied.
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", server.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut socket, _) = server.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
        });
        let e = request_tokens(
            &http,
            &url,
            &creds,
            &[("grant_type", "refresh_token")],
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ProviderError::AnswerLost(_)), "{e:?}");
        assert!(!e.is_retryable());
        assert_eq!(e.code(), "provider_answer_lost");
    }

    #[test]
    fn expires_in_may_be_a_string() {
        assert_eq!(seconds_from_json(&serde_json::json!("3600")), Some(3600));
        assert_eq!(seconds_from_json(&serde_json::json!(1800)), Some(1800));
        assert_eq!(seconds_from_json(&serde_json::json!(null)), None);
    }
}
