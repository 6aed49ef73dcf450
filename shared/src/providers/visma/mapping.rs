//! Canonical ↔ Visma eAccounting, both directions. Field names are those of Visma's OpenAPI
//! document (`local/sandbox/contracts/visma-eaccounting-v2-openapi.yaml`).
//!
//! | canonical | Visma |
//! |---|---|
//! | `Customer.id` (ours) | `CustomerNumber` = [`fit_reference`] of our id (≤ 16 characters), set on create |
//! | name, organisation_number, email, phone | `Name`, `CorporateIdentityNumber`, `EmailAddress`, `Telephone` |
//! | address line1/line2/postal_code/city/country_code | `InvoiceAddress1/2`, `InvoicePostalCode`, `InvoiceCity`, `InvoiceCountryCode` |
//! | currency | `CurrencyCode` |
//! | is_private_person, vat_number, reverse_charge_construction, active | `IsPrivatePerson`, `VatNumber`, `ReverseChargeOnConstructionServices`, `IsActive` |
//! | updated_at (read) | `ChangedUtc` |
//! | `Invoice.id` (ours) | `BuyersOrderReference` = [`fit_reference`] of our id (≤ 35 characters) |
//! | customer_id | `CustomerId` (the provider's GUID, given by the caller) |
//! | invoice_date, due_date, our/your_reference | `InvoiceDate`, `DueDate` (date-time), `OurReference`, `YourReference` |
//! | currency (read) | invoice `CurrencyCode`, draft `InvoiceCurrencyCode` (both read-only: the customer's currency) |
//! | row description, article_number | `Text`, `ArticleId` (looked up by article number; text row when unpriced without article) |
//! | project, cost_center (invoice and rows) | rows' `ProjectId` (by `ProjectApi.Number`) and `CostCenterItemId1` (by the first cost centre's item `ShortName`); the invoice's go on rows without their own |
//! | row quantity, unit_price, discount (%) | `Quantity`, `UnitPrice`, `DiscountPercentage` (a fraction: 10 % is 0.1) |
//! | row vat_rate | written: the article's rate ([`super::articles`]), or 0 as `ReversedConstructionServicesVatFree`; read: draft rows `ReversedConstructionServicesVatFree`/`VatRate`, invoice rows `IsVatFree`/`VatRate`/`PercentVat`, else the article's |
//! | invoice reverse_charge_construction | written: `ReversedConstructionServicesVatFree` on every priced draft row; read: draft and invoice `ReverseChargeOnConstructionServices` (read-only), invoice `ReversedConstructionVatInvoicing` |
//! | row house_work rot/rut, hours, work_type | `IsWorkCost`, `WorkHours`, `WorkCostType` (the kind's default 1/9 without a type); invoice `RotReducedInvoicingType` 1/2 |
//! | row house_work material | `IsWorkCost` false, `WorkCostType`, `MaterialCosts` (the row's net) |
//! | tax_reduction buyers, property | `Persons` (`Ssn`, `Amount`), `RotPropertyType`, `RotReducedInvoicingPropertyName`, `RotReducedInvoicingOrgNumber` (see `rot_rut.rs`) |
//! | totals (read) | `TotalAmount…` − `TotalVatAmount…` − `TotalRoundings`, in the invoice's currency when given |
//! | updated_at (read) | invoice `ModifiedUtc` (drafts have none) |
//! | payment balance/paid/paid_date (read) | `RemainingAmountInvoiceCurrency` (else `RemainingAmount`), `PaymentStatus` 0, `PaymentDate`; no payments list (none readable) |
//!
//! Lossy spots, by design: Visma books VAT through the article, so a row's VAT rate other than
//! 0 must be the article's (anything else is refused, never booked at another rate); the
//! currency is the customer's (a draft has no writable currency); rows have no account number;
//! a house-work amount is sent as the invoice's `RotReducedInvoicingAmount` and not read back
//! per row.

pub use super::articles::Articles;
use super::articles::{percent, row_vat};
use super::wire::{CustomerIn, DraftIn, DraftRowIn, InvoiceIn, InvoiceRowIn};
use super::write::{date_time, CustomerWrite, DraftOut, DraftRowOut};
use crate::domain::money::round_money;
use crate::domain::tax_reduction::{
    by_visma, by_visma_green, default_work_type, work_type, WorkType,
};
use crate::domain::{
    Address, Customer, Decimal, HouseWork, HouseWorkKind, Invoice, InvoiceRow, PaymentState, Totals,
};
use crate::http::ApiError;
use crate::providers::api::fit_reference;
use crate::providers::Remote;
use chrono::{DateTime, NaiveDate, Utc};

/// Longest `CustomerNumber`.
pub const CUSTOMER_NUMBER_MAX: usize = 16;
/// Longest `BuyersOrderReference`.
pub const BUYERS_ORDER_REFERENCE_MAX: usize = 35;
/// Remote ids of drafts that were never converted start with this.
pub const DRAFT_PREFIX: &str = "draft:";

/// Our reference on a Visma customer.
pub fn customer_reference(our_id: &str) -> String {
    fit_reference(our_id, CUSTOMER_NUMBER_MAX)
}

/// Our reference on a Visma invoice.
pub fn invoice_reference(our_id: &str) -> String {
    fit_reference(our_id, BUYERS_ORDER_REFERENCE_MAX)
}

fn present(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Writes our fields onto `w`, a whole writable customer (read from Visma on update, empty on
/// create). `InvoiceCity` and `InvoicePostalCode` are required: when we have none they stay
/// as read (left out on create, where Visma answers error 2000 naming the field).
pub fn apply_customer(w: &mut CustomerWrite, c: &Customer) {
    let a = &c.address;
    w.name = Some(c.name.trim().to_string());
    w.corporate_identity_number = present(&c.organisation_number);
    w.email_address = present(&c.email);
    w.telephone = present(&c.phone);
    w.invoice_address1 = present(&a.line1);
    w.invoice_address2 = present(&a.line2);
    if let Some(pc) = present(&a.postal_code) {
        w.invoice_postal_code = Some(pc);
    }
    if let Some(city) = present(&a.city) {
        w.invoice_city = Some(city);
    }
    w.is_private_person = Some(c.is_private_person);
    w.vat_number = present(&c.vat_number);
    w.reverse_charge_on_construction_services = Some(c.reverse_charge_construction);
    w.is_active = Some(c.active);
    // No country or currency means "the company's own": leave Visma's value alone.
    if let Some(cc) = present(&a.country_code) {
        w.invoice_country_code = Some(cc);
    }
    if let Some(cur) = present(&c.currency) {
        w.currency_code = Some(cur);
    }
}

/// The body that creates `c` with our reference as customer number and terms `terms_id`.
pub fn new_customer(c: &Customer, terms_id: &str) -> CustomerWrite {
    let mut w = CustomerWrite {
        customer_number: Some(customer_reference(&c.id)),
        terms_of_payment_id: Some(terms_id.to_string()),
        ..CustomerWrite::default()
    };
    apply_customer(&mut w, c);
    w
}

/// The canonical customer of a Visma record. `id` stays empty: the customer number holds our
/// reference only in a form that may be hashed (see [`Remote::our_reference`]).
pub fn customer_in(w: &CustomerIn) -> Result<Remote<Customer>, ApiError> {
    let remote_id =
        w.id.clone()
            .ok_or_else(|| ApiError::unexpected("a Visma customer without Id"))?;
    let record = Customer {
        id: String::new(),
        name: w.name.clone().unwrap_or_default(),
        organisation_number: w.corporate_identity_number.clone(),
        email: w.email_address.clone(),
        phone: w.telephone.clone().or_else(|| w.mobile_phone.clone()),
        address: Address {
            line1: w.invoice_address1.clone(),
            line2: w.invoice_address2.clone(),
            postal_code: w.invoice_postal_code.clone(),
            city: w.invoice_city.clone(),
            country_code: w
                .invoice_country_code
                .clone()
                .map(|c| c.to_ascii_uppercase()),
        },
        currency: w.currency_code.clone().map(|c| c.to_ascii_uppercase()),
        is_private_person: w.is_private_person.unwrap_or(false),
        vat_number: w.vat_number.clone(),
        reverse_charge_construction: w.reverse_charge_on_construction_services.unwrap_or(false),
        active: w.is_active.unwrap_or(true),
        updated_at: w.changed_utc,
    };
    Ok(Remote {
        remote_id,
        our_reference: w.customer_number.clone(),
        record,
        modified_at: w.changed_utc,
        customer_remote_id: None,
        editable: true,
    })
}

/// The draft Visma gets for `i`, billed to the Visma customer `customer_id`.
pub fn draft_out(
    i: &Invoice,
    customer_id: &str,
    articles: &Articles,
) -> Result<DraftOut, ApiError> {
    let mut reduction: Option<HouseWorkKind> = None;
    let mut reduction_amount: Option<Decimal> = None;
    let mut rows = Vec::with_capacity(i.rows.len());
    for (n, r) in i.rows.iter().enumerate() {
        let field = |f: &str| format!("rows[{n}].{f}");
        let article = match r.article_number.as_deref().filter(|a| !a.trim().is_empty()) {
            Some(num) => Some(articles.by_number(num.trim()).ok_or_else(|| {
                ApiError::invalid_field(
                    field("article_number"),
                    format!("Visma has no article with number {num}"),
                )
            })?),
            None if r.is_priced() => {
                return Err(ApiError::invalid_field(
                    field("article_number"),
                    "Visma needs an article on every priced row",
                ))
            }
            None => None,
        };
        let (article_id, vat_free) = match article {
            Some(a) => {
                let id = a.id.clone().ok_or_else(|| {
                    ApiError::unexpected(format!("Visma article {:?} without Id", a.number))
                })?;
                let number = a.number.as_deref().unwrap_or_default();
                // A reverse-charge invoice: every priced row is VAT-free
                // (`CustomerInvoiceDraftRowApi.ReversedConstructionServicesVatFree`; the draft's
                // own `ReverseChargeOnConstructionServices` is read-only).
                let vat_free = i.reverse_charge_construction
                    || row_vat(&field("vat_rate"), number, r.vat_rate, articles.rate_of(a))?;
                (Some(id), vat_free)
            }
            None => (None, false),
        };
        if let Some(h) = &r.house_work {
            match reduction {
                Some(k) if k != h.kind => {
                    return Err(ApiError::invalid_field(
                        field("house_work.kind"),
                        "an invoice cannot mix ROT and RUT",
                    ))
                }
                _ => reduction = Some(h.kind),
            }
            if let Some(a) = h.amount {
                reduction_amount = Some(reduction_amount.unwrap_or_default() + a);
            }
        }
        let is_text = article_id.is_none();
        // Projects and cost centres are on rows only at Visma: the invoice's go on every row
        // without its own.
        let project_id = match r.project.as_deref().or(i.project.as_deref()) {
            Some(p) => Some(
                articles
                    .project_id(p)
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            if r.project.is_some() {
                                field("project")
                            } else {
                                "project".into()
                            },
                            format!("Visma has no project numbered {p}"),
                        )
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let cost_center_item_id1 = match r.cost_center.as_deref().or(i.cost_center.as_deref()) {
            Some(c) => Some(
                articles
                    .cost_item_id(c)
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            if r.cost_center.is_some() {
                                field("cost_center")
                            } else {
                                "cost_center".into()
                            },
                            format!("Visma's first cost centre has no item {c}"),
                        )
                    })?
                    .to_string(),
            ),
            None => None,
        };
        rows.push(DraftRowOut {
            project_id,
            cost_center_item_id1,
            article_id,
            is_text_row: is_text,
            text: r.description.clone(),
            quantity: (!is_text).then_some(r.quantity),
            unit_price: (!is_text).then_some(r.unit_price),
            discount_percentage: r
                .discount
                .filter(|d| !d.is_zero() && !is_text)
                .map(|d| (d / Decimal::ONE_HUNDRED).normalize()),
            reversed_construction_services_vat_free: vat_free,
            // `IsWorkCost` true for labour; a material row states its amount as
            // `MaterialCosts`; both with the row's `WorkCostType`.
            is_work_cost: r.house_work.as_ref().map(|h| !h.material),
            work_hours: r
                .house_work
                .as_ref()
                .filter(|h| !h.material)
                .and_then(|h| h.hours),
            work_cost_type: r
                .house_work
                .as_ref()
                .filter(|h| h.kind != HouseWorkKind::Green)
                .map(|h| cost_type(h, n))
                .transpose()?,
            green_technology_type: r
                .house_work
                .as_ref()
                .filter(|h| h.kind == HouseWorkKind::Green)
                .map(|h| cost_type(h, n))
                .transpose()?,
            material_costs: r
                .house_work
                .as_ref()
                .filter(|h| h.material)
                .map(|_| r.net()),
        });
    }
    Ok(DraftOut {
        customer_id: customer_id.to_string(),
        rot_reduced_invoicing_type: match reduction {
            None => 0,
            Some(HouseWorkKind::Rot) => 1,
            Some(HouseWorkKind::Rut) => 2,
            // Green technology: "RotReducedInvoicingType set to normal" with
            // `UsesGreenTechnology` (`rot_rut.rs`).
            Some(HouseWorkKind::Green) => 0,
        },
        eu_third_party: false,
        invoice_date: date_time(i.invoice_date),
        due_date: i.due_date.map(date_time),
        your_reference: present(&i.your_reference),
        our_reference: present(&i.our_reference),
        buyers_order_reference: invoice_reference(&i.id),
        is_credit_invoice: i.credit.as_ref().is_some_and(|c| c.credit_note),
        rot_reduced_invoicing_amount: reduction_amount,
        rot: super::rot_rut::rot_out(i),
        rows,
    })
}

/// What booked and draft rows have in common, with the VAT rate each reads its own way.
struct RowView<'a> {
    article_id: Option<&'a str>,
    article_number: Option<&'a str>,
    is_text: bool,
    text: Option<&'a str>,
    unit_price: Option<Decimal>,
    discount_percentage: Option<Decimal>,
    quantity: Option<Decimal>,
    is_work_cost: Option<bool>,
    work_hours: Option<Decimal>,
    work_cost_type: Option<i64>,
    green_technology_type: Option<i64>,
    /// `Some(0)` for a VAT-free row, the row's own rate when it states one.
    vat_rate: Option<Decimal>,
    project_id: Option<&'a str>,
    cost_center_item_id: Option<&'a str>,
}

impl<'a> From<&'a InvoiceRowIn> for RowView<'a> {
    fn from(r: &'a InvoiceRowIn) -> Self {
        RowView {
            article_id: r.article_id.as_deref(),
            article_number: r.article_number.as_deref(),
            is_text: r.is_text_row.unwrap_or(false),
            text: r.text.as_deref(),
            unit_price: r.unit_price,
            discount_percentage: r.discount_percentage,
            quantity: r.quantity,
            is_work_cost: r.is_work_cost,
            work_hours: r.work_hours,
            work_cost_type: r.work_cost_type,
            green_technology_type: r.green_technology_type,
            // `IsVatFree`, else `VatRate` (null on text rows), else `PercentVat`.
            vat_rate: if r.is_vat_free == Some(true) {
                Some(Decimal::ZERO)
            } else {
                r.vat_rate.or(r.percent_vat).map(percent)
            },
            project_id: r.project_id.as_deref(),
            cost_center_item_id: r.cost_center_item_id1.as_deref(),
        }
    }
}

impl<'a> From<&'a DraftRowIn> for RowView<'a> {
    fn from(r: &'a DraftRowIn) -> Self {
        RowView {
            article_id: r.article_id.as_deref(),
            article_number: r.article_number.as_deref(),
            is_text: r.is_text_row.unwrap_or(false),
            text: r.text.as_deref(),
            unit_price: r.unit_price,
            discount_percentage: r.discount_percentage,
            quantity: r.quantity,
            is_work_cost: r.is_work_cost,
            work_hours: r.work_hours,
            work_cost_type: r.work_cost_type,
            green_technology_type: r.green_technology_type,
            vat_rate: if r.reversed_construction_services_vat_free == Some(true) {
                Some(Decimal::ZERO)
            } else {
                r.vat_rate.map(percent)
            },
            project_id: r.project_id.as_deref(),
            cost_center_item_id: r.cost_center_item_id1.as_deref(),
        }
    }
}

/// The `WorkCostType` (ROT, RUT) or `GreenTechnologyType` (green) of a house-work row.
fn cost_type(h: &HouseWork, n: usize) -> Result<i64, ApiError> {
    match h.work_type.as_deref() {
        None => Ok(default_work_type(h.kind).visma),
        Some(name) => work_type(name).map(|t| t.visma).ok_or_else(|| {
            ApiError::invalid_field(
                format!("rows[{n}].house_work.work_type"),
                "not a house-work type Visma knows",
            )
        }),
    }
}

/// The type of a read row of an invoice of `kind`: its `GreenTechnologyType` on a green
/// invoice, else its `WorkCostType`.
fn read_type(r: &RowView<'_>, kind: HouseWorkKind) -> Option<&'static WorkType> {
    match kind {
        HouseWorkKind::Green => r.green_technology_type.and_then(by_visma_green),
        _ => r
            .work_cost_type
            .and_then(by_visma)
            .filter(|t| t.kind == kind),
    }
}

/// The canonical `work_type` of a read type: `None` for the kind's default.
fn read_work_type(t: Option<&'static WorkType>) -> Option<String> {
    t.filter(|t| t.name != default_work_type(t.kind).name)
        .map(|t| t.name.to_string())
}

fn row_in(r: RowView<'_>, kind: Option<HouseWorkKind>, articles: &Articles) -> InvoiceRow {
    let article = r.article_id.and_then(|id| articles.by_id(id));
    let vat_rate = if r.is_text {
        None
    } else {
        r.vat_rate
            .or_else(|| article.and_then(|a| articles.rate_of(a)))
    };
    let discount = r
        .discount_percentage
        .filter(|d| !d.is_zero())
        .map(|d| (d * Decimal::ONE_HUNDRED).normalize());
    let typed = kind.and_then(|k| read_type(&r, k));
    let house_work = match (r.is_work_cost, kind) {
        // A green row is its `GreenTechnologyType`, work cost or not.
        (Some(true), Some(kind)) if kind != HouseWorkKind::Green || typed.is_some() => {
            Some(HouseWork {
                kind,
                hours: r.work_hours.filter(|h| !h.is_zero()),
                amount: None,
                work_type: read_work_type(typed),
                material: false,
            })
        }
        // A material row: not work cost, with a type of the invoice's kind.
        (_, Some(kind)) if typed.is_some() => Some(HouseWork {
            kind,
            hours: None,
            amount: None,
            work_type: read_work_type(typed),
            material: true,
        }),
        _ => None,
    };
    InvoiceRow {
        // An id this company does not list (made since the lookups were read) stays as the id.
        project: r
            .project_id
            .map(|id| articles.project_number(id).unwrap_or(id).to_string()),
        cost_center: r
            .cost_center_item_id
            .map(|id| articles.cost_code(id).unwrap_or(id).to_string()),
        description: r.text.unwrap_or_default().to_string(),
        article_number: r
            .article_number
            .map(str::to_string)
            .or_else(|| article.and_then(|a| a.number.clone())),
        account_number: None,
        quantity: if r.is_text {
            Decimal::ZERO
        } else {
            r.quantity.unwrap_or_default()
        },
        unit_price: if r.is_text {
            Decimal::ZERO
        } else {
            r.unit_price.unwrap_or_default()
        },
        vat_rate,
        discount,
        house_work,
    }
}

/// The parts of a canonical invoice both record kinds fill alike.
struct Head<'a> {
    id: &'a str,
    customer_id: &'a Option<String>,
    invoice_date: Option<NaiveDate>,
    created_utc: Option<DateTime<Utc>>,
    due_date: Option<NaiveDate>,
    currency: &'a Option<String>,
    our_reference: &'a Option<String>,
    your_reference: &'a Option<String>,
    totals: Option<(Decimal, Decimal, Decimal)>,
    modified: Option<DateTime<Utc>>,
    payment: Option<PaymentState>,
    reverse_charge: bool,
    tax_reduction: Option<crate::domain::TaxReduction>,
}

fn invoice_of(h: Head<'_>, rows: Vec<InvoiceRow>) -> Result<(Invoice, String), ApiError> {
    let invoice_date = h
        .invoice_date
        .or_else(|| h.created_utc.map(|t| t.date_naive()))
        .ok_or_else(|| {
            ApiError::unexpected(format!("Visma invoice {} has no InvoiceDate", h.id))
        })?;
    let customer = h.customer_id.clone().unwrap_or_default();
    let totals = h.totals.map(|(total, vat, roundings)| Totals {
        net: round_money(total - vat - roundings),
        vat,
        total,
    });
    Ok((
        Invoice {
            project: None,
            cost_center: None,
            id: String::new(),
            customer_id: customer.clone(),
            invoice_date,
            due_date: h.due_date,
            currency: h.currency.clone().map(|c| c.to_ascii_uppercase()),
            our_reference: h.our_reference.clone(),
            your_reference: h.your_reference.clone(),
            reverse_charge_construction: h.reverse_charge,
            tax_reduction: h.tax_reduction,
            rows,
            totals,
            // Visma has no cancelled state: an invoice is reversed with a credit invoice.
            cancelled: false,
            payment: h.payment,
            credit: None,
            updated_at: h.modified,
        },
        customer,
    ))
}

/// The payment state of a booked invoice (`CustomerInvoiceApi`, all read-only):
/// `RemainingAmountInvoiceCurrency` (else `RemainingAmount`, the company's currency),
/// `PaymentStatus` 0 = Paid, `PaymentDate`. No payments: Visma's document has no read of a
/// customer invoice's payments (`/customerinvoices/{invoiceId}/payments` is POST only), so
/// `payments` is `None` (not listed), never `[]`.
pub fn payment_of(w: &InvoiceIn, total: Option<Decimal>) -> Option<PaymentState> {
    let balance = w.remaining_amount_invoice_currency.or(w.remaining_amount)?;
    let paid = match w.payment_status {
        Some(status) => status == 0,
        None => balance.is_zero() && total.is_some_and(|t| !t.is_zero()),
    };
    Some(PaymentState {
        balance,
        paid,
        paid_date: if paid { w.payment_date } else { None },
        payments: None,
    })
}

/// The canonical invoice of a booked Visma invoice (`customer_id` holds the Visma GUID).
pub fn invoice_in(w: &InvoiceIn, articles: &Articles) -> Result<Remote<Invoice>, ApiError> {
    let id =
        w.id.clone()
            .ok_or_else(|| ApiError::unexpected("a Visma invoice without Id"))?;
    let kind = super::rot_rut::kind_of(w.rot_reduced_invoicing_type, &w.rot);
    let rows = w
        .rows
        .iter()
        .flatten()
        .map(|r| row_in(r.into(), kind, articles))
        .collect();
    // Totals in the invoice's currency when Visma gives them (`…InvoiceCurrency`); the
    // roundings exist in the company's currency only.
    let total = w.total_amount_invoice_currency.or(w.total_amount);
    let vat = w
        .total_vat_amount_invoice_currency
        .or(w.total_vat_amount)
        .unwrap_or_default();
    let (mut record, customer) = invoice_of(
        Head {
            id: &id,
            customer_id: &w.customer_id,
            invoice_date: w.invoice_date,
            created_utc: w.created_utc,
            due_date: w.due_date,
            currency: &w.currency_code,
            our_reference: &w.our_reference,
            your_reference: &w.your_reference,
            totals: total.map(|t| (t, vat, w.total_roundings.unwrap_or_default())),
            modified: w.modified_utc,
            payment: payment_of(w, total),
            reverse_charge: w.reverse_charge_on_construction_services == Some(true)
                || w.reversed_construction_vat_invoicing == Some(true),
            tax_reduction: super::rot_rut::tax_reduction_in(kind, &w.rot),
        },
        rows,
    )?;
    record.credit = super::documents::credit_of(w.is_credit_invoice, &w.credited_by);
    Ok(Remote {
        remote_id: id,
        our_reference: w.buyers_order_reference.clone(),
        record,
        modified_at: w.modified_utc,
        customer_remote_id: (!customer.is_empty()).then_some(customer),
        // A converted invoice is booked: only a credit changes it.
        editable: false,
    })
}

/// The canonical invoice of a Visma draft; its remote id is `draft:<GUID>`.
pub fn draft_in(w: &DraftIn, articles: &Articles) -> Result<Remote<Invoice>, ApiError> {
    let id =
        w.id.clone()
            .ok_or_else(|| ApiError::unexpected("a Visma draft without Id"))?;
    let kind = super::rot_rut::kind_of(w.rot_reduced_invoicing_type, &w.rot);
    let rows = w
        .rows
        .iter()
        .flatten()
        .map(|r| row_in(r.into(), kind, articles))
        .collect();
    let (mut record, customer) = invoice_of(
        Head {
            id: &id,
            customer_id: &w.customer_id,
            invoice_date: w.invoice_date,
            created_utc: w.created_utc,
            due_date: w.due_date,
            currency: &w.invoice_currency_code,
            our_reference: &w.our_reference,
            your_reference: &w.your_reference,
            totals: w.total_amount.map(|t| {
                (
                    t,
                    w.total_vat_amount.unwrap_or_default(),
                    w.total_roundings.unwrap_or_default(),
                )
            }),
            // `CustomerInvoiceDraftApi` has no modification time.
            modified: None,
            // A draft is not booked: nothing can be paid on it yet.
            payment: None,
            reverse_charge: w.reverse_charge_on_construction_services == Some(true),
            tax_reduction: super::rot_rut::tax_reduction_in(kind, &w.rot),
        },
        rows,
    )?;
    record.credit = super::documents::credit_of(w.is_credit_invoice, &None);
    Ok(Remote {
        remote_id: format!("{DRAFT_PREFIX}{id}"),
        our_reference: w.buyers_order_reference.clone(),
        record,
        modified_at: None,
        customer_remote_id: (!customer.is_empty()).then_some(customer),
        editable: true,
    })
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "payment_tests.rs"]
mod payment_tests;

#[cfg(test)]
#[path = "reverse_charge_tests.rs"]
mod reverse_charge_tests;
