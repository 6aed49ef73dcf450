//! Fortnox articles, projects and cost centres (`/3/articles`, `/3/projects`,
//! `/3/costcenters`) and the invoice's references to them. Every test ends by checking
//! each request and response against Fortnox's OpenAPI document (0 violations).

mod common;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Stockholm;
use common::*;
use reqwest::StatusCode;
use sandbox::fortnox::{
    CODE_ARTICLE_NOT_FOUND, CODE_ARTICLE_NUMBER_TAKEN, CODE_COST_CENTER_CODE_TAKEN,
    CODE_COST_CENTER_NOT_FOUND, CODE_INVALID_PARAMETER, CODE_INVALID_VALUE, CODE_NOT_FOUND,
    CODE_NO_LICENCE, CODE_PROJECT_NOT_FOUND, CODE_PROJECT_NUMBER_TAKEN, CODE_REGISTER_IN_USE,
    CODE_REQUIRED_FIELD, CODE_UNIT_NOT_FOUND, CODE_VALUE_TOO_LONG,
};
use sandbox::{ProviderKind, RunningSandbox, DEFAULT_FORTNOX_CLIENT_ID};
use serde_json::{json, Value};

/// A Fortnox client whose token carries every scope these routes need.
fn api(sb: &RunningSandbox) -> Api {
    let mut api = fortnox(sb);
    api.token = sb.state.issue_access_token(
        ProviderKind::Fortnox,
        DEFAULT_FORTNOX_CLIENT_ID,
        &api.company,
        &["customer", "invoice", "article", "project", "costcenter"],
    );
    api
}

fn keys_of(body: &Value, list: &str, field: &str) -> Vec<String> {
    body[list]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c[field].as_str().expect("key").to_string())
        .collect()
}

fn sorted_keys(item: &Value) -> Vec<String> {
    let mut keys: Vec<String> = item.as_object().expect("object").keys().cloned().collect();
    keys.sort_unstable();
    keys
}

fn stockholm(t: DateTime<Utc>) -> String {
    t.with_timezone(&Stockholm)
        .format("%Y-%m-%d%%20%H:%M:%S")
        .to_string()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn articles_create_read_list_update_delete() {
    let sb = sandbox().await;
    let api = api(&sb);

    // The seeded company has articles; the list pages and has the list item's keys.
    let (status, body) = api.get("/3/articles").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        keys_of(&body, "Articles", "ArticleNumber"),
        ["ARB", "MAT", "RESA", "ROT"]
    );
    assert_eq!(body["MetaInformation"]["@TotalResources"], 4);
    let item = &body["Articles"][0];
    assert_eq!(
        sorted_keys(item),
        schema_properties("fortnox_ArticleListItem")
    );
    // The list item types `SalesPrice` and `VAT` as strings.
    assert_eq!(item["SalesPrice"], "650");
    assert_eq!(item["VAT"], "25");

    // Create: number assigned, defaults, every key of the single schema, null for unset.
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"Description": "Takpapp", "Unit": "m2", "SalesPrice": 149.5,
                "VAT": 25, "Type": "STOCK", "Housework": true, "HouseworkType": "CONSTRUCTION"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let a = &body["Article"];
    assert_eq!(
        sorted_keys(a),
        schema_properties("fortnox_ArticleSingleItem")
    );
    assert_eq!(a["ArticleNumber"], "1");
    assert_eq!(a["SalesPrice"], 149.5);
    assert_eq!(a["VAT"], 25);
    assert_eq!(a["Active"], true);
    assert_eq!(a["Housework"], true);
    assert_eq!(a["HouseworkType"], "CONSTRUCTION");
    assert_eq!(a["EAN"], Value::Null);
    assert!(
        a.get("LastModified").is_none(),
        "the schema has no LastModified"
    );
    assert!(a["@url"].as_str().unwrap().ends_with("/3/articles/1"));

    // Read, update (merge), filters.
    let (status, body) = api.get("/3/articles/1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Article"]["Unit"], "m2");
    let (status, body) = api
        .put(
            "/3/articles/1",
            &json!({"Article": {"SalesPrice": 155, "Active": false, "Type": "SERVICE"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Article"]["SalesPrice"], 155);
    assert_eq!(body["Article"]["Description"], "Takpapp");
    assert_eq!(body["Article"]["Type"], "SERVICE");
    let (_, body) = api.get("/3/articles?filter=inactive").await;
    assert_eq!(keys_of(&body, "Articles", "ArticleNumber"), ["1"]);
    let (_, body) = api.get("/3/articles?filter=active&description=arbet").await;
    assert_eq!(keys_of(&body, "Articles", "ArticleNumber"), ["ARB", "ROT"]);
    let (_, body) = api
        .get("/3/articles?sortby=articlenumber&sortorder=descending&limit=2")
        .await;
    assert_eq!(keys_of(&body, "Articles", "ArticleNumber"), ["ROT", "RESA"]);
    let (status, body) = api.get("/3/articles?sortby=description").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );
    excuse_request_violations(&sb, 0);
    let (_, body) = api.get("/3/articles?articlenumber=ma").await;
    assert_eq!(keys_of(&body, "Articles", "ArticleNumber"), ["MAT"]);
    let (_, body) = api.get("/3/articles?limit=2&page=2").await;
    assert_eq!(keys_of(&body, "Articles", "ArticleNumber"), ["MAT", "RESA"]);
    assert_eq!(body["MetaInformation"]["@TotalPages"], 3);

    // Given numbers; taken and reserved ones; delete.
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"ArticleNumber": "SPIK", "Description": "Spik", "Unit": "kg"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"ArticleNumber": "SPIK", "Description": "Spik 2"}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_ARTICLE_NUMBER_TAKEN,
    );
    let (status, _) = api.delete("/3/articles/SPIK").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get("/3/articles/SPIK").await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"ArticleNumber": "SPIK", "Description": "Spik igen"}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_ARTICLE_NUMBER_TAKEN,
    );
    let (status, body) = api.delete("/3/articles/SPIK").await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);

    // Inspection sees what the client wrote.
    let articles = sb.state.articles(ProviderKind::Fortnox, &api.company);
    let one = articles
        .iter()
        .find(|a| a["ArticleNumber"] == "1")
        .expect("article 1");
    assert_eq!(one["SalesPrice"], 155);
    assert!(one.get("@url").is_none());
}

#[tokio::test]
async fn article_bad_inputs() {
    let sb = sandbox().await;
    let api = api(&sb);
    // Missing Description (the schema's `required`; sent off the contract on purpose).
    let (status, body) = api
        .post("/3/articles", &json!({"Article": {"Unit": "st"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_REQUIRED_FIELD);
    excuse_request_violations(&sb, 1);
    // A unit the company does not have.
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"Description": "Rör", "Unit": "furlong"}}),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_UNIT_NOT_FOUND);
    assert!(fortnox_message(&body).contains("furlong"));
    let (status, body) = api
        .put("/3/articles/ARB", &json!({"Article": {"Unit": "parsec"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_UNIT_NOT_FOUND);
    // A unit added to the company is accepted.
    sb.state.fortnox_add_unit(&api.company, "rulle");
    assert!(sb
        .state
        .fortnox_units(&api.company)
        .contains(&"rulle".to_string()));
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"Description": "Tejp", "Unit": "rulle"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Too long a description; a VAT rate Sweden does not have; a type outside the enum
    // (the last two break the schema's enum/type on purpose only for `Type`).
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"Description": "x".repeat(201)}}),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_VALUE_TOO_LONG);
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"Description": "Moms", "VAT": 7}}),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    let (status, body) = api
        .post(
            "/3/articles",
            &json!({"Article": {"Description": "Typ", "Type": "BUNDLE"}}),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    // `maxLength: 200` and the enum are in the document too.
    excuse_request_violations(&sb, 2);
    // The article scope is needed.
    let plain = fortnox(&sb);
    let (status, body) = plain.get("/3/articles").await;
    assert_fortnox_error(status, &body, StatusCode::FORBIDDEN, CODE_NO_LICENCE);
    let (status, body) = api.get("/3/articles?filter=sometimes").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );
}

#[tokio::test]
async fn article_lastmodified_is_swedish_local_time() {
    let sb = sandbox().await;
    let api = api(&sb);
    let set = |id: &str, at: &str| {
        assert!(sb
            .state
            .set_article_modified(ProviderKind::Fortnox, &api.company, id, utc(at)));
    };
    set("ARB", "2024-01-15T09:00:00Z"); // 10:00 CET
    set("MAT", "2024-07-01T10:00:00Z"); // 12:00 CEST
    set("RESA", "2024-07-01T10:00:00Z");
    set("ROT", "2024-07-01T10:00:00Z");
    let since = |q: &'static str| {
        let api = api.clone();
        async move {
            let (status, body) = api.get(&format!("/3/articles?lastmodified={q}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            keys_of(&body, "Articles", "ArticleNumber")
        }
    };
    assert_eq!(since("2024-01-15%2010:00").await.len(), 4);
    assert_eq!(since("2024-01-15%2010:00:01").await, ["MAT", "RESA", "ROT"]);
    assert!(since("2024-07-01%2012:00:01").await.is_empty());

    // A person's change shows from a minute ago in Swedish time.
    let before = Utc::now() - chrono::Duration::minutes(1);
    assert!(sb
        .state
        .modify_article(ProviderKind::Fortnox, &api.company, "MAT", |a| {
            a["SalesPrice"] = json!(120);
        }));
    let (_, body) = api
        .get(&format!("/3/articles?lastmodified={}", stockholm(before)))
        .await;
    assert_eq!(keys_of(&body, "Articles", "ArticleNumber"), ["MAT"]);
    let (_, body) = api.get("/3/articles/MAT").await;
    assert_eq!(body["Article"]["SalesPrice"], 120);

    // So does a write through the API, and a seeded article.
    let number = sb
        .state
        .seed_article(
            ProviderKind::Fortnox,
            &api.company,
            json!({"Description": "Skruv", "Unit": "st"}),
        )
        .expect("seeded");
    let (_, body) = api
        .get(&format!("/3/articles?lastmodified={}", stockholm(before)))
        .await;
    // Numbers sort naturally: digits before letters.
    assert_eq!(
        keys_of(&body, "Articles", "ArticleNumber"),
        [number.as_str(), "MAT"]
    );
    assert!(sb
        .state
        .seed_article(ProviderKind::Fortnox, &api.company, json!({"Unit": "st"}))
        .is_err());
}

#[tokio::test]
async fn projects_create_read_list_update_delete() {
    let sb = sandbox().await;
    let api = api(&sb);
    let (status, body) = api.get("/3/projects").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys_of(&body, "Projects", "ProjectNumber"), ["1", "2", "3"]);
    assert_eq!(
        sorted_keys(&body["Projects"][0]),
        schema_properties("fortnox_Project_ProjectListItem")
    );
    let (status, body) = api
        .post(
            "/3/projects",
            &json!({"Project": {"Description": "Altan Björkvägen 3", "Status": "ONGOING",
                "StartDate": "2026-11-01", "ProjectLeader": "Eva Ek", "ContactPerson": "Bo Berg",
                "Comments": "Tryckimpregnerat"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let p = &body["Project"];
    assert_eq!(
        sorted_keys(p),
        schema_properties("fortnox_Project_ProjectSingleItem")
    );
    assert_eq!(p["ProjectNumber"], "4");
    assert_eq!(p["EndDate"], Value::Null);
    assert!(
        p.get("CustomerNumber").is_none(),
        "a project has no customer"
    );
    let (status, body) = api
        .put(
            "/3/projects/4",
            &json!({"Project": {"Status": "COMPLETED", "EndDate": "2026-11-30"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Project"]["Status"], "COMPLETED");
    assert_eq!(body["Project"]["ProjectLeader"], "Eva Ek");
    let (_, body) = api.get("/3/projects/4").await;
    assert_eq!(body["Project"]["EndDate"], "2026-11-30");
    let (_, body) = api.get("/3/projects?projectleader=anna").await;
    assert_eq!(keys_of(&body, "Projects", "ProjectNumber"), ["1", "3"]);
    let (_, body) = api.get("/3/projects?description=altan").await;
    assert_eq!(keys_of(&body, "Projects", "ProjectNumber"), ["4"]);
    let (_, body) = api.get("/3/projects?limit=1&page=2").await;
    assert_eq!(keys_of(&body, "Projects", "ProjectNumber"), ["2"]);
    assert_eq!(body["MetaInformation"]["@TotalPages"], 4);
    // No lastmodified on projects in the document.
    let (status, body) = api.get("/3/projects?lastmodified=2024-01-01").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );
    excuse_request_violations(&sb, 0);

    // Bad inputs: missing and too long Description, taken number, bad status.
    let (status, body) = api
        .post("/3/projects", &json!({"Project": {"Status": "ONGOING"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_REQUIRED_FIELD);
    let (status, body) = api
        .post(
            "/3/projects",
            &json!({"Project": {"Description": "x".repeat(51)}}),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_VALUE_TOO_LONG);
    let (status, body) = api
        .post(
            "/3/projects",
            &json!({"Project": {"ProjectNumber": "1", "Description": "Dubblett"}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_PROJECT_NUMBER_TAKEN,
    );
    let (status, body) = api
        .put("/3/projects/1", &json!({"Project": {"Status": "PAUSED"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    excuse_request_violations(&sb, 3);

    let (status, _) = api.delete("/3/projects/4").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get("/3/projects/4").await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);

    // A person's change, seen through the API and the inspection.
    assert!(sb
        .state
        .modify_project(ProviderKind::Fortnox, &api.company, "2", |p| {
            p["Status"] = json!("ONGOING");
        }));
    let (_, body) = api.get("/3/projects/2").await;
    assert_eq!(body["Project"]["Status"], "ONGOING");
    let seeded = sb
        .state
        .seed_project(
            ProviderKind::Fortnox,
            &api.company,
            json!({"Description": "Seedat"}),
        )
        .expect("seeded");
    let projects = sb.state.projects(ProviderKind::Fortnox, &api.company);
    assert!(projects
        .iter()
        .any(|p| p["ProjectNumber"] == seeded.as_str()));
}

#[tokio::test]
async fn cost_centers_create_read_list_update_delete() {
    let sb = sandbox().await;
    let api = api(&sb);
    let (status, body) = api.get("/3/costcenters").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        keys_of(&body, "CostCenters", "Code"),
        ["GBG", "SERV", "STHLM"]
    );
    assert_eq!(
        sorted_keys(&body["CostCenters"][0]),
        schema_properties("fortnox_CostCenterSingleItem")
    );
    let (status, body) = api
        .post(
            "/3/costcenters",
            &json!({"CostCenter": {"Code": "UMEA", "Description": "Umeå", "Note": "Norr"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["CostCenter"]["Active"], true);
    let (status, body) = api
        .put(
            "/3/costcenters/UMEA",
            &json!({"CostCenter": {"Active": false}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["CostCenter"]["Active"], false);
    assert_eq!(body["CostCenter"]["Description"], "Umeå");
    let (_, body) = api.get("/3/costcenters/UMEA").await;
    assert_eq!(body["CostCenter"]["Note"], "Norr");
    // Code and Description are both required; codes are at most 6 characters and unique.
    let (status, body) = api
        .post(
            "/3/costcenters",
            &json!({"CostCenter": {"Description": "Utan kod"}}),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_REQUIRED_FIELD);
    let (status, body) = api
        .post(
            "/3/costcenters",
            &json!({"CostCenter": {"Code": "LULEA1X", "Description": "För lång"}}),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_VALUE_TOO_LONG);
    excuse_request_violations(&sb, 2);
    let (status, body) = api
        .post(
            "/3/costcenters",
            &json!({"CostCenter": {"Code": "GBG", "Description": "Igen"}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_COST_CENTER_CODE_TAKEN,
    );
    let (status, _) = api.delete("/3/costcenters/UMEA").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get("/3/costcenters/UMEA").await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    let code = sb
        .state
        .fortnox_seed_cost_center(
            &api.company,
            json!({"Code": "KIR", "Description": "Kiruna"}),
        )
        .expect("seeded");
    assert!(sb
        .state
        .fortnox_modify_cost_center(&api.company, &code, |c| c["Active"] = json!(false)));
    let centers = sb.state.cost_centers(ProviderKind::Fortnox, &api.company);
    let kir = centers.iter().find(|c| c["Code"] == "KIR").expect("KIR");
    assert_eq!(kir["Active"], false);
}

#[tokio::test]
async fn invoices_reference_existing_articles_projects_and_cost_centers() {
    let sb = sandbox().await;
    let api = api(&sb);
    let (status, body) = api.post("/3/customers", &fortnox_customer("Ref AB")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let customer = body["Customer"]["CustomerNumber"].clone();
    let invoice = |head: Value, row: Value| {
        let mut inv = json!({"CustomerNumber": customer, "InvoiceRows": [row]});
        for (k, v) in head.as_object().unwrap() {
            inv[k] = v.clone();
        }
        json!({"Invoice": inv})
    };
    let good_row = json!({"ArticleNumber": "ARB", "DeliveredQuantity": "2", "Price": 650,
        "CostCenter": "GBG", "Project": "1"});
    let (status, body) = api
        .post(
            "/3/invoices",
            &invoice(
                json!({"CostCenter": "STHLM", "Project": "2"}),
                good_row.clone(),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let inv = &body["Invoice"];
    assert_eq!(inv["CostCenter"], "STHLM");
    assert_eq!(inv["Project"], "2");
    assert_eq!(inv["InvoiceRows"][0]["CostCenter"], "GBG");
    assert_eq!(inv["InvoiceRows"][0]["Project"], "1");
    let number = inv["DocumentNumber"].as_str().unwrap().to_string();
    let (_, body) = api.get(&format!("/3/invoices/{number}")).await;
    assert_eq!(body["Invoice"]["InvoiceRows"][0]["CostCenter"], "GBG");

    for (head, row, code) in [
        (
            json!({"CostCenter": "NOPE"}),
            good_row.clone(),
            CODE_COST_CENTER_NOT_FOUND,
        ),
        (
            json!({"Project": "99"}),
            good_row.clone(),
            CODE_PROJECT_NOT_FOUND,
        ),
        (
            json!({}),
            json!({"ArticleNumber": "ARB", "DeliveredQuantity": "1", "Price": 1, "CostCenter": "X"}),
            CODE_COST_CENTER_NOT_FOUND,
        ),
        (
            json!({}),
            json!({"ArticleNumber": "ARB", "DeliveredQuantity": "1", "Price": 1, "Project": "77"}),
            CODE_PROJECT_NOT_FOUND,
        ),
        (
            json!({}),
            json!({"ArticleNumber": "NOSUCH", "DeliveredQuantity": "1", "Price": 1}),
            CODE_ARTICLE_NOT_FOUND,
        ),
    ] {
        let (status, body) = api.post("/3/invoices", &invoice(head, row)).await;
        assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, code);
    }
    // An update is checked the same way.
    let (status, body) = api
        .put(
            &format!("/3/invoices/{number}"),
            &json!({"Invoice": {"InvoiceRows": [{"ArticleNumber": "MAT", "Project": "404"}]}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_PROJECT_NOT_FOUND,
    );
    assert!(fortnox_message(&body).contains("404"));

    // What an invoice uses cannot be deleted.
    for path in ["/3/articles/ARB", "/3/projects/1", "/3/costcenters/STHLM"] {
        let (status, body) = api.delete(path).await;
        assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_REGISTER_IN_USE);
    }
}

#[test]
fn the_contract_knows_the_new_schemas() {
    let contract = sandbox::Contract::official(ProviderKind::Fortnox).expect("the document loads");
    // The article and cost centre lists carry `MetaInformation` (added to their wrappers).
    let list = json!({"Articles": [{"ArticleNumber": "1", "Description": "A", "VAT": "25"}],
        "MetaInformation": {"@TotalResources": 1, "@TotalPages": 1, "@CurrentPage": 1}});
    assert!(contract
        .validate_response("GET", "/3/articles", 200, &list)
        .is_ok());
    let list = json!({"CostCenters": [{"Code": "A", "Description": "A"}],
        "MetaInformation": {"@TotalResources": 1, "@TotalPages": 1, "@CurrentPage": 1}});
    assert!(contract
        .validate_response("GET", "/3/costcenters", 200, &list)
        .is_ok());
    // No `LastModified` on an article; `VAT` is a number in a single record.
    let errors = contract
        .validate_response(
            "GET",
            "/3/articles/1",
            200,
            &json!({"Article": {"Description": "A", "VAT": "25", "LastModified": "2026-01-01"}}),
        )
        .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    // A project has no customer; its status is an enum.
    let errors = contract
        .validate_request(
            "POST",
            "/3/projects",
            &json!({"Project": {"Description": "P", "CustomerNumber": "1", "Status": "PAUSED"}}),
        )
        .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    // Invoice rows may name a cost centre and a project.
    assert!(contract
        .validate_request(
            "POST",
            "/3/invoices",
            &json!({"Invoice": {"CustomerNumber": "1", "CostCenter": "A", "Project": "1",
                "InvoiceRows": [{"ArticleNumber": "A", "CostCenter": "A", "Project": "1"}]}}),
        )
        .is_ok());
}
