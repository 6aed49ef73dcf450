//! `make dev`: moto, the provider sandbox and every function on localhost, then a visible
//! end-to-end connect of one Fortnox and one Visma integration. Keeps serving until Ctrl-C
//! (or exits after the walk-through with `DEVSTACK_EXIT_AFTER_DEMO=1`; skips the walk-through
//! with `DEVSTACK_WALKTHROUGH=0`).
//!
//! `devstack token <tenant> [user]` (`make token TENANT=…`) prints a dev JWT and exits.
//!
//! The walk-through goes to standard output, logs to standard error; neither carries ANSI
//! colour codes unless it is a terminal.

use devstack::{query_of, Stack, StackOptions};
use reqwest::Method;
use shared::domain::ProviderKind;
use std::io::{IsTerminal, Write};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("token") {
        if let Err(e) = print_token(&args[1..]) {
            eprintln!("devstack token: {e}");
            std::process::exit(2);
        }
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn")
            }),
        )
        .with_target(false)
        .with_writer(|| LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // Provider URLs, client ids and secrets from the environment point a provider at a real
    // test company (README, "Running against real test companies").
    let real = devstack::real::provider_env(|k| std::env::var(k).ok());
    let opts = StackOptions {
        api_port: port("DEVSTACK_PORT", 3000),
        sandbox_port: port("SANDBOX_PORT", 9100),
        moto_port: port("MOTO_PORT", 9101),
        table_name: "accounting-integrations-dev".into(),
        secret_prefix: "accounting-integrations".into(),
        env: real.clone(),
        ..StackOptions::default()
    };
    let stack = Stack::start(opts).await?;
    // The stream function as EventBridge runs it: a run a minute, one holding Fortnox's stream.
    let _stream = stack.start_stream(std::time::Duration::from_secs(840));
    let tenant = "demo-tenant";
    let token = stack.token_for(tenant);
    println!(
        r#"
== accounting integrations: local stack ==
API (every function, JWT-checked like API Gateway)  {api}
Integrations console (in a browser)  {api}/dev/console   (another tenant: ?tenant=<id>)
Provider sandbox (Fortnox under /fortnox, Visma under /visma)  {sb}
AWS (moto server; port MOTO_PORT)  {moto}
KMS key for secrets  {key}

Sandbox inspection views (JSON):
  GET  {sb}/_sandbox/token-requests        every OAuth token request (grant, outcome)
  GET  {sb}/_sandbox/requests              every REST request the product made
  GET  {sb}/_sandbox/revocations           token revocations
  GET  {sb}/_sandbox/fortnox/customers     the Fortnox company's customers (also /visma/customers)
  GET  {sb}/_sandbox/fortnox/invoices      its invoices (also /visma/invoices)
  GET  {sb}/_sandbox/faults                fault injection settings (POST to change them)
  GET  {sb}/_sandbox/faults-injected       faults injected so far
  GET  {sb}/_sandbox/rate-limited          requests answered 429
  GET  {sb}/_sandbox/contract-violations   requests or answers that broke the official contracts
  POST {sb}/_sandbox/expire-access-tokens, /clear-records, /{{fortnox|visma}}/seed-customers

A dev JWT for tenant `{tenant}` (valid 1 hour; `make token TENANT=<id>` mints a new one for any tenant):
  export TOKEN={token}

Try it:
  curl -s -X POST {api}/api/integrations/create -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{{"provider":"fortnox"}}'
  curl -s -X POST {api}/api/integrations/<id>/connect -H "authorization: Bearer $TOKEN"    # open authorization_url in a browser
  curl -s {api}/api/integrations/status -H "authorization: Bearer $TOKEN"
  curl -s -X DELETE {api}/api/integrations/<id> -H "authorization: Bearer $TOKEN"

Webhooks (a Lambda function URL in AWS, here on the same port; no JWT, the signature authenticates):
  POST {api}/api/integrations/<id>/webhook   signed with the integration's key (docs/webhooks.md)
  curl -s -X POST {api}/api/integrations/<id>/webhook-key/rotate -H "authorization: Bearer $TOKEN"   # answers a new key, once

Schedules: the watchdog runs every minute; the scheduler runs every five minutes and enqueues an
incremental sync of every connected integration (Fortnox hourly, Visma every five minutes up to
1,800 Visma integrations, then as the shared Visma budget allows; once a night, between 01:00 and
05:00, the sync also sweeps for deletions), spread over each period, and refreshes tokens close to
dying. The stream consumer holds Fortnox's change stream (the sandbox's {sb}/fortnox/topics-v1)
and turns each change into a targeted pull within seconds (docs/stream.md).
"#,
        api = stack.api_url,
        sb = stack.sandbox.base_url,
        moto = stack.moto.endpoint,
        key = stack.kms_key_arn,
    );

    if std::env::var("DEVSTACK_WALKTHROUGH").as_deref() == Ok("0") {
        spawn_timers(&stack);
        println!("(walk-through skipped: DEVSTACK_WALKTHROUGH=0)");
        println!("\nThe stack keeps running; Ctrl-C stops it.");
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }
    println!("== walk-through: connect one Fortnox and one Visma integration, then sync ==");
    let mut ids = Vec::new();
    for provider in ProviderKind::ALL {
        if devstack::real::is_external(&real, provider) {
            println!(
                "\n-- {provider}: configured for a real test company; connect it yourself (create, \
                 connect, open authorization_url in a browser). Redirect URI to register: {}/api/integrations/callback/{provider}",
                stack.vars.get("PUBLIC_API_URL").map(String::as_str).unwrap_or(&stack.api_url)
            );
            continue;
        }
        ids.push((provider, walk_through(&stack, tenant, provider).await?));
    }
    for (provider, id) in &ids {
        sync_walk_through(&stack, tenant, *provider, id).await?;
        invoice_walk_through(&stack, tenant, *provider, id).await?;
    }
    if let Some((_, id)) = ids.iter().find(|(p, _)| *p == ProviderKind::Fortnox) {
        stream_walk_through(&stack, tenant, id).await?;
    }
    spawn_timers(&stack);
    let list = stack
        .call(Method::GET, "/api/integrations/status", Some(tenant), None)
        .await?;
    println!(
        "\nGET /api/integrations/status -> {}\n{}",
        list.status,
        serde_json::to_string_pretty(&list.json)?
    );

    if std::env::var("DEVSTACK_EXIT_AFTER_DEMO").is_ok() {
        println!("\nwalk-through done; exiting (DEVSTACK_EXIT_AFTER_DEMO is set)");
        return Ok(());
    }
    println!("\nThe stack keeps running; Ctrl-C stops it.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn walk_through(
    stack: &Stack,
    tenant: &str,
    provider: ProviderKind,
) -> Result<String, BoxError> {
    println!("\n-- {provider} --");
    let created = stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some(tenant),
            Some(serde_json::json!({"provider": provider.as_str()})),
        )
        .await?;
    println!(
        "1. POST /api/integrations/create -> {} ({})",
        created.status, created.json["status"]
    );
    let id = created.json["id"]
        .as_str()
        .ok_or("create gave no id")?
        .to_string();
    let start = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/connect"),
            Some(tenant),
            None,
        )
        .await?;
    let auth_url = start.json["authorization_url"]
        .as_str()
        .ok_or("connect gave no authorization_url")?;
    println!(
        "2. POST /api/integrations/{id}/connect -> {}: consent page at {}",
        start.status,
        auth_url.split('?').next().unwrap_or("")
    );
    let callback = sandbox::give_consent(&stack.http(), auth_url, true).await?;
    println!("3. the person approves at the {provider} sandbox; the browser returns to /api/integrations/callback/{provider}");
    let back = stack.follow_callback(&callback).await?;
    let outcome = query_of(&back);
    println!(
        "4. callback -> 302 to the frontend with status={} (nothing is connected yet)",
        outcome.get("status").map(String::as_str).unwrap_or("?")
    );
    // The frontend confirms with its own session: only the person who started can.
    let confirmed = stack.confirm(tenant, None, &back).await?;
    println!(
        "4b. the frontend posts the confirmation: POST /api/integrations/{id}/confirm -> {} with status={}",
        confirmed.status,
        confirmed.json["status"].as_str().unwrap_or("?")
    );
    let status = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(tenant),
            None,
        )
        .await?;
    println!(
        "5. GET /api/integrations/{id}/status -> {} company \"{}\", token valid until {}",
        status.json["status"],
        status.json["company_name"].as_str().unwrap_or(""),
        status.json["token_expires_at"].as_str().unwrap_or("")
    );
    Ok(id)
}

/// Pushes a few records through the records API, follows the export job, changes a customer
/// at the provider, pulls it back and shows the feed.
async fn sync_walk_through(
    stack: &Stack,
    tenant: &str,
    provider: ProviderKind,
    id: &str,
) -> Result<(), BoxError> {
    println!("\n-- sync with {provider} --");
    let now = chrono::Utc::now();
    let customers: Vec<serde_json::Value> = (1..=20)
        .map(|i| serde_json::json!({
            "id": format!("demo-cust-{i:03}"), "name": format!("Demokund {i} Bygg AB"),
            "organisation_number": format!("556{i:03}-1234"), "email": format!("faktura{i}@demokund.se"),
            "address": {"line1": format!("Byggvägen {i}"), "postal_code": "903 26", "city": "Umeå", "country_code": "SE"},
            "currency": "SEK", "is_private_person": false, "active": true, "updated_at": now
        }))
        .collect();
    let row = match provider {
        ProviderKind::Fortnox => {
            serde_json::json!({"description": "Takarbete", "account_number": 3001, "quantity": "8", "unit_price": "650.00", "vat_rate": "25"})
        }
        ProviderKind::Visma => {
            serde_json::json!({"description": "Takarbete", "article_number": "1", "quantity": "8", "unit_price": "650.00", "vat_rate": "25"})
        }
    };
    // One project per work order, booked with a cost centre the company has (Fortnox `STHLM`,
    // Visma's first cost centre's item `100`), and an article the rows name.
    let cost_center = match provider {
        ProviderKind::Fortnox => "STHLM",
        ProviderKind::Visma => "100",
    };
    let projects = vec![serde_json::json!({
        "id": "demo-wo-001", "number": "WO-001", "name": "Takbyte Byggvägen 1", "status": "ongoing",
        "start_date": now.date_naive().to_string(), "customer_id": "demo-cust-001", "updated_at": now
    })];
    let articles = vec![serde_json::json!({
        "id": "demo-art-plat", "number": "PLAT-05", "name": "Takplåt 0,5 mm", "unit": "st",
        "price": "189.00", "vat_rate": "25", "kind": "goods", "updated_at": now
    })];
    let material = serde_json::json!({"description": "Takplåt", "article_number": "PLAT-05",
        "quantity": "40", "unit_price": "189.00", "vat_rate": "25"});
    let invoices: Vec<serde_json::Value> = (1..=5)
        .map(|i| {
            let mut inv = serde_json::json!({
                "id": format!("demo-inv-{i:03}"), "customer_id": format!("demo-cust-{i:03}"),
                "invoice_date": now.date_naive().to_string(), "currency": "SEK", "our_reference": "Anna Andersson",
                "rows": [row.clone()]
            });
            if i == 1 {
                inv["project"] = serde_json::json!("WO-001");
                inv["rows"][0]["cost_center"] = serde_json::json!(cost_center);
                if let Some(rows) = inv["rows"].as_array_mut() {
                    rows.push(material.clone());
                }
            }
            inv
        })
        .collect();
    for (entity, records) in [
        ("customers", customers),
        ("projects", projects),
        ("articles", articles),
        ("invoices", invoices),
    ] {
        let n = records.len();
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/records/{entity}"),
                Some(tenant),
                Some(serde_json::json!({"records": records})),
            )
            .await?;
        println!(
            "6. POST /api/integrations/{id}/records/{entity} ({n} records) -> {} {}",
            r.status, r.text
        );
    }
    follow_jobs(stack, tenant, id).await?;
    let kind = match provider {
        ProviderKind::Fortnox => sandbox::ProviderKind::Fortnox,
        ProviderKind::Visma => sandbox::ProviderKind::Visma,
    };
    let key = stack.sandbox.state.default_company_key(kind);
    println!(
        "8. at the {provider} sandbox now: {} customers, {} invoices, {} projects, {} articles (invoice demo-inv-001 on project WO-001, cost centre {cost_center})",
        stack.sandbox.state.customer_count(kind, &key),
        stack.sandbox.state.invoice_count(kind, &key),
        stack.sandbox.state.projects(kind, &key).len(),
        stack.sandbox.state.articles(kind, &key).len()
    );
    // A person changes a customer in the accounting system; a pull brings it back.
    let id_field = if provider == ProviderKind::Fortnox {
        "CustomerNumber"
    } else {
        "Id"
    };
    if let Some(rid) = stack
        .sandbox
        .state
        .customers(kind, &key)
        .first()
        .and_then(|c| c.get(id_field))
        .and_then(|v| v.as_str())
        .map(str::to_string)
    {
        stack.sandbox.state.modify_customer(kind, &key, &rid, |v| {
            v["Name"] = serde_json::json!("Namn ändrat i bokföringen AB")
        });
        println!("9. a person renames customer {rid} in {provider}");
    }
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(tenant),
            Some(serde_json::json!({"direction": "pull"})),
        )
        .await?;
    println!(
        "10. POST /api/integrations/{id}/sync {{\"direction\":\"pull\"}} -> {}",
        r.status
    );
    follow_jobs(stack, tenant, id).await?;
    let feed = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/records/customers?after=0"),
            Some(tenant),
            None,
        )
        .await?;
    for e in feed.json["records"].as_array().cloned().unwrap_or_default() {
        println!(
            "11. change feed for the app: #{} {} {} -> \"{}\"",
            e["seq"],
            e["op"].as_str().unwrap_or(""),
            e["our_id"].as_str().unwrap_or(""),
            e["record"]["name"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// An exported invoice sent by e-mail, printed and credited through the provider's own actions.
async fn invoice_walk_through(
    stack: &Stack,
    tenant: &str,
    provider: ProviderKind,
    id: &str,
) -> Result<(), BoxError> {
    let send = format!("/api/integrations/{id}/invoices/demo-inv-001/send");
    let r = stack
        .call(
            Method::POST,
            &send,
            Some(tenant),
            Some(serde_json::json!({"method": "email"})),
        )
        .await?;
    println!(
        "12. POST {send} {{\"method\":\"email\"}} -> {} {}",
        r.status, r.text
    );
    let pdf = format!("/api/integrations/{id}/invoices/demo-inv-001/pdf");
    let r = stack
        .http()
        .get(format!("{}{pdf}", stack.api_url))
        .bearer_auth(stack.token_for(tenant))
        .send()
        .await?;
    let status = r.status().as_u16();
    let bytes = r.bytes().await?;
    println!(
        "13. GET {pdf} -> {status} application/pdf, {} bytes starting {:?}",
        bytes.len(),
        String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
    );
    let credit = format!("/api/integrations/{id}/invoices/demo-inv-002/credit");
    let r = stack
        .call(
            Method::POST,
            &credit,
            Some(tenant),
            Some(serde_json::json!({})),
        )
        .await?;
    println!(
        "14. POST {credit} -> {} credit note {} ({provider} {})",
        r.status, r.json["credit_note_id"], r.json["remote_id"]
    );
    follow_jobs(stack, tenant, id).await?;
    Ok(())
}

/// A change made in Fortnox reaches the app's feed through the stream, with no sync asked for.
async fn stream_walk_through(stack: &Stack, tenant: &str, id: &str) -> Result<(), BoxError> {
    println!("\n-- real time: Fortnox's change stream --");
    let kind = sandbox::ProviderKind::Fortnox;
    let key = stack.sandbox.state.default_company_key(kind);
    let Some(rid) = stack
        .sandbox
        .state
        .customers(kind, &key)
        .last()
        .and_then(|c| c.get("CustomerNumber"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
    else {
        return Ok(());
    };
    let name = "Ändrad i Fortnox just nu AB";
    let started = std::time::Instant::now();
    stack
        .sandbox
        .state
        .modify_customer(kind, &key, &rid, |v| v["Name"] = serde_json::json!(name));
    println!("15. a person renames customer {rid} in Fortnox; nobody asks for a sync");
    let deadline = started + std::time::Duration::from_secs(60);
    loop {
        let feed = stack
            .call(
                Method::GET,
                &format!("/api/integrations/{id}/records/customers?after=0&limit=500"),
                Some(tenant),
                None,
            )
            .await?;
        let arrived = feed.json["records"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["remote_id"] == rid.as_str() && e["record"]["name"] == name);
        if arrived {
            println!(
                "16. the stream said so, a targeted pull read it: in the feed after {:.1} s -> \"{name}\"",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(
                format!("the change to customer {rid} did not reach the feed in 60 s").into(),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Shows the integration's jobs until every one has ended: on a terminal one line that
/// updates in place; otherwise a line whenever a job changes state, and the final counts.
async fn follow_jobs(stack: &Stack, tenant: &str, id: &str) -> Result<(), BoxError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let tty = std::io::stdout().is_terminal();
    let (mut last_line, mut last_states) = (String::new(), String::new());
    loop {
        let r = stack
            .call(
                Method::GET,
                &format!("/api/integrations/{id}/jobs"),
                Some(tenant),
                None,
            )
            .await?;
        let jobs = r.json["jobs"].as_array().cloned().unwrap_or_default();
        let describe = |with_counts: bool| {
            jobs.iter()
                .map(|j| {
                    let mut d = format!(
                        "{} {}",
                        j["trigger"].as_str().unwrap_or(""),
                        j["state"].as_str().unwrap_or("")
                    );
                    if with_counts {
                        d += &format!(
                            " done={} skipped={} failed={}",
                            j["progress"]["done"],
                            j["progress"]["skipped"],
                            j["progress"]["failed"]
                        );
                    }
                    d
                })
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let (line, states) = (describe(true), describe(false));
        let ended = !jobs.is_empty()
            && jobs.iter().all(|j| {
                matches!(
                    j["state"].as_str(),
                    Some("succeeded" | "failed" | "dead" | "cancelled")
                )
            });
        if tty {
            if line != last_line {
                show_progress(&format!("7. jobs: {line}"))?;
            }
            if ended {
                end_progress();
            }
        } else if states != last_states || (ended && line != last_line) {
            println!("7. jobs: {line}");
        }
        (last_line, last_states) = (line, states);
        if ended {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            end_progress();
            return Err("jobs did not finish within two minutes".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The job line being updated in place on a terminal ("" when none).
static PROGRESS: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Shows `line` as the in-place progress line (on a terminal).
fn show_progress(line: &str) -> std::io::Result<()> {
    let mut p = PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    print!("\r\x1b[2K{line}");
    std::io::stdout().flush()?;
    *p = line.to_string();
    Ok(())
}

/// Ends the in-place progress line.
fn end_progress() {
    let mut p = PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    if !p.is_empty() {
        println!();
        p.clear();
    }
}

/// Log lines go to standard error; on a terminal a log line clears the progress line first
/// and shows it again after, so the two never run together.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let p = PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
        if !p.is_empty() {
            print!("\r\x1b[2K");
            std::io::stdout().flush()?;
        }
        std::io::stderr().write_all(buf)?;
        if !p.is_empty() {
            print!("{p}");
            std::io::stdout().flush()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `devstack token <tenant> [user]`: a dev JWT valid one hour, for a running devstack.
fn print_token(args: &[String]) -> Result<(), BoxError> {
    let Some(tenant) = args.first().filter(|t| !t.is_empty()) else {
        return Err("usage: devstack token <tenant> [user]   (make token TENANT=<id>)".into());
    };
    let user = args
        .get(1)
        .filter(|u| !u.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("user-of-{tenant}"));
    if !devstack::console::valid_id(tenant) || !devstack::console::valid_id(&user) {
        return Err("tenant and user: 1 to 128 characters from A-Z a-z 0-9 . _ -".into());
    }
    println!("{}", devstack::dev_jwt().sign_for(tenant, &user, 3600));
    Ok(())
}

/// The schedules EventBridge would run: the watchdog every minute here, the scheduler every
/// five minutes.
fn spawn_timers(stack: &Stack) {
    let ctx = std::sync::Arc::new(stack.new_container());
    let c = ctx.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            if let Ok(r) = shared::jobs::maintenance::watchdog(&c, chrono::Utc::now()).await {
                if !r.requeued.is_empty() || !r.failed.is_empty() {
                    tracing::warn!(?r, "watchdog");
                }
            }
        }
    });
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(300)).await;
            let _ = shared::jobs::maintenance::schedule(ctx.as_ref(), chrono::Utc::now()).await;
        }
    });
}
