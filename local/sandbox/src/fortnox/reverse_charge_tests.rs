//! An invoice to a customer with `VATType` `SEREVERSEDVAT`: rows without their own `VAT` get 0.

use super::*;

#[test]
fn rows_without_their_own_vat_get_0_for_a_reverse_charge_customer() {
    let rows = json!([
        {"Description": "Stomresning", "AccountNumber": 3001, "DeliveredQuantity": "1", "Price": 100},
        {"Description": "Material", "AccountNumber": 3001, "VAT": 25, "DeliveredQuantity": "1", "Price": 100},
        {"Description": "Text", "VAT": null}
    ]);
    let out = reverse_charge_rows(&rows, true);
    assert_eq!(out[0]["VAT"], 0);
    assert_eq!(out[1]["VAT"], 25, "a row's own VAT is kept");
    assert_eq!(
        out[2]["VAT"], 0,
        "dropped again for a text row by build_rows"
    );
    assert_eq!(reverse_charge_rows(&rows, false), rows);
    let built = build_rows(&[], &out).unwrap();
    assert_eq!(built[0]["VAT"], 0);
    assert!(built[2].get("VAT").is_none());
    let mut customer = Map::new();
    customer.insert("VATType".into(), json!("SEREVERSEDVAT"));
    assert!(is_reverse_charged(&customer));
    customer.insert("VATType".into(), json!("SEVAT"));
    assert!(!is_reverse_charged(&customer));
}
