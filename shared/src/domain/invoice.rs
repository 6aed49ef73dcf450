//! The canonical invoice: header, rows (with ROT/RUT house work) and read-only totals.

use super::credit::CreditState;
use super::customer::{check_id, hash_value, norm};
use super::money::{
    canonical_decimal, decimal_str, is_currency_code, opt_decimal_str, round_money, Decimal,
    FieldError, FieldErrors,
};
use super::payment::PaymentState;
use super::tax_reduction::{self, TaxReduction};
use super::text::Lines;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Swedish tax-reduced house work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseWorkKind {
    /// Repairs, conversion, extension (rot).
    Rot,
    /// Household services (rut).
    Rut,
    /// Green technology (grön teknik: solar cells, storage of self-produced electricity,
    /// charging points for electric vehicles). Fortnox `TaxReductionType` `green`; Visma
    /// `UsesGreenTechnology` with rows' `GreenTechnologyType`.
    Green,
}

/// House work on an invoice row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseWork {
    /// ROT or RUT.
    pub kind: HouseWorkKind,
    /// Hours to report to the tax agency.
    #[serde(with = "opt_decimal_str", default)]
    pub hours: Option<Decimal>,
    /// Tax reduction claimed on this row, when known.
    #[serde(with = "opt_decimal_str", default)]
    pub amount: Option<Decimal>,
    /// The type of house work, one of [`super::tax_reduction::WORK_TYPES`] (both providers'
    /// lists: Fortnox row `HouseWorkType`, Visma row `WorkCostType`); `None` is sent as the
    /// kind's first type (`construction`, `cleaning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type: Option<String>,
    /// Material (or other costs) of the house work rather than labour: no hours, no reduction
    /// on its own (Fortnox row `HouseWork` false, Visma row `IsWorkCost` false with
    /// `MaterialCosts`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub material: bool,
}

/// One invoice row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRow {
    /// Row text (max 255 characters).
    pub description: String,
    /// Article number at the provider; Visma needs one on every priced row.
    #[serde(default)]
    pub article_number: Option<String>,
    /// Sales account (BAS, 1000–9999); Fortnox needs an article or an account on priced rows.
    #[serde(deserialize_with = "super::money::opt_whole_u32::deserialize", default)]
    pub account_number: Option<u32>,
    /// Quantity delivered.
    #[serde(with = "decimal_str")]
    pub quantity: Decimal,
    /// Price per unit, excluding VAT.
    #[serde(with = "decimal_str")]
    pub unit_price: Decimal,
    /// VAT rate in percent (25, 12, 6, 0); `None` takes the article's or account's rate.
    #[serde(with = "opt_decimal_str", default)]
    pub vat_rate: Option<Decimal>,
    /// Discount in percent.
    #[serde(with = "opt_decimal_str", default)]
    pub discount: Option<Decimal>,
    /// ROT/RUT house work on this row.
    #[serde(default)]
    pub house_work: Option<HouseWork>,
    /// The project number this row is booked on (Fortnox row `Project`, Visma row
    /// `ProjectId` of the project with this `Number`); `None` takes the invoice's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The cost centre code this row is booked on (Fortnox row `CostCenter`, Visma row
    /// `CostCenterItemId1` of the first cost centre's item with this `ShortName`); `None` takes
    /// the invoice's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
}

/// Amounts the provider computes; read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum excluding VAT.
    #[serde(with = "decimal_str")]
    pub net: Decimal,
    /// VAT.
    #[serde(with = "decimal_str")]
    pub vat: Decimal,
    /// Total including VAT.
    #[serde(with = "decimal_str")]
    pub total: Decimal,
}

/// An invoice as our side knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Our id of the invoice (stored at the provider as our reference).
    pub id: String,
    /// Our id of the customer. In records read from a provider this holds the provider's id of
    /// the customer until the sync maps it (see `providers::Remote::customer_remote_id`).
    pub customer_id: String,
    /// Invoice date.
    pub invoice_date: NaiveDate,
    /// Due date; `None` lets the provider apply the customer's terms of payment.
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    /// ISO 4217 currency; `None` means the company's currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Our reference person ("Vår referens").
    #[serde(default)]
    pub our_reference: Option<String>,
    /// The customer's reference person ("Er referens").
    #[serde(default)]
    pub your_reference: Option<String>,
    /// Reverse charge on construction services (omvänd betalningsskyldighet inom
    /// byggsektorn): the buyer accounts for the VAT, so no row carries VAT. Fortnox takes it
    /// from the customer's `VATType` `SEREVERSEDVAT` (its invoice has no such field); Visma
    /// from the rows' `ReversedConstructionServicesVatFree` and shows it as the invoice's
    /// read-only `ReverseChargeOnConstructionServices`.
    #[serde(default)]
    pub reverse_charge_construction: bool,
    /// ROT/RUT tax reduction: buyers, their shares and the property (see
    /// [`super::tax_reduction`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_reduction: Option<TaxReduction>,
    /// The project number the invoice is booked on (Fortnox `Project`). Visma has projects on
    /// rows only (`CustomerInvoiceDraftRowApi.ProjectId`): there it goes on every row without
    /// its own, and a Visma invoice reads back with it on its rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The cost centre code the invoice is booked on (Fortnox `CostCenter`); on Visma, rows
    /// only, as `project`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    /// Rows, at least one.
    pub rows: Vec<InvoiceRow>,
    /// Totals as the provider computed them; ignored when sending.
    #[serde(default)]
    pub totals: Option<Totals>,
    /// Cancelled at the provider (Fortnox `Invoice.Cancelled`); read-only, ignored when
    /// sending. A cancelled invoice stays in the feed with this set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// Whether and when it was paid, as the provider books it; read-only (`None` on the app's
    /// records: the records API drops what the app sends here).
    #[serde(default)]
    pub payment: Option<PaymentState>,
    /// Its credit link (a credit note, or credited); read-only like `payment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<CreditState>,
    /// When the record last changed on the side it was read from.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A project number or cost centre code an invoice or row names: one word of at most `max`
/// characters (both providers put it in a path or an id lookup).
fn check_code(e: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) {
    let Some(v) = value else { return };
    e.required(field, v);
    e.max_len(field, v, max);
    if v.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        e.push(field, "must be one word without spaces or slashes");
    }
}

/// Longest invoice id of ours: Fortnox's `ExternalInvoiceReference1` holds 80 characters.
pub const MAX_INVOICE_ID_LEN: usize = 80;

/// Field limits and row rules a provider sets on invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceLimits {
    /// `our_reference` and `your_reference`.
    pub reference: usize,
    /// A row's description.
    pub description: usize,
    /// A row's article number.
    pub article_number: usize,
    /// A project number (invoice or row).
    pub project: usize,
    /// A cost centre code (invoice or row).
    pub cost_center: usize,
    /// A priced row needs an article or an account.
    pub needs_article_or_account: bool,
    /// A priced row needs an article.
    pub needs_article: bool,
}

impl InvoiceLimits {
    /// The limits a record meets when it can go to `a` and to `b`: the shorter lengths, and a
    /// row rule that either sets. The stricter "needs an article" holds only where both set
    /// it: a record without articles can still go where an account is enough, and the
    /// provider that insists on articles checks it with its own limits.
    pub fn strictest(a: InvoiceLimits, b: InvoiceLimits) -> InvoiceLimits {
        InvoiceLimits {
            reference: a.reference.min(b.reference),
            description: a.description.min(b.description),
            article_number: a.article_number.min(b.article_number),
            project: a.project.min(b.project),
            cost_center: a.cost_center.min(b.cost_center),
            needs_article_or_account: a.needs_article_or_account || b.needs_article_or_account,
            needs_article: a.needs_article && b.needs_article,
        }
    }
}

impl InvoiceRow {
    /// A row that carries an amount (as opposed to a text-only row).
    pub fn is_priced(&self) -> bool {
        !self.quantity.is_zero() && !self.unit_price.is_zero()
    }

    /// Quantity × price less discount, rounded to öre.
    pub fn net(&self) -> Decimal {
        let gross = self.quantity * self.unit_price;
        let discount = self.discount.unwrap_or_default();
        round_money(gross - gross * discount / Decimal::ONE_HUNDRED)
    }
}

impl Invoice {
    /// Checks the record against `l`, the limits of the provider it goes to (or the strictest
    /// of several); every error names its field (rows by index: `rows[1].quantity`).
    pub fn validate(&self, l: &InvoiceLimits) -> Result<(), Vec<FieldError>> {
        let mut e = FieldErrors::default();
        check_id(&mut e, "id", &self.id);
        // Fortnox keeps our invoice id in ExternalInvoiceReference1 (at most 80 characters).
        e.max_len("id", &self.id, MAX_INVOICE_ID_LEN);
        check_id(&mut e, "customer_id", &self.customer_id);
        if let Some(due) = self.due_date {
            if due < self.invoice_date {
                e.push("due_date", "must not be before invoice_date");
            }
        }
        let foreign = match self.currency.as_deref() {
            Some(c) if !is_currency_code(c) => {
                e.push("currency", "must be an ISO 4217 code such as SEK");
                false
            }
            Some(c) => c != "SEK",
            None => false,
        };
        e.opt_max_len("our_reference", self.our_reference.as_deref(), l.reference);
        e.opt_max_len(
            "your_reference",
            self.your_reference.as_deref(),
            l.reference,
        );
        e.opt_plain_text(
            "our_reference",
            self.our_reference.as_deref(),
            Lines::Single,
        );
        e.opt_plain_text(
            "your_reference",
            self.your_reference.as_deref(),
            Lines::Single,
        );
        if self.rows.is_empty() {
            e.push("rows", "must have at least one row");
        }
        check_code(&mut e, "project", self.project.as_deref(), l.project);
        check_code(
            &mut e,
            "cost_center",
            self.cost_center.as_deref(),
            l.cost_center,
        );
        for (i, r) in self.rows.iter().enumerate() {
            let f = |name: &str| format!("rows[{i}].{name}");
            e.required(&f("description"), &r.description);
            e.max_len(&f("description"), &r.description, l.description);
            // A row's text may span lines (work descriptions often do); tab, CR and LF only.
            e.plain_text(&f("description"), &r.description, Lines::Multi);
            if let Some(a) = r.article_number.as_deref() {
                e.required(&f("article_number"), a);
                e.plain_text(&f("article_number"), a, Lines::Single);
                e.max_len(&f("article_number"), a, l.article_number);
            }
            if let Some(acc) = r.account_number {
                if !(1000..=9999).contains(&acc) {
                    e.push(
                        f("account_number"),
                        "must be a four-digit account (1000–9999)",
                    );
                }
            }
            check_code(&mut e, &f("project"), r.project.as_deref(), l.project);
            check_code(
                &mut e,
                &f("cost_center"),
                r.cost_center.as_deref(),
                l.cost_center,
            );
            e.max_scale(&f("quantity"), r.quantity, 2);
            // Visma: 2 decimals for domestic prices, 4 for foreign currencies.
            e.max_scale(&f("unit_price"), r.unit_price, if foreign { 4 } else { 2 });
            if let Some(v) = r.vat_rate {
                e.range(&f("vat_rate"), v, Decimal::ZERO, Decimal::ONE_HUNDRED);
                if !v.fract().is_zero() {
                    e.push(f("vat_rate"), "must be a whole percentage");
                }
            }
            if self.reverse_charge_construction && r.vat_rate.is_some_and(|v| !v.is_zero()) {
                e.push(
                    f("vat_rate"),
                    "must be 0 or absent on a reverse_charge_construction invoice (the buyer \
                     accounts for the VAT)",
                );
            }
            if let Some(d) = r.discount {
                e.range(&f("discount"), d, Decimal::ZERO, Decimal::ONE_HUNDRED);
                e.max_scale(&f("discount"), d, 2);
            }
            if let Some(h) = &r.house_work {
                if self.reverse_charge_construction {
                    e.push(
                        f("house_work"),
                        "cannot be on a reverse_charge_construction invoice (ROT/RUT is for \
                         private persons, reverse charge for companies)",
                    );
                }
                if let Some(hours) = h.hours {
                    e.range(
                        &f("house_work.hours"),
                        hours,
                        Decimal::ZERO,
                        Decimal::from(999),
                    );
                    if !hours.fract().is_zero() {
                        e.push(f("house_work.hours"), "must be whole hours");
                    }
                }
                if let Some(a) = h.amount {
                    if a.is_sign_negative() {
                        e.push(f("house_work.amount"), "must not be negative");
                    }
                    e.max_scale(&f("house_work.amount"), a, 2);
                }
            }
            if r.is_priced() {
                let has_article = r.article_number.as_deref().is_some_and(|a| !a.is_empty());
                if l.needs_article && !has_article {
                    e.push(
                        f("article_number"),
                        "is required on a priced row (Visma books rows through articles)",
                    );
                } else if l.needs_article_or_account && !has_article && r.account_number.is_none() {
                    e.push(
                        f("account_number"),
                        "a priced row needs an article_number or an account_number",
                    );
                }
            }
        }
        tax_reduction::check(self, &mut e, Utc::now().date_naive());
        // One kind of tax reduction per invoice at both providers (Fortnox: the invoice's
        // `TaxReductionType`; Visma: the draft's `RotReducedInvoicingType`): refused here rather
        // than at export.
        let mut first_kind: Option<HouseWorkKind> = None;
        for (i, r) in self.rows.iter().enumerate() {
            if let Some(h) = &r.house_work {
                match first_kind {
                    None => first_kind = Some(h.kind),
                    Some(k) if k != h.kind => e.push(
                        format!("rows[{i}].house_work.kind"),
                        "an invoice cannot mix ROT, RUT and green technology rows (the accounting \
                         systems take one kind of tax reduction per invoice); send them as two \
                         invoices",
                    ),
                    Some(_) => {}
                }
            }
        }
        e.finish()
    }

    /// Totals computed from the rows (net per row rounded to öre, VAT per row).
    pub fn computed_totals(&self) -> Totals {
        let mut net = Decimal::ZERO;
        let mut vat = Decimal::ZERO;
        for r in &self.rows {
            let n = r.net();
            net += n;
            if !self.reverse_charge_construction {
                vat += round_money(n * r.vat_rate.unwrap_or_default() / Decimal::ONE_HUNDRED);
            }
        }
        Totals {
            net,
            vat,
            total: net + vat,
        }
    }

    /// A stable SHA-256 over the content that is sent to a provider: everything except our id,
    /// `updated_at` and the read-only totals, plus the cancelled state when set (a
    /// cancellation at the provider is a change the app must hear of). Blank texts count as
    /// absent, decimals by value.
    pub fn content_hash(&self) -> String {
        let dec = |d: &Option<Decimal>| match d {
            Some(d) => Value::String(canonical_decimal(*d)),
            None => Value::Null,
        };
        // On a reverse-charge invoice every row is VAT-free: an absent rate (the app's) and 0
        // (what the providers read back) are the same content.
        let reverse = self.reverse_charge_construction;
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let vat_rate = if reverse {
                    Some(Decimal::ZERO)
                } else {
                    r.vat_rate
                };
                json!({
                    "description": r.description,
                    "article_number": norm(&r.article_number),
                    "account_number": r.account_number,
                    "quantity": canonical_decimal(r.quantity),
                    "unit_price": canonical_decimal(r.unit_price),
                    "vat_rate": dec(&vat_rate),
                    "discount": dec(&r.discount.filter(|d| !d.is_zero())),
                    "house_work": r.house_work.as_ref().map(|h| {
                        let mut v = json!({
                            "kind": h.kind,
                            "hours": dec(&h.hours),
                            "amount": dec(&h.amount),
                        });
                        // Only when not the defaults, so the hashes of records stored before
                        // these fields existed stay as they were; no type is the kind's first.
                        let default = tax_reduction::default_work_type(h.kind).name;
                        if let Some(t) = h.work_type.as_deref().filter(|t| *t != default) {
                            v["work_type"] = Value::String(t.to_string());
                        }
                        if h.material {
                            v["material"] = Value::Bool(true);
                        }
                        v
                    }),
                })
            })
            .zip(&self.rows)
            .map(|(mut v, r)| {
                // Only when set, so the hashes of records stored before these fields existed
                // stay as they were.
                if let Value::String(p) = norm(&r.project) {
                    v["project"] = Value::String(p);
                }
                if let Value::String(c) = norm(&r.cost_center) {
                    v["cost_center"] = Value::String(c);
                }
                v
            })
            .collect();
        let mut v = json!({
            "v": 1,
            "customer_id": self.customer_id,
            "invoice_date": self.invoice_date.to_string(),
            "due_date": self.due_date.map(|d| d.to_string()),
            "currency": norm(&self.currency),
            "our_reference": norm(&self.our_reference),
            "your_reference": norm(&self.your_reference),
            "rows": rows,
        });
        if self.cancelled {
            v["cancelled"] = Value::Bool(true);
        }
        // Only when set, so the hashes of records stored before the flag existed stay as they
        // were (no re-export of every invoice).
        if reverse {
            v["reverse_charge_construction"] = Value::Bool(true);
        }
        if let Some(t) = &self.tax_reduction {
            v["tax_reduction"] = tax_reduction::hash_part(t);
        }
        if let Value::String(p) = norm(&self.project) {
            v["project"] = Value::String(p);
        }
        if let Value::String(c) = norm(&self.cost_center) {
            v["cost_center"] = Value::String(c);
        }
        hash_value(&v)
    }

    /// The record without the buyers' personal identity numbers: how a record pulled from a
    /// provider reaches the change feed (personal data the app did not send there).
    pub fn without_personal_numbers(mut self) -> Self {
        if let Some(t) = &mut self.tax_reduction {
            for b in &mut t.buyers {
                b.personal_identity_number = None;
            }
        }
        self
    }

    /// The hash the sync engine compares a provider's record by: [`Self::content_hash`] plus
    /// the payment state, so a payment alone makes the pulled invoice count as changed (and
    /// reach the feed). Equal to the content hash when no payment state is known.
    pub fn remote_hash(&self) -> String {
        match (&self.payment, &self.credit) {
            (None, None) => self.content_hash(),
            (Some(p), None) => hash_value(&json!({
                "content": self.content_hash(),
                "payment": p.hash(),
            })),
            // A credit link is a change too (the credited invoice's own content stays as it
            // was at Fortnox; only `CreditInvoiceReference` moves).
            (p, Some(c)) => hash_value(&json!({
                "content": self.content_hash(),
                "payment": p.as_ref().map(PaymentState::hash),
                "credit": c.hash(),
            })),
        }
    }
}

#[cfg(test)]
#[path = "invoice_reverse_tests.rs"]
mod reverse_tests;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn an_account_number_written_with_a_fraction_is_read() {
        let row: InvoiceRow = serde_json::from_value(json!({
            "description": "Arbete", "account_number": 3001.0, "quantity": "1", "unit_price": "100"
        }))
        .unwrap();
        assert_eq!(row.account_number, Some(3001));
        let half =
            json!({"description": "x", "account_number": 3001.5, "quantity": 1, "unit_price": 1});
        assert!(serde_json::from_value::<InvoiceRow>(half).is_err());
    }
    use std::str::FromStr;

    pub(crate) fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    pub(crate) fn sample() -> Invoice {
        Invoice {
            project: None,
            cost_center: None,
            id: "inv-1".into(),
            customer_id: "cust-1".into(),
            invoice_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            due_date: NaiveDate::from_ymd_opt(2026, 12, 1),
            currency: Some("SEK".into()),
            our_reference: Some("Anna".into()),
            your_reference: None,
            reverse_charge_construction: false,
            tax_reduction: None,
            rows: vec![
                InvoiceRow {
                    project: None,
                    cost_center: None,
                    description: "Arbete badrum".into(),
                    article_number: Some("ARB".into()),
                    account_number: Some(3001),
                    quantity: d("8"),
                    unit_price: d("650.00"),
                    vat_rate: Some(d("25")),
                    discount: None,
                    house_work: Some(HouseWork {
                        kind: HouseWorkKind::Rot,
                        hours: Some(d("8")),
                        amount: None,
                        work_type: None,
                        material: false,
                    }),
                },
                InvoiceRow {
                    project: None,
                    cost_center: None,
                    description: "Kakel".into(),
                    article_number: Some("KAK".into()),
                    account_number: None,
                    quantity: d("12.5"),
                    unit_price: d("199.90"),
                    vat_rate: Some(d("25")),
                    discount: Some(d("10")),
                    house_work: None,
                },
            ],
            totals: None,
            cancelled: false,
            payment: None,
            credit: None,
            updated_at: None,
        }
    }

    const ROOMY: InvoiceLimits = InvoiceLimits {
        project: 20,
        cost_center: 20,
        reference: 1000,
        description: 1000,
        article_number: 1000,
        needs_article_or_account: false,
        needs_article: false,
    };

    #[test]
    fn rot_and_rut_rows_on_one_invoice_are_refused_naming_the_row() {
        let mut i = sample();
        i.rows[1].house_work = Some(HouseWork {
            kind: HouseWorkKind::Rot,
            hours: None,
            amount: None,
            work_type: None,
            material: false,
        });
        assert_eq!(i.validate(&ROOMY), Ok(()), "two ROT rows are fine");
        i.rows[1].house_work.as_mut().unwrap().kind = HouseWorkKind::Rut;
        let errs = i.validate(&ROOMY).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "rows[1].house_work.kind");
        assert!(errs[0].message.contains("cannot mix ROT, RUT and green"));
    }

    #[test]
    fn control_characters_are_refused_and_row_texts_may_span_lines() {
        assert_eq!(sample().validate(&ROOMY), Ok(()));
        let mut i = sample();
        i.rows[1].description = "Kakel\r\nvägg\tgolv".into();
        assert_eq!(i.validate(&ROOMY), Ok(()), "a row text may span lines");

        type Set = fn(&mut Invoice, String);
        let single: [(&str, Set); 3] = [
            ("our_reference", |i, v| i.our_reference = Some(v)),
            ("your_reference", |i, v| i.your_reference = Some(v)),
            ("rows[0].article_number", |i, v| {
                i.rows[0].article_number = Some(v)
            }),
        ];
        for (field, set) in single {
            for bad in ["a\0b", "\x1b]0;title\x07", "rad\nrad", "a\tb"] {
                let mut i = sample();
                set(&mut i, bad.to_string());
                let errors = i.validate(&ROOMY).unwrap_err();
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert_eq!(errors[0].field, field, "{bad:?}");
            }
        }
        for bad in ["a\0b", "\x1b[2J", "klocka\x07", "del\x7f", "x\u{85}"] {
            let mut i = sample();
            i.rows[1].description = bad.into();
            let errors = i.validate(&ROOMY).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, "rows[1].description", "{bad:?}");
        }
    }

    #[test]
    fn totals_round_per_row() {
        let t = sample().computed_totals();
        // 8 × 650 = 5200; 12.5 × 199.90 = 2498.75 less 10 % = 2248.875 → 2248.88
        assert_eq!(t.net, d("7448.88"));
        assert_eq!(t.vat, d("1862.22"));
        assert_eq!(t.total, d("9311.10"));
    }

    #[test]
    fn hash_ignores_totals_time_id_and_decimal_scale() {
        let a = sample();
        let mut b = sample();
        b.id = "x".into();
        b.totals = Some(a.computed_totals());
        b.updated_at = Some(Utc::now());
        b.rows[0].unit_price = d("650");
        b.rows[1].discount = Some(d("10.00"));
        assert_eq!(a.content_hash(), b.content_hash());
        b.rows[1].quantity = d("13");
        assert_ne!(a.content_hash(), b.content_hash());
        let mut c = sample();
        c.rows.swap(0, 1);
        assert_ne!(a.content_hash(), c.content_hash());
        let mut cancelled = sample();
        cancelled.cancelled = true;
        assert_ne!(
            a.content_hash(),
            cancelled.content_hash(),
            "a cancellation is a change"
        );
    }

    #[test]
    fn the_remote_hash_sees_payments_the_content_hash_does_not() {
        let a = sample();
        assert_eq!(a.remote_hash(), a.content_hash());
        let mut b = sample();
        b.payment = Some(PaymentState {
            balance: d("9311.10"),
            paid: false,
            paid_date: None,
            payments: Some(vec![]),
        });
        assert_eq!(
            a.content_hash(),
            b.content_hash(),
            "the app's content is the same"
        );
        assert_ne!(a.remote_hash(), b.remote_hash());
        let mut c = b.clone();
        c.payment.as_mut().unwrap().balance = d("0");
        assert_ne!(b.remote_hash(), c.remote_hash(), "a payment is a change");
    }

    #[test]
    fn json_round_trips_with_string_money() {
        let i = sample();
        let text = serde_json::to_string(&i).unwrap();
        assert!(text.contains(r#""unit_price":"650.00""#), "{text}");
        assert!(text.contains(r#""kind":"rot""#), "{text}");
        let back: Invoice = serde_json::from_str(&text).unwrap();
        assert_eq!(back, i);
        let n: Invoice = serde_json::from_str(
            r#"{"id":"i","customer_id":"c","invoice_date":"2026-11-01",
                "rows":[{"description":"a","quantity":2,"unit_price":10.5}]}"#,
        )
        .unwrap();
        assert_eq!(n.rows[0].unit_price, d("10.5"));
    }
}
