//! List parameters of `GET /3/customers` and `GET /3/invoices`: `limit`, `page`, `offset`,
//! `lastmodified`, `sortby`/`sortorder`, the search parameters the document lists for each
//! operation (case-insensitive substring matches) and `filter`. Unknown names are a 400.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::codes::CODE_INVALID_PARAMETER;
use super::data::Record;
use super::errors::{bad_request, ApiError};
use crate::lenient::{bool_field, contains_ci, dec_field, str_field, NatKey};

/// Default `limit` of list endpoints.
const DEFAULT_LIMIT: usize = 100;
/// Largest `limit` Fortnox accepts.
const MAX_LIMIT: usize = 500;

const COMMON_PARAMS: &[&str] = &[
    "limit",
    "page",
    "offset",
    "lastmodified",
    "sortby",
    "sortorder",
];

pub(super) const CUSTOMER_PARAMS: &[&str] = &[
    "filter",
    "customernumber",
    "name",
    "zipcode",
    "city",
    "email",
    "phone",
    "organisationnumber",
    "gln",
    "glndelivery",
];

/// Substring search parameter → customer field.
pub(super) const CUSTOMER_SEARCH: &[(&str, &str)] = &[
    ("customernumber", "CustomerNumber"),
    ("name", "Name"),
    ("zipcode", "ZipCode"),
    ("city", "City"),
    ("email", "Email"),
    ("phone", "Phone1"),
    ("organisationnumber", "OrganisationNumber"),
    ("gln", "GLN"),
    ("glndelivery", "GLNDelivery"),
];

pub(super) const CUSTOMER_SORT: &[(&str, &str)] =
    &[("customernumber", "CustomerNumber"), ("name", "Name")];

pub(super) const INVOICE_PARAMS: &[&str] = &[
    "filter",
    "costcenter",
    "customername",
    "customernumber",
    "documentnumber",
    "fromdate",
    "todate",
    "fromfinalpaydate",
    "tofinalpaydate",
    "notcompleted",
    "ocr",
    "ourreference",
    "project",
    "sent",
    "externalinvoicereference1",
    "externalinvoicereference2",
    "yourreference",
    "invoicetype",
    "articlenumber",
    "articledescription",
    "currency",
    "accountnumberfrom",
    "accountnumberto",
    "yourordernumber",
    "credit",
    "label",
];

/// Substring search parameter → invoice field.
pub(super) const INVOICE_SEARCH: &[(&str, &str)] = &[
    ("costcenter", "CostCenter"),
    ("customername", "CustomerName"),
    ("customernumber", "CustomerNumber"),
    ("documentnumber", "DocumentNumber"),
    ("ocr", "OCR"),
    ("ourreference", "OurReference"),
    ("project", "Project"),
    ("externalinvoicereference1", "ExternalInvoiceReference1"),
    ("externalinvoicereference2", "ExternalInvoiceReference2"),
    ("yourreference", "YourReference"),
    ("invoicetype", "InvoiceType"),
    ("currency", "Currency"),
    ("yourordernumber", "YourOrderNumber"),
];

pub(super) const INVOICE_SORT: &[(&str, &str)] = &[
    ("customername", "CustomerName"),
    ("customernumber", "CustomerNumber"),
    ("documentnumber", "DocumentNumber"),
    ("invoicedate", "InvoiceDate"),
    ("ocr", "OCR"),
    ("total", "Total"),
];

/// Decoded query parameters (the last of repeated ones wins); unknown names are a 400.
pub(super) fn parse_query(
    raw: Option<&str>,
    specific: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| bad_request(CODE_INVALID_PARAMETER, "Ogiltiga parametrar i frågan."))?;
    let mut out = HashMap::new();
    for (name, value) in pairs {
        if !COMMON_PARAMS.contains(&name.as_str()) && !specific.contains(&name.as_str()) {
            return Err(bad_request(
                CODE_INVALID_PARAMETER,
                format!("Ogiltig parameter: \"{name}\"."),
            ));
        }
        out.insert(name, value);
    }
    Ok(out)
}

pub(super) struct Paging {
    limit: usize,
    page: usize,
    offset: usize,
}

fn positive(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    min: usize,
) -> Result<usize, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| {
                bad_request(
                    CODE_INVALID_PARAMETER,
                    format!("Ogiltigt värde för parametern \"{name}\": \"{raw}\"."),
                )
            }),
    }
}

impl Paging {
    pub(super) fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let limit = positive(query, "limit", DEFAULT_LIMIT, 1)?;
        if limit > MAX_LIMIT {
            return Err(bad_request(
                CODE_INVALID_PARAMETER,
                format!("Parametern \"limit\" får vara högst {MAX_LIMIT}."),
            ));
        }
        Ok(Paging {
            limit,
            page: positive(query, "page", 1, 1)?,
            offset: positive(query, "offset", 0, 0)?,
        })
    }

    /// The page of `items` and its `MetaInformation`. `offset` skips records before paging:
    /// page `p` starts at `offset + (p - 1) * limit`, and the page count covers what follows
    /// the offset. `@TotalResources` counts every match.
    pub(super) fn apply<'a, T>(&self, items: &'a [T]) -> (&'a [T], Value) {
        let total = items.len();
        let remaining = total.saturating_sub(self.offset);
        let pages = remaining.div_ceil(self.limit);
        let start = self
            .offset
            .saturating_add(self.page.saturating_sub(1).saturating_mul(self.limit))
            .min(total);
        let end = start.saturating_add(self.limit).min(total);
        let meta = json!({
            "@TotalResources": total,
            "@TotalPages": pages,
            "@CurrentPage": self.page,
        });
        (items.get(start..end).unwrap_or(&[]), meta)
    }
}

/// Sorts by `sortby` (one of `allowed`: parameter → field) and `sortorder`; without
/// `sortby` the stored order (by number) stays.
pub(super) fn sort_records(
    records: &mut [&Record],
    query: &HashMap<String, String>,
    allowed: &[(&str, &str)],
) -> Result<(), ApiError> {
    let descending = match query.get("sortorder").map(String::as_str) {
        None | Some("ascending") => false,
        Some("descending") => true,
        Some(other) => {
            return Err(bad_request(
                CODE_INVALID_PARAMETER,
                format!("Ogiltig sortering: \"{other}\"."),
            ))
        }
    };
    if let Some(by) = query.get("sortby") {
        let field = allowed
            .iter()
            .find(|(p, _)| p == by)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                bad_request(
                    CODE_INVALID_PARAMETER,
                    format!("Ogiltigt värde för parametern \"sortby\": \"{by}\"."),
                )
            })?;
        records.sort_by_key(|r| sort_key(&r.body, field));
    }
    if descending {
        records.reverse();
    }
    Ok(())
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Number(Decimal),
    Text(NatKey),
}

fn sort_key(body: &Map<String, Value>, field: &str) -> SortKey {
    match body.get(field) {
        Some(Value::Number(_)) => SortKey::Number(dec_field(body, field)),
        Some(Value::String(s)) => SortKey::Text(NatKey::of(&s.to_lowercase())),
        _ => SortKey::Text(NatKey::of("")),
    }
}

/// `YYYY-MM-DD HH:MM[:SS]` (or just a date) in Europe/Stockholm time, as an instant.
pub(super) fn parse_lastmodified(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let invalid = || {
        bad_request(
            CODE_INVALID_PARAMETER,
            format!("Ogiltigt datum för parametern \"lastmodified\": \"{raw}\"."),
        )
    };
    let s = raw.trim();
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(invalid)?;
    stockholm_to_utc(naive).ok_or_else(invalid)
}

/// Local Swedish time → UTC. Ambiguous (autumn) times take the earlier instant; times in
/// the spring gap are read with the offset in force before the gap.
pub(super) fn stockholm_to_utc(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::LocalResult;
    match Stockholm.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => {
            let hour = chrono::Duration::hours(1);
            Stockholm
                .from_local_datetime(&(naive - hour))
                .earliest()
                .map(|t| t.with_timezone(&Utc) + hour)
        }
    }
}

/// Today's date in Sweden.
pub(super) fn today() -> NaiveDate {
    Utc::now().with_timezone(&Stockholm).date_naive()
}

pub(super) fn customer_matches(body: &Map<String, Value>, query: &HashMap<String, String>) -> bool {
    let active = bool_field(body, "Active");
    let filter_ok = match query.get("filter").map(String::as_str) {
        Some("active") => active,
        Some("inactive") => !active,
        _ => true,
    };
    filter_ok
        && CUSTOMER_SEARCH.iter().all(|(param, field)| {
            query
                .get(*param)
                .is_none_or(|needle| contains_ci(str_field(body, field), needle))
        })
}

pub(super) struct InvoiceFilter<'q> {
    query: &'q HashMap<String, String>,
    filter: Option<&'q str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    from_final: Option<NaiveDate>,
    to_final: Option<NaiveDate>,
    account_from: Option<i64>,
    account_to: Option<i64>,
}

impl<'q> InvoiceFilter<'q> {
    pub(super) fn from_query(query: &'q HashMap<String, String>) -> Result<Self, ApiError> {
        let filter = query.get("filter").map(String::as_str);
        if let Some(f) = filter {
            if ![
                "cancelled",
                "fullypaid",
                "unpaid",
                "unpaidoverdue",
                "unbooked",
            ]
            .contains(&f)
            {
                return Err(bad_request(
                    CODE_INVALID_PARAMETER,
                    format!("Ogiltigt filter: \"{f}\"."),
                ));
            }
        }
        let day = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
            query
                .get(name)
                .map(|raw| {
                    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
                        bad_request(
                            CODE_INVALID_PARAMETER,
                            format!("Ogiltigt datum för parametern \"{name}\": \"{raw}\"."),
                        )
                    })
                })
                .transpose()
        };
        let account = |name: &str| -> Result<Option<i64>, ApiError> {
            query
                .get(name)
                .map(|raw| {
                    raw.trim().parse::<i64>().map_err(|_| {
                        bad_request(
                            CODE_INVALID_PARAMETER,
                            format!("Ogiltigt konto för parametern \"{name}\": \"{raw}\"."),
                        )
                    })
                })
                .transpose()
        };
        for flag in ["sent", "notcompleted", "credit"] {
            if let Some(raw) = query.get(flag) {
                if !["true", "false"].contains(&raw.as_str()) {
                    return Err(bad_request(
                        CODE_INVALID_PARAMETER,
                        format!("Ogiltigt värde för parametern \"{flag}\": \"{raw}\"."),
                    ));
                }
            }
        }
        Ok(InvoiceFilter {
            query,
            filter,
            from: day("fromdate")?,
            to: day("todate")?,
            from_final: day("fromfinalpaydate")?,
            to_final: day("tofinalpaydate")?,
            account_from: account("accountnumberfrom")?,
            account_to: account("accountnumberto")?,
        })
    }

    pub(super) fn matches(&self, body: &Map<String, Value>) -> bool {
        let cancelled = bool_field(body, "Cancelled");
        let booked = bool_field(body, "Booked");
        let balance = dec_field(body, "Balance");
        let due = NaiveDate::parse_from_str(str_field(body, "DueDate"), "%Y-%m-%d").ok();
        let state_ok = match self.filter {
            Some("cancelled") => cancelled,
            Some("fullypaid") => !cancelled && balance.is_zero(),
            Some("unpaid") => !cancelled && !balance.is_zero(),
            Some("unpaidoverdue") => {
                !cancelled && !balance.is_zero() && due.is_some_and(|d| d < today())
            }
            Some("unbooked") => !cancelled && !booked,
            _ => true,
        };
        if !state_ok {
            return false;
        }
        let search_ok = INVOICE_SEARCH.iter().all(|(param, field)| {
            self.query
                .get(*param)
                .is_none_or(|needle| contains_ci(str_field(body, field), needle))
        });
        if !search_ok {
            return false;
        }
        let flags_ok = [("sent", "Sent"), ("notcompleted", "NotCompleted")]
            .iter()
            .all(|(param, field)| {
                self.query
                    .get(*param)
                    .is_none_or(|v| (v == "true") == bool_field(body, field))
            })
            && self
                .query
                .get("credit")
                .is_none_or(|v| v == str_field(body, "Credit"));
        if !flags_ok {
            return false;
        }
        let invoice_date =
            NaiveDate::parse_from_str(str_field(body, "InvoiceDate"), "%Y-%m-%d").ok();
        let in_range = |d: Option<NaiveDate>, from: Option<NaiveDate>, to: Option<NaiveDate>| {
            (from.is_none() && to.is_none())
                || d.is_some_and(|d| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t))
        };
        let final_pay = NaiveDate::parse_from_str(str_field(body, "FinalPayDate"), "%Y-%m-%d").ok();
        if !in_range(invoice_date, self.from, self.to)
            || !in_range(final_pay, self.from_final, self.to_final)
        {
            return false;
        }
        let rows = body
            .get("InvoiceRows")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let row_text = |param: &str, field: &str| {
            self.query.get(param).is_none_or(|needle| {
                rows.iter().any(|r| {
                    r.as_object()
                        .is_some_and(|r| contains_ci(str_field(r, field), needle))
                })
            })
        };
        let accounts_ok = (self.account_from.is_none() && self.account_to.is_none())
            || rows.iter().any(|r| {
                r.get("AccountNumber")
                    .and_then(Value::as_i64)
                    .is_some_and(|a| {
                        self.account_from.is_none_or(|f| a >= f)
                            && self.account_to.is_none_or(|t| a <= t)
                    })
            });
        // `label` names a label id (`Labels: [{"Id": n}]`).
        let label_ok = self.query.get("label").is_none_or(|id| {
            body.get("Labels")
                .and_then(Value::as_array)
                .is_some_and(|labels| {
                    labels.iter().any(|l| {
                        l.get("Id")
                            .and_then(Value::as_i64)
                            .is_some_and(|n| n.to_string() == id.trim())
                    })
                })
        });
        row_text("articlenumber", "ArticleNumber")
            && row_text("articledescription", "Description")
            && accounts_ok
            && label_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stockholm_time_handles_dst() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            stockholm_to_utc(t("2024-01-15 10:00"))
                .unwrap()
                .to_rfc3339(),
            "2024-01-15T09:00:00+00:00"
        );
        assert_eq!(
            stockholm_to_utc(t("2024-07-15 10:00"))
                .unwrap()
                .to_rfc3339(),
            "2024-07-15T08:00:00+00:00"
        );
        // Spring gap: 02:30 does not exist; read with the winter offset.
        assert_eq!(
            stockholm_to_utc(t("2024-03-31 02:30"))
                .unwrap()
                .to_rfc3339(),
            "2024-03-31T01:30:00+00:00"
        );
        // Autumn overlap: 02:30 happens twice; the earlier one (summer time) wins.
        assert_eq!(
            stockholm_to_utc(t("2024-10-27 02:30"))
                .unwrap()
                .to_rfc3339(),
            "2024-10-27T00:30:00+00:00"
        );
    }
}
