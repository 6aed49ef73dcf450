//! What travels over Fortnox's stream socket: our commands, its answers and its events.
//!
//! Fortnox's guide "Websockets" (not part of the REST OpenAPI document): commands are JSON
//! text frames named by `command`; each gets an answer naming it in `response` with `result`
//! `ok` or `error`; events are `{topic, offset, type, tenantId, entityId, timestamp}` with the
//! offset a string (opaque: we store it as received and replay from it, inclusive), the tenant
//! id a number (the company's `DatabaseNumber`) and the time with its UTC offset. The answer to
//! `add-tenants-v1` maps each access token to its tenant id (`tenantIds`) and lists the refused
//! ones (`invalidTokens`); `add-topics-v1`'s names refused topics or offsets
//! (`invalidTopics`). Answers to `add-tenants-v1` carry access tokens: never log one.

use crate::domain::Entity;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The topics the consumer follows, and the entity whose records each one's events change.
/// `invoicepayments` events name a payment (`entityId` is its `Number`): they change its
/// invoice, which the pull finds through the payment.
pub const TOPICS: [(&str, Entity); 3] = [
    ("customers", Entity::Customers),
    ("invoices", Entity::Invoices),
    (PAYMENTS_TOPIC, Entity::Invoices),
];

/// The topic whose events name a payment, not the record that changed.
pub const PAYMENTS_TOPIC: &str = "invoicepayments";

/// The entity a topic's events change.
pub fn entity_of(topic: &str) -> Option<Entity> {
    TOPICS.iter().find(|(t, _)| *t == topic).map(|(_, e)| *e)
}

/// One change event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `customers`, `invoices`, …
    pub topic: String,
    /// Position in the topic, as Fortnox sent it.
    pub offset: String,
    /// `customer-created-v1`, `invoice-cancelled-v1`, …
    pub kind: String,
    /// The company (`DatabaseNumber`).
    pub tenant_id: i64,
    /// `CustomerNumber` or `DocumentNumber`.
    pub entity_id: String,
    /// When the change was made at Fortnox.
    pub timestamp: DateTime<Utc>,
}

/// The answer to one of our commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The command answered (`None` when Fortnox could not tell).
    pub response: Option<String>,
    /// `result: ok`.
    pub ok: bool,
    /// `add-tenants-v1`: access token → tenant id.
    pub tenant_ids: BTreeMap<String, i64>,
    /// `add-tenants-v1`: tokens refused.
    pub invalid_tokens: Vec<String>,
    /// `add-topics-v1`: topics refused (unknown, or their offset outside the window).
    pub invalid_topics: Vec<String>,
    /// A message, if any.
    pub message: Option<String>,
}

/// One frame from the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A change.
    Event(Event),
    /// An answer to a command.
    Answer(Answer),
    /// Neither (logged by its shape, skipped).
    Unknown(String),
}

/// Reads one text frame.
pub fn parse(text: &str) -> Incoming {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
        return Incoming::Unknown("not a JSON object".into());
    };
    if m.contains_key("response") || m.contains_key("result") {
        let strings = |k: &str| -> Vec<String> {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| match v {
                            Value::String(s) => Some(s.clone()),
                            Value::Object(o) => {
                                o.get("topic").and_then(Value::as_str).map(str::to_string)
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let tenant_ids = m
            .get("tenantIds")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(token, id)| Some((token.clone(), number(id)?)))
                    .collect()
            })
            .unwrap_or_default();
        return Incoming::Answer(Answer {
            response: m
                .get("response")
                .and_then(Value::as_str)
                .map(str::to_string),
            ok: m.get("result").and_then(Value::as_str) == Some("ok"),
            tenant_ids,
            invalid_tokens: strings("invalidTokens"),
            invalid_topics: strings("invalidTopics"),
            message: m.get("message").and_then(Value::as_str).map(str::to_string),
        });
    }
    let field = |k: &str| m.get(k);
    let (Some(topic), Some(offset), Some(tenant), Some(entity), Some(at)) = (
        field("topic").and_then(Value::as_str),
        field("offset").and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        field("tenantId").and_then(number),
        field("entityId").and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        field("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok()),
    ) else {
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        return Incoming::Unknown(format!("a frame with fields {keys:?}"));
    };
    Incoming::Event(Event {
        topic: topic.to_string(),
        offset,
        kind: field("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        tenant_id: tenant,
        entity_id: entity,
        timestamp: at.with_timezone(&Utc),
    })
}

/// A tenant id sent as a number or a numeric string.
fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `add-tenants-v1`: the app's client secret and the companies' access tokens.
pub fn add_tenants(client_secret: &str, tokens: &[&str]) -> Value {
    json!({"command": "add-tenants-v1", "clientSecret": client_secret, "accessTokens": tokens})
}

/// `add-topics-v1`: each topic from its stored offset (inclusive), or from the next new event.
pub fn add_topics(topics: &[(&str, Option<&str>)]) -> Value {
    let topics: Vec<Value> = topics
        .iter()
        .map(|(t, o)| match o {
            Some(o) => json!({"topic": t, "offset": o}),
            None => json!({"topic": t}),
        })
        .collect();
    json!({"command": "add-topics-v1", "topics": topics})
}

/// `subscribe-v1`: events flow from now on.
pub fn subscribe() -> Value {
    json!({"command": "subscribe-v1"})
}

/// `remove-tenants-v1`: no more events of these companies.
pub fn remove_tenants(tenants: &[i64]) -> Value {
    json!({"command": "remove-tenants-v1", "tenants": tenants})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_read_with_its_local_time_in_utc() {
        let got = parse(
            r#"{"topic":"invoices","offset":"41","type":"invoice-created-v1","tenantId":1234,
                "entityId":"17","timestamp":"2026-11-30T12:00:00.250+01:00"}"#,
        );
        assert_eq!(
            got,
            Incoming::Event(Event {
                topic: "invoices".into(),
                offset: "41".into(),
                kind: "invoice-created-v1".into(),
                tenant_id: 1234,
                entity_id: "17".into(),
                timestamp: DateTime::parse_from_rfc3339("2026-11-30T11:00:00.250Z")
                    .unwrap()
                    .with_timezone(&Utc),
            })
        );
    }

    #[test]
    fn answers_are_told_from_events() {
        let Incoming::Answer(a) = parse(
            r#"{"response":"add-tenants-v1","result":"error","tenantIds":{"tok-a":7},
                "invalidTokens":["tok-b"]}"#,
        ) else {
            panic!("an answer")
        };
        assert!(!a.ok);
        assert_eq!(a.tenant_ids.get("tok-a"), Some(&7));
        assert_eq!(a.invalid_tokens, vec!["tok-b".to_string()]);
        let Incoming::Answer(a) = parse(
            r#"{"response":"add-topics-v1","result":"error","invalidTopics":[{"topic":"invoices"}]}"#,
        ) else {
            panic!("an answer")
        };
        assert_eq!(a.invalid_topics, vec!["invoices".to_string()]);
        assert!(matches!(parse("[1]"), Incoming::Unknown(_)));
        assert!(matches!(
            parse(r#"{"topic":"invoices","offset":"1"}"#),
            Incoming::Unknown(_)
        ));
    }

    #[test]
    fn commands_have_the_documented_shape() {
        assert_eq!(
            add_topics(&[("customers", Some("5")), ("invoices", None)]),
            json!({"command":"add-topics-v1","topics":[{"topic":"customers","offset":"5"},{"topic":"invoices"}]})
        );
        assert_eq!(
            remove_tenants(&[1, 2]),
            json!({"command":"remove-tenants-v1","tenants":[1,2]})
        );
        assert_eq!(entity_of("invoices"), Some(Entity::Invoices));
        assert_eq!(entity_of("orders"), None);
    }
}
