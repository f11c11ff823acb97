//! A job's `run_as` (`JobRunAs`): whom its runs act as. Exactly one of `user_name`,
//! `service_principal_name`, `group_name`; a non-admin may name only themselves as the user;
//! the principal must exist. Without it the job runs as its owner, which is what
//! `run_as_user_name` answers then (Jobs API, `Job.run_as_user_name`).

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::fields::{field, known_keys, opt_obj, opt_str};
use crate::identity::Caller;
use crate::permissions::{self, Principal};
use crate::state::{SharedApp, State};

const KEYS: &[&str] = &["user_name", "service_principal_name", "group_name"];

/// The principal `settings.run_as` names (shape only; see [`check`] for who may set it).
pub fn parse(settings: &Map<String, Value>, ctx: &str) -> ApiResult<Option<Principal>> {
    let Some(run_as) = opt_obj(settings, "run_as", ctx)? else {
        return Ok(None);
    };
    let ctx = field(ctx, "run_as");
    known_keys(run_as, KEYS, &ctx)?;
    let named: Vec<Principal> = [
        opt_str(run_as, "user_name", &ctx)?.map(|n| Principal::User(n.to_string())),
        opt_str(run_as, "service_principal_name", &ctx)?.map(|n| Principal::Service(n.to_string())),
        opt_str(run_as, "group_name", &ctx)?.map(|n| Principal::Group(n.to_string())),
    ]
    .into_iter()
    .flatten()
    .collect();
    match named.as_slice() {
        [one] if !one.name().trim().is_empty() => Ok(Some(one.clone())),
        _ => Err(ApiError::invalid(format!(
            "{ctx}: exactly one of user_name, service_principal_name or group_name must be set"
        ))),
    }
}

/// Whether `caller` may make the job run as `principal`.
pub fn check(
    app: &SharedApp,
    state: &State,
    caller: &Caller,
    principal: &Principal,
) -> ApiResult<()> {
    if !permissions::known_principal(app, state, principal) {
        return Err(ApiError::invalid(format!(
            "run_as: {} does not exist in this workspace or is not active",
            principal.name()
        )));
    }
    let allowed = match principal {
        Principal::User(name) => caller.is(name) || caller.is_admin(),
        Principal::Group(name) => caller.in_group(name) || caller.is_admin(),
        // Needs the servicePrincipal/user role on it; admins have it on every one.
        Principal::Service(name) => caller.is(name) || caller.is_admin(),
    };
    if allowed {
        Ok(())
    } else {
        Err(permissions::denied(
            caller,
            "the user role",
            &format!("{} (run_as)", principal.name()),
            "making a job run as it",
        ))
    }
}

/// `run_as_user_name`: the `run_as` principal, else the owner.
pub fn user_name(settings: &Map<String, Value>, owner: &str) -> String {
    match parse(settings, "") {
        Ok(Some(principal)) => principal.name().to_string(),
        _ => owner.to_string(),
    }
}
