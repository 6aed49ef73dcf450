//! End-to-end sync through the records API, SQS, the worker, moto and the sandbox.

use chrono::{Duration as Ch, Utc};
use devstack::{Stack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{Entity, JobState, Mode, ProviderKind};
use shared::jobs::maintenance::{schedule, sweep_due, visma_poll_seconds};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use system_tests::{customer_json, invoice_json, sandbox_kind, stack_with, upsert, wait_idle};

const T: &str = "tenant-sync";

fn fast_options() -> StackOptions {
    let mut opts = StackOptions::default();
    scale_limits(&mut opts, 10.0);
    opts
}

/// Runs the sandbox's rate-limit windows `scale` times faster and tells the shared limiter the
/// same, so the real window shapes are kept.
fn scale_limits(opts: &mut StackOptions, scale: f64) {
    opts.sandbox.time_scale = scale;
    opts.env.insert(
        "FORTNOX_RATE_LIMIT_WINDOW_MS".into(),
        ((5000.0 / scale) as u64).to_string(),
    );
    opts.env.insert(
        "VISMA_RATE_LIMIT_WINDOW_MS".into(),
        ((60000.0 / scale) as u64).to_string(),
    );
    // Compressed windows leave the limiter's 4 % headroom only a few milliseconds a window on a
    // busy 2-core machine; 10 % keeps the zero-429 assertions about the design, not the load.
    opts.env
        .insert("RATE_LIMIT_HEADROOM_PERCENT".into(), "10".into());
}

fn company(stack: &Stack, p: ProviderKind) -> String {
    stack.sandbox.state.default_company_key(sandbox_kind(p))
}

fn our_ref(v: &Value, p: ProviderKind) -> Option<String> {
    let k = match p {
        ProviderKind::Fortnox => "ExternalReference",
        ProviderKind::Visma => "CustomerNumber",
    };
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn name_of(v: &Value) -> String {
    v.get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

async fn sync(stack: &Stack, id: &str, body: Value) -> String {
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(T),
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text);
    r.json["job_ids"][0].as_str().unwrap().to_string()
}

async fn feed(stack: &Stack, id: &str, entity: &str) -> Vec<Value> {
    system_tests::feed(stack, T, id, entity).await
}

async fn round_trip(provider: ProviderKind) {
    // Waits are generous: every request and answer is checked against the providers' OpenAPI
    // documents, and on a loaded 2-core machine these tests share it with the 2,000-invoice one.
    let stack = stack_with(fast_options()).await;
    let (id, _) = stack.connect(T, provider, true).await.unwrap();
    let now = Utc::now() - Ch::minutes(5);
    upsert(
        &stack,
        T,
        &id,
        "customers",
        (0..500).map(|i| customer_json(i, "", now)).collect(),
    )
    .await;
    upsert(
        &stack,
        T,
        &id,
        "invoices",
        (0..200)
            .map(|i| invoice_json(i, i % 500, provider))
            .collect(),
    )
    .await;
    let jobs = wait_idle(&stack, &id, Duration::from_secs(240)).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );

    // Exactly the records, each carrying our reference.
    let key = company(&stack, provider);
    let kind = sandbox_kind(provider);
    let customers = stack.sandbox.state.customers(kind, &key);
    assert_eq!(
        customers.len(),
        500,
        "{provider}: customers at the provider"
    );
    assert_eq!(
        stack.sandbox.state.invoice_count(kind, &key),
        200,
        "{provider}: invoices at the provider"
    );
    let refs: HashSet<String> = customers
        .iter()
        .filter_map(|c| our_ref(c, provider))
        .collect();
    assert_eq!(refs.len(), 500, "every customer carries its own reference");
    let (pending, _) = stack
        .ctx
        .db
        .pending_exports(&id, Entity::Customers, None, 10)
        .await
        .unwrap();
    assert!(pending.is_empty(), "nothing left to export");

    // Pulling everything back reads our own writes as already synced (the company's own
    // projects and articles, seeded at the sandbox, are new to us: not pulled here).
    let pull = sync(
        &stack,
        &id,
        json!({"direction": "pull", "mode": "full", "entities": ["customers", "invoices"]}),
    )
    .await;
    let job = stack
        .wait_for_job(&id, &pull, Duration::from_secs(240))
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(
        job.progress.done, 0,
        "{provider}: nothing new: {:?}",
        job.progress
    );
    assert!(job.progress.skipped >= 700, "{:?}", job.progress);
    assert!(feed(&stack, &id, "customers").await.is_empty());

    // Change some on each side, and some on both.
    let by_ref: HashMap<String, String> = customers
        .iter()
        .filter_map(|c| {
            Some((
                our_ref(c, provider)?,
                c.get(if provider == ProviderKind::Fortnox {
                    "CustomerNumber"
                } else {
                    "Id"
                })?
                .as_str()?
                .to_string(),
            ))
        })
        .collect();
    let remote = |i: usize| {
        by_ref[&shared::providers::api::fit_reference(
            &format!("cust-{i:05}"),
            if provider == ProviderKind::Fortnox {
                100
            } else {
                16
            },
        )]
            .clone()
    };
    for i in (0..10).chain(20..30) {
        stack
            .sandbox
            .state
            .modify_customer(kind, &key, &remote(i), |v| {
                v["Name"] = json!(format!("Kund {i} ändrad hos leverantören"));
            });
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let later = Utc::now() + Ch::minutes(1);
    let earlier = Utc::now() - Ch::hours(1);
    let mut local = Vec::new();
    local.extend((10..20).map(|i| customer_json(i, " (lokal)", Utc::now())));
    local.extend((20..25).map(|i| customer_json(i, " (lokal, senast)", later)));
    local.extend((25..30).map(|i| customer_json(i, " (lokal, äldre)", earlier)));
    upsert(&stack, T, &id, "customers", local).await;
    wait_idle(&stack, &id, Duration::from_secs(240)).await;
    let both = sync(&stack, &id, json!({"direction": "both"})).await;
    let job = stack
        .wait_for_job(&id, &both, Duration::from_secs(240))
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");

    // The provider has the local changes and the local winners.
    let now_at_provider: HashMap<String, String> = stack
        .sandbox
        .state
        .customers(kind, &key)
        .iter()
        .filter_map(|c| Some((our_ref(c, provider)?, name_of(c))))
        .collect();
    let at = |i: usize| {
        now_at_provider[&shared::providers::api::fit_reference(
            &format!("cust-{i:05}"),
            if provider == ProviderKind::Fortnox {
                100
            } else {
                16
            },
        )]
            .clone()
    };
    for i in 10..20 {
        assert!(at(i).ends_with(" (lokal)"), "{provider} {i}: {}", at(i));
    }
    for i in 20..25 {
        assert!(
            at(i).ends_with(" (lokal, senast)"),
            "{provider} {i}: local was later: {}",
            at(i)
        );
    }
    for i in (0..10).chain(25..30) {
        assert!(
            at(i).contains("ändrad hos leverantören"),
            "{provider} {i}: provider's change stays: {}",
            at(i)
        );
    }
    // The app's feed has the provider's changes (and the provider's conflict winners).
    let changed: HashSet<String> = feed(&stack, &id, "customers")
        .await
        .iter()
        .map(|e| e["our_id"].as_str().unwrap().to_string())
        .collect();
    for i in (0..10).chain(25..30) {
        assert!(
            changed.contains(&format!("cust-{i:05}")),
            "{provider} {i} in the feed"
        );
    }
    for i in 10..25 {
        assert!(
            !changed.contains(&format!("cust-{i:05}")),
            "{provider} {i}: our own write is not fed back"
        );
    }
    // The feed of several entities in one request: the same entries, merged by sequence.
    let mut each: Vec<Value> = Vec::new();
    for e in ["customers", "invoices", "projects", "articles"] {
        each.extend(feed(&stack, &id, e).await);
    }
    each.sort_by_key(|e| e["seq"].as_u64());
    assert!(!each.is_empty());
    assert_eq!(
        system_tests::feed(&stack, T, &id, "").await,
        each,
        "{provider}: the feed of every entity"
    );
    // Both sides match: every local record has the provider's content.
    let (locals, _) = stack
        .ctx
        .db
        .local_page(&id, Entity::Customers, None, 1000)
        .await
        .unwrap();
    for l in &locals {
        let n = l.doc["name"].as_str().unwrap();
        let i: usize = l.our_id.trim_start_matches("cust-").parse().unwrap();
        assert_eq!(n, at(i), "{provider}: {} differs", l.our_id);
    }
    // Ten conflicts, logged with the right winners.
    let log = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/conflicts"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    let conflicts = log.json["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 10, "{provider}: {conflicts:?}");
    let winners: HashMap<&str, &str> = conflicts
        .iter()
        .map(|c| (c["our_id"].as_str().unwrap(), c["winner"].as_str().unwrap()))
        .collect();
    for i in 20..25 {
        assert_eq!(winners[format!("cust-{i:05}").as_str()], "local");
    }
    for i in 25..30 {
        assert_eq!(winners[format!("cust-{i:05}").as_str()], "provider");
    }
    // Freshness per entity in the status: both directions ran; where the provider gives change
    // times (Visma's ChangedUtc), the newest change seen and how long it took to arrive.
    let status = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    let fresh = status.json["freshness"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(fresh.len(), Entity::ALL.len(), "{}", status.text);
    let customers = &fresh[0];
    assert_eq!(customers["entity"], "customers");
    assert!(
        customers["last_pull_at"].is_string() && customers["last_push_at"].is_string(),
        "{customers}"
    );
    assert!(
        customers["stale_seconds"].as_i64().is_some_and(|s| s < 600),
        "{customers}"
    );
    if provider == ProviderKind::Visma {
        assert!(customers["newest_change_at"].is_string(), "{customers}");
        assert!(
            customers["lag_seconds"]
                .as_i64()
                .is_some_and(|l| (0..600).contains(&l)),
            "{customers}"
        );
    }
    stack.assert_contracts_kept();
    assert_eq!(
        stack.sandbox.state.rate_limited_count(kind),
        0,
        "{provider}: no 429 from the real limiter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fortnox_push_pull_change_and_conflicts() {
    round_trip(ProviderKind::Fortnox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn visma_push_pull_change_and_conflicts() {
    round_trip(ProviderKind::Visma).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_under_faults_is_exactly_once() {
    for provider in ProviderKind::ALL {
        let mut opts = fast_options();
        opts.env
            .insert("PROVIDER_TIMEOUT_SECONDS".into(), "2".into());
        // Late commits land 1-4 s after the client gave up (up to 7 s after the create was sent, when
        // the answer was held 3 s first); no second create before 10 s.
        opts.env.insert("CREATE_SETTLE_SECONDS".into(), "10".into());
        opts.workers = 2;
        let stack = stack_with(opts).await;
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        // 20 % of creates fail, in every way a create can: refused before it is handled (500,
        // 429, dropped), handled slowly past the client's timeout, handled and then failed, and
        // failed now and handled later.
        stack.sandbox.state.set_faults(sandbox::FaultConfig {
            error_500: 0.03,
            rate_429: 0.03,
            slow: 0.02,
            slow_delay: Duration::from_secs(3),
            drop_connection: 0.03,
            commit_then_fail: 0.03,
            late_commit: 0.06,
            late_commit_min_ms: 1_000,
            late_commit_max_ms: 4_000,
            seed: 7,
            only_writes: false,
            oauth: sandbox::OAuthFaults::default(),
            stream: sandbox::StreamFaults::default(),
        });
        let now = Utc::now();
        upsert(
            &stack,
            T,
            &id,
            "customers",
            (0..100).map(|i| customer_json(i, "", now)).collect(),
        )
        .await;
        upsert(
            &stack,
            T,
            &id,
            "invoices",
            (0..40).map(|i| invoice_json(i, i, provider)).collect(),
        )
        .await;
        let jobs = wait_idle(&stack, &id, Duration::from_secs(300)).await;
        // A job that used up its attempts is retried by hand, as an operator would.
        for j in jobs.iter().filter(|j| j.state != JobState::Succeeded) {
            let r = stack
                .call(
                    Method::POST,
                    &format!("/api/integrations/{id}/jobs/{}/retry", j.id),
                    Some(T),
                    None,
                )
                .await
                .unwrap();
            assert_eq!(r.status, 202, "{}", r.text);
        }
        let jobs = wait_idle(&stack, &id, Duration::from_secs(300)).await;
        assert!(
            jobs.iter().all(|j| j.state == JobState::Succeeded),
            "{provider}: {jobs:?}"
        );
        let failed: u64 = jobs.iter().map(|j| j.progress.failed).sum();
        let (still_pending, _) = stack
            .ctx
            .db
            .pending_exports(&id, Entity::Invoices, None, 100)
            .await
            .unwrap();
        assert_eq!(
            failed,
            0,
            "{provider}: no record failed: {:?} pending {still_pending:?}",
            jobs.iter()
                .map(|j| (&j.id, &j.progress))
                .collect::<Vec<_>>()
        );
        let injected = stack.sandbox.state.faults_injected();
        // The faults hit creates, in each of their kinds, late commits included.
        let on_creates: HashSet<sandbox::FaultKind> = injected
            .iter()
            .filter(|f| f.method == "POST")
            .map(|f| f.kind)
            .collect();
        for kind in [
            sandbox::FaultKind::Error500,
            sandbox::FaultKind::DropConnection,
            sandbox::FaultKind::LateCommit,
        ] {
            assert!(
                on_creates.contains(&kind),
                "{provider}: {kind:?} hit a create: {on_creates:?}"
            );
        }
        assert!(
            on_creates.iter().any(|k| k.committed()),
            "{provider}: a create was applied and its answer lost: {on_creates:?}"
        );
        let late = injected
            .iter()
            .filter(|f| f.kind == sandbox::FaultKind::LateCommit)
            .count();
        assert!(late >= 2, "{provider}: {late} late commits");
        assert!(
            jobs.iter().all(|j| j.progress.in_doubt == 0),
            "{provider}: nothing left in doubt"
        );
        // Every late commit has landed by now (7 s at most), and nothing was created again.
        tokio::time::sleep(Duration::from_secs(7)).await;
        stack
            .sandbox
            .state
            .set_faults(sandbox::FaultConfig::default());

        let key = company(&stack, provider);
        let kind = sandbox_kind(provider);
        let customers = stack.sandbox.state.customers(kind, &key);
        let refs: Vec<String> = customers
            .iter()
            .filter_map(|c| our_ref(c, provider))
            .collect();
        let unique: HashSet<&String> = refs.iter().collect();
        assert_eq!(refs.len(), 100, "{provider}: no duplicate and none missing");
        assert_eq!(unique.len(), 100);
        assert_eq!(
            stack.sandbox.state.invoice_count(kind, &key),
            40,
            "{provider}: invoices exactly once"
        );
        let ids: Vec<String> = (0..100).map(|i| format!("cust-{i:05}")).collect();
        let maps = stack
            .ctx
            .db
            .mappings(&id, Entity::Customers, &ids)
            .await
            .unwrap();
        assert!(
            maps.values().all(|m| m.remote_id.is_some()) && maps.len() == 100,
            "every mapping in place"
        );
        let inv_ids: Vec<String> = (0..40).map(|i| format!("inv-{i:05}")).collect();
        let imaps = stack
            .ctx
            .db
            .mappings(&id, Entity::Invoices, &inv_ids)
            .await
            .unwrap();
        assert!(imaps.values().all(|m| m.remote_id.is_some()) && imaps.len() == 40);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_slice_resumes_from_the_checkpoint() {
    let mut opts = fast_options();
    opts.workers = 0;
    opts.visibility_timeout = 3;
    // One long slice (the 400 creates take a few seconds), so that the kill lands inside it,
    // never between two slices, where the job is legitimately queued; the killed slice's lease
    // (30 + 2 s) is what the restarted worker waits out before it resumes from the checkpoint.
    opts.env.insert("SLICE_SECONDS".into(), "30".into());
    opts.env.insert("LEASE_GRACE_SECONDS".into(), "2".into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let now = Utc::now();
    upsert(
        &stack,
        T,
        &id,
        "customers",
        (0..400).map(|i| customer_json(i, "", now)).collect(),
    )
    .await;
    let jobs = stack.ctx.db.list_jobs(&id, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "one export job for all four upserts");
    let job_id = jobs[0].id.clone();
    // Start a worker, wait until the job is well under way, then kill it mid-slice.
    stack.start_workers(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let j = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
        if j.progress.done >= 60 && j.state == JobState::Running {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not get going: {j:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.kill_workers();
    let at_kill = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
    assert_eq!(at_kill.state, JobState::Running, "killed while running");
    assert!(at_kill.progress.done < 400);
    stack.start_workers(1);
    let done = stack
        .wait_for_job(&id, &job_id, Duration::from_secs(180))
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded, "{done:?}");
    assert!(
        done.progress.done >= 400 - at_kill.progress.done,
        "{:?}",
        done.progress
    );
    let key = company(&stack, ProviderKind::Fortnox);
    let customers = stack
        .sandbox
        .state
        .customers(sandbox::ProviderKind::Fortnox, &key);
    let refs: HashSet<String> = customers
        .iter()
        .filter_map(|c| our_ref(c, ProviderKind::Fortnox))
        .collect();
    assert_eq!(
        (customers.len(), refs.len()),
        (400, 400),
        "resumed without duplicates"
    );
}

#[path = "sync/failures.rs"]
mod failures;
