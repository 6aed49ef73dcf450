//! One behaviour of the engine a test, against the in-memory store and provider.

use super::{block_on, customer, invoice, World};
use crate::domain::{Direction, Entity, Mode};
use crate::mocks::Fault;
use crate::store::quarantine::Side;
use crate::store::records::Mapping;
use crate::store::SyncStore;
use crate::sync::{Budget, SliceOutcome, SyncError};
use chrono::{Duration as Ch, Utc};
use std::time::Duration;

fn creates_in(calls: &[String], what: &str) -> Vec<usize> {
    calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.as_str() == what)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn an_ambiguous_create_that_committed_is_found_by_reference_not_created_again() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.api.script([Fault::AfterCommit]);
        let first = w.job(Direction::Push, Mode::Incremental);
        let r = w.slice(&first.id, Budget::Checks(100)).await;
        assert!(r.is_ok(), "{r:?}");
        let calls = w.api.calls();
        assert_eq!(
            calls,
            vec!["create customers c1", "find customers c1"],
            "looked up by reference right after the ambiguous create"
        );
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 1);
        let maps = w.store.all_mappings("i1", Entity::Customers);
        assert_eq!(maps.len(), 1);
        assert_eq!(
            maps[0].remote_id.as_deref(),
            Some(w.remote_customer("c1").as_str())
        );
        assert!(maps[0].create_pending_since.is_none());
        assert!(w.store.all_pendings("i1", Entity::Customers).is_empty());
    });
}

#[test]
fn an_ambiguous_create_that_did_not_commit_is_looked_up_before_it_is_sent_again() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.api.script([Fault::Timeout]);
        w.run(Direction::Push, Mode::Incremental).await;
        let calls = w.api.calls();
        let creates = creates_in(&calls, "create customers c1");
        let finds = creates_in(&calls, "find customers c1");
        assert_eq!(creates.len(), 2, "{calls:?}");
        assert!(
            finds.iter().any(|f| creates[0] < *f && *f < creates[1]),
            "a lookup between the two creates: {calls:?}"
        );
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 1);
        assert_eq!(w.api.customers().len(), 1);
    });
}

#[test]
fn a_create_left_in_doubt_by_a_crash_is_adopted_by_reference_without_a_create() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        // A previous run wrote its marker, created the record, and died before recording it.
        let marker = Mapping {
            create_pending_since: Some(Utc::now()),
            ..crate::sync::run::empty_mapping("c1")
        };
        w.store
            .put_mapping("i1", Entity::Customers, &marker, None)
            .await
            .unwrap();
        let remote = w
            .api
            .insert_customer(customer(1, "Bygg AB", None), Some("c1"), Utc::now());
        let job = w.run(Direction::Push, Mode::Incremental).await;
        assert_eq!(w.api.calls(), vec!["find customers c1"]);
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 0);
        let m = &w.store.all_mappings("i1", Entity::Customers)[0];
        assert_eq!(m.remote_id.as_deref(), Some(remote.as_str()));
        assert_eq!(job.progress.done, 1);
    });
}

#[test]
fn an_invoice_create_stopped_after_its_first_step_is_completed_when_found() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.upsert_invoices(vec![invoice(1, 1)]).await;
        w.api.script([Fault::None, Fault::AfterCommit]);
        w.run(Direction::Push, Mode::Incremental).await;
        let invoices = w.api.invoices();
        assert_eq!(invoices.len(), 1);
        assert!(invoices[0].3, "completed through the provider trait");
        assert_eq!(w.api.creates(Entity::Invoices, "i1"), 1);
        let calls = w.api.calls();
        assert!(
            calls.contains(&format!("complete invoices {}", invoices[0].0)),
            "{calls:?}"
        );
    });
}

/// Exports c1, then changes it at the provider (at `remote_at`) and here (at `local_at`), then
/// runs `direction`.
async fn both_changed(
    local_at: chrono::DateTime<Utc>,
    remote_at: chrono::DateTime<Utc>,
    direction: Direction,
) -> World {
    let w = World::new();
    let t0 = Utc::now() - Ch::hours(3);
    w.upsert_customers(vec![customer(1, "Original", Some(t0))])
        .await;
    w.run(Direction::Push, Mode::Incremental).await;
    let remote = w.remote_customer("c1");
    w.api
        .modify_customer(&remote, remote_at, |c| c.name = "Theirs".into());
    w.upsert_customers(vec![customer(1, "Ours", Some(local_at))])
        .await;
    w.run(direction, Mode::Incremental).await;
    w
}

/// Exports c1, then changes it here (at `local_at`) and at a provider whose records carry no
/// time (Fortnox), whose change event says when (`remote_at`); then runs the targeted pull the
/// event queues.
async fn both_changed_undated(
    local_at: chrono::DateTime<Utc>,
    remote_at: chrono::DateTime<Utc>,
) -> World {
    let w = World::new();
    w.api.undated();
    let t0 = Utc::now() - Ch::hours(3);
    w.upsert_customers(vec![customer(1, "Original", Some(t0))])
        .await;
    w.run(Direction::Push, Mode::Incremental).await;
    let remote = w.remote_customer("c1");
    w.api
        .modify_customer(&remote, remote_at, |c| c.name = "Theirs".into());
    w.upsert_customers(vec![customer(1, "Ours", Some(local_at))])
        .await;
    let job = crate::jobs::new_job(
        &w.integration,
        &crate::jobs::JobRequest {
            direction: Direction::Pull,
            entities: vec![Entity::Customers],
            mode: Mode::Incremental,
            trigger: crate::domain::Trigger::Stream,
            target: Some(crate::domain::Target {
                entity: Entity::Customers,
                our_id: None,
                remote_id: Some(remote),
                changed_at: Some(remote_at),
                payment_id: None,
            }),
            not_before: None,
        },
        Utc::now(),
    );
    w.store.insert_job(&job);
    let r = w.slice(&job.id, Budget::Checks(100)).await;
    assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
    w
}

#[test]
fn an_undated_provider_record_is_decided_by_its_event_time_a_later_local_change_wins() {
    block_on(async {
        // Both changes lie in the past: without the event's time the provider's change would
        // count as made when seen (now) and win.
        let now = Utc::now();
        let w = both_changed_undated(now - Ch::minutes(5), now - Ch::minutes(10)).await;
        assert_eq!(local_name(&w).await, "Ours");
        let log = w.store.all_conflicts("i1");
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].winner, "local");
        assert_eq!(log[0].remote_modified_at, Some(now - Ch::minutes(10)));
        assert_eq!(
            w.store.all_pendings("i1", Entity::Customers).len(),
            1,
            "the winning local change is still to be exported"
        );
    });
}

#[test]
fn an_undated_provider_record_is_decided_by_its_event_time_a_later_provider_change_wins() {
    block_on(async {
        let now = Utc::now();
        let w = both_changed_undated(now - Ch::minutes(10), now - Ch::minutes(5)).await;
        assert_eq!(local_name(&w).await, "Theirs");
        let log = w.store.all_conflicts("i1");
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].winner, "provider");
        assert!(w.store.all_pendings("i1", Entity::Customers).is_empty());
        let feed = w.store.all_feed("i1", Entity::Customers);
        assert_eq!(
            feed.last().unwrap().record.as_ref().unwrap()["name"],
            "Theirs"
        );
    });
}

fn name_at_provider(w: &World) -> String {
    w.api.customers()[0].1.name.clone()
}

/// The local copy, read through the port as the engine reads it.
async fn local_name(w: &World) -> String {
    w.store
        .local_records("i1", Entity::Customers, &["c1".to_string()])
        .await
        .unwrap()["c1"]
        .doc["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn both_changed_the_later_local_change_wins_and_is_logged() {
    for direction in [Direction::Push, Direction::Both] {
        block_on(async {
            let now = Utc::now();
            let w = both_changed(now, now - Ch::hours(1), direction).await;
            assert_eq!(name_at_provider(&w), "Ours", "{direction:?}");
            assert_eq!(local_name(&w).await, "Ours");
            let log = w.store.all_conflicts("i1");
            assert_eq!(log.len(), 1, "{direction:?}: {log:?}");
            assert_eq!(log[0].winner, "local");
            assert_eq!(log[0].our_id, "c1");
            assert!(w.store.all_pendings("i1", Entity::Customers).is_empty());
        });
    }
}

#[test]
fn both_changed_the_later_provider_change_wins_and_is_logged() {
    for direction in [Direction::Push, Direction::Pull] {
        block_on(async {
            let now = Utc::now();
            let w = both_changed(now - Ch::hours(1), now, direction).await;
            assert_eq!(name_at_provider(&w), "Theirs", "{direction:?}");
            assert_eq!(local_name(&w).await, "Theirs", "{direction:?}");
            let log = w.store.all_conflicts("i1");
            assert_eq!(log.len(), 1, "{direction:?}: {log:?}");
            assert_eq!(log[0].winner, "provider");
            assert!(
                w.store.all_pendings("i1", Entity::Customers).is_empty(),
                "{direction:?}: the losing local change is not exported later"
            );
            let feed = w.store.all_feed("i1", Entity::Customers);
            assert_eq!(feed.len(), 1, "the app hears of the provider's version");
            assert_eq!(feed[0].record.as_ref().unwrap()["name"], "Theirs");
        });
    }
}

#[test]
fn our_own_writes_are_not_read_back_as_changes() {
    block_on(async {
        let w = World::new();
        w.upsert_customers((0..5).map(|i| customer(i, "Kund", None)).collect())
            .await;
        w.upsert_invoices(vec![invoice(1, 1), invoice(2, 3)]).await;
        w.run(Direction::Push, Mode::Incremental).await;
        for mode in [Mode::Full, Mode::Incremental] {
            let job = w.run(Direction::Pull, mode).await;
            assert_eq!(job.progress.done, 0, "{mode:?}: {:?}", job.progress);
            assert_eq!(job.progress.skipped, 7, "{mode:?}: {:?}", job.progress);
        }
        assert!(w.store.all_feed("i1", Entity::Customers).is_empty());
        assert!(w.store.all_feed("i1", Entity::Invoices).is_empty());
        assert!(w.store.all_conflicts("i1").is_empty());
    });
}

#[test]
fn a_full_pull_sweeps_records_deleted_at_the_provider_once() {
    block_on(async {
        let w = World::new();
        w.upsert_customers((0..5).map(|i| customer(i, "Kund", None)).collect())
            .await;
        w.run(Direction::Push, Mode::Incremental).await;
        let victim = w.remote_customer("c2");
        assert!(w.api.delete(Entity::Customers, &victim));
        w.run(Direction::Pull, Mode::Incremental).await;
        assert!(
            w.store.all_feed("i1", Entity::Customers).is_empty(),
            "an incremental pull cannot see a deletion"
        );
        for _ in 0..2 {
            w.run(Direction::Pull, Mode::Full).await;
            let feed = w.store.all_feed("i1", Entity::Customers);
            assert_eq!(feed.len(), 1, "{feed:?}");
            assert_eq!(feed[0].op, "delete");
            assert_eq!(feed[0].our_id, "c2");
            assert_eq!(feed[0].remote_id, victim);
        }
        let maps = w.store.all_mappings("i1", Entity::Customers);
        let gone: Vec<&str> = maps
            .iter()
            .filter(|m| m.deleted_at.is_some())
            .map(|m| m.our_id.as_str())
            .collect();
        assert_eq!(gone, vec!["c2"]);
    });
}

#[test]
fn an_unreadable_checkpoint_fails_the_job_instead_of_starting_over() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        let mut job = w.job(Direction::Push, Mode::Incremental);
        job.checkpoint = serde_json::json!({"phase": "second", "page": -1});
        w.store.insert_job(&job);
        match w.slice(&job.id, Budget::Checks(100)).await {
            Err(SyncError::Fatal(m)) => {
                assert!(m.contains("checkpoint cannot be read"), "{m}")
            }
            other => panic!("expected a fatal error naming the checkpoint: {other:?}"),
        }
        assert!(w.api.calls().is_empty(), "nothing was exported again");
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 0);
    });
}

#[test]
fn a_slice_that_runs_out_of_budget_resumes_where_it_stopped() {
    block_on(async {
        let w = World::new();
        w.upsert_customers((0..7).map(|i| customer(i, "Kund", None)).collect())
            .await;
        let job = w.job(Direction::Push, Mode::Incremental);
        let mut slices = 0;
        loop {
            slices += 1;
            match w.slice(&job.id, Budget::Checks(3)).await.unwrap() {
                crate::sync::SliceOutcome::Finished => break,
                crate::sync::SliceOutcome::MoreWork | crate::sync::SliceOutcome::Settling(_) => {
                    assert!(slices < 50)
                }
            }
        }
        assert!(slices > 2, "ran as {slices} slices");
        assert_eq!(w.api.customers().len(), 7);
        assert_eq!(w.store.job(&job.id).unwrap().progress.done, 7);
    });
}

#[test]
fn a_change_made_while_a_create_was_in_doubt_is_still_exported() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![customer(1, "First", None)]).await;
        // The create commits, its answer is lost, and so is the lookup after it.
        w.api.script([Fault::AfterCommit, Fault::Fail]);
        let job = w.job(Direction::Push, Mode::Incremental);
        assert!(w.slice(&job.id, Budget::Checks(100)).await.is_err());
        w.upsert_customers(vec![customer(1, "Second", None)]).await;
        w.run(Direction::Push, Mode::Incremental).await;
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 1);
        assert_eq!(
            w.store.all_pendings("i1", Entity::Customers).len(),
            1,
            "adopting the first version does not mark the second one exported"
        );
        w.run(Direction::Push, Mode::Incremental).await;
        assert_eq!(w.api.customers().len(), 1);
        assert_eq!(name_at_provider(&w), "Second");
        assert!(w.store.all_pendings("i1", Entity::Customers).is_empty());
    });
}

#[test]
fn a_create_that_lands_late_is_adopted_and_never_sent_twice() {
    block_on(async {
        let mut w = World::new();
        w.settle = Duration::from_secs(3600);
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.api.script([Fault::Late]);
        let job = w.job(Direction::Push, Mode::Incremental);
        for round in 0..3 {
            let r = w.slice(&job.id, Budget::Checks(100)).await;
            assert!(
                matches!(r, Ok(SliceOutcome::Settling(_))),
                "round {round}: {r:?}"
            );
            let saved = w.store.job(&job.id).expect("job");
            assert_eq!(
                saved.progress.in_doubt, 1,
                "the job shows the record in doubt"
            );
        }
        let calls = w.api.calls();
        assert_eq!(
            creates_in(&calls, "create customers c1").len(),
            1,
            "{calls:?}"
        );
        assert!(
            creates_in(&calls, "find customers c1").len() >= 3,
            "looked up again each round: {calls:?}"
        );
        w.api.commit_late();
        let r = w.slice(&job.id, Budget::Checks(100)).await;
        assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 1);
        let maps = w.store.all_mappings("i1", Entity::Customers);
        assert_eq!(
            maps[0].remote_id.as_deref(),
            Some(w.remote_customer("c1").as_str())
        );
        assert!(maps[0].create_pending_since.is_none());
        let saved = w.store.job(&job.id).expect("job");
        assert_eq!((saved.progress.in_doubt, saved.progress.done), (0, 1));
        assert!(w.store.all_pendings("i1", Entity::Customers).is_empty());
    });
}

#[test]
fn an_invoice_waits_for_its_customer_in_doubt_instead_of_failing() {
    block_on(async {
        let mut w = World::new();
        w.settle = Duration::from_secs(3600);
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.upsert_invoices(vec![invoice(1, 1)]).await;
        w.api.script([Fault::Late]);
        let job = w.job(Direction::Push, Mode::Incremental);
        let r = w.slice(&job.id, Budget::Checks(100)).await;
        assert!(matches!(r, Ok(SliceOutcome::Settling(_))), "{r:?}");
        let saved = w.store.job(&job.id).expect("job");
        assert_eq!((saved.progress.in_doubt, saved.progress.failed), (2, 0));
        assert!(creates_in(&w.api.calls(), "create invoices i1").is_empty());
        w.api.commit_late();
        let r = w.slice(&job.id, Budget::Checks(100)).await;
        assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 1);
        assert_eq!(w.api.creates(Entity::Invoices, "i1"), 1);
        let invs = w.api.invoices();
        assert!(
            invs.len() == 1 && invs[0].3,
            "one complete invoice: {invs:?}"
        );
        assert!(w.store.all_pendings("i1", Entity::Invoices).is_empty());
    });
}

#[test]
fn a_provider_record_that_cannot_be_read_is_set_aside_and_read_again_by_the_next_pull() {
    block_on(async {
        let w = World::new();
        let at = Utc::now() - Ch::minutes(10);
        let ids: Vec<String> = (1..=5)
            .map(|i| w.api.insert_customer(customer(i, "Kund", None), None, at))
            .collect();
        // The third of five, in the middle of the second page (two a page).
        w.api.set_unreadable(&ids[2], true);
        let job = w.run(Direction::Pull, Mode::Incremental).await;
        assert_eq!(
            (job.progress.done, job.progress.failed),
            (4, 1),
            "the rest went on"
        );
        let set_aside = w.store.quarantined("i1", None, 10).await.unwrap();
        assert_eq!(set_aside.len(), 1);
        let q = &set_aside[0];
        assert_eq!((q.side, q.id.as_str()), (Side::Provider, ids[2].as_str()));
        assert_eq!(q.field.as_deref(), Some("Name"));
        assert!(q.message.contains("unexpected shape"), "{q:?}");
        assert_eq!(w.store.all_feed("i1", Entity::Customers).len(), 4);

        // Fixed at the provider without a change the incremental listing would show: the next
        // pull reads it again from the quarantine.
        w.api.set_unreadable(&ids[2], false);
        let job = w.run(Direction::Pull, Mode::Incremental).await;
        assert_eq!(job.progress.failed, 0);
        assert!(w
            .store
            .quarantined("i1", None, 10)
            .await
            .unwrap()
            .is_empty());
        let feed = w.store.all_feed("i1", Entity::Customers);
        assert_eq!(feed.len(), 5, "{feed:?}");
        assert_eq!(feed[4].remote_id, ids[2]);
    });
}

#[test]
fn an_app_record_the_provider_refuses_is_set_aside_and_tried_again_by_the_next_job() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![
            customer(1, "Bygg AB", None),
            customer(2, "Måleri AB", None),
        ])
        .await;
        w.api.script([Fault::Refuse]);
        let job = w.run(Direction::Push, Mode::Incremental).await;
        assert_eq!((job.progress.done, job.progress.failed), (1, 1));
        let q = w.store.quarantined("i1", None, 10).await.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!((q[0].side, q[0].id.as_str()), (Side::App, "c1"));
        assert_eq!(q[0].field.as_deref(), Some("name"));
        assert_eq!(q[0].job_id, job.id);
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 0);

        // The next job, with no change by the app, tries it again; this time it goes through.
        let job = w.run(Direction::Push, Mode::Incremental).await;
        assert_eq!((job.progress.done, job.progress.failed), (1, 0));
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 1);
        assert!(w
            .store
            .quarantined("i1", None, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(w.store.all_pendings("i1", Entity::Customers).is_empty());
    });
}

#[test]
fn an_idle_job_is_not_saved_by_the_engine_and_a_busy_one_is() {
    block_on(async {
        let w = World::new();
        // Nothing pending, nothing at the provider: every phase idle. The worker saves the job
        // when it starts and when it ends (here: `World::slice`); the engine adds nothing (it
        // saved after every phase and every empty push page before: 15 writes for an idle
        // Visma poll).
        let idle = w.job(Direction::Both, Mode::Incremental);
        let before = w.store.job_saves();
        let r = w.slice(&idle.id, Budget::Checks(1000)).await;
        assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
        assert_eq!(
            w.store.job_saves(),
            before + 1,
            "an idle slice saved its job"
        );

        // With work to do, progress is saved as it is made, once: the export's page (its end
        // adds nothing new), the pull of customers that reads the export back (another phase
        // follows), then the finished job; the last phase's end is not saved apart.
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        let busy = w.job(Direction::Both, Mode::Incremental);
        let before = w.store.job_saves();
        let r = w.slice(&busy.id, Budget::Checks(1000)).await;
        assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
        assert_eq!(w.store.job_saves(), before + 3, "saves of a small export");
        assert_eq!(w.store.job(&busy.id).expect("job").progress.done, 1);
    });
}

#[test]
fn one_look_spares_each_phase_its_query_when_nothing_waits_and_work_still_goes_through() {
    block_on(async {
        let w = World::new();
        // Nothing pending, nothing set aside: one query each for the push and the pull phases
        // of both entities (four before; eight for an idle job of all four entities, bench/cost).
        let idle = w.job(Direction::Both, Mode::Incremental);
        let r = w.slice(&idle.id, Budget::Checks(1000)).await;
        assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
        assert_eq!(w.store.pending_queries(), 1, "pending exports looked for");
        assert_eq!(
            w.store.quarantine_queries(),
            1,
            "records set aside looked for"
        );

        // An invoice waits (with the customer it names): the look finds it and each push
        // phase reads its own entity's; both are exported.
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.upsert_invoices(vec![invoice(1, 1)]).await;
        let busy = w.job(Direction::Push, Mode::Incremental);
        let r = w.slice(&busy.id, Budget::Checks(1000)).await;
        assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
        assert_eq!(
            w.store.pending_queries(),
            1 + 1 + 2,
            "each phase read its own"
        );
        assert_eq!(w.api.creates(Entity::Customers, "c1"), 1);
        assert_eq!(w.api.creates(Entity::Invoices, "i1"), 1);
        assert!(w.store.all_pendings("i1", Entity::Invoices).is_empty());
    });
}

#[test]
fn a_job_writes_its_marks_once_a_slice_even_when_a_later_phase_fails() {
    block_on(async {
        let w = World::new();
        w.api
            .insert_customer(customer(1, "Bygg AB", None), None, Utc::now());
        // The customers' list answers; the invoices' list fails.
        w.api.script([Fault::None, Fault::Fail]);
        let job = w.job(Direction::Both, Mode::Incremental);
        let r = w.slice(&job.id, Budget::Checks(100)).await;
        assert!(matches!(r, Err(SyncError::Retryable { .. })), "{r:?}");
        assert_eq!(w.api.faults_left(), 0, "both faults fell");
        assert_eq!(w.store.marks_writes(), 1, "one write for every phase done");
        assert_eq!(w.store.marks_reads(), 1, "one read for both pull phases");
        let hw = w
            .store
            .pull_checkpoints("i1")
            .await
            .unwrap()
            .get(&Entity::Customers)
            .copied();
        assert!(hw.is_some(), "the customers' pull mark reached the store");
        assert_eq!(
            w.store
                .pull_checkpoints("i1")
                .await
                .unwrap()
                .get(&Entity::Invoices)
                .copied(),
            None
        );

        let r = w.slice(&job.id, Budget::Checks(100)).await;
        assert!(matches!(r, Ok(SliceOutcome::Finished)), "{r:?}");
        assert_eq!(w.store.marks_writes(), 2);
        assert!(w
            .store
            .pull_checkpoints("i1")
            .await
            .unwrap()
            .get(&Entity::Invoices)
            .copied()
            .is_some());
        assert!(
            w.store
                .pull_checkpoints("i1")
                .await
                .unwrap()
                .get(&Entity::Customers)
                .copied()
                >= hw
        );
    });
}
