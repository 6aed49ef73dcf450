//! OAuth 2.0 authorization-code flow shared by both providers: authorize and consent
//! (`authorize.rs`), token and revocation (`token.rs`), the shared pieces (`common.rs`: the
//! provider [`Flavor`], errors of the token endpoint, client and bearer authentication), and
//! what is stored and issued (`grants.rs`), and fault injection at the token and revocation
//! endpoints (`faulty.rs`).

mod authorize;
mod common;
mod faulty;
pub(crate) mod grants;
mod token;

pub(crate) use authorize::{authorize_handler, consent_handler};
pub(crate) use common::{authenticate_bearer, BearerError, Flavor, Params};
pub(crate) use faulty::oauth_fault_layer;
pub(crate) use grants::IssuedTokens;
pub(crate) use token::{revoke, token_handler};
