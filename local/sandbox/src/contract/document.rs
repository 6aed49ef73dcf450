//! Reading an OpenAPI document (JSON or YAML) and finding the operation a request addresses.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::ContractError;

/// The parts of an OpenAPI document the checker uses.
pub(crate) struct Document {
    /// `components.schemas`, after the provider's document-wide rewrites.
    pub schemas: Map<String, Value>,
    paths: Vec<PathEntry>,
}

struct PathEntry {
    /// The template as the document spells it, with the server prefix (`/v2/customers/{id}`).
    template: String,
    /// Literal segments, `None` for `{Param}`.
    segments: Vec<Option<String>>,
    /// Upper-case method → operation.
    operations: BTreeMap<String, Operation>,
}

/// One documented operation: its body schemas.
#[derive(Debug, Default)]
pub(crate) struct Operation {
    /// The path template with the server prefix, for messages and grouping.
    pub template: String,
    /// Schema of the JSON request body, if the operation takes one.
    pub request: Option<Value>,
    /// `"200"`, `"2XX"`, `"default"`, … → schema of the JSON body (`None`: no body documented).
    pub responses: BTreeMap<String, Option<Value>>,
    /// The statuses documented with an `application/pdf` body (not checked: a PDF).
    pub pdf: Vec<String>,
}

/// Why a request does not address a documented operation: one line for the violation.
pub(crate) type Undocumented = String;

/// Parses `text` as JSON, or as YAML when it is not JSON.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Value, ContractError> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| ContractError::Parse {
            path: origin.into(),
            reason: e.to_string(),
        });
    }
    let yaml: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| ContractError::Parse {
            path: origin.into(),
            reason: e.to_string(),
        })?;
    Ok(yaml_to_json(yaml))
}

/// YAML → JSON; mapping keys that are not strings (`200:` unquoted) become their text.
fn yaml_to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match yaml_to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

impl Document {
    /// Reads `paths`, `components.schemas` and the first server URL of an OpenAPI document.
    pub fn from_value(mut doc: Value) -> Result<Self, ContractError> {
        let schemas = match doc.pointer_mut("/components/schemas").map(Value::take) {
            Some(Value::Object(schemas)) => schemas,
            _ => {
                return Err(ContractError::Shape(
                    "the document has no components.schemas".into(),
                ))
            }
        };
        // The first server URL's path (`/v2` for Visma's `https://…/v2/`, empty for Fortnox):
        // the document's paths are relative to it.
        let prefix = doc
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .map(server_path)
            .unwrap_or_default();
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| ContractError::Shape("the document has no paths".into()))?;
        let paths = paths
            .iter()
            .map(|(template, item)| {
                let template = format!("{prefix}{template}");
                PathEntry {
                    segments: split(&template)
                        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                        .collect(),
                    operations: item
                        .as_object()
                        .map(|ops| {
                            ops.iter()
                                .filter(|(method, op)| op.is_object() && is_method(method))
                                .map(|(method, op)| {
                                    (method.to_ascii_uppercase(), operation(&template, op))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    template,
                }
            })
            .collect();
        Ok(Document { schemas, paths })
    }

    /// The operation `method path` addresses (`path` as the provider sees it, with the
    /// server prefix and without the query). The most literal matching templates win
    /// (`/3/invoices/{n}/bookkeep` over `/3/invoices/{n}/{x}`); among those, the one that has
    /// the method (Visma spells one path `/customerinvoicedrafts/{invoiceDraftId}` for GET and
    /// `/customerinvoicedrafts/{customerInvoiceDraftId}` for PUT and DELETE).
    pub fn operation(&self, method: &str, path: &str) -> Result<&Operation, Undocumented> {
        let segments: Vec<&str> = split(path).collect();
        let method = method.to_ascii_uppercase();
        let literals = |entry: &PathEntry| entry.segments.iter().filter(|s| s.is_some()).count();
        let matching: Vec<&PathEntry> = self
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
            .collect();
        let most = matching.iter().map(|e| literals(e)).max().ok_or_else(|| {
            format!("undocumented path: the document has no path matching {path}")
        })?;
        // Templates of one shape may differ only in their parameters' names, each with its
        // own methods: Visma documents `GET /customerinvoicedrafts/{invoiceDraftId}` and
        // `PUT|DELETE /customerinvoicedrafts/{customerInvoiceDraftId}` as two paths.
        let best: Vec<&PathEntry> = matching
            .into_iter()
            .filter(|e| literals(e) == most)
            .collect();
        best.iter()
            .find_map(|entry| entry.operations.get(&method))
            .ok_or_else(|| {
                let mut methods: Vec<&str> = best
                    .iter()
                    .flat_map(|e| e.operations.keys().map(String::as_str))
                    .collect();
                methods.sort_unstable();
                format!(
                    "undocumented method: the document has no {method} {} (it has {})",
                    best[0].template,
                    methods.join(", ")
                )
            })
    }

    /// Number of documented path templates.
    pub fn path_count(&self) -> usize {
        self.paths.len()
    }
}

/// `https://host/v2/` → `/v2`; `https://host` → ``.
fn server_path(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = without_scheme
        .find('/')
        .map_or("", |i| &without_scheme[i..]);
    path.trim_end_matches('/').to_string()
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.trim_matches('/').split('/')
}

fn is_method(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "get" | "put" | "post" | "delete" | "patch" | "head" | "options" | "trace"
    )
}

fn operation(template: &str, op: &Value) -> Operation {
    let request = op
        .get("requestBody")
        .and_then(|rb| rb.get("content"))
        .and_then(content_schema);
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|rs| {
            rs.iter()
                .map(|(status, r)| {
                    (
                        status.to_ascii_uppercase().replace("DEFAULT", "default"),
                        r.get("content").and_then(content_schema),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let pdf = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|rs| {
            rs.iter()
                .filter(|(_, r)| r.pointer("/content/application~1pdf").is_some())
                .map(|(status, _)| status.clone())
                .collect()
        })
        .unwrap_or_default();
    Operation {
        template: template.to_string(),
        request,
        responses,
        pdf,
    }
}

/// The schema of `application/json`, else of another JSON media type, else of `*/*`. Bodies of
/// other media types (`application/pdf`) are not checked.
fn content_schema(content: &Value) -> Option<Value> {
    let content = content.as_object()?;
    content
        .get("application/json")
        .or_else(|| {
            content
                .iter()
                .find(|(media, _)| media.ends_with("+json") || media.starts_with("text/json"))
                .map(|(_, m)| m)
        })
        .or_else(|| content.get("*/*"))
        .and_then(|media| media.get("schema"))
        .cloned()
}

/// Every `#/components/schemas/<name>` reference below `v`.
pub(crate) fn refs_in<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name);
            }
            map.values().for_each(|child| refs_in(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| refs_in(child, out)),
        _ => {}
    }
}

/// The names of `root`'s schema and every schema it reaches through references.
pub(crate) fn closure(root: &Value, schemas: &Map<String, Value>) -> Vec<String> {
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut order = Vec::new();
    let mut todo = Vec::new();
    refs_in(root, &mut todo);
    let mut todo: Vec<String> = todo.into_iter().map(str::to_string).collect();
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone(), ()).is_some() {
            continue;
        }
        if let Some(schema) = schemas.get(&name) {
            let mut found = Vec::new();
            refs_in(schema, &mut found);
            todo.extend(found.into_iter().map(str::to_string));
        }
        order.push(name);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_paths() {
        assert_eq!(
            server_path("https://eaccountingapi.vismaonline.com/v2/"),
            "/v2"
        );
        assert_eq!(server_path("https://api.fortnox.se"), "");
        assert_eq!(server_path("/api/"), "/api");
    }

    #[test]
    fn yaml_and_json_parse_alike() {
        let yaml = "openapi: 3.1.1\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n";
        let v = parse(yaml, "test.yaml").expect("yaml parses");
        assert!(v.pointer("/paths/~1a/get/responses/200").is_some(), "{v}");
        assert!(parse("{\"a\": 1}", "x.json").is_ok());
        assert!(matches!(
            parse("{oops", "x.json"),
            Err(ContractError::Parse { .. })
        ));
    }

    #[test]
    fn operations_match_the_most_literal_template() {
        let doc = Document::from_value(json!({
            "servers": [{"url": "https://x.example/v2/"}],
            "paths": {
                "/things/{id}": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}, "parameters": []},
                "/things/special": {"get": {"responses": {"201": {"description": "x"}}}},
                "/things/{id}/convert": {"post": {"responses": {}}}
            },
            "components": {"schemas": {"A": {"type": "object"}}}
        }))
        .expect("document");
        assert_eq!(doc.path_count(), 3);
        let op = doc.operation("get", "/v2/things/12").expect("found");
        assert_eq!(op.template, "/v2/things/{id}");
        assert!(op.responses["200"].is_some());
        let special = doc.operation("GET", "/v2/things/special").expect("found");
        assert!(special.responses["201"].is_none());
        assert!(doc.operation("POST", "/v2/things/1/convert").is_ok());
        let e = doc.operation("PUT", "/v2/things/1").unwrap_err();
        assert!(
            e.contains("undocumented method") && e.contains("GET"),
            "{e}"
        );
        let e = doc.operation("GET", "/v2/thing/1").unwrap_err();
        assert!(e.contains("undocumented path"), "{e}");
        assert!(
            doc.operation("GET", "/things/12").is_err(),
            "the prefix is part of the path"
        );
    }

    #[test]
    fn one_path_spelled_with_two_parameter_names() {
        let doc = Document::from_value(json!({
            "paths": {
                "/drafts/{draftId}": {"get": {"responses": {}}},
                "/drafts/{id}": {"put": {"responses": {}}, "delete": {"responses": {}}}
            },
            "components": {"schemas": {}}
        }))
        .expect("document");
        assert_eq!(
            doc.operation("GET", "/drafts/1").unwrap().template,
            "/drafts/{draftId}"
        );
        assert_eq!(
            doc.operation("PUT", "/drafts/1").unwrap().template,
            "/drafts/{id}"
        );
        assert!(doc.operation("DELETE", "/drafts/1").is_ok());
        let e = doc.operation("POST", "/drafts/1").unwrap_err();
        assert!(e.contains("DELETE, GET, PUT"), "{e}");
    }

    #[test]
    fn closures_follow_references() {
        let schemas = json!({
            "A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"items": {"$ref": "#/components/schemas/C"}},
            "C": {"properties": {"a": {"$ref": "#/components/schemas/A"}}},
            "D": {}
        });
        let mut names = closure(
            &json!({"$ref": "#/components/schemas/A"}),
            schemas.as_object().unwrap(),
        );
        names.sort();
        assert_eq!(names, ["A", "B", "C"]);
    }
}
