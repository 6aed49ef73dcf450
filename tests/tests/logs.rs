//! Logs of a full connect, refresh and disconnect carry no token, code, state or client secret.

use shared::domain::ProviderKind;
use std::io::Write;
use std::sync::{Arc, Mutex};
use system_tests::{age_stored_token, integration, secret, stack, webhook_secret};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn logs_of_connect_refresh_and_disconnect_hold_no_secret() {
    let capture = Capture::default();
    // Everything, at TRACE, from every crate: production runs at INFO, so this is stricter.
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .init();

    let stack = stack().await;
    let mut secrets: Vec<String> = vec![
        stack.vars["FORTNOX_CLIENT_SECRET"].clone(),
        stack.vars["VISMA_CLIENT_SECRET"].clone(),
    ];
    for provider in ProviderKind::ALL {
        let (id, callback) = stack
            .create_and_consent("tenant-l", provider, true)
            .await
            .unwrap();
        let q = devstack::query_of(&callback);
        secrets.push(q["code"].clone());
        secrets.push(q["state"].clone());
        let back = stack.follow_callback(&callback).await.unwrap();
        secrets.push(devstack::query_of(&back)["confirmation"].clone());
        stack.confirm_if_asked("tenant-l", &back).await.unwrap();

        let first = secret(&stack, "tenant-l", &id).await.unwrap();
        let t = first.tokens.clone().unwrap();
        secrets.push(t.access_token.expose().to_string());
        secrets.push(t.refresh_token.unwrap().expose().to_string());
        secrets.extend(
            webhook_secret(&stack, "tenant-l", &id)
                .await
                .into_iter()
                .flat_map(|s| s.keys)
                .map(|k| k.key.expose().to_string()),
        );

        age_stored_token(&stack, "tenant-l", &id).await;
        let i = integration(&stack, "tenant-l", &id).await;
        stack.new_container().tokens.access_token(&i).await.unwrap();
        let t2 = secret(&stack, "tenant-l", &id)
            .await
            .unwrap()
            .tokens
            .unwrap();
        secrets.push(t2.access_token.expose().to_string());
        secrets.push(t2.refresh_token.unwrap().expose().to_string());

        let d = stack
            .call(
                reqwest::Method::DELETE,
                &format!("/api/integrations/{id}"),
                Some("tenant-l"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(d.status, 200);
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("integration connected"), "the capture works");
    assert!(logs.contains("access token refreshed"));
    assert!(logs.contains("integration disconnected"));
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !logs.contains(s.as_str()),
            "a secret value reached the logs ({} chars)",
            s.len()
        );
    }
}
