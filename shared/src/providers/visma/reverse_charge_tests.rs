//! Reverse charge on construction services, Visma: written as the draft rows'
//! `ReversedConstructionServicesVatFree`, read from the read-only
//! `ReverseChargeOnConstructionServices` of drafts and invoices.

use super::*;
use crate::providers::visma::wire::{parse, ArticleIn, CodingIn};
use serde_json::{json, Value};
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn articles() -> Articles {
    Articles::new(
        vec![ArticleIn {
            id: Some("A1".into()),
            number: Some("1".into()),
            name: Some("Arbete".into()),
            is_active: Some(true),
            coding_id: Some("C25".into()),
        }],
        vec![CodingIn {
            id: Some("C25".into()),
            name: Some("Försäljning 25 %".into()),
            vat_rate_percent: Some(d("25")),
            is_active: Some(true),
            kind: None,
        }],
    )
}

fn reverse_invoice() -> Invoice {
    let row = |description: &str, priced: bool, vat: Option<&str>| InvoiceRow {
        project: None,
        cost_center: None,
        description: description.into(),
        article_number: priced.then(|| "1".to_string()),
        account_number: None,
        quantity: if priced { d("10") } else { Decimal::ZERO },
        unit_price: if priced { d("500") } else { Decimal::ZERO },
        vat_rate: vat.map(d),
        discount: None,
        house_work: None,
    };
    Invoice {
        project: None,
        cost_center: None,
        id: "inv-rc".into(),
        customer_id: "c".into(),
        invoice_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        due_date: None,
        currency: None,
        our_reference: None,
        your_reference: None,
        reverse_charge_construction: true,
        tax_reduction: None,
        rows: vec![
            row("Stomresning", true, None),
            row("Omvänd betalningsskyldighet", false, None),
            row("Montage", true, Some("0")),
        ],
        totals: None,
        cancelled: false,
        payment: None,
        credit: None,
        updated_at: None,
    }
}

#[test]
fn every_priced_draft_row_is_reverse_charged_vat_free() {
    let v =
        serde_json::to_value(draft_out(&reverse_invoice(), "CUST", &articles()).unwrap()).unwrap();
    let rows = v["Rows"].as_array().unwrap();
    assert_eq!(rows[0]["ReversedConstructionServicesVatFree"], true, "{v}");
    assert_eq!(rows[1]["IsTextRow"], true);
    assert_eq!(rows[2]["ReversedConstructionServicesVatFree"], true);
    // `CustomerInvoiceDraftApi.ReverseChargeOnConstructionServices` is read-only: never sent.
    assert!(
        v.get("ReverseChargeOnConstructionServices").is_none(),
        "{v}"
    );
    // Without the flag the same rows take the article's rate.
    let mut plain = reverse_invoice();
    plain.reverse_charge_construction = false;
    let p = draft_out(&plain, "CUST", &articles()).unwrap();
    assert!(!p.rows[0].reversed_construction_services_vat_free);
}

#[test]
fn a_draft_round_trip_keeps_the_flag_and_the_content() {
    let i = reverse_invoice();
    let mut v = serde_json::to_value(draft_out(&i, "CUST", &articles()).unwrap()).unwrap();
    v["Id"] = json!("D1");
    v["ReverseChargeOnConstructionServices"] = json!(true);
    let r = draft_in(&parse("draft", v.clone()).unwrap(), &articles()).unwrap();
    assert!(r.record.reverse_charge_construction);
    let mut expect = i.clone();
    expect.customer_id = "CUST".into();
    let mut got = r.record.clone();
    got.id = expect.id.clone();
    assert_eq!(got.content_hash(), expect.content_hash());
    assert_eq!(got.rows[0].vat_rate, Some(Decimal::ZERO));

    v["ReverseChargeOnConstructionServices"] = json!(false);
    let plain = draft_in(&parse("draft", v).unwrap(), &articles()).unwrap();
    assert!(!plain.record.reverse_charge_construction);
}

#[test]
fn a_booked_invoice_reads_reverse_charge_on_construction_services() {
    let v: Value = json!({
        "Id": "I1", "CustomerId": "CUST", "InvoiceDate": "2026-11-02T00:00:00",
        "BuyersOrderReference": "inv-rc", "TotalAmount": 5000.0, "TotalVatAmount": 0.0,
        "ReverseChargeOnConstructionServices": true, "ReversedConstructionVatInvoicing": true,
        "Rows": [{"ArticleId": "A1", "IsTextRow": false, "Text": "Stomresning",
                  "Quantity": 10, "UnitPrice": 500, "IsVatFree": true, "VatRate": 25}]
    });
    let r = invoice_in(&parse("invoice", v.clone()).unwrap(), &articles()).unwrap();
    assert!(r.record.reverse_charge_construction);
    assert_eq!(r.record.rows[0].vat_rate, Some(Decimal::ZERO));
    assert!(r.record.totals.unwrap().vat.is_zero());
    let mut other = v;
    other["ReverseChargeOnConstructionServices"] = json!(false);
    other["ReversedConstructionVatInvoicing"] = json!(false);
    let plain = invoice_in(&parse("invoice", other).unwrap(), &articles()).unwrap();
    assert!(!plain.record.reverse_charge_construction);
}
