//! The stored offsets against moto: only the run that last took them moves them.

use super::stack;
use std::collections::BTreeMap;

fn offsets(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(t, o)| (t.to_string(), o.to_string()))
        .collect()
}

#[tokio::test]
async fn only_the_run_that_took_the_offsets_last_moves_them_and_the_next_run_reads_what_it_saved() {
    let stack = stack(0).await;
    let db = &stack.direct.db;
    // The first run: nothing stored yet.
    assert!(db.take_stream_offsets("run-a").await.unwrap().is_empty());
    let a = offsets(&[("customers", "5"), ("invoices", "3")]);
    assert!(db.save_stream_offsets("run-a", &a).await.unwrap());
    // A run that never took them cannot save.
    let stray = offsets(&[("customers", "99")]);
    assert!(!db.save_stream_offsets("run-x", &stray).await.unwrap());
    assert_eq!(db.stream_offsets().await.unwrap(), a);
    // The next run takes over and reads what the first one saved, in the same request.
    assert_eq!(db.take_stream_offsets("run-b").await.unwrap(), a);
    // The first run's late save is refused and changes nothing: it learns it lost the stream.
    let late = offsets(&[("customers", "9"), ("invoices", "4")]);
    assert!(!db.save_stream_offsets("run-a", &late).await.unwrap());
    assert_eq!(db.stream_offsets().await.unwrap(), a);
    // The new holder's saves land.
    let b = offsets(&[("customers", "7"), ("invoices", "3")]);
    assert!(db.save_stream_offsets("run-b", &b).await.unwrap());
    assert_eq!(db.stream_offsets().await.unwrap(), b);
    // Nothing to save is no write (and no refusal).
    assert!(db
        .save_stream_offsets("run-a", &BTreeMap::new())
        .await
        .unwrap());
}
