//! Failures a job survives or is buried by: the dead-letter queue, long exports in short slices, deletions found by the nightly sweep.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_keeps_failing_lands_in_the_dead_letter_queue_and_can_be_retried() {
    let mut opts = fast_options();
    // Longer than a failing slice (the client's retries of a 500 take about 3 s on a loaded
    // machine), as in production, where the visibility timeout exceeds the slice: a message
    // that came back mid-slice would find the integration busy and be sent anew, which starts
    // its receive count over, and the job would never reach the dead-letter queue.
    opts.visibility_timeout = 8;
    opts.env
        .insert("PROVIDER_TIMEOUT_SECONDS".into(), "2".into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    upsert(
        &stack,
        T,
        &id,
        "customers",
        (0..5).map(|i| customer_json(i, "", Utc::now())).collect(),
    )
    .await;
    wait_idle(&stack, &id, Duration::from_secs(180)).await;
    // The provider fails every request from now on.
    stack.sandbox.state.set_faults(sandbox::FaultConfig {
        error_500: 1.0,
        seed: 1,
        ..Default::default()
    });
    let job_id = sync(&stack, &id, json!({"direction": "pull"})).await;
    let dead = stack
        .wait_for_job(&id, &job_id, Duration::from_secs(240))
        .await
        .unwrap();
    assert_eq!(dead.state, JobState::Dead, "{dead:?}");
    let err = dead.last_error.clone().expect("the last error is kept");
    assert_eq!(err.code, "dead");
    assert!(err.message.contains("5"), "{}", err.message);
    let shown = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/jobs/{job_id}"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(shown.json["state"], "dead");

    // A poison message (not even a job) ends in the dead-letter queue too, and is dropped there.
    stack
        .ctx
        .queue
        .client()
        .send_message()
        .queue_url(&stack.queues.sync_url)
        .message_body("not a job")
        .send()
        .await
        .unwrap();

    // Once the provider is back, retrying by hand completes the job.
    stack
        .sandbox
        .state
        .set_faults(sandbox::FaultConfig::default());
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/jobs/{job_id}/retry"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text);
    let again = stack
        .wait_for_job(&id, &job_id, Duration::from_secs(180))
        .await
        .unwrap();
    assert_eq!(again.state, JobState::Succeeded, "{again:?}");
    // A job that is not failed or dead cannot be retried.
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/jobs/{job_id}/retry"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    // The poison message went through its receives into the dead-letter queue and was dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let attrs = stack
            .ctx
            .queue
            .client()
            .get_queue_attributes()
            .queue_url(&stack.queues.sync_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let a = attrs.attributes().cloned().unwrap_or_default();
        let n = |k: aws_sdk_sqs::types::QueueAttributeName| {
            a.get(&k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        if n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            == 0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poison message never left the sync queue"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
/// 2,000 invoices in 2-second slices (it was 5,000 in 4-second ones: the same proof, minutes
/// shorter in a suite that must stay under 40).
async fn a_2000_invoice_export_runs_as_many_short_slices() {
    let mut opts = fast_options();
    scale_limits(&mut opts, 40.0);
    opts.env.insert("SLICE_SECONDS".into(), "2".into());
    opts.workers = 0;
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![customer_json(0, "", Utc::now())],
    )
    .await;
    let invoices = (0..2000)
        .map(|i| invoice_json(i, 0, ProviderKind::Fortnox))
        .collect();
    upsert(&stack, T, &id, "invoices", invoices).await;
    let jobs = stack.ctx.db.list_jobs(&id, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "one export job for every upsert");
    stack.start_workers(1);
    let export = stack
        .wait_for_job(&id, &jobs[0].id, Duration::from_secs(1500))
        .await
        .unwrap();
    assert_eq!(export.state, JobState::Succeeded, "{export:?}");
    assert_eq!(export.progress.done, 2001, "{:?}", export.progress);
    assert!(export.slices >= 5, "ran as {} slices", export.slices);
    // A slice stops taking new records at its budget; the record in hand and the checkpoint
    // write may run a little past it, never a whole job's length.
    assert!(
        export.progress.longest_slice_ms < 2_000 + 5_000,
        "longest slice {} ms",
        export.progress.longest_slice_ms
    );
    let key = company(&stack, ProviderKind::Fortnox);
    assert_eq!(
        stack
            .sandbox
            .state
            .invoice_count(sandbox::ProviderKind::Fortnox, &key),
        2000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_nightly_sweep_finds_records_deleted_at_the_provider() {
    for provider in ProviderKind::ALL {
        let stack = stack_with(fast_options()).await;
        let (id, _) = stack.connect(T, provider, true).await.unwrap();
        upsert(
            &stack,
            T,
            &id,
            "customers",
            (0..5).map(|i| customer_json(i, "", Utc::now())).collect(),
        )
        .await;
        wait_idle(&stack, &id, Duration::from_secs(180)).await;
        let kind = sandbox_kind(provider);
        let key = company(&stack, provider);
        let victim = stack
            .sandbox
            .state
            .customers(kind, &key)
            .into_iter()
            .find(|c| our_ref(c, provider).as_deref() == Some("cust-00002"))
            .unwrap();
        let remote_id = victim
            .get(if provider == ProviderKind::Fortnox {
                "CustomerNumber"
            } else {
                "Id"
            })
            .and_then(Value::as_str)
            .unwrap()
            .to_string();
        assert!(stack.sandbox.state.delete_customer(kind, &key, &remote_id));
        // An incremental pull cannot see a deletion; a full one does.
        let inc = sync(&stack, &id, json!({"direction": "pull"})).await;
        stack
            .wait_for_job(&id, &inc, Duration::from_secs(180))
            .await
            .unwrap();
        assert!(feed(&stack, &id, "customers")
            .await
            .iter()
            .all(|e| e["op"] != "delete"));
        // The scheduler's run in the period of the night that holds this integration's sweep
        // slot (last night's, so that its job is due at once) queues the sweep.
        let due = sweep_due(&id, Utc::now() - Ch::days(1));
        // The run at the end of that period: the job's own offset in the period (where its
        // message would wait, up to 15 minutes) has passed, so it is queued to run at once.
        let period = match provider {
            ProviderKind::Fortnox => stack.ctx.config.sync.schedule_period.as_secs(),
            ProviderKind::Visma => visma_poll_seconds(1),
        } as i64;
        let end_of_period = due - Ch::seconds(due.timestamp().rem_euclid(period) - period + 1);
        let report = schedule(stack.ctx.as_ref(), end_of_period).await.unwrap();
        // This period's job; and the next period's too when its slot comes before the next
        // run (incremental: the night's sweep is this period's).
        assert!((1..=2).contains(&report.enqueued), "{report:?}");
        let sweep = stack
            .ctx
            .db
            .list_jobs(&id, 50)
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.mode == Mode::Sweep)
            .expect("the night's job sweeps");
        assert_eq!(sweep.trigger, shared::domain::Trigger::Schedule);
        let job = stack
            .wait_for_job(&id, &sweep.id, Duration::from_secs(180))
            .await
            .unwrap();
        assert_eq!(job.state, JobState::Succeeded, "{job:?}");
        // An hour on, the job is incremental again.
        let after = schedule(stack.ctx.as_ref(), due + Ch::hours(4))
            .await
            .unwrap();
        // This period's job, and the next period's when its slot comes before the next run.
        assert!(after.enqueued <= 2, "{after:?}");
        assert!(
            stack
                .ctx
                .db
                .list_jobs(&id, 50)
                .await
                .unwrap()
                .iter()
                .filter(|j| j.mode == Mode::Sweep)
                .count()
                == 1
        );
        let deletes: Vec<Value> = feed(&stack, &id, "customers")
            .await
            .into_iter()
            .filter(|e| e["op"] == "delete")
            .collect();
        assert_eq!(deletes.len(), 1, "{provider}: {deletes:?}");
        assert_eq!(deletes[0]["our_id"], "cust-00002");
        assert_eq!(deletes[0]["remote_id"], remote_id.as_str());
        let m = stack
            .ctx
            .db
            .mappings(&id, Entity::Customers, &["cust-00002".to_string()])
            .await
            .unwrap();
        assert!(m["cust-00002"].deleted_at.is_some());
        // A second full pull does not report it again.
        let again = sync(&stack, &id, json!({"direction": "pull", "mode": "full"})).await;
        stack
            .wait_for_job(&id, &again, Duration::from_secs(180))
            .await
            .unwrap();
        assert_eq!(
            feed(&stack, &id, "customers")
                .await
                .iter()
                .filter(|e| e["op"] == "delete")
                .count(),
            1
        );
    }
}
