//! Which accounting system a route, client or record belongs to: the one type every other
//! file shares, kept apart so that none of them needs another's module for it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which accounting system a route, client or record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Fortnox API v3, served under `/fortnox`.
    Fortnox,
    /// Visma eAccounting API v2 and Visma Online identity, served under `/visma`.
    Visma,
}

impl ProviderKind {
    /// Lower-case name, also the path prefix of the provider (`/fortnox`, `/visma`).
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
