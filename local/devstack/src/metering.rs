//! What the system would be billed for, as it runs in the devstack: each function's invocations
//! and milliseconds (timed around its handler, as Lambda bills it), the SQS requests of
//! Lambda's event source mapping (the devstack's pollers stand in for it), and the DynamoDB
//! capacity units each request consumes ([`dynamo_units`], read from the request and the
//! answer by the AWS proxy, [`crate::aws_faults`]: moto's own `ConsumedCapacity` is a
//! constant, not the real rule).
//!
//! One meter per process, since the functions run in process; [`reset`] starts it afresh.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One function's use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionUse {
    /// Invocations.
    pub invocations: u64,
    /// Wall time inside the handler, all invocations together, milliseconds.
    pub ms: f64,
}

/// The time a function's containers waited on AWS (moto, behind the proxy).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AwsWait {
    /// Requests.
    pub requests: u64,
    /// Milliseconds in which at least one request of a container was in flight, summed over
    /// its containers (requests in flight together count once).
    pub ms: f64,
}

#[derive(Default)]
struct ContainerWait {
    in_flight: u32,
    since: Option<Instant>,
    wait: AwsWait,
}

#[derive(Default)]
struct Meter {
    functions: BTreeMap<String, FunctionUse>,
    /// SQS requests of the event source mapping, by operation.
    esm: BTreeMap<String, u64>,
    /// Waits on AWS by container (`<function>-<n>`).
    waits: BTreeMap<String, ContainerWait>,
}

static METER: Mutex<Option<Meter>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Meter) -> R) -> R {
    let mut m = METER.lock().expect("meter lock");
    f(m.get_or_insert_with(Meter::default))
}

/// Notes one invocation of `function` that took `took`.
pub fn invoked(function: &str, took: Duration) {
    with(|m| {
        let u = m.functions.entry(function.to_string()).or_default();
        u.invocations += 1;
        u.ms += took.as_secs_f64() * 1000.0;
    });
}

/// Notes one SQS request (`ReceiveMessage`, `DeleteMessageBatch`) of the event source mapping.
pub fn esm_request(operation: &str) {
    with(|m| *m.esm.entry(operation.to_string()).or_default() += 1);
}

/// Every function's use since the last [`reset`].
pub fn functions() -> BTreeMap<String, FunctionUse> {
    with(|m| m.functions.clone())
}

/// The event source mapping's SQS requests since the last [`reset`].
pub fn esm() -> BTreeMap<String, u64> {
    with(|m| m.esm.clone())
}

/// Starts the meter afresh (requests in flight go on being timed, from now).
pub fn reset() {
    with(|m| {
        let now = Instant::now();
        let waits = std::mem::take(&mut m.waits)
            .into_iter()
            .filter(|(_, w)| w.in_flight > 0)
            .map(|(c, w)| {
                let since = Some(now);
                let wait = AwsWait::default();
                (c, ContainerWait { since, wait, ..w })
            })
            .collect();
        *m = Meter {
            waits,
            ..Meter::default()
        };
    });
}

/// A request of `container` to AWS starts; its wait lasts until the guard is dropped.
pub fn aws_request(container: &str) -> AwsRequest {
    with(|m| {
        let w = m.waits.entry(container.to_string()).or_default();
        if w.in_flight == 0 {
            w.since = Some(Instant::now());
        }
        w.in_flight += 1;
        w.wait.requests += 1;
    });
    AwsRequest(container.to_string())
}

/// A request in flight ([`aws_request`]).
pub struct AwsRequest(String);

impl Drop for AwsRequest {
    fn drop(&mut self) {
        with(|m| {
            if let Some(w) = m.waits.get_mut(&self.0) {
                w.in_flight = w.in_flight.saturating_sub(1);
                if w.in_flight == 0 {
                    if let Some(since) = w.since.take() {
                        w.wait.ms += since.elapsed().as_secs_f64() * 1000.0;
                    }
                }
            }
        });
    }
}

/// Each function's waits on AWS since the last [`reset`], its containers' (`<function>-<n>`)
/// together.
pub fn aws_waits() -> BTreeMap<String, AwsWait> {
    with(|m| {
        let mut out: BTreeMap<String, AwsWait> = BTreeMap::new();
        for (c, w) in &m.waits {
            let f = c.rsplit_once('-').map_or(c.as_str(), |(f, _)| f);
            let o = out.entry(f.to_string()).or_default();
            o.requests += w.wait.requests;
            o.ms += w.wait.ms;
        }
        out
    })
}

/// Capacity units one DynamoDB request consumed: write request units, and read request units
/// counted in halves (an eventually consistent read of up to 4 KB is half a unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Units {
    /// Write request units.
    pub write: u64,
    /// Read request units × 2.
    pub read_halves: u64,
}

/// The size DynamoDB bills an item by ("Item sizes and formats", DynamoDB developer guide):
/// each attribute's name in UTF-8 plus its value; a string by its UTF-8 length, a number by
/// about one byte per two significant digits plus one, binary by its bytes, a boolean or null
/// as one byte, a map or list as three bytes plus one per element plus its elements.
pub fn item_size(item: &serde_json::Map<String, Value>) -> u64 {
    item.iter()
        .map(|(k, v)| k.len() as u64 + value_size(v))
        .sum()
}

fn value_size(v: &Value) -> u64 {
    let Some((t, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 1;
    };
    match (t.as_str(), inner) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => {
            let digits = n.chars().filter(char::is_ascii_digit).count() as u64;
            digits.div_ceil(2) + 1
        }
        ("B", Value::String(b)) => (b.len() as u64 * 3) / 4,
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        ("L", Value::Array(l)) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        ("SS" | "NS" | "BS", Value::Array(l)) => l
            .iter()
            .map(|s| s.as_str().map_or(1, |s| s.len() as u64))
            .sum(),
        _ => 1,
    }
}

/// The items the proxy has seen whole, by key: their size, and their `gsi1` partition key
/// when they are in the table's one index (projection ALL, so an index entry is as large as
/// the item). An update or a delete, whose request does not carry the item, is billed by them.
#[derive(Default)]
pub struct KnownSizes(HashMap<String, (u64, Option<String>)>);

fn key_of(item: &serde_json::Map<String, Value>) -> Option<String> {
    let pk = item.get("pk")?.get("S")?.as_str()?;
    let sk = item.get("sk")?.get("S")?.as_str()?;
    Some(format!("{pk}\u{1}{sk}"))
}

/// The item's `gsi1` key (both parts): a put that changes either moves the index entry, which
/// DynamoDB bills as a delete of the old entry and a put of the new.
fn gsi_of(item: &serde_json::Map<String, Value>) -> Option<String> {
    let part = |k: &str| item.get(k).and_then(|v| v.get("S")).and_then(Value::as_str);
    Some(format!(
        "{}\u{1f}{}",
        part("gsi1pk")?,
        part("gsi1sk").unwrap_or_default()
    ))
}

fn kb_units(size: u64, unit: u64) -> u64 {
    size.div_ceil(unit).max(1)
}

impl KnownSizes {
    fn note(&mut self, item: &serde_json::Map<String, Value>) -> u64 {
        let size = item_size(item);
        if let Some(k) = key_of(item) {
            self.0.insert(k, (size, gsi_of(item)));
        }
        size
    }

    fn known(&self, key: Option<&serde_json::Map<String, Value>>) -> (u64, Option<String>) {
        key.and_then(key_of)
            .and_then(|k| self.0.get(&k).cloned())
            .unwrap_or((0, None))
    }

    /// Write units of a put: the larger of the old and the new item; the index entry written
    /// when the new item is indexed, and the old one deleted when its index key goes or
    /// changes.
    fn put(&mut self, item: &serde_json::Map<String, Value>) -> u64 {
        let (old, old_gsi) = self.known(Some(item));
        let new = self.note(item);
        let new_gsi = gsi_of(item);
        let mut units = kb_units(new.max(old), 1024);
        if new_gsi.is_some() {
            units += kb_units(new, 1024);
        }
        if old_gsi.is_some() && old_gsi != new_gsi {
            units += kb_units(old, 1024);
        }
        units
    }

    /// Write units of an update: the larger of the item before and after (after ≈ before plus
    /// the values set), and its index entry rewritten (out and in when the index key changes).
    fn update(&mut self, req: &serde_json::Map<String, Value>) -> u64 {
        let key = req.get("Key").and_then(Value::as_object);
        let (before, before_gsi) = self.known(key);
        let values: u64 = req
            .get("ExpressionAttributeValues")
            .and_then(Value::as_object)
            .map(|m| m.values().map(value_size).sum())
            .unwrap_or(0);
        let size = before.max(key.map(item_size).unwrap_or(0) + values);
        let rekeyed = req
            .get("UpdateExpression")
            .and_then(Value::as_str)
            .is_some_and(|e| e.contains("gsi1"));
        let mut units = kb_units(size, 1024);
        if rekeyed || before_gsi.is_some() {
            units += kb_units(size, 1024);
        }
        if rekeyed && before_gsi.is_some() {
            units += kb_units(before, 1024);
        }
        units
    }

    fn delete(&mut self, key: Option<&serde_json::Map<String, Value>>) -> u64 {
        let (size, gsi) = self.known(key);
        if let Some(k) = key.and_then(key_of) {
            self.0.remove(&k);
        }
        kb_units(size, 1024) * if gsi.is_some() { 2 } else { 1 }
    }

    /// Read halves of items read together (one Query page): their sizes summed, then rounded
    /// up to 4 KB once; a strongly consistent read costs twice an eventual one.
    fn read_together(&mut self, items: &[Value], consistent: bool) -> u64 {
        let size: u64 = items
            .iter()
            .filter_map(Value::as_object)
            .map(|i| self.note(i))
            .sum();
        kb_units(size, 4096) * if consistent { 2 } else { 1 }
    }
}

/// DynamoDB use of one operation on one kind of item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindUse {
    /// Requests.
    pub requests: u64,
    /// Write request units.
    pub write_units: u64,
    /// Read request units × 2.
    pub read_halves: u64,
}

/// The kind of item a DynamoDB request is about: the first word of the first sort key (or
/// key prefix) in it that is not a partition key's (`JOB`, `MAP`, `FEED`, `LEASE`, …).
pub fn item_kind(req: &[u8]) -> String {
    let text = String::from_utf8_lossy(req);
    for part in text.split("{\"S\":\"").skip(1) {
        let word: String = part
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        let next = part[word.len()..].chars().next();
        if !word.is_empty()
            && next == Some('#')
            && !["TENANT", "INTEGRATION", "INTEGRATIONS", "JOBS"].contains(&word.as_str())
        {
            return word;
        }
        if word == "ARTICLES" || word == "SEQ" || word == "META" || word == "BUCKET" {
            return word;
        }
    }
    "other".into()
}

fn obj(v: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    v.and_then(Value::as_object)
}

/// The capacity a DynamoDB request of `op` consumed, from its request and its answer (an
/// answer that is not a success consumed none, but a failed condition still bills its write).
pub fn dynamo_units(known: &mut KnownSizes, op: &str, req: &[u8], resp: &[u8], ok: bool) -> Units {
    let req: Value = serde_json::from_slice(req).unwrap_or(Value::Null);
    let resp: Value = serde_json::from_slice(resp).unwrap_or(Value::Null);
    let condition_failed = resp
        .get("__type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with("ConditionalCheckFailedException"));
    if !ok && !condition_failed {
        return Units::default();
    }
    let empty = serde_json::Map::new();
    let r = req.as_object().unwrap_or(&empty);
    let consistent = r.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
    match op {
        "PutItem" => Units {
            write: obj(r.get("Item")).map_or(1, |i| known.put(i)),
            read_halves: 0,
        },
        "UpdateItem" => Units {
            write: known.update(r),
            read_halves: 0,
        },
        "DeleteItem" => Units {
            write: known.delete(obj(r.get("Key"))),
            read_halves: 0,
        },
        "BatchWriteItem" => {
            let unprocessed = resp
                .get("UnprocessedItems")
                .and_then(Value::as_object)
                .map_or(0, |m| {
                    m.values().filter_map(Value::as_array).map(Vec::len).sum()
                });
            let mut write = 0;
            for reqs in obj(r.get("RequestItems"))
                .into_iter()
                .flat_map(|m| m.values())
            {
                for w in reqs.as_array().into_iter().flatten() {
                    if let Some(item) = obj(w.pointer("/PutRequest/Item")) {
                        write += known.put(item);
                    } else {
                        write += known.delete(obj(w.pointer("/DeleteRequest/Key")));
                    }
                }
            }
            Units {
                write: write.saturating_sub(unprocessed as u64),
                read_halves: 0,
            }
        }
        // Transactions bill twice the units of their items.
        "TransactWriteItems" => {
            let mut write = 0;
            for t in r
                .get("TransactItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                write += if let Some(item) = obj(t.pointer("/Put/Item")) {
                    known.put(item)
                } else if let Some(u) = obj(t.get("Update")) {
                    known.update(u)
                } else if let Some(d) = obj(t.get("Delete")) {
                    known.delete(obj(d.get("Key")))
                } else {
                    1
                };
            }
            Units {
                write: write * 2,
                read_halves: 0,
            }
        }
        "GetItem" => Units {
            write: 0,
            read_halves: match obj(resp.get("Item")) {
                Some(i) => kb_units(known.note(i), 4096),
                None => 1,
            } * if consistent { 2 } else { 1 },
        },
        "BatchGetItem" => {
            let mut halves = 0;
            let found = obj(resp.get("Responses"));
            for (table, asked) in obj(r.get("RequestItems")).into_iter().flatten() {
                let consistent = asked.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
                let keys = asked
                    .get("Keys")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len) as u64;
                let items = found
                    .and_then(|f| f.get(table))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                // Every key is read as a GetItem: each found item by its own size, each
                // missing one at the least.
                let mut table_halves = keys.saturating_sub(items.len() as u64);
                for i in items.iter().filter_map(Value::as_object) {
                    table_halves += kb_units(known.note(i), 4096);
                }
                halves += table_halves * if consistent { 2 } else { 1 };
            }
            Units {
                write: 0,
                read_halves: halves,
            }
        }
        "TransactGetItems" => {
            let n = resp
                .get("Responses")
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as u64;
            Units {
                write: 0,
                read_halves: n.max(1) * 4,
            }
        }
        "Query" | "Scan" => {
            let items = resp
                .get("Items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Units {
                write: 0,
                read_halves: known.read_together(&items, consistent),
            }
        }
        _ => Units::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn units(known: &mut KnownSizes, op: &str, req: Value, resp: Value) -> Units {
        dynamo_units(
            known,
            op,
            req.to_string().as_bytes(),
            resp.to_string().as_bytes(),
            true,
        )
    }

    #[test]
    fn writes_bill_by_the_kilobyte_and_remember_the_item() {
        let mut k = KnownSizes::default();
        let big = "x".repeat(2500);
        let put = json!({"Item": {"pk": {"S": "A"}, "sk": {"S": "B"}, "doc": {"S": big}}});
        assert_eq!(units(&mut k, "PutItem", put, json!({})).write, 3);
        // The update's request holds only the key and one small value: billed by the item.
        let upd = json!({"Key": {"pk": {"S": "A"}, "sk": {"S": "B"}}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}});
        assert_eq!(units(&mut k, "UpdateItem", upd, json!({})).write, 3);
        let del = json!({"Key": {"pk": {"S": "A"}, "sk": {"S": "B"}}});
        assert_eq!(units(&mut k, "DeleteItem", del.clone(), json!({})).write, 3);
        assert_eq!(
            units(&mut k, "DeleteItem", del, json!({})).write,
            1,
            "gone: the least"
        );
        let indexed = json!({"Item": {"pk": {"S": "J"}, "sk": {"S": "K"}, "gsi1pk": {"S": "G"}}});
        assert_eq!(
            units(&mut k, "PutItem", indexed, json!({})).write,
            2,
            "the index too"
        );
        // The same item under another index key: the old entry out, the new one in.
        let moved = json!({"Item": {"pk": {"S": "J"}, "sk": {"S": "K"}, "gsi1pk": {"S": "H"}}});
        assert_eq!(units(&mut k, "PutItem", moved, json!({})).write, 3);
        // A new index sort key (a running job saved later) moves the entry as well.
        let later = json!({"Item": {"pk": {"S": "J"}, "sk": {"S": "K"}, "gsi1pk": {"S": "H"}, "gsi1sk": {"S": "2"}}});
        assert_eq!(units(&mut k, "PutItem", later, json!({})).write, 3);
        let same = json!({"Item": {"pk": {"S": "J"}, "sk": {"S": "K"}, "gsi1pk": {"S": "H"}, "gsi1sk": {"S": "2"}}});
        assert_eq!(units(&mut k, "PutItem", same, json!({})).write, 2);
        let touch = json!({"Key": {"pk": {"S": "J"}, "sk": {"S": "K"}}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}});
        assert_eq!(
            units(&mut k, "UpdateItem", touch, json!({})).write,
            2,
            "the index entry too"
        );
    }

    #[test]
    fn batches_and_transactions_bill_per_item() {
        let mut k = KnownSizes::default();
        let item = |s: &str| json!({"PutRequest": {"Item": {"pk": {"S": "P"}, "sk": {"S": s}}}});
        let req = json!({"RequestItems": {"t": [item("1"), item("2"), item("3")]}});
        assert_eq!(units(&mut k, "BatchWriteItem", req, json!({})).write, 3);
        let tx = json!({"TransactItems": [{"Put": {"Item": {"pk": {"S": "P"}, "sk": {"S": "4"}}}}, {"ConditionCheck": {}}]});
        assert_eq!(units(&mut k, "TransactWriteItems", tx, json!({})).write, 4);
    }

    #[test]
    fn reads_round_up_to_four_kilobytes_and_consistency_doubles() {
        let mut k = KnownSizes::default();
        let item = json!({"pk": {"S": "P"}, "sk": {"S": "1"}, "doc": {"S": "y".repeat(5000)}});
        let got = units(
            &mut k,
            "GetItem",
            json!({"ConsistentRead": true}),
            json!({"Item": item}),
        );
        assert_eq!(got.read_halves, 4, "8 KB rounded, consistent: 2 units");
        let missing = units(&mut k, "GetItem", json!({}), json!({}));
        assert_eq!(missing.read_halves, 1, "half a unit for nothing found");
        let small = json!({"pk": {"S": "P"}, "sk": {"S": "2"}});
        let q = units(
            &mut k,
            "Query",
            json!({}),
            json!({"Items": [small.clone(), small]}),
        );
        assert_eq!(q.read_halves, 1, "a page of small items is one 4 KB read");
        let bg = json!({"RequestItems": {"t": {"Keys": [{}, {}, {}], "ConsistentRead": true}}});
        let found = json!({"Responses": {"t": [{"pk": {"S": "P"}, "sk": {"S": "3"}}]}});
        assert_eq!(units(&mut k, "BatchGetItem", bg, found).read_halves, 6);
    }

    #[test]
    fn kinds_are_the_sort_keys_first_word() {
        let put = json!({"Item": {"pk": {"S": "INTEGRATION#1"}, "sk": {"S": "JOB#2"}}}).to_string();
        assert_eq!(item_kind(put.as_bytes()), "JOB");
        let q = json!({"ExpressionAttributeValues": {":pk": {"S": "INTEGRATION#1"}, ":sk": {"S": "FEED#customers#"}}}).to_string();
        assert_eq!(item_kind(q.as_bytes()), "FEED");
        let b = json!({"Key": {"pk": {"S": "RATELIMIT#fortnox#c#t"}, "sk": {"S": "BUCKET"}}})
            .to_string();
        assert_eq!(item_kind(b.as_bytes()), "RATELIMIT");
    }

    #[test]
    fn refusals_bill_nothing_but_a_failed_condition_bills_its_write() {
        let mut k = KnownSizes::default();
        let put = json!({"Item": {"pk": {"S": "A"}, "sk": {"S": "B"}}}).to_string();
        let throttled =
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException"}).to_string();
        let u = dynamo_units(
            &mut k,
            "PutItem",
            put.as_bytes(),
            throttled.as_bytes(),
            false,
        );
        assert_eq!(u, Units::default());
        let failed =
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"})
                .to_string();
        let u = dynamo_units(&mut k, "PutItem", put.as_bytes(), failed.as_bytes(), false);
        assert_eq!(u.write, 1);
    }
}
