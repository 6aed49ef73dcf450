//! What Fortnox accepts in the fields a canonical record fills.

use crate::domain::customer::CustomerLimits;
use crate::domain::invoice::InvoiceLimits;
use crate::domain::{ArticleLimits, ProjectLimits};

/// Fortnox's limits: `maxLength` of `fortnox_Kf_CustomerSinglePayloadItem`,
/// `fortnox_Kf_InvoiceSinglePayloadItem` and `fortnox_Kf_InvoiceRowSinglePayloadItem` in
/// `local/sandbox/contracts/fortnox-openapi-2026-04.json`.
pub const CUSTOMER: CustomerLimits = CustomerLimits {
    name: 1024,
    address_line: 1024,
    postal_code: 10,
    city: 1024,
    email: 1024,
    phone: 1024,
    // No `maxLength` in the document; Fortnox refuses longer ones (docs/providers.md).
    organisation_number: 30,
    vat_number: 1024,
    address_required: false,
};

/// Fortnox's invoice limits (same documents).
pub const INVOICE: InvoiceLimits = InvoiceLimits {
    // `OurReference` / `YourReference`: maxLength 50.
    reference: 50,
    // Row `Description`: maxLength 255.
    description: 255,
    article_number: 50,
    // `ProjectNumber` maxLength 20; `fortnox_CostCenterSinglePayloadItem.Code` maxLength 6.
    project: 20,
    cost_center: 6,
    // A priced row needs an article or an account (error 2001304).
    needs_article_or_account: true,
    needs_article: false,
};

/// Fortnox's article limits: `fortnox_ArticleSinglePayloadItem.ArticleNumber` maxLength 50,
/// `Description` maxLength 200; `Unit` names a unit code (`/3/units`, `Code`; 10 kept).
pub const ARTICLE: ArticleLimits = ArticleLimits {
    number: 50,
    name: 200,
    unit: 10,
};

/// Fortnox's project limits: `fortnox_Project_ProjectSinglePayloadItem.ProjectNumber`
/// maxLength 20, `Description` maxLength 50.
pub const PROJECT: ProjectLimits = ProjectLimits {
    number: 20,
    name: 50,
};
