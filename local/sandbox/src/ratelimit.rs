//! Sliding-window rate limits as the providers apply them.
//!
//! Fortnox: 25 requests per sliding 5 s **per client id and tenant** (whatever the token).
//! Visma: 600 requests a minute **per client id and endpoint**, shared by every company the
//! app serves. Windows are divided by `SandboxConfig::time_scale`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::provider::ProviderKind;

/// Fortnox: requests allowed per window, per (client id, tenant).
pub const FORTNOX_RATE_LIMIT: usize = 25;
/// Fortnox: the sliding window (before `time_scale`).
pub const FORTNOX_RATE_WINDOW: Duration = Duration::from_secs(5);
/// Visma: requests allowed per window, per (client id, endpoint), across companies.
pub const VISMA_RATE_LIMIT: usize = 600;
/// Visma: the window (before `time_scale`).
pub const VISMA_RATE_WINDOW: Duration = Duration::from_secs(60);

/// `window / time_scale`, treating a non-positive or non-finite scale as 1.
pub(crate) fn scaled(window: Duration, time_scale: f64) -> Duration {
    let scale = if time_scale.is_finite() && time_scale > 0.0 {
        time_scale
    } else {
        1.0
    };
    Duration::try_from_secs_f64(window.as_secs_f64() / scale).unwrap_or(window)
}

/// Admission times per key, and how many requests each provider's limiter turned away.
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    windows: HashMap<(ProviderKind, String, String), VecDeque<Instant>>,
    limited: HashMap<ProviderKind, usize>,
}

impl RateLimits {
    /// Admits a request under `key` (counting it) or says how long until a slot frees.
    /// Turned-away requests do not count against the window.
    pub fn check(
        &mut self,
        provider: ProviderKind,
        client_id: &str,
        key: &str,
        limit: usize,
        window: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        let hits = self
            .windows
            .entry((provider, client_id.to_string(), key.to_string()))
            .or_default();
        while let Some(first) = hits.front() {
            if now.duration_since(*first) >= window {
                hits.pop_front();
            } else {
                break;
            }
        }
        if hits.len() >= limit {
            *self.limited.entry(provider).or_default() += 1;
            let wait = hits
                .front()
                .map(|first| (*first + window).saturating_duration_since(now))
                .unwrap_or(window);
            return Err(wait);
        }
        hits.push_back(now);
        Ok(())
    }

    pub fn limited_count(&self, provider: ProviderKind) -> usize {
        self.limited.get(&provider).copied().unwrap_or(0)
    }

    pub fn clear_counts(&mut self) {
        self.limited.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let mut limits = RateLimits::default();
        let w = Duration::from_secs(5);
        let t0 = Instant::now();
        let check =
            |l: &mut RateLimits, t: Instant| l.check(ProviderKind::Fortnox, "c", "1", 3, w, t);
        assert!(check(&mut limits, t0).is_ok());
        assert!(check(&mut limits, t0 + Duration::from_secs(3)).is_ok());
        assert!(check(&mut limits, t0 + Duration::from_secs(3)).is_ok());
        let wait = check(&mut limits, t0 + Duration::from_secs(4)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // The first hit left the window; the two at 3 s have not.
        assert!(check(&mut limits, t0 + Duration::from_secs(5)).is_ok());
        assert!(check(&mut limits, t0 + Duration::from_secs(6)).is_err());
        assert_eq!(limits.limited_count(ProviderKind::Fortnox), 2);
    }

    #[test]
    fn scale_divides_the_window() {
        assert_eq!(
            scaled(Duration::from_secs(60), 10.0),
            Duration::from_secs(6)
        );
        assert_eq!(scaled(Duration::from_secs(5), 0.0), Duration::from_secs(5));
    }
}
