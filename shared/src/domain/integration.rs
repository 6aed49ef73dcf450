//! An integration: one tenant's connection to one accounting system.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The accounting systems this backend connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Fortnox API v3.
    Fortnox,
    /// Visma eAccounting (Spiris) API v2.
    Visma,
}

impl ProviderKind {
    /// Every provider, in a stable order.
    pub const ALL: [ProviderKind; 2] = [ProviderKind::Fortnox, ProviderKind::Visma];

    /// Every provider's name, for answers that list what is allowed.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|p| p.as_str()).collect()
    }

    /// The lower-case name used in paths, bodies and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Fortnox => "fortnox",
            ProviderKind::Visma => "visma",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fortnox" => Ok(ProviderKind::Fortnox),
            "visma" => Ok(ProviderKind::Visma),
            other => Err(UnknownProvider(other.to_string())),
        }
    }
}

/// A provider name that is neither `fortnox` nor `visma`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider `{0}`: expected `fortnox` or `visma`")]
pub struct UnknownProvider(pub String);

/// Where an integration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    /// Created, never connected (or consent not yet given).
    Pending,
    /// Tokens stored and usable.
    Connected,
    /// The provider rejected the refresh token: a person must connect again.
    NeedsReauth,
    /// The provider told us the consent was revoked.
    Revoked,
    /// Disconnected by the tenant; terminal.
    Disconnected,
}

impl IntegrationStatus {
    /// The snake_case name used in storage and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationStatus::Pending => "pending",
            IntegrationStatus::Connected => "connected",
            IntegrationStatus::NeedsReauth => "needs_reauth",
            IntegrationStatus::Revoked => "revoked",
            IntegrationStatus::Disconnected => "disconnected",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => IntegrationStatus::Pending,
            "connected" => IntegrationStatus::Connected,
            "needs_reauth" => IntegrationStatus::NeedsReauth,
            "revoked" => IntegrationStatus::Revoked,
            "disconnected" => IntegrationStatus::Disconnected,
            _ => return None,
        })
    }

    /// Whether a person may (re)connect the integration through OAuth from this state.
    pub fn can_connect(self) -> bool {
        !matches!(self, IntegrationStatus::Disconnected)
    }
}

/// How an integration holds its grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionMode {
    /// A person's consent: an access token and a rotating refresh token.
    #[default]
    User,
    /// A provider service account (Fortnox: a consent given with `account_type=service` by a
    /// system administrator): no refresh token; a new access token is fetched by client
    /// credentials for the company's tenant id whenever one is needed.
    Service,
}

impl ConnectionMode {
    /// Every mode, in a stable order.
    pub const ALL: [ConnectionMode; 2] = [ConnectionMode::User, ConnectionMode::Service];

    /// The lower-case name used in bodies, answers and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionMode::User => "user",
            ConnectionMode::Service => "service",
        }
    }

    /// Parses the name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Every mode's name, for answers that list what is allowed.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|m| m.as_str()).collect()
    }
}

impl fmt::Display for ConnectionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant id taken from verified JWT claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TenantId(String);

impl TenantId {
    /// Accepts ids of 1 to 128 characters from `[A-Za-z0-9._-]`, since the id becomes part of
    /// secret names and keys.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| TenantId(raw.to_string()))
    }

    /// The tenant of a verified JWT claim, as API Gateway passes it: every claim value is
    /// flattened into text, so a claim that was JSON `null`, `true`, `false` or a number arrives
    /// as `"null"`, `"true"`, `"false"` or `"12345"`. Such a text is refused, whatever its
    /// origin, so that a token without a real tenant never becomes a tenant named `null`.
    /// Otherwise the shape is [`TenantId::parse`]'s.
    pub fn from_claim(raw: &str) -> Result<Self, ClaimError> {
        if looks_like_json_scalar(raw) {
            return Err(ClaimError::NotAString);
        }
        TenantId::parse(raw).ok_or(ClaimError::BadShape)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last error that a person should see on an integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// A stable machine-readable code, e.g. `refresh_token_rejected`.
    pub code: String,
    /// What happened, in words (never a token).
    pub message: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// One tenant's connection to one accounting system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// Owner.
    pub tenant_id: TenantId,
    /// Our id (a UUID).
    pub id: String,
    /// Which accounting system.
    pub provider: ProviderKind,
    /// Connection state.
    pub status: IntegrationStatus,
    /// Label chosen by the tenant.
    pub display_name: Option<String>,
    /// The company's name at the provider, read after consent.
    pub company_name: Option<String>,
    /// The provider's id of the company (Fortnox DatabaseNumber, Visma company id).
    pub provider_company_id: Option<String>,
    /// When the stored access token expires.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token dies unless used (Fortnox: 45 days).
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// How the last completed consent holds the grant (`user` until one completes).
    pub mode: ConnectionMode,
    /// For a service account: the provider's id of the company that tokens are fetched for
    /// (Fortnox `TenantId`, which is the company's `DatabaseNumber`).
    pub service_tenant_id: Option<String>,
    /// When consent was last completed.
    pub connected_at: Option<DateTime<Utc>>,
    /// The last error a person should know about.
    pub last_error: Option<LastError>,
    /// Name of the Secrets Manager secret holding the OAuth tokens (the webhook keys are in
    /// `WebhookSettings::secret_name`, a secret of their own).
    pub secret_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Why a tenant claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The claim reads as JSON `null`, `true`, `false` or a number, not as a string.
    #[error("must be a string, not null, a boolean or a number")]
    NotAString,
    /// Not 1 to 128 characters from `A-Z a-z 0-9 . _ -`.
    #[error("must be 1 to 128 characters from A-Z a-z 0-9 . _ -")]
    BadShape,
}

/// Whether `raw` is the text of a JSON value that is not a string: `null`, `true`, `false` or
/// a number (`12345`, `-1`, `1.5`, `1e3`).
fn looks_like_json_scalar(raw: &str) -> bool {
    matches!(raw, "null" | "true" | "false")
        || serde_json::from_str::<serde_json::Number>(raw).is_ok()
}

/// Secret name for an integration: `<prefix>/<tenant>/<integration>`, so IAM can scope by prefix.
pub fn secret_name(prefix: &str, tenant: &TenantId, integration_id: &str) -> String {
    format!("{prefix}/{tenant}/{integration_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in ProviderKind::ALL {
            assert_eq!(p.as_str().parse::<ProviderKind>(), Ok(p));
        }
        assert!("Fortnox".parse::<ProviderKind>().is_err());
        assert!("".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn status_names_round_trip() {
        use IntegrationStatus::*;
        for s in [Pending, Connected, NeedsReauth, Revoked, Disconnected] {
            assert_eq!(IntegrationStatus::parse(s.as_str()), Some(s));
        }
        assert!(!Disconnected.can_connect());
        assert!(NeedsReauth.can_connect());
    }

    #[test]
    fn mode_names_round_trip() {
        for m in ConnectionMode::ALL {
            assert_eq!(ConnectionMode::parse(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_value(m).unwrap(),
                serde_json::json!(m.as_str())
            );
        }
        assert_eq!(ConnectionMode::default(), ConnectionMode::User);
        assert_eq!(ConnectionMode::parse("Service"), None);
        assert_eq!(ConnectionMode::parse(""), None);
    }

    #[test]
    fn tenant_ids_are_restricted_to_safe_characters() {
        assert!(TenantId::parse("acme-bygg_01.se").is_some());
        for bad in ["", "a/b", "a b", "ä", &"x".repeat(129), "a*"] {
            assert!(TenantId::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn claims_that_were_not_strings_are_refused() {
        for raw in [
            "null", "true", "false", "12345", "0", "-1", "1.5", "1e3", "-0.0",
        ] {
            assert_eq!(
                TenantId::from_claim(raw),
                Err(ClaimError::NotAString),
                "{raw:?}"
            );
        }
        for raw in ["", "a b", "[a b]", "{}", "acme/bygg", &"x".repeat(129)] {
            assert_eq!(
                TenantId::from_claim(raw),
                Err(ClaimError::BadShape),
                "{raw:?}"
            );
        }
        for raw in [
            "acme-bygg",
            "t1",
            "Null",
            "truex",
            "007",
            "1-2",
            "5566778899.se",
        ] {
            assert_eq!(
                TenantId::from_claim(raw).map(|t| t.as_str().to_string()),
                Ok(raw.to_string())
            );
        }
    }

    proptest::proptest! {
        /// Every number, as API Gateway would render it, is refused; every text of the shape
        /// that holds a letter other than `e`/`E` is accepted unchanged.
        #[test]
        fn numbers_never_become_tenants(i in proptest::num::i64::ANY, f in proptest::num::f64::NORMAL) {
            proptest::prop_assert_eq!(TenantId::from_claim(&i.to_string()), Err(ClaimError::NotAString));
            proptest::prop_assert_eq!(TenantId::from_claim(&f.to_string()), Err(ClaimError::NotAString));
        }

        #[test]
        fn tenant_shaped_texts_with_a_letter_are_accepted(raw in "[A-Za-z0-9._-]{0,60}[a-df-zA-DF-Z][A-Za-z0-9._-]{0,60}") {
            let refused = matches!(raw.as_str(), "null" | "true" | "false");
            proptest::prop_assert_eq!(TenantId::from_claim(&raw).is_ok(), !refused);
        }
    }

    #[test]
    fn secret_names_are_prefix_scoped() {
        let t = TenantId::parse("t1").unwrap();
        assert_eq!(secret_name("p", &t, "i1"), "p/t1/i1");
    }
}
