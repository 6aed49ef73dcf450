//! Plays the user's part on the consent page, for tests of the product's OAuth flow.

use reqwest::header::LOCATION;
use reqwest::{Client, Response, Url};

use crate::consent::unescape;
use crate::SandboxError;

/// A reqwest client that does not follow redirects, as [`give_consent`] needs.
pub fn consent_client() -> Result<Client, SandboxError> {
    Ok(Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Opens `authorize_url` (the full provider URL the product built), approves or denies with
/// the preselected company and returns the `Location` of the provider's 302, i.e. the product's
/// callback URL with `code` and `state` or with `error`. `http` must not follow redirects
/// (use [`consent_client`]). When the authorize request itself is answered with an error
/// redirect, that `Location` is returned without a consent step.
pub async fn give_consent(
    http: &Client,
    authorize_url: &str,
    approve: bool,
) -> Result<String, SandboxError> {
    give_consent_for_company(http, authorize_url, approve, None).await
}

/// As [`give_consent`], picking `company` ([`crate::Company::key`]: Fortnox `DatabaseNumber`,
/// Visma company id) instead of the preselected one when given.
pub async fn give_consent_for_company(
    http: &Client,
    authorize_url: &str,
    approve: bool,
    company: Option<&str>,
) -> Result<String, SandboxError> {
    let page_url = Url::parse(authorize_url)
        .map_err(|e| SandboxError::Consent(format!("authorize URL {authorize_url:?}: {e}")))?;
    let response = http.get(page_url.clone()).send().await?;
    ensure_not_followed(&response, &page_url)?;
    if response.status().is_redirection() {
        return location(&response);
    }
    let status = response.status();
    let body = response.text().await?;
    if status != reqwest::StatusCode::OK {
        return Err(SandboxError::UnexpectedStatus {
            status: status.as_u16(),
            url: page_url.path().to_string(),
            body,
        });
    }
    let form = ConsentForm::parse(&body)?;
    let action = page_url
        .join(&form.action)
        .map_err(|e| SandboxError::Consent(format!("consent form action: {e}")))?;
    let mut fields = vec![
        ("consent_id", form.consent_id),
        (
            "decision",
            if approve { "approve" } else { "deny" }.to_string(),
        ),
    ];
    if let Some(company) = company.map(str::to_string).or(form.default_company) {
        fields.push(("company", company));
    }
    let response = http.post(action.clone()).form(&fields).send().await?;
    ensure_not_followed(&response, &action)?;
    if response.status().is_redirection() {
        return location(&response);
    }
    Err(SandboxError::UnexpectedStatus {
        status: response.status().as_u16(),
        url: action.path().to_string(),
        body: response.text().await?,
    })
}

fn ensure_not_followed(response: &Response, requested: &Url) -> Result<(), SandboxError> {
    if response.url() != requested {
        return Err(SandboxError::Consent(
            "the reqwest client followed a redirect; build it with \
             reqwest::redirect::Policy::none() (see sandbox::consent_client)"
                .to_string(),
        ));
    }
    Ok(())
}

fn location(response: &Response) -> Result<String, SandboxError> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| SandboxError::Consent("redirect without a Location header".to_string()))
}

/// The parts of the consent page's form that a decision needs.
struct ConsentForm {
    action: String,
    consent_id: String,
    default_company: Option<String>,
}

impl ConsentForm {
    fn parse(html: &str) -> Result<Self, SandboxError> {
        let missing = |what: &str| SandboxError::Consent(format!("consent page has no {what}"));
        let action = quoted_after(html, "<form method=\"post\" action=\"")
            .ok_or_else(|| missing("form action"))?;
        let consent_id = quoted_after(html, "name=\"consent_id\" value=\"")
            .ok_or_else(|| missing("consent_id"))?;
        let default_company = html.split("<option value=\"").skip(1).find_map(|rest| {
            let (value, tail) = rest.split_once('"')?;
            tail.starts_with(" selected").then(|| unescape(value))
        });
        Ok(ConsentForm {
            action,
            consent_id,
            default_company,
        })
    }
}

/// The double-quoted attribute value that follows `marker`, unescaped.
fn quoted_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let rest = &html[start..];
    let end = rest.find('"')?;
    Some(unescape(&rest[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use crate::consent::{consent_page, ConsentPage};
    use crate::provider::ProviderKind;

    #[test]
    fn reads_back_the_consent_page() {
        let config = SandboxConfig::with_defaults();
        let page = consent_page(&ConsentPage {
            provider: ProviderKind::Fortnox,
            consent_id: "abc-123_x",
            client_id: "app",
            scopes: vec![("customer", "Kunder")],
            companies: &config.fortnox_companies,
            action: "/fortnox/oauth-v1/auth/consent",
            service_account: false,
        });
        let form = ConsentForm::parse(&page.0).unwrap();
        assert_eq!(form.action, "/fortnox/oauth-v1/auth/consent");
        assert_eq!(form.consent_id, "abc-123_x");
        assert_eq!(form.default_company.as_deref(), Some("1234567"));
    }
}
