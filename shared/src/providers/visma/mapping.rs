//! Canonical ↔ Visma eAccounting, both directions.
//!
//! | canonical | Visma |
//! |---|---|
//! | `Customer.id` (ours) | `CustomerNumber` = [`fit_reference`] of our id (≤ 16 characters), set on create |
//! | name, organisation_number, email, phone | `Name`, `CorporateIdentityNumber`, `EmailAddress`, `Telephone` |
//! | address line1/line2/postal_code/city/country_code | `InvoiceAddress1/2`, `InvoicePostalCode`, `InvoiceCity`, `InvoiceCountryCode` |
//! | currency | `CurrencyCode` |
//! | is_private_person, vat_number, reverse_charge_construction, active | `IsPrivatePerson`, `VatNumber`, `ReverseChargeOnConstructionServices`, `IsActive` |
//! | updated_at (read) | `ChangedUtc` |
//! | `Invoice.id` (ours) | `BuyersOrderReference` = [`fit_reference`] of our id (≤ 35 characters) |
//! | customer_id | `CustomerId` (the provider's GUID, given by the caller) |
//! | invoice_date, due_date, currency, our/your_reference | `InvoiceDate`, `DueDate`, `CurrencyCode`/`InvoiceCurrencyCode`, `OurReference`, `YourReference` |
//! | row description, article_number | `Text`, `ArticleId` (looked up by article number; text row when unpriced without article) |
//! | row quantity, unit_price, discount (%) | `Quantity`, `UnitPrice`, `DiscountPercentage` (a fraction: 10 % is 0.1) |
//! | row vat_rate | read from the article's `VatRatePercent` (0 on `ReversedConstructionServicesVatFree` rows); written only as 0 → VAT-free row |
//! | row house_work rot/rut, hours | `IsWorkCost`, `WorkHours`; invoice `RotReducedInvoicingType` 1/2 |
//! | totals (read) | `TotalAmount` − `TotalVatAmount` − `TotalRoundings`, `TotalVatAmount`, `TotalAmount` |
//! | updated_at (read) | `ModifiedUtc` |
//!
//! Lossy spots, by design: Visma books VAT through the article, so a row's VAT rate other than
//! 0 is the article's; rows have no account number; a house-work amount is sent as the
//! invoice's `RotReducedInvoicingAmount` and not read back per row.

use super::wire::{ArticleIn, CustomerIn, InvoiceIn, RowIn};
use crate::domain::money::round_money;
use crate::domain::{
    Address, Customer, Decimal, HouseWork, HouseWorkKind, Invoice, InvoiceRow, Totals,
};
use crate::http::ApiError;
use crate::providers::api::fit_reference;
use crate::providers::lenient::{number, opt_number};
use crate::providers::Remote;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Longest `CustomerNumber`.
pub const CUSTOMER_NUMBER_MAX: usize = 16;
/// Longest `BuyersOrderReference`.
pub const BUYERS_ORDER_REFERENCE_MAX: usize = 35;
/// Remote ids of drafts that were never converted start with this.
pub const DRAFT_PREFIX: &str = "draft:";

/// Our reference on a Visma customer.
pub fn customer_reference(our_id: &str) -> String {
    fit_reference(our_id, CUSTOMER_NUMBER_MAX)
}

/// Our reference on a Visma invoice.
pub fn invoice_reference(our_id: &str) -> String {
    fit_reference(our_id, BUYERS_ORDER_REFERENCE_MAX)
}

fn text(v: &Option<String>) -> Value {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

/// Writes our fields onto `body` (a whole Visma customer). On create, `create` carries the
/// customer number and terms of payment to set; on update they are left as they are.
pub fn apply_customer(body: &mut Map<String, Value>, c: &Customer, create: Option<(&str, &str)>) {
    let a = &c.address;
    let mut set = |k: &str, v: Value| {
        body.insert(k.to_string(), v);
    };
    set("Name", Value::String(c.name.trim().to_string()));
    set("CorporateIdentityNumber", text(&c.organisation_number));
    set("EmailAddress", text(&c.email));
    set("Telephone", text(&c.phone));
    set("InvoiceAddress1", text(&a.line1));
    set("InvoiceAddress2", text(&a.line2));
    set("InvoicePostalCode", text(&a.postal_code));
    set("InvoiceCity", text(&a.city));
    set("IsPrivatePerson", Value::Bool(c.is_private_person));
    set("VatNumber", text(&c.vat_number));
    set(
        "ReverseChargeOnConstructionServices",
        Value::Bool(c.reverse_charge_construction),
    );
    set("IsActive", Value::Bool(c.active));
    // No country or currency means "the company's own": leave Visma's value alone.
    if let Value::String(cc) = text(&a.country_code) {
        set("InvoiceCountryCode", Value::String(cc));
    }
    if let Value::String(cur) = text(&c.currency) {
        set("CurrencyCode", Value::String(cur));
    }
    if let Some((number, terms)) = create {
        set("CustomerNumber", Value::String(number.to_string()));
        set("TermsOfPaymentId", Value::String(terms.to_string()));
    }
}

/// The canonical customer of a Visma record. `id` stays empty: the customer number holds our
/// reference only in a form that may be hashed (see [`Remote::our_reference`]).
pub fn customer_in(w: &CustomerIn) -> Result<Remote<Customer>, ApiError> {
    let remote_id =
        w.id.clone()
            .ok_or_else(|| ApiError::unexpected("a Visma customer without Id"))?;
    let record = Customer {
        id: String::new(),
        name: w.name.clone().unwrap_or_default(),
        organisation_number: w.corporate_identity_number.clone(),
        email: w.email_address.clone(),
        phone: w.telephone.clone().or_else(|| w.mobile_phone.clone()),
        address: Address {
            line1: w.invoice_address1.clone(),
            line2: w.invoice_address2.clone(),
            postal_code: w.invoice_postal_code.clone(),
            city: w.invoice_city.clone(),
            country_code: w
                .invoice_country_code
                .clone()
                .map(|c| c.to_ascii_uppercase()),
        },
        currency: w.currency_code.clone().map(|c| c.to_ascii_uppercase()),
        is_private_person: w.is_private_person.unwrap_or(false),
        vat_number: w.vat_number.clone(),
        reverse_charge_construction: w.reverse_charge_on_construction_services.unwrap_or(false),
        active: w.is_active.unwrap_or(true),
        updated_at: w.changed_utc,
    };
    Ok(Remote {
        remote_id,
        our_reference: w.customer_number.clone(),
        record,
        modified_at: w.changed_utc,
        customer_remote_id: None,
        editable: true,
    })
}

/// Articles of one company, by number and by id.
#[derive(Debug, Clone, Default)]
pub struct Articles {
    by_number: HashMap<String, ArticleIn>,
    by_id: HashMap<String, ArticleIn>,
}

impl Articles {
    /// An index over `list`.
    pub fn new(list: Vec<ArticleIn>) -> Self {
        let mut a = Articles::default();
        for art in list {
            if let Some(n) = &art.number {
                a.by_number.insert(n.clone(), art.clone());
            }
            if let Some(id) = &art.id {
                a.by_id.insert(id.to_ascii_lowercase(), art);
            }
        }
        a
    }

    /// The article with `number`.
    pub fn by_number(&self, number: &str) -> Option<&ArticleIn> {
        self.by_number.get(number)
    }

    /// The article with `id`.
    pub fn by_id(&self, id: &str) -> Option<&ArticleIn> {
        self.by_id.get(&id.to_ascii_lowercase())
    }
}

fn is_none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

/// One draft row.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RowOut {
    #[serde(skip_serializing_if = "is_none")]
    article_id: Option<String>,
    is_text_row: bool,
    text: String,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    quantity: Option<Decimal>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    unit_price: Option<Decimal>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    discount_percentage: Option<Decimal>,
    reversed_construction_services_vat_free: bool,
    #[serde(skip_serializing_if = "is_none")]
    is_work_cost: Option<bool>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    work_hours: Option<Decimal>,
}

/// A draft body (POST, or PUT which replaces it whole).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DraftOut {
    customer_id: String,
    rot_reduced_invoicing_type: i64,
    eu_third_party: bool,
    invoice_date: String,
    #[serde(skip_serializing_if = "is_none")]
    due_date: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    your_reference: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    our_reference: Option<String>,
    buyers_order_reference: String,
    #[serde(skip_serializing_if = "is_none")]
    currency_code: Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    invoice_currency_code: Option<String>,
    #[serde(serialize_with = "opt_number", skip_serializing_if = "is_none")]
    rot_reduced_invoicing_amount: Option<Decimal>,
    rows: Vec<RowOut>,
}

fn present(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The draft Visma gets for `i`, billed to the Visma customer `customer_id`.
pub fn draft_out(
    i: &Invoice,
    customer_id: &str,
    articles: &Articles,
) -> Result<DraftOut, ApiError> {
    let mut reduction: Option<HouseWorkKind> = None;
    let mut reduction_amount: Option<Decimal> = None;
    let mut rows = Vec::with_capacity(i.rows.len());
    for (n, r) in i.rows.iter().enumerate() {
        let field = |f: &str| format!("rows[{n}].{f}");
        let article = match r.article_number.as_deref().filter(|a| !a.trim().is_empty()) {
            Some(num) => Some(articles.by_number(num.trim()).ok_or_else(|| {
                ApiError::invalid_field(
                    field("article_number"),
                    format!("Visma has no article with number {num}"),
                )
            })?),
            None if r.is_priced() => {
                return Err(ApiError::invalid_field(
                    field("article_number"),
                    "Visma needs an article on every priced row",
                ))
            }
            None => None,
        };
        let article_id = match article {
            Some(a) => Some(a.id.clone().ok_or_else(|| {
                ApiError::unexpected(format!("Visma article {:?} without Id", a.number))
            })?),
            None => None,
        };
        if let Some(h) = &r.house_work {
            match reduction {
                Some(k) if k != h.kind => {
                    return Err(ApiError::invalid_field(
                        field("house_work.kind"),
                        "an invoice cannot mix ROT and RUT",
                    ))
                }
                _ => reduction = Some(h.kind),
            }
            if let Some(a) = h.amount {
                reduction_amount = Some(reduction_amount.unwrap_or_default() + a);
            }
        }
        let is_text = article_id.is_none();
        rows.push(RowOut {
            article_id,
            is_text_row: is_text,
            text: r.description.clone(),
            quantity: (!is_text).then_some(r.quantity),
            unit_price: (!is_text).then_some(r.unit_price),
            discount_percentage: r
                .discount
                .filter(|d| !d.is_zero() && !is_text)
                .map(|d| (d / Decimal::ONE_HUNDRED).normalize()),
            reversed_construction_services_vat_free: r.vat_rate.is_some_and(|v| v.is_zero()),
            is_work_cost: r.house_work.as_ref().map(|_| true),
            work_hours: r.house_work.as_ref().and_then(|h| h.hours),
        });
    }
    let currency = present(&i.currency);
    Ok(DraftOut {
        customer_id: customer_id.to_string(),
        rot_reduced_invoicing_type: match reduction {
            None => 0,
            Some(HouseWorkKind::Rot) => 1,
            Some(HouseWorkKind::Rut) => 2,
        },
        eu_third_party: false,
        invoice_date: i.invoice_date.to_string(),
        due_date: i.due_date.map(|d| d.to_string()),
        your_reference: present(&i.your_reference),
        our_reference: present(&i.our_reference),
        buyers_order_reference: invoice_reference(&i.id),
        currency_code: currency.clone(),
        invoice_currency_code: currency,
        rot_reduced_invoicing_amount: reduction_amount,
        rows,
    })
}

fn row_in(r: &RowIn, kind: Option<HouseWorkKind>, articles: &Articles) -> InvoiceRow {
    let is_text = r.is_text_row.unwrap_or(false);
    let vat_free = r.reversed_construction_services_vat_free.unwrap_or(false);
    let article = r.article_id.as_deref().and_then(|id| articles.by_id(id));
    let vat_rate = if is_text {
        None
    } else if vat_free {
        Some(Decimal::ZERO)
    } else {
        article.and_then(|a| a.vat_rate_percent)
    };
    let discount = r
        .discount_percentage
        .filter(|d| !d.is_zero())
        .map(|d| (d * Decimal::ONE_HUNDRED).normalize());
    let house_work = match (r.is_work_cost, kind) {
        (Some(true), Some(kind)) => Some(HouseWork {
            kind,
            hours: r.work_hours.filter(|h| !h.is_zero()),
            amount: None,
        }),
        _ => None,
    };
    InvoiceRow {
        description: r.text.clone().unwrap_or_default(),
        article_number: r
            .article_number
            .clone()
            .or_else(|| article.and_then(|a| a.number.clone())),
        account_number: None,
        quantity: if is_text {
            Decimal::ZERO
        } else {
            r.quantity.unwrap_or_default()
        },
        unit_price: if is_text {
            Decimal::ZERO
        } else {
            r.unit_price.unwrap_or_default()
        },
        vat_rate,
        discount,
        house_work,
    }
}

/// The canonical invoice of a Visma invoice or draft (`customer_id` holds the Visma GUID).
pub fn invoice_in(
    w: &InvoiceIn,
    draft: bool,
    articles: &Articles,
) -> Result<Remote<Invoice>, ApiError> {
    let id =
        w.id.clone()
            .ok_or_else(|| ApiError::unexpected("a Visma invoice without Id"))?;
    let invoice_date = w
        .invoice_date
        .or_else(|| w.created_utc.map(|t| t.date_naive()))
        .ok_or_else(|| ApiError::unexpected(format!("Visma invoice {id} has no InvoiceDate")))?;
    let kind = match w.rot_reduced_invoicing_type {
        Some(1) => Some(HouseWorkKind::Rot),
        Some(2) => Some(HouseWorkKind::Rut),
        _ => None,
    };
    let totals = w.total_amount.map(|total| {
        let vat = w.total_vat_amount.unwrap_or_default();
        Totals {
            net: round_money(total - vat - w.total_roundings.unwrap_or_default()),
            vat,
            total,
        }
    });
    let customer = w.customer_id.clone().unwrap_or_default();
    let record = Invoice {
        id: String::new(),
        customer_id: customer.clone(),
        invoice_date,
        due_date: w.due_date,
        currency: w
            .currency_code
            .clone()
            .or_else(|| w.invoice_currency_code.clone())
            .map(|c| c.to_ascii_uppercase()),
        our_reference: w.our_reference.clone(),
        your_reference: w.your_reference.clone(),
        rows: w
            .rows
            .iter()
            .flatten()
            .map(|r| row_in(r, kind, articles))
            .collect(),
        totals,
        updated_at: w.modified_utc,
    };
    Ok(Remote {
        remote_id: if draft {
            format!("{DRAFT_PREFIX}{id}")
        } else {
            id
        },
        our_reference: w.buyers_order_reference.clone(),
        record,
        modified_at: w.modified_utc,
        customer_remote_id: (!customer.is_empty()).then_some(customer),
        // A converted invoice is booked: only a credit changes it.
        editable: draft,
    })
}

/// Writes `d` as a JSON number (for tests and callers building bodies by hand).
pub fn json_number(d: Decimal) -> Result<String, ApiError> {
    #[derive(Serialize)]
    struct N(#[serde(serialize_with = "number")] Decimal);
    serde_json::to_string(&N(d)).map_err(ApiError::unexpected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn articles() -> Articles {
        Articles::new(vec![
            ArticleIn {
                id: Some("A1".into()),
                number: Some("1".into()),
                name: Some("Arbetstid".into()),
                vat_rate_percent: Some(d("25")),
                is_active: Some(true),
            },
            ArticleIn {
                id: Some("A3".into()),
                number: Some("3".into()),
                name: Some("Resa".into()),
                vat_rate_percent: Some(d("6")),
                is_active: Some(true),
            },
        ])
    }

    fn customer() -> Customer {
        Customer {
            id: "6f1c2a4e-0b7d-4c1a-9e3f-5a6b7c8d9e01".into(),
            name: "Rör AB".into(),
            organisation_number: Some("556123-4567".into()),
            email: Some("info@ror.se".into()),
            phone: Some("031-20 30 40".into()),
            address: Address {
                line1: Some("Södra Vägen 40".into()),
                line2: None,
                postal_code: Some("412 54".into()),
                city: Some("Göteborg".into()),
                country_code: Some("SE".into()),
            },
            currency: Some("SEK".into()),
            is_private_person: false,
            vat_number: None,
            reverse_charge_construction: false,
            active: true,
            updated_at: None,
        }
    }

    #[test]
    fn customers_round_trip_and_keep_visma_fields() {
        let c = customer();
        let mut body = Map::new();
        body.insert("Note".into(), Value::String("keep me".into()));
        body.insert("InvoiceAddress2".into(), Value::String("old".into()));
        let number = customer_reference(&c.id);
        apply_customer(&mut body, &c, Some((&number, "T1")));
        assert_eq!(body["Note"], "keep me");
        assert_eq!(
            body["InvoiceAddress2"],
            Value::Null,
            "cleared: PUT replaces"
        );
        assert_eq!(body["CustomerNumber"], Value::String(number.clone()));
        assert_eq!(number.len(), 16);
        body.insert("Id".into(), Value::String("G1".into()));
        body.insert(
            "ChangedUtc".into(),
            Value::String("2026-11-22T10:00:00Z".into()),
        );
        let w: CustomerIn = serde_json::from_value(Value::Object(body)).unwrap();
        let r = customer_in(&w).unwrap();
        assert_eq!(r.remote_id, "G1");
        assert_eq!(r.our_reference, Some(number));
        assert!(r.modified_at.is_some());
        assert_eq!(r.record.content_hash(), c.content_hash());
    }

    fn invoice() -> Invoice {
        Invoice {
            id: "inv-1".into(),
            customer_id: "c".into(),
            invoice_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            due_date: None,
            currency: Some("SEK".into()),
            our_reference: Some("Anna".into()),
            your_reference: None,
            rows: vec![
                InvoiceRow {
                    description: "Arbete".into(),
                    article_number: Some("1".into()),
                    account_number: None,
                    quantity: d("8"),
                    unit_price: d("650"),
                    vat_rate: Some(d("25")),
                    discount: Some(d("10")),
                    house_work: Some(HouseWork {
                        kind: HouseWorkKind::Rut,
                        hours: Some(d("8")),
                        amount: Some(d("1000")),
                    }),
                },
                InvoiceRow {
                    description: "Tack för uppdraget".into(),
                    article_number: None,
                    account_number: None,
                    quantity: Decimal::ZERO,
                    unit_price: Decimal::ZERO,
                    vat_rate: None,
                    discount: None,
                    house_work: None,
                },
            ],
            totals: None,
            updated_at: None,
        }
    }

    #[test]
    fn drafts_use_articles_fractions_and_text_rows() {
        let body =
            serde_json::to_string(&draft_out(&invoice(), "CUST", &articles()).unwrap()).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["CustomerId"], "CUST");
        assert_eq!(v["RotReducedInvoicingType"], 2);
        assert_eq!(v["BuyersOrderReference"], "inv-1");
        assert_eq!(v["Rows"][0]["ArticleId"], "A1");
        assert!(body.contains(r#""DiscountPercentage":0.1"#), "{body}");
        assert_eq!(v["Rows"][0]["IsWorkCost"], true);
        assert_eq!(v["Rows"][1]["IsTextRow"], true);
        assert!(v["Rows"][1].get("UnitPrice").is_none());
        assert!(
            body.contains(r#""RotReducedInvoicingAmount":1000"#),
            "{body}"
        );
    }

    #[test]
    fn unknown_or_missing_articles_name_the_row() {
        let mut i = invoice();
        i.rows[0].article_number = Some("99".into());
        let e = draft_out(&i, "C", &articles()).unwrap_err();
        assert!(
            matches!(e, ApiError::InvalidData { field: Some(ref f), .. } if f == "rows[0].article_number")
        );
        i.rows[0].article_number = None;
        assert!(draft_out(&i, "C", &articles()).is_err());
    }

    #[test]
    fn invoices_read_back() {
        let w: InvoiceIn = serde_json::from_str(
            r#"{"Id":"I1","CustomerId":"CUST","InvoiceDate":"2026-11-01T00:00:00",
                "DueDate":"2026-12-01T00:00:00","CurrencyCode":"SEK","OurReference":"Anna",
                "BuyersOrderReference":"inv-1","RotReducedInvoicingType":2,
                "TotalAmount":5850.0,"TotalVatAmount":1170.0,"TotalRoundings":0.0,
                "ModifiedUtc":"2026-11-22T10:00:00.000Z",
                "Rows":[{"ArticleId":"a1","ArticleNumber":"1","IsTextRow":false,"Text":"Arbete",
                         "Quantity":8.0,"UnitPrice":650.0,"DiscountPercentage":0.1,
                         "IsWorkCost":true,"WorkHours":8.0,
                         "ReversedConstructionServicesVatFree":false},
                        {"IsTextRow":true,"Text":"Tack för uppdraget","Quantity":0.0,"UnitPrice":0.0}]}"#,
        )
        .unwrap();
        let r = invoice_in(&w, false, &articles()).unwrap();
        assert_eq!(r.remote_id, "I1");
        assert!(!r.editable);
        assert_eq!(r.our_reference.as_deref(), Some("inv-1"));
        let t = r.record.totals.clone().unwrap();
        assert_eq!((t.net, t.vat), (d("4680"), d("1170")));
        let mut expect = invoice();
        expect.id = String::new();
        expect.customer_id = "CUST".into();
        expect.due_date = NaiveDate::from_ymd_opt(2026, 12, 1);
        expect.rows[0].house_work.as_mut().unwrap().amount = None;
        let mut got = r.record.clone();
        got.totals = None;
        got.updated_at = None;
        assert_eq!(got, expect);
        let draft = invoice_in(&w, true, &articles()).unwrap();
        assert_eq!(draft.remote_id, "draft:I1");
        assert!(draft.editable);
        assert_eq!(json_number(d("0.10")).unwrap(), "0.1");
    }
}
