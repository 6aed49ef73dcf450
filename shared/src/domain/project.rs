//! The canonical project: a construction or service project (often one per work order) that
//! invoices and their rows are booked on (Fortnox `/3/projects`, Visma `/v2/projects`). Synced
//! both ways like customers; the project number is the key both sides share (invoices and rows
//! name it in `project`).

use super::customer::{check_id, hash_value, norm};
use super::money::{FieldError, FieldErrors};
use super::text::Lines;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where a project stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// Not started (Fortnox `NOTSTARTED`; Visma has no such status and shows it as ongoing).
    NotStarted,
    /// Under way (Fortnox `ONGOING`, Visma `Status` 1).
    #[default]
    Ongoing,
    /// Finished (Fortnox `COMPLETED`, Visma `Status` 2).
    Completed,
}

/// A project as our side knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Our id of the project.
    pub id: String,
    /// Project number, shared with the provider (Fortnox `ProjectNumber`, Visma `Number`).
    pub number: String,
    /// Name (Fortnox `Description`, Visma `Name`).
    pub name: String,
    /// Status.
    #[serde(default)]
    pub status: ProjectStatus,
    /// First day.
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    /// Last day.
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// Our id of the customer the project is for. Visma keeps it (`CustomerId`); Fortnox's
    /// project has no customer (`fortnox_Project_ProjectSinglePayloadItem` has no such field),
    /// so a project read from Fortnox has none. In records read from a provider this holds the
    /// provider's id until the sync maps it, as an invoice's does.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// When the record last changed on the side it was read from.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Field lengths a provider accepts for a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectLimits {
    /// `number`.
    pub number: usize,
    /// `name`.
    pub name: usize,
}

impl Project {
    /// Checks the record against `l`; every error names its field.
    pub fn validate(&self, l: &ProjectLimits) -> Result<(), Vec<FieldError>> {
        let mut e = FieldErrors::default();
        check_id(&mut e, "id", &self.id);
        e.required("number", &self.number);
        e.max_len("number", &self.number, l.number);
        if self.number.chars().any(|c| c.is_whitespace() || c == '/') {
            e.push("number", "must not contain spaces or slashes");
        }
        e.required("name", &self.name);
        e.max_len("name", &self.name, l.name);
        e.plain_text("number", &self.number, Lines::Single);
        e.plain_text("name", &self.name, Lines::Single);
        if let (Some(s), Some(end)) = (self.start_date, self.end_date) {
            if end < s {
                e.push("end_date", "must not be before start_date");
            }
        }
        if let Some(c) = self.customer_id.as_deref() {
            check_id(&mut e, "customer_id", c);
        }
        e.finish()
    }

    /// A stable SHA-256 over the content sent to a provider.
    pub fn content_hash(&self) -> String {
        hash_value(&json!({
            "v": 1,
            "number": self.number,
            "name": self.name,
            "status": self.status,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "customer_id": norm(&self.customer_id),
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const LIMITS: ProjectLimits = ProjectLimits {
        number: 9,
        name: 50,
    };

    pub(crate) fn sample() -> Project {
        Project {
            id: "prj-1".into(),
            number: "P-1001".into(),
            name: "Badrumsrenovering Storgatan 1".into(),
            status: ProjectStatus::Ongoing,
            start_date: NaiveDate::from_ymd_opt(2026, 11, 2),
            end_date: NaiveDate::from_ymd_opt(2026, 12, 18),
            customer_id: Some("cust-1".into()),
            updated_at: None,
        }
    }

    #[test]
    fn a_good_project_passes() {
        assert_eq!(sample().validate(&LIMITS), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let mut p = sample();
        p.number = "P-100000001".into();
        p.name = " ".into();
        p.end_date = NaiveDate::from_ymd_opt(2026, 10, 1);
        p.customer_id = Some(String::new());
        let errs = p.validate(&LIMITS).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["number", "name", "end_date", "customer_id"]);
    }

    #[test]
    fn the_hash_sees_the_status_not_our_id() {
        let a = sample();
        let mut b = sample();
        b.id = "x".into();
        assert_eq!(a.content_hash(), b.content_hash());
        b.status = ProjectStatus::Completed;
        assert_ne!(a.content_hash(), b.content_hash());
    }
}
