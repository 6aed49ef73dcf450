//! One WebSocket connection to `/fortnox/topics-v1`: commands in, answers and events out.
//!
//! Commands (JSON text frames, `command` names them):
//! - `add-tenants-v1` `{clientSecret, accessTokens: [...]}`: each token must be a live access
//!   token the sandbox issued to the app whose secret is given. Answer
//!   `{"response": "add-tenants-v1", "result": "ok"|"error", "tenantIds": {token: id},
//!   "invalidTokens": [...]}`; the valid ones are added even when others are not.
//! - `add-topics-v1` `{topics: [{topic, offset?}]}`: answer `result` `ok`, or `error` with
//!   `invalidTopics` (unknown topic, or an offset outside the retention window); the valid
//!   topics are added.
//! - `subscribe-v1`: answer `ok`; events of the added tenants and topics flow from then on.
//! - `remove-tenants-v1` `{tenants: [id, ...]}`: answer `ok`; no more events for them.
//!
//! Anything else gets `{"response": <command or null>, "result": "error", "message": …}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::{OffsetError, TOPICS};
use crate::faults::{FaultKind, InjectedFault};
use crate::provider::ProviderKind;
use crate::state::SandboxState;

/// `GET /fortnox/topics-v1` with a WebSocket upgrade.
pub(crate) async fn topics_handler(
    State(state): State<Arc<SandboxState>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| Connection::new(state).run(socket))
}

struct Connection {
    state: Arc<SandboxState>,
    tenants: BTreeMap<i64, ()>,
    cursors: HashMap<&'static str, u64>,
    subscribed: bool,
}

enum Step {
    Continue,
    Close,
}

impl Connection {
    fn new(state: Arc<SandboxState>) -> Self {
        Connection {
            state,
            tenants: BTreeMap::new(),
            cursors: HashMap::new(),
            subscribed: false,
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let mut changed = self.state.stream_changes();
        let mut closing = self.state.stream_closing();
        loop {
            if *closing.borrow() {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            let pending = if self.subscribed {
                let tenants = &self.tenants;
                self.state
                    .stream_log()
                    .next_for(&mut self.cursors, &|t| tenants.contains_key(&t))
            } else {
                None
            };
            if let Some(event) = pending {
                let faults = self.state.faults().stream;
                if faults.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
                    self.record(FaultKind::StreamSlow);
                }
                let copies = match self.state.stream_fault_decision() {
                    Some(FaultKind::StreamDrop) => {
                        self.record(FaultKind::StreamDrop);
                        // Dropping the socket closes the TCP connection without a close frame;
                        // the event stays unsent.
                        return;
                    }
                    Some(FaultKind::StreamDuplicate) => {
                        self.record(FaultKind::StreamDuplicate);
                        2
                    }
                    _ => 1,
                };
                let text = event.to_wire().to_string();
                for _ in 0..copies {
                    if socket.send(Message::text(text.clone())).await.is_err() {
                        return;
                    }
                }
                // Let commands in between events.
                tokio::select! {
                    biased;
                    incoming = socket.recv() => {
                        if let Step::Close = self.incoming(&mut socket, incoming).await {
                            return;
                        }
                    }
                    () = std::future::ready(()) => {}
                }
                continue;
            }
            tokio::select! {
                incoming = socket.recv() => {
                    if let Step::Close = self.incoming(&mut socket, incoming).await {
                        return;
                    }
                }
                result = changed.changed() => {
                    if result.is_err() {
                        return;
                    }
                }
                _ = closing.changed() => {}
            }
        }
    }

    fn record(&self, kind: FaultKind) {
        self.state.record_fault(InjectedFault {
            provider: ProviderKind::Fortnox,
            method: "WS".into(),
            path: "/topics-v1".into(),
            kind,
            at: Utc::now(),
        });
    }

    async fn incoming(
        &mut self,
        socket: &mut WebSocket,
        incoming: Option<Result<Message, axum::Error>>,
    ) -> Step {
        let text = match incoming {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Step::Close,
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                Ok(s) => Utf8Bytes::from(s),
                Err(_) => return self.answer(socket, error(None, "not UTF-8 JSON")).await,
            },
            Some(Ok(_)) => return Step::Continue,
        };
        let answer = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(command)) => self.command(&command),
            _ => error(None, "a command is a JSON object"),
        };
        self.answer(socket, answer).await
    }

    async fn answer(&self, socket: &mut WebSocket, answer: Value) -> Step {
        match socket.send(Message::text(answer.to_string())).await {
            Ok(()) => Step::Continue,
            Err(_) => Step::Close,
        }
    }

    fn command(&mut self, command: &Map<String, Value>) -> Value {
        let name = command.get("command").and_then(Value::as_str);
        match name {
            Some("add-tenants-v1") => self.add_tenants(command),
            Some("add-topics-v1") => self.add_topics(command),
            Some("subscribe-v1") => {
                self.subscribed = true;
                ok("subscribe-v1")
            }
            Some("remove-tenants-v1") => self.remove_tenants(command),
            Some(other) => error(Some(other), "unknown command"),
            None => error(None, "the command field is missing"),
        }
    }

    fn add_tenants(&mut self, command: &Map<String, Value>) -> Value {
        let name = "add-tenants-v1";
        let secret = command.get("clientSecret").and_then(Value::as_str);
        let Some(tokens) = command.get("accessTokens").and_then(Value::as_array) else {
            return error(Some(name), "accessTokens must be an array of access tokens");
        };
        let client_id = secret.and_then(|s| {
            self.state
                .config()
                .clients
                .iter()
                .find(|c| c.provider == ProviderKind::Fortnox && c.client_secret == s)
                .map(|c| c.client_id.clone())
        });
        let mut tenant_ids = Map::new();
        let mut invalid = Vec::new();
        for token in tokens {
            let raw = token.as_str().unwrap_or_default();
            let tenant = client_id
                .as_deref()
                .and_then(|client| self.tenant_of(client, raw));
            match tenant {
                Some(id) => {
                    self.tenants.insert(id, ());
                    tenant_ids.insert(raw.to_string(), Value::from(id));
                }
                None => invalid.push(token.clone()),
            }
        }
        json!({
            "response": name,
            "result": if invalid.is_empty() && client_id.is_some() { "ok" } else { "error" },
            "tenantIds": tenant_ids,
            "invalidTokens": invalid,
        })
    }

    /// The tenant of a live Fortnox access token issued to `client_id` (`Bearer ` allowed).
    fn tenant_of(&self, client_id: &str, token: &str) -> Option<i64> {
        let token = token.trim();
        let token = token
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("bearer "))
            .map_or(token, |_| token[7..].trim());
        let store = self.state.oauth();
        let entry = store.access_tokens.get(token)?;
        let grant = &entry.grant;
        let live = Instant::now() < entry.expires;
        (live && grant.provider == ProviderKind::Fortnox && grant.client_id == client_id)
            .then(|| {
                self.state
                    .company(ProviderKind::Fortnox, &grant.company_key)
            })
            .flatten()
            .map(|company| company.database_number)
    }

    fn add_topics(&mut self, command: &Map<String, Value>) -> Value {
        let name = "add-topics-v1";
        let Some(topics) = command.get("topics").and_then(Value::as_array) else {
            return error(Some(name), "topics must be an array of {topic, offset}");
        };
        let mut invalid = Vec::new();
        let mut log = self.state.stream_log();
        for item in topics {
            // `{"topic": "customers", "offset": "12"}`; a bare topic name is read as well.
            let (topic, offset) = match item {
                Value::String(t) => (t.as_str(), None),
                Value::Object(o) => (
                    o.get("topic").and_then(Value::as_str).unwrap_or_default(),
                    o.get("offset").and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }),
                ),
                _ => ("", None),
            };
            let known = TOPICS.iter().find(|t| **t == topic);
            match (known, log.start(topic, offset.as_deref())) {
                (Some(t), Ok(start)) => {
                    self.cursors.insert(t, start);
                }
                (_, Err(OffsetError::UnknownTopic | OffsetError::OutOfRange)) | (None, _) => {
                    invalid.push(Value::String(topic.to_string()));
                }
            }
        }
        if invalid.is_empty() {
            ok(name)
        } else {
            json!({"response": name, "result": "error", "invalidTopics": invalid})
        }
    }

    fn remove_tenants(&mut self, command: &Map<String, Value>) -> Value {
        let name = "remove-tenants-v1";
        let Some(ids) = command.get("tenants").and_then(Value::as_array) else {
            return error(Some(name), "tenants must be an array of tenant ids");
        };
        for id in ids {
            let id = id
                .as_i64()
                .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()));
            if let Some(id) = id {
                self.tenants.remove(&id);
            }
        }
        ok(name)
    }
}

fn ok(name: &str) -> Value {
    json!({"response": name, "result": "ok"})
}

fn error(name: Option<&str>, message: &str) -> Value {
    json!({"response": name, "result": "error", "message": message})
}
