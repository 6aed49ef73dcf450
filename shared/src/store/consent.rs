//! OAuth consent in the table: the single-use state of a consent being started
//! (`OAUTH_STATE#<sha256(state)>`) and an approved consent waiting for its starter's
//! confirmation (`CONSENT#<sha256(confirmation)>`). Only hashes of the one-time values are
//! keys; what must stay secret (the PKCE verifier, the provider's code) is stored sealed under
//! them ([`crate::domain::seal`]).

use super::item::{get_s, n, req_s, req_ts, s, ts, Item};
use super::{Db, StoreError};
use crate::domain::seal::{open, seal};
use crate::domain::{ConnectionMode, ProviderKind, TenantId};
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// An OAuth state as stored: bound to tenant, integration, provider and return URL.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthState {
    /// Owner.
    pub tenant_id: TenantId,
    /// The integration being connected.
    pub integration_id: String,
    /// The provider the consent is for.
    pub provider: ProviderKind,
    /// Where the browser goes afterwards (already checked against the allow-list).
    pub return_url: String,
    /// When the state stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The PKCE `code_verifier` of this consent, when it uses PKCE: kept here, never sent to
    /// the browser, so a code obtained in another consent cannot be redeemed with this state.
    pub pkce_verifier: Option<String>,
    /// The person who started the consent (the JWT's `sub`): only they can confirm it.
    pub user: String,
    /// The grant the consent asks for: a person's, or a service account's.
    pub mode: ConnectionMode,
}

/// A consent the provider approved, waiting for the person who started it to confirm it from
/// the app (`POST /api/integrations/{id}/confirm`). Stored under the hash of its one-time
/// confirmation code; the authorization code is redeemed only at confirmation, with the
/// consent's PKCE verifier. Both are stored sealed under the confirmation code
/// ([`crate::domain::seal`]), which only the browser's URL holds.
#[derive(Debug, Clone)]
pub struct PendingConsent {
    /// The state the consent was started with (its return URL, PKCE verifier and person).
    pub state: OAuthState,
    /// The provider's authorization code.
    pub code: String,
    /// When the confirmation stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// The attributes of a state (without keys and TTL); the PKCE verifier sealed under
/// `one_time` (the state or the confirmation code, which the table never holds).
fn state_item(st: &OAuthState, one_time: &str) -> Item {
    let mut it = Item::new();
    it.insert("tenant_id".into(), s(st.tenant_id.as_str()));
    it.insert("integration_id".into(), s(&st.integration_id));
    it.insert("provider".into(), s(st.provider.as_str()));
    it.insert("return_url".into(), s(&st.return_url));
    it.insert("expires_at".into(), ts(st.expires_at));
    it.insert("consent_user".into(), s(&st.user));
    it.insert("connection_mode".into(), s(st.mode.as_str()));
    if let Some(v) = &st.pkce_verifier {
        it.insert(
            "pkce_verifier".into(),
            s(seal(one_time, "pkce-verifier", v)),
        );
    }
    it
}

fn parse_state(it: &Item, one_time: &str) -> Result<OAuthState, StoreError> {
    let pkce_verifier = get_s(it, "pkce_verifier")
        .map(|sealed| {
            open(one_time, "pkce-verifier", sealed)
                .ok_or_else(|| StoreError::Corrupt("pkce_verifier does not open".into()))
        })
        .transpose()?;
    Ok(OAuthState {
        tenant_id: TenantId::parse(req_s(it, "tenant_id")?)
            .ok_or_else(|| StoreError::Corrupt("tenant_id".into()))?,
        integration_id: req_s(it, "integration_id")?.to_string(),
        provider: req_s(it, "provider")?
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
        return_url: req_s(it, "return_url")?.to_string(),
        expires_at: req_ts(it, "expires_at")?,
        pkce_verifier,
        user: req_s(it, "consent_user")?.to_string(),
        // States written before modes existed asked for a person's grant.
        mode: match get_s(it, "connection_mode") {
            None => ConnectionMode::User,
            Some(m) => ConnectionMode::parse(m)
                .ok_or_else(|| StoreError::Corrupt(format!("connection_mode `{m}`")))?,
        },
    })
}

/// Only a hash of a confirmation code is stored.
fn consent_pk(confirmation: &str) -> String {
    format!("CONSENT#{}", hex(&Sha256::digest(confirmation.as_bytes())))
}

/// Only a hash of the state is stored, so a table read does not yield a usable state.
fn state_pk(state: &str) -> String {
    format!("OAUTH_STATE#{}", hex(&Sha256::digest(state.as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Db {
    /// Puts an item that must not exist yet (one-time values are never reused).
    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Stores an OAuth state under the hash of its value, with a TTL.
    pub async fn put_oauth_state(&self, state: &str, s_: &OAuthState) -> Result<(), StoreError> {
        let mut item = state_item(s_, state);
        item.insert("pk".into(), s(state_pk(state)));
        item.insert("sk".into(), s("OAUTH_STATE"));
        // DynamoDB deletes expired items lazily (within days): `expires_at` is what counts.
        item.insert("ttl".into(), n(s_.expires_at.timestamp() + 3600));
        self.put_new(item).await
    }

    /// Takes a state: deletes it and returns what it held, so it can be used once only.
    pub async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        let out = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(state_pk(state)))
            .key("sk", s("OAUTH_STATE"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        match out.attributes() {
            Some(it) if !it.is_empty() => Ok(Some(parse_state(it, state)?)),
            _ => Ok(None),
        }
    }

    /// Stores an approved consent under the hash of its confirmation code.
    pub async fn put_pending_consent(
        &self,
        confirmation: &str,
        p: &PendingConsent,
    ) -> Result<(), StoreError> {
        let mut item = state_item(&p.state, confirmation);
        item.insert("pk".into(), s(consent_pk(confirmation)));
        item.insert("sk".into(), s("CONSENT"));
        item.insert(
            "code".into(),
            s(seal(confirmation, "authorization-code", &p.code)),
        );
        item.insert("confirm_by".into(), ts(p.expires_at));
        item.insert("ttl".into(), n(p.expires_at.timestamp() + 3600));
        self.put_new(item).await
    }

    /// Takes the consent with `confirmation` if it belongs to this tenant, person and
    /// integration: deleted and returned in one conditional write, so it is confirmed once
    /// and by nobody else. `None` when there is no such consent for them (a wrong person
    /// leaves it in place).
    pub async fn take_pending_consent(
        &self,
        confirmation: &str,
        tenant: &TenantId,
        user: &str,
        integration_id: &str,
    ) -> Result<Option<PendingConsent>, StoreError> {
        let res = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(consent_pk(confirmation)))
            .key("sk", s("CONSENT"))
            .condition_expression("tenant_id = :t AND consent_user = :u AND integration_id = :i")
            .expression_attribute_values(":t", s(tenant.as_str()))
            .expression_attribute_values(":u", s(user))
            .expression_attribute_values(":i", s(integration_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let out = match res {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(StoreError::dynamo(e)),
        };
        match out.attributes() {
            Some(it) if !it.is_empty() => Ok(Some(PendingConsent {
                state: parse_state(it, confirmation)?,
                code: open(confirmation, "authorization-code", req_s(it, "code")?)
                    .ok_or_else(|| StoreError::Corrupt("code does not open".into()))?,
                expires_at: req_ts(it, "confirm_by")?,
            })),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_do_not_contain_the_one_time_values() {
        let k = state_pk("my-state-value");
        assert!(!k.contains("my-state-value"));
        assert_eq!(k.len(), "OAUTH_STATE#".len() + 64);
        let c = consent_pk("my-confirmation");
        assert!(!c.contains("my-confirmation"));
        assert_eq!(c.len(), "CONSENT#".len() + 64);
    }

    #[test]
    fn a_state_keeps_the_mode_it_asked_for() {
        let st = OAuthState {
            tenant_id: TenantId::parse("t1").unwrap(),
            integration_id: "i1".into(),
            provider: ProviderKind::Fortnox,
            return_url: "https://app.example/back".into(),
            // Stored to the millisecond.
            expires_at: DateTime::parse_from_rfc3339("2026-11-30T08:20:00.426Z")
                .unwrap()
                .with_timezone(&Utc),
            pkce_verifier: Some("v".repeat(43)),
            user: "u1".into(),
            mode: ConnectionMode::Service,
        };
        let it = state_item(&st, "one-time");
        assert_eq!(parse_state(&it, "one-time").unwrap(), st);
        // A state stored before modes existed asks for a person's grant.
        let mut old = it.clone();
        old.remove("connection_mode");
        assert_eq!(
            parse_state(&old, "one-time").unwrap().mode,
            ConnectionMode::User
        );
    }
}
