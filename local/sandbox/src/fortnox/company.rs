//! `GET /3/companyinformation`: the company the token is bound to.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::auth::authorize_api;
use super::common::ok;
use super::errors::ApiError;
use super::shape::{render, shape, COMPANY};
use crate::config::Company;
use crate::state::SandboxState;

pub(crate) async fn company_information(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, company) = authorize_api(&state, &headers, "companyinformation")?;
    Ok(ok(
        json!({"CompanyInformation": company_information_body(company)}),
    ))
}

/// The company as `fortnox_CompanyInformationSingleItem`; the visiting address is the postal
/// one.
fn company_information_body(company: &Company) -> Value {
    let stored = json!({
        "Address": company.address,
        "City": company.city,
        "CountryCode": company.country_code,
        "DatabaseNumber": company.database_number,
        "CompanyName": company.name,
        "OrganizationNumber": company.organization_number,
        "VisitAddress": company.address,
        "VisitCity": company.city,
        "VisitCountryCode": company.country_code,
        "VisitZipCode": company.zip_code,
        "ZipCode": company.zip_code,
    });
    let stored = stored.as_object().cloned().unwrap_or_else(Map::new);
    Value::Object(render(shape(COMPANY), &stored))
}
