//! Contract checking against Fortnox's own OpenAPI 3.0.3 description
//! (`shared/specs/fortnox-openapi.json`).
//!
//! OpenAPI 3.0 schemas are draft-4 JSON Schema plus a few words. Each schema is validated as
//! draft 4 with the spec's `components` as the document root, so `#/components/schemas/…`
//! references resolve; `nullable: true` becomes `type: [t, "null"]` first. Formats are
//! checked (`date` must be `YYYY-MM-DD`): an empty string in a date field is a violation.
//! The spec declares no `additionalProperties: false` and nothing `nullable`, so extra fields
//! pass and every `null` fails. Validators are compiled once per schema and shared.
//!
//! One deliberate relaxation: PUT request bodies are checked without `required`. Fortnox
//! documents PUT as a partial update ("properties not provided will be left unchanged"), yet
//! the spec reuses the full schemas, which require `Name` (customers) and `CustomerNumber`
//! (invoices). Everything else (types, lengths, enums, formats) still applies to PUTs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use serde_json::{Map, Value};

/// Which way a body went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A request body the sandbox received.
    Request,
    /// A response body the sandbox sent.
    Response,
}

/// A body that does not match the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractViolation {
    /// HTTP method.
    pub method: String,
    /// Path as the provider sees it (`/3/customers/12`), without query.
    pub path: String,
    /// Request or response.
    pub direction: Direction,
    /// Response status (`None` for requests).
    pub status: Option<u16>,
    /// What is wrong, one line each (`<instance path>: <problem>`).
    pub errors: Vec<String>,
}

/// Why the spec could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path} is not JSON: {source}")]
    Parse {
        /// The file asked for.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The file is JSON but not an OpenAPI document with `paths` and `components`.
    #[error("{0}")]
    Shape(String),
}

/// Fortnox's OpenAPI contract, ready to validate bodies; cheap to clone.
#[derive(Clone)]
pub struct FortnoxContract {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FortnoxContract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FortnoxContract")
            .field("paths", &self.inner.paths.len())
            .finish()
    }
}

struct Inner {
    /// `{"components": …}` after the `nullable` pass.
    root: Map<String, Value>,
    /// The same without any `required`, for partial updates (PUT request bodies).
    partial_root: Map<String, Value>,
    paths: Vec<PathEntry>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

struct PathEntry {
    /// Literal segments, `None` for `{Param}`.
    segments: Vec<Option<String>>,
    /// Lower-case method → operation.
    operations: HashMap<String, Operation>,
}

#[derive(Default)]
struct Operation {
    request: Option<Value>,
    /// `"200"`, `"201"`, …, `"default"` → schema (None when the answer has no body).
    responses: HashMap<String, Option<Value>>,
}

/// Loads `spec_path` (Fortnox's OpenAPI JSON). Loaded contracts are cached per path, so
/// many sandboxes in one test binary share compiled validators.
pub fn fortnox_contract(spec_path: impl AsRef<Path>) -> Result<FortnoxContract, ContractError> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, FortnoxContract>>> = OnceLock::new();
    let path = spec_path.as_ref();
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let loaded = LOADED.get_or_init(Default::default);
    if let Some(found) = loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(found.clone());
    }
    let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let spec: Value = serde_json::from_str(&text).map_err(|source| ContractError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let contract = FortnoxContract::from_spec(spec)?;
    loaded
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, contract.clone());
    Ok(contract)
}

impl FortnoxContract {
    /// Builds a contract from an OpenAPI document already in memory.
    pub fn from_spec(mut spec: Value) -> Result<Self, ContractError> {
        let mut components = spec
            .get_mut("components")
            .map(Value::take)
            .ok_or_else(|| ContractError::Shape("the spec has no components".into()))?;
        openapi_to_json_schema(&mut components);
        let mut partial_components = components.clone();
        strip_required(&mut partial_components);
        let mut root = Map::new();
        root.insert("components".into(), components);
        let mut partial_root = Map::new();
        partial_root.insert("components".into(), partial_components);
        let paths = spec
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| ContractError::Shape("the spec has no paths".into()))?;
        let paths = paths
            .iter()
            .map(|(template, item)| PathEntry {
                segments: template
                    .trim_matches('/')
                    .split('/')
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                    .collect(),
                operations: item
                    .as_object()
                    .map(|ops| {
                        ops.iter()
                            .filter(|(_, op)| op.is_object())
                            .map(|(method, op)| (method.to_ascii_lowercase(), operation(op)))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Ok(FortnoxContract {
            inner: Arc::new(Inner {
                root,
                partial_root,
                paths,
                validators: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Checks a request body against the `requestBody` schema of `method path`
    /// (`path` like `/3/customers/12`, no query). Operations without a request body schema
    /// accept anything; an operation missing from the spec is an error. PUT bodies are
    /// partial updates, so `required` is not enforced on them.
    pub fn validate_request(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        let op = self.operation(method, path)?;
        let partial = method.eq_ignore_ascii_case("PUT");
        match &op.request {
            Some(schema) => self.validate(schema, body, partial),
            None => Ok(()),
        }
    }

    /// Checks a response body against the schema the spec gives for `status` (or its
    /// `default` answer). Statuses without a schema accept anything.
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        let op = self.operation(method, path)?;
        let schema = op
            .responses
            .get(&status.to_string())
            .or_else(|| op.responses.get(&format!("{}XX", status / 100)))
            .or_else(|| op.responses.get("default"));
        match schema {
            Some(Some(schema)) => self.validate(schema, body, false),
            _ => Ok(()),
        }
    }

    /// Whether the spec describes `method path`.
    pub fn has_operation(&self, method: &str, path: &str) -> bool {
        self.operation(method, path).is_ok()
    }

    fn operation(&self, method: &str, path: &str) -> Result<&Operation, Vec<String>> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = method.to_ascii_lowercase();
        self.inner
            .paths
            .iter()
            .filter(|entry| {
                entry.segments.len() == segments.len()
                    && entry
                        .segments
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t.as_deref().is_none_or(|lit| lit == *s))
            })
            // The most literal template wins (`/3/invoices/{n}/bookkeep` over `/3/invoices/{n}/{x}`).
            .max_by_key(|entry| entry.segments.iter().filter(|s| s.is_some()).count())
            .and_then(|entry| entry.operations.get(&method))
            .ok_or_else(|| {
                vec![format!(
                    "the spec has no operation {} {path}",
                    method.to_uppercase()
                )]
            })
    }

    fn validate(&self, schema: &Value, body: &Value, partial: bool) -> Result<(), Vec<String>> {
        let validator = self.validator(schema, partial)?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("{}: {e}", if at.is_empty() { "/" } else { at.as_str() })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn validator(
        &self,
        schema: &Value,
        partial: bool,
    ) -> Result<Arc<jsonschema::Validator>, Vec<String>> {
        let key = format!("{}{schema}", if partial { "partial:" } else { "" });
        let mut cache = self
            .inner
            .validators
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cache.get(&key) {
            return Ok(found.clone());
        }
        let mut document = if partial {
            self.inner.partial_root.clone()
        } else {
            self.inner.root.clone()
        };
        match schema {
            Value::Object(keywords) => {
                for (k, v) in keywords {
                    document.insert(k.clone(), v.clone());
                }
            }
            other => return Err(vec![format!("unusable schema in the spec: {other}")]),
        }
        openapi_to_json_schema_shallow(&mut document);
        if partial {
            document.remove("required");
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&Value::Object(document))
            .map_err(|e| vec![format!("the spec's schema does not compile: {e}")])?;
        let validator = Arc::new(validator);
        cache.insert(key, validator.clone());
        Ok(validator)
    }
}

fn operation(op: &Value) -> Operation {
    let request = op
        .get("requestBody")
        .and_then(|rb| rb.get("content"))
        .and_then(content_schema);
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|rs| {
            rs.iter()
                .map(|(status, r)| (status.clone(), r.get("content").and_then(content_schema)))
                .collect()
        })
        .unwrap_or_default();
    Operation { request, responses }
}

/// The schema of `application/json`, else `*/*`, else the first media type.
fn content_schema(content: &Value) -> Option<Value> {
    let content = content.as_object()?;
    ["application/json", "*/*"]
        .iter()
        .find_map(|m| content.get(*m))
        .or_else(|| content.values().next())
        .and_then(|media| media.get("schema"))
        .cloned()
}

/// Rewrites OpenAPI-only words into JSON Schema, everywhere below `v`.
fn openapi_to_json_schema(v: &mut Value) {
    match v {
        Value::Object(map) => {
            nullable_to_type(map);
            for child in map.values_mut() {
                openapi_to_json_schema(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(openapi_to_json_schema),
        _ => {}
    }
}

/// The inline schema of an operation (usually just a `$ref`) gets the same treatment, one
/// level at a time (its `components` were done already).
fn openapi_to_json_schema_shallow(map: &mut Map<String, Value>) {
    nullable_to_type(map);
    for (k, child) in map.iter_mut() {
        if k != "components" {
            openapi_to_json_schema(child);
        }
    }
}

/// Removes every `required` list below `v` (a property *named* `required` is an object, so
/// it stays).
fn strip_required(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("required").is_some_and(Value::is_array) {
                map.remove("required");
            }
            map.values_mut().for_each(strip_required);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_required),
        _ => {}
    }
}

fn nullable_to_type(map: &mut Map<String, Value>) {
    if map.get("nullable").and_then(Value::as_bool) != Some(true) {
        map.remove("nullable");
        return;
    }
    map.remove("nullable");
    if let Some(t) = map.get_mut("type") {
        if let Value::String(s) = t {
            *t = Value::Array(vec![Value::String(s.clone()), Value::from("null")]);
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tiny() -> FortnoxContract {
        FortnoxContract::from_spec(json!({
            "openapi": "3.0.3",
            "paths": {
                "/3/things/{Id}": {
                    "put": {
                        "requestBody": {"content": {"*/*": {"schema": {"$ref": "#/components/schemas/Wrap"}}}},
                        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Wrap"}}}}}
                    }
                }
            },
            "components": {"schemas": {
                "Wrap": {"type": "object", "properties": {"Thing": {"$ref": "#/components/schemas/Thing"}}},
                "Thing": {"type": "object", "required": ["Name"], "properties": {
                    "Name": {"type": "string", "minLength": 1},
                    "Note": {"type": "string", "nullable": true},
                    "Day": {"type": "string", "format": "date"}
                }}
            }}
        }))
        .expect("builds")
    }

    #[test]
    fn refs_nullable_and_formats() {
        let c = tiny();
        assert!(c
            .validate_request(
                "PUT",
                "/3/things/7",
                &json!({"Thing": {"Name": "a", "Note": null}})
            )
            .is_ok());
        let errors = c
            .validate_response(
                "PUT",
                "/3/things/7",
                200,
                &json!({"Thing": {"Name": "", "Day": "2024-13-01"}}),
            )
            .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(c
            .validate_request("GET", "/3/things/7", &json!({}))
            .is_err());
        // PUT is a partial update: `required` does not apply, types still do.
        assert!(c
            .validate_request("PUT", "/3/things/7", &json!({"Thing": {"Note": "x"}}))
            .is_ok());
        assert!(c
            .validate_request("PUT", "/3/things/7", &json!({"Thing": {"Name": 1}}))
            .is_err());
        assert!(c
            .validate_response("PUT", "/3/things/7", 200, &json!({"Thing": {"Note": "x"}}))
            .is_err());
        assert!(c
            .validate_response("PUT", "/3/things/7", 404, &json!({"x": 1}))
            .is_ok());
    }
}
