//! Fortnox wire → canonical payment state: unpaid, partly paid, paid, credited, a credit
//! invoice, cancelled; payments in SEK and in a foreign currency.

use super::*;
use crate::providers::fortnox::mapping::invoice_in;
use chrono::NaiveDate;
use serde_json::json;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap()
}

/// A single invoice as real Fortnox sends it (every key, `null` for unset, whole amounts
/// without a fraction), with `Total` 1250 and the given payment fields.
fn wire(
    balance: serde_json::Value,
    final_pay: serde_json::Value,
    extra: serde_json::Value,
) -> InvoiceIn {
    let mut v = json!({
        "DocumentNumber": "1001", "CustomerNumber": "12", "InvoiceDate": "2026-11-01",
        "DueDate": "2026-12-01", "Currency": "SEK", "ExternalInvoiceReference1": "inv-1",
        "Total": 1250, "TotalVAT": 250, "Net": 1000, "Booked": true, "Cancelled": false,
        "Credit": "false", "Balance": balance, "FinalPayDate": final_pay,
        "InvoiceRows": [{"AccountNumber": 3001, "DeliveredQuantity": "1.00", "Price": 1000,
                         "VAT": 25, "Description": "Arbete"}]
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

#[test]
fn unpaid_invoice_knows_it_has_no_payments_without_asking() {
    let r = invoice_in(&wire(json!(1250), json!(null), json!({}))).unwrap();
    let p = r.record.payment.unwrap();
    assert_eq!(p.balance, d("1250"));
    assert!(!p.paid);
    assert_eq!(p.paid_date, None);
    assert_eq!(
        p.payments,
        Some(vec![]),
        "nothing paid: no request for payments"
    );
}

#[test]
fn partly_paid_invoice_is_open_and_asks_for_its_payments() {
    let r = invoice_in(&wire(json!("750.00"), json!(null), json!({}))).unwrap();
    let p = r.record.payment.unwrap();
    assert_eq!(p.balance, d("750"));
    assert!(!p.paid);
    assert_eq!(p.paid_date, None);
    assert_eq!(p.payments, None, "to be read from /3/invoicepayments");
}

#[test]
fn paid_invoice_has_its_final_pay_date() {
    let r = invoice_in(&wire(json!(0), json!("2026-11-28"), json!({}))).unwrap();
    let p = r.record.payment.unwrap();
    assert_eq!(p.balance, Decimal::ZERO);
    assert!(p.paid);
    assert_eq!(p.paid_date, Some(day("2026-11-28")));
    assert_eq!(p.payments, None);
}

#[test]
fn credited_invoice_is_settled_and_a_credit_invoice_owes_the_customer() {
    // The original after `…/credit`: Balance 0, no FinalPayDate.
    let credited = wire(
        json!(0),
        json!(null),
        json!({"CreditInvoiceReference": "1002"}),
    );
    let p = invoice_in(&credited).unwrap().record.payment.unwrap();
    assert!(p.paid, "settled by the credit");
    assert_eq!(p.paid_date, None, "Fortnox gives no date for a credit");
    // The credit invoice: negative total and balance until the money goes back.
    let credit = wire(
        json!(-1250),
        json!(null),
        json!({"Total": -1250, "TotalVAT": -250, "Net": -1000, "Credit": "true"}),
    );
    let p = invoice_in(&credit).unwrap().record.payment.unwrap();
    assert_eq!(p.balance, d("-1250"));
    assert!(!p.paid);
    assert_eq!(p.payments, Some(vec![]));
}

#[test]
fn cancelled_invoice_is_never_paid_and_no_balance_means_no_state() {
    let cancelled = wire(
        json!(0),
        json!(null),
        json!({"Cancelled": true, "Booked": false}),
    );
    let p = invoice_in(&cancelled).unwrap().record.payment.unwrap();
    assert!(!p.paid);
    assert_eq!(p.payments, Some(vec![]));
    let unknown = wire(json!(null), json!(null), json!({}));
    assert_eq!(invoice_in(&unknown).unwrap().record.payment, None);
}

#[test]
fn payments_in_sek_and_foreign_currency_oldest_first() {
    let items: Vec<InvoicePaymentIn> = serde_json::from_value(json!([
        {"Number": "12", "InvoiceNumber": 1001, "PaymentDate": "2026-11-28", "Amount": 750,
         "AmountCurrency": 750, "Currency": "SEK", "Booked": true},
        {"Number": "9", "InvoiceNumber": 1001, "PaymentDate": "2026-11-20", "Amount": "500.00",
         "AmountCurrency": 500, "Currency": "SEK", "Booked": false},
        {"Number": "13", "InvoiceNumber": 1002, "PaymentDate": "2026-11-29", "Amount": 1100.5,
         "AmountCurrency": 100, "Currency": "eur", "CurrencyRate": 11.005},
        {"Number": "14", "InvoiceNumber": 1002, "PaymentDate": null, "Amount": 1}
    ]))
    .unwrap();
    let got = payments_in(&items);
    assert_eq!(
        got.len(),
        3,
        "a payment without a date is not a payment: {got:?}"
    );
    assert_eq!(got[0].id.as_deref(), Some("9"));
    assert_eq!(got[0].amount, d("500"));
    assert_eq!(got[0].date, day("2026-11-20"));
    assert_eq!(got[1].id.as_deref(), Some("12"));
    assert_eq!(got[2].currency.as_deref(), Some("EUR"));
    assert_eq!(
        got[2].amount,
        d("100"),
        "the amount in the payment's currency"
    );
}
