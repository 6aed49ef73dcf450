//! ROT/RUT house work is a tax reduction for private persons: an invoice with house-work rows
//! to a customer we know as a company (not `is_private_person`; Fortnox `Type` `COMPANY`,
//! Visma `IsPrivatePerson` false) is refused before anything is stored. A customer we do not
//! know yet is left to the export (the provider decides).

use super::Rejected;
use crate::domain::{Customer, Entity, FieldError, Invoice};
use crate::store::{StoreError, SyncStore};

/// Field problems of house-work invoices whose customer we know is a company, naming the
/// first house-work row (`records[i].rows[n].house_work`).
pub async fn check_customers(
    store: &dyn SyncStore,
    integration_id: &str,
    invoices: &[Invoice],
) -> Result<Result<(), Rejected>, StoreError> {
    let first_row = |i: &Invoice| i.rows.iter().position(|r| r.house_work.is_some());
    let mut ids: Vec<String> = invoices
        .iter()
        .filter(|i| first_row(i).is_some())
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
        let Some(n) = first_row(invoice) else {
            continue;
        };
        let Some(local) = known.get(&invoice.customer_id) else {
            continue;
        };
        let Ok(c) = serde_json::from_value::<Customer>(local.doc.clone()) else {
            continue;
        };
        if !c.is_private_person {
            problems.push(FieldError::new(
                format!("records[{i}].rows[{n}].house_work"),
                format!(
                    "customer {} is a company; ROT/RUT house work is a tax reduction for \
                     private persons",
                    invoice.customer_id
                ),
            ));
        }
    }
    Ok(if problems.is_empty() {
        Ok(())
    } else {
        Err(Rejected(problems))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderKind;
    use crate::mocks::MemoryStore;
    use crate::records::{parse_records, stage};
    use serde_json::json;

    #[tokio::test]
    async fn house_work_for_a_company_is_refused_naming_the_row() {
        let store = MemoryStore::new();
        let company: Customer = serde_json::from_value(
            json!({"id": "c-1", "name": "Bygg AB", "organisation_number": "556677-8899"}),
        )
        .unwrap();
        let person: Customer =
            serde_json::from_value(json!({"id": "c-2", "name": "Anna", "is_private_person": true}))
                .unwrap();
        stage(&store, "i-1", vec![company, person]).await.unwrap();
        let rows = json!([
            {"description": "Resa", "account_number": 3001, "quantity": "1", "unit_price": "100"},
            {"description": "Arbete", "account_number": 3001, "quantity": "1",
             "unit_price": "100", "house_work": {"kind": "rot"}}]);
        let invoices = parse_records::<Invoice>(
            &json!([
                {"id": "a", "customer_id": "c-1", "invoice_date": "2026-11-30", "rows": rows},
                {"id": "b", "customer_id": "c-2", "invoice_date": "2026-11-30", "rows": rows}
            ]),
            ProviderKind::Fortnox,
            None,
        )
        .unwrap();
        let Err(Rejected(errs)) = check_customers(&store, "i-1", &invoices).await.unwrap() else {
            panic!("refused")
        };
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "records[0].rows[1].house_work");
    }
}
