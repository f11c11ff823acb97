//! Compute of a runs/submit task: `environments` (serverless), and the one way a task gets a
//! cluster (`existing_cluster_id`, `new_cluster`, `job_cluster_key`, `environment_key`).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::fields::{
    field, item_obj, known_keys, opt_array, opt_bool, opt_int, opt_obj, opt_str, opt_str_array,
    req_str,
};

/// Mutually exclusive ways to give a task compute.
const COMPUTE_KEYS: &[&str] = &[
    "existing_cluster_id",
    "new_cluster",
    "job_cluster_key",
    "environment_key",
];

/// `environments: [{environment_key, spec: {environment_version | client, dependencies}}]`.
pub(super) fn validate_environments(body: &Map<String, Value>) -> ApiResult<HashSet<&str>> {
    let mut keys = HashSet::new();
    let Some(environments) = opt_array(body, "environments", "")? else {
        return Ok(keys);
    };
    if environments.len() > 10 {
        return Err(ApiError::invalid(
            "environments may have at most 10 entries",
        ));
    }
    for (i, env) in environments.iter().enumerate() {
        let ctx = format!("environments[{i}]");
        let env = item_obj(env, &ctx)?;
        known_keys(env, &["environment_key", "spec"], &ctx)?;
        let key = req_str(env, "environment_key", &ctx)?;
        if !keys.insert(key) {
            return Err(ApiError::invalid(format!(
                "{ctx}.environment_key '{key}' is not unique"
            )));
        }
        let spec_ctx = field(&ctx, "spec");
        let Some(spec) = opt_obj(env, "spec", &ctx)? else {
            return Err(ApiError::invalid(format!(
                "Missing required field: {spec_ctx}"
            )));
        };
        known_keys(
            spec,
            &[
                "client",
                "environment_version",
                "dependencies",
                "java_dependencies",
                "base_environment",
            ],
            &spec_ctx,
        )?;
        let version = opt_str(spec, "environment_version", &spec_ctx)?;
        let client = opt_str(spec, "client", &spec_ctx)?;
        if version.or(client).is_none_or(|v| v.trim().is_empty()) {
            return Err(ApiError::invalid(format!(
                "{spec_ctx} must set environment_version (or the older client)"
            )));
        }
        opt_str_array(spec, "dependencies", &spec_ctx)?;
        opt_str_array(spec, "java_dependencies", &spec_ctx)?;
    }
    Ok(keys)
}

/// At most one way to get compute; a Python file task needs exactly one.
pub(super) fn validate_compute(
    task: &Map<String, Value>,
    ctx: &str,
    key: &str,
    environments: &HashSet<&str>,
) -> ApiResult<()> {
    let given: Vec<&str> = COMPUTE_KEYS
        .iter()
        .copied()
        .filter(|k| task.contains_key(*k))
        .collect();
    if given.len() > 1 {
        return Err(ApiError::invalid(format!(
            "Task {key} ({ctx}) sets more than one kind of compute: {} (use only one)",
            given.join(", ")
        )));
    }
    if given.is_empty() && task.contains_key("spark_python_task") {
        return Err(ApiError::invalid(format!(
            "Task {key} ({ctx}) has no compute: a spark_python_task needs existing_cluster_id, new_cluster or environment_key"
        )));
    }
    match given.first().copied() {
        Some("existing_cluster_id") => req_str(task, "existing_cluster_id", ctx).map(drop),
        Some("new_cluster") => validate_new_cluster(task, ctx),
        Some("job_cluster_key") => {
            let cluster = req_str(task, "job_cluster_key", ctx)?;
            Err(ApiError::invalid(format!(
                "{ctx}.job_cluster_key '{cluster}' does not name a job cluster: runs/submit defines no job_clusters"
            )))
        }
        Some(_) => {
            let env = req_str(task, "environment_key", ctx)?;
            if environments.contains(env) {
                Ok(())
            } else {
                Err(ApiError::invalid(format!(
                    "{ctx}.environment_key '{env}' does not name an entry of environments"
                )))
            }
        }
        None => Ok(()),
    }
}

/// The fields a cluster needs, unless a cluster policy may supply them (`policy_id`: fixed
/// values always apply, defaults with `apply_policy_default_values`; the emulator cannot see
/// the policy, so it lets a policy supply any of them) or it is a single-node cluster
/// (`is_single_node` sets the worker count itself).
fn validate_new_cluster(task: &Map<String, Value>, ctx: &str) -> ApiResult<()> {
    let cluster_ctx = field(ctx, "new_cluster");
    let Some(cluster) = opt_obj(task, "new_cluster", ctx)? else {
        return Err(ApiError::invalid(format!(
            "Invalid value for field '{cluster_ctx}': expected an object"
        )));
    };
    let policy = opt_str(cluster, "policy_id", &cluster_ctx)?.is_some();
    opt_bool(cluster, "apply_policy_default_values", &cluster_ctx)?;
    let single_node = opt_bool(cluster, "is_single_node", &cluster_ctx)?.unwrap_or(false);
    let version = opt_str(cluster, "spark_version", &cluster_ctx)?;
    if version.is_none() && !policy {
        return Err(ApiError::invalid(format!(
            "Missing required field: {cluster_ctx}.spark_version"
        )));
    }
    let node = opt_str(cluster, "node_type_id", &cluster_ctx)?;
    let pool = opt_str(cluster, "instance_pool_id", &cluster_ctx)?;
    if node.or(pool).is_none() && !policy {
        return Err(ApiError::invalid(format!(
            "Missing required field: {cluster_ctx}.node_type_id (or instance_pool_id)"
        )));
    }
    let workers = opt_int(cluster, "num_workers", &cluster_ctx)?;
    let autoscale = opt_obj(cluster, "autoscale", &cluster_ctx)?;
    match (workers, autoscale) {
        (Some(n), _) if n < 0 => Err(ApiError::invalid(format!(
            "{cluster_ctx}.num_workers must not be negative"
        ))),
        (None, None) if !(policy || single_node) => Err(ApiError::invalid(format!(
            "Missing required field: {cluster_ctx}.num_workers (or autoscale)"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate::tests::check;
    use serde_json::json;

    #[test]
    fn environment_rules() {
        let t = json!({"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "environment_key": "missing"});
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("environment_key")
        );
        let t = json!({"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "environment_key": "e"});
        let err =
            check(json!({"tasks": [t], "environments": [{"environment_key": "e", "spec": {}}]}))
                .unwrap_err();
        assert!(err.contains("environment_version"), "{err}");
        let env = json!({"environment_key": "e", "spec": {"client": "1"}});
        assert!(
            check(json!({"tasks": [t], "environments": [env.clone(), env]}))
                .unwrap_err()
                .contains("unique")
        );
    }

    #[test]
    fn new_cluster_needs_a_node_type() {
        let t = json!({"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "new_cluster": {"spark_version": "x"}});
        assert!(
            check(json!({"tasks": [t]}))
                .unwrap_err()
                .contains("node_type_id")
        );
    }

    #[test]
    fn a_policy_or_a_single_node_cluster_supplies_what_it_omits() {
        let task = |cluster: serde_json::Value| json!({"tasks": [{"task_key": "t", "spark_python_task": {"python_file": "/a.py"}, "new_cluster": cluster}]});
        check(task(
            json!({"policy_id": "ABC123", "apply_policy_default_values": true}),
        ))
        .unwrap();
        check(task(
            json!({"spark_version": "x", "node_type_id": "y", "is_single_node": true}),
        ))
        .unwrap();
        let err = check(task(json!({"spark_version": "x", "node_type_id": "y"}))).unwrap_err();
        assert!(err.contains("num_workers"), "{err}");
        let err = check(task(json!({"policy_id": 7}))).unwrap_err();
        assert!(err.contains("policy_id"), "{err}");
    }
}
