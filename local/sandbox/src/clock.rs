//! The one clock of all REST data: write times that strictly increase.

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};

/// A millisecond clock whose write times strictly increase and are always later than any
/// time already handed out as "now" (Visma's `Meta.ServerTimeUtc`), so a client that uses
/// the server time as its next high-water mark with `gt` never misses a write.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    last: Option<DateTime<Utc>>,
}

fn now_ms() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(ChronoDuration::milliseconds(1))
        .unwrap_or(now)
}

impl Clock {
    /// A time for a write: later than every time handed out before.
    pub fn tick(&mut self) -> DateTime<Utc> {
        let now = now_ms();
        let t = match self.last {
            Some(last) if now <= last => last + ChronoDuration::milliseconds(1),
            _ => now,
        };
        self.last = Some(t);
        t
    }

    /// The time to report as "now" for a read: not earlier than any write so far.
    pub fn server_time(&mut self) -> DateTime<Utc> {
        let now = now_ms();
        let t = match self.last {
            Some(last) if now < last => last,
            _ => now,
        };
        self.last = Some(t);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_later_than_server_times() {
        let mut c = Clock::default();
        let s = c.server_time();
        let w = c.tick();
        assert!(w > s);
        let w2 = c.tick();
        assert!(w2 > w);
        assert!(c.server_time() >= w2);
    }
}
