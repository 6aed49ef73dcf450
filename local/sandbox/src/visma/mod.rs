//! Visma eAccounting simulator, served under `/visma`: identity server (`/connect/…`) and
//! API v2 (`/v2/…`). Every route, method, status and body follows Visma's own OpenAPI
//! document (`contracts/visma-eaccounting-v2-openapi.yaml`); bodies are built from its
//! schemas ([`schema`]).
//!
//! | file | what |
//! |---|---|
//! | `codes.rs` | scopes and `ErrorCode` constants (public) |
//! | `oauth_routes.rs` | `/connect/…` routes, bearer and scope check |
//! | `errors.rs` | `ApiError` → `CommonExtendedBadRequest` |
//! | `schema.rs` | the document's schemas: skeletons, writable fields, typed reading |
//! | `query.rs`, `odata.rs` | paging and `modifiedSinceUtc`; the `$filter` parser |
//! | `data.rs`, `seed.rs` | a company's data; lookups and generated customers |
//! | `customers.rs`, `drafts.rs`, `invoices.rs`, `rows.rs`, `lookups.rs` | handlers |
//! | `articles.rs` | `/articles`: list (`$filter`), get, post, put |
//! | `projects.rs` | `/projects`: list (`$filter`), get, post, put (201) |
//! | `costcenters.rs` | `/costcenters` (list, put), `/costcenteritems` (get, post, put) |
//! | `payments.rs` | `POST /customerinvoices/{id}/payments`: remaining amount, payment status |

mod articles;
mod codes;
mod common;
mod costcenters;
mod customers;
pub(crate) mod data;
mod documents;
mod drafts;
mod errors;
mod invoices;
mod listing;
mod lookups;
mod oauth_routes;
mod odata;
mod payments;
mod projects;
mod query;
mod rows;
mod schema;
mod seed;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;

use crate::state::SandboxState;

pub use codes::*;
pub(crate) use errors::{server_error, too_many_requests};
pub use payments::BANK_ACCOUNT_ID;

/// Routes of the Visma simulator, to be nested under `/visma`. Paths are the document's
/// (`/termsofpayments`, not `/termsofpayment`): a path it lacks is a plain 404.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    oauth_routes::routes()
        .route("/v2/companysettings", get(lookups::company_settings))
        .route(
            "/v2/customers",
            get(customers::list).post(customers::create),
        )
        .route(
            "/v2/customers/{id}",
            get(customers::get_one)
                .put(customers::replace)
                .delete(customers::delete),
        )
        .route("/v2/termsofpayments", get(lookups::list_terms))
        .route("/v2/termsofpayments/{id}", get(lookups::get_terms))
        .route("/v2/articles", get(articles::list).post(articles::create))
        .route(
            "/v2/articles/{id}",
            get(articles::get_one).put(articles::replace),
        )
        .route("/v2/projects", get(projects::list).post(projects::create))
        .route(
            "/v2/projects/{id}",
            get(projects::get_one).put(projects::replace),
        )
        .route("/v2/costcenters", get(costcenters::list))
        .route(
            "/v2/costcenters/{id}",
            put(costcenters::replace_cost_center),
        )
        .route("/v2/costcenteritems", post(costcenters::create_item))
        .route(
            "/v2/costcenteritems/{id}",
            get(costcenters::get_item).put(costcenters::replace_item),
        )
        .route("/v2/articleaccountcodings", get(lookups::list_codings))
        .route("/v2/articleaccountcodings/{id}", get(lookups::get_coding))
        .route("/v2/units", get(lookups::list_units))
        .route("/v2/units/{id}", get(lookups::get_unit))
        .route(
            "/v2/customerinvoicedrafts",
            get(drafts::list).post(drafts::create),
        )
        .route(
            "/v2/customerinvoicedrafts/{id}",
            get(drafts::get_one)
                .put(drafts::replace)
                .delete(drafts::delete),
        )
        .route(
            "/v2/customerinvoicedrafts/{id}/convert",
            post(drafts::convert),
        )
        .route(
            "/v2/customerinvoices",
            get(invoices::list).post(invoices::create),
        )
        .route("/v2/customerinvoices/{id}", get(invoices::get_one))
        .route("/v2/customerinvoices/{id}/payments", post(payments::create))
        .route("/v2/customerinvoices/{id}/email", post(documents::email))
        .route(
            "/v2/customerinvoices/{id}/einvoice",
            post(documents::einvoice),
        )
        .route("/v2/customerinvoices/{id}/print", get(documents::print))
        .route("/v2/customerinvoices/{id}/pdf", get(documents::pdf_url))
}
