//! Validation of pipeline settings, shared by create (POST) and edit (PUT, which replaces the
//! whole spec), and the cleaning that turns a request body into the stored `spec`.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::fields::{
    field, item_obj, known_keys, opt_array, opt_bool, opt_obj, opt_str, opt_str_map, req_str,
};

const SETTINGS_KEYS: &[&str] = &[
    "id",
    "name",
    "catalog",
    "schema",
    "target",
    "libraries",
    "root_path",
    "serverless",
    "continuous",
    "development",
    "channel",
    "configuration",
    "clusters",
    "edition",
    "photon",
    "notifications",
    "tags",
    "allow_duplicate_names",
    "dry_run",
    "storage",
    "filters",
    "trigger",
    "budget_policy_id",
    "deployment",
    "event_log",
    "environment",
    "gateway_definition",
    "ingestion_definition",
    "restart_window",
    "run_as",
    "usage_policy_id",
];

/// Keys only an edit may carry; they identify the pipeline rather than configure it.
const EDIT_ONLY_KEYS: &[&str] = &["pipeline_id", "expected_last_modified"];

/// Request-control keys that are not settings and so never land in the stored spec.
const CONTROL_KEYS: &[&str] = &["dry_run", "pipeline_id", "expected_last_modified"];

const LIBRARY_KINDS: &[&str] = &["file", "notebook", "glob", "jar", "maven", "whl"];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Edit,
}

/// Validates a create/edit body and returns the spec to store (without `id`).
pub fn validate_settings(body: &Map<String, Value>, mode: Mode) -> ApiResult<Map<String, Value>> {
    let allowed = |key: &str| {
        SETTINGS_KEYS.contains(&key) || (mode == Mode::Edit && EDIT_ONLY_KEYS.contains(&key))
    };
    if let Some(key) = body.keys().find(|k| !allowed(k)) {
        return Err(crate::fields::unknown_field("", key));
    }
    req_str(body, "name", "")?;
    for key in [
        "catalog",
        "schema",
        "target",
        "root_path",
        "budget_policy_id",
    ] {
        opt_str(body, key, "")?;
    }
    if body.get("schema").is_some_and(|v| !v.is_null())
        && body.get("target").is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::invalid(
            "Only one of 'schema' and 'target' may be set: 'target' is the legacy name of 'schema'",
        ));
    }
    for key in [
        "serverless",
        "continuous",
        "development",
        "photon",
        "allow_duplicate_names",
        "dry_run",
    ] {
        opt_bool(body, key, "")?;
    }
    one_of_ignoring_case(body, "channel", &["CURRENT", "PREVIEW"])?;
    one_of_ignoring_case(body, "edition", &["CORE", "PRO", "ADVANCED"])?;
    opt_str_map(body, "configuration", "")?;
    opt_str_map(body, "tags", "")?;
    for key in ["clusters", "notifications"] {
        for (i, item) in opt_array(body, key, "")?.into_iter().flatten().enumerate() {
            item_obj(item, &format!("{key}[{i}]"))?;
        }
    }
    validate_libraries(body)?;

    let mut spec = body.clone();
    spec.retain(|k, _| !CONTROL_KEYS.contains(&k.as_str()));
    Ok(spec)
}

fn one_of_ignoring_case(body: &Map<String, Value>, key: &str, allowed: &[&str]) -> ApiResult<()> {
    match opt_str(body, key, "")? {
        Some(v) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => {
            Err(ApiError::invalid(format!(
                "Invalid value '{v}' for field '{key}': expected one of {}",
                allowed.join(", ")
            )))
        }
        _ => Ok(()),
    }
}

/// Each library names exactly one source; file/notebook need a path, glob an include pattern.
fn validate_libraries(body: &Map<String, Value>) -> ApiResult<()> {
    for (i, library) in opt_array(body, "libraries", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("libraries[{i}]");
        let library = item_obj(library, &ctx)?;
        known_keys(library, LIBRARY_KINDS, &ctx)?;
        let kinds: Vec<&String> = library.keys().collect();
        let [kind] = kinds.as_slice() else {
            return Err(ApiError::invalid(format!(
                "{ctx} must set exactly one of {}",
                LIBRARY_KINDS.join(", ")
            )));
        };
        let kind_ctx = field(&ctx, kind);
        match kind.as_str() {
            "file" | "notebook" | "glob" => {
                let Some(inner) = opt_obj(library, kind, &ctx)? else {
                    return Err(ApiError::invalid(format!(
                        "Invalid value for field '{kind_ctx}': expected an object"
                    )));
                };
                let required = if kind.as_str() == "glob" {
                    "include"
                } else {
                    "path"
                };
                known_keys(inner, &[required], &kind_ctx)?;
                req_str(inner, required, &kind_ctx)?;
            }
            "maven" => {
                opt_obj(library, kind, &ctx)?;
            }
            _ => {
                opt_str(library, kind, &ctx)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value, mode: Mode) -> Result<Map<String, Value>, String> {
        validate_settings(body.as_object().unwrap(), mode).map_err(|e| {
            assert_eq!(e.error_code, "INVALID_PARAMETER_VALUE");
            e.message
        })
    }

    #[test]
    fn accepts_a_typical_serverless_spec_and_drops_control_keys() {
        let spec = check(
            json!({
                "name": "p", "catalog": "main", "schema": "demo", "serverless": true,
                "channel": "current", "development": true, "dry_run": false,
                "configuration": {"a": "b"},
                "libraries": [{"file": {"path": "/Workspace/x.sql"}}, {"glob": {"include": "/Workspace/t/**"}},
                               {"notebook": {"path": "/n"}}, {"whl": "/w.whl"}],
                "root_path": "/Workspace/r"
            }),
            Mode::Create,
        )
        .unwrap();
        assert!(!spec.contains_key("dry_run"));
        assert_eq!(spec["catalog"], "main");
    }

    #[test]
    fn rejections() {
        assert!(check(json!({}), Mode::Create).unwrap_err().contains("name"));
        assert!(
            check(json!({"name": ""}), Mode::Create)
                .unwrap_err()
                .contains("name")
        );
        assert!(
            check(
                json!({"name": "p", "schema": "a", "target": "b"}),
                Mode::Create
            )
            .unwrap_err()
            .contains("target")
        );
        assert!(
            check(json!({"name": "p", "nope": 1}), Mode::Create)
                .unwrap_err()
                .contains("nope")
        );
        assert!(
            check(json!({"name": "p", "pipeline_id": "x"}), Mode::Create)
                .unwrap_err()
                .contains("pipeline_id")
        );
        assert!(check(json!({"name": "p", "pipeline_id": "x"}), Mode::Edit).is_ok());
        let err = check(json!({"name": "p", "libraries": [{"file": {"path": "/a"}, "notebook": {"path": "/b"}}]}), Mode::Create).unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
        let err = check(
            json!({"name": "p", "libraries": [{"file": {}}]}),
            Mode::Create,
        )
        .unwrap_err();
        assert!(err.contains("libraries[0].file.path"), "{err}");
        let err = check(
            json!({"name": "p", "libraries": [{"glob": {"path": "/x"}}]}),
            Mode::Create,
        )
        .unwrap_err();
        assert!(err.contains("path"), "{err}");
        assert!(
            check(json!({"name": "p", "channel": "BETA"}), Mode::Create)
                .unwrap_err()
                .contains("channel")
        );
        assert!(
            check(json!({"name": "p", "serverless": "yes"}), Mode::Create)
                .unwrap_err()
                .contains("serverless")
        );
        assert!(
            check(
                json!({"name": "p", "configuration": {"a": 1}}),
                Mode::Create
            )
            .unwrap_err()
            .contains("configuration.a")
        );
    }
}
