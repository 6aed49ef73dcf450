//! Visma eAccounting REST simulator: paging, `$filter`, customers (PUT replaces), terms,
//! articles, drafts → invoices, `modifiedSinceUtc`. Every answer is checked against Visma's
//! OpenAPI document (`visma_contract::V`).

mod common;
mod visma_contract;

use chrono::{DateTime, Utc};
use common::*;
use reqwest::StatusCode;
use sandbox::visma::{
    CODE_BAD_DATE, CODE_BAD_FILTER, CODE_BAD_QUERY, CODE_INVALID_BODY, CODE_INVALID_VALUE,
    CODE_NOT_FOUND, CODE_NOT_UNIQUE, CODE_REQUIRED_FIELD, CODE_TOO_LONG, CODE_UNKNOWN_REFERENCE,
};
use sandbox::ProviderKind;
use serde_json::{json, Value};
use visma_contract::V;

/// A sandbox without the Fortnox contract (these tests check Visma bodies themselves).
async fn sandbox() -> sandbox::RunningSandbox {
    sandbox_with(|c| c.fortnox_openapi = None).await
}

fn ids(body: &Value) -> Vec<String> {
    body["Data"]
        .as_array()
        .expect("Data")
        .iter()
        .map(|c| c["Id"].as_str().expect("Id").to_string())
        .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `$filter=…` with the spaces and quotes encoded.
fn filter(expr: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!("/v2/customers?$filter={encoded}")
}

async fn terms_id(api: &V, name: &str) -> String {
    let (status, body) = api.get("/v2/termsofpayments").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["Data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Name"] == name)
        .and_then(|t| t["Id"].as_str())
        .expect("terms exist")
        .to_string()
}

async fn customer_body(api: &V, name: &str) -> Value {
    json!({
        "Name": name,
        "InvoicePostalCode": "412 54",
        "InvoiceCity": "Göteborg",
        "IsPrivatePerson": false,
        "IsActive": true,
        "TermsOfPaymentId": terms_id(api, "30 dagar netto").await,
        "EmailAddress": "info@example.se",
        "CorporateIdentityNumber": "556123-0001",
    })
}

#[tokio::test]
async fn customer_pages_walk_2000_records() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let seeded = sb
        .state
        .seed_customers(ProviderKind::Visma, &api.0.company, 2000);
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let (status, body) = api
            .get(&format!("/v2/customers?$page={page}&$pagesize=1000"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let meta = &body["Meta"];
        assert_eq!(meta["CurrentPage"], page);
        assert_eq!(meta["PageSize"], 1000);
        assert_eq!(meta["TotalNumberOfPages"], 2);
        assert_eq!(meta["TotalNumberOfResults"], 2000);
        assert!(meta["ServerTimeUtc"].as_str().unwrap().ends_with('Z'));
        seen.extend(ids(&body));
        if page >= meta["TotalNumberOfPages"].as_u64().unwrap() {
            break;
        }
        page += 1;
    }
    assert_eq!(seen, seeded);
    let first = &sb.state.customers(ProviderKind::Visma, &api.0.company)[0];
    assert_eq!(first["CustomerNumber"], "1");
    assert!(first["TermsOfPayment"]["Name"].is_string());

    let (_, body) = api.get("/v2/customers").await;
    assert_eq!(body["Meta"]["PageSize"], 50);
    assert_eq!(body["Meta"]["TotalNumberOfPages"], 40);
    assert_eq!(body["Data"].as_array().unwrap().len(), 50);
    // Too large a page size is clamped, not refused: read Meta.PageSize back.
    let (status, body) = api.get("/v2/customers?$pagesize=5000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["Meta"]["PageSize"], 1000);
    let (status, body) = api.get("/v2/customers?$page=0").await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_BAD_QUERY);
    let (status, body) = api.get("/v2/customers?$orderby=Name").await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_BAD_QUERY);
    let (_, body) = api.get("/v2/customers?$page=3&$pagesize=1000").await;
    assert!(body["Data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn changed_utc_filters_and_server_time_high_water_mark() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let seeded = sb
        .state
        .seed_customers(ProviderKind::Visma, &api.0.company, 3);
    for (id, at) in seeded.iter().zip([
        "2024-05-01T09:00:00Z",
        "2024-05-01T10:00:00Z",
        "2024-05-01T11:00:00Z",
    ]) {
        assert!(sb
            .state
            .set_customer_modified(ProviderKind::Visma, &api.0.company, id, utc(at)));
    }
    let get = |expr: &'static str| {
        let api = api.clone();
        async move {
            let (status, body) = api.get(&filter(expr)).await;
            (status, body)
        }
    };
    let (status, body) = get("ChangedUtc gt 2024-05-01T10:00:00Z").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), seeded[2..]);
    let (_, body) = get("ChangedUtc ge 2024-05-01T10:00:00Z").await;
    assert_eq!(ids(&body), seeded[1..]);
    let (_, body) = get("ChangedUtc gt '2024-05-01T12:00:00+02:00'").await;
    assert_eq!(ids(&body), seeded[2..], "offsets are honoured");
    let (_, body) = get("ChangedUtc gt 2024-05-01T09:30:00 and CustomerNumber eq '3'").await;
    assert_eq!(ids(&body), seeded[2..]);
    let number_two = sb.state.customers(ProviderKind::Visma, &api.0.company)[1]
        ["CorporateIdentityNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = api
        .get(&filter(&format!(
            "CorporateIdentityNumber eq '{number_two}'"
        )))
        .await;
    assert_eq!(ids(&body), seeded[1..2]);

    let (status, body) = get("ChangedUtc gt").await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_BAD_FILTER);
    let (status, body) = get("Name eq 'a' or Name eq 'b'").await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_BAD_FILTER);
    let (status, body) = get("ChangedUtc gt 2024-02-30T00:00:00Z").await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_BAD_DATE);
    let (status, body) = get("ChangedUtc gt 'yesterday'").await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_BAD_DATE);

    // Meta.ServerTimeUtc as the next high-water mark misses nothing and repeats nothing.
    let (_, body) = api.get("/v2/customers").await;
    let mark = body["Meta"]["ServerTimeUtc"].as_str().unwrap().to_string();
    let since_mark = filter(&format!("ChangedUtc gt {mark}"));
    let (_, body) = api.get(&since_mark).await;
    assert!(ids(&body).is_empty(), "{body}");
    assert!(sb
        .state
        .modify_customer(ProviderKind::Visma, &api.0.company, &seeded[0], |c| {
            c["Note"] = json!("changed by a person");
        }));
    let (_, body) = api.get(&since_mark).await;
    assert_eq!(ids(&body), seeded[..1]);
    assert_eq!(body["Data"][0]["Note"], "changed by a person");
    // Deletions are invisible to change filters.
    assert!(sb
        .state
        .delete_customer(ProviderKind::Visma, &api.0.company, &seeded[1]));
    let (_, body) = api.get(&since_mark).await;
    assert_eq!(ids(&body), seeded[..1]);
    assert_eq!(
        sb.state.customer_count(ProviderKind::Visma, &api.0.company),
        2
    );
}

#[tokio::test]
async fn customer_create_requires_fields_and_put_replaces() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let full = customer_body(&api, "Rör & Svets i Mölndal AB").await;
    for field in [
        "Name",
        "InvoicePostalCode",
        "InvoiceCity",
        "IsPrivatePerson",
        "IsActive",
        "TermsOfPaymentId",
    ] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(field);
        let (status, answer) = api.post("/v2/customers", &body).await;
        assert_visma_error(
            status,
            &answer,
            StatusCode::BAD_REQUEST,
            CODE_REQUIRED_FIELD,
        );
        assert!(
            answer["DeveloperErrorMessage"]
                .as_str()
                .unwrap()
                .contains(field),
            "{answer}"
        );
    }
    let mut bad_terms = full.clone();
    bad_terms["TermsOfPaymentId"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, answer) = api.post("/v2/customers", &bad_terms).await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_UNKNOWN_REFERENCE,
    );
    let mut long_number = full.clone();
    long_number["CustomerNumber"] = json!("12345678901234567");
    let (status, answer) = api.post("/v2/customers", &long_number).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_TOO_LONG);
    let mut wrong_type = full.clone();
    wrong_type["IsActive"] = json!("maybe");
    let (status, answer) = api.post("/v2/customers", &wrong_type).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    let (status, answer) = api.0.post_raw("/v2/customers", "[1,2]").await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_BODY);

    let (status, created) = api.post("/v2/customers", &full).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["Id"].as_str().unwrap().to_string();
    assert_eq!(created["CustomerNumber"], "1");
    assert_eq!(created["EmailAddress"], "info@example.se");
    assert_eq!(created["TermsOfPayment"]["NumberOfDays"], 30);
    let changed = created["ChangedUtc"].as_str().unwrap().to_string();
    let (_, got) = api.get(&format!("/v2/customers/{id}")).await;
    assert_eq!(got, created);

    // PUT replaces: whatever is left out is gone.
    let mut replacement = full.clone();
    replacement.as_object_mut().unwrap().remove("EmailAddress");
    replacement["InvoiceCity"] = json!("Mölndal");
    replacement["ChangedUtc"] = json!("2000-01-01T00:00:00Z");
    let (status, replaced) = api.put(&format!("/v2/customers/{id}"), &replacement).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["EmailAddress"], Value::Null);
    assert_eq!(replaced["InvoiceCity"], "Mölndal");
    assert_eq!(
        replaced["CustomerNumber"], "1",
        "the number survives when left out"
    );
    assert!(
        replaced["ChangedUtc"].as_str().unwrap() > changed.as_str(),
        "set by the server"
    );
    let mut no_name = replacement.clone();
    no_name.as_object_mut().unwrap().remove("Name");
    let (status, answer) = api.put(&format!("/v2/customers/{id}"), &no_name).await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_REQUIRED_FIELD,
    );

    // Customer numbers are unique.
    let mut second = full.clone();
    second["CustomerNumber"] = json!("1");
    let (status, answer) = api.post("/v2/customers", &second).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_NOT_UNIQUE);
    second["CustomerNumber"] = json!("K-2");
    let (status, answer) = api.post("/v2/customers", &second).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let (status, body) = api.delete(&format!("/v2/customers/{id}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the document answers DELETE with 200"
    );
    assert_eq!(body, Value::Null);
    let (status, answer) = api.get(&format!("/v2/customers/{id}")).await;
    assert_visma_error(status, &answer, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    let (status, answer) = api.get("/v2/customers/not-a-guid").await;
    assert_visma_error(status, &answer, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
}

#[tokio::test]
async fn terms_and_articles_exist() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let (_, body) = api.get("/v2/termsofpayments").await;
    let names: Vec<&str> = body["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["30 dagar netto", "10 dagar netto", "Kontant"]);
    let id = terms_id(&api, "Kontant").await;
    let (status, body) = api.get(&format!("/v2/termsofpayments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["NumberOfDays"], 0);
    assert_eq!(body["TermsOfPaymentTypeId"], 2, "2 = Cash in the document");
    let (_, body) = api.get("/v2/articles").await;
    let articles = body["Data"].as_array().unwrap();
    assert!(articles.len() >= 4);
    assert!(articles.iter().all(|a| a.get("VatRatePercent").is_none()));
    // Same company, same GUIDs: seeded data is stable.
    let again = V(visma(&sb));
    assert_eq!(terms_id(&again, "Kontant").await, id);
}

async fn article_id(api: &V, name: &str) -> String {
    let (_, body) = api.get("/v2/articles").await;
    body["Data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Name"] == name)
        .and_then(|a| a["Id"].as_str())
        .expect("article")
        .to_string()
}

#[tokio::test]
async fn drafts_convert_to_invoices() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let (_, customer) = api
        .post("/v2/customers", &customer_body(&api, "Kund AB").await)
        .await;
    let customer_id = customer["Id"].as_str().unwrap().to_string();
    let labour = article_id(&api, "Arbetstid").await;
    let draft = json!({
        "CustomerId": customer_id,
        "RotReducedInvoicingType": 0,
        "EuThirdParty": false,
        "YourReference": "Anna",
        "BuyersOrderReference": "PO-9",
        "Rows": [
            {"ArticleId": labour, "Quantity": 2.5, "UnitPrice": 650, "Text": "Arbete", "IsTextRow": false, "ReversedConstructionServicesVatFree": false},
            {"IsTextRow": true, "Text": "Tack för uppdraget", "ReversedConstructionServicesVatFree": false}
        ]
    });
    let (status, created) = api.post("/v2/customerinvoicedrafts", &draft).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let draft_id = created["Id"].as_str().unwrap().to_string();
    // 2.5 × 650 = 1625.00 + 25 % VAT 406.25 = 2031.25 → 2031 (−0.25 rounding).
    assert_eq!(created["TotalVatAmount"], 406.25);
    assert_eq!(created["TotalAmount"], 2031.0);
    assert_eq!(created["TotalRoundings"], -0.25);
    assert_eq!(created["Rows"][1]["IsTextRow"], true);
    let (status, got) = api
        .get(&format!("/v2/customerinvoicedrafts/{draft_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    let (status, invoice) = api
        .post(
            &format!("/v2/customerinvoicedrafts/{draft_id}/convert"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    assert_eq!(invoice["InvoiceNumber"], 1);
    assert_eq!(invoice["CreatedFromDraftId"], draft_id.as_str());
    assert_eq!(invoice["CustomerId"], customer_id.as_str());
    assert_eq!(invoice["TotalAmount"], 2031.0);
    assert_eq!(invoice["RemainingAmount"], 2031.0);
    assert_eq!(invoice["YourReference"], "Anna");
    assert_eq!(invoice["BuyersOrderReference"], "PO-9");
    assert!(invoice["CreatedUtc"].is_string() && invoice["ModifiedUtc"].is_string());
    assert!(invoice["DueDate"].as_str().unwrap() > invoice["InvoiceDate"].as_str().unwrap());
    let (status, answer) = api
        .get(&format!("/v2/customerinvoicedrafts/{draft_id}"))
        .await;
    assert_visma_error(status, &answer, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    let (status, answer) = api
        .post(
            &format!("/v2/customerinvoicedrafts/{draft_id}/convert"),
            &json!({}),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    let invoice_id = invoice["Id"].as_str().unwrap();
    let (_, got) = api.get(&format!("/v2/customerinvoices/{invoice_id}")).await;
    assert_eq!(&got, &invoice);

    // A booked invoice directly.
    let direct = json!({
        "CustomerId": customer_id,
        "RotReducedInvoicingType": 0,
        "EuThirdParty": false,
        "YourReference": "Anna",
        "InvoiceDate": "2024-05-02",
        "Rows": [
            {"ArticleId": labour, "Quantity": 2.5, "UnitPrice": 650, "Text": "Arbete"},
            {"Text": "Tack för uppdraget"}
        ]
    });
    let (status, second) = api.post("/v2/customerinvoices", &direct).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["InvoiceNumber"], 2);
    assert_eq!(second["InvoiceDate"], "2024-05-02T00:00:00Z");
    assert_eq!(second["Rows"][1]["IsTextRow"], true);
    assert_eq!(second["DueDate"], "2024-06-01T00:00:00Z");
    assert_eq!(
        sb.state.invoice_count(ProviderKind::Visma, &api.0.company),
        2
    );

    let (_, list) = api.get("/v2/customerinvoices").await;
    assert_eq!(list["Meta"]["TotalNumberOfResults"], 2);
    let (status, answer) = api.delete(&format!("/v2/customers/{customer_id}")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a customer with invoices stays: {answer}"
    );

    // Validation.
    let mut no_article = draft.clone();
    no_article["Rows"][0]
        .as_object_mut()
        .unwrap()
        .remove("ArticleId");
    let (status, answer) = api.post("/v2/customerinvoicedrafts", &no_article).await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_REQUIRED_FIELD,
    );
    assert!(answer["DeveloperErrorMessage"]
        .as_str()
        .unwrap()
        .contains("ArticleId"));
    let mut unknown_customer = draft.clone();
    unknown_customer["CustomerId"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, answer) = api
        .post("/v2/customerinvoicedrafts", &unknown_customer)
        .await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_UNKNOWN_REFERENCE,
    );
    let mut bad_rot = draft.clone();
    bad_rot["RotReducedInvoicingType"] = json!(5);
    let (status, answer) = api.post("/v2/customerinvoicedrafts", &bad_rot).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    // The document requires Rows of booked invoices, not of drafts.
    let mut no_rows = draft.clone();
    no_rows.as_object_mut().unwrap().remove("Rows");
    let (status, answer) = api.post("/v2/customerinvoices", &no_rows).await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_REQUIRED_FIELD,
    );
    let (status, answer) = api.post("/v2/customerinvoicedrafts", &no_rows).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["Rows"], json!([]));
    for field in ["EuThirdParty", "RotReducedInvoicingType", "CustomerId"] {
        let mut missing = draft.clone();
        missing.as_object_mut().unwrap().remove(field);
        let (status, answer) = api.post("/v2/customerinvoicedrafts", &missing).await;
        assert_visma_error(
            status,
            &answer,
            StatusCode::BAD_REQUEST,
            CODE_REQUIRED_FIELD,
        );
    }
}

#[tokio::test]
async fn invoices_filter_on_modified_since_utc() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let (_, customer) = api
        .post("/v2/customers", &customer_body(&api, "Kund AB").await)
        .await;
    let labour = article_id(&api, "Arbetstid").await;
    let mut invoice_ids = Vec::new();
    for _ in 0..3 {
        let (status, invoice) = api
            .post(
                "/v2/customerinvoices",
                &json!({
                    "CustomerId": customer["Id"],
                    "RotReducedInvoicingType": 0,
                    "EuThirdParty": false,
                    "Rows": [{"ArticleId": labour, "Quantity": 1, "UnitPrice": 100, "Text": "x", "IsVatFree": false}]
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{invoice}");
        invoice_ids.push(invoice["Id"].as_str().unwrap().to_string());
    }
    for (id, at) in invoice_ids.iter().zip([
        "2024-05-01T09:00:00Z",
        "2024-05-01T10:00:00Z",
        "2024-05-01T11:00:00Z",
    ]) {
        assert!(sb
            .state
            .set_invoice_modified(ProviderKind::Visma, &api.0.company, id, utc(at)));
    }
    let (_, body) = api
        .get("/v2/customerinvoices?modifiedSinceUtc=2024-05-01T10:00:00Z")
        .await;
    assert_eq!(ids(&body), invoice_ids[1..], "inclusive");
    let (_, body) = api
        .get("/v2/customerinvoices?modifiedSinceUtc=2024-05-01T10:00:00.001Z")
        .await;
    assert_eq!(ids(&body), invoice_ids[2..]);
    let (_, body) = api
        .get("/v2/customerinvoices?modifiedSinceUtc=2024-05-01T10:30:00Z&$pagesize=1")
        .await;
    assert_eq!(body["Meta"]["TotalNumberOfResults"], 1);
    let (status, body) = api.get("/v2/customerinvoices?modifiedSinceUtc=soon").await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_BAD_DATE);
}
