//! Typed request bodies: a handler names the body's shape as a serde struct, and a field that
//! does not fit is answered with a 400 problem naming it by its path (`invoice.rows[0].quantity`).

use super::request::json_body;
use super::Problem;
use lambda_http::Request;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The request's JSON body read into `T` (an empty body counts as `{}`).
pub fn typed_body<T: DeserializeOwned>(req: &Request) -> Result<T, Problem> {
    from_fields(json_body(req)?)
}

/// A JSON object read into `T`.
pub fn from_fields<T: DeserializeOwned>(body: Map<String, Value>) -> Result<T, Problem> {
    serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        let (field, missing) = field_of(&e);
        let detail = if missing {
            format!("`{field}` is required")
        } else {
            format!("`{field}`: {}", e.inner())
        };
        Problem::invalid_field(&field, detail)
    })
}

/// The path of the field at fault, and whether it was missing. Serde reports a missing field
/// at its parent (`.` for the body itself): the field's own name is appended.
pub fn field_of(e: &serde_path_to_error::Error<serde_json::Error>) -> (String, bool) {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next());
    match (missing, path.as_str()) {
        (Some(name), "." | "") => (name.to_string(), true),
        (Some(name), parent) => (format!("{parent}.{name}"), true),
        (None, p) => (p.to_string(), false),
    }
}

/// A text field of `MIN` to `MAX` characters (`MIN` 1: required and not empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize, const MIN: usize = 0>(pub String);

impl<const MAX: usize, const MIN: usize> Text<MAX, MIN> {
    /// The text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de, const MAX: usize, const MIN: usize> Deserialize<'de> for Text<MAX, MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let n = s.chars().count();
        if n < MIN {
            return Err(D::Error::custom(if MIN == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {MIN} characters")
            }));
        }
        if n > MAX {
            return Err(D::Error::custom(format!(
                "must be at most {MAX} characters"
            )));
        }
        Ok(Text(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: Text<5, 1>,
        #[serde(default)]
        note: Option<Text<3>>,
        #[serde(default)]
        rows: Vec<Row>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Row {
        qty: u32,
    }

    fn problem(v: Value) -> (String, String) {
        let p = from_fields::<Body>(v.as_object().unwrap().clone()).unwrap_err();
        let d = p.details();
        assert_eq!(d.status, 400);
        assert!(d.type_.ends_with("/invalid-field"));
        (d.field.clone().unwrap(), d.detail.clone())
    }

    #[test]
    fn problems_name_the_field_by_its_path() {
        assert_eq!(
            problem(json!({})),
            ("name".into(), "`name` is required".into())
        );
        assert_eq!(problem(json!({"name": ""})).0, "name");
        let (f, d) = problem(json!({"name": "abcdef"}));
        assert_eq!(f, "name");
        assert!(d.contains("at most 5"), "{d}");
        let (f, d) = problem(json!({"name": 7}));
        assert_eq!(f, "name");
        assert!(d.starts_with("`name`: invalid type"), "{d}");
        assert_eq!(problem(json!({"name": "a", "note": "long"})).0, "note");
        assert_eq!(
            problem(json!({"name": "a", "rows": [{"qty": 1}, {"qty": "x"}]})).0,
            "rows[1].qty"
        );
        assert_eq!(
            problem(json!({"name": "a", "rows": [{"qty": 1}, {}]})),
            ("rows[1].qty".into(), "`rows[1].qty` is required".into())
        );
        let ok: Body = from_fields(
            json!({"name": "a", "note": null})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        assert!(ok.note.is_none());
    }
}
