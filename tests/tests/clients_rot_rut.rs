//! The Fortnox client's ROT/RUT buyers (`/3/taxreductions`) against the sandbox: written once
//! per buyer even when Fortnox commits a write and the answer is lost, updated in place, the
//! ones no longer named deleted, read back onto the invoice; every body keeps the contract.

mod clients_support;

use clients_support::{connect, customer, d, invoice, providers, settings, stack};
use sandbox::FaultConfig;
use shared::domain::{
    Buyer, HouseWork, HouseWorkKind, PersonalIdentityNumber, Property, ProviderKind, TaxReduction,
};
use std::time::Duration;

const F: ProviderKind = ProviderKind::Fortnox;

fn buyer(pin: &str, amount: &str) -> Buyer {
    Buyer {
        personal_identity_number: Some(PersonalIdentityNumber::new(pin)),
        amount: d(amount),
    }
}

#[tokio::test]
async fn buyers_are_written_once_under_lost_answers_and_read_back() {
    let stack = stack(100.0).await;
    let (auth, company) = connect(&stack, "tenant-rot-client", F).await;
    let providers = providers(&stack, settings(100.0, 25, 5));
    let api = providers.api(F);

    let mut person = customer("cust-rot", "Anna Svensson");
    person.is_private_person = true;
    person.organisation_number = None;
    let c = api.create_customer(&auth, &person).await.expect("customer");

    let mut inv = invoice("inv-rot", &person.id, ["ARB", "MAT"]);
    inv.rows[0].house_work = Some(HouseWork {
        kind: HouseWorkKind::Rot,
        hours: Some(d("8")),
        amount: Some(d("1500")),
        work_type: Some("masonry".into()),
        material: false,
    });
    inv.rows[1].house_work = Some(HouseWork {
        kind: HouseWorkKind::Rot,
        hours: None,
        amount: None,
        work_type: Some("masonry".into()),
        material: true,
    });
    let created = api
        .create_invoice(&auth, &inv, &c.remote_id)
        .await
        .expect("invoice");
    assert!(created.record.tax_reduction.is_none());

    // Every write commits and then fails (a 500, a dropped connection or a late answer) half
    // of the time: the export is repeated until it goes through, as the engine would.
    inv.tax_reduction = Some(TaxReduction {
        kind: HouseWorkKind::Rot,
        buyers: vec![buyer("19121212-1212", "1000"), buyer("199001011239", "500")],
        property: Some(Property {
            designation: None,
            housing_cooperative_org_number: Some("7696001234".into()),
            apartment: Some("1101".into()),
        }),
    });
    stack.sandbox.state.set_faults(FaultConfig {
        commit_then_fail: 0.5,
        slow_delay: Duration::from_millis(10),
        only_writes: true,
        seed: 11,
        ..FaultConfig::default()
    });
    let mut done = None;
    for _ in 0..30 {
        if let Ok(r) = api
            .update_invoice(&auth, &created.remote_id, &inv, &c.remote_id)
            .await
        {
            done = Some(r);
            break;
        }
    }
    stack.sandbox.state.set_faults(FaultConfig::default());
    let faults = stack.sandbox.state.faults_injected();
    assert!(
        faults
            .iter()
            .any(|f| f.method == "POST" && f.path == "/3/taxreductions"),
        "a buyer's create lost its answer: {faults:?}"
    );
    let read = done.expect("the export went through");
    let entries: Vec<_> = stack
        .sandbox
        .state
        .fortnox_tax_reductions(&company)
        .into_iter()
        .filter(|e| e["ReferenceNumber"] == created.remote_id.as_str())
        .collect();
    assert_eq!(entries.len(), 2, "one entry per buyer: {entries:?}");
    assert_eq!(entries[0]["PropertyDesignation"], "1101");
    assert_eq!(
        entries[0]["ResidenceAssociationOrganisationNumber"],
        "769600-1234"
    );
    let t = read.record.tax_reduction.clone().expect("read back");
    assert_eq!(t.buyers.len(), 2);
    assert_eq!(
        t.property.as_ref().and_then(|p| p.apartment.as_deref()),
        Some("1101")
    );
    assert_eq!(
        read.record.rows[0]
            .house_work
            .as_ref()
            .unwrap()
            .work_type
            .as_deref(),
        Some("masonry")
    );
    assert!(read.record.rows[1].house_work.as_ref().unwrap().material);
    assert!(!format!("{read:?}").contains("1212"), "redacted in Debug");

    // One buyer left with the whole share: updated in place, the other deleted.
    inv.tax_reduction.as_mut().unwrap().buyers = vec![buyer("19900101-1239", "1500")];
    api.update_invoice(&auth, &created.remote_id, &inv, &c.remote_id)
        .await
        .expect("update");
    let entries: Vec<_> = stack
        .sandbox
        .state
        .fortnox_tax_reductions(&company)
        .into_iter()
        .filter(|e| e["ReferenceNumber"] == created.remote_id.as_str())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["SocialSecurityNumber"], "19900101-1239");
    assert_eq!(entries[0]["AskedAmount"], 1500);
    system_tests::assert_contracts_kept(&stack);
}
