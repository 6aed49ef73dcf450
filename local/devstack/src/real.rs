//! `make dev` against real test companies: provider settings taken from the environment
//! override the local sandbox's, one provider at a time. The local sandbox stays the default.

use shared::domain::ProviderKind;
use std::collections::HashMap;

/// Variables `make dev` passes on from its own environment to the functions' configuration.
pub const PROVIDER_VARS: &[&str] = &[
    "PUBLIC_API_URL",
    "FORTNOX_AUTH_URL",
    "FORTNOX_API_URL",
    "FORTNOX_CLIENT_ID",
    "FORTNOX_CLIENT_SECRET",
    "FORTNOX_SCOPES",
    "VISMA_IDENTITY_URL",
    "VISMA_API_URL",
    "VISMA_CLIENT_ID",
    "VISMA_CLIENT_SECRET",
    "VISMA_SCOPES",
    "VISMA_REVOCATION_ENABLED",
    "VISMA_CONVERT_DRAFTS",
    "FORTNOX_PKCE",
    "VISMA_PKCE",
    "VISMA_REFRESH_TOKEN_DAYS",
];

/// The provider variables set (non-blank) in `get`, to override the stack's own.
pub fn provider_env(get: impl Fn(&str) -> Option<String>) -> HashMap<String, String> {
    PROVIDER_VARS
        .iter()
        .filter_map(|k| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (k.to_string(), v))
        })
        .collect()
}

/// Whether `env` points `provider` away from the local sandbox (its OAuth or API base URL is
/// set): the walk-through, which consents at the sandbox by itself, then leaves it alone.
pub fn is_external(env: &HashMap<String, String>, provider: ProviderKind) -> bool {
    let keys: &[&str] = match provider {
        ProviderKind::Fortnox => &["FORTNOX_AUTH_URL", "FORTNOX_API_URL"],
        ProviderKind::Visma => &["VISMA_IDENTITY_URL", "VISMA_API_URL"],
    };
    keys.iter().any(|k| env.contains_key(*k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_provider_variables_pass() {
        let env: HashMap<&str, &str> = [
            (
                "VISMA_IDENTITY_URL",
                "https://identity-sandbox.test.vismaonline.com",
            ),
            ("VISMA_CLIENT_ID", "my-sandbox-client"),
            ("FORTNOX_API_URL", " "),
            ("TABLE_NAME", "not-passed"),
        ]
        .into_iter()
        .collect();
        let out = provider_env(|k| env.get(k).map(|v| v.to_string()));
        assert_eq!(out.len(), 2);
        assert_eq!(out["VISMA_CLIENT_ID"], "my-sandbox-client");
        assert!(is_external(&out, ProviderKind::Visma));
        assert!(!is_external(&out, ProviderKind::Fortnox));
    }
}
