//! The WebSocket connection itself: `wss://` over rustls (the same aws-lc crypto and the
//! system's root certificates, which honour `SSL_CERT_FILE`, as every other HTTPS call), or
//! plain `ws://` for the local sandbox.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A byte stream, TLS or not.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why the socket failed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Could not connect, or the handshake failed.
    #[error("could not connect to the stream: {0}")]
    Connect(String),
    /// The connection ended or broke.
    #[error("the stream connection closed: {0}")]
    Closed(String),
}

/// One open connection.
pub struct Socket {
    ws: WebSocketStream<Box<dyn Io>>,
}

impl Socket {
    /// Connects to `url` (`wss://…` or `ws://…`) within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Socket, SocketError> {
        tokio::time::timeout(timeout, Self::open(url))
            .await
            .map_err(|_| SocketError::Connect(format!("no connection within {timeout:?}")))?
    }

    async fn open(url: &str) -> Result<Socket, SocketError> {
        let parsed = url::Url::parse(url).map_err(|e| SocketError::Connect(e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| SocketError::Connect("the URL has no host".into()))?
            .to_string();
        let tls = match parsed.scheme() {
            "wss" => true,
            "ws" => false,
            other => return Err(SocketError::Connect(format!("unknown scheme {other}"))),
        };
        let port = parsed.port().unwrap_or(if tls { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| SocketError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| SocketError::Connect(e.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, tcp)
                .await
                .map_err(|e| SocketError::Connect(e.to_string()))?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        let request = url
            .into_client_request()
            .map_err(|e| SocketError::Connect(e.to_string()))?;
        let (ws, _) = tokio_tungstenite::client_async(request, io)
            .await
            .map_err(|e| SocketError::Connect(e.to_string()))?;
        Ok(Socket { ws })
    }

    /// Sends one command.
    pub async fn send(&mut self, command: &Value) -> Result<(), SocketError> {
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .map_err(|e| SocketError::Closed(e.to_string()))
    }

    /// The next text frame, `Ok(None)` when none came within `wait`. Pings are answered by
    /// the library; a close or a broken connection is an error.
    pub async fn next_text(&mut self, wait: Duration) -> Result<Option<String>, SocketError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(SocketError::Closed("end of stream".into())),
                Ok(Some(Err(e))) => return Err(SocketError::Closed(e.to_string())),
                Ok(Some(Ok(m))) => m,
            };
            match frame {
                Message::Text(t) => return Ok(Some(t.to_string())),
                Message::Binary(b) => return Ok(Some(String::from_utf8_lossy(&b).into_owned())),
                Message::Close(c) => {
                    return Err(SocketError::Closed(format!("closed by the server: {c:?}")))
                }
                _ => continue,
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, SocketError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(SocketError::Connect(
            "no root certificates (SSL_CERT_FILE or the system store)".into(),
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SocketError::Connect(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
