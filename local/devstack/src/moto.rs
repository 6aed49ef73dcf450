//! moto server, the local AWS emulator, installed into the project's `.venv` by the Makefile.

use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:port`.
    pub endpoint: String,
    _child: Child,
}

static SHARED: OnceCell<Moto> = OnceCell::const_new();

/// The moto server of this process, started on first use. It exits when this process does:
/// it watches its standard input, which closes when we go.
pub async fn shared() -> Result<&'static Moto, Box<dyn std::error::Error + Send + Sync>> {
    SHARED.get_or_try_init(start).await
}

fn python() -> String {
    std::env::var("DEVSTACK_PYTHON").unwrap_or_else(|_| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        root.join(".venv/bin/python").to_string_lossy().into_owned()
    })
}

const LAUNCHER: &str = r#"
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop()
"#;

async fn start() -> Result<Moto, Box<dyn std::error::Error + Send + Sync>> {
    if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
        // An already running moto (e.g. started by hand); nothing to own.
        let child = Command::new("sleep")
            .arg("infinity")
            .kill_on_drop(true)
            .spawn()?;
        return Ok(Moto {
            endpoint,
            _child: child,
        });
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
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
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err("moto did not start within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Moto {
        endpoint,
        _child: child,
    })
}
