//! An invoice's payment state as the accounting system books it: what is left to pay, whether
//! and when it was settled, and the payments. Read from the provider only; the app never sets
//! it (the records API drops it from an upsert, see `records::Record::without_read_only`).

use super::customer::hash_value;
use super::money::{canonical_decimal, decimal_str, Decimal};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One payment booked against an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The provider's id of the payment (Fortnox `Number`), when it has one.
    #[serde(default)]
    pub id: Option<String>,
    /// Payment date.
    pub date: NaiveDate,
    /// Amount paid, in `currency`; negative for money paid back.
    #[serde(with = "decimal_str")]
    pub amount: Decimal,
    /// ISO 4217 currency of `amount`; `None` when the provider does not say (the invoice's).
    #[serde(default)]
    pub currency: Option<String>,
}

/// Whether an invoice is paid, as the provider says; read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentState {
    /// What is left to pay, in the invoice's currency: the total while unpaid, 0 once settled,
    /// negative on a credit invoice whose money is still owed to the customer.
    #[serde(with = "decimal_str")]
    pub balance: Decimal,
    /// Settled in full (by payments or by a credit); `false` for a cancelled invoice.
    pub paid: bool,
    /// When it was settled in full (`None` while not paid, or when the provider does not say).
    #[serde(default)]
    pub paid_date: Option<NaiveDate>,
    /// The payments, oldest first; `None` when the provider does not list them (Visma
    /// eAccounting has no read of a customer invoice's payments), `[]` when there are none.
    #[serde(default)]
    pub payments: Option<Vec<Payment>>,
}

impl PaymentState {
    /// A stable hash of the state: balances and amounts by value, payments in date order.
    pub fn hash(&self) -> String {
        let payments = self.payments.as_ref().map(|ps| {
            let mut v: Vec<Value> = ps
                .iter()
                .map(|p| {
                    json!({
                        "id": p.id,
                        "date": p.date.to_string(),
                        "amount": canonical_decimal(p.amount),
                        "currency": p.currency,
                    })
                })
                .collect();
            v.sort_by_key(|p| p.to_string());
            v
        });
        hash_value(&json!({
            "v": 1,
            "balance": canonical_decimal(self.balance),
            "paid": self.paid,
            "paid_date": self.paid_date.map(|d| d.to_string()),
            "payments": payments,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn state() -> PaymentState {
        PaymentState {
            balance: Decimal::from_str("500.00").unwrap(),
            paid: false,
            paid_date: None,
            payments: Some(vec![Payment {
                id: Some("7".into()),
                date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                amount: Decimal::from_str("1531.25").unwrap(),
                currency: Some("SEK".into()),
            }]),
        }
    }

    #[test]
    fn json_has_string_money_and_round_trips() {
        let s = state();
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""balance":"500.00""#), "{text}");
        assert!(text.contains(r#""amount":"1531.25""#), "{text}");
        assert!(text.contains(r#""date":"2026-11-25""#), "{text}");
        assert_eq!(serde_json::from_str::<PaymentState>(&text).unwrap(), s);
    }

    #[test]
    fn the_hash_follows_the_state_not_the_scale() {
        let a = state();
        let mut b = state();
        b.balance = Decimal::from(500);
        assert_eq!(a.hash(), b.hash());
        b.paid = true;
        assert_ne!(a.hash(), b.hash());
        let mut c = state();
        c.payments.as_mut().unwrap()[0].amount = Decimal::from(1);
        assert_ne!(a.hash(), c.hash());
        let mut d = state();
        d.payments = None;
        assert_ne!(
            a.hash(),
            d.hash(),
            "unknown payments differ from known ones"
        );
    }
}
