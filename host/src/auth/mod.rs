//! Workspace credentials, resolved like the Databricks SDKs' "unified auth" and kept in the host.
//!
//! [`resolve`] decides what to use (environment first, then a `~/.databrickscfg` profile);
//! [`Authenticator`] produces the `Authorization` header of each workspace request (fixed for a
//! personal access token, cached and refreshed for OAuth M2M). The guest never sees any of it:
//! the egress hooks add the header on the way out.

mod metadata;
mod oauth;
mod profile;
mod resolve;
mod token;

pub use metadata::{MetadataSource, ServiceUrl};
pub use oauth::TokenSource;
pub use resolve::resolve;
pub use token::{RefreshPolicy, TokenError};

use crate::client::HttpClient;
use base64::Engine as _;
use http::HeaderValue;
use std::fmt;
use std::path::PathBuf;

/// Where one setting came from, for messages that tell the user what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Env(&'static str),
    Profile {
        key: &'static str,
        profile: String,
        path: PathBuf,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(var) => write!(f, "{var} (environment)"),
            Source::Profile { key, profile, path } => {
                write!(f, "{key} in profile [{profile}] of {}", path.display())
            }
        }
    }
}

/// How requests to the workspace are authenticated. The secrets live only inside sensitive
/// header values, which `Debug` prints as `Sensitive`.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// No `Authorization` header (only for tests and emulators that do not check).
    None,
    /// `Authorization: Bearer <personal access token>`.
    Pat(HeaderValue),
    /// OAuth machine-to-machine: `basic` is `Basic base64(client_id:client_secret)`.
    OAuthM2m {
        client_id: String,
        basic: HeaderValue,
    },
    /// The SDKs' metadata-service: a local service hands out the current token.
    MetadataService(ServiceUrl),
}

impl Credentials {
    /// A personal access token; `what` names it in the error (never the value itself).
    pub fn pat(token: &str, what: &dyn fmt::Display) -> Result<Self, ResolveError> {
        sensitive(&format!("Bearer {}", token.trim()), what).map(Credentials::Pat)
    }

    pub fn oauth_m2m(
        client_id: &str,
        client_secret: &str,
        what: &dyn fmt::Display,
    ) -> Result<Self, ResolveError> {
        let client_id = client_id.trim();
        // Basic auth splits at the first ':'; such an id could never authenticate.
        if client_id.contains(':') {
            return Err(ResolveError::InvalidValue {
                what: what.to_string(),
                reason: "a client id cannot contain ':'".into(),
            });
        }
        let pair = format!("{client_id}:{}", client_secret.trim());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Ok(Credentials::OAuthM2m {
            client_id: client_id.to_string(),
            basic: sensitive(&format!("Basic {encoded}"), what)?,
        })
    }

    /// For logs: the method, and the client id for M2M (not a secret).
    pub fn describe(&self) -> String {
        match self {
            Credentials::None => "no credentials".into(),
            Credentials::Pat(_) => "a personal access token".into(),
            Credentials::OAuthM2m { client_id, .. } => {
                format!("OAuth M2M as client id {client_id:?}")
            }
            Credentials::MetadataService(url) => format!("tokens from the metadata service {url}"),
        }
    }
}

fn sensitive(value: &str, what: &dyn fmt::Display) -> Result<HeaderValue, ResolveError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| ResolveError::InvalidValue {
        what: what.to_string(),
        reason: "contains characters that cannot be sent in an HTTP header".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// Why no usable configuration could be resolved. Messages name the settings and where they
/// came from, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot read the Databricks config file {}: {reason}", path.display())]
    UnreadableFile { path: PathBuf, reason: String },
    #[error("the Databricks config file {} is not valid: {reason}", path.display())]
    InvalidFile { path: PathBuf, reason: String },
    #[error(
        "profile [{name}] (named by {named_by}) was not found: {} does not exist",
        path.display()
    )]
    NoConfigFile {
        name: String,
        named_by: &'static str,
        path: PathBuf,
    },
    #[error(
        "profile [{name}] (named by {named_by}) was not found: no home directory to find \
         ~/.databrickscfg in; set DATABRICKS_CONFIG_FILE"
    )]
    NoHome {
        name: String,
        named_by: &'static str,
    },
    #[error(
        "profile [{name}] (named by {named_by}) is not in {}; profiles there: {}",
        path.display(),
        list(available)
    )]
    ProfileNotFound {
        name: String,
        named_by: &'static str,
        path: PathBuf,
        available: Vec<String>,
    },
    #[error("no workspace host: {hint}")]
    NoHost { hint: String },
    #[error("no credentials for {host}: {hint}")]
    NoCredentials { host: String, hint: String },
    #[error(
        "validate: more than one authorization method configured: oauth-m2m ({m2m}) and pat \
         ({pat}); remove one, or choose with DATABRICKS_AUTH_TYPE=pat|oauth-m2m"
    )]
    Conflict { pat: String, m2m: String },
    #[error("incomplete OAuth M2M credentials: {have} is set but {missing} is not")]
    IncompleteM2m { have: String, missing: String },
    #[error("auth type {auth_type:?} ({from}) needs {missing}, which is not set")]
    AuthTypeIncomplete {
        auth_type: String,
        from: Source,
        missing: String,
    },
    #[error(
        "auth type {auth_type:?} ({from}) is not supported here; sdp-agent supports pat and \
         oauth-m2m"
    )]
    UnsupportedAuthType { auth_type: String, from: Source },
    #[error("{what}: {reason}")]
    InvalidValue { what: String, reason: String },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("[{n}]"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Produces the `Authorization` header for workspace requests. One per agent, shared by every
/// concurrent call.
pub enum Authenticator {
    None,
    Static(HeaderValue),
    /// Boxed: the source holds a whole client, the other variants a header at most.
    OAuth(Box<TokenSource>),
    Metadata(Box<MetadataSource>),
}

impl Authenticator {
    /// `client` is the host's pooled client: the token endpoint is on the workspace itself.
    pub fn new(credentials: &Credentials, workspace_url: &str, client: &HttpClient) -> Self {
        match credentials {
            Credentials::None => Authenticator::None,
            Credentials::Pat(header) => Authenticator::Static(header.clone()),
            Credentials::OAuthM2m { client_id, basic } => {
                Authenticator::OAuth(Box::new(TokenSource::new(
                    workspace_url,
                    client_id,
                    basic.clone(),
                    client.clone(),
                    RefreshPolicy::default(),
                )))
            }
            Credentials::MetadataService(url) => Authenticator::Metadata(Box::new(
                MetadataSource::new(url.clone(), workspace_url, client.clone()),
            )),
        }
    }

    /// The header for the next workspace request; `None` when there are no credentials.
    pub async fn header(&self) -> Result<Option<HeaderValue>, TokenError> {
        match self {
            Authenticator::None => Ok(None),
            Authenticator::Static(header) => Ok(Some(header.clone())),
            Authenticator::OAuth(source) => source.header().await.map(Some),
            Authenticator::Metadata(source) => source.header().await.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let pat = Credentials::pat(" dapi-secret\n", &"DATABRICKS_TOKEN").unwrap();
        let Credentials::Pat(header) = &pat else {
            panic!("{pat:?}")
        };
        assert_eq!(header, "Bearer dapi-secret");
        assert!(!format!("{pat:?}").contains("dapi-secret"));

        let m2m = Credentials::oauth_m2m("svc", "dose-secret", &"client").unwrap();
        let Credentials::OAuthM2m { client_id, basic } = &m2m else {
            panic!("{m2m:?}")
        };
        assert_eq!(client_id, "svc");
        // base64("svc:dose-secret")
        assert_eq!(basic, "Basic c3ZjOmRvc2Utc2VjcmV0");
        assert!(!format!("{m2m:?}").contains("c3Zj"));
        assert_eq!(m2m.describe(), "OAuth M2M as client id \"svc\"");

        let err = Credentials::pat("dapi\u{1}x", &"DATABRICKS_TOKEN (environment)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "DATABRICKS_TOKEN (environment): contains characters that cannot be sent in an HTTP header"
        );
        assert!(Credentials::oauth_m2m("a:b", "s", &"client").is_err());
    }

    #[tokio::test]
    async fn static_and_absent_headers() {
        let client = HttpClient::new().unwrap();
        let none = Authenticator::new(&Credentials::None, "http://127.0.0.1:9", &client);
        assert_eq!(none.header().await.unwrap(), None);
        let pat = Credentials::pat("dapi-1", &"t").unwrap();
        let fixed = Authenticator::new(&pat, "http://127.0.0.1:9", &client);
        assert_eq!(fixed.header().await.unwrap().unwrap(), "Bearer dapi-1");
    }
}
