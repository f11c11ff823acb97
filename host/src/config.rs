//! Where the workspace is and how to authenticate to it, read from the host environment.
//!
//! The token stays in the host: the guest only ever sees `DATABRICKS_HOST`, and the egress
//! hooks attach the token to requests bound for the workspace.

use crate::egress::Origin;
use http::Uri;
use http::uri::Scheme;

/// Host environment variable naming the workspace.
pub const HOST_ENV: &str = "DATABRICKS_HOST";
/// Host environment variable holding the personal access token.
pub const TOKEN_ENV: &str = "DATABRICKS_TOKEN";
/// Optional model endpoint name, passed through to the guest.
pub const CLAUDE_ENDPOINT_ENV: &str = "CLAUDE_ENDPOINT_NAME";

/// The workspace the agent talks to.
#[derive(Clone)]
pub struct Workspace {
    /// Normalised URL: `scheme://host[:port]`, no path, no trailing `/`.
    pub url: String,
    /// Scheme, host and port of `url`: the only origin credentials are sent to.
    pub origin: Origin,
    /// Bearer token; `None` runs unauthenticated (the workspace will answer 401).
    pub token: Option<String>,
}

// Hand-written so the token can never end up in a log line through `{:?}`.
impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Workspace {
    /// Builds the workspace from a raw host string and an optional token.
    pub fn new(raw_host: &str, token: Option<String>) -> Result<Self, String> {
        let url = normalize_host(raw_host)?;
        let origin = Origin::from_url(&url).map_err(|e| format!("{HOST_ENV}: {e}"))?;
        let token = token.filter(|t| !t.trim().is_empty());
        Ok(Self { url, origin, token })
    }

    /// Reads `DATABRICKS_HOST` and `DATABRICKS_TOKEN`.
    pub fn from_env() -> Result<Self, String> {
        let host = std::env::var(HOST_ENV)
            .ok()
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| {
                format!("{HOST_ENV} is not set: export the workspace URL, e.g. https://adb-123.4.azuredatabricks.net")
            })?;
        Self::new(&host, std::env::var(TOKEN_ENV).ok())
    }
}

/// Turns what users paste as `DATABRICKS_HOST` into `scheme://host[:port]`.
///
/// `https://` is added when no scheme is given (as the SDKs do). Plain `http://` is only
/// accepted for loopback hosts, so a token is never sent in clear text over a network. A path,
/// query (`?o=123` from the browser bar) or trailing `/` is dropped.
pub fn normalize_host(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(format!("{HOST_ENV} is empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e| format!("{HOST_ENV}={trimmed:?} is not a URL: {e}"))?;
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{HOST_ENV}={trimmed:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "{HOST_ENV}={trimmed:?} must not contain credentials; use {TOKEN_ENV}"
        ));
    }
    if authority.host().is_empty() {
        return Err(format!("{HOST_ENV}={trimmed:?} has no host"));
    }
    let after_host = &authority.as_str()[authority.host().len()..];
    if !after_host.is_empty() && authority.port_u16().is_none() {
        return Err(format!("{HOST_ENV}={trimmed:?}: the port must be a number"));
    }
    let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTPS);
    let host = authority.host().to_ascii_lowercase();
    if scheme == Scheme::HTTP {
        if !is_loopback(&host) {
            return Err(format!(
                "{HOST_ENV}={trimmed:?}: http:// is only allowed for loopback hosts; use https://"
            ));
        }
    } else if scheme != Scheme::HTTPS {
        return Err(format!(
            "{HOST_ENV}={trimmed:?}: scheme must be https:// (or http:// on loopback)"
        ));
    }
    let port = match authority.port_u16() {
        Some(p) if Some(p) != default_port(&scheme) => format!(":{p}"),
        _ => String::new(),
    };
    Ok(format!("{scheme}://{host}{port}"))
}

/// 443 for https, 80 for http.
pub fn default_port(scheme: &Scheme) -> Option<u16> {
    if *scheme == Scheme::HTTPS {
        Some(443)
    } else if *scheme == Scheme::HTTP {
        Some(80)
    } else {
        None
    }
}

/// `localhost`, `127.0.0.0/8` or `[::1]`: where a test workspace (the emulator) may listen.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_https_and_strips_slash() {
        assert_eq!(
            normalize_host("adb-1.2.azuredatabricks.net/").unwrap(),
            "https://adb-1.2.azuredatabricks.net"
        );
        assert_eq!(
            normalize_host("  https://Dbc-X.cloud.databricks.com///  ").unwrap(),
            "https://dbc-x.cloud.databricks.com"
        );
    }

    #[test]
    fn drops_query_path_and_default_port() {
        assert_eq!(
            normalize_host("https://adb-1.2.azuredatabricks.net/?o=12345#job").unwrap(),
            "https://adb-1.2.azuredatabricks.net"
        );
        assert_eq!(
            normalize_host("https://example.com:443/x").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            normalize_host("https://example.com:8443").unwrap(),
            "https://example.com:8443"
        );
    }

    #[test]
    fn http_only_on_loopback() {
        assert_eq!(
            normalize_host("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_host("http://localhost:1").unwrap(),
            "http://localhost:1"
        );
        assert_eq!(normalize_host("http://[::1]:9").unwrap(), "http://[::1]:9");
        assert!(normalize_host("http://example.com").is_err());
        assert!(normalize_host("ftp://example.com").is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(normalize_host("").is_err());
        assert!(normalize_host("   ").is_err());
        assert!(normalize_host("https://user:pw@example.com").is_err());
        assert!(normalize_host("https://exa mple.com").is_err());
        assert!(normalize_host("https://example.com:abc").is_err());
        assert!(normalize_host("example.com:").is_err());
    }

    #[test]
    fn workspace_origin_and_token() {
        let ws = Workspace::new("example.com", Some("  ".into())).unwrap();
        assert_eq!(ws.url, "https://example.com");
        assert_eq!(ws.origin.to_string(), "https://example.com:443");
        assert!(ws.token.is_none());
        let ws = Workspace::new("http://127.0.0.1:5000", Some("dapi1".into())).unwrap();
        assert_eq!(ws.origin.to_string(), "http://127.0.0.1:5000");
        assert!(!format!("{ws:?}").contains("dapi1"));
    }
}
