//! What an `apps.App` body may hold: its keys, its name, its resources (jobs and volumes they
//! grant must exist).

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::fields::{field, item_obj, known_keys, opt_array, opt_enum, opt_obj, opt_str, req_str};
use crate::state::State as Workspace;

/// The fields of `apps.App` a client may set (the rest are answered, not accepted).
const APP_KEYS: &[&str] = &[
    "name",
    "description",
    "resources",
    "budget_policy_id",
    "usage_policy_id",
    "user_api_scopes",
    "compute_size",
    "compute_min_instances",
    "compute_max_instances",
    "default_source_code_path",
    "git_repository",
    "telemetry_export_destinations",
    "space",
];

const RESOURCE_KINDS: &[&str] = &[
    "app",
    "experiment",
    "postgres",
    "job",
    "secret",
    "serving_endpoint",
    "sql_warehouse",
    "uc_securable",
    "database",
    "genie_space",
];

/// App names: 2-30 lower-case letters, digits and hyphens (they become part of its URL).
pub(super) fn check_name(name: &str) -> ApiResult<()> {
    let ok = (2..=30).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid app name '{name}': use 2 to 30 lower-case letters, digits and hyphens"
        )))
    }
}

/// Each resource names exactly one thing it grants; jobs and volumes must exist.
fn validate_resources(body: &Map<String, Value>, state: &Workspace) -> ApiResult<()> {
    let mut names = Vec::new();
    for (i, resource) in opt_array(body, "resources", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("resources[{i}]");
        let r = item_obj(resource, &ctx)?;
        let mut known = vec!["name", "description"];
        known.extend_from_slice(RESOURCE_KINDS);
        known_keys(r, &known, &ctx)?;
        let name = req_str(r, "name", &ctx)?;
        if names.contains(&name) {
            return Err(ApiError::invalid(format!(
                "{ctx}.name '{name}' is not unique"
            )));
        }
        names.push(name);
        opt_str(r, "description", &ctx)?;
        let kinds: Vec<&str> = RESOURCE_KINDS
            .iter()
            .copied()
            .filter(|k| r.contains_key(*k))
            .collect();
        let [kind] = kinds.as_slice() else {
            return Err(ApiError::invalid(format!(
                "{ctx} must set exactly one of {}",
                RESOURCE_KINDS.join(", ")
            )));
        };
        let spec_ctx = field(&ctx, kind);
        let spec = opt_obj(r, kind, &ctx)?
            .ok_or_else(|| ApiError::invalid(format!("{spec_ctx} must be an object")))?;
        match *kind {
            "job" => {
                known_keys(spec, &["id", "permission"], &spec_ctx)?;
                let id = req_str(spec, "id", &spec_ctx)?;
                req_str(spec, "permission", &spec_ctx)?;
                opt_enum(
                    spec,
                    "permission",
                    &spec_ctx,
                    &["CAN_MANAGE", "CAN_MANAGE_RUN", "CAN_VIEW", "IS_OWNER"],
                )?;
                let exists = id
                    .parse::<i64>()
                    .is_ok_and(|id| state.named_jobs.contains(id));
                if !exists {
                    return Err(ApiError::invalid(format!(
                        "{spec_ctx}.id: job {id} does not exist"
                    )));
                }
            }
            "uc_securable" => {
                known_keys(
                    spec,
                    &["securable_full_name", "securable_type", "permission"],
                    &spec_ctx,
                )?;
                let full_name = req_str(spec, "securable_full_name", &spec_ctx)?;
                req_str(spec, "securable_type", &spec_ctx)?;
                opt_enum(spec, "securable_type", &spec_ctx, &["VOLUME"])?;
                req_str(spec, "permission", &spec_ctx)?;
                opt_enum(
                    spec,
                    "permission",
                    &spec_ctx,
                    &["READ_VOLUME", "WRITE_VOLUME"],
                )?;
                if !state.volumes.exists(full_name) {
                    return Err(ApiError::invalid(format!(
                        "{spec_ctx}.securable_full_name: volume {full_name} does not exist"
                    )));
                }
            }
            "serving_endpoint" => {
                known_keys(spec, &["name", "permission"], &spec_ctx)?;
                req_str(spec, "name", &spec_ctx)?;
                req_str(spec, "permission", &spec_ctx)?;
                opt_enum(
                    spec,
                    "permission",
                    &spec_ctx,
                    &["CAN_MANAGE", "CAN_QUERY", "CAN_VIEW"],
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

pub(super) fn validate_app(body: &Map<String, Value>, state: &Workspace) -> ApiResult<()> {
    known_keys(body, APP_KEYS, "")?;
    opt_str(body, "description", "")?;
    opt_enum(body, "compute_size", "", &["MEDIUM", "LARGE"])?;
    validate_resources(body, state)
}
