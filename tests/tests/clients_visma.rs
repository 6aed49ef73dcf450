//! The Visma eAccounting data client against the sandbox's Visma: paging, incremental pulls,
//! full-replace updates, invoices through drafts, lookups by our reference and every error
//! class from real bodies.

mod clients_support;

use clients_support::{connect, customer, d, providers, settings, stack};
use sandbox::{FaultConfig, ProviderKind as SandboxKind};
use shared::domain::Invoice;
use shared::domain::{Entity, ProviderKind};
use shared::http::ApiError;
use shared::providers::{ApiAuth, InvoiceAction};
use std::collections::HashSet;
use std::time::Duration;

const V: ProviderKind = ProviderKind::Visma;

/// The VAT rate (per cent) of the sandbox's seeded articles, through their codings.
fn article_rate(number: &str) -> &'static str {
    match number {
        "1" | "2" => "25",
        "3" => "6",
        "4" | "5" => "12",
        _ => "0",
    }
}

/// An invoice of ours whose rows ask for their articles' VAT rates.
fn invoice(id: &str, customer_id: &str, articles: [&str; 2]) -> Invoice {
    let mut i = clients_support::invoice(id, customer_id, articles);
    for (r, a) in i.rows.iter_mut().zip(articles) {
        r.vat_rate = Some(d(article_rate(a)));
    }
    i
}

#[tokio::test]
async fn pages_through_2000_customers_in_two_requests() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-paging", V).await;
    let seeded = stack
        .sandbox
        .state
        .seed_customers(SandboxKind::Visma, &company, 2000);
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(V);
    stack.sandbox.state.clear_records();
    let mut seen = HashSet::new();
    let mut page = 1;
    loop {
        let p = api.list_customers(&auth, None, page).await.expect("page");
        assert!(p.high_water.is_some(), "Meta.ServerTimeUtc");
        for r in &p.items {
            assert!(r.modified_at.is_some());
            assert!(seen.insert(r.remote_id.clone()));
        }
        if !p.has_more {
            break;
        }
        page = p.next_page;
    }
    assert_eq!(seen, seeded.into_iter().collect::<HashSet<_>>());
    // Visma lists carry whole records; $pagesize is clamped to 1000.
    assert_eq!(stack.sandbox.state.requests().len(), 2);
}

#[tokio::test]
async fn incremental_pulls_return_only_changes_since_the_server_time() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-incremental", V).await;
    let ids = stack
        .sandbox
        .state
        .seed_customers(SandboxKind::Visma, &company, 40);
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(V);
    let full = api.list_customers(&auth, None, 1).await.expect("full");
    assert_eq!(full.items.len(), 40);
    let mark = full.high_water.expect("server time");
    let changed: HashSet<String> = ids.iter().step_by(10).cloned().collect();
    for id in &changed {
        assert!(stack
            .sandbox
            .state
            .modify_customer(SandboxKind::Visma, &company, id, |c| {
                c["EmailAddress"] = "ny@exempel.se".into();
            }));
    }
    let delta = api
        .list_customers(&auth, Some(mark), 1)
        .await
        .expect("delta");
    let got: HashSet<String> = delta.items.iter().map(|r| r.remote_id.clone()).collect();
    assert_eq!(got, changed);
    let again = api
        .list_customers(&auth, delta.high_water, 1)
        .await
        .expect("nothing new");
    assert!(again.items.is_empty());

    // Invoices: modifiedSinceUtc.
    let c = api
        .create_customer(&auth, &customer("c-inc", "Inkrement AB"))
        .await
        .expect("customer");
    api.create_invoice(
        &auth,
        &invoice("i-inc-1", "c-inc", ["1", "2"]),
        &c.remote_id,
    )
    .await
    .expect("invoice 1");
    let first = api.list_invoices(&auth, None, 1).await.expect("invoices");
    assert_eq!(first.items.len(), 1);
    let mark = first.high_water.expect("server time");
    let second = api
        .create_invoice(
            &auth,
            &invoice("i-inc-2", "c-inc", ["1", "3"]),
            &c.remote_id,
        )
        .await
        .expect("invoice 2");
    let delta = api
        .list_invoices(&auth, Some(mark), 1)
        .await
        .expect("delta");
    let got: Vec<&str> = delta.items.iter().map(|r| r.remote_id.as_str()).collect();
    assert_eq!(got, [second.remote_id.as_str()]);
}

#[tokio::test]
async fn customers_and_invoices_round_trip_and_are_found_by_our_reference() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-roundtrip", V).await;
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(V);

    // A UUID does not fit CustomerNumber (16): it is stored as a hash of itself.
    let mut ours = customer(
        "6f1c2a4e-0b7d-4c1a-9e3f-5a6b7c8d9e01",
        "Rörmokare Svensson AB",
    );
    let created = api.create_customer(&auth, &ours).await.expect("create");
    let key = api.reference_key(Entity::Customers, &ours.id);
    assert_eq!(key.len(), 16);
    assert_eq!(created.our_reference.as_deref(), Some(key.as_str()));
    assert_eq!(created.record.content_hash(), ours.content_hash());
    let found = api
        .find_customer_by_reference(&auth, &ours)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.remote_id, created.remote_id);
    // A plain id is kept as it is.
    let plain = api
        .create_customer(&auth, &customer("C-1042", "Kund 1042 AB"))
        .await
        .expect("create plain");
    assert_eq!(plain.our_reference.as_deref(), Some("C-1042"));
    assert!(api
        .find_customer_by_reference(&auth, &customer("C-104", "Kund 104 AB"))
        .await
        .expect("lookup")
        .is_none());

    // Full replace: a field a person set in Visma survives our update.
    assert!(stack.sandbox.state.modify_customer(
        SandboxKind::Visma,
        &company,
        &created.remote_id,
        |c| c["Note"] = "Ring före leverans".into()
    ));
    ours.email = Some("ekonomi@ror.se".into());
    ours.phone = None;
    let updated = api
        .update_customer(&auth, &created.remote_id, &ours)
        .await
        .expect("update");
    assert_eq!(updated.record.email.as_deref(), Some("ekonomi@ror.se"));
    assert_eq!(updated.record.phone, None);
    assert_eq!(updated.our_reference.as_deref(), Some(key.as_str()));
    let stored = stack
        .sandbox
        .state
        .customers(SandboxKind::Visma, &company)
        .into_iter()
        .find(|c| c["Id"] == created.remote_id.as_str())
        .expect("stored");
    assert_eq!(stored["Note"], "Ring före leverans");
    assert!(stored["TermsOfPaymentId"].is_string());

    // Invoices go through a draft that is converted at once.
    let inv = invoice("9b1d8a7e-6a52-4c7e-8d43-1f0e5b2c9a11", &ours.id, ["1", "2"]);
    let booked = api
        .create_invoice(&auth, &inv, &created.remote_id)
        .await
        .expect("create invoice");
    assert!(!booked.remote_id.starts_with("draft:"));
    assert!(!booked.editable);
    assert_eq!(booked.record.rows[0].vat_rate, Some(d("25")));
    assert_eq!(booked.record.rows[1].discount, Some(d("10")));
    let t = booked.record.totals.clone().expect("totals");
    assert_eq!((t.net, t.vat), (d("5425"), d("1356.25")));
    let found = api
        .find_invoice_by_reference(&auth, &inv)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.remote_id, booked.remote_id);
    let e = api
        .update_invoice(&auth, &booked.remote_id, &inv, &created.remote_id)
        .await
        .expect_err("booked");
    assert!(matches!(e, ApiError::InvalidData { .. }));

    // Without conversion the draft is the record; booking it converts it.
    let mut s = settings(10.0, 10, 5);
    s.visma_convert_drafts = false;
    let drafts = clients_support::providers(&stack, s);
    let dapi = drafts.api(V);
    let second = invoice("inv-draft", &ours.id, ["1", "3"]);
    let draft = dapi
        .create_invoice(&auth, &second, &created.remote_id)
        .await
        .expect("draft");
    assert!(draft.remote_id.starts_with("draft:") && draft.editable);
    let found = dapi
        .find_invoice_by_reference(&auth, &second)
        .await
        .expect("lookup")
        .expect("draft found");
    assert_eq!(found.remote_id, draft.remote_id);
    let converted = dapi
        .invoice_action(&auth, &draft.remote_id, InvoiceAction::Bookkeep)
        .await
        .expect("convert");
    assert!(!converted.editable);
    assert_eq!(
        dapi.find_invoice_by_reference(&auth, &second)
            .await
            .expect("lookup")
            .expect("found")
            .remote_id,
        converted.remote_id
    );

    // Rows need articles Visma knows.
    let mut unknown = invoice("inv-unknown", &ours.id, ["1", "2"]);
    unknown.rows[1].article_number = Some("99".into());
    let e = api
        .create_invoice(&auth, &unknown, &created.remote_id)
        .await
        .expect_err("unknown article");
    assert!(
        matches!(e, ApiError::InvalidData { field: Some(ref f), .. } if f == "rows[1].article_number"),
        "{e:?}"
    );
    // Terms of payment and articles are looked up once per company.
    assert_eq!(
        providers
            .visma_api()
            .all_articles(&auth)
            .await
            .expect("articles")
            .len(),
        6
    );
    stack.sandbox.state.clear_records();
    api.create_customer(&auth, &customer("C-2", "Två AB"))
        .await
        .expect("create");
    let paths: Vec<String> = stack
        .sandbox
        .state
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        ["/v2/customers"],
        "terms of payment come from the cache"
    );
}

#[tokio::test]
async fn every_error_class_is_recognised_from_sandbox_bodies() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-errors", V).await;
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(V);

    let missing = "0b4c0a80-0000-4000-8000-000000000000";
    assert!(api
        .get_customer(&auth, missing)
        .await
        .expect("get")
        .is_none());
    let e = api
        .update_customer(&auth, missing, &customer("x", "X AB"))
        .await
        .expect_err("missing");
    assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");

    let bogus = ApiAuth {
        access_token: shared::domain::Secret::new("not-a-token"),
        tenant_key: auth.tenant_key.clone(),
    };
    let e = api
        .list_customers(&bogus, None, 1)
        .await
        .expect_err("bad token");
    assert!(matches!(e, ApiError::NeedsReauth { .. }), "{e:?}");

    let mut no_city = customer("c-nocity", "Utan Ort AB");
    no_city.address.city = None;
    let e = api
        .create_customer(&auth, &no_city)
        .await
        .expect_err("city");
    match e {
        ApiError::InvalidData { code, message, .. } => {
            assert_eq!(code, Some(2000));
            assert!(message.contains("InvoiceCity"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A customer without a city is sent without the required `InvoiceCity` on purpose (Visma
    // names the field in its answer): that one request is the only contract violation.
    let excused = stack.sandbox.state.take_contract_violations();
    assert_eq!(excused.len(), 1, "{excused:#?}");
    assert!(excused[0].errors[0].contains("InvoiceCity"), "{excused:#?}");

    stack.sandbox.state.set_faults(FaultConfig {
        error_500: 1.0,
        ..FaultConfig::default()
    });
    let e = api.list_customers(&auth, None, 1).await.expect_err("500");
    assert!(matches!(e, ApiError::Retryable { .. }), "{e:?}");

    // A create whose answer is lost is Ambiguous, made once, and found by our reference.
    stack.sandbox.state.set_faults(FaultConfig {
        commit_then_fail: 1.0,
        slow_delay: Duration::from_millis(10),
        only_writes: true,
        seed: 3,
        ..FaultConfig::default()
    });
    let maybe = customer("c-maybe", "Kanske AB");
    let outcome = api.create_customer(&auth, &maybe).await;
    stack.sandbox.state.set_faults(FaultConfig::default());
    assert!(
        matches!(outcome, Err(ApiError::Ambiguous { .. }) | Ok(_)),
        "{outcome:?}"
    );
    assert_eq!(
        stack
            .sandbox
            .state
            .customer_count(SandboxKind::Visma, &company),
        1
    );
    let found = api
        .find_customer_by_reference(&auth, &maybe)
        .await
        .expect("lookup")
        .expect("made once");

    // The same for an invoice: the draft was made, conversion never happened; the lookup finds
    // the draft and booking it finishes the job.
    stack.sandbox.state.set_faults(FaultConfig {
        commit_then_fail: 1.0,
        slow_delay: Duration::from_millis(10),
        only_writes: true,
        seed: 5,
        ..FaultConfig::default()
    });
    let inv = invoice("inv-maybe", &maybe.id, ["1", "2"]);
    let outcome = api.create_invoice(&auth, &inv, &found.remote_id).await;
    stack.sandbox.state.set_faults(FaultConfig::default());
    if let Err(e) = &outcome {
        assert!(matches!(e, ApiError::Ambiguous { .. }), "{e:?}");
        let r = api
            .find_invoice_by_reference(&auth, &inv)
            .await
            .expect("lookup")
            .expect("draft or invoice");
        if r.editable {
            api.invoice_action(&auth, &r.remote_id, InvoiceAction::Bookkeep)
                .await
                .expect("convert");
        }
    }
    assert_eq!(
        stack
            .sandbox
            .state
            .invoice_count(SandboxKind::Visma, &company),
        1,
        "one invoice, however the faults fell"
    );
}

#[tokio::test]
async fn a_missing_scope_needs_a_person() {
    let stack =
        clients_support::stack_with_scopes(V, "ea:api offline_access ea:sales_readonly").await;
    let (auth, _) = connect(&stack, "tenant-scope", V).await;
    let api = stack.ctx.providers.api(V);
    assert!(api.list_customers(&auth, None, 1).await.is_ok());
    let e = api
        .create_customer(&auth, &customer("c-1", "Läsbehörighet AB"))
        .await
        .expect_err("read-only scope");
    assert!(
        matches!(
            e,
            ApiError::NeedsPerson {
                code: Some(4006),
                ..
            }
        ),
        "{e:?}"
    );
}

/// Every id of an id listing, page by page.
async fn all_ids(api: &dyn shared::providers::AccountingApi, auth: &ApiAuth) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut page = 1;
    loop {
        let p = api.list_invoice_ids(auth, page).await.expect("ids");
        ids.extend(p.ids);
        if !p.has_more {
            return ids;
        }
        page = p.next_page;
    }
}

#[tokio::test]
async fn drafts_mode_round_trip_updates_drafts_and_lists_them_as_live() {
    let stack = stack(10.0).await;
    let (auth, _) = connect(&stack, "tenant-drafts", V).await;
    let mut s = settings(10.0, 10, 5);
    s.visma_convert_drafts = false;
    let providers = providers(&stack, s);
    let api = providers.api(V);
    let c = api
        .create_customer(&auth, &customer("c-drafts", "Utkast AB"))
        .await
        .expect("customer");
    let mut inv = invoice("inv-drafts-1", "c-drafts", ["1", "4"]);
    let draft = api
        .create_invoice(&auth, &inv, &c.remote_id)
        .await
        .expect("draft");
    assert!(draft.remote_id.starts_with("draft:") && draft.editable);
    assert_eq!(draft.record.rows[1].vat_rate, Some(d("12")));

    // The draft is changed in place (PUT /v2/customerinvoicedrafts/{id}).
    inv.our_reference = Some("Bertil".into());
    inv.rows[0].quantity = d("10");
    inv.due_date = chrono::NaiveDate::from_ymd_opt(2026, 12, 20);
    let updated = api
        .update_invoice(&auth, &draft.remote_id, &inv, &c.remote_id)
        .await
        .expect("draft update");
    assert_eq!(updated.remote_id, draft.remote_id);
    let read = api
        .get_invoice(&auth, &draft.remote_id)
        .await
        .expect("get")
        .expect("draft exists");
    assert_eq!(read.record.our_reference.as_deref(), Some("Bertil"));
    assert_eq!(read.record.rows[0].quantity, d("10"));
    assert_eq!(read.record.due_date, inv.due_date);
    assert_eq!(read.record.invoice_date, inv.invoice_date);

    // A full pass of ids sees the live draft, so it is never taken for deleted.
    let ids = all_ids(api, &auth).await;
    assert!(ids.contains(&draft.remote_id), "{ids:?}");

    // Booking converts it; the invoice keeps the draft's date and the draft is gone.
    let booked = api
        .invoice_action(&auth, &draft.remote_id, InvoiceAction::Bookkeep)
        .await
        .expect("convert");
    assert!(!booked.editable);
    assert_eq!(booked.record.invoice_date, inv.invoice_date);
    let ids = all_ids(api, &auth).await;
    assert!(ids.contains(&booked.remote_id) && !ids.contains(&draft.remote_id));
    assert_eq!(
        api.find_invoice_by_reference(&auth, &inv)
            .await
            .expect("lookup")
            .expect("found")
            .remote_id,
        booked.remote_id
    );
    let e = api
        .update_invoice(&auth, &booked.remote_id, &inv, &c.remote_id)
        .await
        .expect_err("booked");
    assert!(matches!(e, ApiError::InvalidData { .. }));
    stack.assert_contracts_kept();
}

#[tokio::test]
async fn a_row_at_another_rate_than_its_article_is_refused_naming_the_field() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-vat", V).await;
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(V);
    let c = api
        .create_customer(&auth, &customer("c-vat", "Moms AB"))
        .await
        .expect("customer");
    let mut inv = invoice("inv-vat", "c-vat", ["1", "2"]);
    inv.rows[1].vat_rate = Some(d("12"));
    let e = api
        .create_invoice(&auth, &inv, &c.remote_id)
        .await
        .expect_err("12 % on a 25 % article");
    assert!(
        matches!(e, ApiError::InvalidData { field: Some(ref f), .. } if f == "rows[1].vat_rate"),
        "{e:?}"
    );
    assert_eq!(
        stack
            .sandbox
            .state
            .invoice_count(SandboxKind::Visma, &company),
        0,
        "nothing booked at a rate not asked for"
    );
    // The same row on a 12 % article goes through at 12 %, and 0 % makes it VAT-free.
    inv.rows[1].article_number = Some("4".into());
    inv.rows[0].vat_rate = Some(d("0"));
    let booked = api
        .create_invoice(&auth, &inv, &c.remote_id)
        .await
        .expect("invoice");
    assert_eq!(booked.record.rows[1].vat_rate, Some(d("12")));
    assert_eq!(booked.record.rows[0].vat_rate, Some(d("0")));
    stack.assert_contracts_kept();
}

/// Every client method against the sandbox, which checks each request and answer against
/// Visma's OpenAPI document: none may break it.
#[tokio::test]
async fn contract_sweep_every_client_method_keeps_to_vismas_document() {
    let stack = stack(10.0).await;
    let (auth, company) = connect(&stack, "tenant-sweep", V).await;
    stack
        .sandbox
        .state
        .seed_customers(SandboxKind::Visma, &company, 3);
    let providers = providers(&stack, settings(10.0, 10, 5));
    let api = providers.api(V);
    let visma = providers.visma_api();

    let info = api.company(&auth).await.expect("company");
    assert!(!info.name.is_empty());
    assert!(!visma
        .terms_of_payment(&auth)
        .await
        .expect("terms")
        .is_empty());
    visma.default_terms_id(&auth).await.expect("default terms");
    assert!(!visma
        .all_articles(&auth)
        .await
        .expect("articles")
        .is_empty());
    assert!(!visma.list_codings(&auth).await.expect("codings").is_empty());

    let mut ours = customer("c-sweep", "Svep AB");
    let created = api.create_customer(&auth, &ours).await.expect("create");
    ours.email = None;
    ours.address.line2 = Some("Box 12".into());
    let updated = api
        .update_customer(&auth, &created.remote_id, &ours)
        .await
        .expect("update");
    assert_eq!(updated.record.address.line2.as_deref(), Some("Box 12"));
    let page = api.list_customers(&auth, None, 1).await.expect("list");
    assert_eq!(page.items.len(), 4);
    api.list_customers(&auth, page.high_water, 1)
        .await
        .expect("list since");
    let ids = api.list_customer_ids(&auth, 1).await.expect("ids");
    assert!(ids.ids.contains(&created.remote_id));
    assert!(api
        .get_customer(&auth, &created.remote_id)
        .await
        .expect("get")
        .is_some());
    assert!(api
        .get_customer(&auth, "0b4c0a80-0000-4000-8000-000000000000")
        .await
        .expect("get missing")
        .is_none());
    assert!(api
        .find_customer_by_reference(&auth, &ours)
        .await
        .expect("lookup")
        .is_some());

    let inv = invoice("inv-sweep", "c-sweep", ["1", "3"]);
    let booked = api
        .create_invoice(&auth, &inv, &created.remote_id)
        .await
        .expect("create invoice");
    assert_eq!(booked.record.rows[1].vat_rate, Some(d("6")));
    let listed = api.list_invoices(&auth, None, 1).await.expect("invoices");
    assert_eq!(listed.items.len(), 1);
    api.list_invoices(&auth, listed.high_water, 1)
        .await
        .expect("invoices since");
    assert!(all_ids(api, &auth).await.contains(&booked.remote_id));
    assert!(api
        .get_invoice(&auth, &booked.remote_id)
        .await
        .expect("get invoice")
        .is_some());
    assert!(api
        .find_invoice_by_reference(&auth, &inv)
        .await
        .expect("lookup")
        .is_some());
    api.invoice_action(&auth, &booked.remote_id, InvoiceAction::Bookkeep)
        .await
        .expect("bookkeep of a booked invoice reads it");
    for action in [InvoiceAction::Credit, InvoiceAction::Cancel] {
        assert!(matches!(
            api.invoice_action(&auth, &booked.remote_id, action).await,
            Err(ApiError::InvalidData { .. })
        ));
    }

    // Drafts: create, read, find, update, convert.
    let mut s = settings(10.0, 10, 5);
    s.visma_convert_drafts = false;
    let drafts = clients_support::providers(&stack, s);
    let dapi = drafts.api(V);
    let mut second = invoice("inv-sweep-draft", "c-sweep", ["2", "5"]);
    let draft = dapi
        .create_invoice(&auth, &second, &created.remote_id)
        .await
        .expect("draft");
    assert!(dapi
        .get_invoice(&auth, &draft.remote_id)
        .await
        .expect("get draft")
        .is_some());
    assert!(all_ids(dapi, &auth).await.contains(&draft.remote_id));
    second.your_reference = Some("Ändrad".into());
    dapi.update_invoice(&auth, &draft.remote_id, &second, &created.remote_id)
        .await
        .expect("draft update");
    assert_eq!(
        dapi.find_invoice_by_reference(&auth, &second)
            .await
            .expect("lookup")
            .expect("draft found")
            .remote_id,
        draft.remote_id
    );
    dapi.invoice_action(&auth, &draft.remote_id, InvoiceAction::Bookkeep)
        .await
        .expect("convert");

    let violations = stack.sandbox.state.contract_violations();
    assert!(
        violations.is_empty(),
        "{}",
        sandbox::violation_report(&violations)
    );
    assert!(stack.sandbox.state.requests().len() > 25);
}
