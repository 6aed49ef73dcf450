//! Running against real test companies: provider base URLs, client ids and secrets come from
//! the environment. From a given variable map to requests that arrive at a tiny local HTTP
//! listener standing in for Fortnox and Visma: the OAuth calls reach the configured identity
//! hosts with the configured client id, the data calls the configured API hosts.

use shared::domain::ProviderKind;
use shared::providers::{ApiAuth, CredentialStore, Providers};
use shared::Config;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as it arrived.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
}

/// A listener that records every request and answers each path with a canned JSON body.
async fn listener() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", l.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let method = first.next().unwrap_or("").to_string();
                let target = first.next().unwrap_or("").to_string();
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + 4 + length {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = if target.contains("/connect/token")
                    || target.contains("/oauth-v1/token")
                {
                    r#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"token_type":"Bearer"}"#
                } else if target.contains("/companyinformation") {
                    r#"{"CompanyInformation":{"CompanyName":"Testbolaget AB","DatabaseNumber":4711}}"#
                } else if target.contains("/companysettings") {
                    r#"{"Name":"Visma Testföretag AB","CorporateIdentityNumber":"556000-0000"}"#
                } else {
                    "{}"
                };
                log.lock().expect("log").push(Seen {
                    method,
                    target,
                    headers,
                });
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    (base, seen)
}

/// Standard base64, enough to compute an expected Basic authorization header.
fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn provider_urls_and_client_ids_from_the_environment_reach_the_clients() {
    let (base, seen) = listener().await;
    let env: HashMap<String, String> = [
        ("TABLE_NAME", "t".to_string()),
        ("DEFAULT_RETURN_URL", "https://app.example.se/back".into()),
        ("PUBLIC_API_URL", "https://dev.example.se".into()),
        ("FORTNOX_AUTH_URL", format!("{base}/fortnox-auth")),
        ("FORTNOX_API_URL", format!("{base}/fortnox-api")),
        ("FORTNOX_CLIENT_ID", "fortnox-test-company-app".into()),
        ("FORTNOX_CLIENT_SECRET", "fortnox-secret".into()),
        ("VISMA_IDENTITY_URL", format!("{base}/identity-sandbox")),
        ("VISMA_API_URL", format!("{base}/eaccountingapi-sandbox")),
        ("VISMA_CLIENT_ID", "visma-sandbox-client".into()),
        ("VISMA_CLIENT_SECRET", "visma-secret".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
    assert_eq!(
        config.redirect_uri(ProviderKind::Visma),
        "https://dev.example.se/api/integrations/callback/visma"
    );
    // Inline credentials: Secrets Manager is never asked.
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .build(),
    );
    let credentials = Arc::new(CredentialStore::new(config.credentials.clone(), secrets));
    let providers = Providers::new(
        &config.fortnox,
        &config.visma,
        config.api.clone(),
        shared::http::LazyClient::new(std::time::Duration::from_secs(5)),
        credentials,
    );

    for (kind, auth_prefix, client_id, secret) in [
        (
            ProviderKind::Fortnox,
            "/fortnox-auth/oauth-v1/",
            "fortnox-test-company-app",
            "fortnox-secret",
        ),
        (
            ProviderKind::Visma,
            "/identity-sandbox/connect/",
            "visma-sandbox-client",
            "visma-secret",
        ),
    ] {
        let p = providers.get(kind);
        let url = p
            .authorization_url(
                "state-1",
                &config.redirect_uri(kind),
                Some("challenge-1"),
                shared::domain::ConnectionMode::User,
            )
            .await
            .expect("authorization url");
        assert!(url.starts_with(&format!("{base}{auth_prefix}")), "{url}");
        assert!(url.contains(&format!("client_id={client_id}")), "{url}");
        assert!(
            url.contains("code_challenge=challenge-1&code_challenge_method=S256"),
            "{url}"
        );
        let tokens = p
            .exchange_code("code-1", &config.redirect_uri(kind), Some("verifier-1"))
            .await
            .expect("exchange");
        let token = seen
            .lock()
            .expect("log")
            .last()
            .cloned()
            .expect("token request");
        assert_eq!(token.method, "POST");
        assert!(
            token.target.starts_with(auth_prefix) && token.target.ends_with("/token"),
            "{token:?}"
        );
        let basic = format!(
            "Basic {}",
            base64(format!("{client_id}:{secret}").as_bytes())
        );
        assert_eq!(
            token.headers.get("authorization"),
            Some(&basic),
            "client id"
        );

        let auth = ApiAuth {
            access_token: tokens.access_token,
            tenant_key: format!("{kind}-company"),
        };
        let company = providers.api(kind).company(&auth).await.expect("company");
        assert!(!company.name.is_empty());
        let data = seen
            .lock()
            .expect("log")
            .last()
            .cloned()
            .expect("data request");
        let expected = match kind {
            ProviderKind::Fortnox => "/fortnox-api/3/companyinformation",
            ProviderKind::Visma => "/eaccountingapi-sandbox/v2/companysettings",
        };
        assert_eq!(data.target, expected);
        assert_eq!(
            data.headers.get("authorization").map(String::as_str),
            Some("Bearer at")
        );
    }
}
