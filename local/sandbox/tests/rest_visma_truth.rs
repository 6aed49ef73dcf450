//! Visma answers follow Visma's own OpenAPI document: paths (`/termsofpayments`), statuses
//! (convert 201), draft PUT, draft paging, draft rows vs booked rows, the VAT rule (a row's
//! rate is its article's coding's), error bodies, and every body validating.

mod common;
mod visma_contract;

use common::*;
use reqwest::StatusCode;
use sandbox::visma::{CODE_INVALID_VALUE, CODE_NOT_FOUND, CODE_REQUIRED_FIELD, CODE_UNAUTHORIZED};
use sandbox::ProviderKind;
use serde_json::{json, Value};
use visma_contract::{assert_every_property, violations, V};

/// A sandbox without the Fortnox contract (these tests check Visma bodies themselves).
async fn sandbox() -> sandbox::RunningSandbox {
    sandbox_with(|c| c.fortnox_openapi = None).await
}

fn data(body: &Value) -> &Vec<Value> {
    body["Data"].as_array().expect("Data")
}

/// A customer (with `ReverseChargeOnConstructionServices` when `reverse`); returns its id.
async fn customer(api: &V, reverse: bool) -> String {
    let (_, terms) = api.get("/v2/termsofpayments").await;
    let mut body = json!({
        "Name": "Bygg & Montage AB",
        "InvoicePostalCode": "411 01",
        "InvoiceCity": "Göteborg",
        "InvoiceCountryCode": "SE",
        "IsPrivatePerson": false,
        "IsActive": true,
        "TermsOfPaymentId": data(&terms)[0]["Id"],
    });
    if reverse {
        body["ReverseChargeOnConstructionServices"] = json!(true);
        body["VatNumber"] = json!("SE556000000101");
    }
    let (status, created) = api.post("/v2/customers", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["Id"].as_str().unwrap().to_string()
}

/// Article id per VAT rate (fraction as text: "0.25", "0.12", "0.06", "0"), learnt as a
/// client must: article → `CodingId` → `/v2/articleaccountcodings` → `VatRatePercent`.
async fn articles_by_rate(api: &V) -> Vec<(f64, String)> {
    let (_, codings) = api.get("/v2/articleaccountcodings").await;
    let (_, articles) = api.get("/v2/articles").await;
    let mut out = Vec::new();
    for article in data(&articles) {
        let coding = data(&codings)
            .iter()
            .find(|c| c["Id"] == article["CodingId"])
            .expect("every article's coding is listed");
        let (status, one) = api
            .get(&format!(
                "/v2/articleaccountcodings/{}",
                coding["Id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&one, coding);
        out.push((
            coding["VatRatePercent"].as_f64().unwrap(),
            article["Id"].as_str().unwrap().to_string(),
        ));
    }
    out
}

fn article_for(articles: &[(f64, String)], rate: f64) -> String {
    articles
        .iter()
        .find(|(r, _)| (*r - rate).abs() < 1e-9)
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| panic!("an article at {rate}"))
}

fn draft_row(article: &str, quantity: f64, price: f64) -> Value {
    json!({"ArticleId": article, "Quantity": quantity, "UnitPrice": price,
           "IsTextRow": false, "ReversedConstructionServicesVatFree": false})
}

fn draft(customer: &str, rows: Vec<Value>) -> Value {
    json!({"CustomerId": customer, "RotReducedInvoicingType": 0, "EuThirdParty": false, "Rows": rows})
}

#[tokio::test]
async fn document_paths_only() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let (status, body) = api.get("/v2/termsofpayments").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(data(&body).len(), 3);
    // The singular path is not in the document.
    let (status, _) = api.0.get("/v2/termsofpayment").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for path in ["/v2/units", "/v2/articles", "/v2/companysettings"] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, settings) = api.get("/v2/companysettings").await;
    assert_every_property("CompanySettingsApi", &settings);
    let (_, articles) = api.get("/v2/articles?showPricesWithTwoDecimals=true").await;
    for article in data(&articles) {
        assert_every_property("ArticleApi", article);
    }
    // The checker itself refuses what the document forbids.
    let mut bad = data(&articles)[0].clone();
    bad["VatRatePercent"] = json!(25);
    assert!(!violations("GET", "/v2/articles/x", 200, &bad).is_empty());
    assert!(!violations("GET", "/v2/termsofpayment", 200, &json!({})).is_empty());
}

#[tokio::test]
async fn vat_comes_from_the_articles_coding() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let customer = customer(&api, false).await;
    let articles = articles_by_rate(&api).await;
    let rates = [0.25, 0.12, 0.06, 0.0];
    let rows: Vec<Value> = rates
        .iter()
        .map(|r| draft_row(&article_for(&articles, *r), 1.0, 100.0))
        .collect();
    let (status, created) = api
        .post("/v2/customerinvoicedrafts", &draft(&customer, rows))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for (row, rate) in created["Rows"].as_array().unwrap().iter().zip(rates) {
        assert_every_property("CustomerInvoiceDraftRowApi", row);
        assert_eq!(row["VatRate"].as_f64(), Some(rate), "{row}");
        assert!(row["VatRateId"].is_string());
    }
    // 400 net; VAT 25 + 12 + 6 + 0 = 43.
    assert_eq!(created["TotalVatAmount"], 43.0);
    assert_eq!(created["TotalAmount"], 443.0);

    // A row that says another rate than its article's is refused, not booked at 25 %.
    let mut twelve_on_25 = draft_row(&article_for(&articles, 0.25), 1.0, 100.0);
    twelve_on_25["VatRate"] = json!(0.12);
    let (status, answer) = api
        .post(
            "/v2/customerinvoicedrafts",
            &draft(&customer, vec![twelve_on_25]),
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    assert!(answer["DeveloperErrorMessage"]
        .as_str()
        .unwrap()
        .contains("articleaccountcodings"));
    let (_, drafts) = api.get("/v2/customerinvoicedrafts").await;
    assert_eq!(drafts["Meta"]["TotalNumberOfResults"], 1, "nothing stored");
    let mut booked_percent = json!({"ArticleId": article_for(&articles, 0.25), "Quantity": 1, "UnitPrice": 100, "PercentVat": 12});
    let invoice = json!({"CustomerId": customer, "RotReducedInvoicingType": 0, "EuThirdParty": false, "Rows": [booked_percent.clone()]});
    let (status, answer) = api.post("/v2/customerinvoices", &invoice).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    // The same rate as the article's is accepted (the field is read-only, not wrong).
    booked_percent["PercentVat"] = json!(0.25);
    let invoice = json!({"CustomerId": customer, "RotReducedInvoicingType": 0, "EuThirdParty": false, "Rows": [booked_percent]});
    let (status, booked) = api.post("/v2/customerinvoices", &invoice).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    assert_eq!(booked["Rows"][0]["VatRate"], 0.25);
    assert_eq!(booked["Rows"][0]["PercentVat"], 0.25);
    assert_eq!(booked["Rows"][0]["AmountNoVat"], 100.0);

    // Booked rows carry the rate too, and the invoice a VAT specification per rate.
    let id = created["Id"].as_str().unwrap();
    let (status, invoice) = api
        .post(
            &format!("/v2/customerinvoicedrafts/{id}/convert"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    for (row, rate) in invoice["Rows"].as_array().unwrap().iter().zip(rates) {
        assert_every_property("CustomerInvoiceRowApi", row);
        assert_eq!(row["VatRate"].as_f64(), Some(rate), "{row}");
        assert_eq!(row["PercentVat"].as_f64(), Some(rate), "{row}");
        assert_eq!(row["IsVatFree"], false);
    }
    let spec: Vec<f64> = invoice["VatSpecification"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VatPercent"].as_f64().unwrap())
        .collect();
    assert_eq!(spec, [0.0, 0.06, 0.12, 0.25]);
    assert_eq!(invoice["TotalVatAmount"], 43.0);
}

#[tokio::test]
async fn draft_rows_and_booked_rows_differ() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let customer = customer(&api, true).await;
    let (_, c) = api.get(&format!("/v2/customers/{customer}")).await;
    assert_every_property("CustomerApi", &c);
    assert_eq!(c["ReverseChargeOnConstructionServices"], true);
    let articles = articles_by_rate(&api).await;
    let mut vat_free = draft_row(&article_for(&articles, 0.25), 2.0, 500.0);
    vat_free["ReversedConstructionServicesVatFree"] = json!(true);
    let text = json!({"IsTextRow": true, "Text": "Omvänd skattskyldighet", "ReversedConstructionServicesVatFree": false});
    let (status, created) = api
        .post(
            "/v2/customerinvoicedrafts",
            &draft(&customer, vec![vat_free, text]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_every_property("CustomerInvoiceDraftApi", &created);
    let row = &created["Rows"][0];
    assert_eq!(row["ReversedConstructionServicesVatFree"], true);
    assert_eq!(row["VatRate"], 0.0);
    assert!(row.get("IsVatFree").is_none() && row.get("PercentVat").is_none());
    assert_eq!(
        created["Rows"][1]["VatRate"],
        Value::Null,
        "text rows have no rate"
    );
    assert_eq!(created["TotalVatAmount"], 0.0);
    assert_eq!(created["ReverseChargeOnConstructionServices"], true);
    assert!(created.get("ModifiedUtc").is_none() && created.get("CurrencyCode").is_none());

    let id = created["Id"].as_str().unwrap();
    let (status, invoice) = api
        .post(
            &format!("/v2/customerinvoicedrafts/{id}/convert"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    assert_every_property("CustomerInvoiceApi", &invoice);
    let row = &invoice["Rows"][0];
    assert_eq!(row["IsVatFree"], true);
    assert_eq!(row["VatRate"], 0.0);
    assert!(row.get("ReversedConstructionServicesVatFree").is_none());
    assert!(row.get("EligibleForReverseChargeOnVat").is_none());
    assert_eq!(invoice["Rows"][1]["IsTextRow"], true);
    assert_eq!(invoice["Rows"][1]["VatRate"], Value::Null);
    assert_eq!(invoice["ReverseChargeOnConstructionServices"], true);
    assert_eq!(invoice["TotalAmount"], 1000.0);
    let (status, answer) = api.get(&format!("/v2/customerinvoicedrafts/{id}")).await;
    assert_visma_error(status, &answer, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
}

#[tokio::test]
async fn draft_put_replaces_the_draft() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let customer = customer(&api, false).await;
    let articles = articles_by_rate(&api).await;
    let labour = article_for(&articles, 0.25);
    let mut body = draft(&customer, vec![draft_row(&labour, 1.0, 650.0)]);
    body["YourReference"] = json!("Anna");
    let (_, created) = api.post("/v2/customerinvoicedrafts", &body).await;
    let id = created["Id"].as_str().unwrap().to_string();
    let path = format!("/v2/customerinvoicedrafts/{id}");

    let mut replacement = draft(
        &customer,
        vec![
            draft_row(&labour, 2.0, 650.0),
            draft_row(&article_for(&articles, 0.06), 1.0, 250.0),
        ],
    );
    replacement["OurReference"] = json!("Bo");
    let (status, replaced) = api.put(&path, &replacement).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["Id"], id.as_str());
    assert_eq!(replaced["CreatedUtc"], created["CreatedUtc"]);
    assert_eq!(
        replaced["YourReference"],
        Value::Null,
        "PUT replaces: left out is gone"
    );
    assert_eq!(replaced["OurReference"], "Bo");
    assert_eq!(replaced["Rows"].as_array().unwrap().len(), 2);
    // 1300 + 325 VAT, 250 + 15 VAT = 1890.
    assert_eq!(replaced["TotalAmount"], 1890.0);
    let (_, got) = api.get(&path).await;
    assert_eq!(got, replaced);

    let mut missing = replacement.clone();
    missing.as_object_mut().unwrap().remove("EuThirdParty");
    let (status, answer) = api.put(&path, &missing).await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_REQUIRED_FIELD,
    );
    let (status, answer) = api
        .put(
            &format!("/v2/customerinvoicedrafts/{}", uuid::Uuid::new_v4()),
            &replacement,
        )
        .await;
    assert_visma_error(status, &answer, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    let (status, body) = api.delete(&path).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
}

#[tokio::test]
async fn draft_list_pages() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let customer = customer(&api, false).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (_, created) = api
            .post("/v2/customerinvoicedrafts", &draft(&customer, vec![]))
            .await;
        ids.push(created["Id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, body) = api
            .get(&format!(
                "/v2/customerinvoicedrafts?$page={page}&$pagesize=2"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["Meta"]["TotalNumberOfPages"], 3);
        assert_eq!(body["Meta"]["TotalNumberOfResults"], 5);
        seen.extend(
            data(&body)
                .iter()
                .map(|d| d["Id"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(seen, ids);
    let encoded: String =
        url::form_urlencoded::byte_serialize(format!("Id eq '{}'", ids[3]).as_bytes()).collect();
    let (_, body) = api
        .get(&format!("/v2/customerinvoicedrafts?$filter={encoded}"))
        .await;
    assert_eq!(data(&body).len(), 1);
}

#[tokio::test]
async fn convert_checks_expected_totals_and_dates() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let customer = customer(&api, false).await;
    let labour = article_for(&articles_by_rate(&api).await, 0.25);
    let mut body = draft(&customer, vec![draft_row(&labour, 1.0, 650.0)]);
    body["InvoiceDate"] = json!("2024-05-02");
    let (_, created) = api.post("/v2/customerinvoicedrafts", &body).await;
    let id = created["Id"].as_str().unwrap();
    let convert = format!("/v2/customerinvoicedrafts/{id}/convert");
    let wrong = json!({"TotalAmountInvoiceCurrency": 650.0, "Rows": [{"LineNumber": 1, "TotalAmountNoVatInvoiceCurrency": 650.0}]});
    let (status, answer) = api.post(&convert, &wrong).await;
    assert_visma_error(status, &answer, StatusCode::BAD_REQUEST, CODE_INVALID_VALUE);
    let (status, _) = api.get(&format!("/v2/customerinvoicedrafts/{id}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a refused conversion leaves the draft"
    );
    let right = json!({"TotalAmountInvoiceCurrency": 813.0, "TotalVatAmountInvoiceCurrency": 162.5,
        "TotalRoundingsInvoiceCurrency": 0.5,
        "Rows": [{"LineNumber": 1, "TotalAmountNoVatInvoiceCurrency": 650.0, "TotalAmountIncVatInvoiceCurrency": 812.5}]});
    let (status, invoice) = api
        .post(&format!("{convert}?keepOriginalDraftDate=true"), &right)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    assert_eq!(invoice["InvoiceDate"], "2024-05-02T00:00:00Z");
    assert_eq!(invoice["DueDate"], "2024-06-01T00:00:00Z");
    assert_eq!(invoice["PaymentStatus"], 2, "overdue");

    // Without keepOriginalDraftDate the invoice is dated today.
    let (_, second) = api.post("/v2/customerinvoicedrafts", &body).await;
    let second_id = second["Id"].as_str().unwrap();
    let (status, invoice) = api
        .post(
            &format!("/v2/customerinvoicedrafts/{second_id}/convert"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(invoice["InvoiceDate"], "2024-05-02T00:00:00Z");
    let (_, c) = api.get(&format!("/v2/customers/{customer}")).await;
    assert_eq!(c["LastInvoiceDate"], invoice["InvoiceDate"]);
    assert_eq!(c["UnpaidInvoicesAmount"], 1626.0);
}

#[tokio::test]
async fn customer_put_keeps_what_the_document_says() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let id = customer(&api, false).await;
    let path = format!("/v2/customers/{id}");
    let (_, mut full) = api.get(&path).await;
    full["Iban"] = json!("SE4550000000058398257466");
    full["EmailAddress"] = json!("a@b.se");
    let (status, written) = api.put(&path, &full).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    let mut partial = json!({
        "Name": "Nytt Namn AB", "InvoicePostalCode": "411 01", "InvoiceCity": "Göteborg",
        "IsPrivatePerson": false, "IsActive": true, "TermsOfPaymentId": full["TermsOfPaymentId"],
    });
    let (status, replaced) = api.put(&path, &partial).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["Iban"], "SE4550000000058398257466", "kept on PUT");
    assert_eq!(
        replaced["CustomerNumber"], full["CustomerNumber"],
        "kept on PUT"
    );
    assert_eq!(replaced["EmailAddress"], Value::Null, "replaced");
    assert_eq!(replaced["CurrencyCode"], "SEK", "the company's currency");
    partial["ReverseChargeOnConstructionServices"] = json!(true);
    let (status, answer) = api.put(&path, &partial).await;
    assert_visma_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        CODE_REQUIRED_FIELD,
    );
    assert!(answer["DeveloperErrorMessage"]
        .as_str()
        .unwrap()
        .contains("VatNumber"));
}

#[tokio::test]
async fn error_bodies_are_common_extended_bad_requests() {
    let sb = sandbox().await;
    let api = V(visma(&sb));
    let (status, body) = api
        .get(&format!("/v2/customers/{}", uuid::Uuid::new_v4()))
        .await;
    assert_visma_error(status, &body, StatusCode::NOT_FOUND, CODE_NOT_FOUND);
    assert_every_property("CommonExtendedBadRequest", &body);
    let (status, body) = api.post("/v2/customers", &json!({"Name": "x"})).await;
    assert_visma_error(status, &body, StatusCode::BAD_REQUEST, CODE_REQUIRED_FIELD);
    assert_every_property("CommonExtendedBadRequest", &body);
    let mut anonymous = api.clone();
    anonymous.0.token = "not-a-token".into();
    let (status, body) = anonymous.get("/v2/customerinvoices").await;
    assert_visma_error(status, &body, StatusCode::UNAUTHORIZED, CODE_UNAUTHORIZED);
    let (status, body) = api.get("/v2/customerinvoices?modifiedSinceUtc=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_every_property("CommonExtendedBadRequest", &body);
    assert_eq!(
        sb.state.customer_count(ProviderKind::Visma, &api.0.company),
        0
    );
}
