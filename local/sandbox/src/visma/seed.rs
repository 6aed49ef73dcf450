//! What a new Visma company holds (stable GUIDs per company): terms of payment, article
//! account codings (one per VAT rate a client may need: 25 %, 12 %, 6 %, VAT-free), units
//! and articles, cost centre 1 "Kostnadsställe" (items `100` Stockholm, `200` Göteborg) and
//! three projects; and generated customers for tests.
//!
//! VAT lives on the article's account coding, not on the article or the row: `ArticleApi`
//! has only `CodingId`, and `ArticleAccountCodingApi.VatRatePercent` carries the rate.
//! Rates are fractions (`0.25` = 25 %), as the document's other "percentage" fields are
//! (`DiscountPercentage`, `RotReducedInvoicingPercent`: `maximum: 1`). *Unconfirmed*: the
//! document gives no example value for `VatRatePercent`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::data::{Record, VismaData};
use super::query::utc_text;
use super::schema::conform;
use crate::clock::Clock;
use crate::lenient::{money, round2, stable_uuid};

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// (name, English name, type, VAT rate in hundredths, sales account)
const CODINGS: &[(&str, &str, &str, i64, i64)] = &[
    ("Varor 25 %", "Goods 25 %", "Goods", 25, 3001),
    ("Tjänster 25 %", "Services 25 %", "Service", 25, 3041),
    ("Varor 12 %", "Goods 12 %", "Goods", 12, 3002),
    ("Tjänster 12 %", "Services 12 %", "Service", 12, 3042),
    ("Tjänster 6 %", "Services 6 %", "Service", 6, 3043),
    ("Momsfri försäljning", "VAT-free sales", "Service", 0, 3044),
];

/// (name, code, abbreviation, English abbreviation)
const UNITS: &[(&str, &str, &str, &str)] =
    &[("Timme", "HUR", "tim", "h"), ("Styck", "EA", "st", "pcs")];

/// (number, name, English name, net price, coding, unit)
const ARTICLES: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "1",
        "Arbetstid",
        "Labour",
        "650.00",
        "Tjänster 25 %",
        "Timme",
    ),
    ("2", "Material", "Material", "100.00", "Varor 25 %", "Styck"),
    (
        "3",
        "Resekostnad",
        "Travel",
        "250.00",
        "Tjänster 6 %",
        "Styck",
    ),
    ("4", "Livsmedel", "Food", "80.00", "Varor 12 %", "Styck"),
    ("5", "Logi", "Lodging", "1200.00", "Tjänster 12 %", "Styck"),
    (
        "6",
        "Utbildning (momsfri)",
        "Training (VAT-free)",
        "500.00",
        "Momsfri försäljning",
        "Timme",
    ),
];

/// Items of the company's cost centre 1 "Kostnadsställe": (ShortName, Name).
const COST_CENTER_ITEMS: &[(&str, &str)] = &[("100", "Stockholm"), ("200", "Göteborg")];

/// (Number, Name, Status (1 Ongoing, 2 Finished), StartDate)
const PROJECTS: &[(&str, &str, i64, &str)] = &[
    ("1", "Tak Storgatan 1", 1, "2026-01-07"),
    ("2", "Badrum Kungsgatan 5", 1, "2026-12-01"),
    ("3", "Fasad Sjögatan 12", 2, "2025-04-01"),
];

impl VismaData {
    /// A company with its lookups (stable GUIDs per company).
    pub fn new(company_key: &str, now: DateTime<Utc>) -> Self {
        let id = |parts: &[&str]| {
            let mut all = vec!["visma", company_key];
            all.extend_from_slice(parts);
            stable_uuid(&all).to_string()
        };
        let now_text = utc_text(now);
        // TermsOfPaymentTypeId per the document: 0 = Normal, 2 = Cash.
        let terms = [
            ("30 dagar netto", "30 days net", 30, 0, "Normal"),
            ("10 dagar netto", "10 days net", 10, 0, "Normal"),
            ("Kontant", "Cash", 0, 2, "Cash"),
        ]
        .iter()
        .map(|(name, english, days, type_id, type_text)| {
            conform(
                "TermsOfPaymentApi",
                object(json!({
                    "Id": id(&["terms", name]),
                    "Name": name,
                    "NameEnglish": english,
                    "NumberOfDays": days,
                    "TermsOfPaymentTypeId": type_id,
                    "TermsOfPaymentTypeText": type_text,
                    "AvailableForSales": true,
                    "AvailableForPurchase": true,
                })),
            )
        })
        .collect();
        let codings = CODINGS
            .iter()
            .map(|(name, english, kind, rate, account)| {
                let percent = Decimal::new(*rate, 2);
                let (subject, exempt) = if *rate == 0 {
                    (Value::Null, json!(account))
                } else {
                    (json!(account), Value::Null)
                };
                conform(
                    "ArticleAccountCodingApi",
                    object(json!({
                        "Id": id(&["coding", name]),
                        "Name": name,
                        "NameEnglish": english,
                        "Type": kind,
                        // The VAT rate's id; draft rows repeat it as `VatRateId`.
                        "VatRate": id(&["vatrate", &rate.to_string()]),
                        "IsActive": true,
                        "VatRatePercent": money(percent),
                        "DomesticSalesSubjectToVatAccountNumber": subject,
                        "DomesticSalesVatExemptAccountNumber": exempt,
                        "DomesticSalesSubjectToReversedConstructionVatAccountNumber": 3231,
                        "ChangedUtc": now_text,
                    })),
                )
            })
            .collect::<Vec<_>>();
        let units = UNITS
            .iter()
            .map(|(name, code, abbrev, english)| {
                conform(
                    "UnitApi",
                    object(json!({
                        "Id": id(&["unit", name]),
                        "Name": name,
                        "Code": code,
                        "Abbreviation": abbrev,
                        "AbbreviationEnglish": english,
                    })),
                )
            })
            .collect::<Vec<_>>();
        let articles = ARTICLES
            .iter()
            .map(|(number, name, english, price, coding, unit)| {
                let (_, _, kind, rate, _) = CODINGS
                    .iter()
                    .find(|c| c.0 == *coding)
                    .copied()
                    .unwrap_or(CODINGS[0]);
                let (_, _, abbrev, _) = UNITS
                    .iter()
                    .find(|u| u.0 == *unit)
                    .copied()
                    .unwrap_or(UNITS[0]);
                let net = Decimal::from_str_exact(price).unwrap_or_default();
                let gross = round2(net * (Decimal::ONE + Decimal::new(rate, 2)));
                let service = kind == "Service";
                let body = conform(
                    "ArticleApi",
                    object(json!({
                        "Id": id(&["article", number]),
                        "IsActive": true,
                        "Number": number,
                        "Name": name,
                        "NameEnglish": english,
                        "NetPrice": money(net),
                        "NetPriceWithDiscount": money(net),
                        "GrossPrice": money(gross),
                        "CodingId": id(&["coding", coding]),
                        "CodingName": coding,
                        "UnitId": id(&["unit", unit]),
                        "UnitName": unit,
                        "UnitAbbreviation": abbrev,
                        "CreatedUtc": now_text,
                        "ChangedUtc": now_text,
                        "IsServiceArticle": service,
                        "ShowStockInformation": !service,
                    })),
                );
                Record { body, changed: now }
            })
            .collect();
        let cost_center_id = id(&["costcenter", "1"]);
        let cost_centers = vec![Record {
            body: conform(
                "CostCenterApi",
                object(json!({
                    "Id": cost_center_id,
                    "Number": 1,
                    "Name": "Kostnadsställe",
                    "IsActive": true,
                })),
            ),
            changed: now,
        }];
        let cost_center_items = COST_CENTER_ITEMS
            .iter()
            .map(|(short, name)| Record {
                body: conform(
                    "CostCenterItemApi",
                    object(json!({
                        "Id": id(&["costcenteritem", short]),
                        "CostCenterId": cost_center_id,
                        "ShortName": short,
                        "Name": name,
                        "IsActive": true,
                        "CreatedUtc": now_text,
                    })),
                ),
                changed: now,
            })
            .collect();
        let projects = PROJECTS
            .iter()
            .map(|(number, name, status, start)| Record {
                body: conform(
                    "ProjectApi",
                    object(json!({
                        "Id": id(&["project", number]),
                        "Number": number,
                        "Name": name,
                        "Status": status,
                        "StartDate": format!("{start}T00:00:00Z"),
                        "ModifiedUtc": now_text,
                    })),
                ),
                changed: now,
            })
            .collect();
        VismaData {
            customers: BTreeMap::new(),
            customer_index: HashMap::new(),
            number_index: HashMap::new(),
            next_customer_number: 1,
            terms,
            codings,
            units,
            articles,
            projects,
            cost_centers,
            cost_center_items,
            drafts: BTreeMap::new(),
            draft_index: HashMap::new(),
            next_draft: 1,
            invoices: BTreeMap::new(),
            invoice_index: HashMap::new(),
            next_invoice_number: 1,
            seeded: 0,
        }
    }

    /// Adds `n` generated customers (stable ids); returns their ids.
    pub fn seed_customers(
        &mut self,
        company_key: &str,
        n: usize,
        clock: &mut Clock,
    ) -> Vec<String> {
        let terms = self.terms.first().cloned().unwrap_or_default();
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let index = self.seeded;
            self.seeded += 1;
            let s = crate::seed::customer("visma", company_key, index);
            let id =
                stable_uuid(&["visma", company_key, "customer", &index.to_string()]).to_string();
            let number = self.assign_customer_number();
            let changed = clock.tick();
            let body = conform(
                "CustomerApi",
                object(json!({
                    "Id": id,
                    "CustomerNumber": number,
                    "Name": s.name,
                    "CorporateIdentityNumber": s.organisation_number,
                    "InvoiceAddress1": s.address1,
                    "InvoicePostalCode": s.zip_code,
                    "InvoiceCity": s.city,
                    "InvoiceCountryCode": "SE",
                    "CurrencyCode": "SEK",
                    "EmailAddress": s.email,
                    "Telephone": s.phone,
                    "IsPrivatePerson": s.is_private,
                    "IsActive": true,
                    "TermsOfPaymentId": terms.get("Id").cloned().unwrap_or(Value::Null),
                    "TermsOfPayment": terms,
                    "ChangedUtc": utc_text(changed),
                })),
            );
            self.insert_customer(&id, Record { body, changed });
            ids.push(id);
        }
        ids
    }
}
