//! ROT/RUT complete on both providers: the app upserts a ROT invoice (labour rows of two
//! house-work types, a material row, two buyers with their shares, a property), a RUT
//! invoice and a green technology invoice to a private person; the export leaves them at the provider with its own fields
//! (Fortnox: `TaxReductionType`, rows `HouseWork`/`HouseWorkType`/`HouseWorkHoursToReport`,
//! one `/3/taxreductions` entry per buyer; Visma: `RotReducedInvoicingType`, `RotPropertyType`,
//! `RotReducedInvoicingPropertyName`, `Persons`, rows `WorkCostType`/`WorkHours`/
//! `MaterialCosts`); our own write read back is no change; a changed share updates the
//! provider's entries without duplicating them; a change at the provider reaches the feed
//! with the buyers' shares but without their personal identity numbers. Bad input is refused
//! by the records API naming the field, nothing is stored, and no answer quotes a personal
//! identity number. Every request and answer keeps the providers' contracts.

use chrono::{Duration as Ch, Utc};
use devstack::{Stack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{Entity, JobState, ProviderKind};
use std::time::Duration;
use system_tests::{
    assert_contracts_kept, customer_json, invoice_json, sandbox_kind, stack_with, upsert, wait_idle,
};

const T: &str = "tenant-rot-rut";
const ROT: &str = "inv-00000";
const RUT: &str = "inv-00001";
const GREEN: &str = "inv-00002";
const WAIT: Duration = Duration::from_secs(120);
/// Test personal identity numbers (valid dates and check digits).
const ANNA: &str = "19121212-1212";
const BO: &str = "199001011239";
const CECILIA: &str = "19850709-9805";

/// Calls the sandbox as the company's bookkeeper would.
async fn provider_call(stack: &Stack, id: &str, method: Method, url: String, body: Value) {
    system_tests::provider_call(stack, T, id, method, &url, Some(body)).await;
}

/// Pulls invoices incrementally; the newest feed entry of `our_id` after `cursor`, if any.
async fn pull(stack: &Stack, id: &str, our_id: &str, cursor: &mut u64) -> Option<Value> {
    system_tests::pull_entry(stack, T, id, "invoices", our_id, cursor).await
}

/// A private person (ROT/RUT is for private persons).
fn private_customer() -> Value {
    let mut c = customer_json(0, "", Utc::now());
    c["name"] = json!("Anna Svensson");
    c["is_private_person"] = json!(true);
    c.as_object_mut().unwrap().remove("organisation_number");
    c
}

fn row(
    provider: ProviderKind,
    text: &str,
    quantity: &str,
    price: &str,
    house_work: Value,
) -> Value {
    let mut r = invoice_json(0, 0, provider)["rows"][0].clone();
    r["description"] = json!(text);
    r["quantity"] = json!(quantity);
    r["unit_price"] = json!(price);
    r["house_work"] = house_work;
    r
}

/// A ROT invoice: electrical and painting labour, material, two buyers and a property.
fn rot_invoice(provider: ProviderKind) -> Value {
    let mut i = invoice_json(0, 0, provider);
    i["rows"] = json!([
        row(
            provider,
            "Elarbete",
            "10",
            "600",
            json!({"kind": "rot", "hours": "10",
            "amount": "2250", "work_type": "electricity"})
        ),
        row(
            provider,
            "Målning",
            "4",
            "500",
            json!({"kind": "rot", "hours": "4",
            "amount": "750", "work_type": "painting_wallpapering"})
        ),
        row(
            provider,
            "Kabel och dosor",
            "1",
            "1200",
            json!({"kind": "rot", "material": true,
            "work_type": "electricity"})
        ),
    ]);
    i["tax_reduction"] = json!({
        "kind": "rot",
        "buyers": [{"personal_identity_number": ANNA, "amount": "2000"},
                   {"personal_identity_number": BO, "amount": "1000"}],
        "property": {"designation": "Stockholm Vasastaden 1:2"}
    });
    i
}

/// A RUT invoice: cleaning for one buyer.
fn rut_invoice(provider: ProviderKind) -> Value {
    let mut i = invoice_json(1, 0, provider);
    i["rows"] = json!([row(
        provider,
        "Storstädning",
        "5",
        "400",
        json!({"kind": "rut",
        "hours": "5", "amount": "1250", "work_type": "cleaning"})
    )]);
    i["tax_reduction"] = json!({
        "kind": "rut",
        "buyers": [{"personal_identity_number": CECILIA, "amount": "1250"}]
    });
    i
}

/// A green technology invoice: solar cells and a charging point for one buyer.
fn green_invoice(provider: ProviderKind) -> Value {
    let mut i = invoice_json(2, 0, provider);
    i["rows"] = json!([
        row(
            provider,
            "Solceller, installation",
            "20",
            "700",
            json!({"kind": "green",
            "hours": "20", "amount": "4000", "work_type": "solar_cells"})
        ),
        row(
            provider,
            "Laddbox, installation",
            "4",
            "700",
            json!({"kind": "green",
            "hours": "4", "amount": "1000", "work_type": "charging_station_electric_vehicle"})
        ),
    ]);
    i["tax_reduction"] = json!({
        "kind": "green",
        "buyers": [{"personal_identity_number": ANNA, "amount": "5000"}],
        "property": {"designation": "Uppsala Kåbo 3:14"}
    });
    i
}

/// Upserts and expects a refusal naming `field`, quoting no personal identity number.
async fn refused(stack: &Stack, id: &str, record: Value, field: &str) {
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/records/invoices"),
            Some(T),
            Some(json!({ "records": [record] })),
        )
        .await
        .unwrap();
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "{}",
        r.text
    );
    assert_eq!(r.json["field"], field, "{}", r.text);
    for pin in [ANNA, BO, CECILIA, "19121212-1213"] {
        assert!(
            !r.text.contains(&pin[2..8]),
            "a personal identity number in {}",
            r.text
        );
    }
}

async fn all_succeeded(stack: &Stack, id: &str) {
    let jobs = wait_idle(stack, id, WAIT).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
}

/// Connects, refuses the bad inputs, upserts the customers and both invoices and exports them.
async fn exported(provider: ProviderKind) -> (Stack, String) {
    let mut opts = StackOptions::default();
    opts.env.insert("PULL_OVERLAP_SECONDS".into(), "5".into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, provider, true).await.unwrap();
    upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![private_customer(), customer_json(1, "", Utc::now())],
    )
    .await;
    all_succeeded(&stack, &id).await;

    let mut bad_pin = rot_invoice(provider);
    bad_pin["id"] = json!("inv-bad-1");
    bad_pin["tax_reduction"]["buyers"][1]["personal_identity_number"] = json!("19121212-1213");
    refused(
        &stack,
        &id,
        bad_pin,
        "records[0].tax_reduction.buyers[1].personal_identity_number",
    )
    .await;
    let mut shares = rot_invoice(provider);
    shares["id"] = json!("inv-bad-2");
    shares["tax_reduction"]["buyers"][1]["amount"] = json!("1500");
    refused(&stack, &id, shares, "records[0].tax_reduction.buyers").await;
    let mut company = rot_invoice(provider);
    company["id"] = json!("inv-bad-3");
    company["customer_id"] = json!("cust-00001");
    refused(&stack, &id, company, "records[0].rows[0].house_work").await;
    let mut mixed = rot_invoice(provider);
    mixed["id"] = json!("inv-bad-4");
    mixed["rows"][1]["house_work"] = json!({"kind": "rut", "hours": "4", "amount": "750"});
    refused(&stack, &id, mixed, "records[0].rows[1].house_work.kind").await;
    let mut unknown = rot_invoice(provider);
    unknown["id"] = json!("inv-bad-5");
    unknown["rows"][0]["house_work"]["work_type"] = json!("RotHeatPump");
    refused(
        &stack,
        &id,
        unknown,
        "records[0].rows[0].house_work.work_type",
    )
    .await;
    let bad: Vec<String> = (1..=5).map(|n| format!("inv-bad-{n}")).collect();
    let stored = stack
        .direct
        .db
        .local_records(&id, Entity::Invoices, &bad)
        .await
        .unwrap();
    assert!(stored.is_empty(), "a refused record is not stored");

    upsert(
        &stack,
        T,
        &id,
        "invoices",
        vec![
            rot_invoice(provider),
            rut_invoice(provider),
            green_invoice(provider),
        ],
    )
    .await;
    all_succeeded(&stack, &id).await;
    (stack, id)
}

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("a number: {other}")),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A pulled invoice's feed entry: the shares, no personal identity numbers.
fn fed_without_numbers(entry: &Value) {
    let body = entry.to_string();
    for pin in [ANNA, BO] {
        assert!(!body.contains(&pin[2..8]), "{body}");
    }
    let t = &entry["record"]["tax_reduction"];
    assert_eq!(t["kind"], "rot", "{entry}");
    let mut shares: Vec<f64> = t["buyers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert!(b.get("personal_identity_number").is_none(), "{entry}");
            number(&b["amount"])
        })
        .collect();
    shares.sort_by(f64::total_cmp);
    assert_eq!(shares, [900.0, 2100.0], "{entry}");
    assert_eq!(
        t["property"]["designation"], "Stockholm Vasastaden 1:2",
        "{entry}"
    );
    let rows = entry["record"]["rows"].as_array().unwrap();
    assert_eq!(rows[0]["house_work"]["work_type"], "electricity", "{entry}");
    assert_eq!(
        rows[1]["house_work"]["work_type"], "painting_wallpapering",
        "{entry}"
    );
    assert_eq!(rows[2]["house_work"]["material"], true, "{entry}");
}

/// The ROT invoice with the buyers' shares changed (2100 and 900).
fn reshared(provider: ProviderKind) -> Value {
    let mut i = rot_invoice(provider);
    i["tax_reduction"]["buyers"][0]["amount"] = json!("2100");
    i["tax_reduction"]["buyers"][1]["amount"] = json!("900");
    i
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rot_and_rut_invoices_round_trip_through_fortnox() {
    let provider = ProviderKind::Fortnox;
    let (stack, id) = exported(provider).await;
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(provider));
    let invoices = stack.sandbox.state.invoices(sandbox_kind(provider), &key);
    let find = |our: &str| {
        invoices
            .iter()
            .find(|i| i["ExternalInvoiceReference1"] == our)
            .cloned()
            .expect("exported")
    };
    let (rot, rut) = (find(ROT), find(RUT));
    assert_eq!(rot["TaxReductionType"], "rot", "{rot}");
    let rows = rot["InvoiceRows"].as_array().unwrap();
    assert_eq!(rows[0]["HouseWork"], true, "{rot}");
    assert_eq!(rows[0]["HouseWorkType"], "ELECTRICITY", "{rot}");
    assert_eq!(number(&rows[0]["HouseWorkHoursToReport"]), 10.0, "{rot}");
    assert_eq!(rows[1]["HouseWorkType"], "PAINTINGWALLPAPERING", "{rot}");
    assert_eq!(rows[2]["HouseWork"], false, "material: {rot}");
    assert_eq!(rows[2]["HouseWorkType"], "ELECTRICITY", "{rot}");
    assert_eq!(rut["TaxReductionType"], "rut", "{rut}");
    let green = find(GREEN);
    assert_eq!(green["TaxReductionType"], "green", "{green}");
    assert_eq!(
        green["InvoiceRows"][0]["HouseWorkType"], "SOLARCELLS",
        "{green}"
    );
    assert_eq!(
        green["InvoiceRows"][1]["HouseWorkType"], "CHARGINGSTATIONELECTRICVEHICLE",
        "{green}"
    );
    assert_eq!(rut["InvoiceRows"][0]["HouseWorkType"], "CLEANING", "{rut}");

    let reductions = stack.sandbox.state.fortnox_tax_reductions(&key);
    let of = |inv: &Value| -> Vec<Value> {
        reductions
            .iter()
            .filter(|r| text(&r["ReferenceNumber"]) == text(&inv["DocumentNumber"]))
            .cloned()
            .collect()
    };
    let on_rot = of(&rot);
    assert_eq!(on_rot.len(), 2, "{reductions:?}");
    assert_eq!(on_rot[0]["SocialSecurityNumber"], ANNA);
    assert_eq!(number(&on_rot[0]["AskedAmount"]), 2000.0);
    assert_eq!(on_rot[0]["PropertyDesignation"], "Stockholm Vasastaden 1:2");
    assert_eq!(on_rot[0]["ReferenceDocumentType"], "INVOICE");
    assert_eq!(on_rot[1]["SocialSecurityNumber"], "19900101-1239");
    assert_eq!(number(&on_rot[1]["AskedAmount"]), 1000.0);
    let on_rut = of(&rut);
    assert_eq!(on_rut.len(), 1, "{reductions:?}");
    assert_eq!(on_rut[0]["TypeOfReduction"], "rut");
    assert!(on_rut[0].get("PropertyDesignation").is_none(), "{on_rut:?}");
    let on_green = of(&green);
    assert_eq!(on_green.len(), 1, "{reductions:?}");
    assert_eq!(number(&on_green[0]["AskedAmount"]), 5000.0, "{on_green:?}");
    assert_eq!(
        on_green[0]["TaxReductionAmounts"],
        json!([{"AskedAmount": 4000, "WorkType": "SOLARCELLS"},
               {"AskedAmount": 1000, "WorkType": "CHARGINGSTATIONELECTRICVEHICLE"}]),
        "{on_green:?}"
    );
    assert_eq!(on_green[0]["PropertyDesignation"], "Uppsala Kåbo 3:14");

    // Our own write read back is no change.
    let mut cursor = 0;
    assert_eq!(pull(&stack, &id, ROT, &mut cursor).await, None);
    assert_eq!(pull(&stack, &id, GREEN, &mut cursor).await, None);

    // New shares update the two entries in place: no buyer twice.
    upsert(&stack, T, &id, "invoices", vec![reshared(provider)]).await;
    all_succeeded(&stack, &id).await;
    let on_rot = stack
        .sandbox
        .state
        .fortnox_tax_reductions(&key)
        .into_iter()
        .filter(|r| text(&r["ReferenceNumber"]) == text(&rot["DocumentNumber"]))
        .collect::<Vec<_>>();
    assert_eq!(on_rot.len(), 2, "{on_rot:?}");
    assert_eq!(number(&on_rot[0]["AskedAmount"]), 2100.0);
    assert_eq!(number(&on_rot[1]["AskedAmount"]), 900.0);
    assert_eq!(pull(&stack, &id, ROT, &mut cursor).await, None);

    // A change at Fortnox reaches the feed with the shares, without the numbers.
    provider_call(
        &stack,
        &id,
        Method::PUT,
        format!(
            "{}/3/invoices/{}",
            stack.sandbox.fortnox_url(),
            text(&rot["DocumentNumber"])
        ),
        json!({"Invoice": {"OurReference": "Bertil Bokförare"}}),
    )
    .await;
    let entry = pull(&stack, &id, ROT, &mut cursor)
        .await
        .expect("the changed invoice is in the feed");
    assert_eq!(entry["record"]["our_reference"], "Bertil Bokförare");
    fed_without_numbers(&entry);
    assert_contracts_kept(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rot_and_rut_invoices_round_trip_through_visma() {
    let provider = ProviderKind::Visma;
    let (stack, id) = exported(provider).await;
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(provider));
    let invoices = stack.sandbox.state.invoices(sandbox_kind(provider), &key);
    let find = |our: &str| {
        invoices
            .iter()
            .find(|i| i["BuyersOrderReference"] == our && i.get("RemainingAmount").is_some())
            .cloned()
            .expect("exported and converted")
    };
    let (rot, rut) = (find(ROT), find(RUT));
    assert_eq!(rot["RotReducedInvoicingType"], 1, "{rot}");
    assert_eq!(rot["RotPropertyType"], 2, "{rot}");
    assert_eq!(
        rot["RotReducedInvoicingPropertyName"], "Stockholm Vasastaden 1:2",
        "{rot}"
    );
    let persons = rot["Persons"].as_array().expect("Persons");
    assert_eq!(persons.len(), 2, "{rot}");
    assert_eq!(persons[0]["Ssn"], ANNA);
    assert_eq!(number(&persons[0]["Amount"]), 2000.0);
    assert_eq!(persons[1]["Ssn"], "19900101-1239");
    let rows = rot["Rows"].as_array().unwrap();
    assert_eq!(rows[0]["WorkCostType"], 2, "RotElectricalWork: {rot}");
    assert_eq!(rows[0]["IsWorkCost"], true, "{rot}");
    assert_eq!(number(&rows[0]["WorkHours"]), 10.0, "{rot}");
    assert_eq!(rows[1]["WorkCostType"], 6, "RotPaintDecorateWork: {rot}");
    assert_eq!(rows[2]["IsWorkCost"], false, "material: {rot}");
    assert_eq!(number(&rows[2]["MaterialCosts"]), 1200.0, "{rot}");
    assert_eq!(rut["RotReducedInvoicingType"], 2, "{rut}");
    assert_eq!(rut["Rows"][0]["WorkCostType"], 9, "RutCleanJobWork: {rut}");
    assert!(rut["RotPropertyType"].is_null(), "{rut}");
    assert_eq!(rut["Persons"][0]["Ssn"], CECILIA);
    let green = find(GREEN);
    assert_eq!(green["UsesGreenTechnology"], true, "{green}");
    assert_eq!(green["RotReducedInvoicingType"], 0, "{green}");
    assert_eq!(green["Rows"][0]["GreenTechnologyType"], 1, "{green}");
    assert_eq!(green["Rows"][1]["GreenTechnologyType"], 3, "{green}");
    assert_eq!(green["Rows"][0]["IsWorkCost"], true, "{green}");
    assert_eq!(green["RotPropertyType"], 2, "{green}");
    assert_eq!(green["Persons"][0]["Ssn"], ANNA);

    let mut cursor = 0;
    assert_eq!(pull(&stack, &id, ROT, &mut cursor).await, None);
    assert_eq!(pull(&stack, &id, RUT, &mut cursor).await, None);
    assert_eq!(pull(&stack, &id, GREEN, &mut cursor).await, None);

    // A booked Visma invoice cannot be edited; a payment changes it (`ModifiedUtc`).
    let day = (Utc::now() - Ch::days(1)).format("%Y-%m-%d").to_string();
    provider_call(
        &stack,
        &id,
        Method::POST,
        format!(
            "{}/v2/customerinvoices/{}/payments",
            stack.sandbox.visma_url(),
            rot["Id"].as_str().unwrap()
        ),
        json!({"CompanyBankAccountId": sandbox::visma::BANK_ACCOUNT_ID, "PaymentAmount": 100.0,
               "PaymentCurrency": "SEK", "PaymentType": 1, "PaymentDate": format!("{day}T00:00:00Z")}),
    )
    .await;
    let entry = pull(&stack, &id, ROT, &mut cursor)
        .await
        .expect("the paid invoice is in the feed");
    let body = entry.to_string();
    for pin in [ANNA, BO] {
        assert!(!body.contains(&pin[2..8]), "{body}");
    }
    let t = &entry["record"]["tax_reduction"];
    assert_eq!(t["buyers"].as_array().unwrap().len(), 2, "{entry}");
    assert!(t["buyers"][0].get("personal_identity_number").is_none());
    assert_eq!(number(&t["buyers"][0]["amount"]), 2000.0, "{entry}");
    assert_eq!(t["property"]["designation"], "Stockholm Vasastaden 1:2");
    let rows = entry["record"]["rows"].as_array().unwrap();
    assert_eq!(rows[0]["house_work"]["work_type"], "electricity", "{entry}");
    assert_eq!(rows[2]["house_work"]["material"], true, "{entry}");
    assert_contracts_kept(&stack);
}
