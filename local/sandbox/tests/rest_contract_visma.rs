//! The Visma simulator against Visma's own OpenAPI document
//! (`contracts/visma-eaccounting-v2-openapi.yaml`), and proof that the check can fail.

mod common;

use std::time::Instant;

use common::*;
use reqwest::StatusCode;
use sandbox::{visma_contract, Contract, Direction, ProviderKind, VISMA_CONTRACT};
use serde_json::{json, Value};

const GUID: &str = "8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11";

/// The id of the first terms of payment the sandbox lists.
async fn some_terms(api: &Api) -> String {
    let (status, body) = api.get("/v2/termsofpayments").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["Data"][0]["Id"].as_str().expect("terms").to_string()
}

async fn some_article(api: &Api) -> String {
    let (status, body) = api.get("/v2/articles").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["Data"][0]["Id"]
        .as_str()
        .expect("articles")
        .to_string()
}

#[tokio::test]
async fn every_visma_endpoint_answers_within_the_contract() {
    let sb = sandbox().await;
    let api = visma(&sb);
    sb.state
        .seed_customers(ProviderKind::Visma, &api.company, 12);
    let ok = |(status, body): (StatusCode, Value), expected: StatusCode| {
        assert_eq!(status, expected, "{body}");
        body
    };
    ok(api.get("/v2/companysettings").await, StatusCode::OK);
    let terms = some_terms(&api).await;
    ok(
        api.get(&format!("/v2/termsofpayments/{terms}")).await,
        StatusCode::OK,
    );
    let article = some_article(&api).await;
    ok(
        api.get(&format!("/v2/articles/{article}")).await,
        StatusCode::OK,
    );
    ok(
        api.get("/v2/customers?$page=2&$pagesize=5").await,
        StatusCode::OK,
    );
    let created = ok(
        api.post(
            "/v2/customers",
            &json!({
                "Name": "Kontraktet AB",
                "InvoicePostalCode": "412 54",
                "InvoiceCity": "Göteborg",
                "InvoiceAddress1": "Södra Vägen 1",
                "InvoiceCountryCode": "SE",
                "IsPrivatePerson": false,
                "IsActive": true,
                "TermsOfPaymentId": terms,
                "EmailAddress": "info@kontraktet.se",
                "CorporateIdentityNumber": "556123-0001",
                "CurrencyCode": "SEK",
                "ReverseChargeOnConstructionServices": false
            }),
        )
        .await,
        StatusCode::CREATED,
    );
    let id = created["Id"].as_str().expect("Id").to_string();
    ok(
        api.get(&format!("/v2/customers/{id}")).await,
        StatusCode::OK,
    );
    ok(
        api.put(
            &format!("/v2/customers/{id}"),
            &json!({
                "Name": "Kontraktet AB",
                "InvoicePostalCode": "412 54",
                "InvoiceCity": "Mölndal",
                "IsPrivatePerson": false,
                "IsActive": true,
                "TermsOfPaymentId": terms
            }),
        )
        .await,
        StatusCode::OK,
    );
    let draft = ok(
        api.post(
            "/v2/customerinvoicedrafts",
            &json!({
                "CustomerId": id,
                "RotReducedInvoicingType": 0,
                "EuThirdParty": false,
                "InvoiceDate": "2026-11-02T00:00:00Z",
                "DueDate": "2026-12-02T00:00:00Z",
                "YourReference": "Per",
                "OurReference": "Anna",
                "Rows": [
                    {"ArticleId": article, "Text": "Arbete", "Quantity": 8, "UnitPrice": 650, "IsTextRow": false, "ReversedConstructionServicesVatFree": false},
                    {"Text": "Tack för uppdraget", "IsTextRow": true, "ReversedConstructionServicesVatFree": false}
                ]
            }),
        )
        .await,
        StatusCode::CREATED,
    );
    let draft_id = draft["Id"].as_str().expect("draft Id").to_string();
    ok(
        api.get(&format!("/v2/customerinvoicedrafts/{draft_id}"))
            .await,
        StatusCode::OK,
    );
    let invoice = ok(
        api.post(
            &format!("/v2/customerinvoicedrafts/{draft_id}/convert"),
            &json!({}),
        )
        .await,
        StatusCode::CREATED,
    );
    let invoice_id = invoice["Id"].as_str().expect("invoice Id").to_string();
    ok(
        api.get(&format!("/v2/customerinvoices/{invoice_id}")).await,
        StatusCode::OK,
    );
    ok(
        api.get("/v2/customerinvoices?modifiedSinceUtc=2020-01-01T00:00:00Z")
            .await,
        StatusCode::OK,
    );
    ok(
        api.delete(&format!("/v2/customers/{id}")).await,
        StatusCode::OK,
    );
    // Errors: a 404 on a documented path is fine (Visma documents no 404 body).
    ok(
        api.get(&format!("/v2/customers/{GUID}")).await,
        StatusCode::NOT_FOUND,
    );
    assert_contract_clean(&sb);
}

#[tokio::test]
async fn read_only_fields_in_a_request_are_reported() {
    let sb = sandbox().await;
    let api = visma(&sb);
    assert_eq!(
        sb.state.contract(ProviderKind::Visma).provider(),
        ProviderKind::Visma
    );
    // Whatever the handler makes of it, the body broke the contract.
    let _ = api
        .post(
            "/v2/customers",
            &json!({
                "Id": GUID,
                "ChangedUtc": "2026-01-01T00:00:00Z",
                "Name": "Skrivskyddat AB",
                "InvoicePostalCode": "412 54",
                "InvoiceCity": "Göteborg",
                "IsPrivatePerson": false,
                "IsActive": true,
                "TermsOfPaymentId": GUID
            }),
        )
        .await;
    let taken = sb.take_violations();
    let request: Vec<_> = taken
        .iter()
        .filter(|v| v.direction == Direction::Request)
        .collect();
    assert_eq!(request.len(), 1, "{taken:#?}");
    assert_eq!(request[0].provider, ProviderKind::Visma);
    assert_eq!(request[0].operation.as_deref(), Some("/v2/customers"));
    let mut errors = request[0].errors.clone();
    errors.sort();
    assert_eq!(
        errors,
        [
            "/ChangedUtc: readOnly field ChangedUtc in a request",
            "/Id: readOnly field Id in a request"
        ]
    );
}

#[tokio::test]
async fn an_undocumented_path_is_reported_whatever_the_handler_answers() {
    let sb = sandbox().await;
    let api = visma(&sb);
    // `termsofpayment` does not exist; Visma's path is `/v2/termsofpayments`.
    let _ = api.get("/v2/termsofpayment").await;
    let taken = sb.take_violations();
    assert_eq!(taken.len(), 1, "{taken:#?}");
    let v = &taken[0];
    assert_eq!(
        (v.provider, v.method.as_str(), v.path.as_str()),
        (ProviderKind::Visma, "GET", "/v2/termsofpayment")
    );
    assert_eq!(v.operation, None);
    assert_eq!(v.direction, Direction::Request);
    assert!(v.errors[0].contains("undocumented path"), "{v:#?}");
    // An undocumented method on a documented path too (Visma has no PATCH for customers).
    let _ = api
        .send(
            reqwest::Method::PATCH,
            &format!("/v2/customers/{GUID}"),
            None,
        )
        .await;
    let taken = sb.take_violations();
    assert_eq!(taken.len(), 1, "{taken:#?}");
    assert!(
        taken[0].errors[0].contains("undocumented method"),
        "{taken:#?}"
    );
}

#[test]
fn unknown_fields_and_bad_formats_in_responses_are_reported() {
    let contract = visma_contract(VISMA_CONTRACT).expect("the document loads");
    let customer = json!({
        "Id": GUID, "Name": "A", "InvoicePostalCode": "412 54", "InvoiceCity": "Göteborg",
        "IsPrivatePerson": false, "IsActive": true, "TermsOfPaymentId": GUID,
        "ChangedUtc": "2026-01-01T10:00:00Z"
    });
    contract
        .validate_response("GET", &format!("/v2/customers/{GUID}"), 200, &customer)
        .expect("a customer keeps to the contract");
    let mut extra = customer.clone();
    extra["Colour"] = json!("red");
    let errors = contract
        .validate_response("GET", &format!("/v2/customers/{GUID}"), 200, &extra)
        .unwrap_err();
    assert_eq!(errors, ["/: undeclared field Colour (schema CustomerApi)"]);
    let mut bad = customer.clone();
    bad["ChangedUtc"] = json!("2026-01-01 10:00");
    bad["TermsOfPaymentId"] = json!("30 dagar");
    assert_eq!(
        contract
            .validate_response("GET", &format!("/v2/customers/{GUID}"), 200, &bad)
            .unwrap_err()
            .len(),
        2
    );
    // A list wraps records in Meta and Data.
    let list = json!({"Meta": {"CurrentPage": 1, "PageSize": 50, "TotalNumberOfPages": 1,
        "TotalNumberOfResults": 1, "ServerTimeUtc": "2026-01-01T10:00:00Z"}, "Data": [customer]});
    assert!(contract
        .validate_response("GET", "/v2/customers", 200, &list)
        .is_ok());
    // Booked invoice rows and draft rows have different fields.
    let draft_row = json!({"CustomerId": GUID, "RotReducedInvoicingType": 0, "EuThirdParty": false,
        "Rows": [{"ArticleId": GUID, "Quantity": 1, "UnitPrice": 10, "IsTextRow": false,
                  "ReversedConstructionServicesVatFree": false, "IsVatFree": false}]});
    let errors = contract
        .validate_request("POST", "/v2/customerinvoicedrafts", &draft_row)
        .unwrap_err();
    assert_eq!(
        errors,
        ["/Rows/0: undeclared field IsVatFree (schema CustomerInvoiceDraftRowApi)"]
    );
    // The documented error body of a 400.
    assert!(contract
        .validate_response(
            "POST",
            "/v2/customers",
            400,
            &json!({"ErrorCode": 2000, "DeveloperErrorMessage": "x", "ErrorId": GUID})
        )
        .is_ok());
    assert!(contract
        .validate_response(
            "POST",
            "/v2/customers",
            400,
            &json!({"ErrorCode": "2000", "Message": "x"})
        )
        .is_err());
}

#[test]
fn validating_5000_visma_invoice_responses_is_fast() {
    let contract = Contract::official(ProviderKind::Visma).expect("loads");
    let row = json!({"Id": GUID, "ArticleId": GUID, "ArticleNumber": "1", "Text": "Arbete",
        "UnitPrice": 650.0, "Quantity": 2.5, "DiscountPercentage": 0.0, "IsTextRow": false,
        "IsVatFree": false, "VatRate": 0.25, "PercentVat": 0.25, "LineNumber": 1,
        "AmountNoVat": 1625.0, "WorkCostType": 0, "IsWorkCost": false, "GreenTechnologyType": 0});
    let invoice = |n: usize| {
        json!({"Id": GUID, "CustomerId": GUID, "EuThirdParty": false, "RotReducedInvoicingType": 0,
            "InvoiceNumber": n, "InvoiceDate": "2026-11-02T00:00:00Z", "DueDate": "2026-12-02T00:00:00Z",
            "TotalAmount": 2031.0, "TotalVatAmount": 406.25, "TotalRoundings": -0.25,
            "RemainingAmount": 2031.0, "YourReference": "Per", "OurReference": "Anna",
            "BuyersOrderReference": format!("inv-{n:05}"), "CurrencyCode": "SEK",
            "CreatedUtc": "2026-11-02T10:00:00Z", "ModifiedUtc": "2026-11-02T10:00:00Z",
            "TermsOfPaymentId": GUID, "Rows": [row.clone(), row.clone(), row.clone()]})
    };
    let bodies: Vec<Value> = (1..=5000).map(invoice).collect();
    contract
        .validate_response(
            "GET",
            &format!("/v2/customerinvoices/{GUID}"),
            200,
            &bodies[0],
        )
        .expect("a full invoice keeps to the contract");
    let started = Instant::now();
    for body in &bodies {
        assert!(contract
            .validate_response("GET", &format!("/v2/customerinvoices/{GUID}"), 200, body)
            .is_ok());
    }
    let took = started.elapsed();
    eprintln!("validated 5000 Visma invoice responses in {took:?}");
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}
