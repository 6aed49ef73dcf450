//! One run's hold on the stream: connections (reconnecting when one drops), the companies on
//! it, the topics from their stored offsets, and the events read in batches.

use super::socket::{Socket, SocketError};
use super::wire::{self, Answer, Event, Incoming};
use super::{RunReport, StreamError, StreamSettings};
use crate::domain::{Integration, IntegrationStatus, ProviderKind};
use crate::store::StoreError;
use crate::AppContext;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// How long a command's answer may take.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How often the lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Events gathered before their pulls are queued even if the batch time has not passed.
const BATCH_MAX: usize = 200;

/// Why a session ended before the run's end.
#[derive(Debug)]
pub(super) enum Stop {
    /// The connection failed or Fortnox refused a command: connect again.
    Socket(String),
    /// Another run holds the lease now: stop without touching the offsets.
    LeaseLost,
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

impl From<SocketError> for Stop {
    fn from(e: SocketError) -> Self {
        Stop::Socket(e.to_string())
    }
}

/// An integration on the stream.
pub(super) struct Member {
    pub integration: Integration,
}

pub(super) struct Consumer<'a> {
    pub(super) ctx: &'a AppContext,
    pub(super) settings: &'a StreamSettings,
    pub(super) owner: String,
    ends: Instant,
    /// Per topic, where a replay starts (see `dispatch::next_offset`).
    pub(super) offsets: BTreeMap<String, String>,
    loaded: bool,
    /// Fortnox tenant id → the integrations of that company on the stream (two of the app's
    /// tenants may connect the same company).
    pub(super) tenants: HashMap<i64, Vec<Member>>,
    pub(super) batch: Vec<Event>,
    batch_since: Option<Instant>,
    last_renew: Instant,
    subscribed: bool,
    pub(super) report: RunReport,
}

impl<'a> Consumer<'a> {
    pub(super) fn new(
        ctx: &'a AppContext,
        settings: &'a StreamSettings,
        owner: String,
        ends: Instant,
    ) -> Self {
        Consumer {
            ctx,
            settings,
            owner,
            ends,
            offsets: BTreeMap::new(),
            loaded: false,
            tenants: HashMap::new(),
            batch: Vec::new(),
            batch_since: None,
            last_renew: Instant::now(),
            subscribed: false,
            report: RunReport::default(),
        }
    }

    pub(super) fn into_report(mut self) -> RunReport {
        self.report.tenants = self.tenants.values().map(|m| m.len() as u64).sum();
        self.report
    }

    /// Sessions until the run's end, reconnecting after a dropped connection.
    pub(super) async fn run(&mut self) -> Result<(), StreamError> {
        let mut backoff = Duration::from_millis(500);
        let mut first = true;
        while Instant::now() < self.ends {
            if !first {
                self.report.reconnects += 1;
            }
            first = false;
            match self.session().await {
                Ok(()) => return Ok(()),
                Err(Stop::LeaseLost) => {
                    tracing::warn!("another run holds the stream now; this one stops");
                    return Ok(());
                }
                Err(Stop::Store(e)) => return Err(e.into()),
                Err(Stop::Socket(why)) => {
                    tracing::warn!(error = %why, "stream connection lost; connecting again");
                    let pause = backoff.min(self.ends.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(pause).await;
                    backoff = (backoff * 2).min(Duration::from_secs(15));
                    if !self.renew().await? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    async fn session(&mut self) -> Result<(), Stop> {
        self.subscribed = false;
        let mut sock = Socket::connect(&self.settings.url, ANSWER_WAIT).await?;
        self.tenants.clear();
        if !self.loaded {
            // Right after taking the lease: from here on a run that held it before cannot
            // move the offsets.
            self.offsets = self.ctx.db.take_stream_offsets(&self.owner).await?;
            self.loaded = true;
        }
        let members = self.connected_fortnox().await?;
        self.add(&mut sock, members).await?;
        self.topics(&mut sock).await?;
        let answer = self
            .command(&mut sock, wire::subscribe(), "subscribe-v1")
            .await?;
        if !answer.ok {
            return Err(Stop::Socket(format!(
                "subscribe-v1 refused: {}",
                answer.message.unwrap_or_default()
            )));
        }
        tracing::info!(companies = self.tenants.len(), "stream subscribed");
        self.subscribed = true;
        if !self.renew().await? {
            return Err(Stop::LeaseLost);
        }
        let mut last_membership = Instant::now();
        loop {
            let now = Instant::now();
            if now >= self.ends {
                self.flush().await?;
                sock.close().await;
                return Ok(());
            }
            if now.duration_since(self.last_renew) >= RENEW_EVERY && !self.renew().await? {
                return Err(Stop::LeaseLost);
            }
            if now.duration_since(last_membership) >= self.settings.membership {
                self.flush().await?;
                self.refresh_members(&mut sock).await?;
                last_membership = Instant::now();
            }
            let wait = match self.batch_since {
                Some(since) => (since + self.settings.batch).saturating_duration_since(now),
                None => Duration::from_secs(1),
            }
            .min(self.ends.saturating_duration_since(now));
            match sock.next_text(wait).await {
                Ok(Some(text)) => self.take(&text),
                Ok(None) => {}
                Err(e) => {
                    // What arrived is safe to queue before connecting again.
                    self.flush().await?;
                    return Err(e.into());
                }
            }
            let aged = self
                .batch_since
                .is_some_and(|s| s.elapsed() >= self.settings.batch);
            if self.batch.len() >= BATCH_MAX || aged {
                self.flush().await?;
            }
        }
    }

    async fn renew(&mut self) -> Result<bool, StoreError> {
        self.last_renew = Instant::now();
        let note = crate::store::stream::LeaseNote {
            ends_ms: super::wall_ms(self.ends),
            integrations: self.tenants.values().map(|m| m.len() as u64).sum(),
            subscribed: self.subscribed,
        };
        self.ctx
            .db
            .try_stream_lease(&self.owner, super::lease_ttl(self.settings), note)
            .await
    }

    /// Every connected Fortnox integration.
    async fn connected_fortnox(&self) -> Result<Vec<Integration>, StoreError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = self
                .ctx
                .db
                .integrations_in_status(IntegrationStatus::Connected, cursor, 200)
                .await?;
            out.extend(
                page.into_iter()
                    .filter(|i| i.provider == ProviderKind::Fortnox),
            );
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Adds companies to the stream, a batch of access tokens a command. A refused token is
    /// replaced once (the shared refresh, under the integration's lease) and tried again.
    async fn add(&mut self, sock: &mut Socket, members: Vec<Integration>) -> Result<(), Stop> {
        if members.is_empty() {
            return Ok(());
        }
        let secret = match self.ctx.providers.credentials(ProviderKind::Fortnox).await {
            Ok(c) => c.client_secret,
            Err(e) => return Err(Stop::Socket(format!("no Fortnox client secret: {e}"))),
        };
        for chunk in members.chunks(self.settings.tenants_per_command) {
            let mut tokens = Vec::new();
            for i in chunk {
                match self.ctx.tokens.access_token(i).await {
                    Ok(t) => tokens.push((t, i.clone())),
                    Err(e) => {
                        tracing::warn!(integration = %i.id, error = %e, "no access token for the stream")
                    }
                }
            }
            if tokens.is_empty() {
                continue;
            }
            let refused = self.add_tokens(sock, secret.expose(), tokens).await?;
            if refused.len() > 1 && refused.len() == chunk.len() {
                tracing::error!(
                    count = refused.len(),
                    "the stream refused every access token of a command: is the client secret right?"
                );
                continue;
            }
            for (token, i) in refused {
                match self.ctx.tokens.replace_refused(&i, &token).await {
                    Ok(fresh) => {
                        let again = vec![(fresh.access_token, i.clone())];
                        if !self
                            .add_tokens(sock, secret.expose(), again)
                            .await?
                            .is_empty()
                        {
                            tracing::warn!(integration = %i.id, "the stream refused a fresh access token");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(integration = %i.id, error = %e, "the stream refused the access token and it could not be replaced")
                    }
                }
            }
        }
        Ok(())
    }

    /// One `add-tenants-v1`; gives back the refused tokens.
    async fn add_tokens(
        &mut self,
        sock: &mut Socket,
        secret: &str,
        tokens: Vec<(crate::domain::Secret, Integration)>,
    ) -> Result<Vec<(crate::domain::Secret, Integration)>, Stop> {
        let raw: Vec<&str> = tokens.iter().map(|(t, _)| t.expose()).collect();
        let answer = self
            .command(sock, wire::add_tenants(secret, &raw), "add-tenants-v1")
            .await?;
        let mut refused = Vec::new();
        for (token, i) in tokens {
            match answer.tenant_ids.get(token.expose()) {
                Some(&fortnox_tenant) => {
                    let members = self.tenants.entry(fortnox_tenant).or_default();
                    members.retain(|m| m.integration.id != i.id);
                    members.push(Member { integration: i });
                }
                None => refused.push((token, i)),
            }
        }
        Ok(refused)
    }

    /// Compares the companies on the stream with the connected integrations: adds the new
    /// ones, removes the disconnected, revoked or re-authorising ones.
    async fn refresh_members(&mut self, sock: &mut Socket) -> Result<(), Stop> {
        let connected = self.connected_fortnox().await?;
        let wanted: HashMap<&str, &Integration> =
            connected.iter().map(|i| (i.id.as_str(), i)).collect();
        let on: std::collections::HashSet<String> = self
            .tenants
            .values()
            .flatten()
            .map(|m| m.integration.id.clone())
            .collect();
        let new: Vec<Integration> = connected
            .iter()
            .filter(|i| !on.contains(&i.id))
            .cloned()
            .collect();
        let mut left = 0;
        for members in self.tenants.values_mut() {
            let before = members.len();
            members.retain(|m| {
                let stays = wanted.contains_key(m.integration.id.as_str());
                if !stays {
                    tracing::info!(integration = %m.integration.id, "integration left the stream");
                }
                stays
            });
            left += before - members.len();
        }
        // A company leaves the stream when none of its integrations is connected any more.
        let gone: Vec<i64> = self
            .tenants
            .iter()
            .filter(|(_, m)| m.is_empty())
            .map(|(t, _)| *t)
            .collect();
        if !gone.is_empty() {
            let answer = self
                .command(sock, wire::remove_tenants(&gone), "remove-tenants-v1")
                .await?;
            if !answer.ok {
                return Err(Stop::Socket(format!(
                    "remove-tenants-v1 refused: {}",
                    answer.message.unwrap_or_default()
                )));
            }
            for t in &gone {
                self.tenants.remove(t);
            }
        }
        self.report.removed += left as u64;
        if left > 0 && !self.renew().await? {
            return Err(Stop::LeaseLost);
        }
        if !new.is_empty() {
            self.add(sock, new).await?;
            if !self.renew().await? {
                return Err(Stop::LeaseLost);
            }
        }
        Ok(())
    }

    /// Adds the topics from their stored offsets. A topic whose offset Fortnox no longer keeps
    /// is read from the next new event on, after a full pull of its entity is queued for every
    /// company on the stream: the changes in between are read by that pull.
    async fn topics(&mut self, sock: &mut Socket) -> Result<(), Stop> {
        let wanted: Vec<(&str, Option<String>)> = wire::TOPICS
            .iter()
            .map(|(t, _)| (*t, self.offsets.get(*t).filter(|o| !o.is_empty()).cloned()))
            .collect();
        let args: Vec<(&str, Option<&str>)> =
            wanted.iter().map(|(t, o)| (*t, o.as_deref())).collect();
        let answer = self
            .command(sock, wire::add_topics(&args), "add-topics-v1")
            .await?;
        if answer.ok {
            return Ok(());
        }
        if answer.invalid_topics.is_empty() {
            return Err(Stop::Socket(format!(
                "add-topics-v1 refused: {}",
                answer.message.unwrap_or_default()
            )));
        }
        // A topic refused without an offset is one the stream does not offer (to this app):
        // read without it; its changes reach the feed with the incremental syncs.
        for (t, o) in &wanted {
            if o.is_none() && answer.invalid_topics.iter().any(|i| i == t) {
                tracing::warn!(topic = %t, "the stream does not offer this topic; read without it");
            }
        }
        let expired: Vec<&str> = wanted
            .iter()
            .filter(|(t, o)| o.is_some() && answer.invalid_topics.iter().any(|i| i == t))
            .map(|(t, _)| *t)
            .collect();
        if expired.is_empty() {
            return Ok(());
        }
        self.full_pulls(&expired).await?;
        let again: Vec<(&str, Option<&str>)> = expired.iter().map(|t| (*t, None)).collect();
        let answer = self
            .command(sock, wire::add_topics(&again), "add-topics-v1")
            .await?;
        if !answer.ok {
            return Err(Stop::Socket(format!(
                "add-topics-v1 refused {:?} from the head too",
                answer.invalid_topics
            )));
        }
        // From here on the topic is read from its head: store that, so the next run does not
        // fall back again (a run that dies before the topic's first event leaves a gap that
        // the hourly incremental pull and the nightly sweep close).
        for t in expired {
            self.offsets.insert(t.to_string(), String::new());
        }
        if !self
            .ctx
            .db
            .save_stream_offsets(&self.owner, &self.offsets)
            .await?
        {
            return Err(Stop::LeaseLost);
        }
        Ok(())
    }

    /// Sends a command and waits for its answer; events that arrive meanwhile join the batch.
    async fn command(
        &mut self,
        sock: &mut Socket,
        command: serde_json::Value,
        name: &str,
    ) -> Result<Answer, Stop> {
        sock.send(&command).await?;
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(text) = sock.next_text(left).await? else {
                return Err(Stop::Socket(format!("no answer to {name}")));
            };
            match wire::parse(&text) {
                Incoming::Answer(a) if a.response.as_deref().is_none_or(|r| r == name) => {
                    return Ok(a)
                }
                Incoming::Answer(a) => {
                    tracing::warn!(response = ?a.response, "an answer to another command");
                }
                Incoming::Event(e) => self.push(e),
                Incoming::Unknown(what) => tracing::warn!(%what, "unreadable stream frame"),
            }
        }
    }

    /// One frame read between commands.
    fn take(&mut self, text: &str) {
        match wire::parse(text) {
            Incoming::Event(e) => self.push(e),
            // Never logged whole: an `add-tenants-v1` answer carries access tokens.
            Incoming::Answer(a) => {
                tracing::warn!(response = ?a.response, ok = a.ok, "an answer no command waits for")
            }
            Incoming::Unknown(what) => tracing::warn!(%what, "unreadable stream frame"),
        }
    }

    fn push(&mut self, e: Event) {
        self.report.events += 1;
        if super::dispatch::seen_before(&self.offsets, &e) {
            self.report.duplicates += 1;
            return;
        }
        if self.batch.is_empty() {
            self.batch_since = Some(Instant::now());
        }
        self.batch.push(e);
    }

    pub(super) fn batch_done(&mut self) {
        self.batch.clear();
        self.batch_since = None;
    }
}
