//! The public API over small documents in each provider's dialect.

use serde_json::json;

use super::*;

fn fortnox_tiny() -> Contract {
    Contract::from_document(
        ProviderKind::Fortnox,
        json!({
            "openapi": "3.0.3",
            "servers": [{"url": "https://api.fortnox.se"}],
            "paths": {
                "/3/things/{Id}": {
                    "put": {
                        "requestBody": {"content": {"*/*": {"schema": {"$ref": "#/components/schemas/Wrap"}}}},
                        "responses": {
                            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Wrap"}}}},
                            "default": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                        }
                    },
                    "delete": {"responses": {"204": {"description": "gone"}}}
                }
            },
            "components": {"schemas": {
                "Wrap": {"type": "object", "properties": {"Thing": {"$ref": "#/components/schemas/Thing"}}},
                "Thing": {"type": "object", "required": ["Name"], "properties": {
                    "Name": {"type": "string", "minLength": 1},
                    "Note": {"type": "string", "nullable": true},
                    "Day": {"type": "string", "format": "date"}
                }},
                "Error": {"type": "object", "properties": {"ErrorInformation": {"type": "object", "properties": {"Message": {"type": "string"}}}}}
            }}
        }),
    )
    .expect("builds")
}

#[test]
fn fortnox_nullable_formats_partial_put_and_closed_objects() {
    let c = fortnox_tiny();
    assert_eq!(c.provider(), ProviderKind::Fortnox);
    assert!(c
        .validate_request(
            "PUT",
            "/3/things/7",
            &json!({"Thing": {"Name": "a", "Note": null}})
        )
        .is_ok());
    // PUT is a partial update: `required` does not apply, types and closed objects do.
    assert!(c
        .validate_request("PUT", "/3/things/7", &json!({"Thing": {"Note": "x"}}))
        .is_ok());
    assert!(c
        .validate_request("PUT", "/3/things/7", &json!({"Thing": {"Name": 1}}))
        .is_err());
    let errors = c
        .validate_request("PUT", "/3/things/7", &json!({"Thing": {"Nmae": "typo"}}))
        .unwrap_err();
    assert_eq!(errors, ["/Thing: undeclared field Nmae (schema Thing)"]);
    // Requests may not send null where the document does not allow it.
    assert!(c
        .validate_request("PUT", "/3/things/7", &json!({"Thing": {"Day": null}}))
        .is_err());

    let errors = c
        .validate_response(
            "PUT",
            "/3/things/7",
            200,
            &json!({"Thing": {"Name": "", "Day": "2024-13-01"}}),
        )
        .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    // Responses: optional fields may be null, required ones not; `required` applies.
    assert!(c
        .validate_response(
            "PUT",
            "/3/things/7",
            200,
            &json!({"Thing": {"Name": "a", "Day": null, "Note": null}})
        )
        .is_ok());
    assert!(c
        .validate_response("PUT", "/3/things/7", 200, &json!({"Thing": {"Name": null}}))
        .is_err());
    assert!(c
        .validate_response("PUT", "/3/things/7", 200, &json!({"Thing": {"Note": "x"}}))
        .is_err());
    let errors = c
        .validate_response(
            "PUT",
            "/3/things/7",
            200,
            &json!({"Thing": {"Name": "a", "Colour": "red"}}),
        )
        .unwrap_err();
    assert_eq!(errors, ["/Thing: undeclared field Colour (schema Thing)"]);
    // Error bodies: the documented schema, but not closed (lower-case keys pass).
    assert!(c
        .validate_response(
            "PUT",
            "/3/things/7",
            404,
            &json!({"ErrorInformation": {"message": "Kan inte hitta", "code": 2000433}})
        )
        .is_ok());
    assert!(c
        .validate_response(
            "PUT",
            "/3/things/7",
            400,
            &json!({"ErrorInformation": {"Message": 5}})
        )
        .is_err());
}

#[test]
fn operations_and_statuses() {
    let c = fortnox_tiny();
    let e = c
        .validate_request("GET", "/3/things/7", &json!({}))
        .unwrap_err();
    assert!(e[0].contains("undocumented method"), "{e:?}");
    assert!(c
        .validate_request("POST", "/3/other", &json!({}))
        .unwrap_err()[0]
        .contains("undocumented path"));
    assert!(c
        .validate_request("DELETE", "/3/things/7", &json!({}))
        .unwrap_err()[0]
        .contains("no request body"));
    assert_eq!(
        c.operation_template("delete", "/3/things/7").as_deref(),
        Ok("/3/things/{Id}")
    );
    assert!(c.has_operation("PUT", "/3/things/x"));
    assert!(!c.has_operation("PATCH", "/3/things/x"));
    // A success status must be documented; a 204 has no body.
    assert!(c.check_response("DELETE", "/3/things/7", 204, None).is_ok());
    let e = c
        .check_response("DELETE", "/3/things/7", 200, None)
        .unwrap_err();
    assert!(e[0].contains("status 200 is not documented"), "{e:?}");
    assert!(c
        .check_response("DELETE", "/3/things/7", 204, Some(&json!({"x": 1})))
        .is_err());
    assert!(c.check_response("PUT", "/3/things/7", 200, None).is_err());
    // An undocumented error status is not checked.
    assert!(c
        .check_response("DELETE", "/3/things/7", 500, Some(&json!("boom")))
        .is_ok());
}

fn visma_tiny() -> Contract {
    Contract::from_document(
        ProviderKind::Visma,
        json!({
            "openapi": "3.1.1",
            "servers": [{"url": "https://eaccountingapi.vismaonline.com/v2/"}],
            "paths": {
                "/customers": {
                    "post": {
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerApi"}}}},
                        "responses": {
                            "201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerApi"}}}},
                            "400": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Bad"}}}}
                        }
                    }
                }
            },
            "components": {"schemas": {
                "CustomerApi": {"type": "object", "additionalProperties": false, "required": ["Name"], "properties": {
                    "Id": {"type": "string", "format": "uuid", "readOnly": true},
                    "Name": {"type": "string", "maxLength": 50},
                    "EmailAddress": {"type": ["string", "null"]},
                    "ChangedUtc": {"type": ["string", "null"], "format": "date-time", "readOnly": true},
                    "TermsOfPaymentId": {"type": "string", "format": "uuid"}
                }},
                "Bad": {"type": "object", "additionalProperties": false, "properties": {
                    "ErrorCode": {"type": "integer"}, "ErrorId": {"type": "string", "format": "uuid"}
                }}
            }}
        }),
    )
    .expect("builds")
}

#[test]
fn visma_read_only_formats_and_closed_objects() {
    let c = visma_tiny();
    assert!(c
        .validate_request(
            "POST",
            "/v2/customers",
            &json!({"Name": "A", "EmailAddress": null, "TermsOfPaymentId": "8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11"})
        )
        .is_ok());
    let errors = c
        .validate_request(
            "POST",
            "/v2/customers",
            &json!({"Name": "A", "Id": "8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11", "ChangedUtc": "2026-01-01T00:00:00Z"}),
        )
        .unwrap_err();
    assert_eq!(
        errors,
        [
            "/ChangedUtc: readOnly field ChangedUtc in a request",
            "/Id: readOnly field Id in a request"
        ]
    );
    let errors = c
        .validate_request(
            "POST",
            "/v2/customers",
            &json!({"Name": "A", "TermsOfPaymentId": "30 dagar", "Extra": true}),
        )
        .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("undeclared field Extra")));
    // Responses carry read-only fields; dates are RFC 3339 date-times with an offset.
    let ok = json!({"Name": "A", "Id": "8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11", "ChangedUtc": "2026-01-01T10:00:00Z"});
    assert!(c
        .validate_response("POST", "/v2/customers", 201, &ok)
        .is_ok());
    let mut no_offset = ok.clone();
    no_offset["ChangedUtc"] = json!("2026-01-01T10:00:00");
    assert!(c
        .validate_response("POST", "/v2/customers", 201, &no_offset)
        .is_err());
    // Undocumented path: the document's paths sit under the server's `/v2`.
    assert!(c
        .validate_request("POST", "/customers", &json!({"Name": "A"}))
        .is_err());
    assert!(c
        .validate_response(
            "POST",
            "/v2/customers",
            400,
            &json!({"ErrorCode": 2000, "ErrorId": "8c0e3a5e-3b1f-4b7e-9a43-0e4f0f2b9d11"})
        )
        .is_ok());
    assert!(c
        .validate_response("POST", "/v2/customers", 404, &json!({"Anything": 1}))
        .is_ok());
    assert!(c
        .check_response("POST", "/v2/customers", 200, Some(&ok))
        .is_err());
}

#[test]
fn the_official_documents_load() {
    for provider in [ProviderKind::Fortnox, ProviderKind::Visma] {
        let c = Contract::official(provider).expect("loads");
        assert_eq!(c.provider(), provider);
    }
    let fortnox = Contract::official(ProviderKind::Fortnox).unwrap();
    assert_eq!(
        fortnox
            .operation_template("PUT", "/3/invoices/12/bookkeep")
            .as_deref(),
        Ok("/3/invoices/{DocumentNumber}/bookkeep")
    );
    let visma = Contract::official(ProviderKind::Visma).unwrap();
    assert_eq!(
        visma
            .operation_template("POST", "/v2/customerinvoicedrafts/x/convert")
            .as_deref(),
        Ok("/v2/customerinvoicedrafts/{customerInvoiceDraftId}/convert")
    );
    assert!(!visma.has_operation("GET", "/v2/termsofpayment"));
    assert!(visma.has_operation("GET", "/v2/termsofpayments"));
    assert!(matches!(
        load_contract(ProviderKind::Visma, "/nonexistent/visma.yaml"),
        Err(ContractError::Read { .. })
    ));
}
