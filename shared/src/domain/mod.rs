//! Canonical domain types and pure rules. No I/O lives here.

pub mod article;
pub mod article_vat;
pub mod credit;
pub mod customer;
pub mod integration;
pub mod invoice;
pub mod job;
pub mod money;
pub mod payment;
pub mod project;
pub mod seal;
pub mod secret;
pub mod tax_reduction;
pub mod text;

pub use article::{Article, ArticleKind, ArticleLimits};
pub use article_vat::ArticleVat;
pub use credit::CreditState;
pub use customer::{Address, Customer};
pub use integration::{
    ClaimError, ConnectionMode, Integration, IntegrationStatus, LastError, ProviderKind, TenantId,
};
pub use invoice::{HouseWork, HouseWorkKind, Invoice, InvoiceRow, Totals};
pub use job::{Direction, Entity, Job, JobState, Mode, Progress, Target, Trigger};
pub use money::{Decimal, FieldError};
pub use payment::{Payment, PaymentState};
pub use project::{Project, ProjectLimits, ProjectStatus};
pub use secret::{Secret, SecretDocument, TokenSecret, TokenSet, WebhookKey, WebhookSecret};
pub use tax_reduction::{Buyer, PersonalIdentityNumber, Property, TaxReduction};
