//! Reverse charge on construction services on the canonical invoice: validation, hashing and
//! the stored form.

use super::tests::{d, sample};
use super::*;

const ROOMY: InvoiceLimits = InvoiceLimits {
    project: 20,
    cost_center: 20,
    reference: 1000,
    description: 1000,
    article_number: 1000,
    needs_article_or_account: false,
    needs_article: false,
};

fn reverse() -> Invoice {
    let mut i = sample();
    i.reverse_charge_construction = true;
    for r in &mut i.rows {
        r.vat_rate = None;
        r.house_work = None;
    }
    i.rows[1].vat_rate = Some(d("0"));
    i
}

#[test]
fn a_reverse_charge_invoice_with_vat_on_a_row_is_refused_naming_the_row() {
    assert_eq!(reverse().validate(&ROOMY), Ok(()), "absent or 0 is fine");
    let mut i = reverse();
    i.rows[1].vat_rate = Some(d("25"));
    let errs = i.validate(&ROOMY).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "rows[1].vat_rate");
    assert!(errs[0].message.contains("reverse_charge_construction"));
    // The same rows without the flag are an ordinary invoice.
    i.reverse_charge_construction = false;
    assert_eq!(i.validate(&ROOMY), Ok(()));
}

#[test]
fn the_flag_is_content_and_absent_equals_zero_on_its_rows() {
    let plain = {
        let mut i = reverse();
        i.reverse_charge_construction = false;
        i
    };
    let r = reverse();
    assert_ne!(
        plain.content_hash(),
        r.content_hash(),
        "the flag is a change"
    );
    let mut read_back = reverse();
    for row in &mut read_back.rows {
        row.vat_rate = Some(d("0"));
    }
    assert_eq!(r.content_hash(), read_back.content_hash());
    assert!(r.computed_totals().vat.is_zero());
}

#[test]
fn records_stored_before_the_flag_read_and_hash_as_before() {
    let old = json!({"id":"i","customer_id":"c","invoice_date":"2026-11-01",
        "rows":[{"description":"a","quantity":"2","unit_price":"10","vat_rate":"25"}]});
    let i: Invoice = serde_json::from_value(old).unwrap();
    assert!(!i.reverse_charge_construction);
    let text = serde_json::to_string(&reverse()).unwrap();
    assert!(
        text.contains(r#""reverse_charge_construction":true"#),
        "{text}"
    );
}

#[test]
fn house_work_on_a_reverse_charge_invoice_is_refused_naming_the_row() {
    let mut i = reverse();
    i.rows[0].house_work = Some(HouseWork {
        kind: HouseWorkKind::Rot,
        hours: None,
        amount: None,
        work_type: None,
        material: false,
    });
    let errs = i.validate(&ROOMY).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "rows[0].house_work");
}
