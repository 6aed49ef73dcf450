//! The Fortnox simulator against Fortnox's own OpenAPI contract
//! (`shared/specs/fortnox-openapi.json`), and proof that the check can fail.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use sandbox::{
    fortnox_contract, start, Direction, FaultConfig, ProviderKind, SandboxConfig, SandboxError,
};
use serde_json::json;

#[tokio::test]
async fn every_fortnox_endpoint_answers_within_the_contract() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let key = api.company.clone();
    sb.state.seed_customers(ProviderKind::Fortnox, &key, 30);

    let ok = |(status, body): (StatusCode, serde_json::Value), expected: StatusCode| {
        assert_eq!(status, expected, "{body}");
        body
    };
    ok(api.get("/3/companyinformation").await, StatusCode::OK);
    ok(
        api.get("/3/customers?limit=10&page=2").await,
        StatusCode::OK,
    );
    ok(
        api.get("/3/customers?filter=active&sortby=name&sortorder=descending")
            .await,
        StatusCode::OK,
    );
    ok(api.get("/3/customers/7").await, StatusCode::OK);
    let created = ok(
        api.post(
            "/3/customers",
            &json!({"Customer": {
                "Name": "Kontraktet AB",
                "OrganisationNumber": "556000-0001",
                "Address1": "Storgatan 1",
                "ZipCode": "903 26",
                "City": "Umeå",
                "CountryCode": "SE",
                "Email": "a@kontraktet.se",
                "Phone1": "090-10 20 30",
                "Type": "COMPANY",
                "VATType": "SEVAT",
                "ExternalReference": "ref-1",
                "Currency": "SEK",
                "DeliveryCountryCode": "NO",
                "GLN": "7300000000001",
                "SalesAccount": "3001",
                "DefaultDeliveryTypes": {"Invoice": "EMAIL"}
            }}),
        )
        .await,
        StatusCode::CREATED,
    );
    let number = created["Customer"]["CustomerNumber"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        api.put(
            &format!("/3/customers/{number}"),
            &json!({"Customer": {"City": "Skellefteå"}}),
        )
        .await,
        StatusCode::OK,
    );
    ok(api.delete("/3/customers/30").await, StatusCode::NO_CONTENT);

    let invoice = json!({"Invoice": {
        "CustomerNumber": number,
        "InvoiceDate": "2024-05-02",
        "DueDate": "2024-05-31",
        "Currency": "SEK",
        "YourReference": "Anna",
        "OurReference": "Bo",
        "ExternalInvoiceReference1": "our-invoice-1",
        "VATIncluded": false,
        "InvoiceRows": [
            {"AccountNumber": 3001, "DeliveredQuantity": "2", "Price": 650.0, "VAT": 25, "Description": "Arbete", "Unit": "tim"},
            {"ArticleNumber": "MAT", "DeliveredQuantity": "1", "Price": 99.5, "Discount": 10.0, "DiscountType": "PERCENT", "Description": "Material"},
            {"AccountNumber": 3001, "DeliveredQuantity": "1", "Price": 1000.0, "HouseWork": true, "HouseWorkType": "CONSTRUCTION", "HouseWorkHoursToReport": 2, "Description": "ROT"}
        ]
    }});
    for _ in 0..3 {
        ok(api.post("/3/invoices", &invoice).await, StatusCode::CREATED);
    }
    ok(api.get("/3/invoices").await, StatusCode::OK);
    ok(
        api.get("/3/invoices?filter=unbooked&sortby=invoicedate&limit=2")
            .await,
        StatusCode::OK,
    );
    ok(api.get("/3/invoices/1").await, StatusCode::OK);
    ok(
        api.put("/3/invoices/1", &json!({"Invoice": {"Remarks": "Tack!", "InvoiceRows": [{"RowId": 1}, {"AccountNumber": 3002, "DeliveredQuantity": "1", "Price": 10.0}]}}))
            .await,
        StatusCode::OK,
    );
    ok(
        api.put_empty("/3/invoices/1/bookkeep").await,
        StatusCode::OK,
    );
    ok(api.put_empty("/3/invoices/1/credit").await, StatusCode::OK);
    ok(api.put_empty("/3/invoices/2/cancel").await, StatusCode::OK);
    ok(
        api.get("/3/invoices?filter=cancelled").await,
        StatusCode::OK,
    );
    ok(api.get("/3/invoices/4").await, StatusCode::OK);

    // Errors answer with the contract's error schema too.
    ok(api.get("/3/customers/999").await, StatusCode::NOT_FOUND);
    ok(
        api.get("/3/customers?limit=9000").await,
        StatusCode::BAD_REQUEST,
    );
    ok(
        api.post(
            "/3/invoices",
            &json!({"Invoice": {"CustomerNumber": number, "InvoiceRows": [{"Description": "x", "DeliveredQuantity": "1", "Price": 10}]}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    );
    ok(
        api.put_empty("/3/invoices/1/bookkeep").await,
        StatusCode::BAD_REQUEST,
    );
    sb.state.set_faults(FaultConfig {
        error_500: 1.0,
        ..FaultConfig::default()
    });
    ok(
        api.get("/3/invoices").await,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    sb.state.set_faults(FaultConfig {
        rate_429: 1.0,
        ..FaultConfig::default()
    });
    ok(api.get("/3/invoices").await, StatusCode::TOO_MANY_REQUESTS);
    sb.state.set_faults(FaultConfig::default());

    // Every request above was valid, and so was every answer.
    assert_contract_clean(&sb);
    let fortnox_requests = sb
        .state
        .requests()
        .iter()
        .filter(|r| r.provider == ProviderKind::Fortnox)
        .count();
    assert!(fortnox_requests >= 25);
}

#[test]
fn the_contract_rejects_bad_bodies_directly() {
    let contract = fortnox_contract(spec_path()).expect("spec loads");
    let good = json!({"Customer": {"Name": "A", "CountryCode": "SE"}});
    assert!(contract
        .validate_request("POST", "/3/customers", &good)
        .is_ok());
    let errors = contract
        .validate_request(
            "POST",
            "/3/customers",
            &json!({"Customer": {"Name": 5, "CountryCode": "SWE", "Type": "PERSON"}}),
        )
        .unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors.iter().any(|e| e.contains("/Customer/CountryCode")),
        "{errors:#?}"
    );

    // Responses: the list-item schema, nulls, dates, required fields.
    let list = json!({"Customers": [{"Name": "A", "CustomerNumber": "1", "ZipCode": "12345678901"}], "MetaInformation": {"@TotalResources": 1}});
    assert_eq!(
        contract
            .validate_response("GET", "/3/customers", 200, &list)
            .unwrap_err()
            .len(),
        1
    );
    let invoice = json!({"Invoice": {"CustomerNumber": "1", "DueDate": "", "Total": "12.00", "Comments": null}});
    assert_eq!(
        contract
            .validate_response("GET", "/3/invoices/1", 200, &invoice)
            .unwrap_err()
            .len(),
        3
    );
    assert!(contract
        .validate_response(
            "PUT",
            "/3/invoices/1/bookkeep",
            200,
            &json!({"Invoice": {}})
        )
        .unwrap_err()
        .iter()
        .any(|e| e.contains("CustomerNumber")));
    // Statuses without a body schema accept anything; unknown operations are errors.
    assert!(contract
        .validate_response("DELETE", "/3/customers/1", 204, &json!({"x": 1}))
        .is_ok());
    assert!(contract
        .validate_request("PATCH", "/3/customers/1", &good)
        .is_err());
    assert!(contract.has_operation("PUT", "/3/invoices/12/credit"));
}

#[tokio::test]
async fn the_sandbox_reports_bodies_that_break_the_contract() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    // The simulator is lenient like Fortnox (a string where the contract wants a number),
    // but the request is recorded as a violation.
    let (status, body) = api
        .post(
            "/3/customers",
            &json!({"Customer": {"Name": "Lenient AB", "InvoiceDiscount": "5"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let violations = contract_violations(&sb);
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert_eq!(violations[0].direction, Direction::Request);
    assert_eq!(violations[0].method, "POST");
    assert_eq!(violations[0].path, "/3/customers");
    assert!(
        violations[0].errors[0].contains("InvoiceDiscount"),
        "{violations:#?}"
    );
    let (status, _) = api.post_raw("/3/customers", "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(contract_violations(&sb).len(), 2);

    // A record a person broke in the UI shows up as a response violation.
    assert!(sb
        .state
        .modify_customer(ProviderKind::Fortnox, &api.company, "1", |c| {
            c["GLN"] = json!("123");
            c["Comments"] = serde_json::Value::Null;
        }));
    let (status, _) = api.get("/3/customers/1").await;
    assert_eq!(status, StatusCode::OK);
    let last = contract_violations(&sb).pop().expect("a violation");
    assert_eq!(last.direction, Direction::Response);
    assert_eq!(last.status, Some(200));
    assert_eq!(last.path, "/3/customers/1");
    assert_eq!(last.errors.len(), 1, "{last:#?}");
    assert!(last.errors[0].contains("/Customer/GLN"), "{last:#?}");

    // Over HTTP too.
    let listed: serde_json::Value = http()
        .get(format!("{}/_sandbox/contract-violations", sb.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed.as_array().unwrap().len(),
        sb.state.contract_violations().len()
    );
    sb.state.clear_records();
    assert!(sb.state.contract_violations().is_empty());
}

#[tokio::test]
async fn a_missing_spec_fails_start() {
    let mut config = SandboxConfig::with_defaults();
    config.fortnox_openapi = Some("/nonexistent/fortnox-openapi.json".into());
    match start(config).await {
        Err(SandboxError::Contract(_)) => {}
        other => panic!("expected a contract error, got {other:?}"),
    }
}

#[tokio::test]
async fn contract_checks_stay_fast() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    sb.state
        .seed_customers(ProviderKind::Fortnox, &api.company, 500);
    let started = std::time::Instant::now();
    for page in 1..=5 {
        let (status, _) = api
            .get(&format!("/3/customers?limit=500&page={page}"))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "validated 500-item pages took {:?}",
        started.elapsed()
    );
    assert_responses_match_contract(&sb);
}
