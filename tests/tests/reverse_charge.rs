//! Reverse charge on construction services (omvänd betalningsskyldighet inom byggsektorn): the
//! app upserts a reverse-charge customer and invoice; the export leaves them at the provider
//! with its own reverse-charge fields (Fortnox: the customer's `VATType` `SEREVERSEDVAT`, rows
//! at `VAT` 0; Visma: the customer's `ReverseChargeOnConstructionServices`, draft rows'
//! `ReversedConstructionServicesVatFree`, the invoice's read-only
//! `ReverseChargeOnConstructionServices`) and VAT 0; pulls read them back with the flags (our
//! own write is no change; a change at the provider reaches the feed flagged). Bad input is
//! refused by the records API naming the field, and nothing is stored. Every request and answer
//! keeps the providers' contracts.

use chrono::{Duration as Ch, Utc};
use devstack::{Stack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{JobState, ProviderKind};
use std::time::Duration;
use system_tests::{
    assert_contracts_kept, customer_json, invoice_json, sandbox_kind, stack_with, upsert, wait_idle,
};

const T: &str = "tenant-reverse-charge";
const INVOICE: &str = "inv-00000";
/// Calls the sandbox as the company's bookkeeper would.
async fn provider_call(stack: &Stack, id: &str, method: Method, url: String, body: Value) {
    system_tests::provider_call(stack, T, id, method, &url, Some(body)).await;
}

async fn refused(stack: &Stack, id: &str, entity: &str, record: Value, field: &str) {
    system_tests::refused(stack, T, id, entity, record, field).await;
}

/// Pulls `entity` incrementally; the newest feed entry of `our_id` after `cursor`, if any.
async fn pull(
    stack: &Stack,
    id: &str,
    entity: &str,
    our_id: &str,
    cursor: &mut u64,
) -> Option<Value> {
    system_tests::pull_entry(stack, T, id, entity, our_id, cursor).await
}

const WAIT: Duration = Duration::from_secs(120);

/// A company customer set up for reverse charge (needs a VAT number at both providers).
fn reverse_customer() -> Value {
    let mut c = customer_json(0, "", Utc::now());
    c["vat_number"] = json!("SE556000000001");
    c["reverse_charge_construction"] = json!(true);
    c
}

/// A reverse-charge invoice: rows without VAT (absent or 0), and a text row.
fn reverse_invoice(provider: ProviderKind) -> Value {
    let mut i = invoice_json(0, 0, provider);
    i["reverse_charge_construction"] = json!(true);
    let mut priced = i["rows"][0].clone();
    priced.as_object_mut().unwrap().remove("vat_rate");
    let mut zero = i["rows"][0].clone();
    zero["description"] = json!("Montage");
    zero["vat_rate"] = json!("0");
    i["rows"] = json!([priced, {"description": "Omvänd betalningsskyldighet för byggtjänster",
                                "quantity": "0", "unit_price": "0"}, zero]);
    i
}

/// Connects, refuses the bad inputs, upserts the customer and the invoice and exports them.
async fn exported(provider: ProviderKind) -> (Stack, String) {
    let mut opts = StackOptions::default();
    opts.env.insert("PULL_OVERLAP_SECONDS".into(), "5".into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, provider, true).await.unwrap();

    // A reverse-charge customer without a VAT number, and a private person.
    let mut no_vat = reverse_customer();
    no_vat.as_object_mut().unwrap().remove("vat_number");
    refused(&stack, &id, "customers", no_vat, "records[0].vat_number").await;
    let mut private = reverse_customer();
    private["is_private_person"] = json!(true);
    refused(
        &stack,
        &id,
        "customers",
        private,
        "records[0].reverse_charge_construction",
    )
    .await;

    // A plain customer cannot take a reverse-charge invoice; a reverse-charge invoice carries
    // no VAT.
    upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![reverse_customer(), customer_json(1, "", Utc::now())],
    )
    .await;
    let mut to_plain = reverse_invoice(provider);
    to_plain["customer_id"] = json!("cust-00001");
    refused(
        &stack,
        &id,
        "invoices",
        to_plain,
        "records[0].reverse_charge_construction",
    )
    .await;
    let mut with_vat = reverse_invoice(provider);
    with_vat["rows"][2]["vat_rate"] = json!("25");
    refused(
        &stack,
        &id,
        "invoices",
        with_vat,
        "records[0].rows[2].vat_rate",
    )
    .await;

    upsert(&stack, T, &id, "invoices", vec![reverse_invoice(provider)]).await;
    let jobs = wait_idle(&stack, &id, WAIT).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
    let stored = stack
        .direct
        .db
        .local_records(
            &id,
            shared::domain::Entity::Invoices,
            &["inv-00001".to_string()],
        )
        .await
        .unwrap();
    assert!(stored.is_empty(), "a refused record is not stored");
    (stack, id)
}

fn money(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("a number: {other}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverse_charge_invoice_round_trips_through_fortnox() {
    let provider = ProviderKind::Fortnox;
    let (stack, id) = exported(provider).await;
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(provider));
    let customer = stack
        .sandbox
        .state
        .customers(sandbox_kind(provider), &key)
        .into_iter()
        .find(|c| c["ExternalReference"] == "cust-00000")
        .expect("exported");
    assert_eq!(customer["VATType"], "SEREVERSEDVAT", "{customer}");
    let invoice = stack
        .sandbox
        .state
        .invoices(sandbox_kind(provider), &key)
        .into_iter()
        .find(|i| i["ExternalInvoiceReference1"] == INVOICE)
        .expect("exported");
    let rows = invoice["InvoiceRows"].as_array().unwrap();
    assert_eq!(rows[0]["VAT"], 0, "{invoice}");
    assert!(rows[1]["VAT"].is_null(), "a text row: {invoice}");
    assert_eq!(rows[2]["VAT"], 0, "{invoice}");
    assert_eq!(money(&invoice["TotalVAT"]), 0.0, "{invoice}");
    assert_eq!(invoice["CustomerNumber"], customer["CustomerNumber"]);

    // Our own write read back is no change: the flags survived the round trip.
    let (mut customers, mut invoices) = (0, 0);
    assert_eq!(
        pull(&stack, &id, "customers", "cust-00000", &mut customers).await,
        None
    );
    assert_eq!(
        pull(&stack, &id, "invoices", INVOICE, &mut invoices).await,
        None
    );
    // A change at Fortnox reaches the feed, still reverse charged.
    let number = match &invoice["DocumentNumber"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    provider_call(
        &stack,
        &id,
        Method::PUT,
        format!("{}/3/invoices/{number}", stack.sandbox.fortnox_url()),
        json!({"Invoice": {"OurReference": "Bertil Bokförare"}}),
    )
    .await;
    let entry = pull(&stack, &id, "invoices", INVOICE, &mut invoices)
        .await
        .expect("the changed invoice is in the feed");
    let record = &entry["record"];
    assert_eq!(record["reverse_charge_construction"], true, "{entry}");
    assert_eq!(record["our_reference"], "Bertil Bokförare");
    assert_eq!(record["customer_id"], "cust-00000");
    assert_eq!(money(&record["totals"]["vat"]), 0.0, "{entry}");
    assert_eq!(money(&record["rows"][0]["vat_rate"]), 0.0, "{entry}");
    assert_contracts_kept(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverse_charge_invoice_round_trips_through_visma() {
    let provider = ProviderKind::Visma;
    let (stack, id) = exported(provider).await;
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(provider));
    let customer = stack
        .sandbox
        .state
        .customers(sandbox_kind(provider), &key)
        .into_iter()
        .find(|c| c["CustomerNumber"] == "cust-00000")
        .expect("exported");
    assert_eq!(
        customer["ReverseChargeOnConstructionServices"], true,
        "{customer}"
    );
    let invoice = stack
        .sandbox
        .state
        .invoices(sandbox_kind(provider), &key)
        .into_iter()
        .find(|i| i["BuyersOrderReference"] == INVOICE && i.get("RemainingAmount").is_some())
        .expect("exported and converted");
    assert_eq!(
        invoice["ReverseChargeOnConstructionServices"], true,
        "{invoice}"
    );
    assert_eq!(money(&invoice["TotalVatAmount"]), 0.0, "{invoice}");
    let rows = invoice["Rows"].as_array().unwrap();
    assert_eq!(rows[0]["IsVatFree"], true, "{invoice}");
    assert_eq!(rows[2]["IsVatFree"], true, "{invoice}");

    let (mut customers, mut invoices) = (0, 0);
    assert_eq!(
        pull(&stack, &id, "customers", "cust-00000", &mut customers).await,
        None
    );
    assert_eq!(
        pull(&stack, &id, "invoices", INVOICE, &mut invoices).await,
        None
    );
    // A booked Visma invoice cannot be edited; a payment changes it (`ModifiedUtc`).
    let day = (Utc::now() - Ch::days(1)).format("%Y-%m-%d").to_string();
    provider_call(
        &stack,
        &id,
        Method::POST,
        format!(
            "{}/v2/customerinvoices/{}/payments",
            stack.sandbox.visma_url(),
            invoice["Id"].as_str().unwrap()
        ),
        json!({"CompanyBankAccountId": sandbox::visma::BANK_ACCOUNT_ID, "PaymentAmount": 100.0,
               "PaymentCurrency": "SEK", "PaymentType": 1, "PaymentDate": format!("{day}T00:00:00Z")}),
    )
    .await;
    let entry = pull(&stack, &id, "invoices", INVOICE, &mut invoices)
        .await
        .expect("the paid invoice is in the feed");
    let record = &entry["record"];
    assert_eq!(record["reverse_charge_construction"], true, "{entry}");
    assert_eq!(record["customer_id"], "cust-00000");
    assert_eq!(money(&record["totals"]["vat"]), 0.0, "{entry}");
    assert_eq!(money(&record["rows"][0]["vat_rate"]), 0.0, "{entry}");
    assert_contracts_kept(&stack);
}
