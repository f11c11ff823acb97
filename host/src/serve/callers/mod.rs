//! Who may call the endpoint (`--callers`, `--allow-group`): the identity behind each request,
//! checked before it takes a slot, and cached briefly so a burst costs one check per caller.
//!
//! - `workspace`: `Authorization: Bearer <Databricks token>`, checked with SCIM `Me` using the
//!   caller's own token (never the deployment's).
//! - `app`: behind the Databricks Apps proxy, which authenticates users and names them in
//!   `X-Forwarded-Email`; groups are looked up with the app's own credentials.
//! - `none`: no check.
//!
//! The caller's token serves this check only: [`strip_credentials`] removes it before the
//! request reaches the component, and it is never logged (cache keys are its SHA-256).

mod scim;

use crate::auth::Authenticator;
use crate::cli::CallerPolicy;
use crate::client::HttpClient;
use crate::env::APP_PORT_ENV;
use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use moka::future::Cache;
use scim::Scim;
pub use scim::{CheckFailed, Identity};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The identity headers the Apps proxy sets, most specific first.
const APP_IDENTITY_HEADERS: [&str; 2] = ["x-forwarded-email", "x-forwarded-preferred-username"];
/// Set by the Apps proxy when the app acts on behalf of the user: the user's own token.
const APP_USER_TOKEN: &str = "x-forwarded-access-token";
/// How long an answer (admit or refusal) is reused.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Distinct callers remembered at most; the least used are forgotten first.
const CACHE_CAPACITY: u64 = 10_000;
/// Longest wait for one identity check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The policy `serve` runs with, or the one-line usage error (exit 2) when the flags do not
/// add up. `in_app`: whether this process runs as a Databricks App. The second value is a
/// warning to print at start.
pub fn choose(
    listen: SocketAddr,
    callers: Option<CallerPolicy>,
    groups: &[String],
    in_app: bool,
) -> Result<(CallerPolicy, Option<String>), String> {
    let loopback = listen.ip().is_loopback();
    let policy = match callers {
        Some(policy) => policy,
        None if loopback => CallerPolicy::None,
        None => {
            return Err(format!(
                "refusing to listen on {listen} without --callers: say who may call it \
                 (--callers workspace, app or none)"
            ));
        }
    };
    if groups.iter().any(|g| g.trim().is_empty()) {
        return Err("--allow-group: a group name cannot be empty".into());
    }
    match policy {
        CallerPolicy::None if !groups.is_empty() => {
            Err("--allow-group needs --callers workspace or app (none checks nobody)".into())
        }
        CallerPolicy::App if !in_app => Err(format!(
            "--callers app trusts the headers of the Databricks Apps proxy, so it only runs \
             inside an App ({APP_PORT_ENV} is not set); use --callers workspace elsewhere"
        )),
        CallerPolicy::None if !loopback => Ok((
            policy,
            Some(format!(
                "warning: --callers none on {listen}: anyone who can reach this port can start \
                 job runs with this deployment's credentials"
            )),
        )),
        _ => Ok((policy, None)),
    }
}

/// Whether this process runs as a Databricks App.
pub fn in_app() -> bool {
    std::env::var(APP_PORT_ENV).is_ok_and(|v| !v.trim().is_empty())
}

/// A request's caller, once admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The workspace user name (an e-mail, or a service principal's application id).
    pub user_name: String,
}

/// Why a request is not let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, or credentials the workspace does not accept (401).
    Unauthenticated { reason: String, bad_token: bool },
    /// A known identity outside every `--allow-group` (403).
    Denied(String),
    /// The identity could not be checked (503).
    Unavailable(String),
}

/// What a lookup found; refusals are cached too, so a bad token does not cost a check each time.
#[derive(Clone, Debug)]
enum Lookup {
    Known(Arc<Identity>),
    Unknown,
}

enum Mode {
    Open,
    Workspace,
    /// With the app's own credentials for group lookups.
    App(Arc<Authenticator>),
}

/// The caller check of one server.
pub struct Gate {
    mode: Mode,
    groups: Vec<String>,
    scim: Scim,
    cache: Cache<[u8; 32], Lookup>,
}

impl Gate {
    /// `auth` is the deployment's (used only in app mode, for group lookups).
    pub fn new(
        policy: CallerPolicy,
        groups: Vec<String>,
        workspace_url: &str,
        client: HttpClient,
        auth: Arc<Authenticator>,
        check_timeout: Duration,
    ) -> Self {
        let mode = match policy {
            CallerPolicy::None => Mode::Open,
            CallerPolicy::Workspace => Mode::Workspace,
            CallerPolicy::App => Mode::App(auth),
        };
        Self {
            mode,
            groups,
            scim: Scim::new(workspace_url, client, check_timeout),
            cache: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// The caller of a request with these headers (`None` when callers are not checked).
    pub async fn check(&self, headers: &HeaderMap) -> Result<Option<Caller>, Refusal> {
        let identity = match &self.mode {
            Mode::Open => return Ok(None),
            Mode::Workspace => self.workspace_identity(headers).await?,
            Mode::App(auth) => self.app_identity(headers, auth).await?,
        };
        let allowed =
            self.groups.is_empty() || identity.groups.iter().any(|g| self.groups.contains(g));
        if !allowed {
            return Err(Refusal::Denied(format!(
                "{} is not in any group allowed to call this endpoint (--allow-group)",
                identity.user_name
            )));
        }
        Ok(Some(Caller {
            user_name: identity.user_name.clone(),
        }))
    }

    async fn workspace_identity(&self, headers: &HeaderMap) -> Result<Arc<Identity>, Refusal> {
        let Some(authorization) = bearer(headers) else {
            return Err(Refusal::Unauthenticated {
                reason: "this endpoint needs a Databricks token: Authorization: Bearer <token>"
                    .into(),
                bad_token: false,
            });
        };
        let key = key("token", authorization.as_bytes());
        let lookup = self
            .cache
            .try_get_with(key, async {
                let found = self.scim.me(authorization).await?;
                Ok::<_, CheckFailed>(found.map_or(Lookup::Unknown, |i| Lookup::Known(Arc::new(i))))
            })
            .await
            .map_err(|e: Arc<CheckFailed>| Refusal::Unavailable(e.to_string()))?;
        match lookup {
            Lookup::Known(identity) => Ok(identity),
            Lookup::Unknown => Err(Refusal::Unauthenticated {
                reason: "the workspace does not accept this token".into(),
                bad_token: true,
            }),
        }
    }

    async fn app_identity(
        &self,
        headers: &HeaderMap,
        auth: &Authenticator,
    ) -> Result<Arc<Identity>, Refusal> {
        let Some(user_name) = APP_IDENTITY_HEADERS
            .iter()
            .find_map(|h| headers.get(*h)?.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        else {
            return Err(Refusal::Unauthenticated {
                reason: "no X-Forwarded-Email: requests must come through the Databricks Apps \
                         proxy"
                    .into(),
                bad_token: false,
            });
        };
        // Without groups the proxy's word is all there is to know.
        if self.groups.is_empty() {
            return Ok(Arc::new(Identity {
                user_name: user_name.to_string(),
                groups: Vec::new(),
            }));
        }
        let key = key("user", user_name.to_ascii_lowercase().as_bytes());
        let lookup = self
            .cache
            .try_get_with(key, async {
                let authorization = auth
                    .header()
                    .await
                    .map_err(|e| CheckFailed(format!("the app's own credentials: {e}")))?;
                let found = self.scim.find_user(user_name, authorization).await?;
                Ok::<_, CheckFailed>(found.map_or(Lookup::Unknown, |i| Lookup::Known(Arc::new(i))))
            })
            .await
            .map_err(|e: Arc<CheckFailed>| Refusal::Unavailable(e.to_string()))?;
        match lookup {
            Lookup::Known(identity) => Ok(identity),
            Lookup::Unknown => Err(Refusal::Denied(format!(
                "{user_name} is not a user of this workspace"
            ))),
        }
    }
}

/// The `Authorization` value when it is a bearer token (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<HeaderValue> {
    let value = headers.get(AUTHORIZATION)?;
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| value.clone())
}

/// Cache key: a digest, so the cache never holds a token.
fn key(kind: &str, secret: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(kind.as_bytes());
    digest.update([0]);
    digest.update(secret);
    digest.finalize().into()
}

/// Removes every header that carries the caller's credentials, so the component never sees
/// them (whatever `--callers` says).
pub fn strip_credentials(headers: &mut HeaderMap) {
    for name in [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE] {
        headers.remove(name);
    }
    headers.remove(HeaderName::from_static(APP_USER_TOKEN));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn policy_from_the_flags() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6_local: SocketAddr = "[::1]:8080".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let groups = vec!["data-eng".to_string()];
        let (workspace, app, nobody) = (
            CallerPolicy::Workspace,
            CallerPolicy::App,
            CallerPolicy::None,
        );
        assert_eq!(choose(local, None, &[], false), Ok((nobody, None)));
        assert_eq!(choose(v6_local, None, &[], false), Ok((nobody, None)));
        let refused = choose(open, None, &[], false).unwrap_err();
        assert!(
            refused.contains("--callers") && !refused.contains('\n'),
            "{refused}"
        );
        let (policy, warning) = choose(open, Some(nobody), &[], false).unwrap();
        assert_eq!(policy, nobody);
        assert!(warning.unwrap().contains("anyone"));
        assert_eq!(
            choose(open, Some(workspace), &groups, false),
            Ok((workspace, None))
        );
        let err = choose(local, Some(nobody), &groups, false).unwrap_err();
        assert!(err.contains("--allow-group"), "{err}");
        let err = choose(local, Some(workspace), &["".into()], false).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let outside = choose(open, Some(app), &[], false).unwrap_err();
        assert!(outside.contains(APP_PORT_ENV), "{outside}");
        assert_eq!(choose(open, Some(app), &groups, true), Ok((app, None)));
    }

    #[test]
    fn bearer_tokens_only() {
        assert!(bearer(&headers(&[("authorization", "Bearer abc")])).is_some());
        assert!(bearer(&headers(&[("authorization", "bearer abc")])).is_some());
        assert!(bearer(&headers(&[("authorization", "Basic YTpi")])).is_none());
        assert!(bearer(&headers(&[("authorization", "Bearer  ")])).is_none());
        assert!(bearer(&headers(&[])).is_none());
    }

    #[test]
    fn credentials_never_reach_the_component() {
        let mut map = headers(&[
            ("authorization", "Bearer secret"),
            ("proxy-authorization", "Basic x"),
            ("cookie", "session=1"),
            ("x-forwarded-access-token", "user-token"),
            ("x-forwarded-email", "a@example.com"),
            ("content-type", "application/json"),
        ]);
        strip_credentials(&mut map);
        let mut left: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-forwarded-email"]);
    }

    #[test]
    fn keys_hide_the_secret_and_separate_kinds() {
        let a = key("token", b"Bearer t");
        assert_eq!(a, key("token", b"Bearer t"));
        assert_ne!(a, key("user", b"Bearer t"));
        assert!(!a.windows(8).any(|w| w == b"Bearer t"));
    }
}
