//! Invoice arithmetic, in decimals: each row's `Total`, `TotalExcludingVAT` and
//! `PriceExcludingVAT` from `DeliveredQuantity`, `Price`, `Discount`/`DiscountType`, `VAT`
//! and the invoice's `VATIncluded`; then the invoice's `Net`, `Gross`, `TotalVAT`,
//! `RoundOff`, `Total`, `TotalToPay` and `Balance`. SEK totals round to whole kronor
//! (`RoundOff`). Freight and administration fee carry 25 % VAT. Text rows (no account)
//! count zero.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::lenient::{bool_field, dec_field, money, round0, round2, str_field};

/// Recomputes the rows' and the invoice's amounts.
pub(super) fn recompute(body: &mut Map<String, Value>) {
    let vat_included = bool_field(body, "VATIncluded");
    let mut by_rate: BTreeMap<i64, (Decimal, Decimal)> = BTreeMap::new();
    let mut house_work = false;
    if let Some(Value::Array(rows)) = body.get_mut("InvoiceRows") {
        for row in rows.iter_mut().filter_map(Value::as_object_mut) {
            if !row.contains_key("AccountNumber") {
                // A text row: a description only.
                for field in ["Total", "TotalExcludingVAT", "PriceExcludingVAT"] {
                    row.insert(field.into(), money(Decimal::ZERO));
                }
                continue;
            }
            let qty = dec_field(row, "DeliveredQuantity");
            let price = dec_field(row, "Price");
            let discount = dec_field(row, "Discount");
            let vat = row.get("VAT").and_then(Value::as_i64).unwrap_or(25);
            let factor = Decimal::ONE + Decimal::from(vat) / Decimal::from(100);
            let gross = qty * price;
            let total = round2(if str_field(row, "DiscountType") == "AMOUNT" {
                gross - discount
            } else {
                gross * (Decimal::ONE - discount / Decimal::from(100))
            });
            let (excl, price_excl) = if vat_included {
                (round2(total / factor), round2(price / factor))
            } else {
                (total, price)
            };
            row.insert("Total".into(), money(total));
            row.insert("TotalExcludingVAT".into(), money(excl));
            row.insert("PriceExcludingVAT".into(), money(price_excl));
            let entry = by_rate.entry(vat).or_default();
            entry.0 += excl;
            entry.1 += total;
            house_work |= bool_field(row, "HouseWork");
        }
    }
    let net: Decimal = by_rate.values().map(|(excl, _)| *excl).sum();
    let rows_vat: Decimal = by_rate
        .iter()
        .map(|(vat, (excl, incl))| {
            if vat_included {
                *incl - *excl
            } else {
                round2(*excl * Decimal::from(*vat) / Decimal::from(100))
            }
        })
        .sum();
    let quarter = Decimal::new(25, 2);
    let freight = dec_field(body, "Freight");
    let admin = dec_field(body, "AdministrationFee");
    let freight_vat = round2(freight * quarter);
    let admin_vat = round2(admin * quarter);
    let gross = net + freight + admin;
    let total_vat = rows_vat + freight_vat + admin_vat;
    let unrounded = gross + total_vat;
    let (total, round_off) = if str_field(body, "Currency") == "SEK" {
        let t = round0(unrounded);
        (t, t - unrounded)
    } else {
        (unrounded, Decimal::ZERO)
    };
    let settled = bool_field(body, "Cancelled") || str_field(body, "CreditInvoiceReference") != "0";
    for (k, v) in [
        ("Net", money(net)),
        ("Gross", money(gross)),
        ("TotalVAT", money(total_vat)),
        ("FreightVAT", money(freight_vat)),
        ("AdministrationFeeVAT", money(admin_vat)),
        ("RoundOff", money(round_off)),
        ("Total", money(total)),
        ("TotalToPay", money(total)),
        (
            "Balance",
            money(if settled { Decimal::ZERO } else { total }),
        ),
        ("BasisTaxReduction", money(Decimal::ZERO)),
        ("ContributionValue", money(net)),
        (
            "ContributionPercent",
            money(if net.is_zero() {
                Decimal::ZERO
            } else {
                Decimal::from(100)
            }),
        ),
        ("HouseWork", Value::Bool(house_work)),
    ] {
        body.insert(k.into(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::super::codes::CODE_ACCOUNT_NOT_FOUND;
    use super::super::rows::build_rows;
    use super::*;
    use serde_json::json;

    fn invoice_with(rows: Value, vat_included: bool) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("VATIncluded".into(), Value::Bool(vat_included));
        body.insert("Currency".into(), Value::from("SEK"));
        body.insert("CreditInvoiceReference".into(), Value::from("0"));
        body.insert(
            "InvoiceRows".into(),
            Value::Array(build_rows(&[], &rows).expect("rows")),
        );
        recompute(&mut body);
        body
    }

    #[test]
    fn totals_in_decimals_with_round_off() {
        let body = invoice_with(
            json!([
                {"AccountNumber": 3001, "DeliveredQuantity": "3", "Price": 333.33, "Description": "Arbete"},
                {"ArticleNumber": "M1", "DeliveredQuantity": 2, "Price": "10.10", "Discount": 10, "VAT": 12}
            ]),
            false,
        );
        // 999.99 @25 % + 18.18 @12 % = net 1018.17, VAT 250.00 + 2.18 = 252.18, 1270.35 → 1270.
        assert_eq!(body["Net"], json!(1018.17));
        assert_eq!(body["TotalVAT"], json!(252.18));
        assert_eq!(body["Total"], json!(1270.0));
        assert_eq!(body["RoundOff"], json!(-0.35));
        assert_eq!(body["InvoiceRows"][1]["AccountNumber"], json!(3001));
        assert_eq!(body["InvoiceRows"][0]["DeliveredQuantity"], json!("3.00"));
    }

    #[test]
    fn vat_included_prices() {
        let body = invoice_with(
            json!([{"AccountNumber": 3001, "DeliveredQuantity": 1, "Price": 125}]),
            true,
        );
        assert_eq!(body["Net"], json!(100.0));
        assert_eq!(body["TotalVAT"], json!(25.0));
        assert_eq!(body["Total"], json!(125.0));
    }

    #[test]
    fn row_without_article_or_account_fails() {
        let rows = json!([{"Description": "x", "DeliveredQuantity": 1, "Price": 1}]);
        let err = build_rows(&[], &rows).unwrap_err();
        assert_eq!(err.code, Some(CODE_ACCOUNT_NOT_FOUND));
    }

    #[test]
    fn text_rows_count_zero() {
        let body = invoice_with(
            json!([
                {"Description": "Arbete enligt offert"},
                {"AccountNumber": 3001, "DeliveredQuantity": 2, "Price": 100},
                {"Description": "Rabatt nedan", "DiscountType": "AMOUNT", "Discount": 50}
            ]),
            false,
        );
        let rows = body["InvoiceRows"].as_array().unwrap();
        assert!(rows[0].get("AccountNumber").is_none() && rows[0].get("VAT").is_none());
        assert_eq!(rows[0]["Total"], json!(0.0));
        assert_eq!(rows[2]["Total"], json!(0.0));
        assert_eq!(body["Net"], json!(200.0));
        assert_eq!(body["Total"], json!(250.0));
    }
}
