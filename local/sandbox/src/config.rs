//! What the sandbox simulates: registered apps, companies, lifetimes and switches.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::contract::official_path;
use crate::provider::ProviderKind;

/// An app registered with a provider's developer portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The provider the app is registered with.
    pub provider: ProviderKind,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (checked by HTTP Basic on the token and revoke endpoints).
    pub client_secret: String,
    /// Registered redirect URIs, compared exactly. Empty means "any `http://127.0.0.1:<port>/…`
    /// or `http://localhost:<port>/…`", which suits tests whose callback port is random.
    pub redirect_uris: Vec<String>,
}

impl ClientRegistration {
    /// Whether `redirect_uri` may receive codes for this client.
    pub fn allows_redirect(&self, redirect_uri: &str) -> bool {
        if !self.redirect_uris.is_empty() {
            return self.redirect_uris.iter().any(|r| r == redirect_uri);
        }
        match url::Url::parse(redirect_uri) {
            Ok(url) => {
                url.scheme() == "http"
                    && matches!(url.host_str(), Some("127.0.0.1") | Some("localhost"))
                    && url.fragment().is_none()
            }
            Err(_) => false,
        }
    }
}

/// A company (tenant) a user can pick on the consent page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Company {
    /// Fortnox `DatabaseNumber`, also the Fortnox tenant id. Ignored by Visma.
    pub database_number: i64,
    /// Visma company id. Ignored by Fortnox.
    pub company_id: Uuid,
    /// Registered company name.
    pub name: String,
    /// Swedish organisation number, `NNNNNN-NNNN`.
    pub organization_number: String,
    /// Street address.
    pub address: String,
    /// Postal code, `NNN NN`.
    pub zip_code: String,
    /// City.
    pub city: String,
    /// ISO 3166 alpha-2 country code.
    pub country_code: String,
    /// Company e-mail address.
    pub email: String,
    /// Company phone number.
    pub phone: String,
}

impl Company {
    /// The value that identifies the company on `provider`'s consent page and in its tokens.
    pub fn key(&self, provider: ProviderKind) -> String {
        match provider {
            ProviderKind::Fortnox => self.database_number.to_string(),
            ProviderKind::Visma => self.company_id.to_string(),
        }
    }
}

/// Everything a sandbox instance is started with.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Lifetime of access tokens (both providers); `expires_in` reports it in seconds.
    pub access_token_ttl: Duration,
    /// Lifetime of a Fortnox refresh token from the moment it is issued.
    pub fortnox_refresh_ttl: Duration,
    /// Lifetime of a Visma refresh token; `None` means it never expires by age.
    pub visma_refresh_ttl: Option<Duration>,
    /// Lifetime of an authorization code (both providers).
    pub code_ttl: Duration,
    /// Which apps exist.
    pub clients: Vec<ClientRegistration>,
    /// Companies on the Fortnox consent page; the first is preselected.
    pub fortnox_companies: Vec<Company>,
    /// Companies on the Visma consent page; the first is preselected.
    pub visma_companies: Vec<Company>,
    /// Whether Visma's `/connect/revocation` exists (otherwise it answers 404).
    pub visma_revocation_enabled: bool,
    /// Fortnox has been seen sending `expires_in` as a string; set to test lenient clients.
    pub fortnox_expires_in_as_string: bool,
    /// Presenting a spent refresh token also revokes every token descended from the same
    /// consent (refresh-token reuse detection). Off by default: neither provider documents it.
    pub refresh_reuse_revokes_family: bool,
    /// Divides the REST rate-limit windows (10 → Fortnox 0.5 s, Visma 6 s), so tests and
    /// benchmarks run fast against the real window shapes. Token and code lifetimes are not
    /// scaled. Non-positive values count as 1.
    pub time_scale: f64,
    /// How long Fortnox's change stream keeps events for replay (Fortnox: about two weeks).
    pub stream_retention: Duration,
    /// The providers' OpenAPI documents. Every REST request and response of both providers
    /// is checked against them, always; violations are recorded
    /// (`SandboxState::contract_violations`). A file that does not load fails `start`.
    pub contracts: ContractFiles,
}

/// Where the providers' OpenAPI documents are read from: the repository's copies
/// (`contracts/`) unless a test of the loader points elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractFiles {
    /// Fortnox API v3 (OpenAPI 3.0), [`crate::FORTNOX_CONTRACT`] by default.
    pub fortnox: PathBuf,
    /// Visma eAccounting API v2 (OpenAPI 3.1), [`crate::VISMA_CONTRACT`] by default.
    pub visma: PathBuf,
}

impl Default for ContractFiles {
    fn default() -> Self {
        ContractFiles {
            fortnox: official_path(ProviderKind::Fortnox),
            visma: official_path(ProviderKind::Visma),
        }
    }
}

impl ContractFiles {
    /// The document for `provider`.
    pub fn path(&self, provider: ProviderKind) -> &PathBuf {
        match provider {
            ProviderKind::Fortnox => &self.fortnox,
            ProviderKind::Visma => &self.visma,
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self::with_defaults()
    }
}

impl SandboxConfig {
    /// Loopback on a free port, provider lifetimes, the two dev clients and two companies each.
    pub fn with_defaults() -> Self {
        SandboxConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            access_token_ttl: Duration::from_secs(3600),
            fortnox_refresh_ttl: Duration::from_secs(45 * 24 * 3600),
            visma_refresh_ttl: None,
            code_ttl: Duration::from_secs(600),
            clients: vec![
                ClientRegistration {
                    provider: ProviderKind::Fortnox,
                    client_id: DEFAULT_FORTNOX_CLIENT_ID.to_string(),
                    client_secret: DEFAULT_FORTNOX_CLIENT_SECRET.to_string(),
                    redirect_uris: Vec::new(),
                },
                ClientRegistration {
                    provider: ProviderKind::Visma,
                    client_id: DEFAULT_VISMA_CLIENT_ID.to_string(),
                    client_secret: DEFAULT_VISMA_CLIENT_SECRET.to_string(),
                    redirect_uris: Vec::new(),
                },
            ],
            fortnox_companies: default_fortnox_companies(),
            visma_companies: default_visma_companies(),
            visma_revocation_enabled: true,
            fortnox_expires_in_as_string: false,
            refresh_reuse_revokes_family: false,
            time_scale: 1.0,
            stream_retention: Duration::from_secs(14 * 24 * 3600),
            contracts: ContractFiles::default(),
        }
    }

    /// The companies offered by `provider`.
    pub fn companies(&self, provider: ProviderKind) -> &[Company] {
        match provider {
            ProviderKind::Fortnox => &self.fortnox_companies,
            ProviderKind::Visma => &self.visma_companies,
        }
    }

    /// The registered client `client_id` of `provider`, if any.
    pub fn client(&self, provider: ProviderKind, client_id: &str) -> Option<&ClientRegistration> {
        self.clients
            .iter()
            .find(|c| c.provider == provider && c.client_id == client_id)
    }
}

/// Client id of the default Fortnox app.
pub const DEFAULT_FORTNOX_CLIENT_ID: &str = "fortnox-dev-client";
/// Client secret of the default Fortnox app.
pub const DEFAULT_FORTNOX_CLIENT_SECRET: &str = "fortnox-dev-secret";
/// Client id of the default Visma app.
pub const DEFAULT_VISMA_CLIENT_ID: &str = "visma-dev-client";
/// Client secret of the default Visma app.
pub const DEFAULT_VISMA_CLIENT_SECRET: &str = "visma-dev-secret";

fn default_fortnox_companies() -> Vec<Company> {
    vec![
        Company {
            database_number: 1_234_567,
            company_id: Uuid::from_u128(0x6f1c_2a4e_0b7d_4c1a_9e3f_5a6b_7c8d_9e01),
            name: "Bygg & Service i Norrland AB".to_string(),
            organization_number: "556677-8899".to_string(),
            address: "Storgatan 12".to_string(),
            zip_code: "903 26".to_string(),
            city: "Umeå".to_string(),
            country_code: "SE".to_string(),
            email: "info@byggnorrland.se".to_string(),
            phone: "090-123 45 67".to_string(),
        },
        Company {
            database_number: 2_345_678,
            company_id: Uuid::from_u128(0x6f1c_2a4e_0b7d_4c1a_9e3f_5a6b_7c8d_9e02),
            name: "Elinstallationer Mälardalen AB".to_string(),
            organization_number: "559012-3456".to_string(),
            address: "Kungsgatan 5".to_string(),
            zip_code: "722 11".to_string(),
            city: "Västerås".to_string(),
            country_code: "SE".to_string(),
            email: "kontor@elmalardalen.se".to_string(),
            phone: "021-98 76 54".to_string(),
        },
    ]
}

fn default_visma_companies() -> Vec<Company> {
    vec![
        Company {
            database_number: 3_456_789,
            company_id: Uuid::from_u128(0x2b8e_61d0_5f3a_4e27_b1c9_08d4_e6f2_a301),
            name: "Rörmokare Svensson i Göteborg AB".to_string(),
            organization_number: "556123-4567".to_string(),
            address: "Södra Vägen 40".to_string(),
            zip_code: "412 54".to_string(),
            city: "Göteborg".to_string(),
            country_code: "SE".to_string(),
            email: "info@rorsvensson.se".to_string(),
            phone: "031-20 30 40".to_string(),
        },
        Company {
            database_number: 4_567_890,
            company_id: Uuid::from_u128(0x2b8e_61d0_5f3a_4e27_b1c9_08d4_e6f2_a302),
            name: "Ventilation & Kyla Skåne AB".to_string(),
            organization_number: "559876-5432".to_string(),
            address: "Industrigatan 7".to_string(),
            zip_code: "212 14".to_string(),
            city: "Malmö".to_string(),
            country_code: "SE".to_string(),
            email: "order@vkskane.se".to_string(),
            phone: "040-55 66 77".to_string(),
        },
    ]
}
