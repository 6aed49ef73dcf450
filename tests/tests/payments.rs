//! Paid or not: an exported invoice is paid at the provider (a partial payment, then the rest,
//! registered through the provider's own payment API at the sandbox), and each incremental
//! pull puts it in the app's change feed as changed, with its balance, paid flag, paid date
//! and payments. Every request and answer keeps the providers' contracts.

use chrono::{Duration as Ch, Utc};
use devstack::{Stack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{JobState, ProviderKind};
use std::time::Duration;
use system_tests::{
    assert_contracts_kept, customer_json, invoice_json, sandbox_kind, stack_with, upsert, wait_idle,
};

const T: &str = "tenant-payments";
const INVOICE: &str = "inv-00000";
const WAIT: Duration = Duration::from_secs(120);

/// Calls the sandbox as the company's bookkeeper would; gives the answer.
async fn provider_call(
    stack: &Stack,
    id: &str,
    method: Method,
    url: String,
    body: Option<Value>,
) -> Value {
    system_tests::provider_call(stack, T, id, method, &url, body).await
}

/// Pulls incrementally; the newest feed entry of our invoice after `cursor`, if any.
async fn pull(stack: &Stack, id: &str, cursor: &mut u64) -> Option<Value> {
    system_tests::pull_entry(stack, T, id, "invoices", INVOICE, cursor).await
}

/// Pulls incrementally and gives the newest feed entry of our invoice after `cursor`.
async fn pull_and_read(stack: &Stack, id: &str, cursor: &mut u64) -> Value {
    pull(stack, id, cursor)
        .await
        .expect("the paid invoice is in the feed as changed")
}

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
        vec![customer_json(0, "", Utc::now())],
    )
    .await;
    upsert(
        &stack,
        T,
        &id,
        "invoices",
        vec![invoice_json(0, 0, provider)],
    )
    .await;
    let jobs = wait_idle(&stack, &id, WAIT).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
    (stack, id)
}

fn day(days_ago: i64) -> String {
    (Utc::now() - Ch::days(days_ago))
        .format("%Y-%m-%d")
        .to_string()
}

fn payment(entry: &Value) -> &Value {
    &entry["record"]["payment"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fortnox_payment_reaches_the_feed() {
    let (stack, id) = exported(ProviderKind::Fortnox).await;
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(ProviderKind::Fortnox));
    let at_fortnox = stack
        .sandbox
        .state
        .invoices(sandbox_kind(ProviderKind::Fortnox), &key)
        .into_iter()
        .find(|i| i["ExternalInvoiceReference1"] == INVOICE)
        .expect("exported");
    let number = match &at_fortnox["DocumentNumber"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let api = stack.sandbox.fortnox_url();
    let mut cursor = 0;
    // The first pull reads our own write back, unpaid: nothing for the feed.
    assert_eq!(pull(&stack, &id, &mut cursor).await, None);
    let total = at_fortnox["Total"].as_f64().unwrap();
    assert!(total > 1000.0, "{at_fortnox}");

    // Payments need a booked invoice at Fortnox.
    provider_call(
        &stack,
        &id,
        Method::PUT,
        format!("{api}/3/invoices/{number}/bookkeep"),
        None,
    )
    .await;
    let partial = provider_call(
        &stack,
        &id,
        Method::POST,
        format!("{api}/3/invoicepayments"),
        Some(json!({"InvoicePayment": {"InvoiceNumber": number.parse::<i64>().unwrap(), "Amount": 500, "PaymentDate": day(2)}})),
    )
    .await;
    let first_number = partial["InvoicePayment"]["Number"]
        .as_str()
        .unwrap()
        .to_string();
    provider_call(
        &stack,
        &id,
        Method::PUT,
        format!("{api}/3/invoicepayments/{first_number}/bookkeep"),
        None,
    )
    .await;

    let after_partial = pull_and_read(&stack, &id, &mut cursor).await;
    let p = payment(&after_partial);
    assert_eq!(p["paid"], false, "{after_partial}");
    assert_eq!(p["paid_date"], Value::Null);
    let balance: f64 = p["balance"].as_str().unwrap().parse().unwrap();
    assert_eq!(balance, total - 500.0, "{after_partial}");
    assert_eq!(
        p["payments"].as_array().unwrap().len(),
        1,
        "{after_partial}"
    );
    assert_eq!(
        p["payments"][0]["amount"]
            .as_str()
            .map(|a| a.parse::<f64>().unwrap()),
        Some(500.0)
    );
    assert_eq!(p["payments"][0]["date"], day(2));
    assert_eq!(p["payments"][0]["currency"], "SEK");
    assert_eq!(p["payments"][0]["id"], first_number);

    // The rest: the invoice is paid on that day.
    provider_call(
        &stack,
        &id,
        Method::POST,
        format!("{api}/3/invoicepayments"),
        Some(json!({"InvoicePayment": {"InvoiceNumber": number.parse::<i64>().unwrap(), "Amount": balance, "PaymentDate": day(1)}})),
    )
    .await;
    let paid = pull_and_read(&stack, &id, &mut cursor).await;
    let p = payment(&paid);
    assert_eq!(p["paid"], true, "{paid}");
    assert_eq!(p["paid_date"], day(1), "{paid}");
    assert_eq!(
        p["balance"].as_str().map(|b| b.parse::<f64>().unwrap()),
        Some(0.0)
    );
    let amounts: Vec<f64> = p["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["amount"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(amounts, vec![500.0, balance], "{paid}");
    // The rows the app sent are unchanged.
    assert_eq!(
        paid["record"]["rows"][0]["description"],
        "Arbete enligt offert"
    );
    // The stream tells of the payments too.
    let events = stack.sandbox.state.stream_events();
    assert!(events.iter().any(|e| e.topic == "invoicepayments"
        && e.kind == "invoicepayment-created-v1"
        && e.entity_id == first_number));
    assert!(events
        .iter()
        .any(|e| e.topic == "invoicepayments" && e.kind == "invoicepayment-bookkeep-v1"));
    assert_contracts_kept(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visma_payment_reaches_the_feed() {
    let (stack, id) = exported(ProviderKind::Visma).await;
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(ProviderKind::Visma));
    let at_visma = stack
        .sandbox
        .state
        .invoices(sandbox_kind(ProviderKind::Visma), &key)
        .into_iter()
        .find(|i| i["BuyersOrderReference"] == INVOICE && i.get("RemainingAmount").is_some())
        .expect("exported and converted");
    let invoice_id = at_visma["Id"].as_str().unwrap().to_string();
    let api = stack.sandbox.visma_url();
    let mut cursor = 0;
    assert_eq!(pull(&stack, &id, &mut cursor).await, None, "our own write");
    let total = at_visma["TotalAmountInvoiceCurrency"].as_f64().unwrap();

    let pay = |amount: f64, kind: i64, date: String| {
        json!({"CompanyBankAccountId": sandbox::visma::BANK_ACCOUNT_ID, "PaymentAmount": amount,
               "PaymentCurrency": "SEK", "PaymentType": kind, "PaymentDate": format!("{date}T00:00:00Z")})
    };
    let url = format!("{api}/v2/customerinvoices/{invoice_id}/payments");
    provider_call(
        &stack,
        &id,
        Method::POST,
        url.clone(),
        Some(pay(500.0, 1, day(2))),
    )
    .await;
    let after_partial = pull_and_read(&stack, &id, &mut cursor).await;
    let p = payment(&after_partial);
    assert_eq!(p["paid"], false, "{after_partial}");
    assert_eq!(p["paid_date"], Value::Null);
    assert_eq!(p["payments"], Value::Null, "Visma lists no payments");
    let balance: f64 = p["balance"].as_str().unwrap().parse().unwrap();
    assert_eq!(balance, total - 500.0, "{after_partial}");

    provider_call(
        &stack,
        &id,
        Method::POST,
        url,
        Some(pay(balance, 2, day(1))),
    )
    .await;
    let paid = pull_and_read(&stack, &id, &mut cursor).await;
    let p = payment(&paid);
    assert_eq!(p["paid"], true, "{paid}");
    assert_eq!(p["paid_date"], day(1), "{paid}");
    assert_eq!(
        p["balance"].as_str().map(|b| b.parse::<f64>().unwrap()),
        Some(0.0)
    );
    assert_eq!(p["payments"], Value::Null);
    assert_contracts_kept(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fortnox_payment_reaches_the_feed_through_the_stream_with_no_sync() {
    let (stack, id) = exported(ProviderKind::Fortnox).await;
    let key = stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(ProviderKind::Fortnox));
    let number = stack
        .sandbox
        .state
        .invoices(sandbox_kind(ProviderKind::Fortnox), &key)
        .into_iter()
        .find(|i| i["ExternalInvoiceReference1"] == INVOICE)
        .map(|i| match &i["DocumentNumber"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .expect("exported");
    let _consumer = stack.start_stream(Duration::from_secs(600));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !stack
        .direct
        .db
        .stream_lease()
        .await
        .unwrap()
        .is_some_and(|l| l.subscribed && l.integrations == 1)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no consumer subscribed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let api = stack.sandbox.fortnox_url();
    provider_call(
        &stack,
        &id,
        Method::PUT,
        format!("{api}/3/invoices/{number}/bookkeep"),
        None,
    )
    .await;
    let total = stack
        .sandbox
        .state
        .invoices(sandbox_kind(ProviderKind::Fortnox), &key)
        .into_iter()
        .find(|i| i["ExternalInvoiceReference1"] == INVOICE)
        .and_then(|i| i["Total"].as_f64())
        .unwrap();
    let paid = provider_call(
        &stack,
        &id,
        Method::POST,
        format!("{api}/3/invoicepayments"),
        Some(json!({"InvoicePayment": {"InvoiceNumber": number.parse::<i64>().unwrap(), "Amount": total, "PaymentDate": day(0)}})),
    )
    .await;
    let payment_number = paid["InvoicePayment"]["Number"]
        .as_str()
        .unwrap()
        .to_string();
    // No sync is asked for: the stream's events bring the paid invoice into the feed.
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    loop {
        let r = stack
            .call(
                Method::GET,
                &format!("/api/integrations/{id}/records/invoices?after=0&limit=500"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        let latest = r.json["records"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["our_id"] == INVOICE)
            .cloned();
        if latest.as_ref().is_some_and(|e| payment(e)["paid"] == true) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the payment never reached the feed: {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One of the pulls went through the payment: its event named the payment, not the invoice.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = stack.direct.db.list_jobs(&id, 100).await.unwrap();
        let via_payment = jobs.iter().find(|j| {
            j.target
                .as_ref()
                .is_some_and(|t| t.payment_id.as_deref() == Some(payment_number.as_str()))
        });
        if via_payment.is_some_and(|j| j.state == JobState::Succeeded) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pull through payment {payment_number}: {via_payment:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_contracts_kept(&stack);
}
