// Every key the payload may carry; anything else is a typo worth reporting.
//
// Plain `//` comments only: the host includes this file as source (`include!` in
// host/src/deploy/package.rs) to name every key in the pyfunc model's signature, so the two
// lists cannot drift apart.
pub const KNOWN_KEYS: &[&str] = &[
    "question",
    "job_id",
    "runner_path",
    "claude_endpoint",
    "existing_cluster_id",
    "new_cluster",
    "task_overrides",
    "environments",
    "environment_version",
    "run_name",
    "idempotency_token",
    "timeout_seconds",
    "catalog",
    "schema",
    "pipelineName",
    "pipeline_name",
    "root_path",
    "workspace_file_paths",
    "sources",
    "full_refresh",
    "adopt",
    "wait",
    "wait_timeout_seconds",
    "dry_run",
    "validate",
    "warehouse_id",
];
