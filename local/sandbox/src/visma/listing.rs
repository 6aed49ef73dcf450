//! The shape every Visma list operation shares: the caller's company and scopes, paging
//! (`$page`, `$pagesize`), `$filter` over the resource's fields, an optional
//! `modifiedSinceUtc`, and the `Meta`/`Data` envelope.

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::common::{company_key, ok};
use super::data::{Record, VismaData};
use super::errors::ApiError;
use super::odata::{FieldType, Filter};
use super::query::{Paging, Query};
use crate::state::SandboxState;

/// One list resource: which records, filtered on which fields, rendered how.
pub(super) struct Listing {
    /// Scopes that may read the list (any one).
    pub scopes: &'static [&'static str],
    /// Checks of the operation's own query parameters.
    pub check: fn(&Query) -> Result<(), ApiError>,
    /// The fields `$filter` may name.
    pub filter_fields: &'static [(&'static str, FieldType)],
    /// The field that stands for the record's change time in `$filter`.
    pub time_field: &'static str,
    /// Whether the operation takes `modifiedSinceUtc` (invoices).
    pub modified_since: bool,
    /// The records of one company.
    pub records: for<'d> fn(&'d VismaData) -> Vec<&'d Record>,
    /// A record as the operation answers it.
    pub render: fn(&VismaData, &Record) -> Value,
}

impl Listing {
    /// Answers one page of the list for the company the bearer token is bound to.
    pub(super) fn answer(
        &self,
        state: &SandboxState,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let key = company_key(state, headers, self.scopes)?;
        let query = Query::parse(query)?;
        (self.check)(&query)?;
        let paging = Paging::from_query(&query)?;
        let filter = query
            .get("$filter")
            .map(|f| Filter::parse(f, self.filter_fields))
            .transpose()?;
        let since = if self.modified_since {
            query.time("modifiedSinceUtc")?
        } else {
            None
        };
        let mut store = state.rest();
        // The company first: a company created by this call gets its records' times before
        // the server time served.
        let (data, clock) = store.visma_mut(&key);
        let server_time = clock.server_time();
        let matches: Vec<&Record> = (self.records)(data)
            .into_iter()
            .filter(|r| since.is_none_or(|t| r.changed >= t))
            .filter(|r| {
                filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&r.body, (self.time_field, r.changed)))
            })
            .collect();
        Ok(ok(paging.envelope(&matches, server_time, |r| {
            (self.render)(data, r)
        })))
    }
}

/// A list without parameters of its own.
pub(super) fn no_check(_: &Query) -> Result<(), ApiError> {
    Ok(())
}
