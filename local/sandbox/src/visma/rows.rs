//! Invoice rows, draft (`CustomerInvoiceDraftRowApi`) and booked (`CustomerInvoiceRowApi`),
//! and the totals they make.
//!
//! **VAT truth.** Neither row schema lets a client write a VAT rate: draft rows have
//! read-only `VatRateId` and `VatRate`, booked rows read-only `VatRate` and `PercentVat`. A
//! row's rate is its article's: `ArticleApi.CodingId` → `ArticleAccountCodingApi`
//! (`GET /v2/articleaccountcodings/{id}`) `.VatRatePercent`. The only row-level VAT switch is
//! VAT-free: draft rows `ReversedConstructionServicesVatFree`, booked rows `IsVatFree`
//! (rate 0). A client wanting 12 % picks an article whose coding is 12 %. So that nothing is
//! ever booked at a rate the client did not mean, a row that nevertheless carries the
//! read-only `VatRate` / `PercentVat` / `VatRateId` with a value other than the one the
//! article gives is refused (400, 2001) instead of being ignored: a sandbox strictness.
//! Rates are fractions (0.25 = 25 %).
//!
//! A row's `CostCenterItemId1..3` and `ProjectId` must name existing cost centre items and
//! projects (2004); they are stored, answered back and carried over when a draft is
//! converted (both row schemas have them, writable).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codes::{CODE_INVALID_VALUE, CODE_UNKNOWN_REFERENCE};
use super::data::VismaData;
use super::errors::{bad_request, invalid, required, ApiError};
use super::schema::{self, conform};
use crate::lenient::{boolean, dec_field, decimal, money, round0, round2, str_field};

/// Which row schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowKind {
    /// `CustomerInvoiceDraftRowApi`.
    Draft,
    /// `CustomerInvoiceRowApi`.
    Booked,
}

impl RowKind {
    fn schema(self) -> &'static str {
        match self {
            RowKind::Draft => "CustomerInvoiceDraftRowApi",
            RowKind::Booked => "CustomerInvoiceRowApi",
        }
    }

    fn vat_free_field(self) -> &'static str {
        match self {
            RowKind::Draft => "ReversedConstructionServicesVatFree",
            RowKind::Booked => "IsVatFree",
        }
    }
}

/// What a row contributes to the totals: nothing for a text row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    pub net: Decimal,
    /// The row's VAT rate (fraction); `None` for text rows.
    pub rate: Option<Decimal>,
}

/// An invoice's totals. SEK invoices round to whole kronor (`TotalRoundings`).
#[derive(Debug, Clone, Default)]
pub(super) struct Totals {
    pub vat: Decimal,
    pub total: Decimal,
    pub roundings: Decimal,
    /// Rate → (net, VAT), for `VatSpecification`.
    pub by_rate: BTreeMap<Decimal, (Decimal, Decimal)>,
}

pub(super) fn totals(lines: &[Line]) -> Totals {
    let mut by_rate: BTreeMap<Decimal, (Decimal, Decimal)> = BTreeMap::new();
    for line in lines {
        if let Some(rate) = line.rate {
            by_rate.entry(rate.normalize()).or_default().0 += line.net;
        }
    }
    for (rate, (net, vat)) in by_rate.iter_mut() {
        *vat = round2(*net * *rate);
    }
    let net: Decimal = by_rate.values().map(|(n, _)| *n).sum();
    let vat: Decimal = by_rate.values().map(|(_, v)| *v).sum();
    let unrounded = net + vat;
    let total = round0(unrounded);
    Totals {
        vat,
        total,
        roundings: total - unrounded,
        by_rate,
    }
}

/// A row's VAT on its own, for per-row checks (`TotalAmountIncVatInvoiceCurrency`).
pub(super) fn row_vat(line: &Line) -> Decimal {
    line.rate.map_or(Decimal::ZERO, |r| round2(line.net * r))
}

impl VismaData {
    /// The VAT rate (fraction) an article's account coding gives, with the coding.
    pub(super) fn article_rate(
        &self,
        article: &Map<String, Value>,
    ) -> Option<(Decimal, &Map<String, Value>)> {
        let coding = self.coding(str_field(article, "CodingId"))?;
        Some((dec_field(coding, "VatRatePercent"), coding))
    }

    /// Validates row `i` of a request and builds it as the row schema has it.
    /// `replace_zero`: the document's `ReplaceUnitPriceWhenZero` (a zero price becomes the
    /// article's `NetPrice`).
    pub(super) fn build_row(
        &self,
        kind: RowKind,
        i: usize,
        raw: &Value,
        replace_zero: bool,
    ) -> Result<(Map<String, Value>, Line), ApiError> {
        let label = |f: &str| format!("Rows[{i}].{f}");
        let row = raw
            .as_object()
            .ok_or_else(|| invalid(&format!("Rows[{i}]"), raw))?;
        let get = |f: &str| row.get(f).filter(|v| !v.is_null());
        let schema_name = kind.schema();
        let mut out = schema::read_object(schema_name, &format!("Rows[{i}]"), row, 1)?;
        let is_text = match kind {
            RowKind::Draft => {
                for field in schema::required_fields(schema_name) {
                    if get(field).is_none() {
                        return Err(required(&label(field)));
                    }
                }
                let v = get("IsTextRow").unwrap_or(&Value::Null);
                boolean(v)
                    .ok()
                    .flatten()
                    .ok_or_else(|| invalid(&label("IsTextRow"), v))?
            }
            // Booked rows' `IsTextRow` is read-only: "ArticleId: Null if text row".
            RowKind::Booked => get("ArticleId").is_none(),
        };
        self.check_row_references(&out, i)?;
        let vat_free = out.get(kind.vat_free_field()) == Some(&Value::Bool(true));
        out.insert("Id".into(), Value::String(Uuid::new_v4().to_string()));
        out.insert("LineNumber".into(), Value::from(i + 1));
        if kind == RowKind::Booked {
            out.insert("IsTextRow".into(), Value::Bool(is_text));
            // `CustomerInvoiceRowApi.IsWorkCost` is read-only ("Only used for Rot/Rut"): a
            // row with a `WorkCostType` (or a `GreenTechnologyType`) is work cost unless it
            // states `MaterialCosts`.
            let typed = ["WorkCostType", "GreenTechnologyType"]
                .iter()
                .any(|f| out.get(*f).and_then(Value::as_i64).is_some_and(|t| t != 0));
            let material = out
                .get("MaterialCosts")
                .is_some_and(|v| !v.is_null() && v.as_f64() != Some(0.0));
            out.insert("IsWorkCost".into(), Value::Bool(typed && !material));
        }
        if is_text {
            if str_field(&out, "Text").trim().is_empty() {
                return Err(required(&label("Text")));
            }
            for (k, v) in [
                ("ArticleId", Value::Null),
                ("UnitPrice", Value::from(0)),
                ("Quantity", Value::from(0)),
                ("DiscountPercentage", Value::from(0)),
            ] {
                out.insert(k.into(), v);
            }
            return Ok((
                conform(schema_name, out),
                Line {
                    net: Decimal::ZERO,
                    rate: None,
                },
            ));
        }
        let article_id = str_field(&out, "ArticleId").to_string();
        if article_id.is_empty() {
            return Err(required(&label("ArticleId")));
        }
        let article = self.article(&article_id).ok_or_else(|| {
            bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!(
                    "Validation failed: {} {article_id} does not match any article.",
                    label("ArticleId")
                ),
            )
        })?;
        let (article_rate, coding) = self.article_rate(article).ok_or_else(|| {
            bad_request(
                CODE_UNKNOWN_REFERENCE,
                format!("Validation failed: the article {article_id} has no account coding."),
            )
        })?;
        let rate = if vat_free {
            Decimal::ZERO
        } else {
            article_rate
        };
        self.check_read_only_vat(kind, i, row, rate, coding)?;
        let number_of = |f: &str| -> Result<Decimal, ApiError> {
            let raw = get(f).ok_or_else(|| required(&label(f)))?;
            decimal(raw)
                .ok()
                .flatten()
                .ok_or_else(|| invalid(&label(f), raw))
        };
        let quantity = number_of("Quantity")?;
        let mut unit_price = number_of("UnitPrice")?;
        if replace_zero && unit_price.is_zero() {
            unit_price = dec_field(article, "NetPrice");
        }
        let discount = dec_field(&out, "DiscountPercentage");
        let net = round2(quantity * unit_price * (Decimal::ONE - discount));
        if str_field(&out, "Text").trim().is_empty() {
            out.insert(
                "Text".into(),
                article.get("Name").cloned().unwrap_or(Value::Null),
            );
        }
        let unit = self
            .units
            .iter()
            .find(|u| str_field(u, "Id") == str_field(article, "UnitId"));
        let unit_field = |f: &str| unit.and_then(|u| u.get(f)).cloned().unwrap_or(Value::Null);
        for (k, v) in [
            (
                "ArticleNumber",
                article.get("Number").cloned().unwrap_or(Value::Null),
            ),
            (
                "IsServiceArticle",
                article
                    .get("IsServiceArticle")
                    .cloned()
                    .unwrap_or(Value::Bool(false)),
            ),
            (
                "UnitId",
                article.get("UnitId").cloned().unwrap_or(Value::Null),
            ),
            ("UnitAbbreviation", unit_field("Abbreviation")),
            ("UnitAbbreviationEnglish", unit_field("AbbreviationEnglish")),
            ("UnitPrice", money(unit_price)),
            ("Quantity", money(quantity)),
            ("VatRate", money(rate)),
            ("Amount", money(net)),
        ] {
            out.insert(k.into(), v);
        }
        match kind {
            RowKind::Draft => {
                out.insert("UnitName".into(), unit_field("Name"));
                out.insert(
                    "VatRateId".into(),
                    coding.get("VatRate").cloned().unwrap_or(Value::Null),
                );
            }
            RowKind::Booked => {
                out.insert("AmountNoVat".into(), money(net));
                out.insert("PercentVat".into(), money(rate));
            }
        }
        Ok((
            conform(schema_name, out),
            Line {
                net,
                rate: Some(rate),
            },
        ))
    }

    /// A row's `CostCenterItemId1..3` must name cost centre items (`/v2/costcenteritems`) and
    /// its `ProjectId` a project (`/v2/projects`), else 2004 naming the field. The nil GUID
    /// counts as unset. Which cost centre an item belongs to is not checked (the document
    /// does not tie `CostCenterItemIdN` to cost centre `N`).
    fn check_row_references(&self, row: &Map<String, Value>, i: usize) -> Result<(), ApiError> {
        let nil = Uuid::nil().to_string();
        for field in [
            "CostCenterItemId1",
            "CostCenterItemId2",
            "CostCenterItemId3",
            "ProjectId",
        ] {
            let Some(id) = row
                .get(field)
                .and_then(Value::as_str)
                .filter(|id| *id != nil)
            else {
                continue;
            };
            let (found, what) = if field == "ProjectId" {
                (self.project(id).is_some(), "project")
            } else {
                (self.cost_center_item(id).is_some(), "cost center item")
            };
            if !found {
                return Err(bad_request(
                    CODE_UNKNOWN_REFERENCE,
                    format!("Validation failed: Rows[{i}].{field} {id} does not match any {what}."),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a row whose read-only VAT fields say something else than its article.
    fn check_read_only_vat(
        &self,
        kind: RowKind,
        i: usize,
        row: &Map<String, Value>,
        rate: Decimal,
        coding: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let mismatch = |field: &str, said: &Value| {
            bad_request(
                CODE_INVALID_VALUE,
                format!(
                    "Validation failed: Rows[{i}].{field} is {said}, but a row's VAT rate is read-only and comes from its article's account coding '{}' ({} as a fraction; VAT-free rows: {}). Choose an article whose CodingId has the rate you want (GET /v2/articleaccountcodings).",
                    str_field(coding, "Name"),
                    rate.normalize(),
                    kind.vat_free_field(),
                ),
            )
        };
        let rate_fields: &[&str] = match kind {
            RowKind::Draft => &["VatRate"],
            RowKind::Booked => &["VatRate", "PercentVat"],
        };
        for field in rate_fields {
            if let Some(said) = row.get(*field).filter(|v| !v.is_null()) {
                if decimal(said).ok().flatten() != Some(rate) {
                    return Err(mismatch(field, said));
                }
            }
        }
        if kind == RowKind::Draft {
            if let Some(said) = row.get("VatRateId").filter(|v| !v.is_null()) {
                if said.as_str() != coding.get("VatRate").and_then(Value::as_str) {
                    return Err(mismatch("VatRateId", said));
                }
            }
        }
        Ok(())
    }

    /// Builds every row of `Rows` (absent or `null`: none).
    pub(super) fn build_rows(
        &self,
        kind: RowKind,
        rows: Option<&Value>,
        replace_zero: bool,
    ) -> Result<(Vec<Value>, Vec<Line>), ApiError> {
        let items = match rows {
            None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(invalid("Rows", other)),
        };
        let mut out = Vec::with_capacity(items.len());
        let mut lines = Vec::with_capacity(items.len());
        for (i, raw) in items.iter().enumerate() {
            let (row, line) = self.build_row(kind, i, raw, replace_zero)?;
            out.push(Value::Object(row));
            lines.push(line);
        }
        Ok((out, lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_group_vat_by_rate_and_round_to_kronor() {
        let line = |net: i64, rate: Option<i64>| Line {
            net: Decimal::new(net, 2),
            rate: rate.map(|r| Decimal::new(r, 2)),
        };
        // 162.50 + 0.60 VAT (12 % of 5.00) + nothing on the text row and the VAT-free row.
        let t = totals(&[
            line(65000, Some(25)),
            line(500, Some(12)),
            line(0, None),
            line(10000, Some(0)),
        ]);
        assert_eq!(t.vat, Decimal::new(16310, 2));
        assert_eq!(t.total, Decimal::new(918, 0));
        assert_eq!(t.roundings, Decimal::new(-10, 2));
        assert_eq!(t.by_rate.len(), 3, "text rows have no rate");
        assert_eq!(row_vat(&line(500, Some(12))), Decimal::new(60, 2));
    }
}
