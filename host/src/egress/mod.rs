//! The guest's only way out: our `WasiHttpHooks`.
//!
//! Every outgoing request of the component passes through [`EgressHooks::send_request`], which
//! enforces the allow-list (workspace origin plus `--allow-host`), attaches the workspace's
//! `Authorization` from the `Authenticator` (the guest cannot set it itself) and sends through
//! the shared pooled client.
//!
//! [`origin`] parses where a request goes, [`policy`] decides whether and with which
//! credentials it may, [`hooks`] is what wasi-http calls.

mod hooks;
mod observe;
mod origin;
mod policy;

pub use hooks::EgressHooks;
pub use observe::{EgressObserver, Outgoing};
pub use origin::{AllowedHost, Origin, default_port};
pub use policy::EgressPolicy;

/// Kept at this path for `deploy/rest.rs`; it lives in `client`, which auth uses too.
pub use crate::client::user_agent;

/// Shared by the tests of the policy and of the hooks.
#[cfg(test)]
pub(crate) mod testing {
    use super::EgressPolicy;
    use super::origin::Origin;
    use crate::auth::Authenticator;
    use crate::client::HttpClient;
    use http_body_util::{BodyExt, Empty};
    use std::sync::Arc;
    use wasmtime_wasi_http::WasiBody;

    pub fn pat(token: &str) -> Arc<Authenticator> {
        let credentials = crate::auth::Credentials::pat(token, &"test token").unwrap();
        let client = HttpClient::new().unwrap();
        Arc::new(Authenticator::new(&credentials, "https://unused", &client))
    }

    pub fn policy(allowed: &[&str]) -> EgressPolicy {
        EgressPolicy::new(
            Origin::from_url("https://adb-1.azuredatabricks.net").unwrap(),
            pat("dapi-secret"),
            allowed.iter().map(|a| a.parse().unwrap()).collect(),
        )
    }

    pub fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    pub fn request(url: &str) -> http::Request<WasiBody> {
        http::Request::builder()
            .uri(url)
            .body(
                Empty::new()
                    .map_err(|e: std::convert::Infallible| match e {})
                    .boxed_unsync(),
            )
            .unwrap()
    }
}
