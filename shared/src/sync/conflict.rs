//! Last-write-wins: when both sides changed a record since the last sync, the later change wins.

use chrono::{DateTime, Utc};

/// Which side's version survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    /// The app's record.
    Local,
    /// The provider's record.
    Provider,
}

impl Winner {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::Local => "local",
            Winner::Provider => "provider",
        }
    }
}

/// Decides a conflict. A tie, or a provider that does not say when it changed the record,
/// goes to the provider: the accounting system is the book of record.
pub fn decide(local_changed_at: DateTime<Utc>, remote_changed_at: Option<DateTime<Utc>>) -> Winner {
    match remote_changed_at {
        Some(remote) if local_changed_at > remote => Winner::Local,
        _ => Winner::Provider,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_later_change_wins() {
        assert_eq!(decide(t("2026-11-22T10:00:01Z"), Some(t("2026-11-22T10:00:00Z"))), Winner::Local);
        assert_eq!(decide(t("2026-11-22T10:00:00Z"), Some(t("2026-11-22T10:00:01Z"))), Winner::Provider);
    }

    #[test]
    fn ties_and_unknown_times_go_to_the_book_of_record() {
        assert_eq!(decide(t("2026-11-22T10:00:00Z"), Some(t("2026-11-22T10:00:00Z"))), Winner::Provider);
        assert_eq!(decide(t("2026-11-22T10:00:00Z"), None), Winner::Provider);
    }
}
