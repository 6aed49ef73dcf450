//! Tests of the Fortnox mapping: examples and canonical → wire → canonical round trips.

use super::*;
use crate::providers::fortnox::wire::{CustomerWrap, InvoiceWrap};
use chrono::NaiveDate;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn customer() -> Customer {
    Customer {
        id: "cust-1".into(),
        name: "Bygg AB".into(),
        organisation_number: Some("556677-8899".into()),
        email: Some("info@bygg.se".into()),
        phone: None,
        address: Address {
            line1: Some("Storgatan 1".into()),
            line2: None,
            postal_code: Some("903 26".into()),
            city: Some("Umeå".into()),
            country_code: Some("SE".into()),
        },
        currency: Some("SEK".into()),
        is_private_person: false,
        vat_number: Some("SE556677889901".into()),
        reverse_charge_construction: true,
        active: true,
        updated_at: None,
    }
}

fn invoice() -> Invoice {
    Invoice {
        project: None,
        cost_center: None,
        id: "inv-1".into(),
        customer_id: "cust-1".into(),
        invoice_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        due_date: NaiveDate::from_ymd_opt(2026, 12, 1),
        currency: Some("SEK".into()),
        our_reference: Some("Anna".into()),
        your_reference: None,
        reverse_charge_construction: false,
        tax_reduction: None,
        rows: vec![
            InvoiceRow {
                project: None,
                cost_center: None,
                description: "Arbete".into(),
                article_number: None,
                account_number: Some(3001),
                quantity: d("8"),
                unit_price: d("650.50"),
                vat_rate: Some(d("25")),
                discount: Some(d("10")),
                house_work: Some(HouseWork {
                    kind: HouseWorkKind::Rot,
                    hours: Some(d("8")),
                    amount: None,
                    work_type: None,
                    material: false,
                }),
            },
            InvoiceRow {
                project: None,
                cost_center: None,
                description: "Material".into(),
                article_number: Some("MAT".into()),
                account_number: None,
                quantity: d("2.5"),
                unit_price: d("100"),
                vat_rate: Some(d("25")),
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
fn customer_bodies_create_and_update() {
    let c = customer();
    let body = serde_json::to_value(CustomerWrap {
        customer: &customer_out(&c, WriteMode::Create),
    })
    .unwrap();
    let b = &body["Customer"];
    assert_eq!(b["ExternalReference"], "cust-1");
    assert_eq!(b["VATType"], "SEREVERSEDVAT");
    assert_eq!(b["Type"], "COMPANY");
    assert_eq!(b["ZipCode"], "903 26");
    assert!(b.get("Phone1").is_none(), "{b}");
    let u = serde_json::to_value(customer_out(&c, WriteMode::Update)).unwrap();
    assert_eq!(u["Phone1"], "", "cleared on update");
    assert!(u.get("Address2").is_some());
}

#[test]
fn customers_round_trip() {
    let c = customer();
    let text = serde_json::to_string(&customer_out(&c, WriteMode::Create)).unwrap();
    let mut back: CustomerIn = serde_json::from_str(&text).unwrap();
    back.customer_number = Some("17".into());
    let r = customer_in(&back).unwrap();
    assert_eq!(r.remote_id, "17");
    assert_eq!(r.our_reference.as_deref(), Some("cust-1"));
    assert_eq!(r.record, c);
    assert_eq!(r.record.content_hash(), c.content_hash());
}

#[test]
fn invoice_bodies_follow_fortnox_types() {
    let body = serde_json::to_string(&InvoiceWrap {
        invoice: &invoice_out(&invoice(), "17", WriteMode::Create).unwrap(),
    })
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let i = &v["Invoice"];
    assert_eq!(i["CustomerNumber"], "17");
    assert_eq!(i["ExternalInvoiceReference1"], "inv-1");
    assert_eq!(i["TaxReductionType"], "rot");
    let r = &i["InvoiceRows"][0];
    assert_eq!(r["DeliveredQuantity"], "8");
    assert_eq!(r["VAT"], 25);
    assert_eq!(r["AccountNumber"], 3001);
    assert_eq!(r["DiscountType"], "PERCENT");
    assert_eq!(r["HouseWorkType"], "CONSTRUCTION");
    assert_eq!(r["HouseWorkHoursToReport"], 8);
    assert!(body.contains(r#""Price":650.5"#), "{body}");
    assert!(i["InvoiceRows"][1].get("Discount").is_none());
}

#[test]
fn unmappable_values_name_the_field() {
    let mut i = invoice();
    i.rows[1].vat_rate = Some(d("12.5"));
    let e = invoice_out(&i, "1", WriteMode::Create).unwrap_err();
    assert!(
        matches!(e, ApiError::InvalidData { field: Some(ref f), .. } if f == "rows[1].vat_rate")
    );
    let mut i = invoice();
    i.rows[1].house_work = Some(HouseWork {
        kind: HouseWorkKind::Rut,
        hours: None,
        amount: None,
        work_type: None,
        material: false,
    });
    assert!(invoice_out(&i, "1", WriteMode::Create).is_err());
}

#[test]
fn invoices_round_trip() {
    let i = invoice();
    let text = serde_json::to_string(&invoice_out(&i, "17", WriteMode::Create).unwrap()).unwrap();
    let mut back: InvoiceIn = serde_json::from_str(&text).unwrap();
    back.document_number = Some("1001".into());
    back.total = Some(d("5934.10"));
    back.total_vat = Some(d("1186.82"));
    back.booked = Some(true);
    let r = invoice_in(&back).unwrap();
    assert_eq!(r.remote_id, "1001");
    assert_eq!(r.customer_remote_id.as_deref(), Some("17"));
    assert!(!r.editable);
    let mut expect = i.clone();
    expect.customer_id = "17".into();
    let mut got = r.record.clone();
    assert_eq!(got.totals.as_ref().unwrap().net, d("4747.28"));
    got.totals = None;
    assert_eq!(got, expect);
}

#[test]
fn reads_amount_discounts_and_house_work_types() {
    let w: InvoiceIn = serde_json::from_str(
        r#"{"DocumentNumber":1,"CustomerNumber":"2","InvoiceDate":"2026-01-01",
            "TaxReductionType":"rut",
            "InvoiceRows":[
              {"DeliveredQuantity":"2","Price":"100","Discount":"50","DiscountType":"AMOUNT",
               "HouseWork":true,"HouseWorkType":"GARDENING","HouseWorkHoursToReport":"3"},
              {"DeliveredQuantity":"1","Price":"10","HouseWork":true,"HouseWorkType":"OTHERCOSTS"},
              {"DeliveredQuantity":"1","Price":"10","HouseWork":true,"HouseWorkType":"SOLARCELLS"}]}"#,
    )
    .unwrap();
    let r = invoice_in(&w).unwrap().record;
    assert_eq!(r.rows[0].discount, Some(d("25")));
    assert_eq!(
        r.rows[0].house_work.as_ref().unwrap().kind,
        HouseWorkKind::Rut
    );
    assert_eq!(r.rows[0].house_work.as_ref().unwrap().hours, Some(d("3")));
    assert_eq!(
        r.rows[1].house_work.as_ref().unwrap().kind,
        HouseWorkKind::Rut
    );
    assert!(r.rows[2].house_work.is_none());
    assert!(r.totals.is_none());
}

#[test]
fn a_text_row_is_sent_as_its_description_only() {
    let mut i = invoice();
    i.rows.push(InvoiceRow {
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
    });
    for mode in [WriteMode::Create, WriteMode::Update] {
        let v = serde_json::to_value(invoice_out(&i, "17", mode).unwrap()).unwrap();
        assert_eq!(
            v["InvoiceRows"][2],
            serde_json::json!({"Description": "Tack för uppdraget"}),
            "{mode:?}"
        );
    }
}

#[test]
fn reads_what_real_fortnox_sends() {
    // Single records carry every key, unset ones as null; whole amounts have no fraction;
    // lists send CurrencyRate as a string.
    let c: CustomerIn = serde_json::from_str(
        r#"{"CustomerNumber":"12","Name":"Bygg AB","Email":null,"Phone1":null,"Address1":null,
            "Address2":null,"ZipCode":null,"City":null,"CountryCode":null,"Currency":null,
            "Type":null,"VATNumber":null,"VATType":null,"Active":null,"ExternalReference":null,
            "OrganisationNumber":null}"#,
    )
    .unwrap();
    let r = customer_in(&c).unwrap();
    assert_eq!(r.remote_id, "12");
    assert!(r.record.email.is_none() && r.record.active);
    let i: InvoiceIn = serde_json::from_str(
        r#"{"DocumentNumber":1001,"CustomerNumber":"12","InvoiceDate":"2026-11-01",
            "DueDate":null,"Currency":"SEK","CurrencyRate":"1","Total":1250,"TotalVAT":250,
            "Net":1000,"Booked":null,"Cancelled":null,"OurReference":null,"YourReference":null,
            "ExternalInvoiceReference1":null,"TaxReductionType":null,"VATIncluded":null,
            "InvoiceRows":[{"ArticleNumber":null,"AccountNumber":3001,"Description":"Arbete",
              "DeliveredQuantity":"2","Price":500,"VAT":25,"Discount":null,"DiscountType":null,
              "HouseWork":null,"HouseWorkType":null,"HouseWorkHoursToReport":null}]}"#,
    )
    .unwrap();
    let r = invoice_in(&i).unwrap();
    assert_eq!(r.remote_id, "1001");
    assert!(r.editable);
    assert_eq!(r.record.rows[0].unit_price, d("500"));
    assert_eq!(r.record.totals.unwrap().net, d("1000"));
    let list: InvoiceIn = serde_json::from_str(r#"{"InvoiceRows":null}"#).unwrap();
    assert!(list.invoice_rows.is_none());
}

mod round_trips {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        "[A-Za-zåäöÅÄÖ0-9][A-Za-zåäö0-9 .,-]{0,20}[A-Za-z0-9]"
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    prop_compose! {
        fn any_customer()(
            id in "[a-z0-9-]{1,40}", name in text(), org in opt_text(), email in opt_text(),
            phone in opt_text(), line1 in opt_text(), line2 in opt_text(), postal in opt_text(),
            city in opt_text(), country in proptest::option::of("[A-Z]{2}"),
            currency in proptest::option::of("[A-Z]{3}"), private in any::<bool>(),
            vat in opt_text(), reverse in any::<bool>(), active in any::<bool>(),
        ) -> Customer {
            Customer {
                id, name, organisation_number: org, email, phone,
                address: Address { line1, line2, postal_code: postal, city, country_code: country },
                currency, is_private_person: private, vat_number: vat,
                reverse_charge_construction: reverse, active, updated_at: None,
            }
        }
    }

    fn amount() -> impl Strategy<Value = Decimal> {
        (1i64..1_000_000, 0u32..3).prop_map(|(m, s)| Decimal::new(m, s))
    }

    prop_compose! {
        fn any_row(kind: Option<HouseWorkKind>)(
            description in text(), by_article in any::<bool>(), quantity in amount(),
            price in amount(), vat in proptest::option::of(prop_oneof![Just(0i64), Just(6), Just(12), Just(25)]),
            discount in proptest::option::of((1i64..1000).prop_map(|m| Decimal::new(m, 1))),
            work in any::<bool>(), hours in proptest::option::of(1i64..100), text_row in any::<bool>(),
        ) -> InvoiceRow {
            if text_row {
                return InvoiceRow { project: None, cost_center: None,
                    description, article_number: None, account_number: None,
                    quantity: Decimal::ZERO, unit_price: Decimal::ZERO,
                    vat_rate: None, discount: None, house_work: None,
                };
            }
            InvoiceRow { project: None, cost_center: None,
                description,
                article_number: by_article.then(|| "A1".to_string()),
                account_number: (!by_article).then_some(3001),
                quantity,
                unit_price: price,
                vat_rate: vat.map(Decimal::from),
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
                proptest::option::of("[A-Z]{3}"),
                opt_text(),
                opt_text(),
                "[a-z0-9-]{1,40}",
            )
        })
        .prop_map(|(rows, day, due, currency, ours, yours, id)| {
            let date = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(day as u64);
            Invoice {
                project: None,
                cost_center: None,
                id,
                customer_id: "17".into(),
                invoice_date: date,
                due_date: due.map(|n| date + chrono::Days::new(n as u64)),
                currency,
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
        /// Canonical → customer payload → the record Fortnox holds → canonical is the identity
        /// (our id travels as `ExternalReference`).
        #[test]
        fn customer_round_trip(c in any_customer()) {
            let mut v = serde_json::to_value(customer_out(&c, WriteMode::Create)).unwrap();
            v["CustomerNumber"] = "17".into();
            let r = customer_in(&serde_json::from_value(v).unwrap()).unwrap();
            prop_assert_eq!(r.record, c);
        }

        /// Canonical → invoice payload → the record Fortnox holds → canonical is the identity
        /// but for house-work amounts, which Fortnox computes.
        #[test]
        fn invoice_round_trip(i in any_invoice()) {
            let mut v = serde_json::to_value(invoice_out(&i, "17", WriteMode::Create).unwrap()).unwrap();
            v["DocumentNumber"] = "1001".into();
            let r = invoice_in(&serde_json::from_value(v).unwrap()).unwrap();
            prop_assert_eq!(r.our_reference.as_deref(), Some(i.id.as_str()));
            prop_assert_eq!(r.record, i);
        }
    }
}
