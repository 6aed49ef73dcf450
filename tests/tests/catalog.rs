//! Projects, cost centres and articles (#13.6, #13.7), per provider through the whole stack:
//! the app upserts a project for a customer, two articles (one under a number the company
//! already has) and an invoice booked on the project with a cost centre on a row and an
//! article row; the export leaves them at the provider with its own fields (Fortnox
//! `/3/articles`, `/3/projects`, invoice and row `Project`/`CostCenter`; Visma `/v2/articles`
//! with a coding and a unit, `/v2/projects` with its `CustomerId`, rows' `ProjectId` and
//! `CostCenterItemId1`). Pulls read our own writes back as no change, bring a price changed in
//! the accounting system and a project made there into the feed, and an article exported
//! while every write's answer is lost is created once. Bad input is refused naming the field,
//! with nothing stored. Every request and answer keeps the providers' contracts.

use devstack::{Stack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use shared::domain::{Entity, JobState, ProviderKind};
use std::time::Duration;
use system_tests::{
    assert_contracts_kept, customer_json, invoice_json, pull_entry, refused, sandbox_kind,
    stack_with, upsert, wait_idle,
};

const T: &str = "tenant-catalog";
const WAIT: Duration = Duration::from_secs(120);

/// The codes each company was seeded with: a cost centre, and an article the app's export
/// finds taken (with the unit that company has for hours).
struct Seeded {
    cost_center: &'static str,
    taken_article: &'static str,
    hours: &'static str,
}

fn seeded(provider: ProviderKind) -> Seeded {
    match provider {
        ProviderKind::Fortnox => Seeded {
            cost_center: "STHLM",
            taken_article: "ARB",
            hours: "tim",
        },
        ProviderKind::Visma => Seeded {
            cost_center: "100",
            taken_article: "1",
            hours: "tim",
        },
    }
}

fn project() -> Value {
    json!({"id": "prj-1", "number": "P-100", "name": "Badrum Storgatan 1", "status": "ongoing",
           "start_date": "2026-11-02", "end_date": "2026-12-18", "customer_id": "cust-00000"})
}

fn gips() -> Value {
    json!({"id": "art-1", "number": "GIPS-13", "name": "Gipsskiva 13 mm", "unit": "st",
           "price": "89.50", "vat_rate": "25", "kind": "goods"})
}

fn labour(s: &Seeded) -> Value {
    json!({"id": "art-2", "number": s.taken_article, "name": "Arbetstid (appen)", "unit": s.hours,
           "price": "700.00", "vat_rate": "25", "kind": "service",
           "house_work_type": "construction"})
}

/// An invoice on the project, a cost centre on its first row, and a row of the new article.
fn invoice(provider: ProviderKind, s: &Seeded) -> Value {
    let mut i = invoice_json(0, 0, provider);
    i["project"] = json!("P-100");
    i["rows"][0]["cost_center"] = json!(s.cost_center);
    if provider == ProviderKind::Visma {
        // Visma books through articles: the labour row is the article the app just adopted.
        i["rows"][0]["article_number"] = json!(s.taken_article);
    }
    let rows = i["rows"].as_array_mut().unwrap();
    rows.push(
        json!({"description": "Gipsskivor", "article_number": "GIPS-13",
                     "quantity": "12", "unit_price": "89.50", "vat_rate": "25"}),
    );
    i
}

fn key(stack: &Stack, provider: ProviderKind) -> String {
    stack
        .sandbox
        .state
        .default_company_key(sandbox_kind(provider))
}

fn by<'a>(list: &'a [Value], field: &str, value: &str) -> Vec<&'a Value> {
    list.iter().filter(|v| v[field] == value).collect()
}

fn money(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("a number: {other}")),
    }
}

async fn remote_id(stack: &Stack, id: &str, e: Entity, our_id: &str) -> String {
    stack
        .direct
        .db
        .mappings(id, e, &[our_id.to_string()])
        .await
        .unwrap()
        .remove(our_id)
        .and_then(|m| m.remote_id)
        .unwrap_or_else(|| panic!("{e} {our_id} is mapped"))
}

/// Bad input: each refused naming its field, nothing stored.
async fn bad_input_is_refused(stack: &Stack, id: &str) {
    let mut a = gips();
    a["number"] = json!("GIPS 13");
    refused(stack, T, id, "articles", a, "records[0].number").await;
    let mut a = gips();
    a["vat_rate"] = json!("20");
    refused(stack, T, id, "articles", a, "records[0].vat_rate").await;
    let mut a = gips();
    a["house_work_type"] = json!("roofing");
    refused(stack, T, id, "articles", a, "records[0].house_work_type").await;
    let mut a = gips();
    a.as_object_mut().unwrap().remove("unit");
    refused(stack, T, id, "articles", a, "records[0].unit").await;
    let mut p = project();
    p["end_date"] = json!("2026-10-01");
    refused(stack, T, id, "projects", p, "records[0].end_date").await;
    let mut p = project();
    p["status"] = json!("paused");
    refused(stack, T, id, "projects", p, "records[0].status").await;
    let mut i = invoice_json(0, 0, ProviderKind::Fortnox);
    i["rows"][0]["project"] = json!("P 100");
    refused(stack, T, id, "invoices", i, "records[0].rows[0].project").await;
    for (e, our) in [
        (Entity::Articles, "art-1"),
        (Entity::Projects, "prj-1"),
        (Entity::Invoices, "inv-00000"),
    ] {
        let stored = stack
            .direct
            .db
            .local_records(id, e, &[our.to_string()])
            .await
            .unwrap();
        assert!(stored.is_empty(), "a refused {e} is not stored");
    }
}

async fn exported(provider: ProviderKind) -> (Stack, String) {
    let mut opts = StackOptions::default();
    opts.env.insert("PULL_OVERLAP_SECONDS".into(), "5".into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, provider, true).await.unwrap();
    bad_input_is_refused(&stack, &id).await;
    let s = seeded(provider);
    upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![customer_json(0, "", chrono::Utc::now())],
    )
    .await;
    upsert(&stack, T, &id, "projects", vec![project()]).await;
    upsert(&stack, T, &id, "articles", vec![gips(), labour(&s)]).await;
    upsert(&stack, T, &id, "invoices", vec![invoice(provider, &s)]).await;
    let jobs = wait_idle(&stack, &id, WAIT).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
    (stack, id)
}

/// What the export left at the provider.
async fn check_provider(stack: &Stack, id: &str, provider: ProviderKind) {
    let (kind, key, s) = (
        sandbox_kind(provider),
        key(stack, provider),
        seeded(provider),
    );
    let articles = stack.sandbox.state.articles(kind, &key);
    let projects = stack.sandbox.state.projects(kind, &key);
    let project_remote = remote_id(stack, id, Entity::Projects, "prj-1").await;
    match provider {
        ProviderKind::Fortnox => {
            let g = by(&articles, "ArticleNumber", "GIPS-13");
            assert_eq!(g.len(), 1, "{articles:?}");
            assert_eq!(g[0]["Description"], "Gipsskiva 13 mm");
            assert_eq!(g[0]["Unit"], "st");
            assert_eq!(money(&g[0]["SalesPrice"]), 89.5);
            assert_eq!(money(&g[0]["VAT"]), 25.0);
            assert_eq!(g[0]["Type"], "STOCK");
            let taken = by(&articles, "ArticleNumber", s.taken_article);
            assert_eq!(taken.len(), 1, "adopted, not duplicated: {articles:?}");
            assert_eq!(taken[0]["Description"], "Arbetstid (appen)");
            assert_eq!(taken[0]["Type"], "SERVICE");
            assert_eq!(taken[0]["HouseworkType"], "CONSTRUCTION");
            let p = by(&projects, "ProjectNumber", "P-100");
            assert_eq!(p.len(), 1, "{projects:?}");
            assert_eq!(project_remote, "P-100");
            assert_eq!(p[0]["Description"], "Badrum Storgatan 1");
            assert_eq!(p[0]["Status"], "ONGOING");
            assert_eq!(p[0]["StartDate"], "2026-11-02");
            let invoice = stack
                .sandbox
                .state
                .invoices(kind, &key)
                .into_iter()
                .find(|i| i["ExternalInvoiceReference1"] == "inv-00000")
                .expect("exported");
            assert_eq!(invoice["Project"], "P-100", "{invoice}");
            let rows = invoice["InvoiceRows"].as_array().unwrap();
            assert_eq!(rows[0]["CostCenter"], s.cost_center, "{invoice}");
            assert_eq!(rows[1]["ArticleNumber"], "GIPS-13", "{invoice}");
        }
        ProviderKind::Visma => {
            let g = by(&articles, "Number", "GIPS-13");
            assert_eq!(g.len(), 1, "{articles:?}");
            assert_eq!(g[0]["Name"], "Gipsskiva 13 mm");
            assert_eq!(g[0]["UnitAbbreviation"], "st");
            assert_eq!(money(&g[0]["NetPrice"]), 89.5);
            assert_eq!(g[0]["IsServiceArticle"], false);
            let taken = by(&articles, "Number", s.taken_article);
            assert_eq!(taken.len(), 1, "adopted, not duplicated: {articles:?}");
            assert_eq!(taken[0]["Name"], "Arbetstid (appen)");
            assert_eq!(taken[0]["IsServiceArticle"], true);
            assert_eq!(taken[0]["HouseWorkType"], 1);
            let p = by(&projects, "Number", "P-100");
            assert_eq!(p.len(), 1, "{projects:?}");
            assert_eq!(p[0]["Id"], project_remote.as_str());
            assert_eq!(p[0]["Status"], 1);
            let customer = remote_id(stack, id, Entity::Customers, "cust-00000").await;
            assert_eq!(p[0]["CustomerId"], customer.as_str(), "{}", p[0]);
            let item = stack
                .sandbox
                .state
                .cost_centers(kind, &key)
                .iter()
                .flat_map(|c| c["Items"].as_array().cloned().unwrap_or_default())
                .find(|i| i["ShortName"] == s.cost_center)
                .expect("seeded item");
            let invoice_remote = remote_id(stack, id, Entity::Invoices, "inv-00000").await;
            let invoice = stack
                .sandbox
                .state
                .invoices(kind, &key)
                .into_iter()
                .find(|i| i["Id"] == invoice_remote.as_str())
                .expect("exported and converted");
            let rows = invoice["Rows"].as_array().unwrap();
            // The invoice's project goes on every row; the cost centre on the first only.
            assert_eq!(rows[0]["ProjectId"], project_remote.as_str(), "{invoice}");
            assert_eq!(rows[1]["ProjectId"], project_remote.as_str(), "{invoice}");
            assert_eq!(rows[0]["CostCenterItemId1"], item["Id"], "{invoice}");
            assert!(rows[1]["CostCenterItemId1"].is_null(), "{invoice}");
        }
    }
}

/// Pulls: our writes are no change; a price changed and a project made at the provider reach
/// the feed.
async fn changes_at_the_provider_reach_the_feed(stack: &Stack, id: &str, provider: ProviderKind) {
    let (kind, key) = (sandbox_kind(provider), key(stack, provider));
    let (mut articles, mut projects, mut invoices) = (0, 0, 0);
    assert_eq!(
        pull_entry(stack, T, id, "articles", "art-1", &mut articles).await,
        None
    );
    assert_eq!(
        pull_entry(stack, T, id, "projects", "prj-1", &mut projects).await,
        None
    );
    let own = pull_entry(stack, T, id, "invoices", "inv-00000", &mut invoices).await;
    assert_eq!(own, None, "our own invoice is no change");

    let gips = remote_id(stack, id, Entity::Articles, "art-1").await;
    let price = match provider {
        ProviderKind::Fortnox => "SalesPrice",
        ProviderKind::Visma => "NetPrice",
    };
    assert!(stack
        .sandbox
        .state
        .modify_article(kind, &key, &gips, |a| a[price] = json!(95.0)));
    let changed = pull_entry(stack, T, id, "articles", "art-1", &mut articles)
        .await
        .expect("the price change reaches the feed");
    assert_eq!(changed["record"]["price"], "95", "{changed}");
    assert_eq!(changed["record"]["number"], "GIPS-13", "{changed}");

    let fields = match provider {
        ProviderKind::Fortnox => json!({"ProjectNumber": "P-200", "Description": "Tak Sjögatan 3",
                                        "Status": "NOTSTARTED"}),
        ProviderKind::Visma => json!({"Number": "P-200", "Name": "Tak Sjögatan 3", "Status": 1,
                                      "StartDate": "2026-12-01T00:00:00Z"}),
    };
    let made = stack
        .sandbox
        .state
        .seed_project(kind, &key, fields)
        .expect("seeded");
    let ours = format!("{provider}-{made}");
    let new = pull_entry(stack, T, id, "projects", &ours, &mut projects)
        .await
        .expect("the new project reaches the feed");
    assert_eq!(new["record"]["number"], "P-200", "{new}");
    assert_eq!(new["record"]["name"], "Tak Sjögatan 3", "{new}");
}

/// An article exported while every write's answer is lost is created exactly once.
async fn created_once_under_faults(stack: &Stack, id: &str, provider: ProviderKind) {
    let (kind, key) = (sandbox_kind(provider), key(stack, provider));
    let spackel = json!({"id": "art-3", "number": "SPACKEL-5", "name": "Spackel 5 l",
                         "unit": "st", "price": "245.00", "vat_rate": "25"});
    stack.sandbox.state.set_faults(sandbox::FaultConfig {
        commit_then_fail: 1.0,
        slow_delay: Duration::from_millis(200),
        only_writes: true,
        seed: 11,
        ..Default::default()
    });
    upsert(stack, T, id, "articles", vec![spackel]).await;
    // The job retries until the create is found by its number; let it meet the faults first.
    let deadline = tokio::time::Instant::now() + WAIT;
    while stack.sandbox.state.faults_injected().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no write was made");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let injected = stack.sandbox.state.faults_injected().len();
    stack
        .sandbox
        .state
        .set_faults(sandbox::FaultConfig::default());
    assert!(injected >= 1, "the provider lost at least one answer");
    let jobs = wait_idle(stack, id, WAIT).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
    let number = match provider {
        ProviderKind::Fortnox => "ArticleNumber",
        ProviderKind::Visma => "Number",
    };
    let articles = stack.sandbox.state.articles(kind, &key);
    assert_eq!(
        by(&articles, number, "SPACKEL-5").len(),
        1,
        "created once: {articles:?}"
    );
    remote_id(stack, id, Entity::Articles, "art-3").await;
}

async fn round_trip(provider: ProviderKind) {
    let (stack, id) = exported(provider).await;
    check_provider(&stack, &id, provider).await;
    changes_at_the_provider_reach_the_feed(&stack, &id, provider).await;
    created_once_under_faults(&stack, &id, provider).await;
    assert_contracts_kept(&stack);
    // The records API answers the feed of both new entities (Project and Article shapes).
    for entity in ["projects", "articles"] {
        let r = stack
            .call(
                Method::GET,
                &format!("/api/integrations/{id}/records/{entity}?after=0&limit=500"),
                Some(T),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            !r.json["records"].as_array().unwrap().is_empty(),
            "the seeded {entity} were pulled: {}",
            r.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_cost_centres_and_articles_round_trip_through_fortnox() {
    round_trip(ProviderKind::Fortnox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_cost_centres_and_articles_round_trip_through_visma() {
    round_trip(ProviderKind::Visma).await;
}

/// A company connected before the register scopes were asked for: its grant reaches customers
/// and invoices only. The provider refuses the registers for want of a permission (Fortnox
/// 2001101, Visma 4006); their phases are skipped, and customers and invoices still sync.
async fn an_old_grant_still_syncs(provider: ProviderKind, old_scopes: &str) {
    let mut opts = StackOptions::default();
    let var = match provider {
        ProviderKind::Fortnox => "FORTNOX_SCOPES",
        ProviderKind::Visma => "VISMA_SCOPES",
    };
    opts.env.insert(var.into(), old_scopes.into());
    let stack = stack_with(opts).await;
    let (id, _) = stack.connect(T, provider, true).await.unwrap();
    upsert(
        &stack,
        T,
        &id,
        "customers",
        vec![customer_json(0, "", chrono::Utc::now())],
    )
    .await;
    upsert(&stack, T, &id, "projects", vec![project()]).await;
    upsert(
        &stack,
        T,
        &id,
        "invoices",
        vec![invoice_json(0, 0, provider)],
    )
    .await;
    let r = stack
        .call(
            Method::POST,
            &format!("/api/integrations/{id}/sync"),
            Some(T),
            Some(json!({"direction": "both"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text);
    let jobs = wait_idle(&stack, &id, WAIT).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
    let (kind, key) = (sandbox_kind(provider), key(&stack, provider));
    assert_eq!(stack.sandbox.state.customer_count(kind, &key), 1);
    assert_eq!(stack.sandbox.state.invoice_count(kind, &key), 1);
    let number = match provider {
        ProviderKind::Fortnox => "ProjectNumber",
        ProviderKind::Visma => "Number",
    };
    let projects = stack.sandbox.state.projects(kind, &key);
    assert!(
        by(&projects, number, "P-100").is_empty(),
        "the register the grant does not reach is left alone: {projects:?}"
    );
    let (pending, _) = stack
        .direct
        .db
        .pending_exports(&id, Entity::Projects, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "the project waits for a new grant");
    let status = stack
        .call(
            Method::GET,
            &format!("/api/integrations/{id}/status"),
            Some(T),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status.json["status"], "connected", "{}", status.text);
    assert_contracts_kept(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_fortnox_grant_without_article_and_project_still_syncs() {
    an_old_grant_still_syncs(
        ProviderKind::Fortnox,
        "customer invoice companyinformation payment",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_visma_grant_without_ea_accounting_still_syncs() {
    an_old_grant_still_syncs(ProviderKind::Visma, "ea:api offline_access ea:sales").await;
}
