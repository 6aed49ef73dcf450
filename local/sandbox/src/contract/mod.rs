//! Contract checking against the providers' own OpenAPI documents, both ways.
//!
//! The documents live in `contracts/` ([`FORTNOX_CONTRACT`], [`VISMA_CONTRACT`]) and are the
//! authority: every request body the product sends and every response body the sandbox
//! answers is validated against the schema the document gives the operation, and a request
//! to an operation the document does not have is a violation too (even when the handler
//! answers 404; a 404 for a missing id on a documented path is fine).
//!
//! What is checked, for a [`Contract`] of either provider:
//! - the operation exists: method and path template (`/3/customers/{CustomerNumber}`);
//! - a request body against the operation's `requestBody` schema: types, formats (`date`,
//!   `date-time`, `uuid`, `email`, …), lengths, enums, `required`, closed objects, and
//!   `readOnly` properties are forbidden ("readOnly field Id in a request"), which plain
//!   JSON Schema validators ignore (see `schema.rs`);
//! - a response body against the schema of its status: exact status, then `2XX`-style
//!   ranges, then (for error statuses only) `default`. A success status the operation does
//!   not document is a violation; an error status it does not document is not checked (the
//!   providers document few of their error bodies). `writeOnly` properties are forbidden in
//!   responses.
//!
//! Provider conventions, with their reasons, are in `fortnox.rs` (OpenAPI 3.0: `nullable`,
//! partial PUTs, closed objects, `null` for optional response fields) and `visma.rs`
//! (OpenAPI 3.1, draft 2020-12, as written).
//!
//! Validators are compiled once per (schema, way of use) and shared by every clone of a
//! contract; loaded contracts are cached per file, so many sandboxes in one test binary
//! share them.

mod document;
mod fortnox;
mod report;
mod schema;
mod visma;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use serde_json::Value;

use crate::provider::ProviderKind;
use document::{Document, Operation};
use schema::Mode;

pub use report::violation_report;

/// Fortnox's OpenAPI document in this repository (API v3, OpenAPI 3.0.3, April 2026).
pub const FORTNOX_CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contracts/fortnox-openapi-2026-04.json"
);

/// Visma eAccounting's OpenAPI document in this repository (API v2, OpenAPI 3.1.1).
pub const VISMA_CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contracts/visma-eaccounting-v2-openapi.yaml"
);

/// Which way a body went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A request the sandbox received (its body, or the operation it asked for).
    Request,
    /// A response body the sandbox sent.
    Response,
}

/// A request or response that does not keep to the provider's contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractViolation {
    /// Whose contract.
    pub provider: ProviderKind,
    /// HTTP method.
    pub method: String,
    /// Path as the provider sees it (`/3/customers/12`, `/v2/customers/…`), without query.
    pub path: String,
    /// The documented path template it matched (`/3/customers/{CustomerNumber}`); `None`
    /// when the operation is undocumented.
    pub operation: Option<String>,
    /// Request or response.
    pub direction: Direction,
    /// Response status (`None` for requests).
    pub status: Option<u16>,
    /// What is wrong, one line each (`<instance path>: <problem>`).
    pub errors: Vec<String>,
}

/// Why a contract document could not be used.
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
    /// The file is neither JSON nor YAML.
    #[error("{path} is not JSON or YAML: {reason}")]
    Parse {
        /// The file asked for.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file parses but is not an OpenAPI document with `paths` and `components.schemas`.
    #[error("{0}")]
    Shape(String),
}

/// One provider's OpenAPI contract, ready to validate bodies; cheap to clone.
#[derive(Clone)]
pub struct Contract {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("provider", &self.inner.provider)
            .field("paths", &self.inner.document.path_count())
            .finish()
    }
}

type ValidatorKey = (String, Mode);

struct Inner {
    provider: ProviderKind,
    document: Document,
    /// Schemas that are members of a composition, never closed.
    open: HashSet<String>,
    validators: Mutex<HashMap<ValidatorKey, Arc<jsonschema::Validator>>>,
}

/// Loads `path` as `provider`'s contract (cached per provider and file).
pub fn load_contract(
    provider: ProviderKind,
    path: impl AsRef<Path>,
) -> Result<Contract, ContractError> {
    static LOADED: OnceLock<Mutex<HashMap<(ProviderKind, PathBuf), Contract>>> = OnceLock::new();
    let path = path.as_ref();
    let key = (
        provider,
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
    );
    // Held while loading: parallel tests wait for one load instead of each doing their own.
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(found) = loaded.get(&key) {
        return Ok(found.clone());
    }
    let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value = document::parse(&text, &path.display().to_string())?;
    let contract = Contract::from_document(provider, value)?;
    loaded.insert(key, contract.clone());
    Ok(contract)
}

/// Fortnox's contract from `path` (see [`FORTNOX_CONTRACT`]).
pub fn fortnox_contract(path: impl AsRef<Path>) -> Result<Contract, ContractError> {
    load_contract(ProviderKind::Fortnox, path)
}

/// Visma's contract from `path` (see [`VISMA_CONTRACT`]).
pub fn visma_contract(path: impl AsRef<Path>) -> Result<Contract, ContractError> {
    load_contract(ProviderKind::Visma, path)
}

impl Contract {
    /// `provider`'s contract from the document in this repository.
    pub fn official(provider: ProviderKind) -> Result<Contract, ContractError> {
        load_contract(provider, official_path(provider))
    }

    /// Builds a contract from an OpenAPI document already in memory (not cached).
    pub fn from_document(provider: ProviderKind, document: Value) -> Result<Self, ContractError> {
        let mut document = Document::from_value(document)?;
        if provider == ProviderKind::Fortnox {
            fortnox::rewrite_document(&mut document.schemas);
        }
        let open = schema::composition_members(&document.schemas);
        Ok(Contract {
            inner: Arc::new(Inner {
                provider,
                document,
                open,
                validators: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Whose contract this is.
    pub fn provider(&self) -> ProviderKind {
        self.inner.provider
    }

    /// The documented path template `method path` matches (`path` as the provider sees it:
    /// `/3/customers/12`, `/v2/customers/…`), or why there is none.
    pub fn operation_template(&self, method: &str, path: &str) -> Result<String, String> {
        self.operation(method, path).map(|op| op.template.clone())
    }

    /// Whether the document describes `method path`.
    pub fn has_operation(&self, method: &str, path: &str) -> bool {
        self.operation(method, path).is_ok()
    }

    /// Checks a request body against the `requestBody` schema of `method path`. An
    /// undocumented operation, or a body for an operation that takes none, is an error.
    pub fn validate_request(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        let op = self.operation(method, path).map_err(|e| vec![e])?;
        match &op.request {
            Some(schema) => {
                self.validate(schema, self.mode(Direction::Request, method, None), body)
            }
            None => Err(vec![format!(
                "/: the document gives {} {} no request body",
                method.to_ascii_uppercase(),
                op.template
            )]),
        }
    }

    /// Checks a response body against the schema the document gives `status` of
    /// `method path`.
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        self.check_response(method, path, status, Some(body))
    }

    /// [`Self::validate_response`] for a response that may have no body (`None`): a success
    /// status must be documented; a documented success body must be there, and a body must
    /// not come where the document gives none. Error statuses the operation does not
    /// document are not checked.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let op = self.operation(method, path).map_err(|e| vec![e])?;
        let success = (200..300).contains(&status);
        let method_upper = method.to_ascii_uppercase();
        match (documented(op, status), body) {
            (Documented::Not, _) if success => Err(vec![format!(
                "/: status {status} is not documented for {method_upper} {} (documented: {})",
                op.template,
                op.responses.keys().cloned().collect::<Vec<_>>().join(", ")
            )]),
            (Documented::Body(schema), Some(body)) => self.validate(
                schema,
                self.mode(Direction::Response, method, Some(status)),
                body,
            ),
            (Documented::Body(_), None) if success => Err(vec![format!(
                "/: no body, but the document gives {method_upper} {} a {status} body",
                op.template
            )]),
            (Documented::NoBody, Some(_)) if success => Err(vec![format!(
                "/: a body, but the document gives {method_upper} {} no {status} body",
                op.template
            )]),
            _ => Ok(()),
        }
    }

    /// [`Self::check_response`] for the raw bytes of a response body (empty: no body). Bytes
    /// that are not JSON are a violation where the document gives the status a body.
    pub fn check_response_bytes(
        &self,
        method: &str,
        path: &str,
        status: u16,
        bytes: &[u8],
    ) -> Result<(), Vec<String>> {
        if bytes.is_empty() {
            return self.check_response(method, path, status, None);
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(body) => self.check_response(method, path, status, Some(&body)),
            Err(e) => {
                let op = self.operation(method, path).map_err(|e| vec![e])?;
                let pdf_documented = op.pdf.iter().any(|s| s == &status.to_string())
                    || (self.inner.provider == ProviderKind::Visma
                        && visma::pdf_in_prose(method, &op.template));
                if bytes.starts_with(b"%PDF-") && pdf_documented {
                    return Ok(());
                }
                match documented(op, status) {
                    Documented::Body(_) => Err(vec![format!("/: the body is not JSON: {e}")]),
                    _ => self.check_response(method, path, status, Some(&Value::Null)),
                }
            }
        }
    }

    fn operation(&self, method: &str, path: &str) -> Result<&Operation, String> {
        self.inner.document.operation(method, path)
    }

    fn mode(&self, direction: Direction, method: &str, status: Option<u16>) -> Mode {
        match self.inner.provider {
            ProviderKind::Fortnox => fortnox::mode(direction, method, status),
            ProviderKind::Visma => visma::mode(direction, method, status),
        }
    }

    fn validate(&self, schema: &Value, mode: Mode, body: &Value) -> Result<(), Vec<String>> {
        let validator = self.validator(schema, mode).map_err(|e| vec![e])?;
        if validator.is_valid(body) {
            return Ok(());
        }
        Err(validator
            .iter_errors(body)
            .map(|e| schema::describe(&e, mode.direction))
            .collect())
    }

    fn validator(&self, schema: &Value, mode: Mode) -> Result<Arc<jsonschema::Validator>, String> {
        let key = (schema.to_string(), mode);
        if let Some(found) = self.validators().get(&key) {
            return Ok(found.clone());
        }
        // Compiled outside the lock; two threads may both compile a new schema once.
        let mut root = schema.clone();
        let draft = match self.inner.provider {
            ProviderKind::Fortnox => {
                fortnox::rewrite_schema(&mut root);
                fortnox::DRAFT
            }
            ProviderKind::Visma => visma::DRAFT,
        };
        let prepared = schema::prepare(&root, &self.inner.document.schemas, &self.inner.open, mode);
        let validator = Arc::new(schema::compile(&prepared, draft)?);
        self.validators().insert(key, validator.clone());
        Ok(validator)
    }

    fn validators(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ValidatorKey, Arc<jsonschema::Validator>>> {
        self.inner
            .validators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// What the document says about one status of an operation.
enum Documented<'a> {
    /// Nothing (and no `default` for an error status).
    Not,
    /// The status, without a body.
    NoBody,
    /// The status, with this JSON body schema.
    Body(&'a Value),
}

/// Exact status, then a `2XX`-style range, then (error statuses only) `default`.
fn documented(op: &Operation, status: u16) -> Documented<'_> {
    let success = (200..300).contains(&status);
    let found = op
        .responses
        .get(&status.to_string())
        .or_else(|| op.responses.get(&format!("{}XX", status / 100)))
        .or_else(|| (!success).then(|| op.responses.get("default")).flatten());
    match found {
        None => Documented::Not,
        Some(None) => Documented::NoBody,
        Some(Some(schema)) => Documented::Body(schema),
    }
}

/// The repository's document for `provider`.
pub fn official_path(provider: ProviderKind) -> PathBuf {
    PathBuf::from(match provider {
        ProviderKind::Fortnox => FORTNOX_CONTRACT,
        ProviderKind::Visma => VISMA_CONTRACT,
    })
}

#[cfg(test)]
mod tests;
