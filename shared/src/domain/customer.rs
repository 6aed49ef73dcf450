//! The canonical customer: what our side calls a customer, whichever accounting system it goes
//! to. Validation checks a record against the limits a provider sets (the providers hold their
//! tables: `providers::limits_for`); hashing lets the sync send only real changes.

use super::money::{is_country_code, is_currency_code, sha256_hex, FieldError, FieldErrors};
use super::text::Lines;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A postal address (the invoice address at the provider).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street line.
    #[serde(default)]
    pub line1: Option<String>,
    /// Second street line (c/o, floor, box).
    #[serde(default)]
    pub line2: Option<String>,
    /// Postal code (`903 26`).
    #[serde(default)]
    pub postal_code: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 country code (`SE`).
    #[serde(default)]
    pub country_code: Option<String>,
}

/// A customer as our side knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Our id of the customer (stored at the provider as our reference).
    pub id: String,
    /// Company or person name.
    pub name: String,
    /// Swedish organisation or personal identity number.
    #[serde(default)]
    pub organisation_number: Option<String>,
    /// E-mail address invoices go to.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Invoice address.
    #[serde(default)]
    pub address: Address,
    /// ISO 4217 currency the customer is invoiced in; `None` means the company's currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// A private person rather than a company (matters for ROT/RUT and VAT).
    #[serde(default)]
    pub is_private_person: bool,
    /// VAT registration number (`SE556677889901`).
    #[serde(default)]
    pub vat_number: Option<String>,
    /// Reverse charge on construction services (omvänd byggmoms).
    #[serde(default)]
    pub reverse_charge_construction: bool,
    /// Whether the customer may be invoiced.
    #[serde(default = "default_true")]
    pub active: bool,
    /// When the record last changed on the side it was read from.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn default_true() -> bool {
    true
}

/// Field lengths a provider accepts for a customer, and whether it needs an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerLimits {
    /// Name.
    pub name: usize,
    /// Each address line.
    pub address_line: usize,
    /// Postal code.
    pub postal_code: usize,
    /// City.
    pub city: usize,
    /// E-mail address.
    pub email: usize,
    /// Phone number.
    pub phone: usize,
    /// Organisation or personal identity number.
    pub organisation_number: usize,
    /// VAT number.
    pub vat_number: usize,
    /// Whether postal code and city are required.
    pub address_required: bool,
}

impl CustomerLimits {
    /// The limits a record meets when it meets both `a` and `b`.
    pub fn strictest(a: CustomerLimits, b: CustomerLimits) -> CustomerLimits {
        CustomerLimits {
            name: a.name.min(b.name),
            address_line: a.address_line.min(b.address_line),
            postal_code: a.postal_code.min(b.postal_code),
            city: a.city.min(b.city),
            email: a.email.min(b.email),
            phone: a.phone.min(b.phone),
            organisation_number: a.organisation_number.min(b.organisation_number),
            vat_number: a.vat_number.min(b.vat_number),
            address_required: a.address_required || b.address_required,
        }
    }
}

/// Longest id of ours we accept (Fortnox `ExternalReference` holds 1024; keep ids short).
pub const MAX_ID_LEN: usize = 128;

impl Customer {
    /// Checks the record against `l`, the limits of the provider it goes to (or the strictest
    /// of several); every error names its field.
    pub fn validate(&self, l: &CustomerLimits) -> Result<(), Vec<FieldError>> {
        let mut e = FieldErrors::default();
        check_id(&mut e, "id", &self.id);
        e.required("name", &self.name);
        e.max_len("name", &self.name, l.name);
        e.opt_max_len(
            "organisation_number",
            self.organisation_number.as_deref(),
            l.organisation_number,
        );
        if let Some(email) = self.email.as_deref().filter(|s| !s.is_empty()) {
            e.max_len("email", email, l.email);
            if !looks_like_email(email) {
                e.push("email", "must be an e-mail address such as name@example.se");
            }
        }
        e.opt_max_len("phone", self.phone.as_deref(), l.phone);
        let a = &self.address;
        e.opt_max_len("address.line1", a.line1.as_deref(), l.address_line);
        e.opt_max_len("address.line2", a.line2.as_deref(), l.address_line);
        e.opt_max_len(
            "address.postal_code",
            a.postal_code.as_deref(),
            l.postal_code,
        );
        e.opt_max_len("address.city", a.city.as_deref(), l.city);
        if l.address_required {
            e.required(
                "address.postal_code",
                a.postal_code.as_deref().unwrap_or(""),
            );
            e.required("address.city", a.city.as_deref().unwrap_or(""));
        }
        if let Some(c) = a.country_code.as_deref() {
            if !is_country_code(c) {
                e.push(
                    "address.country_code",
                    "must be an ISO 3166-1 alpha-2 code such as SE",
                );
            }
        }
        if let Some(c) = self.currency.as_deref() {
            if !is_currency_code(c) {
                e.push("currency", "must be an ISO 4217 code such as SEK");
            }
        }
        e.opt_max_len("vat_number", self.vat_number.as_deref(), l.vat_number);
        // Every free text of a customer is one line: no control characters at all.
        for (field, value) in [
            ("name", Some(self.name.as_str())),
            ("organisation_number", self.organisation_number.as_deref()),
            ("email", self.email.as_deref()),
            ("phone", self.phone.as_deref()),
            ("address.line1", a.line1.as_deref()),
            ("address.line2", a.line2.as_deref()),
            ("address.postal_code", a.postal_code.as_deref()),
            ("address.city", a.city.as_deref()),
            ("vat_number", self.vat_number.as_deref()),
        ] {
            e.opt_plain_text(field, value, Lines::Single);
        }
        if self.reverse_charge_construction {
            if self.is_private_person {
                e.push(
                    "reverse_charge_construction",
                    "cannot apply to a private person",
                );
            }
            if self
                .vat_number
                .as_deref()
                .is_none_or(|v| v.trim().is_empty())
            {
                e.push(
                    "vat_number",
                    "is required when reverse_charge_construction is set",
                );
            }
        }
        e.finish()
    }

    /// A stable SHA-256 over the content that is sent to a provider: everything except our id,
    /// `updated_at` and read-only values. Blank texts count as absent, decimals by value.
    pub fn content_hash(&self) -> String {
        let a = &self.address;
        let v = json!({
            "v": 1,
            "name": self.name,
            "organisation_number": norm(&self.organisation_number),
            "email": norm(&self.email),
            "phone": norm(&self.phone),
            "address": {
                "line1": norm(&a.line1),
                "line2": norm(&a.line2),
                "postal_code": norm(&a.postal_code),
                "city": norm(&a.city),
                "country_code": norm(&a.country_code),
            },
            "currency": norm(&self.currency),
            "is_private_person": self.is_private_person,
            "vat_number": norm(&self.vat_number),
            "reverse_charge_construction": self.reverse_charge_construction,
            "active": self.active,
        });
        hash_value(&v)
    }
}

/// Our ids: 1 to [`MAX_ID_LEN`] printable characters without spaces at either end.
pub(crate) fn check_id(e: &mut FieldErrors, field: &str, id: &str) {
    if id.trim().is_empty() {
        e.push(field, "is required");
    } else if id.chars().count() > MAX_ID_LEN {
        e.push(field, format!("must be at most {MAX_ID_LEN} characters"));
    } else if id.trim() != id || id.chars().any(char::is_control) {
        e.push(
            field,
            "must not contain control characters or surrounding spaces",
        );
    }
}

fn looks_like_email(s: &str) -> bool {
    let mut parts = s.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
        }
        _ => false,
    }
}

/// A blank text is the same as no text (Fortnox sends `""` for null).
pub(crate) fn norm(v: &Option<String>) -> Value {
    match v.as_deref() {
        Some(s) if !s.trim().is_empty() => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

/// SHA-256 of a JSON value's compact text; object keys are written in a fixed order.
pub(crate) fn hash_value(v: &Value) -> String {
    // serde_json's map keeps keys sorted (or in insertion order, which is fixed here), so the
    // text is the same for the same content.
    sha256_hex(v.to_string().as_bytes())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Customer {
        Customer {
            id: "cust-1".into(),
            name: "Bygg AB".into(),
            organisation_number: Some("556677-8899".into()),
            email: Some("info@bygg.se".into()),
            phone: Some("090-12 34 56".into()),
            address: Address {
                line1: Some("Storgatan 1".into()),
                line2: None,
                postal_code: Some("903 26".into()),
                city: Some("Umeå".into()),
                country_code: Some("SE".into()),
            },
            currency: Some("SEK".into()),
            is_private_person: false,
            vat_number: Some("SE556677889901".into()),
            reverse_charge_construction: true,
            active: true,
            updated_at: None,
        }
    }

    const ROOMY: CustomerLimits = CustomerLimits {
        name: 1000,
        address_line: 1000,
        postal_code: 1000,
        city: 1000,
        email: 1000,
        phone: 1000,
        organisation_number: 1000,
        vat_number: 1000,
        address_required: false,
    };

    #[test]
    fn control_characters_are_refused_in_every_free_text_field_and_named() {
        assert_eq!(sample().validate(&ROOMY), Ok(()));
        type Set = fn(&mut Customer, String);
        let fields: [(&str, Set); 9] = [
            ("name", |c, v| c.name = v),
            ("organisation_number", |c, v| {
                c.organisation_number = Some(v)
            }),
            ("email", |c, v| c.email = Some(v)),
            ("phone", |c, v| c.phone = Some(v)),
            ("address.line1", |c, v| c.address.line1 = Some(v)),
            ("address.line2", |c, v| c.address.line2 = Some(v)),
            ("address.postal_code", |c, v| {
                c.address.postal_code = Some(v)
            }),
            ("address.city", |c, v| c.address.city = Some(v)),
            ("vat_number", |c, v| c.vat_number = Some(v)),
        ];
        for (field, set) in fields {
            // NUL, BEL, an ANSI escape, a line break, a tab: none belongs in a one-line field.
            for bad in [
                "a\0b",
                "ring\x07",
                "\x1b[31mröd",
                "rad\nrad",
                "a\tb",
                "x\u{9b}",
            ] {
                let mut c = sample();
                let value = if field == "email" {
                    format!("{bad}@bygg.se")
                } else {
                    bad.to_string()
                };
                set(&mut c, value);
                let errors = c.validate(&ROOMY).unwrap_err();
                assert!(
                    errors.iter().any(|e| e.field == field
                        && e.message.starts_with("must not contain control characters")),
                    "{field} = {bad:?}: {errors:?}"
                );
                assert!(
                    errors.iter().all(|e| e.field == field),
                    "only {field} is named: {errors:?}"
                );
            }
        }
    }

    #[test]
    fn hash_ignores_identity_time_and_blank_texts() {
        let a = sample();
        let mut b = sample();
        b.id = "other".into();
        b.updated_at = Some(Utc::now());
        b.address.line2 = Some(String::new());
        assert_eq!(a.content_hash(), b.content_hash());
        b.phone = Some("090-00 00 00".into());
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(a.content_hash().len(), 64);
    }

    #[test]
    fn json_is_snake_case_and_defaults_apply() {
        let c: Customer = serde_json::from_str(r#"{"id":"c1","name":"A"}"#).unwrap();
        assert!(c.active);
        assert!(!c.is_private_person);
        let v = serde_json::to_value(sample()).unwrap();
        assert!(v.get("organisation_number").is_some());
        assert!(v["address"].get("postal_code").is_some());
    }
}
