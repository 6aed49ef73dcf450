//! AWS over HTTPS: the status binary against moto behind a TLS front (`tls_front.py`, a CA of
//! its own). The AWS clients of a function share one HTTPS client (`shared::aws_http`) that
//! trusts Amazon Trust Services' roots only, or the bundle `AWS_CA_BUNDLE` names: this shows it
//! reading DynamoDB through TLS, and refusing a server that the system store (`SSL_CERT_FILE`,
//! which the provider clients use) or another CA vouches for.

use super::function_env;
use devstack::runtime_api::{FunctionProcess, Outcome};
use devstack::StackOptions;
use serde_json::{json, Value};
use shared::domain::ProviderKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use system_tests::stack_with;
use tokio::io::{AsyncBufReadExt, BufReader};

/// moto behind TLS, and what the front has seen (`handshake ok` / `handshake failed: …`).
struct TlsFront {
    port: u16,
    dir: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    _child: tokio::process::Child,
}

impl TlsFront {
    async fn start(moto_endpoint: &str) -> TlsFront {
        let moto_port = moto_endpoint
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/');
        let dir = std::env::temp_dir().join(format!(
            "tls-front-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let python = std::env::var("DEVSTACK_PYTHON").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").to_string()
        });
        let mut child = tokio::process::Command::new(python)
            .arg("-c")
            .arg(include_str!("tls_front.py"))
            .arg(moto_port)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the TLS front starts (run `make venv` first)");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("the TLS front says where it listens")
            .unwrap()
            .unwrap();
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        TlsFront {
            port,
            dir,
            lines,
            _child: child,
        }
    }

    fn count(&self, prefix: &str) -> usize {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// The status binary with AWS at `https://localhost:port` and `trust` (variable, file of
    /// the front's directory) added to its environment.
    async fn status_with(&self, stack: &devstack::Stack, trust: (&str, &str)) -> FunctionProcess {
        let mut env = function_env(stack, "info");
        env.insert(
            "AWS_ENDPOINT_URL".into(),
            format!("https://localhost:{}", self.port),
        );
        env.insert(trust.0.into(), self.dir.join(trust.1).display().to_string());
        let status = FunctionProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_lambda-status")),
            "status",
            "INFO",
            &env,
        )
        .await
        .expect("the status binary starts");
        status.init_output(Duration::from_secs(30)).await.unwrap();
        status
    }

    /// Runs a status binary that must not trust the front: its request fails with a 5xx that
    /// gives nothing away, and the front saw the handshake refused.
    async fn refused(&self, stack: &devstack::Stack, trust: (&str, &str), id: &str, tenant: &str) {
        let failed_before = self.count("handshake failed");
        let ok_before = self.count("handshake ok");
        let status = self.status_with(stack, trust).await;
        let (_, outcome) = status
            .invoke(status_event(id, tenant), Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", status.output().join("\n")));
        match outcome {
            Outcome::Response(answer) => {
                let code = answer["statusCode"].as_u64().unwrap_or_default();
                assert!(code >= 500, "{trust:?}: {answer}");
                assert!(!answer.to_string().contains(id), "{answer}");
            }
            other => panic!("{trust:?}: {other:?}"),
        }
        status.stop().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            self.count("handshake failed") > failed_before,
            "{trust:?}: the client refused the certificate: {:?}",
            self.lines.lock().unwrap()
        );
        assert_eq!(
            self.count("handshake ok"),
            ok_before,
            "{trust:?}: no connection was trusted"
        );
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn status_event(id: &str, tenant: &str) -> Value {
    let text = include_str!("../../../events/status.json")
        .replace("00000000-0000-4000-8000-000000000001", id)
        .replace("\"acme-bygg\"", &format!("\"{tenant}\""));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_status_binary_reads_dynamodb_over_https_and_trusts_only_the_named_roots() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let tenant = "tenant-tls";
    let (id, _) = stack
        .connect(tenant, ProviderKind::Fortnox, true)
        .await
        .unwrap();
    let front = TlsFront::start(&stack.moto.endpoint).await;

    // AWS_CA_BUNDLE names the front's CA: the integration is read from DynamoDB through TLS.
    let status = front.status_with(&stack, ("AWS_CA_BUNDLE", "ca.pem")).await;
    for _ in 0..2 {
        let (_, outcome) = status
            .invoke(status_event(&id, tenant), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", status.output().join("\n")));
        let Outcome::Response(answer) = outcome else {
            panic!("{outcome:?}\n{}", status.output().join("\n"))
        };
        assert_eq!(answer["statusCode"], 200, "{answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["id"], json!(id), "{body}");
        assert_eq!(body["status"], "connected", "{body}");
    }
    status.stop().await;
    assert!(
        front.count("handshake ok") >= 1,
        "the answers came through the TLS front: {:?}",
        front.lines.lock().unwrap()
    );
    assert_eq!(front.count("handshake failed"), 0);

    // The system store vouches for the front (as template.yaml's SSL_CERT_FILE does for the
    // providers), but the AWS clients trust Amazon's roots only: refused.
    front
        .refused(&stack, ("SSL_CERT_FILE", "ca.pem"), &id, tenant)
        .await;
    // A bundle of another CA: refused.
    front
        .refused(&stack, ("AWS_CA_BUNDLE", "other_ca.pem"), &id, tenant)
        .await;
}
