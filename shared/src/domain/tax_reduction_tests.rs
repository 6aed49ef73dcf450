use super::*;
use serde_json::json;

fn invoice(tax: Value) -> Invoice {
    serde_json::from_value(json!({
        "id": "i-1", "customer_id": "c-1", "invoice_date": "2026-11-30",
        "rows": [
            {"description": "Målning", "article_number": "ARB", "quantity": "10",
             "unit_price": "500", "house_work": {"kind": "rot", "hours": "10", "amount": "1500",
             "work_type": "painting_wallpapering"}},
            {"description": "Färg", "article_number": "MAT", "quantity": "1",
             "unit_price": "800", "house_work": {"kind": "rot", "material": true,
             "work_type": "painting_wallpapering"}}
        ],
        "tax_reduction": tax
    }))
    .unwrap()
}

const ANNA: &str = "19121212-1212";

fn two_buyers() -> Value {
    json!({"kind": "rot", "buyers": [
        {"personal_identity_number": "19121212-1212", "amount": "1000"},
        {"personal_identity_number": "199001011239", "amount": "500"}],
      "property": {"designation": "Stockholm Vasastaden 1:2"}})
}

const ROOMY: crate::domain::invoice::InvoiceLimits = crate::domain::invoice::InvoiceLimits {
    project: 20,
    cost_center: 20,
    reference: 1000,
    description: 1000,
    article_number: 1000,
    needs_article_or_account: false,
    needs_article: false,
};

fn fields(i: &Invoice) -> Vec<String> {
    i.validate(&ROOMY)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn personal_identity_numbers_are_checked_for_format_date_and_check_digit() {
    let ok = |s: &str| PersonalIdentityNumber::new(s).digits();
    assert_eq!(ok("19121212-1212").unwrap(), "191212121212");
    assert_eq!(ok("191212121212").unwrap(), "191212121212");
    assert!(ok("19121212-1213").unwrap_err().contains("check digit"));
    assert!(ok("19121312-1212").unwrap_err().contains("birth date"));
    assert!(ok("121212-1212").is_err(), "ten digits are ambiguous");
    assert!(ok("19121212+1212").is_err());
    assert!(ok("1912121a-1212").is_err());
    // A coordination number: day + 60.
    let coord = {
        let nine = "121272121";
        let c = (0..10).find(|c| luhn(&format!("{nine}{c}"))).unwrap();
        format!("19{}{c}", nine)
    };
    assert!(ok(&coord).is_ok(), "{coord}");
}

#[test]
fn a_personal_identity_number_never_shows_in_debug_or_errors() {
    let p = PersonalIdentityNumber::new("19121212-1213");
    assert_eq!(format!("{p:?}"), "PersonalIdentityNumber(***)");
    assert_eq!(format!("{p}"), "***");
    let mut t = two_buyers();
    t["buyers"][0]["personal_identity_number"] = json!("19121212-1213");
    let errs = invoice(t).validate(&ROOMY).unwrap_err();
    let text = format!("{errs:?}");
    assert!(!text.contains("1212"), "{text}");
    assert_eq!(
        errs[0].field,
        "tax_reduction.buyers[0].personal_identity_number"
    );
}

#[test]
fn two_buyers_and_a_property_are_accepted() {
    assert_eq!(fields(&invoice(two_buyers())), Vec::<String>::new());
}

#[test]
fn shares_must_add_up_to_the_rows_reduction() {
    let mut t = two_buyers();
    t["buyers"][1]["amount"] = json!("600");
    assert_eq!(fields(&invoice(t)), ["tax_reduction.buyers"]);
    let mut t = two_buyers();
    t["buyers"][1]["amount"] = json!("499.50");
    assert!(fields(&invoice(t)).contains(&"tax_reduction.buyers[1].amount".to_string()));
}

#[test]
fn the_same_buyer_twice_a_wrong_kind_and_a_missing_property_are_refused() {
    let mut t = two_buyers();
    t["buyers"][1]["personal_identity_number"] = json!("191212121212");
    t["buyers"][1]["amount"] = json!("500");
    assert_eq!(
        fields(&invoice(t)),
        ["tax_reduction.buyers[1].personal_identity_number"]
    );
    let mut t = two_buyers();
    t["kind"] = json!("rut");
    let f = fields(&invoice(t));
    assert!(f.contains(&"tax_reduction.kind".to_string()), "{f:?}");
    let mut t = two_buyers();
    t["property"] = Value::Null;
    assert_eq!(fields(&invoice(t)), ["tax_reduction.property"]);
    let mut t = two_buyers();
    t["property"] = json!({"housing_cooperative_org_number": "769600-1235", "apartment": "1101"});
    assert_eq!(
        fields(&invoice(t)),
        ["tax_reduction.property.housing_cooperative_org_number"]
    );
    let mut t = two_buyers();
    t["property"] = json!({"housing_cooperative_org_number": "769600-1234", "apartment": "1101"});
    assert_eq!(fields(&invoice(t)), Vec::<String>::new());
}

#[test]
fn unknown_or_foreign_work_types_and_hours_on_material_are_refused() {
    let mut i = invoice(two_buyers());
    i.rows[0].house_work.as_mut().unwrap().work_type = Some("teleportation".into());
    assert_eq!(fields(&i), ["rows[0].house_work.work_type"]);
    i.rows[0].house_work.as_mut().unwrap().work_type = Some("cleaning".into());
    assert_eq!(fields(&i), ["rows[0].house_work.work_type"]);
    let mut i = invoice(two_buyers());
    i.rows[1].house_work.as_mut().unwrap().hours = Some(Decimal::from(2));
    assert_eq!(fields(&i), ["rows[1].house_work.hours"]);
}

#[test]
fn the_hash_reads_numbers_by_digits_buyers_in_any_order_and_feeds_without_numbers() {
    let a = invoice(two_buyers());
    let mut b = a.clone();
    let t = b.tax_reduction.as_mut().unwrap();
    t.buyers.swap(0, 1);
    t.buyers[0].personal_identity_number = Some(PersonalIdentityNumber::new("19900101-1239"));
    assert_eq!(a.content_hash(), b.content_hash());
    let fed = a.clone().without_personal_numbers();
    assert_ne!(fed.content_hash(), a.content_hash());
    let text = serde_json::to_string(&fed).unwrap();
    assert!(!text.contains("personal_identity_number"), "{text}");
    assert!(text.contains(r#""amount":"1000""#), "{text}");
    let mut plain = a.clone();
    plain.tax_reduction = None;
    assert_ne!(plain.content_hash(), a.content_hash());
}

#[test]
fn default_work_types_and_labour_keep_old_hashes() {
    let mut i = invoice(Value::Null);
    i.rows[1].house_work = None;
    let h = i.rows[0].house_work.as_mut().unwrap();
    h.work_type = None;
    let before = i.content_hash();
    i.rows[0].house_work.as_mut().unwrap().work_type = Some("construction".into());
    assert_eq!(i.content_hash(), before);
}

#[test]
fn green_technology_takes_green_types_and_a_property() {
    let mut i = invoice(json!({"kind": "green", "buyers": [
        {"personal_identity_number": ANNA, "amount": "1500"}],
        "property": {"designation": "Uppsala Kåbo 3:14"}}));
    for r in &mut i.rows {
        let h = r.house_work.as_mut().unwrap();
        h.kind = HouseWorkKind::Green;
        h.work_type = Some("solar_cells".into());
    }
    assert_eq!(fields(&i), Vec::<String>::new());
    i.rows[0].house_work.as_mut().unwrap().work_type = Some("electricity".into());
    assert_eq!(fields(&i), ["rows[0].house_work.work_type"]);
    i.rows[0].house_work.as_mut().unwrap().work_type = None;
    i.tax_reduction.as_mut().unwrap().property = None;
    assert_eq!(fields(&i), ["tax_reduction.property"]);
    assert_eq!(
        default_work_type(HouseWorkKind::Green).fortnox,
        "SOLARCELLS"
    );
    assert_eq!(by_visma(1).unwrap().name, "construction");
    assert_eq!(by_visma_green(1).unwrap().name, "solar_cells");
}
