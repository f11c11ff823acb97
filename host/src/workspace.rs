//! Where the workspace is and how to authenticate to it (resolved by `auth`).
//!
//! Credentials stay in the host: the guest only ever sees `DATABRICKS_HOST`, and the egress
//! hooks attach the `Authorization` header to requests bound for the workspace.

use crate::auth::{self, Credentials, Source};
use crate::egress::{Origin, default_port};
use crate::env::{HOST_ENV, METADATA_SERVICE_URL_ENV, TOKEN_ENV};
use http::Uri;
use http::uri::Scheme;

/// The workspace the agent talks to.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// Normalised URL: `scheme://host[:port]`, no path, no trailing `/`.
    pub url: String,
    /// Scheme, host and port of `url`: the only origin credentials are sent to.
    pub origin: Origin,
    /// How to authenticate; its secrets are sensitive header values (`Debug` hides them).
    pub credentials: Credentials,
}

impl Workspace {
    /// Builds the workspace from a raw host string and an optional personal access token
    /// (`None` sends no credentials: for emulators that do not check).
    pub fn new(raw_host: &str, token: Option<String>) -> Result<Self, String> {
        let credentials = match token.filter(|t| !t.trim().is_empty()) {
            Some(t) => Credentials::pat(&t, &TOKEN_ENV).map_err(|e| e.to_string())?,
            None => Credentials::None,
        };
        Self::with_credentials(raw_host, &HOST_ENV, credentials)
    }

    /// `host_source` names the setting in error messages.
    pub fn with_credentials(
        raw_host: &str,
        host_source: &dyn std::fmt::Display,
        credentials: Credentials,
    ) -> Result<Self, String> {
        let url = normalize_host_from(host_source, raw_host)?;
        let origin = Origin::from_url(&url).map_err(|e| format!("{host_source}: {e}"))?;
        Ok(Self {
            url,
            origin,
            credentials,
        })
    }

    /// Resolves host and credentials like the Databricks SDKs: the environment, then the
    /// profile named by `--profile` (`profile`), `DATABRICKS_CONFIG_PROFILE` or `[DEFAULT]`.
    pub fn from_env(profile: Option<&str>) -> Result<Self, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        // The SDKs try a token before a metadata service, and one before client credentials.
        if let Some(url) = env(METADATA_SERVICE_URL_ENV)
            && env(TOKEN_ENV).is_none()
        {
            let host = env(HOST_ENV).ok_or_else(|| {
                format!(
                    "{} is set but {HOST_ENV} is not: name the workspace it has tokens for",
                    METADATA_SERVICE_URL_ENV
                )
            })?;
            let credentials = Credentials::MetadataService(auth::ServiceUrl::parse(&url)?);
            tracing::info!("workspace credentials: {}", credentials.describe());
            return Self::with_credentials(&host, &HOST_ENV, credentials);
        }
        let resolved =
            auth::resolve(|k| std::env::var(k).ok(), profile).map_err(|e| e.to_string())?;
        tracing::info!("workspace credentials: {}", resolved.summary);
        let source: &Source = &resolved.host_source;
        Self::with_credentials(&resolved.host, source, resolved.credentials)
    }
}

/// Turns what users paste as a host (`label`: an environment variable or a profile key, for
/// messages) into `scheme://host[:port]`.
///
/// `https://` is added when no scheme is given (as the SDKs do). Plain `http://` is only
/// accepted for loopback hosts, so a token is never sent in clear text over a network. A path,
/// query (`?o=123` from the browser bar) or trailing `/` is dropped.
pub fn normalize_host_from(label: &dyn std::fmt::Display, raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(format!("{label} is empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e| format!("{label} {trimmed:?} is not a URL: {e}"))?;
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{label} {trimmed:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "{label} {trimmed:?} must not contain credentials; use a token or client credentials"
        ));
    }
    if authority.host().is_empty() {
        return Err(format!("{label} {trimmed:?} has no host"));
    }
    let after_host = &authority.as_str()[authority.host().len()..];
    if !after_host.is_empty() && authority.port_u16().is_none() {
        return Err(format!("{label} {trimmed:?}: the port must be a number"));
    }
    let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTPS);
    let host = authority.host().to_ascii_lowercase();
    if scheme == Scheme::HTTP {
        if !is_loopback(&host) {
            return Err(format!(
                "{label} {trimmed:?}: http:// is only allowed for loopback hosts; use https://"
            ));
        }
    } else if scheme != Scheme::HTTPS {
        return Err(format!(
            "{label} {trimmed:?}: scheme must be https:// (or http:// on loopback)"
        ));
    }
    let port = match authority.port_u16() {
        Some(p) if Some(p) != default_port(&scheme) => format!(":{p}"),
        _ => String::new(),
    };
    Ok(format!("{scheme}://{host}{port}"))
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

    fn normalize_host(raw: &str) -> Result<String, String> {
        normalize_host_from(&HOST_ENV, raw)
    }

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
        assert!(matches!(ws.credentials, Credentials::None));
        let ws = Workspace::new("http://127.0.0.1:5000", Some("dapi1".into())).unwrap();
        assert_eq!(ws.origin.to_string(), "http://127.0.0.1:5000");
        assert!(matches!(ws.credentials, Credentials::Pat(_)));
        assert!(!format!("{ws:?}").contains("dapi1"));
    }

    #[test]
    fn host_errors_name_their_source() {
        let err = normalize_host("http://example.com").unwrap_err();
        assert!(
            err.starts_with("DATABRICKS_HOST \"http://example.com\""),
            "{err}"
        );
        let profile = Source::Profile {
            key: "host",
            profile: "dev".into(),
            path: "/home/u/.databrickscfg".into(),
        };
        let err = Workspace::with_credentials("exa mple", &profile, Credentials::None).unwrap_err();
        assert!(
            err.starts_with("host in profile [dev] of /home/u/.databrickscfg \"exa mple\""),
            "{err}"
        );
    }
}
