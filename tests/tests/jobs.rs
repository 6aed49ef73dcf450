//! Scheduler, watchdog, busy integrations and the records API's input handling.

use chrono::{Duration as Ch, Utc};
use devstack::StackOptions;
use reqwest::Method;
use serde_json::json;
use shared::domain::job::schedule_offset_seconds;
use shared::domain::{Entity, JobState, Mode, ProviderKind, TenantId};
use shared::jobs::maintenance::{schedule, scheduled_job_id, watchdog};
use std::time::Duration;
use system_tests::{customer_json, integration, secret, stack, stack_with};

const T: &str = "tenant-jobs";

async fn queue_depth(stack: &devstack::Stack, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = stack
        .ctx
        .queue
        .client()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap();
    let a = out.attributes().cloned().unwrap_or_default();
    let n = |k: A| a.get(&k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(A::ApproximateNumberOfMessages)
        + n(A::ApproximateNumberOfMessagesNotVisible)
        + n(A::ApproximateNumberOfMessagesDelayed)
}

#[tokio::test]
async fn the_scheduler_enqueues_each_connected_integration_once_per_hour_spread_out() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let mut ids = Vec::new();
    for (i, p) in [
        ProviderKind::Fortnox,
        ProviderKind::Visma,
        ProviderKind::Fortnox,
    ]
    .into_iter()
    .enumerate()
    {
        let (id, _) = stack
            .connect(&format!("tenant-{i}"), p, true)
            .await
            .unwrap();
        ids.push(id);
    }
    // A pending integration is not scheduled.
    stack
        .call(
            Method::POST,
            "/api/integrations/create",
            Some("tenant-x"),
            Some(json!({"provider": "visma"})),
        )
        .await
        .unwrap();
    // Ten minutes into the hour, a second after the Visma integration's slot in its
    // five-minute period. Every integration gets this period's job; the Visma integration
    // also the next period's, queued ahead because its slot comes before the next run (so
    // that slots between a period's start and its first run do not all start at that run).
    // No Fortnox slot of the next hour comes before the next run.
    let ts = Utc::now().timestamp();
    let hour = chrono::DateTime::from_timestamp(ts - ts % 3600, 0).unwrap();
    let visma_offset = schedule_offset_seconds(&ids[1], 300) as i64;
    let now = hour + Ch::minutes(10) + Ch::seconds(visma_offset + 1);
    let report = schedule(stack.ctx.as_ref(), now).await.unwrap();
    assert_eq!(
        (report.integrations, report.enqueued, report.skipped),
        (3, 4, 0),
        "{report:?}"
    );
    let next_period = hour + Ch::minutes(15);
    let ahead = stack
        .ctx
        .db
        .get_job(&ids[1], &scheduled_job_id(&ids[1], next_period))
        .await
        .unwrap()
        .expect("the next period's Visma job, queued ahead");
    assert_eq!(
        ahead.not_before,
        Some(next_period + Ch::seconds(visma_offset)),
        "at its own slot"
    );
    // Fortnox hourly; Visma as often as the shared Visma budget allows: every five minutes
    // for one integration.
    let visma_period = shared::jobs::maintenance::visma_poll_seconds(1) as i64;
    assert_eq!(visma_period, 300);
    for (id, period) in ids.iter().zip([3600, visma_period, 3600]) {
        let period_start = now
            - Ch::seconds(now.timestamp() % period)
            - Ch::nanoseconds(now.timestamp_subsec_nanos() as i64);
        let job = stack
            .ctx
            .db
            .get_job(id, &scheduled_job_id(id, period_start))
            .await
            .unwrap()
            .expect("scheduled job");
        assert_eq!(job.state, JobState::Queued);
        let nb = job.not_before.unwrap();
        assert!(
            nb >= period_start && nb < period_start + Ch::seconds(period),
            "spread within its period: {nb}"
        );
        // Every entity hourly; a Visma poll that does not hold the turn of the hour (this
        // one is ten minutes in) leaves projects and articles to the hour's poll, unless it
        // is the night's sweep.
        let expected = if period == 3600 || job.mode == Mode::Sweep {
            Entity::ALL.to_vec()
        } else {
            vec![Entity::Customers, Entity::Invoices]
        };
        assert_eq!(job.entities, expected, "{:?} every {period} s", job.mode);
    }
    assert_eq!(
        queue_depth(&stack, &stack.queues.sync_url).await,
        4,
        "one message each"
    );
    // Running again in the same period creates nothing.
    let again = schedule(stack.ctx.as_ref(), now + Ch::seconds(1))
        .await
        .unwrap();
    assert_eq!((again.enqueued, again.skipped), (0, 3), "{again:?}");
    // Twenty minutes on: the Visma poll's period has moved on, but its last job is still
    // queued (no worker here): skipped too, one job per integration at a time.
    let later = schedule(stack.ctx.as_ref(), now + Ch::minutes(20))
        .await
        .unwrap();
    assert_eq!((later.enqueued, later.skipped), (0, 3), "{later:?}");
    // Next hour, last hour's Fortnox jobs still queued: skipped. Visma jobs queued for longer
    // than the half hour the scheduler looks back no longer hold a poll back: this period's
    // and, ahead, the next one's.
    let next = schedule(stack.ctx.as_ref(), now + Ch::hours(1))
        .await
        .unwrap();
    assert_eq!((next.enqueued, next.skipped), (2, 2), "{next:?}");
}

#[tokio::test]
async fn the_scheduler_refreshes_tokens_that_would_die_unused() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let before = stack
        .sandbox
        .state
        .refresh_count(sandbox::ProviderKind::Fortnox);
    // Fortnox refresh tokens die after 45 days unused: this one has 3 days left.
    let i = integration(&stack, T, &id).await;
    stack
        .ctx
        .db
        .record_refresh(
            &i.tenant_id,
            &id,
            i.token_expires_at.unwrap(),
            Some(Utc::now() + Ch::days(3)),
        )
        .await
        .unwrap();
    let report = schedule(stack.ctx.as_ref(), Utc::now()).await.unwrap();
    assert_eq!(report.refreshed, 1, "{report:?}");
    assert_eq!(
        stack
            .sandbox
            .state
            .refresh_count(sandbox::ProviderKind::Fortnox),
        before + 1
    );
    let after = integration(&stack, T, &id).await;
    assert!(
        after.refresh_expires_at.unwrap() > Utc::now() + Ch::days(44),
        "a fresh 45 days"
    );
    // A token with plenty of time left is left alone.
    let report = schedule(stack.ctx.as_ref(), Utc::now() + Ch::hours(2))
        .await
        .unwrap();
    assert_eq!(report.refreshed, 0);
}

#[tokio::test]
async fn the_scheduler_keeps_visma_integrations_alive_too() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    let visma = sandbox::ProviderKind::Visma;
    // The consent stored a refresh-token expiry: VISMA_REFRESH_TOKEN_DAYS, 30 by default.
    let i = integration(&stack, T, &id).await;
    let near = |t: chrono::DateTime<Utc>, days: i64| {
        (t - (Utc::now() + Ch::days(days))).num_seconds().abs() < 120
    };
    let first = i.refresh_expires_at.expect("Visma stores a refresh expiry");
    assert!(near(first, 30), "{first}");
    let stored = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
    let same = |a: Option<chrono::DateTime<Utc>>, b: chrono::DateTime<Utc>| {
        a.is_some_and(|a| (a - b).num_milliseconds().abs() < 1000)
    };
    assert!(same(stored.refresh_expires_at, first), "the secret agrees");
    let before = stack.sandbox.state.refresh_count(visma);
    // Three days left: inside REFRESH_AHEAD_SECONDS (7 days).
    stack
        .ctx
        .db
        .record_refresh(
            &i.tenant_id,
            &id,
            i.token_expires_at.unwrap(),
            Some(Utc::now() + Ch::days(3)),
        )
        .await
        .unwrap();
    let report = schedule(stack.ctx.as_ref(), Utc::now()).await.unwrap();
    assert_eq!(
        (report.refreshed, report.refresh_failed),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(stack.sandbox.state.refresh_count(visma), before + 1);
    let after = integration(&stack, T, &id).await;
    assert_eq!(after.status, shared::domain::IntegrationStatus::Connected);
    let renewed = after.refresh_expires_at.unwrap();
    assert!(near(renewed, 30), "a fresh 30 days: {renewed}");
    let tokens = secret(&stack, T, &id).await.unwrap().tokens.unwrap();
    assert_ne!(tokens.refresh_token, stored.refresh_token, "rotated");
    assert!(
        same(tokens.refresh_expires_at, renewed),
        "the secret agrees"
    );
    assert!(stack
        .sandbox
        .state
        .is_refresh_token_active(tokens.refresh_token.as_ref().unwrap().expose()));
    // Renewed, it is left alone.
    let report = schedule(stack.ctx.as_ref(), Utc::now() + Ch::hours(2))
        .await
        .unwrap();
    assert_eq!(report.refreshed, 0);
    assert_eq!(stack.sandbox.state.refresh_count(visma), before + 1);
}

#[tokio::test]
async fn the_watchdog_requeues_stuck_jobs_and_fails_them_after_the_last_attempt() {
    let mut opts = StackOptions {
        workers: 0,
        ..StackOptions::default()
    };
    opts.env.insert("STUCK_AFTER_SECONDS".into(), "60".into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(T),
            Some(json!({})),
        )
        .await
        .unwrap();
    let job_id = r.json["job_ids"][0].as_str().unwrap().to_string();
    // A worker took it and died: running, no progress for ten minutes.
    let mut job = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
    job.state = JobState::Running;
    job.updated_at = Utc::now() - Ch::minutes(10);
    stack.ctx.db.save_job(&mut job).await.unwrap();
    let fresh = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(T),
            Some(json!({})),
        )
        .await
        .unwrap();
    let fresh_id = fresh.json["job_ids"][0].as_str().unwrap().to_string();
    let mut running = stack.ctx.db.get_job(&id, &fresh_id).await.unwrap().unwrap();
    running.state = JobState::Running;
    running.updated_at = Utc::now();
    stack.ctx.db.save_job(&mut running).await.unwrap();

    let report = watchdog(&stack.ctx, Utc::now()).await.unwrap();
    assert_eq!(report.requeued, vec![job_id.clone()], "only the stuck one");
    let j = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 1));
    assert_eq!(j.last_error.unwrap().code, "stuck");

    // Stuck again and again: failed for good after the last attempt.
    for _ in 0..4 {
        let mut j = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
        j.state = JobState::Running;
        j.updated_at = Utc::now() - Ch::minutes(10);
        stack.ctx.db.save_job(&mut j).await.unwrap();
        watchdog(&stack.ctx, Utc::now()).await.unwrap();
    }
    let j = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Failed, "{j:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_integration_waits_without_burning_receives() {
    let stack = stack_with(StackOptions {
        visibility_timeout: 1,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let tenant = TenantId::parse(T).unwrap();
    // Another worker holds the integration for 8 s: with a 1 s busy delay, far more than five
    // deliveries would happen if each one counted as a receive.
    assert!(stack
        .ctx
        .db
        .try_lease(&tenant, &id, "sync", "someone-else", Duration::from_secs(8))
        .await
        .unwrap());
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(T),
            Some(json!({"direction": "pull"})),
        )
        .await
        .unwrap();
    let job_id = r.json["job_ids"][0].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let waiting = stack.ctx.db.get_job(&id, &job_id).await.unwrap().unwrap();
    assert_eq!(
        waiting.state,
        JobState::Queued,
        "it waits while the integration is busy"
    );
    let done = stack
        .wait_for_job(&id, &job_id, Duration::from_secs(180))
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded, "{done:?}");
    assert_eq!(
        queue_depth(&stack, &stack.queues.dead_letter_url).await,
        0,
        "nothing dead-lettered"
    );
}

#[tokio::test]
async fn records_api_rejects_bad_input_naming_the_field_and_changes_nothing() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    let path = format!("/api/integrations/{id}/records/customers");
    let ok = customer_json(1, "", Utc::now());
    let mut no_name = ok.clone();
    no_name.as_object_mut().unwrap().remove("name");
    let mut bad_country = ok.clone();
    bad_country["address"]["country_code"] = json!("Sverige");
    let mut bad_type = ok.clone();
    bad_type["active"] = json!("yes");
    let cases = vec![
        (json!({"records": [ok.clone(), no_name]}), "records[1].name"),
        (
            json!({"records": [bad_country]}),
            "records[0].address.country_code",
        ),
        (json!({"records": [bad_type]}), "records[0].active"),
        (json!({"records": []}), "records"),
        (
            json!({"records": (0..101).map(|i| customer_json(i, "", Utc::now())).collect::<Vec<_>>()}),
            "records",
        ),
        (
            json!({"records": [ok.clone(), ok.clone()]}),
            "records[1].id",
        ),
        (json!({}), "records"),
    ];
    for (body, field) in cases {
        let r = stack
            .call(Method::POST, &path, Some(T), Some(body))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{field}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.json["field"], field, "{}", r.text);
        assert!(r.json["errors"].as_array().is_some_and(|e| !e.is_empty()) || field == "records");
    }
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/records/orders"),
            Some(T),
            Some(json!({"records": [ok.clone()]})),
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.json["field"].as_str()), (400, Some("entity")));
    let r = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/records/customers?after=abc"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.json["field"].as_str()), (400, Some("after")));
    let r = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/records?entities=customers,orders"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (400, "application/problem+json")
    );
    assert_eq!(r.json["field"], "entities", "{}", r.text);
    assert!(r.text.contains("`orders` is not an entity"), "{}", r.text);
    let (locals, _) = stack
        .ctx
        .db
        .local_page(&id, Entity::Customers, None, 10)
        .await
        .unwrap();
    assert!(locals.is_empty(), "nothing stored");
    assert!(
        stack.ctx.db.list_jobs(&id, 10).await.unwrap().is_empty(),
        "no job"
    );
    // Another tenant's integration is not found.
    let r = stack
        .call(
            Method::POST,
            &path,
            Some("tenant-other"),
            Some(json!({"records": [ok]})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn records_api_honours_idempotency_keys_and_skips_unchanged_records() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let url = format!("{}/api/integrations/{id}/records/customers", stack.api_url);
    let at = Utc::now();
    let body = json!({"records": [customer_json(1, "", at), customer_json(2, "", at)]});
    let send = |key: &'static str, body: serde_json::Value| {
        let http = stack.http();
        let url = url.clone();
        let token = stack.token_for(T);
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s1, b1) = send("key-1", body.clone()).await;
    assert_eq!((s1, b1["accepted"].as_u64()), (202, Some(2)), "{b1}");
    let (s2, b2) = send("key-1", body.clone()).await;
    assert_eq!((s2, &b2), (202, &b1), "the same answer again");
    assert_eq!(
        stack.ctx.db.list_jobs(&id, 10).await.unwrap().len(),
        1,
        "one export job"
    );
    let (s3, b3) = send("key-1", json!({"records": [customer_json(3, "", at)]})).await;
    assert_eq!(s3, 422, "{b3}");
    // Without a key, unchanged content is recognised.
    let (s4, b4) = send("key-2", body).await;
    assert_eq!(
        (s4, b4["accepted"].as_u64(), b4["unchanged"].as_u64()),
        (202, Some(0), Some(2)),
        "{b4}"
    );
}

#[tokio::test]
async fn sync_endpoint_validates_its_body() {
    let stack = stack().await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    for (body, field) in [
        (json!({"direction": "sideways"}), "direction"),
        (json!({"mode": "partial"}), "mode"),
        (json!({"entities": ["orders"]}), "entities"),
        (json!({"entities": []}), "entities"),
    ] {
        let r = stack
            .call(
                Method::POST,
                &format!("/api/integrations/{id}/sync"),
                Some(T),
                Some(body),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.json["field"].as_str()),
            (400, Some(field)),
            "{}",
            r.text
        );
    }
    assert!(stack.ctx.db.list_jobs(&id, 10).await.unwrap().is_empty());
    let r = stack
        .call(
            Method::POST,
            "/api/integrations/sync-invoice",
            Some(T),
            Some(json!({"integration_id": id})),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("invoice_id"))
    );
    let r = stack
        .call(
            Method::POST,
            "/api/integrations/sync-invoice",
            Some(T),
            Some(json!({"integration_id": id, "invoice_id": "nope"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_full_batch_of_100_rich_invoices_fits_in_one_request() {
    let stack = stack_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    let invoices: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            let mut inv = system_tests::invoice_json(i, 0, ProviderKind::Fortnox);
            let mut row = inv["rows"][0].clone();
            row["description"] =
                json!(format!("Byte av takpannor och läkt, etapp {i}: ").repeat(4));
            inv["rows"] = json!([row.clone(), row.clone(), row.clone(), row]);
            inv
        })
        .collect();
    let body = json!({ "records": invoices });
    assert!(
        body.to_string().len() > 64 * 1024,
        "the batch is larger than 64 KiB"
    );
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/records/invoices"),
            Some(T),
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["accepted"], 100);
}

/// Visma books a row's VAT through its article: once a job has read the company's articles, the
/// records API refuses a row asking for another rate than its article's, naming the field and
/// storing nothing, instead of accepting it and failing at export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visma_row_at_another_rate_than_its_article_is_refused_before_anything_is_stored() {
    let stack = stack_with(StackOptions {
        workers: 1,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    assert_eq!(stack.ctx.db.article_vat(&id).await.unwrap(), None);
    // Any job reads the articles; this one exports a customer.
    system_tests::upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![customer_json(0, "", Utc::now())],
    )
    .await;
    let job = stack.ctx.db.list_jobs(&id, 10).await.unwrap().remove(0);
    let done = stack
        .wait_for_job(&id, &job.id, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded, "{done:?}");
    let copy = stack
        .ctx
        .db
        .article_vat(&id)
        .await
        .unwrap()
        .expect("a copy");
    assert_eq!(
        copy.rates
            .get("1")
            .copied()
            .flatten()
            .map(|r| r.normalize().to_string()),
        Some("25".to_string()),
        "the sandbox's article 1 is booked at 25 %: {copy:?}"
    );
    let path = format!("/api/integrations/{id}/records/invoices");
    let mut wrong = system_tests::invoice_json(1, 0, ProviderKind::Visma);
    wrong["rows"][0]["vat_rate"] = json!("12");
    let r = stack
        .call(
            Method::POST,
            &path,
            Some(T),
            Some(json!({"records": [wrong]})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.json["field"], "records[0].rows[0].vat_rate", "{}", r.text);
    let detail = r.json["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("booked at 25 %") && detail.contains("asks for 12 %"),
        "{detail}"
    );
    let (locals, _) = stack
        .ctx
        .db
        .local_page(&id, Entity::Invoices, None, 10)
        .await
        .unwrap();
    assert!(locals.is_empty(), "nothing stored");
    assert_eq!(
        stack.ctx.db.list_jobs(&id, 10).await.unwrap().len(),
        1,
        "no job"
    );
    // The article's own rate, no rate, and 0 % (reverse charge) are accepted.
    let mut zero = system_tests::invoice_json(2, 0, ProviderKind::Visma);
    zero["rows"][0]["vat_rate"] = json!("0");
    let mut none = system_tests::invoice_json(3, 0, ProviderKind::Visma);
    none["rows"][0].as_object_mut().unwrap().remove("vat_rate");
    let right = system_tests::invoice_json(1, 0, ProviderKind::Visma);
    let r = stack
        .call(
            Method::POST,
            &path,
            Some(T),
            Some(json!({"records": [right, zero, none]})),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json["accepted"].as_u64()),
        (202, Some(3)),
        "{}",
        r.text
    );
}

#[path = "jobs/quarantine.rs"]
mod quarantine;
