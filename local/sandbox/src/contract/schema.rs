//! Turning one operation's schema into a compiled validator for one way of use.
//!
//! JSON Schema validators treat `readOnly` and `writeOnly` as annotations: they accept
//! anything. OpenAPI gives them meaning (a read-only property must not be sent in a request,
//! a write-only one must not come back), so the schema is rewritten per [`Mode`] before it
//! is compiled: a forbidden property's schema becomes `{"not": {}}` (which also works in
//! draft 4, which has no boolean schemas) and leaves `required`, and errors from it are
//! reported as "readOnly field X". The other rewrites are the providers' conventions
//! (`fortnox.rs`, `visma.rs`): dropping `required` for partial updates, closing object
//! schemas, letting optional properties be `null`.
//!
//! Only the schemas the operation's schema reaches are copied into the compiled document, so
//! compiling is cheap even for Fortnox's 600-schema document.

use std::collections::{BTreeSet, HashSet};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{json, Map, Value};

use super::document::closure;
use super::Direction;

/// How a body is checked: which way it goes and which provider relaxations apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Mode {
    /// Requests forbid `readOnly` properties, responses forbid `writeOnly` ones.
    pub direction: Direction,
    /// Drop every `required` (Fortnox PUT: a partial update).
    pub partial: bool,
    /// Object schemas that leave `additionalProperties` open get `additionalProperties:
    /// false` (unless they take part in an `allOf`/`anyOf`/`oneOf`, where that would reject
    /// the other members' properties).
    pub closed: bool,
    /// Properties not listed in `required` may also be `null`.
    pub optional_nullable: bool,
}

/// What stands for a forbidden property: valid against nothing, in every draft.
fn forbidden() -> Value {
    json!({"not": {}})
}

fn is_forbidden_marker(schema: &Value) -> bool {
    schema.as_object().is_some_and(|m| m.is_empty())
}

/// Suffix of the copy of a component that also accepts `null`.
const OR_NULL: &str = "__or_null";

/// The names of schemas that are members of an `allOf`/`anyOf`/`oneOf` somewhere: closing
/// them would reject the properties the other members declare.
pub(crate) fn composition_members(schemas: &Map<String, Value>) -> HashSet<String> {
    fn walk(v: &Value, out: &mut HashSet<String>) {
        match v {
            Value::Object(map) => {
                for key in ["allOf", "anyOf", "oneOf"] {
                    if let Some(Value::Array(members)) = map.get(key) {
                        for m in members {
                            if let Some(name) = m
                                .get("$ref")
                                .and_then(Value::as_str)
                                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                            {
                                out.insert(name.to_string());
                            }
                        }
                    }
                }
                map.values().for_each(|c| walk(c, out));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = HashSet::new();
    schemas.values().for_each(|s| walk(s, &mut out));
    out
}

/// The document to compile for `root` (an operation's body schema) in `mode`: `root`'s
/// keywords plus `components.schemas` with every schema it reaches, rewritten.
pub(crate) fn prepare(
    root: &Value,
    schemas: &Map<String, Value>,
    open: &HashSet<String>,
    mode: Mode,
) -> Value {
    let mut wanted_nullable = BTreeSet::new();
    let mut prepared = Map::new();
    for name in closure(root, schemas) {
        if let Some(schema) = schemas.get(&name) {
            let mut schema = schema.clone();
            walk(
                &mut schema,
                mode,
                !open.contains(&name),
                &mut wanted_nullable,
            );
            prepared.insert(name, schema);
        }
    }
    for name in wanted_nullable {
        if let Some(schema) = prepared.get(&name) {
            let mut copy = schema.clone();
            widen_type(&mut copy);
            prepared.insert(format!("{name}{OR_NULL}"), copy);
        }
    }
    let mut root = root.clone();
    walk(&mut root, mode, true, &mut BTreeSet::new());
    let mut document = match root {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("allOf".into(), Value::Array(vec![other]));
            map
        }
    };
    document.insert("components".into(), json!({ "schemas": prepared }));
    Value::Object(document)
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

/// Rewrites one schema (and every schema inside it) for `mode`.
fn walk(v: &mut Value, mode: Mode, may_close: bool, wanted_nullable: &mut BTreeSet<String>) {
    let Value::Object(map) = v else { return };
    let composed = ["allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| map.contains_key(*k));
    let mut required: Option<Vec<String>> = map.get("required").and_then(|r| {
        r.as_array().map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    });
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            let forbidden_here = match mode.direction {
                Direction::Request => flag(prop, "readOnly"),
                Direction::Response => flag(prop, "writeOnly"),
            };
            if forbidden_here {
                *prop = forbidden();
                if let Some(required) = required.as_mut() {
                    required.retain(|r| r != name);
                }
                continue;
            }
            walk(prop, mode, true, wanted_nullable);
            let optional = required.as_ref().is_none_or(|r| !r.contains(name));
            if mode.optional_nullable && optional {
                widen(prop, wanted_nullable);
            }
        }
    }
    match required {
        Some(_) if mode.partial => {
            map.remove("required");
        }
        Some(required) => {
            map.insert(
                "required".into(),
                Value::Array(required.into_iter().map(Value::String).collect()),
            );
        }
        None => {}
    }
    if mode.closed
        && may_close
        && !composed
        && map.contains_key("properties")
        && !map.contains_key("additionalProperties")
        && !map.contains_key("unevaluatedProperties")
    {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in [
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedProperties",
        "unevaluatedItems",
    ] {
        match map.get_mut(key) {
            Some(child @ Value::Object(_)) => walk(child, mode, true, wanted_nullable),
            // Draft 4 tuples: `items: [..]`.
            Some(Value::Array(children)) if key == "items" => children
                .iter_mut()
                .for_each(|c| walk(c, mode, true, wanted_nullable)),
            _ => {}
        }
    }
    for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            let close = key == "prefixItems";
            children
                .iter_mut()
                .for_each(|c| walk(c, mode, close, wanted_nullable));
        }
    }
    for key in [
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
    ] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            children
                .values_mut()
                .for_each(|c| walk(c, mode, true, wanted_nullable));
        }
    }
}

/// Lets `schema` also accept `null`: a reference points at the component's `__or_null`
/// copy, a `type` gains `"null"`, an `enum` gains `null`.
fn widen(schema: &mut Value, wanted_nullable: &mut BTreeSet<String>) {
    if let Some(Value::String(reference)) = schema.get_mut("$ref") {
        if let Some(name) = reference.strip_prefix("#/components/schemas/") {
            if !name.ends_with(OR_NULL) {
                wanted_nullable.insert(name.to_string());
                *reference = format!("{reference}{OR_NULL}");
            }
        }
        return;
    }
    widen_type(schema);
}

fn widen_type(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    match map.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            map.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
            types.push(Value::from("null"));
        }
        _ => {}
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
}

/// Compiles a prepared document. Formats are asserted (`date`, `date-time`, `uuid`, `email`,
/// …); draft 4 knows no `uuid`, so it is added for Fortnox's document.
pub(crate) fn compile(document: &Value, draft: Draft) -> Result<Validator, String> {
    let mut options = jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(true);
    if draft == Draft::Draft4 {
        options = options.with_format("uuid", is_uuid);
    }
    options
        .build(document)
        .map_err(|e| format!("the document's schema does not compile: {e}"))
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Longest single error line kept (messages quote the offending value).
const MAX_LINE: usize = 300;

/// One line per error: `<instance path>: <problem>`.
pub(crate) fn describe(error: &ValidationError<'_>, direction: Direction) -> String {
    let at = error.instance_path().to_string();
    let at = if at.is_empty() { "/".to_string() } else { at };
    let field = || at.rsplit('/').next().unwrap_or_default().to_string();
    let line = match error.kind() {
        ValidationErrorKind::Not { schema } if is_forbidden_marker(schema) => match direction {
            Direction::Request => format!("{at}: readOnly field {} in a request", field()),
            Direction::Response => format!("{at}: writeOnly field {} in a response", field()),
        },
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let within = schema_name(error)
                .map(|n| format!(" (schema {n})"))
                .unwrap_or_default();
            format!(
                "{at}: undeclared field{} {}{within}",
                if unexpected.len() == 1 { "" } else { "s" },
                unexpected.join(", ")
            )
        }
        _ => format!("{at}: {error}"),
    };
    truncate(line)
}

/// The component an error's keyword sits in, when it can be told.
fn schema_name(error: &ValidationError<'_>) -> Option<String> {
    let location = error.schema_path().to_string();
    let after = location.split("/components/schemas/").nth(1)?;
    let name = after.split('/').next()?;
    Some(name.trim_end_matches(OR_NULL).to_string())
}

fn truncate(mut line: String) -> String {
    if line.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemas() -> Map<String, Value> {
        json!({
            "Thing": {"type": "object", "required": ["Id", "Name"], "properties": {
                "Id": {"type": "string", "format": "uuid", "readOnly": true},
                "Name": {"type": "string"},
                "Secret": {"type": "string", "writeOnly": true},
                "Part": {"$ref": "#/components/schemas/Part"},
                "Kind": {"type": "string", "enum": ["A", "B"]}
            }},
            "Part": {"type": "object", "properties": {"N": {"type": "integer"}}},
            "Base": {"type": "object", "properties": {"a": {"type": "string"}}},
            "Both": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"b": {"type": "string"}}}]}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn check(root: &str, mode: Mode, draft: Draft, body: Value) -> Vec<String> {
        let schemas = schemas();
        let open = composition_members(&schemas);
        let doc = prepare(
            &json!({"$ref": format!("#/components/schemas/{root}")}),
            &schemas,
            &open,
            mode,
        );
        let validator = compile(&doc, draft).expect("compiles");
        validator
            .iter_errors(&body)
            .map(|e| describe(&e, mode.direction))
            .collect()
    }

    const PLAIN: Mode = Mode {
        direction: Direction::Request,
        partial: false,
        closed: false,
        optional_nullable: false,
    };

    #[test]
    fn read_only_is_forbidden_in_requests_and_not_required() {
        for draft in [Draft::Draft4, Draft::Draft202012] {
            let errors = check("Thing", PLAIN, draft, json!({"Name": "a", "Id": "x"}));
            assert_eq!(errors, ["/Id: readOnly field Id in a request"], "{draft:?}");
            assert!(check("Thing", PLAIN, draft, json!({"Name": "a"})).is_empty());
            let response = Mode {
                direction: Direction::Response,
                ..PLAIN
            };
            let errors = check(
                "Thing",
                response,
                draft,
                json!({"Name": "a", "Id": "8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11", "Secret": "s"}),
            );
            assert_eq!(errors, ["/Secret: writeOnly field Secret in a response"]);
            let errors = check("Thing", response, draft, json!({"Name": "a", "Id": "nope"}));
            assert_eq!(errors, ["/Id: \"nope\" is not a \"uuid\""]);
            let errors = check("Thing", response, draft, json!({"Name": "a"}));
            assert_eq!(
                errors.len(),
                1,
                "responses require the read-only Id: {errors:?}"
            );
        }
    }

    #[test]
    fn partial_closed_and_nullable() {
        let mode = Mode {
            direction: Direction::Response,
            partial: true,
            closed: true,
            optional_nullable: true,
        };
        let errors = check(
            "Thing",
            mode,
            Draft::Draft4,
            json!({"Part": null, "Kind": null, "Extra": 1}),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("/: undeclared field Extra (schema Thing)"),
            "{errors:?}"
        );
        let errors = check(
            "Thing",
            mode,
            Draft::Draft4,
            json!({"Part": {"N": "x", "M": 1}}),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("undeclared field M (schema Part)")),
            "{errors:?}"
        );
        // Required properties stay non-null; without `partial`, required applies again.
        let strict = Mode {
            partial: false,
            ..mode
        };
        assert_eq!(
            check(
                "Thing",
                strict,
                Draft::Draft4,
                json!({"Id": "8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11", "Name": null})
            )
            .len(),
            1
        );
        // Members of an allOf stay open.
        assert!(check("Both", mode, Draft::Draft4, json!({"a": "x", "b": "y"})).is_empty());
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11"));
        assert!(!is_uuid("8c0e3a5e3b1f4b7e9a430e4f0f2b9d11"));
        assert!(!is_uuid("8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d1g"));
    }
}
