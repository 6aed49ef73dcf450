//! Fortnox REST simulator: paging, incremental reads, customers, invoices. Every test ends
//! by checking that each response it got matches Fortnox's OpenAPI contract.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use common::*;
use reqwest::StatusCode;
use sandbox::fortnox::{
    CODE_ACCOUNT_NOT_FOUND, CODE_CUSTOMER_NOT_FOUND, CODE_CUSTOMER_NUMBER_TAKEN,
    CODE_INVALID_ACTION, CODE_INVALID_JSON, CODE_INVALID_PARAMETER, CODE_INVOICE_LOCKED,
    CODE_NOT_FOUND, CODE_NO_LICENCE, CODE_REQUIRED_FIELD, CODE_VALUE_TOO_LONG,
};
use sandbox::ProviderKind;
use serde_json::{json, Value};

fn numbers(body: &Value, list: &str, field: &str) -> Vec<String> {
    body[list]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c[field].as_str().expect("number").to_string())
        .collect()
}

#[tokio::test]
async fn customer_pages_walk_2000_records() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let seeded = sb
        .state
        .seed_customers(ProviderKind::Fortnox, &api.company, 2000);
    assert_eq!(seeded.len(), 2000);
    assert_eq!(
        sb.state.customer_count(ProviderKind::Fortnox, &api.company),
        2000
    );

    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let (status, body) = api
            .get(&format!("/3/customers?limit=500&page={page}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let meta = &body["MetaInformation"];
        assert_eq!(meta["@TotalResources"], 2000);
        assert_eq!(meta["@TotalPages"], 4);
        assert_eq!(meta["@CurrentPage"], page);
        seen.extend(numbers(&body, "Customers", "CustomerNumber"));
        if meta["@CurrentPage"].as_u64() >= meta["@TotalPages"].as_u64() {
            break;
        }
        page += 1;
    }
    assert_eq!(seen, seeded, "every customer once, in number order");

    // List items carry the list-item schema's fields (`fortnox_Kf_CustomerListItem`).
    let (_, body) = api.get("/3/customers?limit=1").await;
    let item = body["Customers"][0].as_object().expect("item");
    let mut keys: Vec<String> = item.keys().cloned().collect();
    keys.sort_unstable();
    assert_eq!(keys, schema_properties("fortnox_Kf_CustomerListItem"));
    assert!(item["@url"].as_str().unwrap().ends_with("/3/customers/1"));
    let (_, full) = api.get("/3/customers/1").await;
    assert_eq!(full["Customer"]["Name"], item["Name"]);
    assert_eq!(full["Customer"]["Country"], "Sverige");

    // Defaults, offset, limits.
    let (_, body) = api.get("/3/customers").await;
    assert_eq!(body["Customers"].as_array().unwrap().len(), 100);
    assert_eq!(body["MetaInformation"]["@TotalPages"], 20);
    let (_, body) = api.get("/3/customers?limit=5&offset=10").await;
    assert_eq!(numbers(&body, "Customers", "CustomerNumber")[0], seeded[10]);
    let (_, body) = api.get("/3/customers?limit=500&page=9").await;
    assert_eq!(body["Customers"].as_array().unwrap().len(), 0);
    let (status, body) = api.get("/3/customers?limit=501").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );
    let (status, body) = api.get("/3/customers?colour=blue").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );
    let (status, body) = api.get("/3/customers?page=0").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );

    // Sorting.
    let (_, body) = api.get("/3/customers?sortby=name&limit=500").await;
    let names: Vec<String> = body["Customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let (_, body) = api.get("/3/customers?sortorder=descending&limit=1").await;
    assert_eq!(body["Customers"][0]["CustomerNumber"], "2000");

    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn search_parameters_are_substring_matches() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    for name in ["Berg Bygg AB", "Bergström El", "Snickeri Nord"] {
        let (status, body) = api.post("/3/customers", &fortnox_customer(name)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, body) = api.get("/3/customers?name=berg").await;
    assert_eq!(body["Customers"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["MetaInformation"]["@TotalResources"], 2);
    let (_, body) = api.get("/3/customers?customernumber=1").await;
    assert_eq!(body["Customers"].as_array().unwrap().len(), 1);

    // Invoices: `externalinvoicereference1=12` also finds 123 (compare exactly client-side).
    for reference in ["12", "123", "45"] {
        let (status, body) = api
            .post(
                "/3/invoices",
                &json!({"Invoice": {
                    "CustomerNumber": "1",
                    "ExternalInvoiceReference1": reference,
                    "InvoiceRows": [{"AccountNumber": 3001, "DeliveredQuantity": "1", "Price": 100}]
                }}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, body) = api.get("/3/invoices?externalinvoicereference1=12").await;
    let mut refs: Vec<String> = body["Invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ExternalInvoiceReference1"].as_str().unwrap().to_string())
        .collect();
    refs.sort();
    assert_eq!(refs, ["12", "123"]);
    let (_, body) = api
        .get("/3/invoices?customernumber=1&documentnumber=3")
        .await;
    assert_eq!(numbers(&body, "Invoices", "DocumentNumber"), ["3"]);
    assert_responses_match_contract(&sb);
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn lastmodified_is_swedish_local_time_across_dst() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let ids = sb
        .state
        .seed_customers(ProviderKind::Fortnox, &api.company, 4);
    let set = |id: &str, at: &str| {
        assert!(sb
            .state
            .set_customer_modified(ProviderKind::Fortnox, &api.company, id, utc(at)));
    };
    // DST started 2024-03-31 at 01:00 UTC (02:00 CET became 03:00 CEST).
    set(&ids[0], "2024-01-15T09:00:00Z"); // 10:00 CET
    set(&ids[1], "2024-03-31T00:30:00Z"); // 01:30 CET, before the switch
    set(&ids[2], "2024-03-31T01:30:00Z"); // 03:30 CEST, after the switch
    set(&ids[3], "2024-07-01T10:00:00Z"); // 12:00 CEST
    let since = |local: &'static str| {
        let api = api.clone();
        async move {
            let q = local.replace(' ', "%20");
            let (status, body) = api.get(&format!("/3/customers?lastmodified={q}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            numbers(&body, "Customers", "CustomerNumber")
        }
    };
    // Winter time (UTC+1): 10:00 local is 09:00 UTC, "at or after" includes it.
    assert_eq!(since("2024-01-15 10:00").await, ids[0..].to_vec());
    assert_eq!(since("2024-01-15 10:00:01").await, ids[1..].to_vec());
    // 03:00 local on the switch day is already summer time (01:00 UTC): a fixed +1 offset
    // would say 02:00 UTC and miss ids[2].
    assert_eq!(since("2024-03-31 03:00").await, ids[2..].to_vec());
    // 02:30 does not exist that night; read with the offset before the gap: 01:30 UTC.
    assert_eq!(since("2024-03-31 02:30").await, ids[2..].to_vec());
    assert_eq!(since("2024-03-31 01:30").await, ids[1..].to_vec());
    // Summer time (UTC+2).
    assert_eq!(since("2024-07-01 12:00").await, ids[3..].to_vec());
    assert!(since("2024-07-01 12:00:01").await.is_empty());
    assert_eq!(since("2024-07-01").await, ids[3..].to_vec());

    // A change made now by a person shows up from "a minute ago" in Swedish time, and not
    // from "a minute ago" misread as UTC wall time (which is one or two hours earlier here).
    assert!(sb
        .state
        .modify_customer(ProviderKind::Fortnox, &api.company, &ids[0], |c| {
            c["City"] = json!("Kiruna");
        }));
    let a_minute_ago = Utc::now() - chrono::Duration::minutes(1);
    let local = Stockholm
        .from_utc_datetime(&a_minute_ago.naive_utc())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let (_, body) = api
        .get(&format!(
            "/3/customers?lastmodified={}",
            local.replace(' ', "%20")
        ))
        .await;
    assert_eq!(
        numbers(&body, "Customers", "CustomerNumber"),
        [ids[0].clone()]
    );
    let (_, full) = api.get(&format!("/3/customers/{}", ids[0])).await;
    assert_eq!(full["Customer"]["City"], "Kiruna");

    let (status, body) = api.get("/3/customers?lastmodified=yesterday").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );

    // Invoices filter the same way.
    let (status, _) = api
        .post(
            "/3/invoices",
            &json!({"Invoice": {"CustomerNumber": ids[3], "InvoiceRows": [{"AccountNumber": 3001, "DeliveredQuantity": "1", "Price": 10}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(sb.state.set_invoice_modified(
        ProviderKind::Fortnox,
        &api.company,
        "1",
        utc("2024-03-31T01:30:00Z")
    ));
    let (_, body) = api.get("/3/invoices?lastmodified=2024-03-31%2003:30").await;
    assert_eq!(numbers(&body, "Invoices", "DocumentNumber"), ["1"]);
    let (_, body) = api.get("/3/invoices?lastmodified=2024-03-31%2003:31").await;
    assert!(body["Invoices"].as_array().unwrap().is_empty());
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn customer_round_trip_and_lenient_input() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let (status, body) = api
        .post(
            "/3/customers",
            &json!({"Customer": {
                "Name": "Rörläggare Öberg AB",
                "OrganisationNumber": "556677-0001",
                "Address1": "Hamngatan 3",
                "ZipCode": "972 31",
                "City": "Luleå",
                "CountryCode": "no",
                "Country": "Ignored",
                "Email": "kontor@oberg.se",
                "Phone1": "0920-123 45",
                "ExternalReference": "our-id-42",
                "InvoiceDiscount": "5.5",
                "Active": "true",
                "DefaultDeliveryTypes": {"Invoice": "email"},
                "SomethingUnknown": 1
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let c = &body["Customer"];
    assert_eq!(c["CustomerNumber"], "1");
    assert_eq!(c["CountryCode"], "NO");
    assert_eq!(c["Country"], "Norge", "Country is derived, not written");
    assert_eq!(c["InvoiceDiscount"], 5.5);
    assert_eq!(c["Active"], true);
    assert_eq!(c["DefaultDeliveryTypes"]["Invoice"], "EMAIL");
    assert_eq!(c["DefaultDeliveryTypes"]["Offer"], "PRINT");
    assert_eq!(c["ExternalReference"], "our-id-42");
    assert!(c.get("SomethingUnknown").is_none());

    // PUT merges: only what is sent changes.
    let (status, body) = api
        .put(
            "/3/customers/1",
            &json!({"Customer": {"City": "Boden", "CustomerNumber": "999"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Customer"]["City"], "Boden");
    assert_eq!(body["Customer"]["Name"], "Rörläggare Öberg AB");
    assert_eq!(body["Customer"]["CustomerNumber"], "1");
    let (_, got) = api.get("/3/customers/1").await;
    assert_eq!(got, body);
    assert_eq!(
        sb.state.customers(ProviderKind::Fortnox, &api.company)[0]["City"],
        "Boden"
    );

    // Validation, in Swedish.
    let (status, body) = api
        .post("/3/customers", &json!({"Customer": {"City": "Umeå"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_REQUIRED_FIELD);
    assert!(body["ErrorInformation"]["message"]
        .as_str()
        .unwrap()
        .contains("namn"));
    let (status, body) = api
        .put("/3/customers/1", &json!({"Customer": {"Name": ""}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_REQUIRED_FIELD);
    let (status, body) = api.post_raw("/3/customers", "{\"Customer\": {").await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_JSON);
    let (status, body) = api
        .post("/3/customers", &json!({"Name": "No wrapper"}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_JSON);
    let (status, body) = api.get("/3/customers/77").await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    let (status, body) = api.put("/3/customers/77", &fortnox_customer("x")).await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    // The lenient and broken bodies above broke the contract on purpose.
    excuse_request_violations(&sb, 5);
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn customer_numbers_stay_reserved_after_deletion() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    for expected in ["1", "2"] {
        let (_, body) = api.post("/3/customers", &fortnox_customer("A")).await;
        assert_eq!(body["Customer"]["CustomerNumber"], expected);
    }
    let (status, body) = api
        .post(
            "/3/customers",
            &json!({"Customer": {"Name": "Own number", "CustomerNumber": "K-100"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api
        .post(
            "/3/customers",
            &json!({"Customer": {"Name": "Dup", "CustomerNumber": "K-100"}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_CUSTOMER_NUMBER_TAKEN,
    );

    let (status, body) = api.delete("/3/customers/2").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = api.get("/3/customers/2").await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    // The deleted number cannot be used again, by hand or by the sequence.
    let (status, body) = api
        .post(
            "/3/customers",
            &json!({"Customer": {"Name": "Again", "CustomerNumber": "2"}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_CUSTOMER_NUMBER_TAKEN,
    );
    assert!(body["ErrorInformation"]["message"]
        .as_str()
        .unwrap()
        .contains("används redan"));
    let (_, body) = api.post("/3/customers", &fortnox_customer("Next")).await;
    assert_eq!(body["Customer"]["CustomerNumber"], "3");
    // A person deleting in Fortnox reserves the number too.
    assert!(sb
        .state
        .delete_customer(ProviderKind::Fortnox, &api.company, "3"));
    let (_, body) = api.post("/3/customers", &fortnox_customer("After")).await;
    assert_eq!(body["Customer"]["CustomerNumber"], "4");
    let (status, _) = api.delete("/3/customers/3").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn invoices_compute_totals_and_follow_their_life_cycle() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let (_, body) = api.post("/3/customers", &fortnox_customer("Kund AB")).await;
    let customer = body["Customer"]["CustomerNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = api
        .post(
            "/3/invoices",
            &json!({"Invoice": {
                "CustomerNumber": customer,
                "InvoiceDate": "2024-05-02",
                "YourReference": "Anna",
                "ExternalInvoiceReference1": "order-77",
                "InvoiceRows": [
                    {"AccountNumber": "3001", "DeliveredQuantity": "3", "Price": 333.33, "Description": "Arbete"},
                    {"ArticleNumber": "MAT", "DeliveredQuantity": 2, "Price": "10.10", "Discount": 10, "VAT": 12, "Description": "Mat"}
                ]
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The rows above are lenient on purpose (numbers as strings and back), off the document.
    excuse_request_violations(&sb, 1);
    let inv = &body["Invoice"];
    assert_eq!(inv["DocumentNumber"], "1");
    assert_eq!(inv["CustomerName"], "Kund AB");
    assert_eq!(
        inv["DueDate"], "2024-06-01",
        "30 days from the customer's terms"
    );
    assert_eq!(inv["Net"], 1018.17);
    assert_eq!(inv["TotalVAT"], 252.18);
    assert_eq!(inv["Total"], 1270);
    assert_eq!(inv["RoundOff"], -0.35);
    assert_eq!(inv["Balance"], 1270);
    assert_eq!(inv["InvoiceRows"][0]["DeliveredQuantity"], "3.00");
    assert_eq!(inv["InvoiceRows"][0]["Total"], 999.99);
    assert_eq!(inv["InvoiceRows"][1]["AccountNumber"], 3001);
    assert_eq!(inv["Booked"], false);
    assert_eq!(inv["Credit"], "false");

    // Editable until booked; rows map by position.
    let (status, body) = api
        .put(
            "/3/invoices/1",
            &json!({"Invoice": {"InvoiceRows": [{"Price": 100}], "YourReference": "Bo"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Invoice"]["InvoiceRows"].as_array().unwrap().len(), 1);
    assert_eq!(body["Invoice"]["InvoiceRows"][0]["Description"], "Arbete");
    assert_eq!(body["Invoice"]["Total"], 375);
    assert_eq!(body["Invoice"]["YourReference"], "Bo");

    let (status, body) = api.put_empty("/3/invoices/1/bookkeep").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Invoice"]["Booked"], true);
    assert_eq!(body["Invoice"]["VoucherSeries"], "B");
    let (status, body) = api
        .put("/3/invoices/1", &json!({"Invoice": {"YourReference": "X"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVOICE_LOCKED);
    let (status, body) = api.put_empty("/3/invoices/1/cancel").await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_ACTION);

    // Credit: a new invoice pointing back, the original pointing forward.
    let (status, body) = api.put_empty("/3/invoices/1/credit").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Invoice"]["CreditInvoiceReference"], "2");
    assert_eq!(body["Invoice"]["Balance"], 0);
    let (_, credit) = api.get("/3/invoices/2").await;
    assert_eq!(credit["Invoice"]["Credit"], "true");
    assert_eq!(credit["Invoice"]["CreditInvoiceReference"], "1");
    assert_eq!(credit["Invoice"]["Total"], -375);
    assert_eq!(
        credit["Invoice"]["InvoiceRows"][0]["DeliveredQuantity"],
        "-3.00"
    );
    let (status, body) = api.put_empty("/3/invoices/1/credit").await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_ACTION);

    // Cancel an unbooked one.
    let (_, body) = api
        .post(
            "/3/invoices",
            &json!({"Invoice": {"CustomerNumber": customer, "InvoiceRows": [{"AccountNumber": 3001, "DeliveredQuantity": "1", "Price": 80}]}}),
        )
        .await;
    assert_eq!(body["Invoice"]["DocumentNumber"], "3");
    let (status, body) = api.put_empty("/3/invoices/3/cancel").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Invoice"]["Cancelled"], true);
    let (status, body) = api
        .put("/3/invoices/3", &json!({"Invoice": {"Remarks": "x"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVOICE_LOCKED);
    let (status, body) = api.put_empty("/3/invoices/3/bookkeep").await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_INVALID_ACTION);

    let (_, body) = api.get("/3/invoices?filter=cancelled").await;
    assert_eq!(numbers(&body, "Invoices", "DocumentNumber"), ["3"]);
    let (_, body) = api.get("/3/invoices?filter=unbooked").await;
    assert_eq!(numbers(&body, "Invoices", "DocumentNumber"), ["2"]);
    let (_, body) = api.get("/3/invoices?sortby=total&limit=10").await;
    assert_eq!(
        numbers(&body, "Invoices", "DocumentNumber"),
        ["2", "3", "1"]
    );
    let (status, body) = api.get("/3/invoices?filter=lost").await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
    );
    assert_eq!(
        sb.state.invoice_count(ProviderKind::Fortnox, &api.company),
        3
    );
    let (status, body) = api.delete("/3/customers/1").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a customer with invoices stays: {body}"
    );
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn invoice_validation_errors() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    api.post("/3/customers", &fortnox_customer("Kund AB")).await;
    let invoice = |rows: Value| json!({"Invoice": {"CustomerNumber": "1", "InvoiceRows": rows}});

    let (status, body) = api
        .post(
            "/3/invoices",
            &invoice(
                json!([{"Description": "Konsulttimmar", "DeliveredQuantity": "1", "Price": 900}]),
            ),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_ACCOUNT_NOT_FOUND,
    );
    assert!(body["ErrorInformation"]["message"]
        .as_str()
        .unwrap()
        .contains("Kunde inte hitta konto"));
    assert_eq!(body["ErrorInformation"]["code"], 2_001_304);

    let long = "x".repeat(256);
    let (status, body) = api
        .post(
            "/3/invoices",
            &invoice(json!([{"AccountNumber": 3001, "Description": long}])),
        )
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_VALUE_TOO_LONG);
    let (status, _) = api
        .post(
            "/3/invoices",
            &invoice(json!([{"AccountNumber": 3001, "Description": "x".repeat(255)}])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = api
        .post(
            "/3/invoices",
            &json!({"Invoice": {"CustomerNumber": "404"}}),
        )
        .await;
    assert_fortnox_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        CODE_CUSTOMER_NOT_FOUND,
    );
    let (status, body) = api
        .post("/3/invoices", &json!({"Invoice": {"YourReference": "a"}}))
        .await;
    assert_fortnox_error(status, &body, StatusCode::BAD_REQUEST, CODE_REQUIRED_FIELD);
    let (status, body) = api.get("/3/invoices/99").await;
    assert_fortnox_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    assert_eq!(
        sb.state.invoice_count(ProviderKind::Fortnox, &api.company),
        1
    );
    // A 256-character row description and a missing CustomerNumber, sent on purpose.
    excuse_request_violations(&sb, 2);
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn tokens_are_bound_to_their_company_and_scopes() {
    let sb = sandbox().await;
    let first = fortnox(&sb);
    let second_key = sb.state.config().fortnox_companies[1]
        .database_number
        .to_string();
    let second = api_for(&sb, ProviderKind::Fortnox, Some(&second_key));
    first
        .post("/3/customers", &fortnox_customer("Only in the first"))
        .await;
    let (_, body) = second.get("/3/customers").await;
    assert_eq!(body["MetaInformation"]["@TotalResources"], 0);
    assert_eq!(body["MetaInformation"]["@TotalPages"], 0);
    let (status, _) = second.get("/3/customers/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mut narrow = first.clone();
    narrow.token = sb.state.issue_access_token(
        ProviderKind::Fortnox,
        sandbox::DEFAULT_FORTNOX_CLIENT_ID,
        &first.company,
        &["customer"],
    );
    let (status, body) = narrow.get("/3/invoices").await;
    assert_fortnox_error(status, &body, StatusCode::FORBIDDEN, CODE_NO_LICENCE);
    let mut anonymous = first.clone();
    anonymous.token = "nope".into();
    let (status, _) = anonymous.get("/3/customers").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // REST requests are recorded without their query; the query is kept apart.
    let records = sb.state.requests();
    let list = records
        .iter()
        .rev()
        .find(|r| r.path == "/3/invoices")
        .expect("recorded");
    assert_eq!(list.status, 403);
    let _ = second.get("/3/customers?limit=7").await;
    let records = sb.state.requests();
    let last = records.last().unwrap();
    assert_eq!(last.path, "/3/customers");
    assert_eq!(last.query.as_deref(), Some("limit=7"));
    assert_responses_match_contract(&sb);
}
