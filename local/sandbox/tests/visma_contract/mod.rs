//! Checks Visma responses against Visma's own OpenAPI document
//! (`contracts/visma-eaccounting-v2-openapi.yaml`): the operation must exist (method and
//! path), the status must be documented (error statuses the document leaves out must carry
//! its `CommonExtendedBadRequest` body), and the body must validate against the documented
//! schema, `additionalProperties: false`, `required` and formats included.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Map, Value};

pub fn spec_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts/visma-eaccounting-v2-openapi.yaml")
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(spec_path()).expect("the Visma document is readable");
        serde_norway::from_str(&text).expect("the Visma document parses")
    })
}

fn validator(schema: &str) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().expect("validator cache");
    cache
        .entry(schema.to_string())
        .or_insert_with(|| {
            let root = json!({
                "$ref": format!("#/components/schemas/{schema}"),
                "components": {"schemas": spec()["components"]["schemas"].clone()},
            });
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("{schema} compiles: {e}"));
            Arc::new(v)
        })
        .clone()
}

/// The document's operation for `method` and an API path (`/v2/customers/…`, query
/// allowed): its path template and the operation object.
pub fn operation(method: &str, path: &str) -> Option<(&'static str, &'static Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let api = path.strip_prefix("/v2").unwrap_or(path);
    let segments: Vec<&str> = api.trim_matches('/').split('/').collect();
    let paths = spec()["paths"].as_object()?;
    paths.iter().find_map(|(template, item)| {
        let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
        let fits = parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s);
        let op = item.get(method.to_ascii_lowercase())?;
        fits.then_some((template.as_str(), op))
    })
}

/// The schema name of `#/components/schemas/X`.
fn schema_name(reference: &Value) -> Option<&str> {
    reference.as_str()?.strip_prefix("#/components/schemas/")
}

/// Every way `body` (as answered with `status`) breaks the document; empty when it fits.
pub fn violations(method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let Some((template, op)) = operation(method, path) else {
        return vec![format!(
            "{method} {path}: the document has no such operation"
        )];
    };
    let documented = op["responses"].get(status.to_string());
    let schema = match documented {
        Some(r) => match r.pointer("/content/application~1json/schema/$ref") {
            Some(reference) => schema_name(reference).map(str::to_string),
            None if body.is_null() => return Vec::new(),
            None => {
                return vec![format!(
                    "{method} {template} {status}: the document has no body here, got {body}"
                )]
            }
        },
        None if status >= 400 => Some("CommonExtendedBadRequest".to_string()),
        None => {
            return vec![format!(
                "{method} {template}: status {status} is not documented"
            )]
        }
    };
    let Some(schema) = schema else {
        return vec![format!(
            "{method} {template} {status}: unreadable schema reference"
        )];
    };
    validator(&schema)
        .iter_errors(body)
        .map(|e| {
            format!(
                "{method} {template} {status} ({schema}) at {}: {e}",
                e.instance_path()
            )
        })
        .collect()
}

/// Panics with every violation.
pub fn assert_fits(method: &str, path: &str, status: u16, body: &Value) {
    let bad = violations(method, path, status, body);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Properties of a component schema (for "every property it has" checks).
pub fn properties(schema: &str) -> Map<String, Value> {
    spec()["components"]["schemas"][schema]["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// A Visma API client whose every answer is checked against the document.
#[derive(Clone)]
pub struct V(pub crate::common::Api);

impl V {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (reqwest::StatusCode, Value) {
        let (status, answer) = self.0.send(method.clone(), path, body).await;
        assert_fits(method.as_str(), path, status.as_u16(), &answer);
        (status, answer)
    }

    pub async fn get(&self, path: &str) -> (reqwest::StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (reqwest::StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (reqwest::StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (reqwest::StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

/// Asserts `body` has exactly the properties of `schema`.
pub fn assert_every_property(schema: &str, body: &Value) {
    let mut want: Vec<String> = properties(schema).keys().cloned().collect();
    let mut got: Vec<String> = body
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{schema}: properties differ");
}
