//! Visma eAccounting articles (POST/PUT and `$filter`), projects, cost centres and their
//! items, and invoice rows' references to them. Every answer is checked against Visma's
//! OpenAPI document (`visma_contract::V`), and every request when the test ends.

mod common;
mod visma_contract;

use chrono::{DateTime, Utc};
use common::*;
use reqwest::StatusCode;
use sandbox::visma::{
    CODE_INVALID_VALUE, CODE_MISSING_SCOPE, CODE_NOT_FOUND, CODE_NOT_UNIQUE, CODE_REQUIRED_FIELD,
    CODE_TOO_LONG, CODE_UNKNOWN_REFERENCE,
};
use sandbox::{ProviderKind, RunningSandbox, DEFAULT_VISMA_CLIENT_ID};
use serde_json::{json, Value};
use visma_contract::{assert_every_property, V};

/// A Visma client with sales and accounting scopes (projects are written with
/// `ea:accounting`).
fn api(sb: &RunningSandbox) -> V {
    let mut api = visma(sb);
    api.token = sb.state.issue_access_token(
        ProviderKind::Visma,
        DEFAULT_VISMA_CLIENT_ID,
        &api.company,
        &["ea:api", "offline_access", "ea:sales", "ea:accounting"],
    );
    V(api)
}

fn ids(body: &Value) -> Vec<String> {
    body["Data"]
        .as_array()
        .expect("Data")
        .iter()
        .map(|c| c["Id"].as_str().expect("Id").to_string())
        .collect()
}

fn field(body: &Value, name: &str) -> Vec<String> {
    body["Data"]
        .as_array()
        .expect("Data")
        .iter()
        .map(|c| c[name].as_str().unwrap_or("").to_string())
        .collect()
}

fn encoded(expr: &str) -> String {
    url::form_urlencoded::byte_serialize(expr.as_bytes()).collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn lookup_id(api: &V, path: &str, name: &str) -> String {
    let (status, body) = api.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["Data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Name"] == name)
        .and_then(|t| t["Id"].as_str())
        .unwrap_or_else(|| panic!("{name} in {path}"))
        .to_string()
}

async fn article_body(api: &V, number: &str, name: &str) -> Value {
    json!({
        "Number": number,
        "Name": name,
        "IsActive": true,
        "CodingId": lookup_id(api, "/v2/articleaccountcodings", "Varor 12 %").await,
        "UnitId": lookup_id(api, "/v2/units", "Styck").await,
        "NetPrice": 200,
        "HouseWorkType": 0,
    })
}

#[tokio::test]
async fn articles_create_read_update_and_filter() {
    let sb = sandbox().await;
    let api = api(&sb);
    let (status, body) = api.get("/v2/articles").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let server_time = body["Meta"]["ServerTimeUtc"].as_str().unwrap().to_string();
    assert_eq!(body["Meta"]["TotalNumberOfResults"], 6);

    let new = article_body(&api, "K-100", "Kakel").await;
    let (status, created) = api.post("/v2/articles", &new).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_every_property("ArticleApi", &created);
    let id = created["Id"].as_str().unwrap().to_string();
    assert_eq!(created["Number"], "K-100");
    assert_eq!(created["CodingName"], "Varor 12 %");
    assert_eq!(created["UnitName"], "Styck");
    assert_eq!(created["UnitAbbreviation"], "st");
    assert_eq!(created["GrossPrice"], 224.0);
    assert_eq!(created["IsServiceArticle"], false);
    assert_eq!(created["CreatedUtc"], created["ChangedUtc"]);
    let (status, got) = api.get(&format!("/v2/articles/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    // Incremental: only what changed after the last server time; and by number.
    let (_, body) = api
        .get(&format!(
            "/v2/articles?$filter={}",
            encoded(&format!("ChangedUtc gt {server_time}"))
        ))
        .await;
    assert_eq!(ids(&body), [id.as_str()]);
    let (_, body) = api
        .get(&format!(
            "/v2/articles?$filter={}",
            encoded("Number eq 'k-100'")
        ))
        .await;
    assert_eq!(ids(&body), [id.as_str()]);

    // PUT replaces: HouseWorkType 1 (ROT construction), a new name; CreatedUtc stays.
    let mut changed = article_body(&api, "K-100", "Kakel vit").await;
    changed["HouseWorkType"] = json!(1);
    let (status, put) = api.put(&format!("/v2/articles/{id}"), &changed).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["Name"], "Kakel vit");
    assert_eq!(put["HouseWorkType"], 1);
    assert_eq!(put["CreatedUtc"], created["CreatedUtc"]);
    assert!(put["ChangedUtc"].as_str().unwrap() > created["ChangedUtc"].as_str().unwrap());
    let (_, body) = api
        .get(&format!(
            "/v2/articles?$filter={}",
            encoded(&format!(
                "ChangedUtc gt {}",
                created["ChangedUtc"].as_str().unwrap()
            ))
        ))
        .await;
    assert_eq!(ids(&body), [id.as_str()]);

    // A person's change and the inspection.
    assert!(sb
        .state
        .modify_article(ProviderKind::Visma, &api.0.company, &id, |a| {
            a["NetPrice"] = json!(210);
        }));
    let (_, got) = api.get(&format!("/v2/articles/{id}")).await;
    assert_eq!(got["NetPrice"], 210.0);
    assert!(got["ChangedUtc"].as_str().unwrap() > put["ChangedUtc"].as_str().unwrap());
    let seeded = sb
        .state
        .seed_article(
            ProviderKind::Visma,
            &api.0.company,
            article_body(&api, "K-200", "Fog").await,
        )
        .expect("seeded");
    assert!(sb.state.set_article_modified(
        ProviderKind::Visma,
        &api.0.company,
        &seeded,
        utc("2020-01-01T00:00:00Z")
    ));
    let all = sb.state.articles(ProviderKind::Visma, &api.0.company);
    assert_eq!(all.len(), 8);
    let (_, body) = api
        .get(&format!(
            "/v2/articles?$filter={}",
            encoded("ChangedUtc lt 2021-01-01T00:00:00Z")
        ))
        .await;
    assert_eq!(ids(&body), [seeded]);
}

#[tokio::test]
async fn article_bad_inputs() {
    let sb = sandbox().await;
    let api = api(&sb);
    let good = article_body(&api, "X-1", "Bra").await;
    for field in ["CodingId", "IsActive", "Name", "Number", "UnitId"] {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        let (status, answer) = api.post("/v2/articles", &body).await;
        assert_visma_error(
            status,
            &answer,
            StatusCode::BAD_REQUEST,
            CODE_REQUIRED_FIELD,
        );
        assert!(answer["DeveloperErrorMessage"]
            .as_str()
            .unwrap()
            .contains(field));
    }
    let mut long = good.clone();
    long["Number"] = json!("9".repeat(41));
    let (status, answer) = api.post("/v2/articles", &long).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_TOO_LONG);
    excuse_request_violations(&sb, 6);

    let unknown = uuid::Uuid::new_v4().to_string();
    for field in ["CodingId", "UnitId"] {
        let mut body = good.clone();
        body[field] = json!(unknown);
        let (status, answer) = api.post("/v2/articles", &body).await;
        assert_visma_error(
            status,
            &answer,
            StatusCode::BAD_REQUEST,
            CODE_UNKNOWN_REFERENCE,
        );
        assert!(answer["DeveloperErrorMessage"]
            .as_str()
            .unwrap()
            .contains(field));
    }
    let mut dup = good.clone();
    dup["Number"] = json!("1");
    let (status, answer) = api.post("/v2/articles", &dup).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_NOT_UNIQUE);
    let mut house = good.clone();
    house["HouseWorkType"] = json!(8);
    let (status, answer) = api.post("/v2/articles", &house).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    let (status, answer) = api.put(&format!("/v2/articles/{unknown}"), &good).await;
    assert_visma_error(status, &answer, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    // Writing needs ea:sales.
    let mut reader = visma(&sb);
    reader.token = sb.state.issue_access_token(
        ProviderKind::Visma,
        DEFAULT_VISMA_CLIENT_ID,
        &reader.company,
        &["ea:api", "offline_access", "ea:sales_readonly"],
    );
    let reader = V(reader);
    let (status, answer) = reader.post("/v2/articles", &good).await;
    assert_visma_error(status, &answer, StatusCode::FORBIDDEN, CODE_MISSING_SCOPE);
}

#[tokio::test]
async fn projects_create_read_update_and_filter() {
    let sb = sandbox().await;
    let api = api(&sb);
    let (status, body) = api.get("/v2/projects").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(field(&body, "Number"), ["1", "2", "3"]);
    let server_time = body["Meta"]["ServerTimeUtc"].as_str().unwrap().to_string();
    let (_, customers) = api.get("/v2/customers").await;
    assert_eq!(customers["Data"].as_array().unwrap().len(), 0);
    let ids_seeded = sb
        .state
        .seed_customers(ProviderKind::Visma, &api.0.company, 1);
    let customer_id = ids_seeded[0].clone();

    let (status, created) = api
        .post(
            "/v2/projects",
            &json!({"Number": "P-4", "Name": "Altan Björkvägen 3", "Status": 1,
                "StartDate": "2026-11-01T00:00:00Z", "CustomerId": customer_id,
                "Notes": "Tryckimpregnerat"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_every_property("ProjectApi", &created);
    let id = created["Id"].as_str().unwrap().to_string();
    assert!(created["CustomerName"].is_string());
    assert_eq!(created["EndDate"], Value::Null);
    let (_, got) = api.get(&format!("/v2/projects/{id}")).await;
    assert_eq!(got, created);
    let (_, body) = api
        .get(&format!(
            "/v2/projects?$filter={}",
            encoded(&format!("ModifiedUtc gt {server_time}"))
        ))
        .await;
    assert_eq!(ids(&body), [id.as_str()]);
    let (_, body) = api
        .get(&format!(
            "/v2/projects?$filter={}",
            encoded("Number eq 'P-4'")
        ))
        .await;
    assert_eq!(ids(&body), [id.as_str()]);
    let (_, body) = api.get("/v2/projects?$pagesize=2&$page=2").await;
    assert_eq!(field(&body, "Number"), ["3", "P-4"]);

    // PUT replaces and answers 201, as the document has it.
    let (status, put) = api
        .put(
            &format!("/v2/projects/{id}"),
            &json!({"Number": "P-4", "Name": "Altan klar", "Status": 2,
                "StartDate": "2026-11-01T00:00:00Z", "EndDate": "2026-11-30T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{put}");
    assert_eq!(put["Status"], 2);
    assert_eq!(put["CustomerId"], Value::Null);
    assert!(put["ModifiedUtc"].as_str().unwrap() > created["ModifiedUtc"].as_str().unwrap());

    // Bad inputs.
    let (status, answer) = api
        .post("/v2/projects", &json!({"Number": "P-5", "Status": 1}))
        .await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_REQUIRED_FIELD,
    );
    let (status, answer) = api
        .post(
            "/v2/projects",
            &json!({"Number": "1234567890", "Name": "Lång", "Status": 1}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_TOO_LONG);
    excuse_request_violations(&sb, 2);
    let (status, answer) = api
        .post(
            "/v2/projects",
            &json!({"Number": "p-4", "Name": "Dubblett", "Status": 1}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_NOT_UNIQUE);
    let (status, answer) = api
        .post(
            "/v2/projects",
            &json!({"Number": "P-6", "Name": "Status", "Status": 3}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    let (status, answer) = api
        .post(
            "/v2/projects",
            &json!({"Number": "P-7", "Name": "Kund", "Status": 1,
                "CustomerId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_UNKNOWN_REFERENCE,
    );
    // Writing projects needs ea:accounting.
    let sales = V(visma(&sb));
    let (status, answer) = sales
        .post(
            "/v2/projects",
            &json!({"Number": "P-8", "Name": "Scope", "Status": 1}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::FORBIDDEN, CODE_MISSING_SCOPE);
    let (status, _) = sales.get("/v2/projects").await;
    assert_eq!(status, StatusCode::OK);

    // A person's change; seeding; inspection.
    assert!(sb
        .state
        .modify_project(ProviderKind::Visma, &api.0.company, &id, |p| {
            p["Name"] = json!("Ändrad");
        }));
    let (_, got) = api.get(&format!("/v2/projects/{id}")).await;
    assert_eq!(got["Name"], "Ändrad");
    let seeded = sb
        .state
        .seed_project(
            ProviderKind::Visma,
            &api.0.company,
            json!({"Number": "S-1", "Name": "Seedat", "Status": 1}),
        )
        .expect("seeded");
    assert!(sb.state.visma_set_project_modified(
        &api.0.company,
        &seeded,
        utc("2020-01-01T00:00:00Z")
    ));
    assert_eq!(
        sb.state.projects(ProviderKind::Visma, &api.0.company).len(),
        5
    );
}

#[tokio::test]
async fn cost_centers_and_items() {
    let sb = sandbox().await;
    let api = api(&sb);
    let (status, body) = api.get("/v2/costcenters").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let center = &body["Data"][0];
    assert_every_property("CostCenterApi", center);
    assert_eq!(center["Number"], 1);
    assert_eq!(center["Name"], "Kostnadsställe");
    let center_id = center["Id"].as_str().unwrap().to_string();
    let shorts: Vec<&str> = center["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ShortName"].as_str().unwrap())
        .collect();
    assert_eq!(shorts, ["100", "200"]);
    let item_id = center["Items"][0]["Id"].as_str().unwrap().to_string();
    let (status, item) = api.get(&format!("/v2/costcenteritems/{item_id}")).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["Name"], "Stockholm");

    let (status, created) = api
        .post(
            "/v2/costcenteritems",
            &json!({"CostCenterId": center_id, "Name": "Umeå", "ShortName": "300", "IsActive": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_every_property("CostCenterItemApi", &created);
    let new_id = created["Id"].as_str().unwrap().to_string();
    let (status, put) = api
        .put(
            &format!("/v2/costcenteritems/{new_id}"),
            &json!({"CostCenterId": center_id, "Name": "Umeå C", "ShortName": "300", "IsActive": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["IsActive"], false);
    assert_eq!(put["CreatedUtc"], created["CreatedUtc"]);
    let (status, renamed) = api
        .put(
            &format!("/v2/costcenters/{center_id}"),
            &json!({"Name": "Ort", "IsActive": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["Name"], "Ort");
    assert_eq!(renamed["Items"].as_array().unwrap().len(), 3);

    // Bad inputs: required, too long, duplicate short name, unknown cost centre, 404s.
    let (status, answer) = api
        .post(
            "/v2/costcenteritems",
            &json!({"CostCenterId": center_id, "Name": "Utan kortnamn", "IsActive": true}),
        )
        .await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_REQUIRED_FIELD,
    );
    let (status, answer) = api
        .put(
            &format!("/v2/costcenters/{center_id}"),
            &json!({"Name": "x".repeat(21), "IsActive": true}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_TOO_LONG);
    excuse_request_violations(&sb, 2);
    let (status, answer) = api
        .post(
            "/v2/costcenteritems",
            &json!({"CostCenterId": center_id, "Name": "Igen", "ShortName": "100", "IsActive": true}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_NOT_UNIQUE);
    let nobody = uuid::Uuid::new_v4().to_string();
    let (status, answer) = api
        .put(
            &format!("/v2/costcenteritems/{new_id}"),
            &json!({"CostCenterId": nobody, "Name": "Flytt", "ShortName": "300", "IsActive": true}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    let (status, answer) = api
        .post(
            "/v2/costcenteritems",
            &json!({"CostCenterId": nobody, "Name": "Ingen", "ShortName": "900", "IsActive": true}),
        )
        .await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_UNKNOWN_REFERENCE,
    );
    // The document's 404 here has no body.
    let (status, answer) = api.get(&format!("/v2/costcenteritems/{nobody}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer, Value::Null);
    let (status, answer) = api.get(&format!("/v2/projects/{nobody}")).await;
    assert_eq!((status, answer), (StatusCode::NOT_FOUND, Value::Null));

    let seeded = sb
        .state
        .visma_seed_cost_center_item(
            &api.0.company,
            json!({"CostCenterId": center_id, "Name": "Luleå", "ShortName": "400", "IsActive": true}),
        )
        .expect("seeded");
    let centers = sb.state.cost_centers(ProviderKind::Visma, &api.0.company);
    // The same over the inspection API.
    let over_http: Value = http()
        .get(format!("{}/_sandbox/visma/costcenters", sb.base_url))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(over_http, Value::Array(centers.clone()));
    assert!(centers[0]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["Id"] == seeded.as_str()));
}

#[tokio::test]
async fn invoice_rows_reference_cost_center_items_and_projects() {
    let sb = sandbox().await;
    let api = api(&sb);
    let customer = sb
        .state
        .seed_customers(ProviderKind::Visma, &api.0.company, 1)[0]
        .clone();
    let labour = lookup_id(&api, "/v2/articles", "Arbetstid").await;
    let (_, centers) = api.get("/v2/costcenters").await;
    let item = centers["Data"][0]["Items"][1]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, projects) = api.get("/v2/projects").await;
    let project = projects["Data"][0]["Id"].as_str().unwrap().to_string();
    let row = |item: &str, project: &str| {
        json!({"ArticleId": labour, "Quantity": 2, "UnitPrice": 650, "IsTextRow": false,
            "ReversedConstructionServicesVatFree": false,
            "CostCenterItemId1": item, "ProjectId": project})
    };
    let draft = |row: Value| {
        json!({"CustomerId": customer, "RotReducedInvoicingType": 0, "EuThirdParty": false,
            "Rows": [row]})
    };
    let (status, created) = api
        .post("/v2/customerinvoicedrafts", &draft(row(&item, &project)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["Rows"][0]["CostCenterItemId1"], item.as_str());
    assert_eq!(created["Rows"][0]["ProjectId"], project.as_str());
    let draft_id = created["Id"].as_str().unwrap();
    let (status, invoice) = api
        .post(
            &format!("/v2/customerinvoicedrafts/{draft_id}/convert"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    assert_eq!(invoice["Rows"][0]["CostCenterItemId1"], item.as_str());
    assert_eq!(invoice["Rows"][0]["ProjectId"], project.as_str());

    let nobody = uuid::Uuid::new_v4().to_string();
    for (row, field) in [
        (row(&nobody, &project), "CostCenterItemId1"),
        (row(&item, &nobody), "ProjectId"),
    ] {
        let (status, answer) = api.post("/v2/customerinvoicedrafts", &draft(row)).await;
        assert_visma_error(
            status,
            &answer,
            StatusCode::BAD_REQUEST,
            CODE_UNKNOWN_REFERENCE,
        );
        assert!(answer["DeveloperErrorMessage"]
            .as_str()
            .unwrap()
            .contains(field));
    }
    // A booked invoice's rows are checked the same way.
    let booked = json!({"CustomerId": customer, "RotReducedInvoicingType": 0,
        "EuThirdParty": false,
        "Rows": [{"ArticleId": labour, "Quantity": 1, "UnitPrice": 650,
            "CostCenterItemId2": nobody}]});
    let (status, answer) = api.post("/v2/customerinvoices", &booked).await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_UNKNOWN_REFERENCE,
    );
    assert!(answer["DeveloperErrorMessage"]
        .as_str()
        .unwrap()
        .contains("CostCenterItemId2"));
}
