//! Runs the provider sandbox standalone: `sandbox [--port 9100] [--host 127.0.0.1]`
//! (or `SANDBOX_PORT`, `SANDBOX_HOST`), with the default clients and companies.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use sandbox::{SandboxConfig, DEFAULT_FORTNOX_CLIENT_ID, DEFAULT_VISMA_CLIENT_ID};

const DEFAULT_PORT: u16 = 9100;

fn usage() -> &'static str {
    "usage: sandbox [--port PORT] [--host ADDR]   (env: SANDBOX_PORT, SANDBOX_HOST)"
}

/// Port and host from the arguments, then the environment, then the defaults.
fn parse_bind(args: &[String]) -> Result<SocketAddr, String> {
    let mut port = std::env::var("SANDBOX_PORT").ok();
    let mut host = std::env::var("SANDBOX_HOST").ok();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let slot = match name {
            "--port" | "-p" => &mut port,
            "--host" => &mut host,
            "--help" | "-h" => return Err(usage().to_string()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        };
        let value = match inline {
            Some(value) => value,
            None => iter
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{}", usage()))?,
        };
        *slot = Some(value);
    }
    let port = match port {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid port {p:?}"))?,
        None => DEFAULT_PORT,
    };
    let host = match host {
        Some(h) => h
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("invalid host address {h:?}"))?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    Ok(SocketAddr::new(host, port))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr so stdout carries only the base URL and the product's settings.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bind = match parse_bind(&args) {
        Ok(bind) => bind,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let config = SandboxConfig {
        bind,
        ..SandboxConfig::with_defaults()
    };
    let running = match sandbox::start(config).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", running.base_url);
    println!("FORTNOX_AUTH_URL={}", running.fortnox_url());
    println!("FORTNOX_API_URL={}", running.fortnox_url());
    println!("FORTNOX_CLIENT_ID={DEFAULT_FORTNOX_CLIENT_ID}");
    println!("VISMA_IDENTITY_URL={}", running.visma_url());
    println!("VISMA_API_URL={}", running.visma_url());
    println!("VISMA_CLIENT_ID={DEFAULT_VISMA_CLIENT_ID}");
    running.wait().await;
    ExitCode::SUCCESS
}
