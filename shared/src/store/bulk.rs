//! Many writes under one integration in as few DynamoDB calls as the guarantees allow.
//!
//! - Up to 25 items: one `BatchWriteItem` (the cheapest per item).
//! - More: `TransactWriteItems` of up to 100 actions and 4 MB each ("TransactWriteItems can
//!   group up to 100 action requests", DynamoDB API reference, raised from 25 in 2022), so a
//!   pull page of 500 records (2,000 items) takes 20 calls instead of 80. Each chunk is all or
//!   nothing; a transaction is billed twice per item, so small writes keep the batch.
//! - A feed head to advance rides in the last chunk: it moves only once every item before it
//!   is written, as `advance_feed_head` promises, without a call of its own.

use super::item::{s, Item};
use super::jobs::integration_pk;
use super::records::Write;
use super::{Db, StoreError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use std::collections::HashMap;

/// Most items in one `BatchWriteItem`.
const BATCH_ITEMS: usize = 25;
/// Most actions in one `TransactWriteItems`.
const TRANSACTION_ACTIONS: usize = 100;
/// Most bytes of items in one transaction: DynamoDB's 4 MB, with room for keys and framing.
const TRANSACTION_BYTES: usize = 3_500_000;
/// Attempts of one call whose items were left unprocessed or whose transaction met another.
const ATTEMPTS: u32 = 10;

/// DynamoDB's size of an attribute value (names and values in UTF-8 bytes; numbers counted as
/// their text, which is never less than DynamoDB's packed form).
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(t) | AttributeValue::N(t) => t.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().map(String::len).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
        AttributeValue::M(m) => 3 + item_size(m),
        _ => 1,
    }
}

/// DynamoDB's size of an item: each attribute's name and value.
pub(super) fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Keeps the last write of each sort key, in the order of those last writes: one request may
/// not name an item twice (both `BatchWriteItem` and `TransactWriteItems` refuse it), and the
/// last write is what applying them in order would leave.
fn last_per_key(writes: Vec<Write>) -> Vec<Write> {
    let key = |w: &Write| match w {
        Write::Put(item) => item
            .get("sk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default(),
        Write::Delete(sk) => sk.clone(),
    };
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        last.insert(key(w), i);
    }
    writes
        .into_iter()
        .enumerate()
        .filter(|(i, w)| last.get(&key(w)) == Some(i))
        .map(|(_, w)| w)
        .collect()
}

/// Splits `sizes` into consecutive chunks of at most `TRANSACTION_ACTIONS` actions and
/// `TRANSACTION_BYTES` bytes (an item alone over the bytes goes alone); gives each chunk's end.
fn chunk_ends(sizes: &[usize]) -> Vec<usize> {
    let mut ends = Vec::new();
    let (mut count, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        if count > 0 && (count == TRANSACTION_ACTIONS || bytes + size > TRANSACTION_BYTES) {
            ends.push(i);
            count = 0;
            bytes = 0;
        }
        count += 1;
        bytes += size;
    }
    if count > 0 {
        ends.push(sizes.len());
    }
    ends
}

/// Backoff before attempt `attempt + 1`.
async fn pause(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6))).await;
}

impl Db {
    /// Applies puts and deletes (a later write of the same key wins) and then, when given,
    /// makes the feed readable up to `head`. Gives the number of write calls made.
    pub async fn write_all(
        &self,
        writes: Vec<Write>,
        integration_id: &str,
        head: Option<u64>,
    ) -> Result<usize, StoreError> {
        let writes = last_per_key(writes);
        if writes.len() <= BATCH_ITEMS {
            let mut calls = self.write_batch(writes, integration_id).await?;
            if let Some(seq) = head {
                self.advance_feed_head(integration_id, seq).await?;
                calls += 1;
            }
            return Ok(calls);
        }
        let pk = integration_pk(integration_id);
        let sizes: Vec<usize> = writes
            .iter()
            .map(|w| match w {
                Write::Put(item) => item_size(item),
                Write::Delete(sk) => pk.len() + sk.len() + 4,
            })
            .collect();
        let ends = chunk_ends(&sizes);
        let mut actions = writes
            .into_iter()
            .map(|w| self.action(w, &pk))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let (mut calls, mut start) = (0, 0);
        for (n, end) in ends.iter().enumerate() {
            let mut chunk: Vec<TransactWriteItem> = actions.by_ref().take(end - start).collect();
            start = *end;
            let last = n + 1 == ends.len();
            let with_head = match head {
                Some(seq) if last && chunk.len() < TRANSACTION_ACTIONS => {
                    chunk.push(self.head_action(&pk, seq)?);
                    true
                }
                _ => false,
            };
            calls += self.transact(chunk, with_head).await?;
            if last && !with_head {
                if let Some(seq) = head {
                    self.advance_feed_head(integration_id, seq).await?;
                    calls += 1;
                }
            }
        }
        Ok(calls)
    }

    fn action(&self, w: Write, pk: &str) -> Result<TransactWriteItem, StoreError> {
        Ok(match w {
            Write::Put(item) => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(item))
                        .build()
                        .map_err(StoreError::dynamo)?,
                )
                .build(),
            Write::Delete(sk) => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(self.table())
                        .key("pk", s(pk))
                        .key("sk", s(sk))
                        .build()
                        .map_err(StoreError::dynamo)?,
                )
                .build(),
        })
    }

    /// `advance_feed_head`'s update as a transaction action.
    fn head_action(&self, pk: &str, seq: u64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table())
            .key("pk", s(pk))
            .key("sk", s("SEQ"))
            .update_expression("SET head = :s")
            .condition_expression("attribute_not_exists(head) OR head < :s")
            .expression_attribute_values(":s", super::item::n(seq as i64))
            .build()
            .map_err(StoreError::dynamo)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Sends one transaction; again after a conflict with another writer or throttling. When
    /// `with_head` (its last action) alone failed its condition, the head is already further
    /// on: the items are sent again without it. Gives the calls made.
    async fn transact(
        &self,
        mut chunk: Vec<TransactWriteItem>,
        mut with_head: bool,
    ) -> Result<usize, StoreError> {
        let mut calls = 0;
        for attempt in 0..ATTEMPTS {
            calls += 1;
            let res = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(chunk.clone()))
                .client_request_token(uuid::Uuid::new_v4().to_string())
                .send()
                .await;
            let err = match res {
                Ok(_) => return Ok(calls),
                Err(e) => e,
            };
            let reasons: Vec<String> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_string())
                    .collect(),
                _ => Vec::new(),
            };
            let failed: Vec<(usize, &str)> = reasons
                .iter()
                .enumerate()
                .filter(|(_, c)| c.as_str() != "None")
                .map(|(i, c)| (i, c.as_str()))
                .collect();
            let head_only = with_head
                && failed.len() == 1
                && failed[0] == (chunk.len() - 1, "ConditionalCheckFailed");
            let transient = !failed.is_empty()
                && failed
                    .iter()
                    .all(|(_, c)| matches!(*c, "TransactionConflict" | "ThrottlingError"));
            if head_only {
                chunk.pop();
                with_head = false;
            } else if !transient || attempt + 1 == ATTEMPTS {
                return Err(StoreError::dynamo(err));
            } else {
                pause(attempt).await;
            }
        }
        Err(StoreError::Aws {
            service: "DynamoDB",
            message: "a transaction kept meeting other writers".into(),
        })
    }

    /// Applies puts and deletes with `BatchWriteItem`, 25 per call, retrying unprocessed
    /// items. Gives the number of calls made.
    pub async fn write_batch(
        &self,
        writes: Vec<Write>,
        integration_id: &str,
    ) -> Result<usize, StoreError> {
        let pk = integration_pk(integration_id);
        let requests: Vec<WriteRequest> = writes
            .into_iter()
            .map(|w| match w {
                Write::Put(item) => PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build()),
                Write::Delete(sk) => DeleteRequest::builder()
                    .key("pk", s(&pk))
                    .key("sk", s(sk))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build()),
            })
            .collect::<Result<_, _>>()
            .map_err(StoreError::dynamo)?;
        self.send_batches(requests).await
    }

    /// Sends write requests with `BatchWriteItem`, 25 per call, sending what DynamoDB left
    /// unprocessed again after a pause. Gives the number of calls made.
    pub(super) async fn send_batches(
        &self,
        requests: Vec<WriteRequest>,
    ) -> Result<usize, StoreError> {
        let mut calls = 0;
        for chunk in requests.chunks(BATCH_ITEMS) {
            let mut pending = chunk.to_vec();
            for attempt in 0..ATTEMPTS {
                calls += 1;
                let out = self
                    .client()
                    .batch_write_item()
                    .request_items(self.table(), pending)
                    .send()
                    .await
                    .map_err(StoreError::dynamo)?;
                pending = out
                    .unprocessed_items()
                    .and_then(|m| m.get(self.table()))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt + 1 == ATTEMPTS {
                    return Err(StoreError::Aws {
                        service: "DynamoDB",
                        message: format!("{} writes left unprocessed", pending.len()),
                    });
                }
                pause(attempt).await;
            }
        }
        Ok(calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(sk: &str, v: &str) -> Write {
        let mut it = Item::new();
        it.insert("sk".into(), s(sk));
        it.insert("v".into(), s(v));
        Write::Put(it)
    }

    fn shown(w: &[Write]) -> Vec<String> {
        w.iter()
            .map(|w| match w {
                Write::Put(it) => format!(
                    "put {} {}",
                    it["sk"].as_s().unwrap(),
                    it["v"].as_s().unwrap()
                ),
                Write::Delete(sk) => format!("delete {sk}"),
            })
            .collect()
    }

    #[test]
    fn the_last_write_of_a_key_wins_in_its_place() {
        let w = vec![
            put("A", "1"),
            put("B", "1"),
            Write::Delete("A".into()),
            put("C", "1"),
            put("B", "2"),
        ];
        assert_eq!(shown(&last_per_key(w)), ["delete A", "put C 1", "put B 2"]);
    }

    #[test]
    fn chunks_hold_at_most_100_actions_and_the_byte_limit() {
        assert_eq!(chunk_ends(&[10; 250]), [100, 200, 250]);
        assert_eq!(chunk_ends(&[]), Vec::<usize>::new());
        // 400 KB items: eight fit in 3.5 MB, the ninth starts a new chunk.
        assert_eq!(chunk_ends(&[400_000; 10]), [8, 10]);
        // An item alone over the limit still goes (DynamoDB judges it).
        assert_eq!(chunk_ends(&[4_000_000, 1]), [1, 2]);
    }

    #[test]
    fn sizes_count_names_and_values() {
        let mut it = Item::new();
        it.insert("pk".into(), s("INTEGRATION#1"));
        it.insert("n".into(), super::super::item::n(12345));
        assert_eq!(item_size(&it), 2 + 13 + 1 + 5);
    }
}
