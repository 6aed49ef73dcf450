//! In-memory adapters of the sync engine's ports, for tests only (compiled for `shared`'s own
//! tests and behind the `mocks` feature, which only `[dev-dependencies]` turn on): storage
//! ([`MemoryStore`]), the provider's data API with scripted faults ([`FakeApi`]) and tokens
//! ([`StaticTokens`]).

mod api;
mod store;

pub use api::{FakeApi, Fault};
pub use store::MemoryStore;

use crate::connections::tokens::TokenError;
use crate::domain::{Integration, Secret};
use crate::sync::AccessTokens;
use async_trait::async_trait;

/// Always the same access token; refreshing always works.
#[derive(Debug, Default, Clone, Copy)]
pub struct StaticTokens;

#[async_trait]
impl AccessTokens for StaticTokens {
    async fn access_token(&self, _: &Integration) -> Result<Secret, TokenError> {
        Ok(Secret::new("test-token"))
    }
    async fn replace_refused(&self, _: &Integration, _: &Secret) -> Result<Secret, TokenError> {
        Ok(Secret::new("test-token"))
    }
}
