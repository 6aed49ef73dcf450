//! `docs/openapi.yaml` describes exactly the routes the system serves: the devstack's route
//! table (the same as template.yaml's HTTP API events) plus the webhook behind its function URL,
//! with JWT security exactly where the gateway asks for a token, and problem+json errors.

use serde_yaml::Value;
use std::collections::BTreeSet;

/// Routes served outside the HTTP API (a Lambda function URL), so not in `devstack::ROUTES`
/// unless the devstack chooses to serve them too.
const FUNCTION_URL_ROUTES: &[(&str, &str)] = &[("POST", "/api/integrations/{id}/webhook")];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

/// Every operation of the document: (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_mapping().expect("`paths` is a mapping");
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path keys are strings").to_string();
        let item = item.as_mapping().expect("path items are mappings");
        for (method, op) in item {
            let method = method.as_str().unwrap_or_default();
            if METHODS.contains(&method) {
                out.push((method.to_ascii_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = doc;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            assert!(!cur.is_null(), "dangling $ref {r}");
            resolve(doc, cur)
        }
        None => v,
    }
}

fn expected_routes() -> BTreeSet<(String, String)> {
    devstack::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .chain(
            FUNCTION_URL_ROUTES
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string())),
        )
        .collect()
}

#[test]
fn documents_exactly_the_served_routes() {
    let doc = document();
    assert_eq!(
        doc["openapi"].as_str().map(|v| &v[..4]),
        Some("3.1."),
        "OpenAPI 3.1"
    );
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let served = expected_routes();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "docs/openapi.yaml and devstack::ROUTES (+ the webhook) differ:\n  served but not documented: {undocumented:?}\n  documented but not served: {unserved:?}"
    );
}

#[test]
fn asks_for_a_jwt_exactly_where_the_gateway_does() {
    let doc = document();
    let global_bearer = doc["security"]
        .as_sequence()
        .is_some_and(|s| s.iter().any(|r| r.get("bearerAuth").is_some()));
    assert!(global_bearer, "bearerAuth is the default security");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"].as_str(),
        Some("bearer")
    );
    for (method, path, op) in operations(&doc) {
        let needs_jwt = match op.get("security") {
            None => global_bearer,
            Some(s) => s
                .as_sequence()
                .is_some_and(|s| s.iter().any(|r| r.get("bearerAuth").is_some())),
        };
        let gateway = devstack::ROUTES
            .iter()
            .find(|r| r.method == method && r.path == path);
        let expected = match gateway {
            Some(r) => r.authorized,
            // Function URL routes authenticate by signature, not JWT.
            None => false,
        };
        assert_eq!(needs_jwt, expected, "{method} {path}: JWT security in the document is {needs_jwt}, the gateway says {expected}");
        let responses = op["responses"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        if needs_jwt {
            assert!(
                responses.contains_key("401"),
                "{method} {path} needs a JWT but documents no 401"
            );
        }
    }
}

#[test]
fn every_operation_documents_success_and_problem_json_errors() {
    let doc = document();
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        let mut success = false;
        for (status, response) in responses {
            let status = status.as_str().unwrap_or_else(|| {
                panic!("{method} {path}: quote status codes (\"200\"), they are strings in OpenAPI")
            });
            let code: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{method} {path}: status `{status}`"));
            let response = resolve(&doc, response);
            assert!(
                response["description"].is_string(),
                "{method} {path} {status}: description"
            );
            if code < 400 {
                success = true;
                continue;
            }
            let content = response["content"].as_mapping().unwrap_or_else(|| {
                panic!("{method} {path} {status}: an error answer with no content")
            });
            let problem = content.get("application/problem+json").unwrap_or_else(|| {
                panic!("{method} {path} {status}: errors are application/problem+json")
            });
            let schema = resolve(&doc, &problem["schema"]);
            let is_problem = schema.get("$ref").is_none()
                && (schema["required"]
                    .as_sequence()
                    .is_some_and(|r| r.contains(&Value::from("detail")))
                    || schema["allOf"].as_sequence().is_some_and(|all| {
                        all.iter()
                            .any(|s| s["$ref"].as_str() == Some("#/components/schemas/Problem"))
                    }));
            assert!(
                is_problem,
                "{method} {path} {status}: the problem+json schema is not Problem"
            );
        }
        assert!(success, "{method} {path} documents no success answer");
    }
}

#[test]
fn path_parameters_match_the_templates() {
    let doc = document();
    for (method, path, op) in operations(&doc) {
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(|s| s.trim_matches(|c| c == '{' || c == '}').to_string())
            .collect();
        let declared: BTreeSet<String> = op["parameters"]
            .as_sequence()
            .map(|ps| {
                ps.iter()
                    .map(|p| resolve(&doc, p))
                    .filter(|p| p["in"].as_str() == Some("path"))
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(in_template, declared, "{method} {path}: path parameters");
    }
}
