//! Which signing keys an integration accepts, and how a rotation changes them. Pure.

use crate::domain::secret::random_token;
use crate::domain::{Secret, WebhookKey};
use chrono::{DateTime, Duration, Utc};

/// Most keys kept in a secret: the current one and a few retiring ones.
pub const MAX_KEYS: usize = 4;

/// The keys accepted at `now`, newest first: the current key and rotated-out keys whose
/// grace period has not ended.
pub fn accepted(keys: &[WebhookKey], now: DateTime<Utc>) -> Vec<&WebhookKey> {
    keys.iter()
        .filter(|k| k.retire_at.is_none_or(|r| r > now))
        .collect()
}

/// A new key: generated (32 random bytes, base64url) unless the sender's key is imported.
pub fn new_key(imported: Option<Secret>, now: DateTime<Utc>) -> WebhookKey {
    WebhookKey {
        id: format!("whk_{}", random_token(6)),
        key: imported.unwrap_or_else(|| Secret::new(random_token(32))),
        created_at: now,
        retire_at: None,
    }
}

/// Puts `new` first and retires every older key at `now + grace` at the latest (never later
/// than it was already due, so an urgent rotation with no grace cuts off every old key).
/// Keys already retired are dropped, and at most [`MAX_KEYS`] are kept.
pub fn rotate(keys: &mut Vec<WebhookKey>, new: WebhookKey, now: DateTime<Utc>, grace: Duration) {
    let until = now + grace.max(Duration::zero());
    for k in keys.iter_mut() {
        k.retire_at = Some(k.retire_at.map_or(until, |r| r.min(until)));
    }
    keys.retain(|k| k.retire_at.is_some_and(|r| r > now));
    keys.insert(0, new);
    keys.truncate(MAX_KEYS);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + s, 0).unwrap()
    }

    #[test]
    fn rotation_keeps_the_old_key_for_the_grace_period() {
        let mut keys = vec![new_key(None, at(0))];
        let first = keys[0].id.clone();
        rotate(
            &mut keys,
            new_key(None, at(10)),
            at(10),
            Duration::hours(24),
        );
        assert_eq!(keys.len(), 2);
        assert!(keys[0].retire_at.is_none(), "the new key is current");
        assert_eq!(keys[1].id, first);
        assert_eq!(keys[1].retire_at, Some(at(10) + Duration::hours(24)));
        assert_eq!(accepted(&keys, at(11)).len(), 2);
        let later = at(10) + Duration::hours(24);
        let ids: Vec<_> = accepted(&keys, later)
            .iter()
            .map(|k| k.id.clone())
            .collect();
        assert_eq!(
            ids,
            vec![keys[0].id.clone()],
            "retired exactly at retire_at"
        );
    }

    #[test]
    fn urgent_rotation_cuts_off_every_old_key_and_never_extends_one() {
        let mut keys = vec![new_key(None, at(0))];
        rotate(&mut keys, new_key(None, at(1)), at(1), Duration::hours(24));
        rotate(&mut keys, new_key(None, at(2)), at(2), Duration::hours(48));
        assert_eq!(
            keys[2].retire_at,
            Some(at(1) + Duration::hours(24)),
            "not extended"
        );
        rotate(&mut keys, new_key(None, at(3)), at(3), Duration::zero());
        assert_eq!(keys.len(), 1);
        assert_eq!(accepted(&keys, at(3)).len(), 1);
    }

    #[test]
    fn at_most_max_keys_are_kept_and_imported_keys_are_used_as_given() {
        let mut keys = Vec::new();
        for i in 0..10 {
            rotate(&mut keys, new_key(None, at(i)), at(i), Duration::hours(1));
        }
        assert_eq!(keys.len(), MAX_KEYS);
        let k = new_key(Some(Secret::new("from-the-portal")), at(0));
        assert_eq!(k.key.expose(), "from-the-portal");
        assert!(k.id.starts_with("whk_"));
        assert_ne!(new_key(None, at(0)).key, new_key(None, at(0)).key);
    }
}
