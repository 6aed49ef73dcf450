//! How Visma's document (`contracts/visma-eaccounting-v2-openapi.yaml`, OpenAPI 3.1.1) is
//! read.
//!
//! - OpenAPI 3.1 schemas are JSON Schema draft 2020-12 as they stand: nullability is already
//!   spelled `type: [x, "null"]`, and the document closes its objects itself
//!   (`additionalProperties: false` on every object schema), so nothing is rewritten and no
//!   relaxation applies.
//! - `readOnly: true` (616 properties: `Id`, `ChangedUtc`, `CreatedUtc`, `TotalAmount`, …)
//!   forbids the property in requests. Visma's customer PUT replaces the whole record, yet a
//!   body read with GET must lose its read-only fields before it is written back.
//! - Dates: the document has no `format: date`; every date and time (`InvoiceDate`,
//!   `DueDate`, `ChangedUtc`, `Meta.ServerTimeUtc`) is `format: date-time`, "the date-time
//!   notation as defined by RFC 3339, section 5.6" (its own words on `ServerTimeUtc`,
//!   example `2017-07-21T17:32:28Z`): a time zone offset is part of a valid value.
//! - Paths are relative to the server URL `https://eaccountingapi.vismaonline.com/v2/`, so
//!   `/customers` in the document is `/v2/customers` on the wire.
//! - Errors: only 400 is documented (`CommonExtendedBadRequest`); other error statuses
//!   (401, 403, 404, 429, 5xx) have no documented body, so theirs are not checked.

use jsonschema::Draft;

use super::schema::Mode;
use super::Direction;

/// Visma's document is OpenAPI 3.1: draft 2020-12 schemas.
pub(crate) const DRAFT: Draft = Draft::Draft202012;

/// How a body going `direction` is checked: exactly as the document says.
pub(crate) fn mode(direction: Direction, _method: &str, _status: Option<u16>) -> Mode {
    Mode {
        direction,
        partial: false,
        closed: false,
        optional_nullable: false,
    }
}

/// Operations whose PDF body the document gives in words only: `GET
/// /customerinvoices/{invoiceId}/print` documents its 200 without content, but its description
/// says "The response will be the actual PDF file content".
pub(crate) fn pdf_in_prose(method: &str, template: &str) -> bool {
    method.eq_ignore_ascii_case("get") && template.ends_with("/customerinvoices/{invoiceId}/print")
}
