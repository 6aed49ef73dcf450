//! A readable summary of many violations: grouped by operation, direction and status, with
//! the distinct problems of each group counted.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{ContractViolation, Direction};

/// Most distinct problems listed per group.
const PROBLEMS_PER_GROUP: usize = 8;

/// Groups `violations` by (provider, method, operation, direction, status) and lists each
/// group's distinct problems (array indices folded to `*`), most frequent first. Empty when
/// there are none.
pub fn violation_report(violations: &[ContractViolation]) -> String {
    type Group = (String, String, String, &'static str, String);
    let mut groups: BTreeMap<Group, (usize, BTreeMap<String, usize>)> = BTreeMap::new();
    for v in violations {
        let key = (
            v.provider.to_string(),
            v.method.clone(),
            v.operation.clone().unwrap_or_else(|| v.path.clone()),
            match v.direction {
                Direction::Request => "request",
                Direction::Response => "response",
            },
            v.status.map(|s| s.to_string()).unwrap_or_default(),
        );
        let (count, problems) = groups.entry(key).or_default();
        *count += 1;
        for e in &v.errors {
            *problems.entry(fold_indices(e)).or_default() += 1;
        }
    }
    let mut out = String::new();
    if groups.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{} contract violation(s) in {} group(s):",
        violations.len(),
        groups.len()
    );
    for ((provider, method, operation, direction, status), (count, problems)) in groups {
        let status = if status.is_empty() {
            String::new()
        } else {
            format!(" {status}")
        };
        let _ = writeln!(
            out,
            "- {provider} {method} {operation} {direction}{status}: {count} time(s)"
        );
        let mut problems: Vec<(String, usize)> = problems.into_iter().collect();
        problems.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let more = problems.len().saturating_sub(PROBLEMS_PER_GROUP);
        for (problem, n) in problems.into_iter().take(PROBLEMS_PER_GROUP) {
            let _ = writeln!(out, "    {n}× {problem}");
        }
        if more > 0 {
            let _ = writeln!(out, "    … and {more} other problem(s)");
        }
    }
    out
}

/// `/Invoices/17/InvoiceRows/0/VAT: …` → `/Invoices/*/InvoiceRows/*/VAT: …`.
fn fold_indices(line: &str) -> String {
    let (path, rest) = line.split_once(": ").unwrap_or((line, ""));
    let folded: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                seg
            }
        })
        .collect();
    if rest.is_empty() {
        folded.join("/")
    } else {
        format!("{}: {rest}", folded.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderKind;

    fn v(path: &str, direction: Direction, errors: &[&str]) -> ContractViolation {
        ContractViolation {
            provider: ProviderKind::Fortnox,
            method: "GET".into(),
            path: path.into(),
            operation: Some("/3/invoices".into()),
            direction,
            status: Some(200),
            errors: errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn groups_and_folds() {
        assert_eq!(violation_report(&[]), "");
        let report = violation_report(&[
            v(
                "/3/invoices",
                Direction::Response,
                &["/Invoices/1/Total: \"1\" is not of type \"number\""],
            ),
            v(
                "/3/invoices",
                Direction::Response,
                &[
                    "/Invoices/7/Total: \"1\" is not of type \"number\"",
                    "/: undeclared field MetaInformation",
                ],
            ),
        ]);
        assert!(
            report.starts_with("2 contract violation(s) in 1 group(s):"),
            "{report}"
        );
        assert!(
            report.contains("- fortnox GET /3/invoices response 200: 2 time(s)"),
            "{report}"
        );
        assert!(
            report.contains("2× /Invoices/*/Total: \"1\" is not of type \"number\""),
            "{report}"
        );
        assert!(
            report.contains("1× /: undeclared field MetaInformation"),
            "{report}"
        );
    }
}
