//! Fortnox's change stream: the WebSocket API at `/fortnox/topics-v1` (Fortnox serves it at
//! `wss://ws.fortnox.se/topics-v1`), fed by every create, update and delete the Fortnox REST
//! side (and the state helpers: seed, modify, delete) makes to customers and invoices.
//!
//! Sources (the protocol is not in Fortnox's OpenAPI document, which covers REST only):
//! - Fortnox's guide "Websockets" (<https://www.fortnox.se/developer/guides-and-good-to-know/websockets>):
//!   one duplex connection for all of an app's tenants, a topic per domain (`customers`,
//!   `invoices`, …), at-least-once delivery (duplicates possible), a unique `offset` per event
//!   within its topic with guaranteed order, replay by submitting an offset "two weeks back",
//!   and the event `{topic, offset, type, tenantId, entityId, timestamp}` (offset a string,
//!   tenantId a number, entityId a string, timestamp with milliseconds and a `+01:00` offset).
//! - `docs/providers.md` ("Change notifications") for the commands and event types.
//! - The answer fields `response`, `result` (`ok`/`error`), `tenantIds` (access token →
//!   tenant id), `invalidTokens` and `invalidTopics`, and the command fields `clientSecret`,
//!   `accessTokens`, `topics: [{topic, offset}]` and `remove-tenants-v1`'s `tenants`, as
//!   Fortnox clients read and send them (zenta-ab/fortnox.NET `WebSockets/Models/
//!   WebSocketResponse.cs` and `FortnoxWebSocketClient.cs`; other public clients agree).
//!
//! Not published, so chosen here and documented in the README: offsets are decimal strings
//! (clients must treat them as opaque); a topic added with an offset replays from that event
//! on (inclusive), without one from the next new event; an offset outside the retention
//! window (or beyond the head) gets `add-topics-v1`'s error answer naming the topic in
//! `invalidTopics` (one third-party description says Fortnox resets such an offset to the
//! earliest event instead; a client must handle both, this sandbox tests the stricter one).

mod socket;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub(crate) use socket::topics_handler;

/// The topics the sandbox streams (Fortnox names the payments topic `invoicepayments`, like
/// its REST resource).
pub const TOPICS: [&str; 3] = ["customers", "invoices", "invoicepayments"];

/// One change a Fortnox company's data made, waiting to be appended to the stream.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub topic: &'static str,
    pub kind: &'static str,
    pub entity_id: String,
    pub at: DateTime<Utc>,
}

impl Change {
    pub fn new(
        topic: &'static str,
        kind: &'static str,
        entity_id: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Change {
            topic,
            kind,
            entity_id: entity_id.into(),
            at,
        }
    }
}

/// One event of the stream, as the sandbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamEvent {
    /// `customers`, `invoices` or `invoicepayments`.
    pub topic: String,
    /// Position in its topic: 0, 1, 2, … (sent as a string).
    pub offset: u64,
    /// `customer-created-v1`, `invoice-bookkeep-v1`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Fortnox tenant id (the company's `DatabaseNumber`).
    pub tenant_id: i64,
    /// `CustomerNumber`, `DocumentNumber` or the payment's `Number`.
    pub entity_id: String,
    /// When the change was made (the record's modification time).
    pub timestamp: DateTime<Utc>,
    /// Order across topics (for delivery only).
    #[serde(skip)]
    seq: u64,
    #[serde(skip)]
    kept_since: Option<Instant>,
}

impl StreamEvent {
    /// The event as Fortnox sends it: offset a string, the time in Swedish local time with
    /// milliseconds and its UTC offset.
    pub fn to_wire(&self) -> Value {
        let local = self.timestamp.with_timezone(&chrono_tz::Europe::Stockholm);
        json!({
            "topic": self.topic,
            "offset": self.offset.to_string(),
            "type": self.kind,
            "tenantId": self.tenant_id,
            "entityId": self.entity_id,
            "timestamp": local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        })
    }
}

/// Faults of the stream (the `stream` field of [`crate::FaultConfig`]). Rates are drawn per
/// event from the configuration's seeded generator, in the order `drop_connection`,
/// `duplicate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamFaults {
    /// Close the connection (no close frame) instead of sending the event.
    pub drop_connection: f64,
    /// Send the event twice (at-least-once delivery).
    pub duplicate: f64,
    /// A slow stream: wait this long before each event.
    pub delay_ms: u64,
    /// At most this many drops and duplicates from the moment the configuration is set
    /// (`None`: no limit).
    pub max_faults: Option<u32>,
}

/// Why `add-topics-v1` refused a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetError {
    UnknownTopic,
    /// Not a number, older than the retention window, or beyond the head.
    OutOfRange,
}

#[derive(Debug, Default)]
struct TopicLog {
    /// Offset of `events[0]` (the first one still kept).
    first: u64,
    events: VecDeque<StreamEvent>,
}

impl TopicLog {
    fn head(&self) -> u64 {
        self.first + self.events.len() as u64
    }
}

/// Every event of every topic still inside the retention window.
#[derive(Debug)]
pub(crate) struct StreamLog {
    topics: HashMap<&'static str, TopicLog>,
    retention: Duration,
    seq: u64,
}

impl StreamLog {
    pub fn new(retention: Duration) -> Self {
        StreamLog {
            topics: TOPICS.iter().map(|t| (*t, TopicLog::default())).collect(),
            retention,
            seq: 0,
        }
    }

    pub fn set_retention(&mut self, retention: Duration) {
        self.retention = retention;
        self.expire();
    }

    /// Appends `changes` of tenant `tenant_id` in order; returns how many were appended.
    pub fn append(&mut self, tenant_id: i64, changes: Vec<Change>) -> usize {
        let now = Instant::now();
        let mut n = 0;
        for change in changes {
            let Some(log) = self.topics.get_mut(change.topic) else {
                continue;
            };
            self.seq += 1;
            let offset = log.head();
            log.events.push_back(StreamEvent {
                topic: change.topic.to_string(),
                offset,
                kind: change.kind.to_string(),
                tenant_id,
                entity_id: change.entity_id,
                timestamp: change.at,
                seq: self.seq,
                kept_since: Some(now),
            });
            n += 1;
        }
        self.expire();
        n
    }

    /// Drops the events older than the retention window.
    fn expire(&mut self) {
        let now = Instant::now();
        for log in self.topics.values_mut() {
            while log.events.front().is_some_and(|e| {
                e.kept_since
                    .is_some_and(|t| now.saturating_duration_since(t) > self.retention)
            }) {
                log.events.pop_front();
                log.first += 1;
            }
        }
    }

    /// Where a consumer of `topic` starts: `offset` (inclusive) when it is inside the
    /// window, the head (the next new event) without one.
    pub fn start(&mut self, topic: &str, offset: Option<&str>) -> Result<u64, OffsetError> {
        self.expire();
        let log = self.topics.get(topic).ok_or(OffsetError::UnknownTopic)?;
        match offset {
            None => Ok(log.head()),
            Some(raw) => {
                let n: u64 = raw.trim().parse().map_err(|_| OffsetError::OutOfRange)?;
                if n < log.first || n > log.head() {
                    Err(OffsetError::OutOfRange)
                } else {
                    Ok(n)
                }
            }
        }
    }

    /// The next event for a consumer at `cursors` (topic → next offset) that concerns one of
    /// `tenants`, the earliest across topics; advances the cursors past events of other
    /// tenants.
    pub fn next_for(
        &mut self,
        cursors: &mut HashMap<&'static str, u64>,
        tenants: &dyn Fn(i64) -> bool,
    ) -> Option<StreamEvent> {
        self.expire();
        let mut best: Option<StreamEvent> = None;
        for (topic, cursor) in cursors.iter_mut() {
            let Some(log) = self.topics.get(topic) else {
                continue;
            };
            // A consumer that fell behind the window continues at the first event kept.
            *cursor = (*cursor).max(log.first);
            let skip = usize::try_from(*cursor - log.first).unwrap_or(usize::MAX);
            let found = log.events.iter().skip(skip).find(|e| tenants(e.tenant_id));
            match found {
                Some(e) => {
                    *cursor = e.offset;
                    if best.as_ref().is_none_or(|b| e.seq < b.seq) {
                        best = Some(e.clone());
                    }
                }
                None => *cursor = log.head(),
            }
        }
        if let Some(e) = &best {
            if let Some(topic) = TOPICS.iter().find(|t| **t == e.topic) {
                cursors.insert(topic, e.offset + 1);
            }
        }
        best
    }

    /// Every event still kept, oldest first per topic (customers, invoices, then payments).
    pub fn events(&mut self) -> Vec<StreamEvent> {
        self.expire();
        TOPICS
            .iter()
            .filter_map(|t| self.topics.get(t))
            .flat_map(|log| log.events.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(topic: &'static str, id: &str) -> Change {
        Change::new(topic, "x-created-v1", id, Utc::now())
    }

    #[test]
    fn offsets_are_ordered_per_topic_and_delivery_follows_change_order() {
        let mut log = StreamLog::new(Duration::from_secs(60));
        log.append(1, vec![change("customers", "1"), change("invoices", "1")]);
        log.append(2, vec![change("customers", "2")]);
        let mut cursors = HashMap::from([("customers", 0), ("invoices", 0)]);
        let all = |_| true;
        let got: Vec<_> = std::iter::from_fn(|| log.next_for(&mut cursors, &all))
            .map(|e| (e.topic, e.offset, e.tenant_id))
            .collect();
        assert_eq!(
            got,
            vec![
                ("customers".into(), 0, 1),
                ("invoices".into(), 0, 1),
                ("customers".into(), 1, 2)
            ]
        );
        let only_2 = |t| t == 2;
        let mut cursors = HashMap::from([("customers", 0), ("invoices", 0)]);
        assert_eq!(
            log.next_for(&mut cursors, &only_2).map(|e| e.offset),
            Some(1)
        );
        assert_eq!(log.next_for(&mut cursors, &only_2), None);
    }

    #[test]
    fn offsets_outside_the_window_are_refused() {
        let mut log = StreamLog::new(Duration::from_secs(60));
        log.append(1, vec![change("customers", "1"), change("customers", "2")]);
        assert_eq!(log.start("customers", Some("1")), Ok(1));
        assert_eq!(log.start("customers", None), Ok(2));
        assert_eq!(
            log.start("customers", Some("3")),
            Err(OffsetError::OutOfRange)
        );
        assert_eq!(
            log.start("customers", Some("x")),
            Err(OffsetError::OutOfRange)
        );
        assert_eq!(log.start("orders", None), Err(OffsetError::UnknownTopic));
        log.set_retention(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            log.start("customers", Some("0")),
            Err(OffsetError::OutOfRange)
        );
        assert_eq!(log.start("customers", Some("2")), Ok(2));
    }
}
