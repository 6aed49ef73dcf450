//! The Fortnox simulator's answers are shaped like real Fortnox's and follow the April 2026
//! document: every key of the schema (and no other), `null` for what is unset, whole amounts
//! as integers, list items with the list schema's key set and encodings, error bodies with
//! Fortnox's key casing, the gateway's bare 401, and text rows accepted.

mod common;

use common::*;
use reqwest::StatusCode;
use sandbox::fortnox::{CODE_INVALID_JSON, CODE_NOT_FOUND};
use sandbox::ProviderKind;
use serde_json::{json, Value};

/// Asserts that `value` has exactly the properties of schema `name`, recursively through
/// nested objects and arrays of objects (`$ref`s), so no answer carries a key the document
/// lacks or leaves one out.
fn assert_keys_match(value: &Value, name: &str, at: &str) {
    let schema = fortnox_schema(name);
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object: {value}"));
    let mut keys: Vec<String> = object.keys().cloned().collect();
    keys.sort_unstable();
    assert_eq!(keys, schema_properties(name), "{at}: keys of {name}");
    let props = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (key, prop) in props {
        let nested = |p: &Value| {
            p["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(str::to_string)
        };
        let child = &object[&key];
        if let Some(inner) = nested(&prop) {
            if !child.is_null() {
                assert_keys_match(child, &inner, &format!("{at}/{key}"));
            }
        } else if let Some(inner) = nested(&prop["items"]) {
            for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                assert_keys_match(item, &inner, &format!("{at}/{key}/{i}"));
            }
        }
    }
}

/// The JSON text of `value` (to see `7420` versus `7420.0`).
fn text(value: &Value) -> String {
    serde_json::to_string(value).expect("serialises")
}

#[tokio::test]
async fn single_records_carry_every_key_with_null_for_unset() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let (status, body) = api
        .post(
            "/3/customers",
            &json!({"Customer": {"Name": "Nollan AB", "City": "Umeå", "Address2": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let c = &body["Customer"];
    assert_keys_match(c, "fortnox_Kf_CustomerSingleItem", "Customer");
    for key in [
        "DeliveryCountryCode",
        "GLN",
        "GLNDelivery",
        "SalesAccount",
        "VisitingCountryCode",
        "Address1",
        "Address2",
        "Email",
        "Phone1",
        "DeliveryCountry",
    ] {
        assert!(c.get(key).is_some_and(Value::is_null), "{key}: {c}");
    }
    assert!(
        !text(c).contains("\"\""),
        "no empty strings for unset values: {c}"
    );
    assert_eq!(c["Active"], true);
    assert_eq!(c["ShowPriceVATIncluded"], false);
    assert_eq!(c["Country"], "Sverige");
    assert_eq!(text(&c["InvoiceDiscount"]), "0");

    // What is written shows up; writing "" unsets it again.
    let (_, body) = api
        .put(
            "/3/customers/1",
            &json!({"Customer": {"GLN": "7300009012345", "SalesAccount": 3001,
                    "VisitingCountryCode": "no", "City": ""}}),
        )
        .await;
    let c = &body["Customer"];
    assert_eq!(c["GLN"], "7300009012345");
    assert_eq!(
        c["SalesAccount"], "3001",
        "a string in the single-item schema"
    );
    assert_eq!(c["VisitingCountry"], "Norge");
    assert!(c["City"].is_null());
    let (_, got) = api.get("/3/customers/1").await;
    assert_eq!(got, body);
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn invoices_carry_computed_fields_and_whole_amounts_as_integers() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    api.post("/3/customers", &fortnox_customer("Kund AB")).await;
    let (status, body) = api
        .post(
            "/3/invoices",
            &json!({"Invoice": {"CustomerNumber": "1", "InvoiceDate": "2026-04-01",
            "InvoiceRows": [
                {"AccountNumber": 3001, "DeliveredQuantity": 2, "Price": 2968},
                {"AccountNumber": 3001, "DeliveredQuantity": 1, "Price": 99.5, "VAT": 0}
            ]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let inv = &body["Invoice"];
    assert_keys_match(inv, "fortnox_Kf_InvoiceSingleItem", "Invoice");
    // 5936 + 25 % = 7420, plus 99.50 without VAT: 7519.50, rounded to 7520.
    assert_eq!(text(&inv["InvoiceRows"][0]["Total"]), "5936");
    assert_eq!(text(&inv["InvoiceRows"][1]["Total"]), "99.5");
    assert_eq!(text(&inv["TotalVAT"]), "1484");
    assert_eq!(text(&inv["Total"]), "7520");
    assert_eq!(text(&inv["RoundOff"]), "0.5");
    assert_eq!(text(&inv["Balance"]), "7520");
    assert_eq!(text(&inv["CurrencyRate"]), "1");
    assert_eq!(inv["Booked"], false);
    assert_eq!(inv["Cancelled"], false);
    assert_eq!(inv["Sent"], false);
    for key in [
        "FinalPayDate",
        "VoucherNumber",
        "VoucherSeries",
        "VoucherYear",
        "DeliveryDate",
        "LastRemindDate",
        "OutboundDate",
        "PaymentWay",
        "Comments",
    ] {
        assert!(inv.get(key).is_some_and(Value::is_null), "{key}: {inv}");
    }
    assert!(!text(inv).contains("\"\""), "{inv}");
    assert!(
        !text(inv).contains(".0,") && !text(inv).contains(".0}"),
        "{inv}"
    );

    let (_, body) = api.put_empty("/3/invoices/1/bookkeep").await;
    let inv = &body["Invoice"];
    assert_eq!(inv["Booked"], true);
    assert_eq!(inv["VoucherSeries"], "B");
    assert_eq!(inv["VoucherNumber"], 1);
    assert_eq!(inv["VoucherYear"], 2026);
    assert!(inv["FinalPayDate"].is_null(), "unpaid");
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn list_items_carry_the_list_schemas_keys_and_encodings() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    sb.state
        .seed_customers(ProviderKind::Fortnox, &api.company, 3);
    api.put(
        "/3/customers/2",
        &json!({"Customer": {"SalesAccount": "3001", "InvoiceAdministrationFee": "50"}}),
    )
    .await;
    let (_, body) = api.get("/3/customers").await;
    for (i, item) in body["Customers"].as_array().unwrap().iter().enumerate() {
        assert_keys_match(
            item,
            "fortnox_Kf_CustomerListItem",
            &format!("Customers/{i}"),
        );
    }
    // The list schema types these differently from the single one.
    let second = &body["Customers"][1];
    assert_eq!(text(&second["SalesAccount"]), "3001");
    assert_eq!(text(&second["InvoiceAdministrationFee"]), "50");
    assert_eq!(second["Phone"], second["Phone1"]);
    assert!(second["GLN"].is_null());

    for n in ["1", "2"] {
        let (status, body) = api
            .post(
                "/3/invoices",
                &json!({"Invoice": {"CustomerNumber": n,
                    "InvoiceRows": [{"AccountNumber": 3001, "DeliveredQuantity": 1, "Price": 100}]}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, body) = api.get("/3/invoices").await;
    let items = body["Invoices"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(body["MetaInformation"]["@TotalResources"], 2);
    for (i, item) in items.iter().enumerate() {
        assert_keys_match(item, "fortnox_Kf_InvoiceListItem", &format!("Invoices/{i}"));
    }
    let item = &items[0];
    // Each field encoded as the list-item schema types it.
    let props = fortnox_schema("fortnox_Kf_InvoiceListItem")["properties"].clone();
    for (key, prop) in props.as_object().unwrap() {
        let v = &item[key];
        let ok = v.is_null()
            || match prop["type"].as_str() {
                Some("string") => v.is_string(),
                Some("number") => v.is_number(),
                Some("integer") => v.is_i64() || v.is_u64(),
                Some("boolean") => v.is_boolean(),
                Some("array") => v.is_array(),
                _ => v.is_object(),
            };
        assert!(ok, "{key} = {v} but the list schema says {prop}");
    }
    assert_eq!(
        item["ContractReference"], "0",
        "a string in the list schema"
    );
    assert_eq!(text(&item["CurrencyRate"]), "1");
    assert_eq!(text(&item["Total"]), "125");
    assert!(item["FinalPayDate"].is_null() && item["VoucherNumber"].is_null());
    let (_, single) = api.get("/3/invoices/1").await;
    assert_eq!(
        single["Invoice"]["ContractReference"], 0,
        "an integer there"
    );
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn text_rows_are_accepted_and_count_zero() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    api.post("/3/customers", &fortnox_customer("Kund AB")).await;
    let (status, body) = api
        .post(
            "/3/invoices",
            &json!({"Invoice": {"CustomerNumber": "1", "InvoiceRows": [
                {"Description": "Arbete enligt offert 12"},
                {"AccountNumber": 3001, "DeliveredQuantity": 4, "Price": 250, "Description": "Timmar"},
                {"Description": "Tack för uppdraget", "DeliveredQuantity": "0", "Price": 0}
            ]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let inv = &body["Invoice"];
    let rows = inv["InvoiceRows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in [&rows[0], &rows[2]] {
        assert!(row["AccountNumber"].is_null(), "{row}");
        assert!(row["ArticleNumber"].is_null(), "{row}");
        assert_eq!(text(&row["Total"]), "0");
    }
    assert_eq!(rows[0]["Description"], "Arbete enligt offert 12");
    assert_eq!(text(&inv["Net"]), "1000");
    assert_eq!(text(&inv["Total"]), "1250");
    // A text row with an amount is not a text row: it needs an account.
    let (status, body) = api
        .put(
            "/3/invoices/1",
            &json!({"Invoice": {"InvoiceRows": [{"Description": "x", "DeliveredQuantity": "1", "Price": 5}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_responses_match_contract(&sb);
}

#[tokio::test]
async fn errors_use_fortnox_key_casing_and_the_gateway_401() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    // 404: the document's casing.
    for path in ["/3/customers/99", "/3/invoices/99"] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let info = body["ErrorInformation"].as_object().expect("info");
        let mut keys: Vec<&str> = info.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["Code", "Error", "Message"], "{body}");
        assert_eq!(info["Code"], CODE_NOT_FOUND);
        assert_keys_match(&body, "fortnox_ErrorInformation_Wrap", "404");
    }
    // 400: lower case.
    let (status, body) = api.post_raw("/3/customers", "{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let info = body["ErrorInformation"].as_object().expect("info");
    let mut keys: Vec<&str> = info.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "error", "message"], "{body}");
    assert_eq!(info["code"], CODE_INVALID_JSON);

    // An unknown or expired access token: the gateway's bare 401.
    let mut unknown = api.clone();
    unknown.token = "not-a-token".into();
    let (status, body) = unknown.get("/3/customers").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"message": "unauthorized"}));
    sb.state.expire_access_tokens();
    let (status, body) = api.get("/3/invoices/1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"message": "unauthorized"}));
}

#[tokio::test]
async fn company_information_has_the_schemas_keys() {
    let sb = sandbox().await;
    let api = fortnox(&sb);
    let (status, body) = api.get("/3/companyinformation").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_keys_match(
        &body["CompanyInformation"],
        "fortnox_CompanyInformationSingleItem",
        "CompanyInformation",
    );
    assert!(body["CompanyInformation"]["DatabaseNumber"].is_i64());
    assert_responses_match_contract(&sb);
}
