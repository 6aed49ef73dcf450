//! Last-write-wins: when both sides changed a record since the last sync, the later change wins;
//! every decision is logged.

use super::run::{store_err, Run};
use super::SyncError;
use crate::domain::Entity;
use crate::store::records::Conflict;
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

/// Decides a conflict. When the provider does not say when it changed the record (Fortnox has
/// no modification time), its change happened no later than `observed_at`, when we saw it: the
/// local change wins only if it is provably later. A tie goes to the provider: the accounting
/// system is the book of record.
pub fn decide(
    local_changed_at: DateTime<Utc>,
    remote_changed_at: Option<DateTime<Utc>>,
    observed_at: DateTime<Utc>,
) -> Winner {
    if local_changed_at > remote_changed_at.unwrap_or(observed_at) {
        Winner::Local
    } else {
        Winner::Provider
    }
}

impl Run<'_> {
    /// Logs a decision.
    pub(super) async fn log_conflict(
        &self,
        e: Entity,
        our_id: &str,
        remote_id: &str,
        winner: Winner,
        local_at: DateTime<Utc>,
        remote_at: Option<DateTime<Utc>>,
    ) -> Result<(), SyncError> {
        let c = Conflict {
            entity: e,
            our_id: our_id.to_string(),
            remote_id: remote_id.to_string(),
            winner: winner.as_str().to_string(),
            local_updated_at: local_at,
            remote_modified_at: remote_at,
            job_id: self.job_id.clone(),
            decided_at: Utc::now(),
        };
        tracing::info!(integration = %self.integration.id, entity = %e, our_id, winner = winner.as_str(), "conflict decided");
        self.eng
            .store
            .log_conflict(&self.integration.id, &c)
            .await
            .map_err(store_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const SEEN: &str = "2026-11-22T12:00:00Z";

    #[test]
    fn the_later_change_wins() {
        assert_eq!(
            decide(
                t("2026-11-22T10:00:01Z"),
                Some(t("2026-11-22T10:00:00Z")),
                t(SEEN)
            ),
            Winner::Local
        );
        assert_eq!(
            decide(
                t("2026-11-22T10:00:00Z"),
                Some(t("2026-11-22T10:00:01Z")),
                t(SEEN)
            ),
            Winner::Provider
        );
    }

    #[test]
    fn ties_go_to_the_book_of_record() {
        assert_eq!(
            decide(
                t("2026-11-22T10:00:00Z"),
                Some(t("2026-11-22T10:00:00Z")),
                t(SEEN)
            ),
            Winner::Provider
        );
    }

    #[test]
    fn an_undated_provider_change_counts_as_made_when_seen() {
        assert_eq!(
            decide(t("2026-11-22T11:59:59Z"), None, t(SEEN)),
            Winner::Provider
        );
        assert_eq!(
            decide(t("2026-11-22T12:00:01Z"), None, t(SEEN)),
            Winner::Local
        );
    }
}
