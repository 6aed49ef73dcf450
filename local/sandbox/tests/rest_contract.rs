//! The Fortnox simulator against Fortnox's own OpenAPI document
//! (`contracts/fortnox-openapi-2026-04.json`), proof that the check can fail, and how fast it
//! is.
// `json!` literals of whole Fortnox records nest deeper than the default allows.
#![recursion_limit = "512"]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use sandbox::{
    fortnox_contract, start, Contract, Direction, FaultConfig, ProviderKind, SandboxConfig,
    SandboxError, FORTNOX_CONTRACT,
};
use serde_json::{json, Value};

#[tokio::test]
async fn every_fortnox_endpoint_answers_within_the_contract() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let key = api.company.clone();
    sb.state.seed_customers(ProviderKind::Fortnox, &key, 30);

    let ok = |(status, body): (StatusCode, Value), expected: StatusCode| {
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
            &json!({"Invoice": {"CustomerNumber": number, "InvoiceRows": [{"Description": "x"}]}}),
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
    let contract = fortnox_contract(FORTNOX_CONTRACT).expect("the document loads");
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
    // The document marks nothing readOnly; types, formats and undeclared fields still count.
    let errors = contract
        .validate_request(
            "POST",
            "/3/invoices",
            &json!({"Invoice": {
                "CustomerNumber": "1",
                "InvoiceDate": "2026-13-01",
                "Total": 100,
                "InvoiceRows": [{"DeliveredQuantity": 2, "AccountNumber": 3001}]
            }}),
        )
        .unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors.iter().any(|e| e.starts_with("/Invoice/InvoiceDate")));
    assert!(
        errors
            .iter()
            .any(|e| e
                .contains("undeclared field Total (schema fortnox_Kf_InvoiceSinglePayloadItem)"))
    );
    assert!(errors
        .iter()
        .any(|e| e.starts_with("/Invoice/InvoiceRows/0/DeliveredQuantity")));
    // PUT is partial: no CustomerNumber needed.
    assert!(contract
        .validate_request(
            "PUT",
            "/3/invoices/1",
            &json!({"Invoice": {"Remarks": "x"}})
        )
        .is_ok());

    // Responses: the list-item schema, nulls, dates, required and undeclared fields.
    let list = json!({"Customers": [{"Name": "A", "CustomerNumber": "1", "ZipCode": "12345678901"}], "MetaInformation": {"@TotalResources": 1}});
    assert_eq!(
        contract
            .validate_response("GET", "/3/customers", 200, &list)
            .unwrap_err()
            .len(),
        1
    );
    let invoice = json!({"Invoice": {"CustomerNumber": "1", "DueDate": "", "Total": "12.00", "Comments": null, "DeliveryDate": null}});
    let errors = contract
        .validate_response("GET", "/3/invoices/1", 200, &invoice)
        .unwrap_err();
    assert_eq!(
        errors.len(),
        2,
        "null is fine for optional fields: {errors:#?}"
    );
    let errors = contract
        .validate_response(
            "GET",
            "/3/invoices/1",
            200,
            &json!({"Invoice": {"CustomerNumber": "1", "Colour": "red"}}),
        )
        .unwrap_err();
    assert_eq!(
        errors,
        ["/Invoice: undeclared field Colour (schema fortnox_Kf_InvoiceSingleItem)"]
    );
    assert!(contract
        .validate_response(
            "GET",
            "/3/invoices/1",
            200,
            &json!({"Invoice": {"CustomerNumber": null}})
        )
        .is_err());
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
    // A 204 has no body; an undocumented success status or operation is an error.
    assert!(contract
        .check_response("DELETE", "/3/customers/1", 204, None)
        .is_ok());
    assert!(contract
        .check_response("DELETE", "/3/customers/1", 200, None)
        .is_err());
    assert!(contract
        .validate_request("PATCH", "/3/customers/1", &good)
        .is_err());
    assert!(contract.has_operation("PUT", "/3/invoices/12/credit"));
    // Error bodies: lower-case keys (as Fortnox sends them) pass the documented schema.
    assert!(contract
        .validate_response(
            "GET",
            "/3/customers/1",
            404,
            &json!({"ErrorInformation": {"error": 1, "message": "Kunde inte hitta kunden", "code": 2000433}})
        )
        .is_ok());
}

#[tokio::test]
async fn the_sandbox_reports_bodies_that_break_the_contract() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let requests = |sb: &Sandbox| -> Vec<_> {
        sb.state
            .contract_violations()
            .into_iter()
            .filter(|v| v.direction == Direction::Request)
            .collect()
    };
    // The simulator is lenient like Fortnox (a string where the contract wants a number),
    // but the request is recorded as a violation.
    let (status, body) = api
        .post(
            "/3/customers",
            &json!({"Customer": {"Name": "Lenient AB", "InvoiceDiscount": "5"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let violations = requests(&sb);
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert_eq!(violations[0].provider, ProviderKind::Fortnox);
    assert_eq!(violations[0].method, "POST");
    assert_eq!(violations[0].path, "/3/customers");
    assert_eq!(violations[0].operation.as_deref(), Some("/3/customers"));
    assert!(
        violations[0].errors[0].contains("InvoiceDiscount"),
        "{violations:#?}"
    );
    let (status, _) = api.post_raw("/3/customers", "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(requests(&sb).len(), 2);
    assert!(requests(&sb)[1].errors[0].contains("not JSON"));

    // A record a person broke in the UI shows up as a response violation.
    assert!(sb
        .state
        .modify_customer(ProviderKind::Fortnox, &api.company, "1", |c| {
            c["GLN"] = json!("123");
        }));
    let (status, _) = api.get("/3/customers/1").await;
    assert_eq!(status, StatusCode::OK);
    let last = sb.state.contract_violations().pop().expect("a violation");
    assert_eq!(last.direction, Direction::Response);
    assert_eq!(last.status, Some(200));
    assert_eq!(last.path, "/3/customers/1");
    assert_eq!(
        last.operation.as_deref(),
        Some("/3/customers/{CustomerNumber}")
    );
    assert!(
        last.errors.iter().any(|e| e.starts_with("/Customer/GLN")),
        "{last:#?}"
    );

    // An operation Fortnox does not have is a violation, whatever the handler answers.
    let (status, _) = api.get("/3/customer/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let last = sb.state.contract_violations().pop().expect("a violation");
    assert_eq!(last.operation, None);
    assert!(last.errors[0].contains("undocumented path"), "{last:#?}");

    // Over HTTP too, with the provider named.
    let listed: Value = http()
        .get(format!("{}/_sandbox/contract-violations", sb.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), sb.state.contract_violations().len());
    assert!(
        listed.iter().all(|v| v["provider"] == "fortnox"),
        "{listed:#?}"
    );
    let report = sandbox::violation_report(&sb.take_violations());
    assert!(
        report.contains("fortnox POST /3/customers request"),
        "{report}"
    );
    assert!(sb.state.contract_violations().is_empty());
}

#[tokio::test]
async fn a_missing_document_fails_start() {
    for edit in [
        |c: &mut SandboxConfig| c.contracts.fortnox = "/nonexistent/fortnox-openapi.json".into(),
        |c: &mut SandboxConfig| c.contracts.visma = "/nonexistent/visma.yaml".into(),
    ] {
        let mut config = SandboxConfig::with_defaults();
        edit(&mut config);
        match start(config).await {
            Err(SandboxError::Contract(_)) => {}
            other => panic!("expected a contract error, got {other:?}"),
        }
    }
}

/// A full Fortnox invoice as `GET /3/invoices/{n}` answers it: every key, `null` for unset
/// optional values.
fn fortnox_invoice(n: usize) -> Value {
    let row = |i: usize| {
        json!({
            "AccountNumber": 3001, "ArticleNumber": "ARB", "ContributionPercent": "100",
            "ContributionValue": "1300", "Cost": 0, "CostCenter": null,
            "DeliveredQuantity": "2", "Description": format!("Arbete {i}"), "Discount": 0,
            "DiscountType": "PERCENT", "HouseWork": false, "HouseWorkHoursToReport": null,
            "HouseWorkType": null, "Price": 650, "PriceExcludingVAT": 650, "Project": "",
            "RowId": i, "StockPointCode": null, "Total": 1300, "Unit": "tim", "VAT": 25
        })
    };
    json!({"Invoice": {
        "@url": format!("https://api.fortnox.se/3/invoices/{n}"),
        "Address1": "Storgatan 1", "Address2": "", "AdministrationFee": 0,
        "AdministrationFeeVAT": 0, "Balance": 4875, "BasisTaxReduction": 0, "Booked": false,
        "Cancelled": false, "City": "Umeå", "Comments": "", "ContractReference": 0,
        "ContributionPercent": 100, "ContributionValue": 3900, "CostCenter": "", "Country": "Sverige",
        "Credit": "false", "CreditInvoiceReference": "0", "Currency": "SEK", "CurrencyRate": 1,
        "CurrencyUnit": 1, "CustomerName": "Kund AB", "CustomerNumber": "1",
        "DeliveryAddress1": "", "DeliveryCity": "", "DeliveryDate": null, "DocumentNumber": n.to_string(),
        "DueDate": "2026-12-20", "EUQuarterlyReport": false, "ExternalInvoiceReference1": format!("inv-{n:05}"),
        "ExternalInvoiceReference2": "", "FinalPayDate": null, "Freight": 0, "FreightVAT": 0,
        "Gross": 3900, "HouseWork": false, "InvoiceDate": "2026-11-20", "InvoicePeriodEnd": null,
        "InvoicePeriodStart": null, "InvoiceReference": "0", "InvoiceType": "INVOICE",
        "Language": "SV", "LastRemindDate": null, "Net": 3900, "NotCompleted": false,
        "NoxFinans": false, "OCR": format!("{n}75"), "OfferReference": "0", "OrderReference": "0",
        "OrganisationNumber": "556677-8899", "OurReference": "Anna Andersson", "OutboundDate": "2026-11-20",
        "PaymentWay": null, "Phone1": "", "Phone2": "", "PriceList": "A", "PrintTemplate": "st",
        "Project": "", "Remarks": "", "Reminders": 0, "RoundOff": 0, "Sent": false,
        "TaxReduction": null, "TaxReductionType": "none", "TermsOfDelivery": "", "TermsOfPayment": "30",
        "TimeBasisReference": null, "Total": 4875, "TotalToPay": 4875, "TotalVAT": 975,
        "VATIncluded": false, "VoucherNumber": null, "VoucherSeries": null, "VoucherYear": null,
        "WarehouseReady": true, "WayOfDelivery": "", "YourOrderNumber": "", "YourReference": "Bo Berg",
        "ZipCode": "903 26",
        "InvoiceRows": [row(1), row(2), row(3)]
    }})
}

/// The 5,000-invoice export checks thousands of bodies: validating one must stay cheap.
#[test]
fn validating_5000_invoice_responses_is_fast() {
    let contract = Contract::official(ProviderKind::Fortnox).expect("loads");
    let bodies: Vec<Value> = (1..=5000).map(fortnox_invoice).collect();
    contract
        .validate_response("GET", "/3/invoices/1", 200, &bodies[0])
        .expect("a full invoice keeps to the contract");
    let started = Instant::now();
    for (i, body) in bodies.iter().enumerate() {
        assert!(contract
            .validate_response("GET", &format!("/3/invoices/{}", i + 1), 200, body)
            .is_ok());
    }
    let took = started.elapsed();
    eprintln!("validated 5000 Fortnox invoice responses in {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn contract_checks_stay_fast() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    sb.state
        .seed_customers(ProviderKind::Fortnox, &api.company, 500);
    let started = Instant::now();
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
