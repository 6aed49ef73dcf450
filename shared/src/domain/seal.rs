//! Sealing a short-lived value with a key only its holder's URL carries. A consent's PKCE
//! verifier and the provider's authorization code are parked in DynamoDB between requests;
//! they are stored sealed (AES-256-GCM) under a key derived from the one-time value the
//! browser holds (the OAuth state, the confirmation code), of which the table keeps only a
//! SHA-256. A table read, a backup or a TRACE log of DynamoDB answers yields nothing usable.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key for `purpose` from a one-time value: HMAC-SHA-256(value, purpose). Independent of
/// the SHA-256 of the value that the table stores as the item's key.
fn key(one_time: &str, purpose: &str) -> LessSafeKey {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(one_time.as_bytes()).expect("any key length");
    m.update(b"accounting-integrations seal v1: ");
    m.update(purpose.as_bytes());
    let k = m.finalize().into_bytes();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k).expect("a 32-byte key"))
}

/// `plaintext` sealed for `purpose` under `one_time`: base64url of nonce ‖ ciphertext ‖ tag.
pub fn seal(one_time: &str, purpose: &str, plaintext: &str) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    use rand::TryRngCore;
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .expect("the operating system's random generator failed");
    let mut buf = plaintext.as_bytes().to_vec();
    key(one_time, purpose)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(purpose.as_bytes()),
            &mut buf,
        )
        .expect("sealing cannot fail for in-memory buffers");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    URL_SAFE_NO_PAD.encode(out)
}

/// The plaintext of `sealed`, or `None` when it was not sealed for `purpose` under `one_time`
/// (or was tampered with).
pub fn open(one_time: &str, purpose: &str, sealed: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    let mut buf = rest.to_vec();
    let plain = key(one_time, purpose)
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).ok()?,
            Aad::from(purpose.as_bytes()),
            &mut buf,
        )
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_the_same_value_and_purpose_open_it() {
        let sealed = seal("state-abc", "pkce", "verifier-123");
        assert!(!sealed.contains("verifier"));
        assert_eq!(
            open("state-abc", "pkce", &sealed).as_deref(),
            Some("verifier-123")
        );
        assert_eq!(open("state-abd", "pkce", &sealed), None);
        assert_eq!(open("state-abc", "code", &sealed), None);
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            open("state-abc", "pkce", &URL_SAFE_NO_PAD.encode(tampered)),
            None
        );
        assert_eq!(open("state-abc", "pkce", "short"), None);
        assert_ne!(
            seal("state-abc", "pkce", "verifier-123"),
            sealed,
            "fresh nonce"
        );
    }

    proptest! {
        #[test]
        fn round_trips(one_time in "[A-Za-z0-9_-]{1,64}", value in ".{0,200}") {
            prop_assert_eq!(open(&one_time, "p", &seal(&one_time, "p", &value)), Some(value));
        }
    }
}
