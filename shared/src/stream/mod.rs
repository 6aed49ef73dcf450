//! The consumer of Fortnox's change stream (`docs/stream.md`): one WebSocket for the whole app,
//! every connected Fortnox integration added to it as a tenant, and each change event turned
//! into a targeted pull of that record, queued exactly like a webhook's.
//!
//! Run shape: a Lambda run every minute (EventBridge). One run at a time holds the stream lease
//! and the socket for [`StreamSettings::run`] (14 minutes by default, inside Lambda's 15); the
//! other runs see the lease and end at once, except the one that arrives in the last
//! [`StreamSettings::handover`] of the holder's run: it waits for the holder to let go and takes
//! over from the stored offsets, so the stream is never unwatched for more than a moment.
//!
//! At least once, nothing lost: an offset is stored only after every event before it has its
//! pull queued (marker, job, message), and only while the run holds the lease. A run that dies
//! leaves its offsets behind; the next one replays from them, and the pending-pull markers make
//! a replayed event queue nothing twice.

mod dispatch;
pub use dispatch::marker_key;
mod session;
pub mod socket;
pub mod wire;

use crate::store::StoreError;
use crate::AppContext;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// How the consumer runs (environment variables in brackets).
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// The stream (`FORTNOX_STREAM_URL`, `wss://ws.fortnox.se/topics-v1`).
    pub url: String,
    /// How long one run holds the socket (`STREAM_RUN_SECONDS`, 840).
    pub run: Duration,
    /// A run arriving this close to the holder's planned end waits and takes over
    /// (`STREAM_HANDOVER_SECONDS`, 90).
    pub handover: Duration,
    /// How often the set of connected Fortnox integrations is read again
    /// (`STREAM_MEMBERSHIP_SECONDS`, 60).
    pub membership: Duration,
    /// Events are gathered this long before their pulls are queued (`STREAM_BATCH_MS`, 200).
    pub batch: Duration,
    /// Access tokens per `add-tenants-v1` command (`STREAM_TENANTS_PER_COMMAND`, 100).
    pub tenants_per_command: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            url: "wss://ws.fortnox.se/topics-v1".into(),
            run: Duration::from_secs(840),
            handover: Duration::from_secs(90),
            membership: Duration::from_secs(60),
            batch: Duration::from_millis(200),
            tenants_per_command: 100,
        }
    }
}

impl StreamSettings {
    /// Reads the settings from the environment; unset or unreadable values keep their default.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let d = StreamSettings::default();
        let num = |k: &str| get(k).and_then(|v| v.trim().parse::<u64>().ok());
        StreamSettings {
            url: get("FORTNOX_STREAM_URL")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or(d.url),
            run: num("STREAM_RUN_SECONDS").map_or(d.run, Duration::from_secs),
            handover: num("STREAM_HANDOVER_SECONDS").map_or(d.handover, Duration::from_secs),
            membership: num("STREAM_MEMBERSHIP_SECONDS")
                .map_or(d.membership, |s| Duration::from_secs(s.max(1))),
            batch: num("STREAM_BATCH_MS").map_or(d.batch, Duration::from_millis),
            tenants_per_command: num("STREAM_TENANTS_PER_COMMAND")
                .map_or(d.tenants_per_command, |n| n.clamp(1, 1000) as usize),
        }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RunReport {
    /// `held` (this run watched the stream), `waited` (it took over from the holder) or
    /// `skipped` (another run holds the stream).
    pub role: &'static str,
    /// Events received.
    pub events: u64,
    /// Pulls queued.
    pub queued: u64,
    /// Events folded into a pull already pending for the same record.
    pub coalesced: u64,
    /// Events received again (a replay or a duplicate delivery) and dropped by their offset.
    pub duplicates: u64,
    /// Events of a company or topic the app does not follow.
    pub ignored: u64,
    /// Connections opened after the first.
    pub reconnects: u64,
    /// Companies on the stream at the end.
    pub tenants: u64,
    /// Companies taken off the stream (disconnected, revoked).
    pub removed: u64,
    /// Full pulls queued because a stored offset had left the retention window.
    pub full_pulls: u64,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One scheduled run: watches the stream until `deadline` (the Lambda's end, less a margin) or
/// the run's planned length, whichever comes first, then hands over.
pub async fn run(
    ctx: &AppContext,
    settings: &StreamSettings,
    deadline: Instant,
) -> Result<RunReport, StreamError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let ends = (started + settings.run).min(deadline);
    let ends_ms = wall_ms(ends);
    let ttl = lease_ttl(settings);
    let mut role = "held";
    let note = crate::store::stream::LeaseNote {
        ends_ms,
        ..Default::default()
    };
    if !ctx.db.try_stream_lease(&owner, ttl, note).await? {
        // Someone holds it. Wait only when its run ends soon: then this run is its successor.
        let Some(lease) = ctx.db.stream_lease().await? else {
            return Ok(skipped());
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        let ends_left = lease.ends_ms.unwrap_or(lease.until_ms) - now_ms;
        let expires_left = lease.until_ms - now_ms;
        if ends_left > settings.handover.as_millis() as i64 && expires_left > 0 {
            return Ok(skipped());
        }
        let wait = Duration::from_millis(ends_left.max(expires_left).max(0) as u64) + ttl;
        let wait_until = (Instant::now() + wait).min(deadline);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if ctx.db.try_stream_lease(&owner, ttl, note).await? {
                break;
            }
            if Instant::now() >= wait_until {
                return Ok(skipped());
            }
        }
        role = "waited";
    }
    let mut consumer = session::Consumer::new(ctx, settings, owner.clone(), ends);
    let result = consumer.run().await;
    let mut report = consumer.into_report();
    report.role = role;
    // Hand over at once: the successor is waiting on this.
    if let Err(e) = ctx.db.release_stream_lease(&owner).await {
        tracing::warn!(error = %e, "could not release the stream lease; it expires by itself");
    }
    tracing::info!(?report, "stream run ended");
    result.map(|()| report)
}

fn skipped() -> RunReport {
    RunReport {
        role: "skipped",
        ..RunReport::default()
    }
}

/// The lease lasts this long past each renewal: a holder that dies is replaced within it.
fn lease_ttl(settings: &StreamSettings) -> Duration {
    settings
        .handover
        .min(Duration::from_secs(30))
        .max(Duration::from_secs(5))
}

/// An instant of this process as wall-clock milliseconds since the epoch.
pub(crate) fn wall_ms(at: Instant) -> i64 {
    let now = Instant::now();
    let now_ms = chrono::Utc::now().timestamp_millis();
    if at >= now {
        now_ms + at.duration_since(now).as_millis() as i64
    } else {
        now_ms - now.duration_since(at).as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_the_environment_and_keep_defaults() {
        let s = StreamSettings::from_lookup(|k| match k {
            "FORTNOX_STREAM_URL" => Some("ws://127.0.0.1:9/fortnox/topics-v1".into()),
            "STREAM_RUN_SECONDS" => Some("60".into()),
            "STREAM_TENANTS_PER_COMMAND" => Some("0".into()),
            "STREAM_BATCH_MS" => Some("x".into()),
            _ => None,
        });
        assert_eq!(s.url, "ws://127.0.0.1:9/fortnox/topics-v1");
        assert_eq!(s.run, Duration::from_secs(60));
        assert_eq!(s.tenants_per_command, 1);
        assert_eq!(s.batch, Duration::from_millis(200));
        assert_eq!(
            StreamSettings::from_lookup(|_| None).url,
            "wss://ws.fortnox.se/topics-v1"
        );
    }
}
