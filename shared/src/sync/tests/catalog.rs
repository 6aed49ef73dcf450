//! Articles and projects through the engine: a project waits for its customer and names the
//! provider's customer, a project made at the provider names ours, and an article whose create
//! lost its answer is found by its number, never created twice.

use super::{block_on, customer, World};
use crate::domain::article::tests::sample as article;
use crate::domain::project::tests::sample as project;
use crate::domain::{Direction, Entity, Mode, Trigger};
use crate::jobs::{new_job, JobRequest};
use crate::mocks::Fault;
use crate::records::stage;
use crate::store::SyncStore;
use crate::sync::{Budget, SliceOutcome};
use chrono::Utc;

impl World {
    /// Runs a job over every entity to its end; panics when a slice fails.
    async fn run_all(&self, direction: Direction) {
        let job = new_job(
            &self.integration,
            &JobRequest {
                direction,
                entities: Entity::ALL.to_vec(),
                mode: Mode::Incremental,
                trigger: Trigger::Manual,
                target: None,
                not_before: None,
            },
            Utc::now(),
        );
        self.store.insert_job(&job);
        for _ in 0..100 {
            match self.slice(&job.id, Budget::Checks(1000)).await {
                Ok(SliceOutcome::Finished) => return,
                Ok(_) => {}
                Err(e) => panic!("slice failed: {e}"),
            }
        }
        panic!("the job did not finish");
    }
}

#[test]
fn a_project_goes_after_its_customer_and_names_the_providers_customer() {
    block_on(async {
        let w = World::new();
        // The project is staged before its customer; the job still exports the customer first.
        let mut p = project();
        p.customer_id = Some("c1".into());
        stage(&w.store, "i1", vec![p]).await.expect("stage");
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.run_all(Direction::Push).await;
        let projects = w.api.projects();
        assert_eq!(projects.len(), 1, "{projects:?}");
        assert_eq!(
            projects[0].2.as_deref(),
            Some(w.remote_customer("c1").as_str())
        );
        let maps = w.store.all_mappings("i1", Entity::Projects);
        assert_eq!(maps.len(), 1);
        assert_eq!(maps[0].remote_id.as_deref(), Some(projects[0].0.as_str()));
    });
}

#[test]
fn a_project_made_at_the_provider_reaches_the_feed_naming_our_customer() {
    block_on(async {
        let w = World::new();
        w.upsert_customers(vec![customer(1, "Bygg AB", None)]).await;
        w.run_all(Direction::Push).await;
        let mut p = project();
        p.id = String::new();
        p.number = "P-77".into();
        let remote = w
            .api
            .insert_project(p, Some(&w.remote_customer("c1")), Utc::now());
        w.run_all(Direction::Pull).await;
        let feed = w
            .store
            .feed("i1", &[Entity::Projects], 0, 10)
            .await
            .expect("feed");
        assert_eq!(feed.len(), 1, "{feed:?}");
        let doc = feed[0].record.clone().expect("an upsert");
        assert_eq!(doc["number"], "P-77");
        assert_eq!(doc["customer_id"], "c1");
        assert_eq!(feed[0].our_id, format!("fortnox-{remote}"));
    });
}

#[test]
fn an_article_whose_create_lost_its_answer_is_found_by_number_not_created_twice() {
    block_on(async {
        let w = World::new();
        stage(&w.store, "i1", vec![article()]).await.expect("stage");
        w.api.script([Fault::AfterCommit]);
        w.run_all(Direction::Push).await;
        assert_eq!(w.api.creates(Entity::Articles, "art-1"), 1);
        let calls = w.api.calls();
        assert!(
            calls.iter().any(|c| c == "find articles GIPS-13"),
            "looked up by number: {calls:?}"
        );
        let maps = w.store.all_mappings("i1", Entity::Articles);
        assert_eq!(maps.len(), 1);
        assert!(maps[0].create_pending_since.is_none());
        assert_eq!(w.api.articles().len(), 1);
    });
}
