//! Fortnox's scopes and error codes (public: clients and tests compare against them).

/// Scopes Fortnox knows (case sensitive).
pub const SCOPES: &[&str] = &[
    "archive",
    "article",
    "assets",
    "bookkeeping",
    "companyinformation",
    "connectfile",
    "costcenter",
    "currency",
    "customer",
    "inbox",
    "invoice",
    "noxfinansinvoice",
    "offer",
    "order",
    "payment",
    "price",
    "print",
    "profile",
    "project",
    "salary",
    "settings",
    "supplier",
    "supplierinvoice",
    "timereporting",
    "warehouse",
];

/// Fortnox error code: access token missing.
pub const CODE_TOKEN_MISSING: i64 = 2_000_310;
/// Fortnox error code: access token invalid or expired. The sandbox answers such tokens as
/// Fortnox's gateway does, with a bare 401 `{"message": "unauthorized"}` and no code; clients
/// may still meet this code in older answers.
pub const CODE_TOKEN_INVALID: i64 = 2_000_311;
/// Fortnox error code: no licence for the module or the token lacks its scope.
pub const CODE_NO_LICENCE: i64 = 2_001_101;
/// Fortnox error code: system exception (HTTP 500, retryable).
pub const CODE_SYSTEM_ERROR: i64 = 1_000_003;
/// Fortnox error code: the addressed record (customer, invoice) does not exist (HTTP 404).
pub const CODE_NOT_FOUND: i64 = 2_000_204;
/// Fortnox error code: the customer number is in use, or was used by a deleted customer
/// (numbers stay reserved after deletion).
pub const CODE_CUSTOMER_NUMBER_TAKEN: i64 = 2_000_637;
/// Fortnox error code: account not found; also what a row with neither `ArticleNumber` nor
/// `AccountNumber` gets ("Kunde inte hitta konto").
pub const CODE_ACCOUNT_NOT_FOUND: i64 = 2_001_304;
/// Fortnox error code: the request body is not valid JSON (or not the wrapped object).
pub const CODE_INVALID_JSON: i64 = 2_002_115;
/// Fortnox error code: a required field is missing (`Name`, an invoice's `CustomerNumber`).
pub const CODE_REQUIRED_FIELD: i64 = 2_000_359;
/// Fortnox error code: a field's value has the wrong type or is not allowed.
pub const CODE_INVALID_VALUE: i64 = 2_000_108;
/// Fortnox error code: a field's value is longer than allowed (row `Description` > 255).
pub const CODE_VALUE_TOO_LONG: i64 = 2_000_358;
/// Fortnox error code: an e-mail field does not hold an e-mail address.
pub const CODE_INVALID_EMAIL: i64 = 2_000_357;
/// Fortnox error code: unknown or invalid query parameter (also `limit` over 500 and a bad
/// `lastmodified`).
pub const CODE_INVALID_PARAMETER: i64 = 2_000_588;
/// Fortnox error code: the invoice's customer does not exist.
pub const CODE_CUSTOMER_NOT_FOUND: i64 = 2_000_433;
/// Fortnox error code: the invoice is booked or cancelled and cannot be edited.
pub const CODE_INVOICE_LOCKED: i64 = 2_000_046;
/// Fortnox error code: the action does not fit the invoice's state (booking a cancelled
/// invoice, cancelling a booked one, crediting twice).
pub const CODE_INVALID_ACTION: i64 = 2_000_049;
/// Fortnox error code: the invoice number is taken.
pub const CODE_DOCUMENT_NUMBER_TAKEN: i64 = 2_000_861;
/// Fortnox error code: the customer has invoices and cannot be deleted.
pub const CODE_CUSTOMER_IN_USE: i64 = 2_000_648;

// The codes below are the sandbox's choice: Fortnox's published error list
// (<https://www.fortnox.se/developer/guides-and-good-to-know/errors>) does not name them.
// They sit beside 2001304 ("Kunde inte hitta konto"), the one "could not find" code Fortnox
// publishes; messages are Swedish, as Fortnox's are. Compare on the code, never the text.

/// Fortnox error code (sandbox's choice): an invoice row's `ArticleNumber` names no article
/// ("Kunde inte hitta artikel").
pub const CODE_ARTICLE_NOT_FOUND: i64 = 2_001_302;
/// Fortnox error code (sandbox's choice): an article's `Unit` is not one of the company's
/// unit codes ("Kunde inte hitta enhet").
pub const CODE_UNIT_NOT_FOUND: i64 = 2_001_303;
/// Fortnox error code (sandbox's choice): a `CostCenter` (invoice or row) names no cost
/// centre ("Kunde inte hitta kostnadsställe").
pub const CODE_COST_CENTER_NOT_FOUND: i64 = 2_001_305;
/// Fortnox error code (sandbox's choice): a `Project` (invoice or row) names no project
/// ("Kunde inte hitta projekt").
pub const CODE_PROJECT_NOT_FOUND: i64 = 2_001_306;
/// Fortnox error code (sandbox's choice): the article number is in use, or was used by a
/// deleted article (numbers stay reserved, as customer numbers do).
pub const CODE_ARTICLE_NUMBER_TAKEN: i64 = 2_001_310;
/// Fortnox error code (sandbox's choice): the project number is in use.
pub const CODE_PROJECT_NUMBER_TAKEN: i64 = 2_001_311;
/// Fortnox error code (sandbox's choice): the cost centre code is in use.
pub const CODE_COST_CENTER_CODE_TAKEN: i64 = 2_001_312;
/// Fortnox error code (sandbox's choice): the article, project or cost centre is used on an
/// invoice and cannot be deleted.
pub const CODE_REGISTER_IN_USE: i64 = 2_001_313;
