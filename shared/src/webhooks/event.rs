//! What a delivery says, read from the raw body only after its signature checked out.
//!
//! The body is one JSON object:
//! `{"id"?, "type", "entity_id"?, "occurred_at"?, "tenant_id"?}`, see `docs/webhooks.md`.
//! Fortnox's event-stream shape (`type: "invoice-updated-v1"`, `entityId`, `tenantId`,
//! `timestamp`, `topic`, `offset`) is accepted as well, so a relay of that stream can forward
//! events unchanged.

use crate::domain::{Direction, Entity, Mode, Target, Trigger};
use crate::jobs::JobRequest;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest event id kept (it becomes part of a DynamoDB sort key).
pub const MAX_EVENT_ID: usize = 200;
/// Longest provider record id accepted.
pub const MAX_ENTITY_ID: usize = 128;

/// The kinds of event the receiver acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A customer was created at the provider.
    CustomerCreated,
    /// A customer changed.
    CustomerUpdated,
    /// A customer was deleted.
    CustomerDeleted,
    /// An invoice was created.
    InvoiceCreated,
    /// An invoice changed.
    InvoiceUpdated,
    /// An invoice was cancelled (credited).
    InvoiceCancelled,
    /// An invoice was booked.
    InvoiceBookkeep,
    /// Consent was given (acknowledged only: consent completes through OAuth).
    ConsentCreated,
    /// Consent was withdrawn at the provider: the integration becomes `revoked`.
    ConsentRevoked,
}

impl EventType {
    /// Every type, in documentation order.
    pub const ALL: [EventType; 9] = [
        EventType::CustomerCreated,
        EventType::CustomerUpdated,
        EventType::CustomerDeleted,
        EventType::InvoiceCreated,
        EventType::InvoiceUpdated,
        EventType::InvoiceCancelled,
        EventType::InvoiceBookkeep,
        EventType::ConsentCreated,
        EventType::ConsentRevoked,
    ];

    /// The canonical name, e.g. `invoice.updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CustomerCreated => "customer.created",
            EventType::CustomerUpdated => "customer.updated",
            EventType::CustomerDeleted => "customer.deleted",
            EventType::InvoiceCreated => "invoice.created",
            EventType::InvoiceUpdated => "invoice.updated",
            EventType::InvoiceCancelled => "invoice.cancelled",
            EventType::InvoiceBookkeep => "invoice.bookkeep",
            EventType::ConsentCreated => "consent.created",
            EventType::ConsentRevoked => "consent.revoked",
        }
    }

    /// Parses a canonical name or a Fortnox stream name (`customer-updated-v2`).
    pub fn parse(raw: &str) -> Option<Self> {
        let canonical = match raw.rsplit_once("-v") {
            Some((head, version))
                if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) =>
            {
                head.replacen('-', ".", 1)
            }
            _ => raw.to_string(),
        };
        EventType::ALL.into_iter().find(|t| t.as_str() == canonical)
    }

    /// The entity a data event is about; `None` for consent events.
    pub fn entity(self) -> Option<Entity> {
        match self {
            EventType::CustomerCreated
            | EventType::CustomerUpdated
            | EventType::CustomerDeleted => Some(Entity::Customers),
            EventType::InvoiceCreated
            | EventType::InvoiceUpdated
            | EventType::InvoiceCancelled
            | EventType::InvoiceBookkeep => Some(Entity::Invoices),
            EventType::ConsentCreated | EventType::ConsentRevoked => None,
        }
    }
}

/// A parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The id replays are recognised by: the body's, else `sha256:<hex of the raw body>`.
    pub id: String,
    /// What happened.
    pub kind: EventType,
    /// The provider's id of the record (required for data events).
    pub entity_id: Option<String>,
    /// When it happened at the source.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The provider's tenant id, informational (the URL names the integration).
    pub tenant_id: Option<String>,
}

impl Event {
    /// The targeted job a data event asks for: pull this one record of this integration.
    /// `None` for consent events.
    pub fn job_request(&self) -> Option<JobRequest> {
        let entity = self.kind.entity()?;
        Some(JobRequest {
            direction: Direction::Pull,
            entities: vec![entity],
            mode: Mode::Incremental,
            trigger: Trigger::Webhook,
            target: Some(Target {
                entity,
                our_id: None,
                remote_id: self.entity_id.clone(),
                changed_at: None,
                payment_id: None,
            }),
            not_before: None,
        })
    }
}

/// A body that is not an event we can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or not a JSON object (400).
    #[error("{0}")]
    Malformed(String),
    /// A `type` we do not know (422).
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    /// A field is missing or wrong (422).
    #[error("{detail}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// Parses a verified raw body.
pub fn parse_event(body: &[u8]) -> Result<Event, EventError> {
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(EventError::Malformed(
                "the body must be a JSON object".into(),
            ))
        }
        Err(e) => {
            return Err(EventError::Malformed(format!(
                "the body is not valid JSON: {e}"
            )))
        }
    };
    let raw_type = match obj.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        None | Some(Value::Null) => return Err(invalid("type", "the event has no `type`")),
        Some(_) => return Err(invalid("type", "`type` must be a string")),
    };
    let kind = EventType::parse(raw_type).ok_or_else(|| {
        // Echo the type back, bounded: it is the sender's own value.
        EventError::UnknownType(raw_type.chars().take(100).collect())
    })?;

    let id = match id_like(&obj, &["id", "eventId", "event_id"], "id", MAX_EVENT_ID)? {
        Some(id) => id,
        None => match (
            id_like(&obj, &["topic"], "topic", 64)?,
            id_like(&obj, &["offset"], "offset", 64)?,
        ) {
            // Fortnox stream: offsets are unique per topic, and a URL is one tenant's.
            (Some(topic), Some(offset)) => format!("{topic}:{offset}"),
            _ => body_event_id(body),
        },
    };
    let entity_id = id_like(&obj, &["entity_id", "entityId"], "entity_id", MAX_ENTITY_ID)?;
    if kind.entity().is_some() && entity_id.is_none() {
        return Err(invalid(
            "entity_id",
            format!(
                "a `{}` event needs `entity_id`, the provider's id of the record",
                kind.as_str()
            ),
        ));
    }
    let occurred_at = match first(&obj, &["occurred_at", "timestamp"]) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| invalid("occurred_at", "`occurred_at` must be an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
        Some(_) => {
            return Err(invalid(
                "occurred_at",
                "`occurred_at` must be an RFC 3339 time",
            ))
        }
    };
    let tenant_id = id_like(&obj, &["tenant_id", "tenantId"], "tenant_id", MAX_ENTITY_ID)?;
    Ok(Event {
        id,
        kind,
        entity_id,
        occurred_at,
        tenant_id,
    })
}

/// The id of a body that carries none: its SHA-256, so a byte-identical resend is a replay.
pub fn body_event_id(body: &[u8]) -> String {
    format!("sha256:{}", super::signature::hex(&Sha256::digest(body)))
}

fn invalid(field: &'static str, detail: impl Into<String>) -> EventError {
    EventError::Invalid {
        field,
        detail: detail.into(),
    }
}

fn first<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| obj.get(*n))
}

/// A string or integer field, as a string of 1 to `max` printable characters.
fn id_like(
    obj: &Map<String, Value>,
    names: &[&str],
    field: &'static str,
    max: usize,
) -> Result<Option<String>, EventError> {
    let s = match first(obj, names) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        Some(_) => {
            return Err(invalid(
                field,
                format!("`{field}` must be a string or an integer"),
            ))
        }
    };
    if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("`{field}` must be 1 to {max} printable characters"),
        ));
    }
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_our_format() {
        let e = parse_event(
            br#"{"id":"evt-1","type":"invoice.updated","entity_id":"1042","occurred_at":"2026-03-01T10:00:00Z","tenant_id":"t"}"#,
        )
        .unwrap();
        assert_eq!(e.id, "evt-1");
        assert_eq!(e.kind, EventType::InvoiceUpdated);
        assert_eq!(e.entity_id.as_deref(), Some("1042"));
        assert_eq!(e.tenant_id.as_deref(), Some("t"));
        assert!(e.occurred_at.is_some());
        let job = e.job_request().unwrap();
        assert_eq!(job.direction, Direction::Pull);
        assert_eq!(job.entities, vec![Entity::Invoices]);
        assert_eq!(job.trigger, Trigger::Webhook);
        let target = job.target.unwrap();
        assert_eq!(
            (target.entity, target.remote_id.as_deref()),
            (Entity::Invoices, Some("1042"))
        );
    }

    #[test]
    fn parses_the_fortnox_stream_shape() {
        let e = parse_event(
            br#"{"topic":"customers","offset":"77","type":"customer-updated-v2","tenantId":123,"entityId":"55","timestamp":"2026-03-01T10:00:00.5+01:00"}"#,
        )
        .unwrap();
        assert_eq!(e.kind, EventType::CustomerUpdated);
        assert_eq!(e.id, "customers:77");
        assert_eq!(e.entity_id.as_deref(), Some("55"));
        assert_eq!(e.tenant_id.as_deref(), Some("123"));
        assert_eq!(
            EventType::parse("invoice-bookkeep-v1"),
            Some(EventType::InvoiceBookkeep)
        );
        assert_eq!(
            EventType::parse("consent-revoked-v1"),
            Some(EventType::ConsentRevoked)
        );
        assert_eq!(EventType::parse("invoice-paid-v1"), None);
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn an_event_without_id_is_known_by_its_body_hash() {
        let body = br#"{"type":"consent.revoked"}"#;
        let e = parse_event(body).unwrap();
        assert_eq!(e.id, body_event_id(body));
        assert!(e.id.starts_with("sha256:") && e.id.len() == 7 + 64);
        assert!(e.job_request().is_none());
        assert_ne!(body_event_id(b"{}"), body_event_id(b"{ }"));
    }

    #[test]
    fn says_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (b"{not json", "malformed"),
            (b"[1,2]", "malformed"),
            (b"", "malformed"),
            (br#"{"id":"x"}"#, "type"),
            (br#"{"type":7}"#, "type"),
            (br#"{"type":"invoice.paid","entity_id":"1"}"#, "unknown"),
            (br#"{"type":"invoice.updated"}"#, "entity_id"),
            (br#"{"type":"invoice.updated","entity_id":""}"#, "entity_id"),
            (
                br#"{"type":"invoice.updated","entity_id":{"a":1}}"#,
                "entity_id",
            ),
            (
                br#"{"type":"invoice.updated","entity_id":"1","occurred_at":"yesterday"}"#,
                "occurred_at",
            ),
            (br#"{"type":"consent.revoked","id":"a\u0000b"}"#, "id"),
        ];
        for (body, want) in cases {
            let got = parse_event(body).unwrap_err();
            let ok = match (&got, *want) {
                (EventError::Malformed(_), "malformed") => true,
                (EventError::UnknownType(t), "unknown") => t == "invoice.paid",
                (EventError::Invalid { field, .. }, f) => *field == f,
                _ => false,
            };
            assert!(ok, "{}: {got:?}", String::from_utf8_lossy(body));
        }
        let long = format!(r#"{{"type":"consent.revoked","id":"{}"}}"#, "x".repeat(201));
        assert!(matches!(
            parse_event(long.as_bytes()),
            Err(EventError::Invalid { field: "id", .. })
        ));
    }
}
