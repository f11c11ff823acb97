//! `new_cluster`: the fields Jobs needs to start a cluster.

use crate::error::FieldError;
use crate::fields::{self, boolean, count, kind};
use serde_json::{Map, Value};

/// The fields Jobs needs to start a cluster; the rest of the spec is forwarded as given. A
/// cluster policy (`policy_id`) may supply any of them, and a single-node cluster has no
/// workers: then only the types of the values given are checked, and Jobs judges the rest.
pub fn check_new_cluster(nc: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let text = |k: &str, errors: &mut Vec<FieldError>| {
        nc.get(k)
            .map(|v| fields::string(&format!("new_cluster.{k}"), v, errors).is_some())
    };
    let flag = |k: &str, errors: &mut Vec<FieldError>| {
        nc.get(k)
            .and_then(|v| boolean(&format!("new_cluster.{k}"), v, errors))
            .unwrap_or(false)
    };
    let policy = text("policy_id", errors).is_some();
    flag("apply_policy_default_values", errors);
    let single_node = flag("is_single_node", errors);
    if text("spark_version", errors).is_none() && !policy {
        errors.push(FieldError::new(
            "new_cluster.spark_version",
            "required (or policy_id)",
        ));
    }
    let node = text("node_type_id", errors);
    let pool = text("instance_pool_id", errors);
    if node.is_none() && pool.is_none() && !policy {
        errors.push(FieldError::new(
            "new_cluster.node_type_id",
            "required (or instance_pool_id, or policy_id)",
        ));
    }
    match (nc.get("num_workers"), nc.get("autoscale")) {
        (Some(n), _) => {
            count("new_cluster.num_workers", n, 0, 100_000, errors);
        }
        (None, Some(Value::Object(a))) => {
            let min = a
                .get("min_workers")
                .and_then(|v| count("new_cluster.autoscale.min_workers", v, 0, 100_000, errors));
            let max = a
                .get("max_workers")
                .and_then(|v| count("new_cluster.autoscale.max_workers", v, 1, 100_000, errors));
            match (min, max) {
                (Some(lo), Some(hi)) if lo > hi => errors.push(FieldError::new(
                    "new_cluster.autoscale",
                    "min_workers must not exceed max_workers",
                )),
                (Some(_), Some(_)) => {}
                _ if a.contains_key("min_workers") && a.contains_key("max_workers") => {}
                _ => errors.push(FieldError::new(
                    "new_cluster.autoscale",
                    "needs min_workers and max_workers",
                )),
            }
        }
        (None, Some(other)) => errors.push(FieldError::new(
            "new_cluster.autoscale",
            format!("must be an object, got {}", kind(other)),
        )),
        (None, None) if single_node || policy => {}
        (None, None) => errors.push(FieldError::new(
            "new_cluster.num_workers",
            "required (or autoscale, is_single_node or policy_id)",
        )),
    }
}
