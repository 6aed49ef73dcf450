//! `POST /api/integrations/{id}/webhook-key/rotate` (behind the JWT authorizer): issues a new
//! webhook signing key and answers it this once; older keys stay accepted for a grace period.
//!
//! Body (all optional): `{"scheme": "ours" | "visma-portal", "key": string, "grace_seconds": n}`.
//! `key` stores a key that a provider's portal generated instead of making one (it is then not
//! echoed); `grace_seconds` (0 to 604800, default `WEBHOOK_ROTATION_GRACE_SECONDS`) says how
//! long the old keys keep working: 0 cuts them off at once, for a leaked key.

use lambda_http::{Body, Error, Request, Response};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use shared::api::body::from_fields;
use shared::api::{json, json_body, path_param, respond, tenant, Problem, Text};
use shared::domain::Secret;
use shared::webhooks::{rotate_key, RotateRequest, Scheme, MAX_GRACE};
use shared::AppContext;
use std::time::Duration;

/// Shortest key accepted from a caller.
const MIN_IMPORTED_KEY: usize = 16;
/// Longest key accepted from a caller.
const MAX_IMPORTED_KEY: usize = 512;

/// The request body; every field is optional.
#[derive(Debug, Deserialize)]
pub struct RotateBody {
    /// Switch the integration to this signature scheme.
    #[serde(default, deserialize_with = "scheme")]
    pub scheme: Option<Scheme>,
    /// A key a provider's portal generated, to be used instead of a new one.
    #[serde(default)]
    pub key: Option<Text<MAX_IMPORTED_KEY>>,
    /// How long the old keys keep working, in whole seconds.
    #[serde(default, deserialize_with = "grace_seconds")]
    pub grace_seconds: Option<Duration>,
}

fn scheme<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Scheme>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| s.parse::<Scheme>().map_err(D::Error::custom))
        .transpose()
}

fn grace_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let wrong = || {
        D::Error::custom(format!(
            "must be a whole number from 0 to {}",
            MAX_GRACE.as_secs()
        ))
    };
    match Option::<serde_json::Number>::deserialize(d).map_err(|_| wrong())? {
        None => Ok(None),
        Some(n) => match whole_seconds(&n) {
            Some(s) if s <= MAX_GRACE.as_secs() => Ok(Some(Duration::from_secs(s))),
            _ => Err(wrong()),
        },
    }
}

/// Handles one request.
pub async fn handler(ctx: &AppContext, req: Request) -> Result<Response<Body>, Error> {
    Ok(respond(handle(ctx, &req).await))
}

async fn handle(ctx: &AppContext, req: &Request) -> Result<Response<Body>, Problem> {
    let tenant = tenant(req, &ctx.config.tenant_claim)?;
    let id = path_param(req, "id")?;
    let rotate = rotate_request(&json_body(req)?)?;
    let rotated = rotate_key(ctx, &tenant, &id, rotate).await?;
    json(200, &rotated)
}

/// Reads the optional body.
pub fn rotate_request(body: &serde_json::Map<String, Value>) -> Result<RotateRequest, Problem> {
    let body: RotateBody = from_fields(body.clone()).map_err(|p| {
        if p.details().field.as_deref() == Some("scheme") {
            p.with(
                "allowed",
                Scheme::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            )
        } else {
            p
        }
    })?;
    let key = body
        .key
        .map(|Text(k)| {
            let ok = k.chars().count() >= MIN_IMPORTED_KEY
                && k.trim() == k
                && !k.chars().any(char::is_control);
            if ok {
                Ok(Secret::new(k))
            } else {
                Err(Problem::invalid_field(
                    "key",
                    format!(
                        "`key` must be {MIN_IMPORTED_KEY} to {MAX_IMPORTED_KEY} printable characters without surrounding spaces"
                    ),
                ))
            }
        })
        .transpose()?;
    Ok(RotateRequest {
        scheme: body.scheme,
        key,
        grace: body.grace_seconds,
    })
}

/// A non-negative whole number, also when written with a fraction (`60.0`): JSON Schema's
/// `integer`, which the API description promises, is any number without a fractional part.
fn whole_seconds(n: &serde_json::Number) -> Option<u64> {
    if let Some(s) = n.as_u64() {
        return Some(s);
    }
    let f = n.as_f64()?;
    // The bound keeps the cast exact; anything larger is out of range anyway.
    (f.fract() == 0.0 && (0.0..=MAX_GRACE.as_secs_f64()).contains(&f)).then_some(f as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<RotateRequest, Problem> {
        rotate_request(v.as_object().unwrap())
    }

    #[test]
    fn reads_the_optional_fields() {
        let r = parse(json!({})).unwrap();
        assert!(r.scheme.is_none() && r.key.is_none() && r.grace.is_none());
        let r = parse(json!({"scheme": "visma-portal", "key": "k".repeat(40), "grace_seconds": 0}))
            .unwrap();
        assert_eq!(r.scheme, Some(Scheme::VismaPortal));
        assert_eq!(r.key.unwrap().expose().len(), 40);
        assert_eq!(r.grace, Some(Duration::ZERO));
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_a_whole_number() {
        // JSON Schema's `integer` (docs/openapi.yaml) includes 60.0; schemathesis sends it.
        assert_eq!(
            parse(json!({"grace_seconds": 60.0})).unwrap().grace,
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse(json!({"grace_seconds": 0.0})).unwrap().grace,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn names_the_field_at_fault() {
        for (body, field) in [
            (json!({"scheme": "stripe"}), "scheme"),
            (json!({"key": "short"}), "key"),
            (json!({"key": format!(" {} ", "k".repeat(20))}), "key"),
            (json!({"grace_seconds": -1}), "grace_seconds"),
            (json!({"grace_seconds": 604_801}), "grace_seconds"),
            (json!({"grace_seconds": "60"}), "grace_seconds"),
            (json!({"grace_seconds": 60.5}), "grace_seconds"),
            (json!({"grace_seconds": -0.5}), "grace_seconds"),
            (json!({"grace_seconds": 604_801.0}), "grace_seconds"),
            (json!({"grace_seconds": 1e300}), "grace_seconds"),
        ] {
            let p = parse(body.clone())
                .err()
                .unwrap_or_else(|| panic!("{body} accepted"));
            assert_eq!(p.details().field.as_deref(), Some(field), "{body}");
            assert_eq!(p.details().status, 400);
        }
    }
}
