//! Asking the workspace who a caller is (SCIM): `Me` with the caller's own token, or a user
//! (or service principal) looked up by name with the deployment's credentials (app mode).
//! Nothing here logs a token.

use crate::client::HttpClient;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use serde::Deserialize;
use std::time::Duration;

const ME_PATH: &str = "/api/2.0/preview/scim/v2/Me";
const USERS_PATH: &str = "/api/2.0/preview/scim/v2/Users";
const SERVICE_PRINCIPALS_PATH: &str = "/api/2.0/preview/scim/v2/ServicePrincipals";
/// An identity is a few KiB; a user in thousands of groups still fits.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// A 429 without a usable `Retry-After` is waited out this long; a longer one is capped so a
/// wrong header cannot lock every new caller out for long.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Who the workspace says a caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user_name: String,
    /// Display names of its groups, as SCIM lists them.
    pub groups: Vec<String>,
}

/// The check could not be made (network, timeout, workspace error): never an admit.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct CheckFailed {
    pub message: String,
    /// The workspace throttled the check (429): ask it nothing more for this long.
    pub back_off: Option<Duration>,
}

impl CheckFailed {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            back_off: None,
        }
    }
}

#[derive(Deserialize)]
struct ScimUser {
    #[serde(rename = "userName")]
    user_name: String,
    #[serde(default)]
    groups: Vec<GroupRef>,
}

#[derive(Deserialize)]
struct GroupRef {
    display: Option<String>,
}

#[derive(Deserialize)]
struct UserList {
    #[serde(rename = "Resources", default)]
    resources: Vec<ScimUser>,
}

/// A SCIM `ServicePrincipal`: named by its application id.
#[derive(Deserialize)]
struct ScimServicePrincipal {
    #[serde(rename = "applicationId")]
    application_id: String,
    #[serde(default)]
    groups: Vec<GroupRef>,
}

#[derive(Deserialize)]
struct ServicePrincipalList {
    #[serde(rename = "Resources", default)]
    resources: Vec<ScimServicePrincipal>,
}

impl From<ScimUser> for Identity {
    fn from(user: ScimUser) -> Self {
        Identity {
            user_name: user.user_name,
            groups: user.groups.into_iter().filter_map(|g| g.display).collect(),
        }
    }
}

/// SCIM on one workspace, through the host's pooled client.
pub struct Scim {
    base: String,
    client: HttpClient,
    timeout: Duration,
}

impl Scim {
    /// `timeout` bounds each check, connection included.
    pub fn new(workspace_url: &str, client: HttpClient, timeout: Duration) -> Self {
        Self {
            base: workspace_url.trim_end_matches('/').to_string(),
            client,
            timeout,
        }
    }

    /// `GET …/Me` as the bearer of `token`: `None` when the workspace does not accept it
    /// (401), the identity when it does.
    pub async fn me(&self, token: &str) -> Result<Option<Identity>, CheckFailed> {
        let authorization = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| CheckFailed::new("the token is not a valid header value"))?;
        let (status, headers, body) = self.get(ME_PATH, authorization).await?;
        match status {
            StatusCode::UNAUTHORIZED => Ok(None),
            // Not a verdict on the token: the workspace refused to be asked. Never cached as
            // "invalid token", or one blocked minute would lock every caller out.
            StatusCode::FORBIDDEN => Err(CheckFailed::new(
                "the workspace refused the identity check (SCIM Me answered HTTP 403): most \
                 likely an IP access list that does not admit this server's address",
            )),
            StatusCode::TOO_MANY_REQUESTS => Err(throttled(&headers)),
            s if s.is_success() => serde_json::from_slice::<ScimUser>(&body)
                .map(|u| Some(u.into()))
                .map_err(|e| {
                    CheckFailed::new(format!("SCIM Me answered an unreadable identity: {e}"))
                }),
            s => Err(CheckFailed::new(format!(
                "SCIM Me answered HTTP {}",
                s.as_u16()
            ))),
        }
    }

    /// The user named `user_name` (`Users?filter=userName eq "NAME"`), else the service
    /// principal whose application id it is (`ServicePrincipals?filter=applicationId eq
    /// "NAME"`), asked with the deployment's `authorization`; `None` when neither exists.
    pub async fn find_user(
        &self,
        user_name: &str,
        authorization: Option<HeaderValue>,
    ) -> Result<Option<Identity>, CheckFailed> {
        // SCIM filter strings quote with `"`; a name containing one cannot be a user name.
        if user_name.contains(['"', '\\']) {
            return Ok(None);
        }
        let authorization = authorization.unwrap_or_else(|| HeaderValue::from_static(""));
        let body = self
            .list(
                USERS_PATH,
                "userName",
                user_name,
                "userName,groups",
                &authorization,
            )
            .await?;
        let users: UserList = serde_json::from_slice(&body).map_err(|e| {
            CheckFailed::new(format!("SCIM Users answered an unreadable list: {e}"))
        })?;
        if let Some(user) = users
            .resources
            .into_iter()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
        {
            return Ok(Some(user.into()));
        }
        // Application ids are UUIDs: an e-mail address cannot be one.
        if user_name.contains('@') {
            return Ok(None);
        }
        let body = self
            .list(
                SERVICE_PRINCIPALS_PATH,
                "applicationId",
                user_name,
                "applicationId,groups",
                &authorization,
            )
            .await?;
        let principals: ServicePrincipalList = serde_json::from_slice(&body).map_err(|e| {
            CheckFailed::new(format!(
                "SCIM ServicePrincipals answered an unreadable list: {e}"
            ))
        })?;
        Ok(principals
            .resources
            .into_iter()
            .find(|p| p.application_id.eq_ignore_ascii_case(user_name))
            .map(|p| Identity {
                user_name: p.application_id,
                groups: p.groups.into_iter().filter_map(|g| g.display).collect(),
            }))
    }

    /// `GET path?filter=ATTRIBUTE eq "VALUE"&attributes=…`: the answer's body.
    async fn list(
        &self,
        path: &str,
        attribute: &str,
        value: &str,
        attributes: &str,
        authorization: &HeaderValue,
    ) -> Result<Bytes, CheckFailed> {
        let filter = format!("{attribute} eq \"{value}\"");
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filter", &filter)
            .append_pair("attributes", attributes)
            .finish();
        let (status, headers, body) = self
            .get(&format!("{path}?{query}"), authorization.clone())
            .await?;
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::TOO_MANY_REQUESTS => Err(throttled(&headers)),
            s => Err(CheckFailed::new(format!(
                "SCIM {} answered HTTP {} to the deployment's credentials",
                path.rsplit('/').next().unwrap_or(path),
                s.as_u16()
            ))),
        }
    }

    /// One GET with the given `Authorization` (empty = none), bounded by the check timeout.
    async fn get(
        &self,
        path_and_query: &str,
        mut authorization: HeaderValue,
    ) -> Result<(StatusCode, HeaderMap, Bytes), CheckFailed> {
        authorization.set_sensitive(true);
        let mut request = Request::get(format!("{}{path_and_query}", self.base))
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, crate::egress::user_agent());
        if !authorization.is_empty() {
            request = request.header(AUTHORIZATION, authorization);
        }
        let body = Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = request
            .body(body)
            .map_err(|e| CheckFailed::new(format!("cannot build the SCIM request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .send(request, None)
                .await
                .map_err(|e| CheckFailed::new(format!("SCIM request failed: {e}")))?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| CheckFailed::new(format!("reading the SCIM answer: {e}")))?
                .to_bytes();
            Ok((status, headers, bytes))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                CheckFailed::new(format!(
                    "the workspace did not answer the identity check within {}s",
                    self.timeout.as_secs_f64()
                ))
            })?
    }
}

/// A 429 from SCIM: how long to leave the workspace alone (its `Retry-After` in seconds).
fn throttled(headers: &HeaderMap) -> CheckFailed {
    let wait = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_BACKOFF, Duration::from_secs)
        .clamp(DEFAULT_BACKOFF, MAX_BACKOFF);
    CheckFailed {
        message: format!(
            "the workspace is throttling identity checks (HTTP 429); retry in {}s",
            wait.as_secs()
        ),
        back_off: Some(wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_is_waited_out_within_bounds() {
        let mut headers = HeaderMap::new();
        assert_eq!(throttled(&headers).back_off, Some(DEFAULT_BACKOFF));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(throttled(&headers).back_off, Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(throttled(&headers).back_off, Some(MAX_BACKOFF));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(throttled(&headers).back_off, Some(DEFAULT_BACKOFF));
    }
}
