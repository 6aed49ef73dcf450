//! Canonical ↔ Fortnox, both directions.
//!
//! | canonical | Fortnox |
//! |---|---|
//! | `Customer.id` (ours) | `ExternalReference` |
//! | name, organisation_number, email, phone | `Name`, `OrganisationNumber`, `Email`, `Phone1` |
//! | address line1/line2/postal_code/city/country_code | `Address1/2`, `ZipCode`, `City`, `CountryCode` |
//! | currency | `Currency` |
//! | is_private_person | `Type` `PRIVATE`/`COMPANY` |
//! | vat_number, reverse_charge_construction | `VATNumber`, `VATType` `SEREVERSEDVAT` (else `SEVAT` for Swedish customers) |
//! | active | `Active` |
//! | `Invoice.id` (ours) | `ExternalInvoiceReference1` |
//! | customer_id | `CustomerNumber` (the provider's id, given by the caller) |
//! | invoice_date, due_date, currency, our/your_reference | `InvoiceDate`, `DueDate`, `Currency`, `OurReference`, `YourReference` |
//! | row description, article_number, account_number | `Description`, `ArticleNumber`, `AccountNumber` |
//! | row quantity, unit_price, vat_rate, discount (%) | `DeliveredQuantity` (a string), `Price`, `VAT` (whole %), `Discount` + `DiscountType: PERCENT` |
//! | invoice reverse_charge_construction | no field on `fortnox_Kf_InvoiceSingleItem`: written as `VAT` 0 on every priced row (the customer's `VATType` `SEREVERSEDVAT` makes it reverse charge); read as the customer's `VATType` `SEREVERSEDVAT` on an invoice whose priced rows are all `VAT` 0 |
//! | row house_work rot/rut, hours, work_type | `HouseWork`, `HouseWorkType` (the kind's default `CONSTRUCTION`/`CLEANING` without a type), `HouseWorkHoursToReport`; invoice `TaxReductionType` |
//! | row house_work material | `HouseWork` false with the row's `HouseWorkType` |
//! | tax_reduction buyers, property | `/3/taxreductions` (`SocialSecurityNumber`, `AskedAmount`, `PropertyDesignation`, `ResidenceAssociationOrganisationNumber`), see `tax_reductions.rs` |
//! | totals net/vat/total (read) | `Net`, `TotalVAT`, `Total` |
//! | payment balance/paid/paid_date (read) | `Balance`, `Balance` 0 and not `Cancelled`, `FinalPayDate` |
//! | payment payments (read) | `GET /3/invoicepayments?invoicenumber=` (`Number`, `PaymentDate`, `Amount`/`AmountCurrency`, `Currency`), see `payments.rs` |
//!
//! Lossy spots, by design: Fortnox has no modification time on customers or invoices
//! (`updated_at` stays `None`); a house-work row's reduction amount is computed by Fortnox and
//! not read back; an `AMOUNT` discount is
//! read back as the equivalent percentage.

use super::wire::{CustomerIn, CustomerOut, InvoiceIn, InvoiceOut, InvoiceRowIn, InvoiceRowOut};
use crate::domain::money::round_money;
use crate::domain::tax_reduction::{by_fortnox, default_work_type, work_type, WorkType};
use crate::domain::{
    Address, Customer, Decimal, HouseWork, HouseWorkKind, Invoice, InvoiceRow, Totals,
};
use crate::http::ApiError;
use crate::providers::Remote;

/// Whether a body creates a record or updates one (PUT is partial: on update, cleared fields
/// are sent as `""` where Fortnox's schema allows an empty string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// POST.
    Create,
    /// PUT.
    Update,
}

fn clearable(v: &Option<String>, mode: WriteMode) -> Option<String> {
    match (v.as_deref().map(str::trim), mode) {
        (Some(s), _) if !s.is_empty() => Some(s.to_string()),
        (_, WriteMode::Update) => Some(String::new()),
        (_, WriteMode::Create) => None,
    }
}

fn present(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The body Fortnox gets for `c`.
pub fn customer_out(c: &Customer, mode: WriteMode) -> CustomerOut {
    let a = &c.address;
    let swedish = a.country_code.as_deref().is_none_or(|cc| cc == "SE");
    CustomerOut {
        name: Some(c.name.trim().to_string()),
        organisation_number: clearable(&c.organisation_number, mode),
        email: clearable(&c.email, mode),
        phone1: clearable(&c.phone, mode),
        // Address1, CountryCode and Currency have a minimum length: never sent empty.
        address1: present(&a.line1),
        address2: clearable(&a.line2, mode),
        zip_code: clearable(&a.postal_code, mode),
        city: clearable(&a.city, mode),
        country_code: present(&a.country_code),
        currency: present(&c.currency),
        kind: Some(if c.is_private_person {
            "PRIVATE"
        } else {
            "COMPANY"
        }),
        vat_number: clearable(&c.vat_number, mode),
        vat_type: if c.reverse_charge_construction {
            Some("SEREVERSEDVAT")
        } else if swedish {
            Some("SEVAT")
        } else {
            None
        },
        active: Some(c.active),
        external_reference: Some(c.id.clone()),
    }
}

/// The canonical customer of a Fortnox record.
pub fn customer_in(w: &CustomerIn) -> Result<Remote<Customer>, ApiError> {
    let remote_id = w
        .customer_number
        .clone()
        .ok_or_else(|| ApiError::unexpected("a Fortnox customer without CustomerNumber"))?;
    let record = Customer {
        id: w.external_reference.clone().unwrap_or_default(),
        name: w.name.clone().unwrap_or_default(),
        organisation_number: w.organisation_number.clone(),
        email: w.email.clone(),
        phone: w.phone1.clone().or_else(|| w.phone.clone()),
        address: Address {
            line1: w.address1.clone(),
            line2: w.address2.clone(),
            postal_code: w.zip_code.clone(),
            city: w.city.clone(),
            country_code: w.country_code.clone().map(|c| c.to_ascii_uppercase()),
        },
        currency: w.currency.clone().map(|c| c.to_ascii_uppercase()),
        is_private_person: w.kind.as_deref() == Some("PRIVATE"),
        vat_number: w.vat_number.clone(),
        reverse_charge_construction: w.vat_type.as_deref() == Some("SEREVERSEDVAT"),
        active: w.active.unwrap_or(true),
        updated_at: None,
    };
    Ok(Remote {
        remote_id,
        our_reference: w.external_reference.clone(),
        record,
        modified_at: None,
        customer_remote_id: None,
        editable: true,
    })
}

/// House-work types Fortnox counts as ROT; green technology has its own; the rest are RUT.
const ROT_TYPES: &[&str] = &[
    "CONSTRUCTION",
    "ELECTRICITY",
    "GLASSMETALWORK",
    "GROUNDDRAINAGEWORK",
    "MASONRY",
    "PAINTINGWALLPAPERING",
    "HVAC",
];
const GREEN_TYPES: &[&str] = &[
    "SOLARCELLS",
    "STORAGESELFPRODUCEDELECTRICITY",
    "CHARGINGSTATIONELECTRICVEHICLE",
];

fn whole(v: Decimal, field: String) -> Result<i64, ApiError> {
    let n = v.normalize();
    if !n.fract().is_zero() {
        return Err(ApiError::invalid_field(
            field,
            "Fortnox takes whole numbers here",
        ));
    }
    n.mantissa()
        .checked_div(10i128.pow(n.scale()))
        .and_then(|m| i64::try_from(m).ok())
        .ok_or_else(|| ApiError::invalid_field(field, "out of range"))
}

/// Whether `r` is a text row: a description without article, account, amount, VAT, discount
/// or house work.
pub fn is_text_row(r: &InvoiceRow) -> bool {
    r.article_number
        .as_deref()
        .is_none_or(|a| a.trim().is_empty())
        && r.account_number.is_none()
        && r.quantity.is_zero()
        && r.unit_price.is_zero()
        && r.vat_rate.is_none()
        && r.discount.is_none_or(|d| d.is_zero())
        && r.house_work.is_none()
}

/// The body Fortnox gets for `i`, billed to the Fortnox customer `customer_number`.
pub fn invoice_out(
    i: &Invoice,
    customer_number: &str,
    mode: WriteMode,
) -> Result<InvoiceOut, ApiError> {
    let mut reduction: Option<HouseWorkKind> = None;
    let mut rows = Vec::with_capacity(i.rows.len());
    for (n, r) in i.rows.iter().enumerate() {
        // A text row (`fortnox_Kf_InvoiceRowSinglePayloadItem` with only `Description`): no
        // article, account, amount or VAT, so none of them is sent.
        if is_text_row(r) {
            rows.push(InvoiceRowOut {
                description: r.description.clone(),
                ..InvoiceRowOut::default()
            });
            continue;
        }
        // A reverse-charge invoice: every priced row says `VAT` 0 itself rather than take the
        // account's rate (Fortnox's invoice has no reverse-charge field of its own).
        let vat = if i.reverse_charge_construction {
            Some(0)
        } else {
            r.vat_rate
                .map(|v| whole(v, format!("rows[{n}].vat_rate")))
                .transpose()?
        };
        let (house_work, house_work_type, hours) = match &r.house_work {
            Some(h) => {
                match reduction {
                    Some(k) if k != h.kind => {
                        return Err(ApiError::invalid_field(
                            format!("rows[{n}].house_work.kind"),
                            "an invoice cannot mix ROT and RUT",
                        ))
                    }
                    _ => reduction = Some(h.kind),
                }
                let hours = h
                    .hours
                    .map(|v| whole(v, format!("rows[{n}].house_work.hours")))
                    .transpose()?;
                // `fortnox_Kf_InvoiceRowSinglePayloadItem.HouseWorkType` (enum); a material row
                // keeps its type with `HouseWork` false and no hours.
                let t = match h.work_type.as_deref() {
                    None => default_work_type(h.kind),
                    Some(name) => work_type(name).ok_or_else(|| {
                        ApiError::invalid_field(
                            format!("rows[{n}].house_work.work_type"),
                            "not a house-work type Fortnox knows",
                        )
                    })?,
                };
                if h.material {
                    (Some(false), Some(t.fortnox), None)
                } else {
                    (Some(true), Some(t.fortnox), hours)
                }
            }
            None if mode == WriteMode::Update => (Some(false), None, None),
            None => (None, None, None),
        };
        // Fortnox updates rows in place by position: on update, say "no discount" and "no
        // article" explicitly, or the old row's values would stay.
        let discount = match (r.discount.filter(|d| !d.is_zero()), mode) {
            (None, WriteMode::Update) => Some(Decimal::ZERO),
            (d, _) => d,
        };
        rows.push(InvoiceRowOut {
            article_number: match mode {
                WriteMode::Create => present(&r.article_number),
                WriteMode::Update => clearable(&r.article_number, mode),
            },
            account_number: r.account_number,
            description: r.description.clone(),
            delivered_quantity: Some(r.quantity.normalize().to_string()),
            price: Some(r.unit_price),
            vat,
            discount,
            discount_type: discount.map(|_| "PERCENT"),
            house_work,
            house_work_type,
            house_work_hours_to_report: hours,
            // Invoice `Project`/`CostCenter` and the rows' own
            // (`fortnox_Kf_InvoiceRowSinglePayloadItem`): cleared explicitly on update.
            project: clearable(&r.project, mode),
            cost_center: clearable(&r.cost_center, mode),
        });
    }
    Ok(InvoiceOut {
        customer_number: customer_number.to_string(),
        invoice_date: Some(i.invoice_date.to_string()),
        due_date: i.due_date.map(|d| d.to_string()),
        currency: present(&i.currency),
        our_reference: clearable(&i.our_reference, mode),
        your_reference: clearable(&i.your_reference, mode),
        external_invoice_reference1: Some(i.id.clone()),
        vat_included: Some(false),
        tax_reduction_type: match reduction {
            Some(HouseWorkKind::Rot) => Some("rot"),
            Some(HouseWorkKind::Rut) => Some("rut"),
            Some(HouseWorkKind::Green) => Some("green"),
            None if mode == WriteMode::Update => Some("none"),
            None => None,
        },
        project: clearable(&i.project, mode),
        cost_center: clearable(&i.cost_center, mode),
        invoice_rows: rows,
    })
}

fn row_in(r: &InvoiceRowIn, invoice_reduction: Option<&str>) -> InvoiceRow {
    let quantity = r.delivered_quantity.unwrap_or_default();
    let unit_price = r.price.unwrap_or_default();
    if r.article_number.is_none()
        && r.account_number.is_none()
        && quantity.is_zero()
        && unit_price.is_zero()
        && r.house_work != Some(true)
    {
        // A text row: whatever VAT Fortnox shows on it books nothing.
        return InvoiceRow {
            project: None,
            cost_center: None,
            description: r.description.clone().unwrap_or_default(),
            article_number: None,
            account_number: None,
            quantity,
            unit_price,
            vat_rate: None,
            discount: None,
            house_work: None,
        };
    }
    let discount = match (r.discount, r.discount_type.as_deref()) {
        (Some(d), _) if d.is_zero() => None,
        (Some(d), Some("AMOUNT")) => {
            let gross = quantity * unit_price;
            (!gross.is_zero()).then(|| round_money(d / gross * Decimal::ONE_HUNDRED))
        }
        (d, _) => d,
    };
    let house_work = match (r.house_work, r.house_work_type.as_deref()) {
        // A material row of a ROT/RUT invoice: a type of its kind without `HouseWork`.
        (Some(false) | None, Some(t)) => by_fortnox(t)
            .filter(|t| Some(kind_code(t.kind)) == invoice_reduction)
            .map(|t| HouseWork {
                kind: t.kind,
                hours: None,
                amount: None,
                work_type: non_default(t),
                material: true,
            }),
        (Some(true), t) => {
            let kind = match t {
                // Green technology only on a `green` invoice.
                Some(t) if GREEN_TYPES.contains(&t) => {
                    (invoice_reduction == Some("green")).then_some(HouseWorkKind::Green)
                }
                Some(t) if ROT_TYPES.contains(&t) => Some(HouseWorkKind::Rot),
                Some("OTHERCOSTS") | None => match invoice_reduction {
                    Some("rot") => Some(HouseWorkKind::Rot),
                    Some("rut") => Some(HouseWorkKind::Rut),
                    Some("green") => Some(HouseWorkKind::Green),
                    _ => None,
                },
                Some(_) => Some(HouseWorkKind::Rut),
            };
            kind.map(|kind| HouseWork {
                kind,
                hours: r.house_work_hours_to_report.filter(|h| !h.is_zero()),
                amount: None,
                work_type: t.and_then(by_fortnox).and_then(non_default),
                material: false,
            })
        }
        _ => None,
    };
    InvoiceRow {
        project: present(&r.project),
        cost_center: present(&r.cost_center),
        description: r.description.clone().unwrap_or_default(),
        article_number: r.article_number.clone(),
        account_number: r.account_number.and_then(|a| u32::try_from(a).ok()),
        quantity,
        unit_price,
        vat_rate: r.vat,
        discount,
        house_work,
    }
}

fn kind_code(k: HouseWorkKind) -> &'static str {
    match k {
        HouseWorkKind::Rot => "rot",
        HouseWorkKind::Rut => "rut",
        HouseWorkKind::Green => "green",
    }
}

/// The canonical name of a read type, `None` for its kind's default (what a row without a
/// type is sent as).
fn non_default(t: &WorkType) -> Option<String> {
    (t.name != default_work_type(t.kind).name).then(|| t.name.to_string())
}

/// Whether a read invoice may be reverse charged: it has a priced row and no priced row with
/// VAT. Only then is its customer's `VATType` worth a request.
pub fn may_be_reverse_charged(i: &Invoice) -> bool {
    let mut priced = i.rows.iter().filter(|r| !is_text_row(r)).peekable();
    priced.peek().is_some() && priced.all(|r| r.vat_rate.is_none_or(|v| v.is_zero()))
}

/// Sets the invoice's reverse-charge flag from its customer's `VATType`
/// (`fortnox_Kf_CustomerSingleItem.VATType`, enum `SEVAT`, `SEREVERSEDVAT`, `EUREVERSEDVAT`,
/// `EUVAT`, `EXPORT`): `SEREVERSEDVAT` on an invoice without VAT.
pub fn with_reverse_charge(mut i: Invoice, customer_vat_type: Option<&str>) -> Invoice {
    i.reverse_charge_construction =
        customer_vat_type == Some("SEREVERSEDVAT") && may_be_reverse_charged(&i);
    i
}

/// The canonical invoice of a Fortnox record (`customer_id` holds the Fortnox customer number).
pub fn invoice_in(w: &InvoiceIn) -> Result<Remote<Invoice>, ApiError> {
    let remote_id = w
        .document_number
        .clone()
        .ok_or_else(|| ApiError::unexpected("a Fortnox invoice without DocumentNumber"))?;
    let invoice_date = w.invoice_date.ok_or_else(|| {
        ApiError::invalid_field(
            "InvoiceDate",
            format!("Fortnox invoice {remote_id} has no InvoiceDate (missing or not a date)"),
        )
    })?;
    let reduction = w.tax_reduction_type.as_deref();
    let totals = w.total.map(|total| {
        let vat = w.total_vat.unwrap_or_default();
        Totals {
            net: w.net.unwrap_or(total - vat),
            vat,
            total,
        }
    });
    let customer = w.customer_number.clone().unwrap_or_default();
    let record = Invoice {
        project: present(&w.project),
        cost_center: present(&w.cost_center),
        id: w.external_invoice_reference1.clone().unwrap_or_default(),
        customer_id: customer.clone(),
        invoice_date,
        due_date: w.due_date,
        currency: w.currency.clone().map(|c| c.to_ascii_uppercase()),
        our_reference: w.our_reference.clone(),
        your_reference: w.your_reference.clone(),
        // Not on Fortnox's invoice: the client sets it from the customer's `VATType`
        // ([`with_reverse_charge`]).
        reverse_charge_construction: false,
        // In `/3/taxreductions`: the client reads it (`tax_reductions.rs`).
        tax_reduction: None,
        rows: w
            .invoice_rows
            .iter()
            .flatten()
            .map(|r| row_in(r, reduction))
            .collect(),
        totals,
        cancelled: w.cancelled.unwrap_or(false),
        payment: super::payments::state_of(w),
        credit: super::documents::credit_of(w),
        updated_at: None,
    };
    let credit_note = record.credit.as_ref().is_some_and(|c| c.credit_note);
    Ok(Remote {
        remote_id,
        // A credit note is a copy of the invoice it credits, our reference included: never
        // adopted by that reference (it would be read as the credited invoice). Ours are
        // mapped when we credit; one made in Fortnox gets an id of its own.
        our_reference: w
            .external_invoice_reference1
            .clone()
            .filter(|_| !credit_note),
        record,
        modified_at: None,
        customer_remote_id: (!customer.is_empty()).then_some(customer),
        editable: !(w.booked.unwrap_or(false) || w.cancelled.unwrap_or(false)),
    })
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "reverse_charge_tests.rs"]
mod reverse_charge_tests;
