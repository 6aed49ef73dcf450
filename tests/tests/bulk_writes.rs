//! The store's bulk writes (`shared/src/store/bulk.rs`) against moto through the real SDK: a
//! large write goes in transactions of 100 actions with the feed head in the last, a small one
//! in one batch, a later write of a key wins, and a head already further on neither fails the
//! write nor moves back. Also the devstack's repair of moto's transactions
//! (`local/devstack/src/moto_launcher.py`): a cancelled transaction still leaves every item as
//! it was. And the freshness marks (`shared/src/store/marks.rs`): one write for every entity,
//! never moving a mark backwards, reading the earlier layout's items until then.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use shared::store::item::{s, Item};
use shared::store::records::Write;
use shared::store::Db;

async fn table() -> (devstack::moto::Moto, aws_sdk_dynamodb::Client, String) {
    let moto = devstack::moto::start_own(0).await.unwrap();
    let sdk = devstack::aws::sdk_config(&moto.endpoint).await;
    let name = "bulk".to_string();
    devstack::aws::create_table(&sdk, &name).await.unwrap();
    (moto, aws_sdk_dynamodb::Client::new(&sdk), name)
}

const IID: &str = "int-1";
const PK: &str = "INTEGRATION#int-1";

fn put(sk: &str, v: &str) -> Write {
    let mut it = Item::new();
    it.insert("pk".into(), s(PK));
    it.insert("sk".into(), s(sk));
    it.insert("v".into(), s(v));
    Write::Put(it)
}

async fn value(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    sk: &str,
    attr: &str,
) -> Option<String> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", s(PK))
        .key("sk", s(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item().and_then(|i| i.get(attr)).map(|v| match v {
        AttributeValue::S(t) | AttributeValue::N(t) => t.clone(),
        other => format!("{other:?}"),
    })
}

async fn count(db: &Db, prefix: &str) -> usize {
    let (mut n, mut after) = (0, None);
    loop {
        let page = db
            .query_prefix(IID, prefix, after.as_deref(), 500)
            .await
            .unwrap();
        n += page.items.len();
        match page.next {
            Some(k) => after = Some(k),
            None => return n,
        }
    }
}

#[tokio::test]
async fn a_large_write_takes_transactions_of_100_with_the_head_in_the_last() {
    let (_moto, client, name) = table().await;
    let db = Db::new(client.clone(), &name);
    let writes = (0..130)
        .map(|i| put(&format!("FEED#x#{i:04}"), "a"))
        .collect();
    let calls = db.write_all(writes, IID, Some(130)).await.unwrap();
    assert_eq!(calls, 2, "100 items, then 30 items and the head");
    assert_eq!(count(&db, "FEED#x#").await, 130);
    assert_eq!(
        value(&client, &name, "SEQ", "head").await.as_deref(),
        Some("130")
    );

    // A small write: one batch, and the head on its own.
    let writes = (0..10).map(|i| put(&format!("LOCAL#x#{i}"), "b")).collect();
    assert_eq!(db.write_all(writes, IID, Some(140)).await.unwrap(), 2);
    assert_eq!(count(&db, "LOCAL#x#").await, 10);
    assert_eq!(
        value(&client, &name, "SEQ", "head").await.as_deref(),
        Some("140")
    );

    // Exactly 100 items: the head has no room and follows in a call of its own.
    let writes = (0..100).map(|i| put(&format!("MAP#x#{i}"), "c")).collect();
    assert_eq!(db.write_all(writes, IID, Some(150)).await.unwrap(), 2);
    assert_eq!(
        value(&client, &name, "SEQ", "head").await.as_deref(),
        Some("150")
    );
}

#[tokio::test]
async fn a_later_write_of_a_key_wins_and_a_head_further_on_stays() {
    let (_moto, client, name) = table().await;
    let db = Db::new(client.clone(), &name);
    db.advance_feed_head(IID, 1_000).await.unwrap();
    let mut writes: Vec<Write> = (0..60).map(|i| put(&format!("MAP#x#{i}"), "old")).collect();
    writes.push(put("MAP#x#7", "new"));
    // The head's condition fails alone: the items are sent again without it (one more call).
    let calls = db.write_all(writes, IID, Some(500)).await.unwrap();
    assert_eq!(calls, 2);
    assert_eq!(count(&db, "MAP#x#").await, 60);
    assert_eq!(
        value(&client, &name, "MAP#x#7", "v").await.as_deref(),
        Some("new")
    );
    assert_eq!(
        value(&client, &name, "MAP#x#8", "v").await.as_deref(),
        Some("old")
    );
    assert_eq!(
        value(&client, &name, "SEQ", "head").await.as_deref(),
        Some("1000")
    );
}

#[tokio::test]
async fn a_cancelled_transaction_leaves_every_item_as_it_was() {
    let (_moto, client, name) = table().await;
    let db = Db::new(client.clone(), &name);
    db.write_all(vec![put("A", "1"), put("B", "1")], IID, None)
        .await
        .unwrap();
    let put_action = |sk: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&name)
                    .item("pk", s(PK))
                    .item("sk", s(sk))
                    .item("v", s("changed"))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let failing = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(&name)
                .key("pk", s(PK))
                .key("sk", s("B"))
                .update_expression("SET v = :v")
                .condition_expression("v = :no")
                .expression_attribute_values(":v", s("changed"))
                .expression_attribute_values(":no", s("never"))
                .build()
                .unwrap(),
        )
        .build();
    let err = client
        .transact_write_items()
        .transact_items(put_action("A"))
        .transact_items(put_action("NEW"))
        .transact_items(failing)
        .send()
        .await
        .expect_err("the condition fails");
    let canceled = err.into_service_error();
    assert!(canceled.is_transaction_canceled_exception(), "{canceled:?}");
    assert_eq!(value(&client, &name, "A", "v").await.as_deref(), Some("1"));
    assert_eq!(value(&client, &name, "B", "v").await.as_deref(), Some("1"));
    assert_eq!(value(&client, &name, "NEW", "v").await, None);
}

async fn high_water(db: &Db, e: shared::domain::Entity) -> Option<chrono::DateTime<chrono::Utc>> {
    db.marks(IID)
        .await
        .unwrap()
        .get(&e)
        .and_then(|m| m.high_water)
}

fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

#[tokio::test]
async fn marks_take_one_item_never_move_back_and_read_the_earlier_layout_until_then() {
    use shared::domain::Entity;
    use shared::store::marks::Marks;
    let (_moto, client, name) = table().await;
    let db = Db::new(client.clone(), &name);
    // An integration from before: an item per entity.
    let mut old = Item::new();
    old.insert("pk".into(), s(PK));
    old.insert("sk".into(), s("CHECKPOINT#invoices"));
    old.insert("high_water".into(), s("2023-11-14T22:13:30.000Z"));
    old.insert("last_push_at".into(), s("2023-11-14T22:13:31.000Z"));
    client
        .put_item()
        .table_name(&name)
        .set_item(Some(old))
        .send()
        .await
        .unwrap();
    assert_eq!(high_water(&db, Entity::Invoices).await, Some(at(10)));
    assert_eq!(high_water(&db, Entity::Customers).await, None);

    // A job's marks for two entities: one item.
    let mut m = Marks::default();
    m.pushed(Entity::Customers, at(20));
    m.pulled(Entity::Customers, at(30), Some(at(25)), at(31));
    m.pulled(Entity::Projects, at(30), None, at(32));
    db.record_marks(IID, &m).await.unwrap();
    assert_eq!(
        value(&client, &name, "CHECKPOINT", "customers_high_water")
            .await
            .as_deref(),
        Some("2023-11-14T22:13:50.000Z")
    );
    assert_eq!(high_water(&db, Entity::Customers).await, Some(at(30)));
    let fresh = db.freshness(IID).await.unwrap();
    let of = |e: Entity| fresh.iter().find(|f| f.entity == e).unwrap().clone();
    assert_eq!(of(Entity::Customers).last_push_at, Some(at(20)));
    assert_eq!(of(Entity::Customers).last_pull_at, Some(at(31)));
    assert_eq!(of(Entity::Customers).lag_seconds, Some(6));
    assert_eq!(of(Entity::Projects).last_pull_at, Some(at(32)));
    assert_eq!(
        of(Entity::Invoices).last_push_at,
        Some(at(11)),
        "still read from the earlier layout"
    );
    assert_eq!(of(Entity::Articles).last_pull_at, None);

    // A later job with a mark behind the stored one (a slower writer): that mark stays, the
    // rest is written.
    let mut m = Marks::default();
    m.pulled(Entity::Customers, at(28), Some(at(40)), at(41));
    m.pulled(Entity::Invoices, at(50), None, at(51));
    db.record_marks(IID, &m).await.unwrap();
    assert_eq!(
        high_water(&db, Entity::Customers).await,
        Some(at(30)),
        "never backwards"
    );
    assert_eq!(high_water(&db, Entity::Invoices).await, Some(at(50)));
    let fresh = db.freshness(IID).await.unwrap();
    let of = |e: Entity| fresh.iter().find(|f| f.entity == e).unwrap().clone();
    assert_eq!(of(Entity::Customers).last_pull_at, Some(at(41)));
    assert_eq!(of(Entity::Customers).newest_change_at, Some(at(40)));
    assert_eq!(of(Entity::Customers).lag_seconds, Some(1));
    // The earlier layout's marks moved into the item with its first write.
    assert_eq!(of(Entity::Invoices).last_push_at, Some(at(11)));
    assert_eq!(
        value(&client, &name, "CHECKPOINT", "invoices_last_push_at")
            .await
            .as_deref(),
        Some("2023-11-14T22:13:31.000Z")
    );
}

#[tokio::test]
async fn the_feed_of_several_entities_merges_them_in_seq_order_up_to_the_head() {
    use shared::domain::Entity;
    use shared::store::records::FeedEntry;
    let (_moto, client, name) = table().await;
    let db = Db::new(client, &name);
    // Customers and invoices interleaved on one sequence; 9 and 10 are past the head (a batch
    // not written whole yet).
    let entity = |seq: u64| match seq % 3 {
        0 => Entity::Invoices,
        _ => Entity::Customers,
    };
    let writes = (1..=10)
        .map(|seq| {
            let f = FeedEntry {
                seq,
                entity: entity(seq),
                op: "upsert".into(),
                our_id: format!("o{seq}"),
                remote_id: format!("r{seq}"),
                record: None,
                pulled_at: at(seq as i64),
            };
            Write::Put(Db::feed_item(IID, &f).unwrap())
        })
        .collect();
    db.write_all(writes, IID, Some(8)).await.unwrap();
    let both = [Entity::Customers, Entity::Invoices];
    let (mut seqs, mut cursor) = (Vec::new(), 0);
    loop {
        let page = db.feed(IID, &both, cursor, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        seqs.extend(page.iter().map(|f| (f.seq, f.entity)));
    }
    let expected: Vec<(u64, Entity)> = (1..=8).map(|s| (s, entity(s))).collect();
    assert_eq!(seqs, expected, "every entry up to the head, once, in order");
    let invoices = db.feed(IID, &[Entity::Invoices], 0, 100).await.unwrap();
    let seqs: Vec<u64> = invoices.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, vec![3, 6], "one entity alone");
    assert!(db.feed(IID, &both, 8, 100).await.unwrap().is_empty());
}
