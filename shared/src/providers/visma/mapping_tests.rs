//! Tests of the Visma mapping: examples and canonical → wire → canonical round trips.

use super::*;
use crate::providers::visma::wire::{parse, ArticleIn, CodingIn};
use proptest::prelude::*;
use serde_json::Value;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn articles() -> Articles {
    let art = |id: &str, number: &str, coding: &str| ArticleIn {
        id: Some(id.into()),
        number: Some(number.into()),
        name: Some(format!("Artikel {number}")),
        is_active: Some(true),
        coding_id: Some(coding.into()),
    };
    let coding = |id: &str, rate: &str| CodingIn {
        id: Some(id.into()),
        name: Some(format!("Försäljning {rate} %")),
        vat_rate_percent: Some(d(rate)),
        is_active: Some(true),
        kind: None,
    };
    Articles::new(
        vec![
            art("A1", "1", "C25"),
            art("A2", "2", "C12"),
            art("A3", "3", "C6"),
            art("A4", "4", "C0"),
        ],
        vec![
            coding("C25", "25"),
            coding("C12", "12"),
            coding("C6", "6"),
            coding("C0", "0"),
        ],
    )
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

/// What Visma answers for a customer written as `w`.
fn customer_answer(w: &CustomerWrite) -> Remote<Customer> {
    let mut v = serde_json::to_value(w).unwrap();
    v["Id"] = "G1".into();
    v["ChangedUtc"] = "2026-11-22T10:00:00Z".into();
    customer_in(&parse::<CustomerIn>("customer", v).unwrap()).unwrap()
}

#[test]
fn customers_round_trip_and_keep_visma_fields() {
    let c = customer();
    let mut w = new_customer(&c, "T1");
    let number = customer_reference(&c.id);
    assert_eq!(w.customer_number.as_deref(), Some(number.as_str()));
    assert_eq!(number.len(), 16);
    let r = customer_answer(&w);
    assert_eq!(r.remote_id, "G1");
    assert_eq!(r.our_reference, Some(number));
    assert!(r.modified_at.is_some());
    assert_eq!(r.record.content_hash(), c.content_hash());
    // An update keeps what a person set in Visma and clears what we cleared.
    w.note = Some("keep me".into());
    w.invoice_address2 = Some("old".into());
    apply_customer(&mut w, &c);
    let body = serde_json::to_value(&w).unwrap();
    assert_eq!(body["Note"], "keep me");
    assert_eq!(
        body["InvoiceAddress2"],
        Value::Null,
        "cleared: PUT replaces"
    );
    assert_eq!(body["TermsOfPaymentId"], "T1");
}

fn invoice() -> Invoice {
    Invoice {
        project: None,
        cost_center: None,
        id: "inv-1".into(),
        customer_id: "c".into(),
        invoice_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        due_date: None,
        currency: None,
        our_reference: Some("Anna".into()),
        your_reference: None,
        reverse_charge_construction: false,
        tax_reduction: None,
        rows: vec![
            InvoiceRow {
                project: None,
                cost_center: None,
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
                    work_type: None,
                    material: false,
                }),
            },
            InvoiceRow {
                project: None,
                cost_center: None,
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
        cancelled: false,
        payment: None,
        credit: None,
        updated_at: None,
    }
}

#[test]
fn drafts_use_articles_fractions_and_text_rows() {
    let body = serde_json::to_string(&draft_out(&invoice(), "CUST", &articles()).unwrap()).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["CustomerId"], "CUST");
    assert_eq!(v["RotReducedInvoicingType"], 2);
    assert_eq!(v["BuyersOrderReference"], "inv-1");
    assert_eq!(v["InvoiceDate"], "2026-11-01T00:00:00Z");
    assert!(v.get("CurrencyCode").is_none() && v.get("InvoiceCurrencyCode").is_none());
    assert_eq!(v["Rows"][0]["ArticleId"], "A1");
    assert!(body.contains(r#""DiscountPercentage":0.1"#), "{body}");
    assert_eq!(v["Rows"][0]["IsWorkCost"], true);
    assert_eq!(v["Rows"][0]["ReversedConstructionServicesVatFree"], false);
    assert_eq!(v["Rows"][1]["IsTextRow"], true);
    assert_eq!(v["Rows"][1]["ReversedConstructionServicesVatFree"], false);
    assert!(v["Rows"][1].get("UnitPrice").is_none());
    assert!(
        body.contains(r#""RotReducedInvoicingAmount":1000"#),
        "{body}"
    );
}

#[test]
fn a_rate_other_than_the_articles_is_refused_and_zero_is_vat_free() {
    let mut i = invoice();
    i.rows[0].vat_rate = Some(d("12"));
    let e = draft_out(&i, "C", &articles()).unwrap_err();
    assert!(
        matches!(e, ApiError::InvalidData { field: Some(ref f), .. } if f == "rows[0].vat_rate"),
        "{e:?}"
    );
    i.rows[0].article_number = Some("2".into());
    assert_eq!(
        draft_out(&i, "C", &articles()).unwrap().rows[0]
            .article_id
            .as_deref(),
        Some("A2")
    );
    i.rows[0].vat_rate = Some(Decimal::ZERO);
    assert!(
        draft_out(&i, "C", &articles()).unwrap().rows[0].reversed_construction_services_vat_free
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
fn booked_invoices_read_their_rows_vat() {
    let v: Value = serde_json::from_str(
        r#"{"Id":"I1","CustomerId":"CUST","InvoiceDate":"2026-11-01T00:00:00",
            "DueDate":"2026-12-01T00:00:00","CurrencyCode":"SEK","OurReference":"Anna",
            "BuyersOrderReference":"inv-1","RotReducedInvoicingType":2,
            "TotalAmount":5850.0,"TotalVatAmount":1170.0,"TotalRoundings":0.0,
            "ModifiedUtc":"2026-11-22T10:00:00.000Z",
            "Rows":[{"ArticleId":"a1","ArticleNumber":"1","IsTextRow":false,"Text":"Arbete",
                     "Quantity":8.0,"UnitPrice":650.0,"DiscountPercentage":0.1,
                     "IsWorkCost":true,"WorkHours":8.0,"IsVatFree":false,"VatRate":25,
                     "PercentVat":25},
                    {"IsTextRow":true,"Text":"Tack för uppdraget","Quantity":0.0,"UnitPrice":0.0,
                     "VatRate":null},
                    {"ArticleId":"a1","IsTextRow":false,"Text":"Omvänd","Quantity":1,
                     "UnitPrice":100,"IsVatFree":true,"VatRate":25}]}"#,
    )
    .unwrap();
    let r = invoice_in(&parse("invoice", v).unwrap(), &articles()).unwrap();
    assert_eq!(r.remote_id, "I1");
    assert!(!r.editable);
    assert_eq!(r.our_reference.as_deref(), Some("inv-1"));
    let t = r.record.totals.clone().unwrap();
    assert_eq!((t.net, t.vat), (d("4680"), d("1170")));
    assert_eq!(r.record.rows[0].vat_rate, Some(d("25")));
    assert_eq!(r.record.rows[1].vat_rate, None);
    assert_eq!(r.record.rows[2].vat_rate, Some(Decimal::ZERO));
    assert_eq!(r.record.rows[2].article_number.as_deref(), Some("1"));
    let mut expect = invoice();
    expect.id = String::new();
    expect.customer_id = "CUST".into();
    expect.currency = Some("SEK".into());
    expect.due_date = NaiveDate::from_ymd_opt(2026, 12, 1);
    expect.rows[0].house_work.as_mut().unwrap().amount = None;
    let mut got = r.record.clone();
    got.rows.truncate(2);
    got.totals = None;
    got.updated_at = None;
    assert_eq!(got, expect);
}

fn text() -> impl Strategy<Value = String> {
    "[A-Za-zåäöÅÄÖ0-9][A-Za-zåäö0-9 .,-]{0,20}[A-Za-z0-9]"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

prop_compose! {
    fn any_customer()(
        id in "[a-z0-9-]{1,40}", name in text(), org in opt_text(), email in opt_text(),
        phone in opt_text(), line1 in opt_text(), line2 in opt_text(), postal in text(),
        city in text(), country in proptest::option::of("[A-Z]{2}"),
        currency in proptest::option::of("[A-Z]{3}"), private in any::<bool>(),
        vat in opt_text(), reverse in any::<bool>(), active in any::<bool>(),
    ) -> Customer {
        Customer {
            id, name, organisation_number: org, email, phone,
            address: Address { line1, line2, postal_code: Some(postal), city: Some(city), country_code: country },
            currency, is_private_person: private, vat_number: vat,
            reverse_charge_construction: reverse, active, updated_at: None,
        }
    }
}

fn money() -> impl Strategy<Value = Decimal> {
    (1i64..1_000_000, 0u32..3).prop_map(|(m, s)| Decimal::new(m, s))
}

prop_compose! {
    fn any_row(kind: Option<HouseWorkKind>)(
        description in text(), article in 1usize..5, quantity in money(), price in money(),
        vat_free in any::<bool>(), discount in proptest::option::of((1i64..1000).prop_map(|m| Decimal::new(m, 1))),
        work in any::<bool>(), hours in proptest::option::of(1i64..100), text_row in any::<bool>(),
    ) -> InvoiceRow {
        if text_row {
            return InvoiceRow { project: None, cost_center: None,
                description, article_number: None, account_number: None,
                quantity: Decimal::ZERO, unit_price: Decimal::ZERO,
                vat_rate: None, discount: None, house_work: None,
            };
        }
        let rate = ["25", "12", "6", "0"][article - 1];
        InvoiceRow { project: None, cost_center: None,
            description,
            article_number: Some(article.to_string()),
            account_number: None,
            quantity,
            unit_price: price,
            vat_rate: Some(if vat_free { Decimal::ZERO } else { d(rate) }),
            discount,
            house_work: match (work, kind) {
                (true, Some(kind)) => Some(HouseWork { kind, hours: hours.map(Decimal::from), amount: None, work_type: None, material: false }),
                _ => None,
            },
        }
    }
}

fn any_invoice() -> impl Strategy<Value = Invoice> {
    proptest::option::of(prop_oneof![
        Just(HouseWorkKind::Rot),
        Just(HouseWorkKind::Rut)
    ])
    .prop_flat_map(|kind| {
        (
            proptest::collection::vec(any_row(kind), 1..6),
            0i64..3000,
            proptest::option::of(0i64..90),
            opt_text(),
            opt_text(),
        )
    })
    .prop_map(|(rows, day, due, ours, yours)| {
        let date = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(day as u64);
        Invoice {
            project: None,
            cost_center: None,
            id: "inv".into(),
            customer_id: "G-CUST".into(),
            invoice_date: date,
            due_date: due.map(|n| date + chrono::Days::new(n as u64)),
            currency: None,
            our_reference: ours,
            your_reference: yours,
            reverse_charge_construction: false,
            tax_reduction: None,
            rows,
            totals: None,
            cancelled: false,
            payment: None,
            credit: None,
            updated_at: None,
        }
    })
}

proptest! {
    /// Canonical → `CustomerWrite` → Visma's answer → canonical keeps every field Visma
    /// carries (our id travels as the customer number).
    #[test]
    fn customer_round_trip(c in any_customer()) {
        let r = customer_answer(&new_customer(&c, "T1"));
        let mut expect = c.clone();
        expect.id = String::new();
        let mut got = r.record.clone();
        got.updated_at = None;
        prop_assert_eq!(got, expect);
        prop_assert_eq!(r.our_reference, Some(customer_reference(&c.id)));
    }

    /// Canonical → draft body → the draft Visma holds → canonical keeps every field a draft
    /// carries (not the currency, which is the customer's, nor house-work amounts).
    #[test]
    fn invoice_round_trip(i in any_invoice()) {
        let out = draft_out(&i, "G-CUST", &articles()).unwrap();
        let mut v = serde_json::to_value(&out).unwrap();
        v["Id"] = "D1".into();
        let r = draft_in(&parse("draft", v).unwrap(), &articles()).unwrap();
        prop_assert_eq!(r.remote_id, "draft:D1");
        prop_assert_eq!(r.our_reference, Some(invoice_reference(&i.id)));
        let mut expect = i.clone();
        expect.id = String::new();
        prop_assert_eq!(r.record, expect);
    }
}
