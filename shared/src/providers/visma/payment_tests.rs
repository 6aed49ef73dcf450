//! Visma wire → canonical payment state: unpaid, overdue, partly paid, paid, a credit
//! invoice, a foreign currency, a draft.

use super::*;
use crate::providers::visma::wire::{parse, DraftIn};
use serde_json::{json, Value};
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A booked invoice of 1250 SEK with the given payment fields.
fn booked(extra: Value) -> InvoiceIn {
    let mut v = json!({
        "Id": "5a0c0f7e-1111-4c1a-9e3f-5a6b7c8d9e01", "CustomerId": "CUST",
        "InvoiceDate": "2026-11-01T00:00:00Z", "DueDate": "2026-12-01T00:00:00Z",
        "CurrencyCode": "SEK", "TotalAmount": 1250.0, "TotalVatAmount": 250.0,
        "TotalRoundings": 0.0, "TotalAmountInvoiceCurrency": 1250.0,
        "TotalVatAmountInvoiceCurrency": 250.0, "RemainingAmount": 1250.0,
        "RemainingAmountInvoiceCurrency": 1250.0, "PaymentStatus": 1, "PaymentDate": null,
        "ModifiedUtc": "2026-11-22T10:00:00Z", "Rows": []
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    parse("invoice", v).unwrap()
}

fn state(w: &InvoiceIn) -> PaymentState {
    invoice_in(w, &Articles::default())
        .unwrap()
        .record
        .payment
        .unwrap()
}

#[test]
fn unpaid_and_overdue_invoices_are_open_and_list_no_payments() {
    for status in [1, 2] {
        let p = state(&booked(json!({"PaymentStatus": status})));
        assert_eq!(p.balance, d("1250"));
        assert!(!p.paid, "status {status}");
        assert_eq!(p.paid_date, None);
        assert_eq!(
            p.payments, None,
            "Visma has no read of an invoice's payments"
        );
    }
}

#[test]
fn partly_paid_invoice_keeps_its_remaining_amount() {
    let p = state(&booked(json!({
        "RemainingAmount": 750.0, "RemainingAmountInvoiceCurrency": 750.0,
        "PaymentStatus": 1, "PaymentDate": "2026-11-20T00:00:00Z"
    })));
    assert_eq!(p.balance, d("750"));
    assert!(!p.paid);
    assert_eq!(p.paid_date, None, "a date only once paid in full");
}

#[test]
fn paid_invoice_has_its_payment_date() {
    let p = state(&booked(json!({
        "RemainingAmount": 0.0, "RemainingAmountInvoiceCurrency": 0.0,
        "PaymentStatus": 0, "PaymentDate": "2026-11-28T00:00:00Z"
    })));
    assert_eq!(p.balance, Decimal::ZERO);
    assert!(p.paid);
    assert_eq!(p.paid_date, NaiveDate::from_ymd_opt(2026, 11, 28));
}

#[test]
fn credit_invoice_balance_is_negative_and_foreign_invoices_use_their_currency() {
    let p = state(&booked(json!({
        "IsCreditInvoice": true, "TotalAmount": -1250.0, "TotalAmountInvoiceCurrency": -1250.0,
        "RemainingAmount": -1250.0, "RemainingAmountInvoiceCurrency": -1250.0, "PaymentStatus": 1
    })));
    assert_eq!(p.balance, d("-1250"));
    assert!(!p.paid);
    let p = state(&booked(json!({
        "CurrencyCode": "EUR", "RemainingAmount": 1100.5, "RemainingAmountInvoiceCurrency": 100.0
    })));
    assert_eq!(p.balance, d("100"), "in the invoice's currency");
    // Without a status, a zero balance on a non-zero invoice is paid.
    let p = state(&booked(json!({
        "PaymentStatus": null, "RemainingAmount": 0, "RemainingAmountInvoiceCurrency": null
    })));
    assert!(p.paid);
}

#[test]
fn no_remaining_amount_means_no_state_and_drafts_have_none() {
    let w = booked(json!({"RemainingAmount": null, "RemainingAmountInvoiceCurrency": null}));
    assert_eq!(
        invoice_in(&w, &Articles::default()).unwrap().record.payment,
        None
    );
    let draft: DraftIn = parse(
        "draft",
        json!({"Id": "D1", "CustomerId": "CUST", "InvoiceDate": "2026-11-01T00:00:00Z", "Rows": []}),
    )
    .unwrap();
    assert_eq!(
        draft_in(&draft, &Articles::default())
            .unwrap()
            .record
            .payment,
        None
    );
}
