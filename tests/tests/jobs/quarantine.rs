//! Records set aside and a feed that never lets a cursor skip an entry.

use super::*;

/// A job that ran to its end while some of its records were refused says so: `progress.failed`
/// and a `last_error` naming how many, while the rest went through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_records_were_refused_says_so_in_its_last_error() {
    let stack = stack_with(StackOptions {
        workers: 1,
        ..StackOptions::default()
    })
    .await;
    let (id, _) = stack.connect(T, ProviderKind::Visma, true).await.unwrap();
    system_tests::upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![customer_json(0, "", Utc::now())],
    )
    .await;
    let mut refused = system_tests::invoice_json(1, 0, ProviderKind::Visma);
    refused["rows"][0]["article_number"] = json!("NO-SUCH-ARTICLE");
    let fine = system_tests::invoice_json(2, 0, ProviderKind::Visma);
    system_tests::upsert(&stack, T, &id, "invoices", vec![refused, fine]).await;
    let jobs = stack.ctx.db.list_jobs(&id, 10).await.unwrap();
    let mut last = None;
    for j in &jobs {
        last = Some(
            stack
                .wait_for_job(&id, &j.id, Duration::from_secs(180))
                .await
                .unwrap(),
        );
    }
    let jobs = stack.ctx.db.list_jobs(&id, 10).await.unwrap();
    // Each job tries the refused record again (the second upsert's job too), and says so.
    let with_failure: Vec<_> = jobs.iter().filter(|j| j.progress.failed > 0).collect();
    assert!(!with_failure.is_empty(), "{jobs:?} {last:?}");
    assert!(
        with_failure
            .iter()
            .all(|j| j.progress.failed == 1 && j.state == JobState::Succeeded),
        "{with_failure:?}"
    );
    assert!(
        jobs.iter().map(|j| j.progress.done).sum::<u64>() >= 2,
        "the customer and the other invoice went through: {jobs:?}"
    );
    let j = with_failure
        .iter()
        .max_by_key(|j| j.finished_at)
        .expect("the last job to try it");
    let err = j.last_error.as_ref().expect("a last error");
    assert_eq!(err.code, "records_failed");
    assert!(
        err.message.starts_with("1 record(s) could not be synced")
            && err.message.contains("/quarantine"),
        "{}",
        err.message
    );
    // Set aside with its id, the field and the provider's message, for the next sync.
    let q = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/quarantine"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(q.status, 200, "{}", q.text);
    let set_aside = q.json["quarantine"].as_array().cloned().unwrap_or_default();
    assert_eq!(set_aside.len(), 1, "{}", q.text);
    assert_eq!(set_aside[0]["side"], "app");
    assert_eq!(set_aside[0]["entity"], "invoices");
    assert_eq!(set_aside[0]["id"], "inv-00001");
    assert_eq!(set_aside[0]["job_id"], j.id.as_str());
    assert!(
        set_aside[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("NO-SUCH-ARTICLE")
            || set_aside[0]["field"]
                .as_str()
                .unwrap_or_default()
                .contains("article"),
        "names the article: {}",
        q.text
    );
}

/// A Fortnox invoice the client cannot map (no `InvoiceDate`), in the middle of a page, is set
/// aside with its id and field while the rest of the pull goes on; once it reads again, the
/// next pull takes it out of quarantine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_record_that_cannot_be_read_is_set_aside_and_the_rest_goes_on() {
    let mut opts = StackOptions {
        workers: 1,
        ..StackOptions::default()
    };
    opts.env.insert("FORTNOX_PAGE_SIZE".into(), "2".into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, ProviderKind::Fortnox, true).await.unwrap();
    system_tests::upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![customer_json(0, "", Utc::now())],
    )
    .await;
    let invoices = (1..=5)
        .map(|i| system_tests::invoice_json(i, 0, ProviderKind::Fortnox))
        .collect();
    system_tests::upsert(&stack, T, &id, "invoices", invoices).await;
    system_tests::wait_idle(&stack, &id, Duration::from_secs(180)).await;
    let company = stack
        .sandbox
        .state
        .default_company_key(sandbox::ProviderKind::Fortnox);
    let bodies = stack
        .sandbox
        .state
        .invoices(sandbox::ProviderKind::Fortnox, &company);
    assert_eq!(bodies.len(), 5);
    let third = bodies[2]["DocumentNumber"]
        .as_str()
        .map(str::to_string)
        .or_else(|| bodies[2]["DocumentNumber"].as_u64().map(|n| n.to_string()))
        .expect("a document number");
    let mut date = None;
    assert!(stack
        .sandbox
        .state
        .edit_fortnox_invoice_raw(&company, &third, |b| {
            date = b.remove("InvoiceDate");
        }));
    let pull = |mode: &'static str| {
        let stack = &stack;
        let id = id.clone();
        async move {
            let r = stack
                .call(
                    Method::POST,
                    &format!("/api/integrations/{id}/sync"),
                    Some(T),
                    Some(json!({"direction": "pull", "mode": mode, "entities": ["invoices"]})),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 202, "{}", r.text);
            let job = r.json["job_ids"][0].as_str().unwrap().to_string();
            stack
                .wait_for_job(&id, &job, Duration::from_secs(120))
                .await
                .unwrap()
        }
    };
    let job = pull("full").await;
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(job.progress.failed, 1, "only the one record: {job:?}");
    assert_eq!(
        job.progress.done + job.progress.skipped,
        4,
        "the rest of the pages: {job:?}"
    );
    assert_eq!(
        job.last_error.as_ref().map(|e| e.code.as_str()),
        Some("records_failed")
    );
    let set_aside = stack.ctx.db.quarantined(&id, None, 10).await.unwrap();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(set_aside[0].id, third);
    assert_eq!(set_aside[0].field.as_deref(), Some("InvoiceDate"));
    assert!(
        set_aside[0].message.contains("InvoiceDate"),
        "{:?}",
        set_aside[0]
    );

    // Put right at the provider with no change its listing would show: the next incremental
    // pull reads it again from the quarantine.
    assert!(stack
        .sandbox
        .state
        .edit_fortnox_invoice_raw(&company, &third, |b| {
            b.insert("InvoiceDate".into(), date.take().expect("the date"));
        }));
    let job = pull("incremental").await;
    assert_eq!(
        (job.state, job.progress.failed),
        (JobState::Succeeded, 0),
        "{job:?}"
    );
    assert!(stack
        .ctx
        .db
        .quarantined(&id, None, 10)
        .await
        .unwrap()
        .is_empty());
    // The body without InvoiceDate was the sandbox's doing, not the client's: whatever it
    // broke of the contract is this test's, and is taken out here.
    let taken = stack.sandbox.state.take_contract_violations();
    assert!(
        taken
            .iter()
            .all(|v| v.direction == sandbox::Direction::Response),
        "only answers broke the contract: {taken:?}"
    );
}

/// A batch of feed entries that failed half-way (some entries written, one not) leaves the feed
/// readable only up to the last whole batch, so no reader's cursor passes the missing entry;
/// the retried batch (new sequence numbers) makes everything readable, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_feed_batch_never_lets_a_cursor_skip_an_entry() {
    use shared::store::records::FeedEntry;
    use shared::store::{SyncStore, SyncWrite};
    let stack = stack().await;
    let db = &stack.ctx.db;
    let iid = "feed-head-test";
    let entry = |seq: u64, our_id: &str| FeedEntry {
        seq,
        entity: Entity::Customers,
        op: "upsert".into(),
        our_id: our_id.into(),
        remote_id: format!("r-{our_id}"),
        record: Some(json!({"id": our_id})),
        pulled_at: Utc::now(),
    };
    let seqs = |v: &[FeedEntry]| v.iter().map(|f| f.seq).collect::<Vec<_>>();
    let first = SyncStore::reserve_seq(db, iid, 1).await.unwrap();
    SyncStore::write(
        db,
        iid,
        Entity::Customers,
        vec![SyncWrite::Feed(entry(first, "a"))],
    )
    .await
    .unwrap();
    // A batch of three whose second write never landed (the slice failed after the others).
    let batch = SyncStore::reserve_seq(db, iid, 3).await.unwrap();
    for (i, id) in [(0, "b"), (2, "d")] {
        db.client()
            .put_item()
            .table_name(db.table())
            .set_item(Some(
                shared::store::Db::feed_item(iid, &entry(batch + i, id)).unwrap(),
            ))
            .send()
            .await
            .unwrap();
    }
    let read = SyncStore::feed(db, iid, &[Entity::Customers], 0, 100)
        .await
        .unwrap();
    assert_eq!(
        seqs(&read),
        vec![first],
        "nothing past the last whole batch"
    );
    let cursor = read.last().unwrap().seq;
    // The slice is retried: the same records again, under new numbers, written whole.
    let retry = SyncStore::reserve_seq(db, iid, 3).await.unwrap();
    let again: Vec<SyncWrite> = ["b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(i, id)| SyncWrite::Feed(entry(retry + i as u64, id)))
        .collect();
    SyncStore::write(db, iid, Entity::Customers, again)
        .await
        .unwrap();
    let read = SyncStore::feed(db, iid, &[Entity::Customers], cursor, 100)
        .await
        .unwrap();
    assert_eq!(
        seqs(&read),
        vec![batch, batch + 2, retry, retry + 1, retry + 2],
        "in order, nothing skipped"
    );
    assert!(
        read.iter().any(|f| f.our_id == "c"),
        "the missing record came"
    );
}
