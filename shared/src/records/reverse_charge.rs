//! A reverse-charge invoice needs a company customer set up for reverse charge: checked
//! against the customer as we know it (the app's or the pulled copy), before anything is
//! stored. A customer we do not know yet is left to the export (the provider decides).

use super::Rejected;
use crate::domain::{Customer, Entity, FieldError, Invoice};
use crate::store::{StoreError, SyncStore};

/// Field problems of reverse-charge invoices whose customer we know and is not fit for it
/// (`records[i].reverse_charge_construction`): the customer must carry
/// `reverse_charge_construction` (Fortnox books the invoice by the customer's `VATType`
/// `SEREVERSEDVAT`, Visma wants the customer's `ReverseChargeOnConstructionServices`), be a
/// company and have an organisation number.
pub async fn check_customers(
    store: &dyn SyncStore,
    integration_id: &str,
    invoices: &[Invoice],
) -> Result<Result<(), Rejected>, StoreError> {
    let mut ids: Vec<String> = invoices
        .iter()
        .filter(|i| i.reverse_charge_construction)
        .map(|i| i.customer_id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(Ok(()));
    }
    ids.sort();
    ids.dedup();
    let known = store
        .local_records(integration_id, Entity::Customers, &ids)
        .await?;
    let mut problems = Vec::new();
    for (i, invoice) in invoices.iter().enumerate() {
        if !invoice.reverse_charge_construction {
            continue;
        }
        let Some(local) = known.get(&invoice.customer_id) else {
            continue;
        };
        let Ok(c) = serde_json::from_value::<Customer>(local.doc.clone()) else {
            continue;
        };
        if let Some(why) = unfit(&c) {
            problems.push(FieldError::new(
                format!("records[{i}].reverse_charge_construction"),
                format!("customer {} {why}", invoice.customer_id),
            ));
        }
    }
    Ok(if problems.is_empty() {
        Ok(())
    } else {
        Err(Rejected(problems))
    })
}

/// Why `c` cannot receive a reverse-charge invoice, if it cannot.
pub fn unfit(c: &Customer) -> Option<&'static str> {
    if c.is_private_person {
        Some("is a private person; reverse charge applies to companies only")
    } else if c
        .organisation_number
        .as_deref()
        .is_none_or(|o| o.trim().is_empty())
    {
        Some("has no organisation_number; reverse charge applies to companies only")
    } else if !c.reverse_charge_construction {
        Some("does not have reverse_charge_construction set; set it on the customer first")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderKind;
    use crate::mocks::MemoryStore;
    use crate::records::{parse_records, stage};
    use serde_json::json;

    fn customer(org: Option<&str>, reverse: bool) -> Customer {
        serde_json::from_value(json!({
            "id": "c-1", "name": "Bygg AB", "organisation_number": org,
            "vat_number": "SE556677889901", "reverse_charge_construction": reverse
        }))
        .unwrap()
    }

    fn invoices() -> Vec<Invoice> {
        let rows = json!([{"description": "Arbete", "account_number": 3001, "quantity": "1",
                           "unit_price": "100"}]);
        parse_records::<Invoice>(
            &json!([
                {"id": "plain", "customer_id": "c-1", "invoice_date": "2026-11-30",
                 "rows": rows},
                {"id": "rc", "customer_id": "c-1", "invoice_date": "2026-11-30",
                 "reverse_charge_construction": true, "rows": rows},
                {"id": "rc-unknown", "customer_id": "c-2", "invoice_date": "2026-11-30",
                 "reverse_charge_construction": true, "rows": rows}
            ]),
            ProviderKind::Fortnox,
            None,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_reverse_charge_invoice_to_a_customer_without_organisation_number_is_refused() {
        let store = MemoryStore::new();
        stage(&store, "i-1", vec![customer(None, false)])
            .await
            .unwrap();
        let Err(Rejected(errs)) = check_customers(&store, "i-1", &invoices()).await.unwrap() else {
            panic!("refused")
        };
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "records[1].reverse_charge_construction");
        assert!(errs[0].message.contains("organisation_number"), "{errs:?}");
    }

    #[tokio::test]
    async fn a_customer_set_up_for_reverse_charge_is_accepted() {
        let store = MemoryStore::new();
        stage(&store, "i-1", vec![customer(Some("556677-8899"), false)])
            .await
            .unwrap();
        let Err(Rejected(errs)) = check_customers(&store, "i-1", &invoices()).await.unwrap() else {
            panic!("the customer lacks the flag")
        };
        assert!(errs[0].message.contains("reverse_charge_construction"));
        stage(&store, "i-1", vec![customer(Some("556677-8899"), true)])
            .await
            .unwrap();
        assert!(check_customers(&store, "i-1", &invoices())
            .await
            .unwrap()
            .is_ok());
    }
}
