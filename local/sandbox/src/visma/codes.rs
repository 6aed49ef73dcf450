//! Public constants of the Visma simulator: scopes and `ErrorCode`s.

/// Scopes the Visma identity server knows for eAccounting apps.
pub const SCOPES: &[&str] = &[
    "ea:api",
    "offline_access",
    "ea:sales",
    "ea:sales_readonly",
    "ea:accounting",
    "ea:accounting_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
    "openid",
    "profile",
    "email",
];

/// Scopes every eAccounting authorize request must ask for.
pub const REQUIRED_SCOPES: &[&str] = &["ea:api", "offline_access"];

/// Visma error code: the access token is missing, invalid or expired.
pub const CODE_UNAUTHORIZED: i64 = 4001;
/// Visma error code: the token lacks a scope the endpoint needs.
pub const CODE_MISSING_SCOPE: i64 = 4006;
/// Visma error code: a required field is missing (`Name`, `TermsOfPaymentId`, …).
pub const CODE_REQUIRED_FIELD: i64 = 2000;
/// Visma error code: a field's value has the wrong type or is not allowed (also: a row's
/// read-only `VatRate` that differs from its article's, and a convert whose expected totals
/// differ from the draft's).
pub const CODE_INVALID_VALUE: i64 = 2001;
/// Visma error code: a field's value is too long (`CustomerNumber` > 16, …).
pub const CODE_TOO_LONG: i64 = 2002;
/// Visma error code: the value must be unique (`CustomerNumber`).
pub const CODE_NOT_UNIQUE: i64 = 2003;
/// Visma error code: a referenced record (`TermsOfPaymentId`, `CustomerId`, `ArticleId`)
/// does not exist.
pub const CODE_UNKNOWN_REFERENCE: i64 = 2004;
/// Visma error code: the request body is not a JSON object.
pub const CODE_INVALID_BODY: i64 = 2005;
/// Visma error code: the addressed record does not exist (HTTP 404).
pub const CODE_NOT_FOUND: i64 = 3000;
/// Visma error code: too many requests (HTTP 429, message ends "Try again in N seconds.").
pub const CODE_RATE_LIMITED: i64 = 4010;
/// Visma error code: the record is in use (a customer with invoices cannot be deleted).
pub const CODE_IN_USE: i64 = 4015;
/// Visma error code: server error (HTTP 500, retryable).
pub const CODE_SERVER_ERROR: i64 = 5000;
/// Visma error code: malformed or unsupported `$filter`.
pub const CODE_BAD_FILTER: i64 = 6000;
/// Visma error code: a date in a filter or query parameter cannot be read.
pub const CODE_BAD_DATE: i64 = 6001;
/// Visma error code: a bad paging or other query parameter (`$page=0`, `$pagesize=x`).
pub const CODE_BAD_QUERY: i64 = 6002;

/// Scopes that read sales data (customers, drafts, invoices, articles, company settings).
pub(crate) const READ_SCOPES: &[&str] = &["ea:sales", "ea:sales_readonly"];
/// Scopes that write sales data.
pub(crate) const WRITE_SCOPES: &[&str] = &["ea:sales"];
