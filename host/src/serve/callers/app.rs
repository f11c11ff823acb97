//! `--callers app`: the caller the Databricks Apps proxy names. The proxy sets each identity
//! header once; a request carrying one twice, or a name no workspace identity could have, did
//! not come from it as sent, so it is refused rather than guessed at.

use http::HeaderMap;

/// The identity headers the Apps proxy sets.
const PROXY_HEADERS: [&str; 4] = [
    "x-forwarded-email",
    "x-forwarded-user",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
];
/// The one that names the caller: a user's e-mail, or a service principal's application id.
const EMAIL: &str = "x-forwarded-email";
/// Longest e-mail address (RFC 5321 path limit).
const MAX_NAME: usize = 254;

/// The caller's name, or why the headers cannot be the proxy's.
pub fn caller(headers: &HeaderMap) -> Result<String, String> {
    for name in PROXY_HEADERS {
        if headers.get_all(name).iter().count() > 1 {
            return Err(format!(
                "{name} appears more than once: the Databricks Apps proxy sets it once"
            ));
        }
    }
    let Some(value) = headers.get(EMAIL) else {
        return Err(
            "no X-Forwarded-Email: requests must come through the Databricks Apps proxy".into(),
        );
    };
    let name = value.to_str().map(str::trim).unwrap_or("");
    if !plausible(name) {
        return Err(format!(
            "X-Forwarded-Email {:?} is not a user's e-mail or an application id",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    Ok(name.to_string())
}

/// An e-mail address (`local@domain`) or an application id (a UUID), with nothing that could
/// break a log line or a SCIM filter.
fn plausible(name: &str) -> bool {
    let clean = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | ','));
    let email = name.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@')
    });
    clean && (email || uuid::Uuid::try_parse(name).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_email_names_the_caller() {
        let ok = headers(&[
            ("x-forwarded-email", " alice@example.com "),
            ("x-forwarded-preferred-username", "alice"),
        ]);
        assert_eq!(caller(&ok).unwrap(), "alice@example.com");
        let sp = "9f0c1a52-3b7e-4d5f-8a6b-0c1d2e3f4a5b";
        assert_eq!(caller(&headers(&[("x-forwarded-email", sp)])).unwrap(), sp);
        let alone = headers(&[("x-forwarded-preferred-username", "alice@example.com")]);
        assert!(caller(&alone).unwrap_err().contains("X-Forwarded-Email"));
    }

    #[test]
    fn twice_is_not_the_proxy() {
        for name in PROXY_HEADERS {
            let doubled = headers(&[
                ("x-forwarded-email", "alice@example.com"),
                (name, "a@example.com"),
                (name, "b@example.com"),
            ]);
            assert!(caller(&doubled).unwrap_err().contains(name), "{name}");
        }
    }

    #[test]
    fn implausible_names() {
        for bad in [
            "alice",
            "alice smith@example.com",
            "a@example.com 200 GET /x",
            "a\"@example.com",
            "@example.com",
            "a@localhost",
            "a@b@example.com",
            "not-a-uuid-at-all",
        ] {
            assert!(!plausible(bad), "{bad}");
        }
        assert!(plausible(&format!("{}@example.com", "a".repeat(200))));
        assert!(!plausible(&format!("{}@example.com", "a".repeat(300))));
    }
}
