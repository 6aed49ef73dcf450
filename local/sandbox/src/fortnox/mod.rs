//! Fortnox simulator, served under `/fortnox`: OAuth (`/oauth-v1/…`, [`auth`]) and API v3
//! (`/3/…`): customers, invoices and their actions, articles, projects, cost centres, company
//! information, per company (the tenant the bearer token is bound to), in memory.
//!
//! Bodies follow Fortnox's OpenAPI document, April 2026 edition
//! (`contracts/fortnox-openapi-2026-04.json`): requests `fortnox_Kf_CustomerSinglePayloadItem`
//! and `fortnox_Kf_InvoiceSinglePayloadItem`, answers built by [`shape`] from the key sets of
//! `fortnox_Kf_CustomerSingleItem`, `fortnox_Kf_CustomerListItem`,
//! `fortnox_Kf_InvoiceSingleItem`, `fortnox_Kf_InvoiceListItem` and
//! `fortnox_CompanyInformationSingleItem` (and for the registers `fortnox_ArticleSingleItem`,
//! `fortnox_ArticleListItem`, `fortnox_Project_ProjectSingleItem`,
//! `fortnox_Project_ProjectListItem`, `fortnox_CostCenterSingleItem`): every key of the schema,
//! `null` for what is unset, whole amounts without a fraction. Fortnox facts worth knowing:
//! - Search parameters are case-insensitive substring matches (`externalinvoicereference1=12`
//!   also finds `123`): compare exactly on the client side.
//! - `lastmodified` is local Swedish time (Europe/Stockholm), not UTC, and matches records
//!   modified at or after it ([`query`]).
//! - A customer number once used stays reserved after the customer is deleted; so does an
//!   article number.
//! - An article has no `LastModified` field, yet `GET /3/articles` takes `lastmodified`;
//!   projects have no `lastmodified` filter at all (`registers.rs`).
//! - An invoice's (and its rows') `CostCenter` and `Project`, and a row's `ArticleNumber`,
//!   must name existing records.
//! - Numbers may arrive as strings and booleans as `"true"`; input is read leniently
//!   ([`fields`]). `DeliveredQuantity` is a string in Fortnox's schema (`"2.00"`), `VAT` a
//!   whole number.
//! - Errors: [`errors`] (key casing differs between 404 and other answers).
//!
//! Layout: `codes.rs` (scopes and error codes, public), `data.rs` (a company's records),
//! `common.rs` (what every handler shares), `auth.rs` (OAuth flavour, bearer checks),
//! `customers.rs`, `invoices.rs`, `taxreductions.rs` (ROT/RUT buyers), `registers.rs`
//! (articles, projects, cost centres; invoices' references to them),
//! `actions.rs` (bookkeep, cancel, credit), `payments.rs` (invoice payments, which settle the
//! invoice's `Balance` and `FinalPayDate`), `company.rs`, `query.rs` (list parameters),
//! `fields.rs` (lenient writable fields), `rows.rs` and `amounts.rs` (invoice rows and their
//! arithmetic), `shape.rs` (answers from the schema), `seed.rs` (inspection and seeding).

mod actions;
mod amounts;
pub(crate) mod auth;
mod codes;
mod common;
mod company;
mod customers;
pub(crate) mod data;
mod documents;
mod errors;
mod fields;
mod invoices;
mod payments;
mod query;
mod register_specs;
mod registers;
mod rows;
mod seed;
mod shape;
mod taxreductions;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::state::SandboxState;

pub use codes::*;
pub(crate) use errors::{system_error, too_many_requests};

/// Routes of the Fortnox simulator, to be nested under `/fortnox`.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .merge(auth::routes())
        .route("/3/companyinformation", get(company::company_information))
        .merge(customers::routes())
        .merge(invoices::routes())
        .merge(actions::routes())
        .merge(documents::routes())
        .merge(payments::routes())
        .merge(taxreductions::routes())
        .merge(registers::routes())
        .route("/topics-v1", get(crate::stream::topics_handler))
}
