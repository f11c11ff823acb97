//! The egress rules of one agent: which destinations a guest request may reach, and the
//! headers the host is responsible for on the way out (the workspace's credentials, a
//! `User-Agent`).

use super::origin::{AllowedHost, Origin};
use crate::auth::{Authenticator, TokenError};
use crate::client::user_agent;
use http::header::{AUTHORIZATION, HeaderValue, USER_AGENT};
use http::{HeaderName, Uri};
use std::sync::Arc;
use wasmtime_wasi_http::{DEFAULT_FORBIDDEN_HEADERS, WasiBody};

/// What the policy says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The workspace itself: send, with credentials.
    Workspace,
    /// An `--allow-host` destination: send, without credentials.
    Allowed,
    /// Anything else: refuse without dialling.
    Denied,
}

/// Why a request did not leave the host.
#[derive(Debug)]
pub enum Refusal {
    /// Not the workspace nor an `--allow-host`.
    Denied,
    /// The workspace's credentials could not be had (e.g. the OAuth token request failed).
    Credentials(TokenError),
}

/// The egress rules of one agent; shared (`Arc`) by every store it creates.
pub struct EgressPolicy {
    workspace: Origin,
    auth: Arc<Authenticator>,
    allowed: Vec<AllowedHost>,
    user_agent: HeaderValue,
}

impl EgressPolicy {
    pub fn new(workspace: Origin, auth: Arc<Authenticator>, allowed: Vec<AllowedHost>) -> Self {
        Self {
            workspace,
            auth,
            allowed,
            user_agent: HeaderValue::from_str(&user_agent())
                .unwrap_or_else(|_| HeaderValue::from_static("sdp-agent")),
        }
    }

    /// Decides on a request URI; only scheme, host and port matter.
    pub fn verdict(&self, uri: &Uri) -> Verdict {
        let Some(origin) = Origin::from_uri(uri) else {
            return Verdict::Denied;
        };
        if origin == self.workspace {
            Verdict::Workspace
        } else if self.allowed.iter().any(|a| a.matches(&origin)) {
            Verdict::Allowed
        } else {
            Verdict::Denied
        }
    }

    pub(super) fn prepare_denied_log(&self, uri: &Uri) {
        tracing::warn!(
            %uri,
            "egress denied: not the workspace ({}) nor an --allow-host",
            self.workspace
        );
    }

    /// Applies the policy to a request: `Err` when it must not leave the host, otherwise the
    /// request with the headers the host is responsible for. The workspace's header is asked
    /// for per request, so an OAuth token is refreshed while a long call runs.
    pub async fn prepare(
        &self,
        mut request: http::Request<WasiBody>,
    ) -> Result<http::Request<WasiBody>, Refusal> {
        let verdict = self.verdict(request.uri());
        if verdict == Verdict::Denied {
            self.prepare_denied_log(request.uri());
            return Err(Refusal::Denied);
        }
        let authorization = match verdict {
            Verdict::Workspace => self.auth.header().await.map_err(Refusal::Credentials)?,
            // Credentials are for the workspace only.
            _ => None,
        };
        let headers = request.headers_mut();
        match authorization {
            Some(value) => headers.insert(AUTHORIZATION, value),
            None => headers.remove(AUTHORIZATION),
        };
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        Ok(request)
    }
}

/// `Authorization` plus wasi-http's default list: the guest must not set credentials.
pub fn is_forbidden(name: &HeaderName) -> bool {
    *name == AUTHORIZATION || DEFAULT_FORBIDDEN_HEADERS.contains(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::testing::{policy, request, uri};

    #[test]
    fn workspace_origin_is_exact() {
        let p = policy(&[]);
        assert_eq!(
            p.verdict(&uri(
                "https://ADB-1.azuredatabricks.net/api/2.2/jobs/runs/submit"
            )),
            Verdict::Workspace
        );
        assert_eq!(
            p.verdict(&uri("https://adb-1.azuredatabricks.net:443/x")),
            Verdict::Workspace
        );
        // Same host, other scheme or port: not the workspace.
        assert_eq!(
            p.verdict(&uri("http://adb-1.azuredatabricks.net/x")),
            Verdict::Denied
        );
        assert_eq!(
            p.verdict(&uri("https://adb-1.azuredatabricks.net:8443/x")),
            Verdict::Denied
        );
        assert_eq!(
            p.verdict(&uri("https://adb-1.azuredatabricks.net.evil.com/")),
            Verdict::Denied
        );
        assert_eq!(p.verdict(&uri("/relative")), Verdict::Denied);
    }

    #[test]
    fn allow_host_forms() {
        let p = policy(&[
            "api.example.com",
            "Other.example.com:8443",
            "http://[::1]:9000",
        ]);
        assert_eq!(
            p.verdict(&uri("https://api.example.com/v1")),
            Verdict::Allowed
        );
        assert_eq!(
            p.verdict(&uri("http://api.example.com:8080/")),
            Verdict::Allowed
        );
        assert_eq!(
            p.verdict(&uri("https://other.example.com:8443/")),
            Verdict::Allowed
        );
        assert_eq!(
            p.verdict(&uri("https://other.example.com/")),
            Verdict::Denied
        );
        assert_eq!(p.verdict(&uri("http://[::1]:9000/")), Verdict::Allowed);
        assert_eq!(p.verdict(&uri("https://[::1]:9000/")), Verdict::Denied);
        assert_eq!(p.verdict(&uri("https://example.com/")), Verdict::Denied);
    }

    #[test]
    fn authorization_is_forbidden_with_defaults() {
        assert!(is_forbidden(&AUTHORIZATION));
        assert!(is_forbidden(&http::header::HOST));
        assert!(is_forbidden(&http::header::TRANSFER_ENCODING));
        assert!(!is_forbidden(&http::header::CONTENT_TYPE));
        assert!(!is_forbidden(&USER_AGENT));
    }

    #[tokio::test]
    async fn prepare_attaches_credentials_to_workspace_only() {
        let p = policy(&["api.example.com"]);
        let req = p
            .prepare(request(
                "https://adb-1.azuredatabricks.net/api/2.0/pipelines",
            ))
            .await
            .unwrap();
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer dapi-secret");
        assert!(
            req.headers()[USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("sdp-agent/")
        );

        let req = p
            .prepare(request("https://api.example.com/"))
            .await
            .unwrap();
        assert!(req.headers().get(AUTHORIZATION).is_none());

        assert!(matches!(
            p.prepare(request("https://evil.example.org/")).await,
            Err(Refusal::Denied)
        ));
    }

    /// Whatever `Authorization` reaches the hooks (wasi-http refuses it from the guest, this is
    /// the second line), the workspace gets the host's and other hosts get none.
    #[tokio::test]
    async fn prepare_replaces_any_authorization() {
        let p = policy(&["api.example.com"]);
        for url in [
            "https://adb-1.azuredatabricks.net/x",
            "https://api.example.com/",
        ] {
            let mut req = request(url);
            req.headers_mut()
                .insert(AUTHORIZATION, HeaderValue::from_static("Bearer guest-made"));
            let req = p.prepare(req).await.unwrap();
            let expected = url.contains("adb-1").then_some("Bearer dapi-secret");
            assert_eq!(
                req.headers()
                    .get(AUTHORIZATION)
                    .map(|v| v.to_str().unwrap()),
                expected,
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn prepare_keeps_guest_user_agent() {
        let p = policy(&[]);
        let mut req = request("https://adb-1.azuredatabricks.net/");
        req.headers_mut()
            .insert(USER_AGENT, HeaderValue::from_static("guest/1"));
        let req = p.prepare(req).await.unwrap();
        assert_eq!(req.headers()[USER_AGENT], "guest/1");
    }
}
