//! What Visma eAccounting accepts in the fields a canonical record fills.

use crate::domain::customer::CustomerLimits;
use crate::domain::invoice::InvoiceLimits;
use crate::domain::{ArticleLimits, ProjectLimits};

/// Visma's limits: `maxLength` and `required` of `CustomerApi`, `CustomerInvoiceDraftApi` and
/// `CustomerInvoiceDraftRowApi` in `local/sandbox/contracts/visma-eaccounting-v2-openapi.yaml`.
pub const CUSTOMER: CustomerLimits = CustomerLimits {
    name: 50,
    address_line: 50,
    postal_code: 10,
    city: 50,
    email: 255,
    phone: 50,
    organisation_number: 20,
    vat_number: 20,
    // `CustomerApi.required` lists `InvoiceCity` and `InvoicePostalCode`.
    address_required: true,
};

/// Visma's invoice limits (same documents).
pub const INVOICE: InvoiceLimits = InvoiceLimits {
    // `OurReference` / `YourReference`: maxLength 100.
    reference: 100,
    // Row `Text`: maxLength 2000.
    description: 2000,
    article_number: 40,
    // `ProjectApi.Number` maxLength 9; `CostCenterItemApi.ShortName` maxLength 9.
    project: 9,
    cost_center: 9,
    needs_article_or_account: false,
    // A priced row books through an article (`ArticleId`, unless it is a text row).
    needs_article: true,
};

/// Visma's article limits: `ArticleApi.Number` maxLength 40, `Name` maxLength 50; units are
/// matched by `UnitApi.Abbreviation` (no maxLength; 10 kept).
pub const ARTICLE: ArticleLimits = ArticleLimits {
    number: 40,
    name: 50,
    unit: 10,
};

/// Visma's project limits: `ProjectApi.Number` maxLength 9, `Name` maxLength 200.
pub const PROJECT: ProjectLimits = ProjectLimits {
    number: 9,
    name: 200,
};
