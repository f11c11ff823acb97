//! Where a request goes: an origin (scheme, host, port), and the `--allow-host` entries that
//! may match one.

use http::Uri;
use http::uri::{Authority, Scheme};
use std::fmt;

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

/// Scheme, lower-cased host (IPv6 in brackets) and effective port of a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses an absolute `http(s)://host[:port]…` URL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        Self::from_uri(&uri).ok_or_else(|| format!("{url:?} is not an absolute http(s) URL"))
    }

    /// `None` for relative URIs and schemes other than http/https.
    pub fn from_uri(uri: &Uri) -> Option<Self> {
        let scheme = uri.scheme()?;
        let authority = uri.authority()?;
        let port = authority.port_u16().or_else(|| default_port(scheme))?;
        Some(Self {
            scheme: scheme.as_str().to_ascii_lowercase(),
            host: authority.host().to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// One `--allow-host` entry: `HOST`, `HOST:PORT`, optionally prefixed by `http://`/`https://`.
/// A missing part matches anything (so `HOST` alone allows every port and both schemes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    pub scheme: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::str::FromStr for AllowedHost {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, rest)) => {
                let s = s.to_ascii_lowercase();
                if s != "http" && s != "https" {
                    return Err(format!("{raw:?}: scheme must be http or https"));
                }
                (Some(s), rest)
            }
            None => (None, raw),
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return Err(format!("{raw:?}: expected HOST or HOST:PORT"));
        }
        let authority: Authority = rest
            .parse()
            .map_err(|e| format!("{raw:?}: expected HOST or HOST:PORT ({e})"))?;
        if authority.host().is_empty() {
            return Err(format!("{raw:?}: empty host"));
        }
        // `Authority` accepts `host:junk` and reports no port; a typo must not mean "any port".
        let after_host = &authority.as_str()[authority.host().len()..];
        if !after_host.is_empty() && authority.port_u16().is_none() {
            return Err(format!("{raw:?}: port must be a number 0-65535"));
        }
        Ok(Self {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }
}

impl AllowedHost {
    pub(super) fn matches(&self, origin: &Origin) -> bool {
        self.host == origin.host
            && self.port.is_none_or(|p| p == origin.port)
            && self.scheme.as_ref().is_none_or(|s| *s == origin.scheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_host_parse_errors() {
        for bad in [
            "",
            "ftp://x.com",
            "x.com/path",
            "u@x.com",
            "x.com:notaport",
            "x.com:",
            "x.com:70000",
        ] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad:?} should fail");
        }
        let ok: AllowedHost = "https://X.com/".parse().unwrap();
        assert_eq!(
            ok,
            AllowedHost {
                scheme: Some("https".into()),
                host: "x.com".into(),
                port: None
            }
        );
    }
}
