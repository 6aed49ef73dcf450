//! How an invoice and its credit notes are linked, as the accounting system says. Read-only:
//! the app credits an invoice through `POST …/invoices/{id}/credit`, never by setting this.

use super::customer::hash_value;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An invoice's credit link; `None` on an invoice neither credited nor a credit note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditState {
    /// This invoice is a credit note (Fortnox `Credit` "true", Visma `IsCreditInvoice`).
    #[serde(default)]
    pub credit_note: bool,
    /// On a credit note: the provider's id of the invoice it credits (Fortnox
    /// `CreditInvoiceReference`; Visma's document has no such field: `None`).
    #[serde(default)]
    pub credits_remote_id: Option<String>,
    /// On an invoice: the provider's ids of its credit notes (Fortnox
    /// `CreditInvoiceReference`, Visma `CreditedBy[].CreditInvoiceId`).
    #[serde(default)]
    pub credited_by_remote_ids: Vec<String>,
}

impl CreditState {
    /// The state, or `None` when there is nothing to say.
    pub fn of(self) -> Option<CreditState> {
        (self.credit_note
            || self.credits_remote_id.is_some()
            || !self.credited_by_remote_ids.is_empty())
        .then_some(self)
    }

    /// What the sync compares: a credit is a change the app must hear of.
    pub fn hash(&self) -> String {
        hash_value(&json!({
            "credit_note": self.credit_note,
            "credits": self.credits_remote_id,
            "credited_by": self.credited_by_remote_ids,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_say_is_none_and_a_credit_changes_the_hash() {
        assert_eq!(CreditState::default().of(), None);
        let credited = CreditState {
            credited_by_remote_ids: vec!["7".into()],
            ..Default::default()
        };
        assert_eq!(credited.clone().of(), Some(credited.clone()));
        let note = CreditState {
            credit_note: true,
            credits_remote_id: Some("6".into()),
            ..Default::default()
        };
        assert_ne!(credited.hash(), note.hash());
    }
}
