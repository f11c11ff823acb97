//! Who may call the endpoint (`--callers`, `--allow-group`): the identity behind each request,
//! checked before it takes a slot, and cached briefly so a burst costs one check per caller.
//!
//! - `workspace`: `Authorization: Bearer <Databricks token>`: an OAuth token must be this
//!   workspace's, for its APIs ([`audience`]); then SCIM `Me` with the caller's own token
//!   (never the deployment's) says who it is.
//! - `app`: behind the Databricks Apps proxy, which authenticates users and names them in
//!   `X-Forwarded-Email`; groups are looked up with the app's own credentials.
//! - `none`: no check.
//!
//! The caller's token serves this check only: [`strip_credentials`] removes it before the
//! request reaches the component, and it is never logged (cache keys are its SHA-256).
//!
//! Only uncached checks cost the workspace anything, so only they are limited ([`limits`]).

mod app;
mod audience;
mod flags;
mod limits;
mod loopback;
mod scim;

use crate::auth::Authenticator;
use crate::cli::CallerPolicy;
use crate::client::HttpClient;
use audience::{Audience, Verdict};
pub use flags::{app_port, choose};
use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, PROXY_AUTHORIZATION};
use limits::{CheckLimits, Held};
pub use loopback::Loopback;
use moka::future::Cache;
use scim::Scim;
pub use scim::{CheckFailed, Identity};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Set by the Apps proxy when the app acts on behalf of the user: the user's own token.
const APP_USER_TOKEN: &str = "x-forwarded-access-token";
/// How long an answer (admit or refusal) is reused.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Distinct callers remembered at most; the least used are forgotten first.
const CACHE_CAPACITY: u64 = 10_000;
/// Longest wait for one identity check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// `Retry-After` when nothing says better.
const RETRY_SOON: Duration = Duration::from_secs(1);

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
    /// A known identity outside every `--allow-group`, or a request from a web page (403).
    Denied(String),
    /// Too many uncached checks from this address or from everybody (429).
    Limited { retry_after: Duration },
    /// The identity could not be checked (503).
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
}

impl From<Held> for Refusal {
    fn from(held: Held) -> Self {
        match held {
            Held::Limited { retry_after } => Refusal::Limited { retry_after },
            Held::WorkspaceBusy { retry_after } => Refusal::Unavailable {
                reason: "the workspace is throttling identity checks (HTTP 429)".into(),
                retry_after,
            },
        }
    }
}

impl From<CheckFailed> for Refusal {
    fn from(failed: CheckFailed) -> Self {
        Refusal::Unavailable {
            reason: failed.message,
            retry_after: failed.back_off.unwrap_or(RETRY_SOON),
        }
    }
}

/// Why an uncached check did not happen or did not conclude (never cached).
#[derive(Debug)]
enum Unchecked {
    Held(Held),
    Failed(CheckFailed),
}

impl From<Arc<Unchecked>> for Refusal {
    fn from(unchecked: Arc<Unchecked>) -> Self {
        match &*unchecked {
            Unchecked::Held(held) => held.clone().into(),
            Unchecked::Failed(failed) => failed.clone().into(),
        }
    }
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

/// What `serve`'s flags say about tokens and checks: scopes accepted besides `all-apis`
/// (`--accept-scope`), and how many uncached checks are allowed (`--checks-per-address`,
/// `--checks-per-second`).
#[derive(Clone, Debug)]
pub struct CheckSettings {
    pub accept_scopes: Vec<String>,
    pub per_address: NonZeroU32,
    pub overall: NonZeroU32,
}

/// The caller check of one server.
pub struct Gate {
    mode: Mode,
    /// `--allow-group`, lower-cased: groups match by display name, whatever the case.
    groups: Vec<String>,
    audience: Audience,
    scim: Scim,
    cache: Cache<[u8; 32], Lookup>,
    limits: CheckLimits,
    check_timeout: Duration,
}

impl Gate {
    /// `auth` is the deployment's (used only in app mode, for group lookups).
    pub fn new(
        policy: CallerPolicy,
        groups: &[String],
        workspace_url: &str,
        client: HttpClient,
        auth: Arc<Authenticator>,
        check_timeout: Duration,
        settings: CheckSettings,
    ) -> Self {
        let mode = match policy {
            CallerPolicy::None => Mode::Open,
            CallerPolicy::Workspace => Mode::Workspace,
            CallerPolicy::App => Mode::App(auth),
        };
        Self {
            mode,
            groups: groups.iter().map(|g| g.trim().to_lowercase()).collect(),
            audience: Audience::new(
                workspace_url,
                &settings.accept_scopes,
                client.clone(),
                check_timeout,
            ),
            scim: Scim::new(workspace_url, client, check_timeout),
            cache: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
            limits: CheckLimits::new(settings.per_address, settings.overall),
            check_timeout,
        }
    }

    /// The caller of a request with these headers, from `client` (`None` when callers are not
    /// checked).
    pub async fn check(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Option<Caller>, Refusal> {
        let identity = match &self.mode {
            Mode::Open => return Ok(None),
            Mode::Workspace => self.workspace_identity(headers, client).await?,
            Mode::App(auth) => self.app_identity(headers, auth).await?,
        };
        let allowed = self.groups.is_empty()
            || identity
                .groups
                .iter()
                .any(|g| self.groups.contains(&g.to_lowercase()));
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

    async fn workspace_identity(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Arc<Identity>, Refusal> {
        let Some(token) = bearer(headers) else {
            return Err(Refusal::Unauthenticated {
                reason: "this endpoint needs a Databricks token: Authorization: Bearer <token>"
                    .into(),
                bad_token: false,
            });
        };
        // Every time, cached or not: cheap with the keys at hand, and an expiry is exact.
        match self.audience.check(token).await {
            Ok(()) => {}
            Err(Verdict::Refused(reason)) => {
                return Err(Refusal::Unauthenticated {
                    reason,
                    bad_token: true,
                });
            }
            Err(Verdict::Unchecked(failed)) => return Err(failed.into()),
        }
        let key = key("token", token.as_bytes());
        let check = self.checked(Some(client), self.scim.me(token));
        let lookup = self.cache.try_get_with(key, check).await?;
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
        let user_name = app::caller(headers).map_err(|reason| Refusal::Unauthenticated {
            reason,
            bad_token: false,
        })?;
        // Without groups the proxy's word is all there is to know.
        if self.groups.is_empty() {
            return Ok(Arc::new(Identity {
                user_name,
                groups: Vec::new(),
            }));
        }
        let key = key("user", user_name.to_ascii_lowercase().as_bytes());
        let find = async {
            let authorization = auth
                .header()
                .await
                .map_err(|e| CheckFailed::new(format!("the app's own credentials: {e}")))?;
            self.scim.find_user(&user_name, authorization).await
        };
        // Every request comes from the proxy: only the overall rate means anything.
        let lookup = self
            .cache
            .try_get_with(key, self.checked(None, find))
            .await?;
        match lookup {
            Lookup::Known(identity) => Ok(identity),
            Lookup::Unknown => Err(Refusal::Denied(format!(
                "{user_name} is not a user or service principal of this workspace"
            ))),
        }
    }

    /// One uncached check, run once however many requests wait for it: within the rates for
    /// `client`, in one of the few places for checks in flight; a 429 from the workspace
    /// pauses every check for as long as it asks.
    async fn checked(
        &self,
        client: Option<IpAddr>,
        check: impl Future<Output = Result<Option<Identity>, CheckFailed>>,
    ) -> Result<Lookup, Unchecked> {
        self.limits.admit(client).map_err(Unchecked::Held)?;
        let Some(_slot) = self.limits.slot(self.check_timeout).await else {
            return Err(Unchecked::Failed(CheckFailed::new(
                "too many identity checks are waiting on the workspace",
            )));
        };
        match check.await {
            Ok(found) => Ok(found.map_or(Lookup::Unknown, |i| Lookup::Known(Arc::new(i)))),
            Err(failed) => {
                if let Some(wait) = failed.back_off {
                    self.limits.pause(wait);
                }
                Err(Unchecked::Failed(failed))
            }
        }
    }
}

/// The bearer token of `Authorization`: the scheme is case-insensitive and surrounding
/// whitespace is not part of the token, so one token is one cache entry however it is sent.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let text = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = text.split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
    fn bearer_tokens_only() {
        for sent in ["Bearer abc", "bearer abc", "BEARER  abc ", " Bearer\tabc"] {
            assert_eq!(
                bearer(&headers(&[("authorization", sent)])),
                Some("abc"),
                "{sent}"
            );
        }
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
