//! HTML of the consent and error pages, one look per provider.
//!
//! `give_consent` reads these pages back: keep the `consent_id` input, the form `action` and
//! the `selected` company option in the shape written here.

use axum::response::Html;

use crate::config::Company;
use crate::provider::ProviderKind;

/// What the consent page shows.
pub(crate) struct ConsentPage<'a> {
    pub provider: ProviderKind,
    pub consent_id: &'a str,
    pub client_id: &'a str,
    /// Scope and its description.
    pub scopes: Vec<(&'a str, &'static str)>,
    pub companies: &'a [Company],
    pub action: &'a str,
    pub service_account: bool,
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`].
pub(crate) fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

struct Look {
    title: &'static str,
    brand: &'static str,
    accent: &'static str,
    background: &'static str,
    heading: &'static str,
    company_label: &'static str,
    approve: &'static str,
    deny: &'static str,
}

fn look(provider: ProviderKind) -> Look {
    match provider {
        ProviderKind::Fortnox => Look {
            title: "Fortnox – Godkänn integration",
            brand: "Fortnox",
            accent: "#1a8754",
            background: "#f2f7f4",
            heading: "vill få åtkomst till ditt Fortnox-konto",
            company_label: "Välj företag",
            approve: "Godkänn",
            deny: "Neka",
        },
        ProviderKind::Visma => Look {
            title: "Visma Online – Ge åtkomst",
            brand: "Visma eEkonomi",
            accent: "#0d5ea6",
            background: "#eef3f9",
            heading: "begär åtkomst till ditt företag i Visma eEkonomi",
            company_label: "Välj företag (konto)",
            approve: "Tillåt",
            deny: "Avbryt",
        },
    }
}

fn shell(look: &Look, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>\n\
         body {{ font-family: sans-serif; background: {bg}; margin: 0; }}\n\
         header {{ background: {accent}; color: #fff; padding: 12px 24px; font-weight: bold; }}\n\
         main {{ max-width: 560px; margin: 32px auto; background: #fff; padding: 24px; \
         border-radius: 6px; }}\n\
         button {{ padding: 8px 20px; margin-right: 12px; }}\n\
         button[value=approve] {{ background: {accent}; color: #fff; border: 0; }}\n\
         </style>\n</head>\n<body>\n<header>{brand} (sandbox)</header>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        title = escape(look.title),
        bg = look.background,
        accent = look.accent,
        brand = escape(look.brand),
    )
}

/// The consent page: app, scopes, a company picker and approve / deny buttons.
pub(crate) fn consent_page(page: &ConsentPage<'_>) -> Html<String> {
    let look = look(page.provider);
    let mut body = format!(
        "<h1><span class=\"app\">{}</span> {}</h1>\n",
        escape(page.client_id),
        escape(look.heading)
    );
    if page.service_account {
        body.push_str(
            "<p class=\"service-account\">Integrationen installeras som servicekonto \
             (kräver systemadministratör).</p>\n",
        );
    }
    body.push_str("<ul class=\"scopes\">\n");
    for (scope, description) in &page.scopes {
        body.push_str(&format!(
            "<li data-scope=\"{}\"><code>{}</code> {}</li>\n",
            escape(scope),
            escape(scope),
            escape(description)
        ));
    }
    body.push_str("</ul>\n");
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\">\n\
         <input type=\"hidden\" name=\"consent_id\" value=\"{}\">\n\
         <label for=\"company\">{}</label>\n<select name=\"company\" id=\"company\">\n",
        escape(page.action),
        escape(page.consent_id),
        escape(look.company_label)
    ));
    for (i, company) in page.companies.iter().enumerate() {
        body.push_str(&format!(
            "<option value=\"{}\"{}>{} ({})</option>\n",
            escape(&company.key(page.provider)),
            if i == 0 { " selected" } else { "" },
            escape(&company.name),
            escape(&company.organization_number)
        ));
    }
    body.push_str(&format!(
        "</select>\n<p>\n\
         <button type=\"submit\" name=\"decision\" value=\"approve\">{}</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">{}</button>\n\
         </p>\n</form>\n",
        escape(look.approve),
        escape(look.deny)
    ));
    Html(shell(&look, &body))
}

/// An error page for requests that must not be redirected (unknown app, bad redirect URI).
pub(crate) fn error_page(provider: ProviderKind, title: &str, message: &str) -> Html<String> {
    let look = look(provider);
    let body = format!(
        "<h1 class=\"error\">{}</h1>\n<p class=\"error-message\">{}</p>\n",
        escape(title),
        escape(message)
    );
    Html(shell(&look, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips() {
        let text = "Bygg & Service <\"AB\"> 'x'";
        assert_eq!(unescape(&escape(text)), text);
        assert!(!escape(text).contains('<'));
    }
}
