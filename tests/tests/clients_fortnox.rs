//! The Fortnox data client against the sandbox's Fortnox: paging, incremental pulls, round
//! trips, lookups by our reference, every error class from real bodies, and the OpenAPI
//! contract.

mod clients_support;

use clients_support::{connect, customer, d, invoice, providers, settings, stack};
use sandbox::{FaultConfig, ProviderKind as SandboxKind};
use shared::domain::{Entity, ProviderKind};
use shared::http::ApiError;
use shared::providers::{ApiAuth, InvoiceAction};
use std::collections::HashSet;
use std::time::Duration;

const F: ProviderKind = ProviderKind::Fortnox;

#[tokio::test]
async fn pages_through_2000_customers_with_full_records() {
    let stack = stack(100.0).await;
    let (auth, company) = connect(&stack, "tenant-paging", F).await;
    let seeded = stack
        .sandbox
        .state
        .seed_customers(SandboxKind::Fortnox, &company, 2000);
    let providers = providers(&stack, settings(100.0, 25, 50));
    let api = providers.api(F);
    stack.sandbox.state.clear_records();

    let mut seen = HashSet::new();
    let mut page = 1;
    let mut pages = 0;
    loop {
        let p = api.list_customers(&auth, None, page).await.expect("page");
        pages += 1;
        assert!(p.high_water.is_some());
        for r in &p.items {
            assert!(!r.record.name.is_empty(), "full record: {r:?}");
            assert!(
                seen.insert(r.remote_id.clone()),
                "duplicate {}",
                r.remote_id
            );
        }
        if !p.has_more {
            break;
        }
        page = p.next_page;
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 2000);
    assert_eq!(seen, seeded.into_iter().collect::<HashSet<_>>());

    // List items (`fortnox_Kf_CustomerListItem` in the 2026-04 document) carry every field
    // the canonical customer needs: ceil(2000 / 500) list requests and no GET per item.
    let requests = stack.sandbox.state.requests();
    let lists = requests
        .iter()
        .filter(|r| r.path == "/3/customers" && r.method == "GET")
        .count();
    let gets = requests
        .iter()
        .filter(|r| r.path.starts_with("/3/customers/") && r.method == "GET")
        .count();
    assert_eq!((lists, gets), (4, 0));
    assert_eq!(
        stack.sandbox.state.rate_limited_count(SandboxKind::Fortnox),
        0
    );

    // The deletion pass needs the list requests only.
    stack.sandbox.state.clear_records();
    let mut ids = 0;
    let mut page = 1;
    loop {
        let p = api.list_customer_ids(&auth, page).await.expect("ids");
        ids += p.ids.len();
        if !p.has_more {
            break;
        }
        page = p.next_page;
    }
    assert_eq!(ids, 2000);
    assert_eq!(stack.sandbox.state.requests().len(), 4);
}

#[tokio::test]
async fn incremental_pulls_return_only_changed_customers() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-incremental", F).await;
    let ids = stack
        .sandbox
        .state
        .seed_customers(SandboxKind::Fortnox, &company, 60);
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(F);
    // `lastmodified` has whole seconds: let the seeding second pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = chrono::Utc::now();
    let changed: HashSet<String> = ids.iter().step_by(20).cloned().collect();
    for id in &changed {
        assert!(stack
            .sandbox
            .state
            .modify_customer(SandboxKind::Fortnox, &company, id, |c| {
                c["Email"] = "ny@exempel.se".into();
            }));
    }
    // Let a second pass before the pull begins, so its start, cut to Fortnox's whole
    // seconds, is later than every change above even if the wall clock steps back a
    // little (a CI run once saw two of three changes "after" the pull's start + 1 s).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let page = api
        .list_customers(&auth, Some(since), 1)
        .await
        .expect("pull");
    assert!(!page.has_more);
    let got: HashSet<String> = page.items.iter().map(|r| r.remote_id.clone()).collect();
    assert_eq!(got, changed);
    assert!(page
        .items
        .iter()
        .all(|r| r.record.email.as_deref() == Some("ny@exempel.se")));
    // Nothing changed since this pull began: its high-water mark is its start, not the
    // `since` it was given (that would find the three changes again).
    let later = api
        .list_customers(&auth, page.high_water, 1)
        .await
        .expect("pull");
    assert!(later.items.is_empty(), "{:?}", later.items);
}

#[tokio::test]
async fn customers_and_invoices_round_trip_and_are_found_by_our_reference() {
    let stack = stack(10.0).await;
    let (auth, _) = connect(&stack, "tenant-roundtrip", F).await;
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(F);

    let mut ours = customer("cust-7f3a", "Bygg & Kakel i Umeå AB");
    let created = api.create_customer(&auth, &ours).await.expect("create");
    assert_eq!(created.our_reference.as_deref(), Some("cust-7f3a"));
    assert_eq!(created.record.content_hash(), ours.content_hash());
    let fetched = api
        .get_customer(&auth, &created.remote_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(fetched.record, created.record);
    // A second customer whose reference contains ours must not be taken for it.
    let mut other = customer("cust-7f3a-2", "Bygg & Kakel i Umeå AB");
    other.organisation_number = ours.organisation_number.clone();
    api.create_customer(&auth, &other)
        .await
        .expect("create other");
    let found = api
        .find_customer_by_reference(&auth, &ours)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.remote_id, created.remote_id);
    assert!(api
        .find_customer_by_reference(&auth, &customer("cust-none", "Finns Inte AB"))
        .await
        .expect("lookup")
        .is_none());
    assert_eq!(
        api.reference_key(Entity::Customers, "cust-7f3a"),
        "cust-7f3a"
    );

    ours.email = Some("ekonomi@kakel.se".into());
    ours.phone = None;
    ours.reverse_charge_construction = true;
    ours.vat_number = Some("SE556677889901".into());
    let updated = api
        .update_customer(&auth, &created.remote_id, &ours)
        .await
        .expect("update");
    assert_eq!(updated.record.email.as_deref(), Some("ekonomi@kakel.se"));
    assert_eq!(updated.record.phone, None);
    assert!(updated.record.reverse_charge_construction);
    assert_eq!(updated.record.content_hash(), ours.content_hash());

    // Invoices: ids where one is a prefix of the other (Fortnox searches by substring).
    let first = invoice("inv-1", &ours.id, ["ARB", "MAT"]);
    let tenth = invoice("inv-10", &ours.id, ["ARB", "MAT"]);
    let a = api
        .create_invoice(&auth, &tenth, &created.remote_id)
        .await
        .expect("create inv-10");
    let b = api
        .create_invoice(&auth, &first, &created.remote_id)
        .await
        .expect("create inv-1");
    assert_ne!(a.remote_id, b.remote_id);
    assert_eq!(
        b.customer_remote_id.as_deref(),
        Some(created.remote_id.as_str())
    );
    assert!(b.editable);
    let t = b.record.totals.clone().expect("totals");
    assert_eq!(t.net, d("5425"));
    assert_eq!(t.vat, d("1356.25"));
    let found = api
        .find_invoice_by_reference(&auth, &first)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.remote_id, b.remote_id);
    assert_eq!(found.record.rows.len(), 2);
    assert_eq!(found.record.rows[1].discount, Some(d("10")));

    let mut changed = first.clone();
    changed.rows[0].quantity = d("10");
    changed.rows[1].discount = None;
    changed.your_reference = None;
    let u = api
        .update_invoice(&auth, &b.remote_id, &changed, &created.remote_id)
        .await
        .expect("update invoice");
    assert_eq!(u.record.rows[0].quantity, d("10"));
    assert_eq!(u.record.rows[1].discount, None);
    assert_eq!(u.record.your_reference, None);

    let booked = api
        .invoice_action(&auth, &b.remote_id, InvoiceAction::Bookkeep)
        .await
        .expect("bookkeep");
    assert!(!booked.editable);
    let refused = api
        .update_invoice(&auth, &b.remote_id, &first, &created.remote_id)
        .await
        .expect_err("a booked invoice cannot be edited");
    assert!(
        matches!(refused, ApiError::InvalidData { .. }),
        "{refused:?}"
    );
    providers
        .fortnox_api()
        .credit(&auth, &b.remote_id)
        .await
        .expect("credit");
    let cancelled = providers
        .fortnox_api()
        .cancel(&auth, &a.remote_id)
        .await
        .expect("cancel");
    assert!(!cancelled.editable);
}

#[tokio::test]
async fn every_error_class_is_recognised_from_sandbox_bodies() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-errors", F).await;
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(F);

    // NotFound: a missing record is None on reads and NotFound on writes.
    assert!(api
        .get_customer(&auth, "999999")
        .await
        .expect("get")
        .is_none());
    let e = api
        .update_customer(&auth, "999999", &customer("c-x", "X AB"))
        .await
        .expect_err("missing");
    assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");

    // NeedsReauth: a token Fortnox does not know.
    let bogus = ApiAuth {
        access_token: shared::domain::Secret::new("not-a-token"),
        tenant_key: auth.tenant_key.clone(),
    };
    let e = api.get_customer(&bogus, "1").await.expect_err("bad token");
    assert!(matches!(e, ApiError::NeedsReauth { .. }), "{e:?}");

    // InvalidData, with Fortnox's own (Swedish) message: a row with neither article nor account.
    let c = api
        .create_customer(&auth, &customer("c-err", "Fel AB"))
        .await
        .expect("customer");
    let mut bad = invoice("inv-bad", "c-err", ["ARB", "MAT"]);
    bad.rows[0].article_number = None;
    let e = api
        .create_invoice(&auth, &bad, &c.remote_id)
        .await
        .expect_err("no account");
    match e {
        ApiError::InvalidData { code, message, .. } => {
            assert_eq!(code, Some(2_001_304));
            assert!(message.contains("konto"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // Retryable: 500 with code 1000003 on every read, retried and then reported.
    stack.sandbox.state.set_faults(FaultConfig {
        error_500: 1.0,
        ..FaultConfig::default()
    });
    let e = api
        .get_customer(&auth, &c.remote_id)
        .await
        .expect_err("500");
    assert!(matches!(e, ApiError::Retryable { .. }), "{e:?}");
    let attempts = stack
        .sandbox
        .state
        .faults_injected()
        .iter()
        .filter(|f| f.method == "GET")
        .count();
    assert_eq!(attempts, 4, "a read is retried up to the policy's attempts");

    // Ambiguous: the create was applied, then the answer failed. Never repeated blindly; the
    // lookup by our reference finds the one that was made.
    stack.sandbox.state.set_faults(FaultConfig {
        commit_then_fail: 1.0,
        slow_delay: Duration::from_millis(10),
        only_writes: true,
        seed: 7,
        ..FaultConfig::default()
    });
    let before = stack
        .sandbox
        .state
        .customer_count(SandboxKind::Fortnox, &company);
    let maybe = customer("c-ambiguous", "Kanske AB");
    let outcome = api.create_customer(&auth, &maybe).await;
    stack.sandbox.state.set_faults(FaultConfig::default());
    let after = stack
        .sandbox
        .state
        .customer_count(SandboxKind::Fortnox, &company);
    assert_eq!(after, before + 1, "created exactly once");
    match outcome {
        Err(ApiError::Ambiguous { .. }) => {}
        // the delay variant answers late but fine
        Ok(r) => assert_eq!(r.our_reference.as_deref(), Some("c-ambiguous")),
        Err(other) => panic!("{other:?}"),
    }
    let found = api
        .find_customer_by_reference(&auth, &maybe)
        .await
        .expect("lookup")
        .expect("the create happened");
    assert_eq!(found.record.name, "Kanske AB");
}

#[tokio::test]
async fn a_missing_licence_needs_a_person() {
    let stack = clients_support::stack_with_scopes(F, "customer companyinformation").await;
    let (auth, _) = connect(&stack, "tenant-licence", F).await;
    let api = stack.ctx.providers.api(F);
    let e = api
        .list_invoices(&auth, None, 1)
        .await
        .expect_err("no invoice scope");
    assert!(
        matches!(
            e,
            ApiError::NeedsPerson {
                code: Some(2_001_101),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(api.list_customers(&auth, None, 1).await.is_ok());
}

#[tokio::test]
async fn every_client_method_keeps_to_fortnox_openapi() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-contract", F).await;
    stack
        .sandbox
        .state
        .seed_customers(SandboxKind::Fortnox, &company, 3);
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(F);
    let fortnox = providers.fortnox_api();

    let info = api.company(&auth).await.expect("company");
    assert_eq!(info.provider_company_id.as_deref(), Some(company.as_str()));
    api.list_customers(&auth, None, 1).await.expect("list");
    api.list_customers(&auth, Some(chrono::Utc::now()), 1)
        .await
        .expect("list since");
    api.list_customer_ids(&auth, 1).await.expect("ids");
    let mut ours = customer("cust-contract", "Kontrakt AB");
    ours.reverse_charge_construction = true;
    ours.vat_number = Some("SE556677889901".into());
    let c = api.create_customer(&auth, &ours).await.expect("create");
    api.get_customer(&auth, &c.remote_id).await.expect("get");
    api.find_customer_by_reference(&auth, &ours)
        .await
        .expect("find")
        .expect("found");
    ours.phone = None;
    ours.address.line2 = Some("Box 12".into());
    api.update_customer(&auth, &c.remote_id, &ours)
        .await
        .expect("update");

    let mut inv = invoice("inv-contract", &ours.id, ["ARB", "MAT"]);
    inv.rows[0].house_work = Some(shared::domain::HouseWork {
        kind: shared::domain::HouseWorkKind::Rot,
        hours: Some(d("8")),
        amount: None,
        work_type: None,
        material: false,
    });
    inv.rows[1].account_number = Some(3001);
    // A text row travels as its description only.
    inv.rows.push(shared::domain::InvoiceRow {
        project: None,
        cost_center: None,
        description: "Tack för uppdraget".into(),
        article_number: None,
        account_number: None,
        quantity: d("0"),
        unit_price: d("0"),
        vat_rate: None,
        discount: None,
        house_work: None,
    });
    let i = api
        .create_invoice(&auth, &inv, &c.remote_id)
        .await
        .expect("create invoice");
    let read = api
        .get_invoice(&auth, &i.remote_id)
        .await
        .expect("get invoice")
        .expect("exists");
    assert_eq!(read.record.rows[2].description, "Tack för uppdraget");
    assert_eq!(read.record.rows[2].vat_rate, None);
    assert!(api
        .get_customer(&auth, "999999")
        .await
        .expect("get missing")
        .is_none());
    api.find_invoice_by_reference(&auth, &inv)
        .await
        .expect("find invoice")
        .expect("found");
    inv.rows[0].house_work = None;
    api.update_invoice(&auth, &i.remote_id, &inv, &c.remote_id)
        .await
        .expect("update invoice");
    api.list_invoices(&auth, None, 1)
        .await
        .expect("list invoices");
    api.list_invoices(&auth, Some(chrono::Utc::now()), 1)
        .await
        .expect("list invoices since");
    api.list_invoice_ids(&auth, 1).await.expect("invoice ids");
    fortnox
        .bookkeep(&auth, &i.remote_id)
        .await
        .expect("bookkeep");
    fortnox.credit(&auth, &i.remote_id).await.expect("credit");
    let other = api
        .create_invoice(
            &auth,
            &invoice("inv-contract-2", &ours.id, ["ARB", "MAT"]),
            &c.remote_id,
        )
        .await
        .expect("second invoice");
    fortnox
        .cancel(&auth, &other.remote_id)
        .await
        .expect("cancel");
    // The same actions through the trait the engine uses.
    let third = api
        .create_invoice(
            &auth,
            &invoice("inv-contract-3", &ours.id, ["ARB", "MAT"]),
            &c.remote_id,
        )
        .await
        .expect("third invoice");
    for action in [InvoiceAction::Bookkeep, InvoiceAction::Credit] {
        api.invoice_action(&auth, &third.remote_id, action)
            .await
            .expect("action");
    }
    let fourth = api
        .create_invoice(
            &auth,
            &invoice("inv-contract-4", &ours.id, ["ARB", "MAT"]),
            &c.remote_id,
        )
        .await
        .expect("fourth invoice");
    api.invoice_action(&auth, &fourth.remote_id, InvoiceAction::Cancel)
        .await
        .expect("cancel action");

    let violations = stack.sandbox.state.contract_violations();
    assert!(
        violations.is_empty(),
        "{}",
        sandbox::violation_report(&violations)
    );
    assert!(stack.sandbox.state.requests().len() >= 20);
}
