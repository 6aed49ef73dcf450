//! Reverse charge on construction services, Fortnox: written as `VAT` 0 on every priced row,
//! read from the customer's `VATType` `SEREVERSEDVAT`.

use super::*;
use crate::providers::fortnox::wire::InvoiceWrap;
use chrono::NaiveDate;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn row(description: &str, account: Option<u32>, vat: Option<&str>) -> InvoiceRow {
    InvoiceRow {
        project: None,
        cost_center: None,
        description: description.into(),
        article_number: None,
        account_number: account,
        quantity: d(if account.is_some() { "10" } else { "0" }),
        unit_price: d(if account.is_some() { "500" } else { "0" }),
        vat_rate: vat.map(d),
        discount: None,
        house_work: None,
    }
}

fn reverse_invoice() -> Invoice {
    Invoice {
        project: None,
        cost_center: None,
        id: "inv-rc".into(),
        customer_id: "cust-rc".into(),
        invoice_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        due_date: NaiveDate::from_ymd_opt(2026, 12, 2),
        currency: Some("SEK".into()),
        our_reference: None,
        your_reference: None,
        reverse_charge_construction: true,
        tax_reduction: None,
        rows: vec![
            row("Stomresning", Some(3001), None),
            row("Omvänd betalningsskyldighet", None, None),
            row("Montage", Some(3001), Some("0")),
        ],
        totals: None,
        cancelled: false,
        payment: None,
        credit: None,
        updated_at: None,
    }
}

#[test]
fn every_priced_row_is_written_with_vat_0_and_a_text_row_without_vat() {
    let body = serde_json::to_value(InvoiceWrap {
        invoice: &invoice_out(&reverse_invoice(), "17", WriteMode::Create).unwrap(),
    })
    .unwrap();
    let rows = body["Invoice"]["InvoiceRows"].as_array().unwrap();
    assert_eq!(rows[0]["VAT"], 0, "{body}");
    assert!(rows[1].get("VAT").is_none(), "a text row: {body}");
    assert_eq!(rows[2]["VAT"], 0);
    // `fortnox_Kf_InvoiceSinglePayloadItem` has no reverse-charge field: nothing else is sent.
    let keys: Vec<&String> = body["Invoice"].as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| !k.to_ascii_lowercase().contains("revers")),
        "{keys:?}"
    );
}

#[test]
fn a_read_invoice_is_reverse_charged_by_its_customers_vat_type() {
    let i = reverse_invoice();
    let text = serde_json::to_string(&invoice_out(&i, "17", WriteMode::Create).unwrap()).unwrap();
    let mut back: InvoiceIn = serde_json::from_str(&text).unwrap();
    back.document_number = Some("1001".into());
    back.total = Some(d("10000"));
    back.total_vat = Some(d("0"));
    let read = invoice_in(&back).unwrap().record;
    assert!(!read.reverse_charge_construction, "not on the invoice");
    assert!(may_be_reverse_charged(&read));

    let flagged = with_reverse_charge(read.clone(), Some("SEREVERSEDVAT"));
    assert!(flagged.reverse_charge_construction);
    let mut expect = i.clone();
    expect.customer_id = "17".into();
    assert_eq!(
        flagged.content_hash(),
        expect.content_hash(),
        "a round trip is no change"
    );
    for other in [Some("SEVAT"), Some("EUREVERSEDVAT"), None] {
        assert!(!with_reverse_charge(read.clone(), other).reverse_charge_construction);
    }
}

#[test]
fn an_invoice_with_vat_is_never_reverse_charged_and_costs_no_customer_read() {
    let mut i = reverse_invoice();
    i.reverse_charge_construction = false;
    i.rows[0].vat_rate = Some(d("25"));
    assert!(!may_be_reverse_charged(&i));
    assert!(!with_reverse_charge(i, Some("SEREVERSEDVAT")).reverse_charge_construction);
    let mut text_only = reverse_invoice();
    text_only.rows = vec![row("Bara text", None, None)];
    assert!(!may_be_reverse_charged(&text_only));
}
