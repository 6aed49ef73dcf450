//! How Fortnox's document (`contracts/fortnox-openapi-2026-04.json`, OpenAPI 3.0.3) is read.
//!
//! - OpenAPI 3.0 schemas are draft-4 JSON Schema plus a few words: `nullable: true` becomes
//!   `type: [t, "null"]` (and `null` joins an `enum`) before anything else.
//! - **PUT request bodies are checked without `required`.** Fortnox documents PUT as a partial
//!   update ("properties not provided will be left unchanged"), yet the document reuses the
//!   full schemas, which require `Name` (customers) and `CustomerNumber` (invoices). Types,
//!   lengths, enums and formats still apply.
//! - **Objects are closed.** The document never says `additionalProperties: false`, so a
//!   field it does not declare would pass. Requests and success responses are checked as if
//!   every object schema said it: the product may send only documented fields and the
//!   sandbox may answer only fields the operation's schema has (`fortnox_Kf_CustomerSingleItem`
//!   for a customer, `fortnox_Kf_InvoiceListItem` inside an invoice list, …). Schemas that
//!   are members of an `allOf` stay open (closing them would reject the other members'
//!   fields; none of the customer, invoice or company operations use `allOf`).
//! - **Error bodies are not closed.** The document's `fortnox_ErrorInformation` spells its
//!   fields `Error`, `Message`, `Code`; Fortnox sends `error`, `message`, `code` (the
//!   product's error parser accepts both). None is `required`, so both spellings validate
//!   against the documented schema.
//! - **Responses may carry `null` for properties that are not `required`.** Fortnox answers a
//!   single record with every key present and `null` for unset values (an invoice without
//!   `DeliveryDate`, a customer without `Email`), although the document marks few fields
//!   `nullable`. A `null` in a `required` property, or in a request, is still a violation.
//! - **The invoice list carries `MetaInformation`.** Every list wrapper the product reads
//!   declares `MetaInformation` (`fortnox_Kf_CustomerListItem_Wrap`, and 20 others) except
//!   `fortnox_Kf_InvoiceListResponse_Wrap`, yet Fortnox pages `GET /3/invoices` like every
//!   list (`@TotalPages`, `@CurrentPage`), and the product pages with it. That one wrapper
//!   gets the property, typed `fortnox_MetaInformation` as everywhere else; so do
//!   `fortnox_ArticleListItem_Wrap` and `fortnox_CostCenterListItem_Wrap`, which lack it too.

use jsonschema::Draft;
use serde_json::{Map, Value};

use super::schema::Mode;
use super::Direction;

/// List wrappers the document gives no `MetaInformation`, although Fortnox pages those
/// lists like every other (and the sandbox answers it).
const PAGED_WITHOUT_META: &[&str] = &[
    "fortnox_Kf_InvoiceListResponse_Wrap",
    "fortnox_ArticleListItem_Wrap",
    "fortnox_CostCenterListItem_Wrap",
];

/// Fortnox's document is OpenAPI 3.0: draft-4 schemas.
pub(crate) const DRAFT: Draft = Draft::Draft4;

/// Rewrites every schema in `schemas` from OpenAPI 3.0 words into JSON Schema.
pub(crate) fn rewrite_document(schemas: &mut Map<String, Value>) {
    schemas.values_mut().for_each(nullable_to_type);
    for wrapper in PAGED_WITHOUT_META {
        if let Some(Value::Object(props)) = schemas
            .get_mut(*wrapper)
            .and_then(|w| w.get_mut("properties"))
        {
            props.entry("MetaInformation").or_insert_with(
                || serde_json::json!({"$ref": "#/components/schemas/fortnox_MetaInformation"}),
            );
        }
    }
}

/// The same for one inline schema (an operation's body schema).
pub(crate) fn rewrite_schema(schema: &mut Value) {
    nullable_to_type(schema);
}

/// How a body of `method` going `direction` (with `status`, for responses) is checked.
pub(crate) fn mode(direction: Direction, method: &str, status: Option<u16>) -> Mode {
    match direction {
        Direction::Request => Mode {
            direction,
            partial: method.eq_ignore_ascii_case("PUT"),
            closed: true,
            optional_nullable: false,
        },
        Direction::Response => Mode {
            direction,
            partial: false,
            closed: status.is_some_and(|s| (200..300).contains(&s)),
            optional_nullable: true,
        },
    }
}

/// `nullable: true` → `type: [t, "null"]`, everywhere below `v`; `nullable: false` goes.
fn nullable_to_type(v: &mut Value) {
    match v {
        Value::Object(map) => {
            // Only a boolean is the keyword; an object is a property named `nullable`.
            if let Some(nullable) = map.get("nullable").and_then(Value::as_bool) {
                map.remove("nullable");
                if nullable {
                    if let Some(Value::String(t)) = map.get("type") {
                        let t = t.clone();
                        map.insert("type".into(), Value::from(vec![t, "null".to_string()]));
                    }
                    if let Some(Value::Array(values)) = map.get_mut("enum") {
                        if !values.contains(&Value::Null) {
                            values.push(Value::Null);
                        }
                    }
                }
            }
            map.values_mut().for_each(nullable_to_type);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_type),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_becomes_a_type() {
        let mut v = json!({"properties": {
            "a": {"type": "string", "nullable": true},
            "b": {"type": "string", "nullable": false},
            "c": {"type": "string", "enum": ["X"], "nullable": true},
            "nullable": {"type": "boolean"}
        }});
        rewrite_schema(&mut v);
        assert_eq!(v["properties"]["a"]["type"], json!(["string", "null"]));
        assert_eq!(v["properties"]["b"], json!({"type": "string"}));
        assert_eq!(v["properties"]["c"]["enum"], json!(["X", null]));
        // A property *named* nullable is a schema, not the keyword.
        assert_eq!(v["properties"]["nullable"], json!({"type": "boolean"}));
    }

    #[test]
    fn modes() {
        assert!(mode(Direction::Request, "put", None).partial);
        assert!(!mode(Direction::Request, "POST", None).partial);
        assert!(mode(Direction::Response, "GET", Some(200)).closed);
        assert!(!mode(Direction::Response, "GET", Some(404)).closed);
        assert!(mode(Direction::Response, "GET", Some(200)).optional_nullable);
        assert!(!mode(Direction::Request, "POST", None).optional_nullable);
    }
}
