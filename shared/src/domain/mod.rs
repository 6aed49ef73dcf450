//! Canonical domain types and pure rules. No I/O lives here.

pub mod integration;
pub mod job;
pub mod secret;

pub use integration::{Integration, IntegrationStatus, LastError, ProviderKind, TenantId};
pub use job::{Direction, Entity, Job, JobState, Mode, Progress, Target, Trigger};
pub use secret::{IntegrationSecret, Secret, TokenSet, WebhookKey};
