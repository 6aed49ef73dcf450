//! Outbound HTTP to the providers: error classification, retries with backoff and jitter, and
//! a rate limiter shared by every Lambda instance.

pub mod backoff;
pub mod client;
pub mod error;
pub mod limiter;
pub mod outbound;

pub use backoff::RetryPolicy;
pub use client::LazyClient;
pub use error::ApiError;
pub use limiter::{Bucket, Limit, RateLimiter, SlotLimiter, SlotStore, SlotStoreError, Tuning};
pub use outbound::{Answer, Call, Outbound};
