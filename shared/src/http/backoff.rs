//! Retries with exponential backoff and full jitter, bounded in attempts and total time.

use super::error::ApiError;
use std::time::Duration;

/// How hard to try before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Ceiling of the first backoff; doubles with every attempt.
    pub base: Duration,
    /// Largest ceiling of one backoff.
    pub cap: Duration,
    /// Total time after which no new attempt starts.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Stop and report this error.
    GiveUp(ApiError),
}

/// How a failed attempt ended, as far as sending goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The request never left (connection refused, DNS, connect timeout): always safe to repeat.
    No,
    /// The request may have reached the provider.
    Maybe,
}

impl RetryPolicy {
    /// The upper bound of the backoff before attempt `attempt + 1` (attempts count from 1):
    /// `min(cap, base × 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Full jitter: a uniform draw in `[0, ceiling]`; `unit` is the draw in `[0, 1)`.
    pub fn full_jitter(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Decides what follows failed attempt `attempt` after `elapsed` in total.
    ///
    /// `idempotent` calls (GET, PUT) are repeated on retryable failures; a create (POST) is
    /// repeated only when it certainly never left or the provider refused it with 429 (a 429 is
    /// answered before anything is done), and otherwise ends [`ApiError::Ambiguous`].
    /// `default_wait` is the provider's window, used when a 429 does not say how long to wait.
    #[allow(clippy::too_many_arguments)]
    pub fn next_step(
        &self,
        attempt: u32,
        elapsed: Duration,
        error: ApiError,
        sent: Sent,
        idempotent: bool,
        default_wait: Duration,
        unit: f64,
    ) -> Step {
        let wait = match &error {
            ApiError::RateLimited { retry_after, .. } => {
                // A little jitter so that waiting workers do not all return at once.
                let w = retry_after.unwrap_or(default_wait);
                w + w.mul_f64(0.1 * unit.clamp(0.0, 1.0))
            }
            ApiError::Retryable { message } => {
                if !idempotent && sent == Sent::Maybe {
                    return Step::GiveUp(ApiError::Ambiguous {
                        message: message.clone(),
                    });
                }
                self.full_jitter(attempt, unit)
            }
            _ => return Step::GiveUp(error),
        };
        if attempt >= self.max_attempts || elapsed + wait > self.max_elapsed {
            return Step::GiveUp(error);
        }
        Step::Retry(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retryable() -> ApiError {
        ApiError::Retryable {
            message: "HTTP 503".into(),
        }
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(60),
        };
        let c: Vec<u128> = (1..=6).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(c, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.ceiling(200), Duration::from_secs(1));
        assert_eq!(p.full_jitter(3, 0.5), Duration::from_millis(200));
        assert_eq!(p.full_jitter(3, 0.0), Duration::ZERO);
        assert!(p.full_jitter(3, 0.999_999) <= p.ceiling(3));
    }

    #[test]
    fn reads_retry_and_creates_turn_ambiguous() {
        let p = RetryPolicy::default();
        let w = Duration::from_secs(5);
        assert!(matches!(
            p.next_step(1, Duration::ZERO, retryable(), Sent::Maybe, true, w, 0.5),
            Step::Retry(_)
        ));
        assert!(matches!(
            p.next_step(1, Duration::ZERO, retryable(), Sent::Maybe, false, w, 0.5),
            Step::GiveUp(ApiError::Ambiguous { .. })
        ));
        // never sent: a create may go again
        assert!(matches!(
            p.next_step(1, Duration::ZERO, retryable(), Sent::No, false, w, 0.5),
            Step::Retry(_)
        ));
    }

    #[test]
    fn rate_limits_wait_the_window_even_for_creates() {
        let p = RetryPolicy::default();
        let e = ApiError::RateLimited {
            retry_after: None,
            message: String::new(),
        };
        let w = Duration::from_secs(5);
        match p.next_step(1, Duration::ZERO, e.clone(), Sent::Maybe, false, w, 0.0) {
            Step::Retry(d) => assert_eq!(d, w),
            other => panic!("{other:?}"),
        }
        let told = ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(17)),
            message: String::new(),
        };
        match p.next_step(1, Duration::ZERO, told, Sent::Maybe, true, w, 1.0) {
            Step::Retry(d) => assert_eq!(d, Duration::from_millis(18_700)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn attempts_and_time_are_bounded() {
        let p = RetryPolicy::default();
        let w = Duration::from_secs(5);
        assert!(matches!(
            p.next_step(5, Duration::ZERO, retryable(), Sent::Maybe, true, w, 0.5),
            Step::GiveUp(ApiError::Retryable { .. })
        ));
        let e = ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            message: String::new(),
        };
        assert!(matches!(
            p.next_step(1, Duration::from_secs(40), e, Sent::Maybe, true, w, 0.0),
            Step::GiveUp(ApiError::RateLimited { .. })
        ));
    }

    #[test]
    fn other_errors_are_final() {
        let p = RetryPolicy::default();
        for e in [
            ApiError::NotFound {
                message: String::new(),
            },
            ApiError::NeedsReauth {
                message: String::new(),
            },
            ApiError::invalid_field("name", "x"),
        ] {
            assert_eq!(
                p.next_step(
                    1,
                    Duration::ZERO,
                    e.clone(),
                    Sent::Maybe,
                    true,
                    Duration::ZERO,
                    0.1
                ),
                Step::GiveUp(e)
            );
        }
    }
}
