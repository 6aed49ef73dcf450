//! What each register is: its paths, wrappers, key, shapes, writable fields and defaults
//! ([`Spec`]), for the handlers in `registers.rs`.

use serde_json::{json, Map, Value};

use super::codes::{
    CODE_ARTICLE_NUMBER_TAKEN, CODE_COST_CENTER_CODE_TAKEN, CODE_PROJECT_NUMBER_TAKEN,
};
use super::fields::Kind;
use super::shape::{ARTICLE_LIST, ARTICLE_SINGLE, COST_CENTER, PROJECT_LIST, PROJECT_SINGLE};

/// `fortnox_ArticleSingleItem.HouseworkType`'s enum.
const ARTICLE_HOUSEWORK_TYPES: &[&str] = &[
    "CONSTRUCTION",
    "ELECTRICITY",
    "GLASSMETALWORK",
    "GROUNDDRAINAGEWORK",
    "MASONRY",
    "PAINTINGWALLPAPERING",
    "HVAC",
    "CLEANING",
    "TEXTILECLOTHING",
    "COOKING",
    "SNOWPLOWING",
    "GARDENING",
    "BABYSITTING",
    "OTHERCARE",
    "TUTORING",
    "FURNISHING",
    "HOMEMAINTENANCE",
    "TRANSPORTATIONSERVICES",
    "WASHINGANDCAREOFCLOTHING",
    "SOLARCELLS",
    "STORAGESELFPRODUCEDELECTRICITY",
    "CHARGINGSTATIONELECTRICVEHICLE",
    "EMPTYHOUSEWORK",
    "OTHERCOSTS",
];

/// Which register of a company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    Articles,
    Projects,
    CostCenters,
}

/// One register's routes, fields and rules.
pub(super) struct Spec {
    pub which: Which,
    /// `/3/<path>`.
    pub path: &'static str,
    pub scope: &'static str,
    /// `{"<wrapper>": …}` of a single record; `{"<list_wrapper>": [...]}` of the list.
    pub wrapper: &'static str,
    pub list_wrapper: &'static str,
    pub key_field: &'static str,
    pub key_max: usize,
    pub single: &'static str,
    pub list: &'static str,
    /// The list's own parameters (beyond paging).
    pub params: &'static [&'static str],
    /// Substring search parameter → field.
    pub search: &'static [(&'static str, &'static str)],
    pub sort: &'static [(&'static str, &'static str)],
    /// Whether the list takes `lastmodified`.
    pub lastmodified: bool,
    /// Whether an absent key is assigned (else it is required).
    pub assigns: bool,
    /// Whether used keys stay reserved after deletion.
    pub reserves: bool,
    pub taken_code: i64,
    /// "artikeln", "projektet", "kostnadsstället" (404 messages).
    pub noun: &'static str,
    pub field: fn(&str) -> Option<Kind>,
    pub defaults: fn() -> Map<String, Value>,
}

pub(super) const ARTICLES: Spec = Spec {
    which: Which::Articles,
    path: "articles",
    scope: "article",
    wrapper: "Article",
    list_wrapper: "Articles",
    key_field: "ArticleNumber",
    key_max: 50,
    single: ARTICLE_SINGLE,
    list: ARTICLE_LIST,
    params: &[
        "filter",
        "articlenumber",
        "description",
        "ean",
        "suppliernumber",
        "manufacturer",
        "manufacturerarticlenumber",
        "webshop",
    ],
    search: &[
        ("articlenumber", "ArticleNumber"),
        ("description", "Description"),
        ("ean", "EAN"),
        ("suppliernumber", "SupplierNumber"),
        ("manufacturer", "Manufacturer"),
        ("manufacturerarticlenumber", "ManufacturerArticleNumber"),
    ],
    // The document's `sortby` enum.
    sort: &[
        ("articlenumber", "ArticleNumber"),
        ("quantityinstock", "QuantityInStock"),
        ("reservedquantity", "ReservedQuantity"),
        ("stockvalue", "StockValue"),
    ],
    lastmodified: true,
    assigns: true,
    reserves: true,
    taken_code: CODE_ARTICLE_NUMBER_TAKEN,
    noun: "artikeln",
    field: article_field,
    defaults: article_defaults,
};

pub(super) const PROJECTS: Spec = Spec {
    which: Which::Projects,
    path: "projects",
    scope: "project",
    wrapper: "Project",
    list_wrapper: "Projects",
    key_field: "ProjectNumber",
    key_max: 20,
    single: PROJECT_SINGLE,
    list: PROJECT_LIST,
    params: &["description", "projectleader"],
    search: &[
        ("description", "Description"),
        ("projectleader", "ProjectLeader"),
    ],
    sort: &[],
    lastmodified: false,
    assigns: true,
    reserves: false,
    taken_code: CODE_PROJECT_NUMBER_TAKEN,
    noun: "projektet",
    field: project_field,
    defaults: project_defaults,
};

pub(super) const COST_CENTERS: Spec = Spec {
    which: Which::CostCenters,
    path: "costcenters",
    scope: "costcenter",
    wrapper: "CostCenter",
    list_wrapper: "CostCenters",
    key_field: "Code",
    key_max: 6,
    single: COST_CENTER,
    list: COST_CENTER,
    params: &[],
    search: &[],
    sort: &[],
    lastmodified: false,
    assigns: false,
    reserves: false,
    taken_code: CODE_COST_CENTER_CODE_TAKEN,
    noun: "kostnadsstället",
    field: cost_center_field,
    defaults: cost_center_defaults,
};

/// Writable article fields (`fortnox_ArticleSinglePayloadItem`); `ArticleNumber` apart,
/// `Unit` checked against the company's units afterwards.
fn article_field(name: &str) -> Option<Kind> {
    let account = Kind::Int {
        min: 1000,
        max: 99999,
    };
    let size = Kind::Int {
        min: 0,
        max: 999_999_999,
    };
    Some(match name {
        "Active" | "Bulky" | "Expired" | "Housework" | "StockGoods" | "WebshopArticle" => {
            Kind::Bool
        }
        "ConstructionAccount"
        | "EUAccount"
        | "EUVATAccount"
        | "ExportAccount"
        | "PurchaseAccount"
        | "SalesAccount" => account,
        "StockAccount" | "StockChangeAccount" => Kind::Int {
            min: 0,
            max: i64::from(i32::MAX),
        },
        "Depth" | "Height" | "Weight" | "Width" => size,
        "DirectCost" | "FreightCost" | "OtherCost" | "PurchasePrice" | "QuantityInStock"
        | "SalesPrice" | "StockWarning" => Kind::Number,
        "VAT" => Kind::Choice(&["0", "6", "12", "25"]),
        "Type" => Kind::Choice(&["STOCK", "SERVICE"]),
        "HouseworkType" => Kind::Choice(ARTICLE_HOUSEWORK_TYPES),
        "Description" => Kind::Text(200),
        "EAN" => Kind::Text(30),
        "Manufacturer" | "ManufacturerArticleNumber" => Kind::Text(50),
        "Note" => Kind::Text(10000),
        "StockPlace" => Kind::Text(100),
        "Unit" => Kind::Text(20),
        "CostCalculationMethod"
        | "DefaultStockLocation"
        | "DefaultStockPoint"
        | "SupplierName"
        | "SupplierNumber" => Kind::Text(1024),
        _ => return None,
    })
}

fn article_defaults() -> Map<String, Value> {
    object(json!({
        "Active": true,
        "Bulky": false,
        "Expired": false,
        "Housework": false,
        "PurchasePrice": 0,
        "QuantityInStock": 0,
        "ReservedQuantity": 0,
        "DisposableQuantity": 0,
        "SalesPrice": 0,
        "StockGoods": false,
        "StockValue": 0,
        "Type": "STOCK",
        "VAT": 25,
        "WebshopArticle": false,
    }))
}

/// Writable project fields (`fortnox_Project_ProjectSinglePayloadItem`).
fn project_field(name: &str) -> Option<Kind> {
    Some(match name {
        "Description" => Kind::Text(50),
        "ProjectLeader" | "ContactPerson" => Kind::Text(50),
        "Comments" => Kind::Text(512),
        "StartDate" | "EndDate" => Kind::Date,
        "Status" => Kind::Choice(&["NOTSTARTED", "ONGOING", "COMPLETED"]),
        _ => return None,
    })
}

fn project_defaults() -> Map<String, Value> {
    object(json!({"Status": "NOTSTARTED"}))
}

/// Writable cost centre fields (`fortnox_CostCenterSinglePayloadItem`).
fn cost_center_field(name: &str) -> Option<Kind> {
    Some(match name {
        "Active" => Kind::Bool,
        // `fortnox_CostCenterSingleItem.Description`: maxLength 2147483647; capped at 1024
        // like every text field the document leaves unbounded (customers' too).
        "Description" | "Note" => Kind::Text(1024),
        _ => return None,
    })
}

fn cost_center_defaults() -> Map<String, Value> {
    object(json!({"Active": true}))
}

pub(super) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
