//! Asking the workspace who a caller is (SCIM): `Me` with the caller's own token, or a user
//! looked up by name with the deployment's credentials (app mode). Nothing here logs a token.

use crate::client::HttpClient;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use serde::Deserialize;
use std::time::Duration;

const ME_PATH: &str = "/api/2.0/preview/scim/v2/Me";
const USERS_PATH: &str = "/api/2.0/preview/scim/v2/Users";
/// An identity is a few KiB; a user in thousands of groups still fits.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Who the workspace says a caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user_name: String,
    /// Display names of its groups, as SCIM lists them.
    pub groups: Vec<String>,
}

/// The check could not be made (network, timeout, workspace error): never an admit.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailed(pub String);

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

    /// `GET …/Me` as the bearer of `authorization`: `None` when the workspace does not accept
    /// it (401/403), the identity when it does.
    pub async fn me(&self, authorization: HeaderValue) -> Result<Option<Identity>, CheckFailed> {
        let (status, body) = self.get(ME_PATH, authorization).await?;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(None),
            s if s.is_success() => serde_json::from_slice::<ScimUser>(&body)
                .map(|u| Some(u.into()))
                .map_err(|e| CheckFailed(format!("SCIM Me answered an unreadable identity: {e}"))),
            s => Err(CheckFailed(format!("SCIM Me answered HTTP {}", s.as_u16()))),
        }
    }

    /// `GET …/Users?filter=userName eq "NAME"` with the deployment's `authorization`: the
    /// user, or `None` when the workspace has no such user.
    pub async fn find_user(
        &self,
        user_name: &str,
        authorization: Option<HeaderValue>,
    ) -> Result<Option<Identity>, CheckFailed> {
        // SCIM filter strings quote with `"`; a name containing one cannot be a user name.
        if user_name.contains(['"', '\\']) {
            return Ok(None);
        }
        let filter = format!("userName eq \"{user_name}\"");
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filter", &filter)
            .append_pair("attributes", "userName,groups")
            .finish();
        let path = format!("{USERS_PATH}?{query}");
        let authorization = authorization.unwrap_or_else(|| HeaderValue::from_static(""));
        let (status, body) = self.get(&path, authorization).await?;
        if !status.is_success() {
            return Err(CheckFailed(format!(
                "SCIM Users answered HTTP {} to the deployment's credentials",
                status.as_u16()
            )));
        }
        let list: UserList = serde_json::from_slice(&body)
            .map_err(|e| CheckFailed(format!("SCIM Users answered an unreadable list: {e}")))?;
        Ok(list
            .resources
            .into_iter()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
            .map(Identity::from))
    }

    /// One GET with the given `Authorization` (empty = none), bounded by the check timeout.
    async fn get(
        &self,
        path_and_query: &str,
        mut authorization: HeaderValue,
    ) -> Result<(StatusCode, Bytes), CheckFailed> {
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
            .map_err(|e| CheckFailed(format!("cannot build the SCIM request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .send(request, None)
                .await
                .map_err(|e| CheckFailed(format!("SCIM request failed: {e}")))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| CheckFailed(format!("reading the SCIM answer: {e}")))?
                .to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                CheckFailed(format!(
                    "the workspace did not answer the identity check within {}s",
                    self.timeout.as_secs_f64()
                ))
            })?
    }
}
