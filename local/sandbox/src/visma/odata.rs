//! The OData subset of `$filter`: `<Field> eq|ne|gt|ge|lt|le <value>` joined by `and`;
//! strings in single quotes (`''` escapes), dates bare or quoted (`2024-05-01T10:00:00Z`,
//! `datetime'…'`), `null`. String comparison ignores case, like SQL Server. Malformed →
//! 6000, unreadable date → 6001. Parentheses are checked for balance and dropped (only
//! `and` exists, so grouping changes nothing).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::codes::{CODE_BAD_DATE, CODE_BAD_FILTER};
use super::errors::{bad_request, ApiError};
use super::query::parse_utc;
use crate::lenient::{boolean, decimal, string};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    /// A date-time; the record's change time when the field is the change field.
    Date,
    Text,
    Bool,
    Number,
}

/// Fields of `CustomerApi` a customer `$filter` may name; `ChangedUtc` is the change time.
pub(crate) const CUSTOMER_FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("ChangedUtc", FieldType::Date),
    ("Id", FieldType::Text),
    ("CustomerNumber", FieldType::Text),
    ("CorporateIdentityNumber", FieldType::Text),
    ("Name", FieldType::Text),
    ("EmailAddress", FieldType::Text),
    ("InvoiceCity", FieldType::Text),
    ("InvoicePostalCode", FieldType::Text),
    ("VatNumber", FieldType::Text),
    ("IsActive", FieldType::Bool),
    ("IsPrivatePerson", FieldType::Bool),
];

/// Fields of `CustomerInvoiceDraftApi` a draft `$filter` may name (drafts have no
/// `ModifiedUtc` in the document: `CreatedUtc` is their only time).
pub(crate) const DRAFT_FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("CreatedUtc", FieldType::Date),
    ("InvoiceDate", FieldType::Date),
    ("DueDate", FieldType::Date),
    ("Id", FieldType::Text),
    ("CustomerId", FieldType::Text),
    ("CustomerNumber", FieldType::Text),
    ("YourReference", FieldType::Text),
    ("OurReference", FieldType::Text),
    ("BuyersOrderReference", FieldType::Text),
    ("TotalAmount", FieldType::Number),
];

/// Fields of `CustomerInvoiceApi` an invoice `$filter` may name; `ModifiedUtc` is the
/// change time.
pub(crate) const INVOICE_FILTER_FIELDS: &[(&str, FieldType)] = &[
    ("ModifiedUtc", FieldType::Date),
    ("CreatedUtc", FieldType::Date),
    ("InvoiceDate", FieldType::Date),
    ("DueDate", FieldType::Date),
    ("Id", FieldType::Text),
    ("CustomerId", FieldType::Text),
    ("CustomerNumber", FieldType::Text),
    ("YourReference", FieldType::Text),
    ("OurReference", FieldType::Text),
    ("BuyersOrderReference", FieldType::Text),
    ("InvoiceNumber", FieldType::Number),
    ("TotalAmount", FieldType::Number),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Date(DateTime<Utc>),
    Text(String),
    Bool(bool),
    Number(Decimal),
    Null,
}

#[derive(Debug, Clone)]
struct Condition {
    field: &'static str,
    kind: FieldType,
    op: Op,
    value: Operand,
}

/// A parsed `$filter`: conditions that must all hold.
#[derive(Debug, Clone)]
pub(crate) struct Filter(Vec<Condition>);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
}

fn bad_filter(message: impl Into<String>) -> ApiError {
    bad_request(CODE_BAD_FILTER, message)
}

fn tokenize(s: &str) -> Result<Vec<Token>, ApiError> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    let mut depth: i32 = 0;
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            // Only `and` exists, so grouping changes nothing: check balance, then drop.
            depth += if c == '(' { 1 } else { -1 };
            if depth < 0 {
                return Err(bad_filter("Unbalanced parentheses in $filter."));
            }
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        text.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => text.push(ch),
                    None => return Err(bad_filter("Unterminated string in $filter.")),
                }
            }
            tokens.push(Token::Quoted(text));
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '(' || ch == ')' {
                    break;
                }
                if ch == '\'' {
                    // `datetime'2024-01-01T00:00:00'` (OData v3): the prefix is dropped.
                    if word.eq_ignore_ascii_case("datetime")
                        || word.eq_ignore_ascii_case("datetimeoffset")
                    {
                        word.clear();
                        break;
                    }
                    return Err(bad_filter("Unexpected quote in $filter."));
                }
                word.push(ch);
                chars.next();
            }
            if !word.is_empty() {
                tokens.push(Token::Word(word));
            }
        }
    }
    if depth != 0 {
        return Err(bad_filter("Unbalanced parentheses in $filter."));
    }
    Ok(tokens)
}

impl Filter {
    pub fn parse(raw: &str, fields: &[(&'static str, FieldType)]) -> Result<Self, ApiError> {
        let tokens = tokenize(raw)?;
        let mut conditions = Vec::new();
        let mut rest = tokens.as_slice();
        loop {
            let [Token::Word(field), Token::Word(op), value, tail @ ..] = rest else {
                return Err(bad_filter(format!(
                    "The $filter '{raw}' is malformed: expected '<Field> <eq|ne|gt|ge|lt|le> <value>' joined by 'and'."
                )));
            };
            let (name, kind) = fields
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(field))
                .copied()
                .ok_or_else(|| {
                    bad_filter(format!("The field '{field}' cannot be used in $filter."))
                })?;
            let op = match op.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => {
                    return Err(bad_filter(format!(
                        "The operator '{other}' is not supported in $filter."
                    )))
                }
            };
            let value = operand(name, kind, value)?;
            conditions.push(Condition {
                field: name,
                kind,
                op,
                value,
            });
            match tail {
                [] => break,
                [Token::Word(and), more @ ..]
                    if and.eq_ignore_ascii_case("and") && !more.is_empty() =>
                {
                    rest = more;
                }
                _ => {
                    return Err(bad_filter(format!(
                        "The $filter '{raw}' is malformed: only 'and' can join conditions."
                    )))
                }
            }
        }
        Ok(Filter(conditions))
    }

    /// Whether a record passes; `change` is the record's change field and time (read from
    /// the store, not the body, so tests can move it).
    pub fn matches(&self, body: &Map<String, Value>, change: (&str, DateTime<Utc>)) -> bool {
        self.0.iter().all(|c| {
            let actual = if c.field == change.0 {
                Operand::Date(change.1)
            } else {
                field_operand(body, c.field, c.kind)
            };
            compare(&actual, c.op, &c.value)
        })
    }
}

fn operand(field: &str, kind: FieldType, token: &Token) -> Result<Operand, ApiError> {
    let text = match token {
        Token::Word(w) if w.eq_ignore_ascii_case("null") => return Ok(Operand::Null),
        Token::Word(w) | Token::Quoted(w) => w,
    };
    match (kind, token) {
        (FieldType::Date, _) => parse_utc(text).map(Operand::Date).ok_or_else(|| {
            bad_request(
                CODE_BAD_DATE,
                format!("'{text}' is not a valid date for {field}."),
            )
        }),
        (FieldType::Text, Token::Quoted(s)) => Ok(Operand::Text(s.clone())),
        (FieldType::Bool, Token::Word(w)) if w == "true" || w == "false" => {
            Ok(Operand::Bool(w == "true"))
        }
        (FieldType::Number, Token::Word(w)) => w
            .parse::<Decimal>()
            .map(Operand::Number)
            .map_err(|_| bad_filter(format!("'{w}' is not a number for {field}."))),
        _ => Err(bad_filter(format!(
            "'{text}' is not a valid value for {field}."
        ))),
    }
}

fn field_operand(body: &Map<String, Value>, field: &str, kind: FieldType) -> Operand {
    match (kind, body.get(field)) {
        (_, None | Some(Value::Null)) => Operand::Null,
        (FieldType::Date, Some(Value::String(s))) => {
            parse_utc(s).map_or(Operand::Null, Operand::Date)
        }
        (FieldType::Text, Some(v)) => string(v)
            .ok()
            .flatten()
            .map_or(Operand::Null, Operand::Text),
        (FieldType::Bool, Some(v)) => boolean(v)
            .ok()
            .flatten()
            .map_or(Operand::Null, Operand::Bool),
        (FieldType::Number, Some(v)) => decimal(v)
            .ok()
            .flatten()
            .map_or(Operand::Null, Operand::Number),
        _ => Operand::Null,
    }
}

fn compare(actual: &Operand, op: Op, wanted: &Operand) -> bool {
    use std::cmp::Ordering;
    let ordering = match (actual, wanted) {
        (Operand::Null, Operand::Null) => Some(Ordering::Equal),
        (Operand::Null, _) | (_, Operand::Null) => None,
        (Operand::Date(a), Operand::Date(b)) => Some(a.cmp(b)),
        (Operand::Text(a), Operand::Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Operand::Bool(a), Operand::Bool(b)) => Some(a.cmp(b)),
        (Operand::Number(a), Operand::Number(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ordering) {
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Ne, None) => true,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (_, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_grammar() {
        let f = Filter::parse(
            "ChangedUtc gt 2024-05-01T10:00:00Z and CustomerNumber eq 'O''Brien'",
            CUSTOMER_FILTER_FIELDS,
        )
        .expect("parses");
        assert_eq!(f.0.len(), 2);
        assert_eq!(f.0[1].value, Operand::Text("O'Brien".into()));
        assert!(Filter::parse(
            "(ChangedUtc ge datetime'2024-05-01')",
            CUSTOMER_FILTER_FIELDS
        )
        .is_ok());
        let bad = |s: &str| Filter::parse(s, CUSTOMER_FILTER_FIELDS).unwrap_err().code;
        assert_eq!(bad("ChangedUtc gt"), CODE_BAD_FILTER);
        assert_eq!(bad("ChangedUtc gt 2024-13-45"), CODE_BAD_DATE);
        assert_eq!(bad("Name eq 'a' or Name eq 'b'"), CODE_BAD_FILTER);
        assert_eq!(bad("Secret eq 'x'"), CODE_BAD_FILTER);
        assert_eq!(bad("CustomerNumber eq 12"), CODE_BAD_FILTER);
        assert!(Filter::parse("ModifiedUtc gt 2024-01-01", DRAFT_FILTER_FIELDS).is_err());
    }
}
