//! moto server, the local AWS emulator, installed into the project's `.venv` by the Makefile.
//!
//! Every stack gets its own server: moto is one Python process, so stacks running side by side
//! (parallel tests) each use a core instead of queueing behind one interpreter lock. The server
//! exits with its stack (`kill_on_drop`) and with this process (it watches its standard input,
//! which closes when we go).

use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:port`.
    pub endpoint: String,
    _child: Option<Child>,
}

fn python() -> String {
    std::env::var("DEVSTACK_PYTHON").unwrap_or_else(|_| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        root.join(".venv/bin/python").to_string_lossy().into_owned()
    })
}

/// The server, with its repair of moto's transactions (see the file).
const LAUNCHER: &str = include_str!("moto_launcher.py");

/// Starts a moto server of its own on `port` (0: any free port), or uses the one at
/// `MOTO_ENDPOINT` when that is set.
pub async fn start_own(port: u16) -> Result<Moto, BoxError> {
    if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
        return Ok(Moto {
            endpoint,
            _child: None,
        });
    }
    let port = std::net::TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("moto cannot listen on 127.0.0.1:{port} ({e}); set MOTO_PORT"))?
        .local_addr()?
        .port();
    let py = python();
    let child = Command::new(&py)
        .arg("-c")
        .arg(LAUNCHER)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start moto with {py} ({e}); run `make venv` first"))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if tokio::time::Instant::now() > deadline {
            return Err("moto did not start within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Moto {
        endpoint,
        _child: Some(child),
    })
}
