//! Permissions API: what a run grants the caller it ran for on the pipeline it created, so
//! they can watch and rerun it but never change the code that runs as the run identity
//! (`CAN_MANAGE` would let them). Pipeline levels nest: `CAN_RUN` is everything `CAN_VIEW`
//! allows plus starting and stopping updates, so it is the one level granted.
//! `PATCH /api/2.0/permissions/pipelines/{id}` adds it and leaves every other grant.

use super::client::{Retry, WorkspaceClient};
use crate::error::Result;
use serde_json::{Value, json};
use std::time::Duration;
use wstd::http::Method;

/// The level a caller gets on a pipeline made for them (view and run).
pub const CALLER_LEVEL: &str = "CAN_RUN";

/// The `access_control_list` request for `caller`: a user by e-mail, a service principal by
/// application id.
pub fn caller_grants(caller: &str) -> Value {
    let key = if caller.contains('@') {
        "user_name"
    } else {
        "service_principal_name"
    };
    json!({"access_control_list": [{key: caller, "permission_level": CALLER_LEVEL}]})
}

/// Grants `caller` [`CALLER_LEVEL`] on the pipeline `pipeline_id`.
pub async fn grant_caller(ws: &WorkspaceClient, pipeline_id: &str, caller: &str) -> Result<()> {
    ws.call(
        Method::PATCH,
        &format!("/api/2.0/permissions/pipelines/{pipeline_id}"),
        Some(&caller_grants(caller)),
        Retry::Safe,
        Duration::from_secs(60),
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_service_principals_are_named_their_way() {
        assert_eq!(
            caller_grants("a@x.com"),
            json!({"access_control_list": [
                {"user_name": "a@x.com", "permission_level": "CAN_RUN"},
            ]})
        );
        assert_eq!(
            caller_grants("6a1b")["access_control_list"][0]["service_principal_name"],
            "6a1b"
        );
    }
}
