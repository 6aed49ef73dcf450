//! Query parameters of list calls: `$page` (1-based), `$pagesize` (50 by default, clamped
//! to 1000), `$filter` (see [`super::odata`]), `modifiedSinceUtc`, and the
//! `{"Meta": {…}, "Data": […]}` envelope of every list.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

use super::codes::{CODE_BAD_DATE, CODE_BAD_QUERY};
use super::errors::{bad_request, ApiError};

/// Default `$pagesize`.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest `$pagesize` served; larger requests are clamped (read `Meta.PageSize` back).
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

/// A UTC time as Visma writes it (`2024-05-01T10:00:00.123Z`).
pub(crate) fn utc_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Decoded query parameters; the last of repeated ones wins. Unknown `$` options are a
/// 400 (6002); a plain parameter the operation does not document is ignored, as ASP.NET
/// does, unless the handler checks it.
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|_| bad_request(CODE_BAD_QUERY, "The query string could not be read."))?;
        let mut out = HashMap::new();
        for (name, value) in pairs {
            if name.starts_with('$') && !["$page", "$pagesize", "$filter"].contains(&name.as_str())
            {
                return Err(bad_request(
                    CODE_BAD_QUERY,
                    format!("The query option {name} is not supported."),
                ));
            }
            out.insert(name, value);
        }
        Ok(Query(out))
    }

    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.get(name)
    }

    /// A documented boolean parameter (`keepOriginalDraftDate=true`); absent is `default`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name).map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(s) if s == "true" => Ok(true),
            Some(s) if s == "false" => Ok(false),
            Some(s) => Err(bad_request(
                CODE_BAD_QUERY,
                format!("{name} must be true or false, not '{s}'."),
            )),
        }
    }

    /// A documented UTC date-time parameter (`modifiedSinceUtc`); unreadable → 6001.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.get(name)
            .map(|raw| {
                parse_utc(raw).ok_or_else(|| {
                    bad_request(
                        CODE_BAD_DATE,
                        format!("{name} is not a valid date: '{raw}'."),
                    )
                })
            })
            .transpose()
    }
}

/// `$page` and `$pagesize`.
pub(crate) struct Paging {
    pub page: usize,
    pub page_size: usize,
}

impl Paging {
    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        let number = |name: &str, default: usize| -> Result<usize, ApiError> {
            match query.get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        bad_request(
                            CODE_BAD_QUERY,
                            format!("{name} must be a whole number of at least 1, not '{raw}'."),
                        )
                    }),
            }
        };
        Ok(Paging {
            page: number("$page", 1)?,
            page_size: number("$pagesize", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE),
        })
    }

    /// The page of `items` in the document's `PaginatedResponseOf…` shape.
    pub fn envelope<T>(
        &self,
        items: &[T],
        server_time: DateTime<Utc>,
        render: impl Fn(&T) -> Value,
    ) -> Value {
        let total = items.len();
        let start = self
            .page
            .saturating_sub(1)
            .saturating_mul(self.page_size)
            .min(total);
        let end = start.saturating_add(self.page_size).min(total);
        let data: Vec<Value> = items
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .map(render)
            .collect();
        json!({
            "Meta": {
                "CurrentPage": self.page,
                "PageSize": self.page_size,
                "TotalNumberOfPages": total.div_ceil(self.page_size),
                "TotalNumberOfResults": total,
                "ServerTimeUtc": utc_text(server_time),
            },
            "Data": data,
        })
    }
}

/// A UTC instant from `2024-05-01T10:00:00Z`, an offset date-time, a zone-less date-time
/// (taken as UTC) or a date (midnight UTC).
pub(crate) fn parse_utc(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    Some(Utc.from_utc_datetime(&naive))
}
