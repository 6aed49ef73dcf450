//! Fault injection for REST requests (`/fortnox/3/…`, `/visma/v2/…`): server errors, 429s,
//! slow answers, dropped connections, and writes that are applied before the client is told
//! they failed; and, configured apart ([`OAuthFaults`]), for the token and revocation
//! endpoints, including answers lost after a refresh token was rotated; and
//! ([`crate::StreamFaults`]) for Fortnox's change stream. `/_sandbox` never.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lenient::SplitMix64;
use crate::provider::ProviderKind;
use crate::stream::StreamFaults;

/// Which faults to inject into REST requests and how often. Rates are probabilities
/// (0.0–1.0) checked against one draw of a seeded generator per request, in the order
/// `drop_connection`, `error_500`, `rate_429`, `slow`, `commit_then_fail`, `late_commit`; if
/// they add up to more than 1 the later ones get what is left.
///
/// Over HTTP (`POST /_sandbox/faults`) the delay is `slow_delay_ms`; missing fields default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Answer 500 without running the handler (Fortnox code 1000003, Visma ErrorCode 5000).
    pub error_500: f64,
    /// Answer the provider's 429 without running the handler (not counted by
    /// `rate_limited_count`, which counts the real limiter only).
    pub rate_429: f64,
    /// Sleep `slow_delay` before handling the request (to outlast a client timeout).
    pub slow: f64,
    /// How long `slow` and the delay variant of `commit_then_fail` sleep.
    #[serde(rename = "slow_delay_ms", with = "duration_ms")]
    pub slow_delay: Duration,
    /// Close the TCP connection without any HTTP response, before handling the request.
    pub drop_connection: f64,
    /// Writes only (POST, PUT, DELETE): apply the write, then answer 500, drop the connection
    /// or sleep `slow_delay` before answering (one of the three, drawn evenly).
    pub commit_then_fail: f64,
    /// Creates only (POST): fail the request first (500, a dropped connection, or an answer
    /// held for `slow_delay` and then a 500, drawn evenly), and apply the write
    /// `late_commit_min_ms`..=`late_commit_max_ms` later, after the client has given up: a
    /// provider still processing a request its caller saw fail. Updates (PUT) are left alone: a
    /// late update could only be told apart from a newer one by the provider's own clock.
    pub late_commit: f64,
    /// The shortest delay between giving up on a late-committed create and applying it.
    pub late_commit_min_ms: u64,
    /// The longest such delay.
    pub late_commit_max_ms: u64,
    /// Seed of the generator; setting a config restarts the sequence.
    pub seed: u64,
    /// Leave GET requests alone.
    pub only_writes: bool,
    /// Faults of the token and revocation endpoints (none by default).
    pub oauth: OAuthFaults,
    /// Faults of Fortnox's change stream (none by default).
    pub stream: StreamFaults,
}

/// Faults of the OAuth token endpoint (every grant) and the revocation endpoint. Rates are
/// drawn like [`FaultConfig`]'s, from the same generator, in the order `drop_connection`,
/// `error_500`, `slow`, `lost_then_500`, `lost_then_drop`, `lost_then_delay`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthFaults {
    /// Answer 500 (`server_error`) without handling the request: nothing is applied.
    pub error_500: f64,
    /// Sleep [`FaultConfig::slow_delay`] before handling the request (the client gives up
    /// first; a request whose client left is never handled, so nothing is applied).
    pub slow: f64,
    /// Close the connection without an answer, before handling the request.
    pub drop_connection: f64,
    /// Handle the request (a refresh rotates: the old refresh token is spent and a new pair
    /// issued), then answer 500 instead of the tokens.
    pub lost_then_500: f64,
    /// Handle the request, then close the connection without an answer.
    pub lost_then_drop: f64,
    /// Handle the request, then hold the answer back for `slow_delay` (past the client's
    /// timeout).
    pub lost_then_delay: f64,
    /// At most this many OAuth faults from the moment the configuration is set (`None`: no
    /// limit), so a test can fail the first request and let the next one through.
    pub max_faults: Option<u32>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            error_500: 0.0,
            rate_429: 0.0,
            slow: 0.0,
            slow_delay: Duration::from_secs(30),
            drop_connection: 0.0,
            commit_then_fail: 0.0,
            late_commit: 0.0,
            late_commit_min_ms: 1_000,
            late_commit_max_ms: 30_000,
            seed: 0,
            only_writes: false,
            oauth: OAuthFaults::default(),
            stream: StreamFaults::default(),
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// What was done to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 instead of handling the request.
    Error500,
    /// 429 instead of handling the request.
    RateLimited,
    /// Handled after sleeping `slow_delay`.
    Slow,
    /// Connection closed without a response; the request was not handled.
    DropConnection,
    /// The write was applied, then the client got a 500.
    CommitThenError500,
    /// The write was applied, then the connection was closed without a response.
    CommitThenDrop,
    /// The write was applied, then the answer was held back for `slow_delay`.
    CommitThenDelay,
    /// The client got a failure; the create is applied later (see [`FaultConfig::late_commit`]).
    LateCommit,
    /// Stream: the connection was closed (no close frame) instead of sending an event.
    StreamDrop,
    /// Stream: an event was sent twice.
    StreamDuplicate,
    /// Stream: an event was held back for [`StreamFaults::delay_ms`].
    StreamSlow,
}

/// A refresh whose answer never reached the client although the refresh was applied.
pub const LOST_AFTER_ROTATION: [FaultKind; 3] = [
    FaultKind::CommitThenError500,
    FaultKind::CommitThenDrop,
    FaultKind::CommitThenDelay,
];

impl FaultKind {
    /// Whether the request's effect happened although the client saw a failure.
    pub fn committed(self) -> bool {
        matches!(
            self,
            FaultKind::CommitThenError500 | FaultKind::CommitThenDrop | FaultKind::CommitThenDelay
        )
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectedFault {
    /// Provider the request was addressed to.
    pub provider: ProviderKind,
    /// HTTP method.
    pub method: String,
    /// Path as the provider sees it (`/3/customers`), without query.
    pub path: String,
    /// What was done.
    pub kind: FaultKind,
    /// When it was decided.
    pub at: DateTime<Utc>,
}

/// What to do with one request, decided before it is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    None,
    Pre(FaultKind),
    /// Handle it, and if it succeeded, fail it this way (a `CommitThen…` kind).
    CommitThen(FaultKind),
    /// Fail it this way (`Error500`, `DropConnection` or `Slow`: held, then a 500), and handle
    /// it after the delay, apart from the client's connection.
    Late {
        answer: FaultKind,
        after: Duration,
    },
}

/// Runtime fault configuration, its generator and the record of what was injected.
#[derive(Debug)]
pub(crate) struct FaultState {
    config: FaultConfig,
    rng: SplitMix64,
    injected: Vec<InjectedFault>,
    /// OAuth faults injected since the configuration was set (for `max_faults`).
    oauth_count: u32,
    /// Stream drops and duplicates since the configuration was set (for `max_faults`).
    stream_count: u32,
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            config: FaultConfig::default(),
            rng: SplitMix64::new(0),
            injected: Vec::new(),
            oauth_count: 0,
            stream_count: 0,
        }
    }
}

fn rate(r: f64) -> f64 {
    if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

impl FaultState {
    pub fn set(&mut self, config: FaultConfig) {
        self.rng = SplitMix64::new(config.seed);
        self.config = config;
        self.oauth_count = 0;
        self.stream_count = 0;
    }

    /// Draws the fate of one stream event: `StreamDrop`, `StreamDuplicate` or nothing.
    pub fn decide_stream(&mut self) -> Option<FaultKind> {
        let c = &self.config.stream;
        let (drop, duplicate) = (rate(c.drop_connection), rate(c.duplicate));
        if c.max_faults.is_some_and(|m| self.stream_count >= m) || drop + duplicate == 0.0 {
            return None;
        }
        let u = self.rng.next_f64();
        let kind = if u < drop {
            FaultKind::StreamDrop
        } else if u < drop + duplicate {
            FaultKind::StreamDuplicate
        } else {
            return None;
        };
        self.stream_count += 1;
        Some(kind)
    }

    /// Draws the fate of one request to a token or revocation endpoint.
    pub fn decide_oauth(&mut self) -> Decision {
        let c = &self.config.oauth;
        if c.max_faults.is_some_and(|m| self.oauth_count >= m) {
            return Decision::None;
        }
        let ladder = [
            (c.drop_connection, Decision::Pre(FaultKind::DropConnection)),
            (c.error_500, Decision::Pre(FaultKind::Error500)),
            (c.slow, Decision::Pre(FaultKind::Slow)),
            (
                c.lost_then_500,
                Decision::CommitThen(FaultKind::CommitThenError500),
            ),
            (
                c.lost_then_drop,
                Decision::CommitThen(FaultKind::CommitThenDrop),
            ),
            (
                c.lost_then_delay,
                Decision::CommitThen(FaultKind::CommitThenDelay),
            ),
        ];
        if ladder.iter().all(|(r, _)| rate(*r) == 0.0) {
            return Decision::None;
        }
        let u = self.rng.next_f64();
        let mut acc = 0.0;
        for (r, decision) in ladder {
            acc += rate(r);
            if u < acc {
                self.oauth_count += 1;
                return decision;
            }
        }
        Decision::None
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    pub fn injected(&self) -> &[InjectedFault] {
        &self.injected
    }

    pub fn clear(&mut self) {
        self.injected.clear();
    }

    pub fn record(&mut self, fault: InjectedFault) {
        self.injected.push(fault);
    }

    /// Draws the fate of one request; `is_create` only for a POST.
    pub fn decide(&mut self, is_write: bool, is_create: bool) -> Decision {
        let c = &self.config;
        if c.only_writes && !is_write {
            return Decision::None;
        }
        let commit = if is_write { c.commit_then_fail } else { 0.0 };
        let late = if is_create { c.late_commit } else { 0.0 };
        let ladder = [
            (c.drop_connection, FaultKind::DropConnection),
            (c.error_500, FaultKind::Error500),
            (c.rate_429, FaultKind::RateLimited),
            (c.slow, FaultKind::Slow),
        ];
        if ladder.iter().all(|(r, _)| rate(*r) == 0.0) && rate(commit) == 0.0 && rate(late) == 0.0 {
            return Decision::None;
        }
        let u = self.rng.next_f64();
        let mut acc = 0.0;
        for (r, kind) in ladder {
            acc += rate(r);
            if u < acc {
                return Decision::Pre(kind);
            }
        }
        acc += rate(commit);
        if u < acc {
            let kind = match self.rng.below(3) {
                0 => FaultKind::CommitThenError500,
                1 => FaultKind::CommitThenDrop,
                _ => FaultKind::CommitThenDelay,
            };
            return Decision::CommitThen(kind);
        }
        acc += rate(late);
        if u < acc {
            let answer = match self.rng.below(3) {
                0 => FaultKind::Error500,
                1 => FaultKind::DropConnection,
                _ => FaultKind::Slow,
            };
            let (lo, hi) = (
                c.late_commit_min_ms,
                c.late_commit_max_ms.max(c.late_commit_min_ms),
            );
            let after = Duration::from_millis(lo + self.rng.below(hi - lo + 1));
            return Decision::Late { answer, after };
        }
        Decision::None
    }
}

/// Response extension asking the connection loop to close the connection instead of
/// answering. Servers that embed [`crate::router`] without the sandbox's own loop send the
/// response it is attached to (a 500) instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let config = FaultConfig {
            error_500: 0.3,
            commit_then_fail: 0.3,
            seed: 42,
            ..FaultConfig::default()
        };
        let run = || {
            let mut s = FaultState::default();
            s.set(config.clone());
            (0..50)
                .map(|i| s.decide(i % 2 == 0, i % 4 == 0))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        assert!(run().contains(&Decision::None));
    }

    #[test]
    fn zero_rates_inject_nothing() {
        let mut s = FaultState::default();
        assert!((0..100).all(|_| s.decide(true, true) == Decision::None));
    }

    #[test]
    fn oauth_faults_stop_at_their_limit_and_leave_rest_alone() {
        let mut s = FaultState::default();
        s.set(FaultConfig {
            oauth: OAuthFaults {
                lost_then_drop: 1.0,
                max_faults: Some(2),
                ..OAuthFaults::default()
            },
            ..FaultConfig::default()
        });
        assert_eq!(s.decide(true, true), Decision::None, "REST untouched");
        assert_eq!(
            s.decide_oauth(),
            Decision::CommitThen(FaultKind::CommitThenDrop)
        );
        assert_eq!(
            s.decide_oauth(),
            Decision::CommitThen(FaultKind::CommitThenDrop)
        );
        assert_eq!(s.decide_oauth(), Decision::None);
        let c: FaultConfig =
            serde_json::from_str(r#"{"oauth": {"error_500": 1.0, "max_faults": 1}}"#).unwrap();
        assert_eq!(c.oauth.error_500, 1.0);
        assert_eq!(c.oauth.max_faults, Some(1));
    }

    #[test]
    fn late_commits_hit_creates_only_within_their_window() {
        let mut s = FaultState::default();
        s.set(FaultConfig {
            late_commit: 1.0,
            late_commit_min_ms: 1_000,
            late_commit_max_ms: 3_000,
            seed: 3,
            ..FaultConfig::default()
        });
        assert_eq!(
            s.decide(true, false),
            Decision::None,
            "an update is left alone"
        );
        assert_eq!(
            s.decide(false, false),
            Decision::None,
            "a read is left alone"
        );
        let mut answers = std::collections::HashSet::new();
        for _ in 0..60 {
            match s.decide(true, true) {
                Decision::Late { answer, after } => {
                    assert!(
                        (1_000..=3_000).contains(&(after.as_millis() as u64)),
                        "{after:?}"
                    );
                    answers.insert(answer);
                }
                other => panic!("not late: {other:?}"),
            }
        }
        assert_eq!(
            answers.len(),
            3,
            "500, dropped and held answers: {answers:?}"
        );
    }

    #[test]
    fn json_uses_milliseconds() {
        let c: FaultConfig =
            serde_json::from_str(r#"{"slow": 1.0, "slow_delay_ms": 250}"#).expect("parses");
        assert_eq!(c.slow_delay, Duration::from_millis(250));
        assert_eq!(c.error_500, 0.0);
    }
}
