//! Return URLs: only origins on the allow-list, so the callback is never an open redirect.

use crate::Config;
use url::Url;

/// Checks a caller's return URL, or takes the default one when none is given.
pub fn resolve(raw: Option<&str>, config: &Config) -> Result<Url, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(config.default_return_url.clone()),
        Some(raw) => check(raw, &config.allowed_return_origins),
    }
}

/// Accepts an absolute http(s) URL without credentials whose origin is allowed.
pub fn check(raw: &str, allowed: &[url::Origin]) -> Result<Url, String> {
    let mut url =
        Url::parse(raw).map_err(|e| format!("`return_url` is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("`return_url` must be an http(s) URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`return_url` must not carry credentials".into());
    }
    if !allowed.contains(&url.origin()) {
        return Err(format!(
            "`return_url` origin {} is not on the allow-list",
            url.origin().ascii_serialization()
        ));
    }
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<url::Origin> {
        ["https://app.example.se", "http://localhost:3000"]
            .iter()
            .map(|u| Url::parse(u).unwrap().origin())
            .collect()
    }

    #[test]
    fn accepts_allowed_origins_only() {
        assert!(check(
            "https://app.example.se/settings/integrations?x=1",
            &allowed()
        )
        .is_ok());
        assert!(check("http://localhost:3000/", &allowed()).is_ok());
        for bad in [
            "https://evil.example.se/",
            "https://app.example.se.evil.com/",
            "http://app.example.se/",
            "https://app.example.se:8443/",
            "javascript:alert(1)",
            "//app.example.se/x",
            "https://user:pw@app.example.se/",
            "/relative",
        ] {
            assert!(check(bad, &allowed()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn drops_fragments() {
        let u = check("https://app.example.se/a#frag", &allowed()).unwrap();
        assert_eq!(u.as_str(), "https://app.example.se/a");
    }
}
