//! `/v2/articles`: list (`$filter` on `ChangedUtc`, `Number`, …; paging), get, post (201),
//! put (200), per `ArticleApi`.
//!
//! - `required`: `CodingId`, `IsActive`, `Name`, `Number`, `UnitId` (2000 when missing).
//!   `Number` max 40 (`maxLength`, 2002), unique ignoring case (2003); `Name` max 50.
//! - `CodingId` must be an article account coding (`/v2/articleaccountcodings`) and `UnitId`
//!   a unit (`/v2/units`), else 2004. The coding decides the VAT rate and whether the article
//!   is a service (`IsServiceArticle`, read-only: "the sales category for the article is of
//!   the type service"); `CodingName`, `UnitName`, `UnitAbbreviation` are read-only copies.
//! - `HouseWorkType` is an **integer** (`type: [integer, null]`), one of the values the
//!   description lists (0 None, 1–7 ROT, 9, 10, 12–15, 18–29); others are 2001.
//! - Read-only fields in a body are ignored; `CreatedUtc` is set on create, `ChangedUtc` on
//!   every write (always later than any `Meta.ServerTimeUtc` served).
//! - **PUT replaces the whole article**, as customers' PUT does: a writable property left out
//!   gets its unset value.
//! - `GrossPrice` is writable in the schema; when left out (or 0) it is computed from
//!   `NetPrice` and the coding's rate, and `NetPriceWithDiscount` likewise from `NetPrice`.
//! - The documented parameters `customerId` (a GUID) and `showPricesWithTwoDecimals` change
//!   nothing here (no customer price lists; prices have two decimals).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codes::{
    CODE_BAD_QUERY, CODE_INVALID_VALUE, CODE_NOT_UNIQUE, CODE_UNKNOWN_REFERENCE, READ_SCOPES,
    WRITE_SCOPES,
};
use super::common::{company_key, created, guid, ok, parse_object};
use super::data::{canonical_guid, Record, VismaData};
use super::errors::{answer, bad_request, not_found, required, ApiError};
use super::listing::Listing;
use super::odata::FieldType;
use super::query::{utc_text, Query};
use super::schema::{self, conform};
use crate::clock::Clock;
use crate::lenient::{dec_field, money, round2, str_field};
use crate::state::SandboxState;

const SCHEMA: &str = "ArticleApi";
const WHAT: &str = "Article";

/// `ArticleApi.HouseWorkType`'s documented values.
const HOUSE_WORK_TYPES: &[i64] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13, 14, 15, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
];

/// Fields of `ArticleApi` an article `$filter` may name; `ChangedUtc` is the change time.
pub(super) const ARTICLE_FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("ChangedUtc", FieldType::Date),
    ("CreatedUtc", FieldType::Date),
    ("Id", FieldType::Text),
    ("Number", FieldType::Text),
    ("Name", FieldType::Text),
    ("CodingId", FieldType::Text),
    ("UnitId", FieldType::Text),
    ("IsActive", FieldType::Bool),
    ("NetPrice", FieldType::Number),
];

/// The articles' documented parameters: `customerId` (a GUID) and
/// `showPricesWithTwoDecimals` (a boolean); both change nothing in the sandbox.
fn check_article_query(query: &Query) -> Result<(), ApiError> {
    query.flag("showPricesWithTwoDecimals", false)?;
    if let Some(raw) = query.get("customerId") {
        if canonical_guid(raw).is_none() {
            return Err(bad_request(
                CODE_BAD_QUERY,
                format!("customerId must be a GUID, not '{raw}'."),
            ));
        }
    }
    Ok(())
}

pub(super) async fn list(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    const LISTING: Listing = Listing {
        scopes: READ_SCOPES,
        check: check_article_query,
        filter_fields: ARTICLE_FILTER_FIELDS,
        time_field: "ChangedUtc",
        modified_since: false,
        records: |d| d.articles.iter().collect(),
        render: |_, r| Value::Object(r.body.clone()),
    };
    answer(LISTING.answer(&state, &headers, query.as_deref()))
}

pub(super) async fn get_one(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, READ_SCOPES)?;
        check_article_query(&Query::parse(query.as_deref())?)?;
        let id = guid(&raw, WHAT)?;
        let mut store = state.rest();
        let (data, _) = store.visma_mut(&key);
        let article = data.article(&id).ok_or_else(|| not_found(WHAT, &id))?;
        Ok(ok(Value::Object(article.clone())))
    })())
}

pub(super) async fn create(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        let id = Uuid::new_v4().to_string();
        let body = data.write_article(&id, &input, clock)?;
        Ok(created(Value::Object(body)))
    })())
}

pub(super) async fn replace(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        let key = company_key(&state, &headers, WRITE_SCOPES)?;
        let id = guid(&raw, WHAT)?;
        let input = parse_object(&body)?;
        let mut store = state.rest();
        let (data, clock) = store.visma_mut(&key);
        if data.article(&id).is_none() {
            return Err(not_found(WHAT, &id));
        }
        let body = data.write_article(&id, &input, clock)?;
        Ok(ok(Value::Object(body)))
    })())
}

impl VismaData {
    fn article_number_taken(&self, number: &str, except_id: &str) -> bool {
        self.articles.iter().any(|r| {
            str_field(&r.body, "Number").eq_ignore_ascii_case(number)
                && str_field(&r.body, "Id") != except_id
        })
    }

    /// Creates or replaces article `id` from the whole `input` body; returns the stored body.
    pub(super) fn write_article(
        &mut self,
        id: &str,
        input: &Map<String, Value>,
        clock: &mut Clock,
    ) -> Result<Map<String, Value>, ApiError> {
        for field in schema::required_fields(SCHEMA) {
            if input.get(field).is_none_or(Value::is_null) {
                return Err(required(field));
            }
        }
        let mut body = schema::read_object(SCHEMA, "", input, 0)?;
        for field in ["Name", "Number"] {
            if str_field(&body, field).trim().is_empty() {
                return Err(required(field));
            }
        }
        let number = str_field(&body, "Number").trim().to_string();
        if self.article_number_taken(&number, id) {
            return Err(bad_request(
                CODE_NOT_UNIQUE,
                format!("Validation failed: Number {number} is already used by another article."),
            ));
        }
        body.insert("Number".into(), Value::String(number));
        if let Some(t) = body.get("HouseWorkType").and_then(Value::as_i64) {
            if !HOUSE_WORK_TYPES.contains(&t) {
                return Err(bad_request(
                    CODE_INVALID_VALUE,
                    format!("Validation failed: HouseWorkType has an invalid value {t}."),
                ));
            }
        }
        let coding_id = str_field(&body, "CodingId").to_string();
        let coding = self.coding(&coding_id).cloned().ok_or_else(|| {
            bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: CodingId {coding_id} does not match any article account coding."),
            )
        })?;
        let unit_id = str_field(&body, "UnitId").to_string();
        let unit = self
            .units
            .iter()
            .find(|u| str_field(u, "Id") == unit_id)
            .cloned()
            .ok_or_else(|| {
                bad_request(
                    CODE_UNKNOWN_REFERENCE,
                    format!("Validation failed: UnitId {unit_id} does not match any unit."),
                )
            })?;
        let service = str_field(&coding, "Type") == "Service";
        let net = dec_field(&body, "NetPrice");
        if dec_field(&body, "GrossPrice").is_zero() {
            let rate = dec_field(&coding, "VatRatePercent");
            body.insert(
                "GrossPrice".into(),
                money(round2(net * (Decimal::ONE + rate))),
            );
        }
        if dec_field(&body, "NetPriceWithDiscount").is_zero() {
            body.insert("NetPriceWithDiscount".into(), money(net));
        }
        let changed = clock.tick();
        let created_at = self
            .article(id)
            .and_then(|a| a.get("CreatedUtc").cloned())
            .unwrap_or_else(|| Value::String(utc_text(changed)));
        for (k, v) in [
            ("Id", Value::String(id.to_string())),
            (
                "CodingName",
                coding.get("Name").cloned().unwrap_or(Value::Null),
            ),
            ("UnitName", unit.get("Name").cloned().unwrap_or(Value::Null)),
            (
                "UnitAbbreviation",
                unit.get("Abbreviation").cloned().unwrap_or(Value::Null),
            ),
            ("IsServiceArticle", Value::Bool(service)),
            ("ShowStockInformation", Value::Bool(!service)),
            ("CreatedUtc", created_at),
            ("ChangedUtc", Value::String(utc_text(changed))),
        ] {
            body.insert(k.into(), v);
        }
        let body = conform(SCHEMA, body);
        let record = Record {
            body: body.clone(),
            changed,
        };
        match self
            .articles
            .iter_mut()
            .find(|r| str_field(&r.body, "Id") == id)
        {
            Some(existing) => *existing = record,
            None => self.articles.push(record),
        }
        Ok(body)
    }
}
