//! The deployment's policy: what a caller's request may touch. One type, read from what the host
//! hands over, checked by `predict` before it sends anything and by `run` before it writes or
//! starts anything (on the payload first, then on the config the model completed).
//!
//! - the policy document (`--policy`, [`Document`]): catalogs, schemas, root, Python, caller
//!   sources, adopt, the model endpoint, the SQL warehouses;
//! - the folder that holds the policy file (the deployed launcher's): never written or used,
//!   whatever the document says;
//! - the serving rules `serve` sets: the pinned job, and whether callers may choose code.

mod document;
mod paths;

use crate::error::{Error, PolicyRefusal, Result};
use crate::payload::{JOB_ID_ENV, Payload};
use crate::pipeline_config::PipelineConfig;
pub use document::Document;
use glob::{MatchOptions, Pattern};
use paths::Folder;
use serde_json::Value;

/// The policy document, as JSON text.
pub const POLICY_ENV: &str = "SDP_AGENT_POLICY";
/// The folder holding the policy file: nothing is written or used under it.
pub const POLICY_DIR_ENV: &str = "SDP_AGENT_POLICY_DIR";
/// `refused` when callers may not choose code (`serve` off loopback or checking callers,
/// without `--allow-caller-code`).
pub const CALLER_CODE_ENV: &str = "SDP_AGENT_CALLER_CODE";
pub const CALLER_CODE_REFUSED: &str = "refused";

/// What `sdp-agent deploy` keeps in the launcher's folder: never a root runs may write under.
const DEPLOYMENT_ENTRIES: [&str; 4] = [
    "app",
    "staging",
    "sdp_agent_launcher.py",
    "sdp_agent_deploy.json",
];

/// `new_cluster` keys that pick what runs when the cluster starts.
const CLUSTER_CODE_KEYS: [&str; 3] = ["init_scripts", "docker_image", "spark_env_vars"];
/// The `environments[].spec` keys that pick no code; any other (dependencies) is refused.
const PLAIN_ENVIRONMENT_KEYS: [&str; 2] = ["environment_version", "client"];

#[derive(Debug, Clone, Default)]
pub struct Policy {
    doc: Document,
    /// The launcher's folder, when the policy came from a file.
    protected: Option<Folder>,
    root: Option<Folder>,
    /// Deploy's default root `<launcher folder>/pipelines` lies inside the launcher's folder:
    /// such a root (strictly inside, and not a folder the deployment itself uses) is the one
    /// part of that folder runs may write to.
    carved: Option<Folder>,
    /// `serve`'s job (`SDP_AGENT_JOB_ID`): a payload cannot pick another.
    pinned_job: Option<i64>,
    /// Callers may not pick code, libraries or cluster start scripts.
    fixed_code: bool,
}

/// The policy of this instance; a policy the guest cannot read refuses everything (the host
/// checked it at start, so this is another host's misconfiguration).
pub fn current() -> Result<Policy> {
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let doc = match env(POLICY_ENV) {
        Some(text) => Document::parse(&text).map_err(|e| refuse("policy", e))?,
        None => Document::default(),
    };
    Ok(Policy::new(
        doc,
        env(POLICY_DIR_ENV).as_deref(),
        env(JOB_ID_ENV).and_then(|v| v.trim().parse().ok()),
        env(CALLER_CODE_ENV).as_deref() == Some(CALLER_CODE_REFUSED),
    ))
}

/// Predict: the serving rules, then what the payload already shows of the document's rules.
pub fn check_predict(payload: &Payload) -> Result<()> {
    let policy = current()?;
    policy.check_serving(payload)?;
    policy.check_payload(payload)
}

impl Policy {
    pub fn new(
        doc: Document,
        protected: Option<&str>,
        pinned_job: Option<i64>,
        fixed_code: bool,
    ) -> Self {
        let root = doc.root.as_deref().map(Folder::new);
        let protected = protected.map(Folder::new);
        let carved = match (&root, &protected) {
            (Some(root), Some(protected)) => root
                .below(protected)
                .filter(|first| !DEPLOYMENT_ENTRIES.contains(first))
                .map(|_| root.clone()),
            _ => None,
        };
        Self {
            root,
            protected,
            carved,
            doc,
            pinned_job,
            fixed_code,
        }
    }

    /// The model endpoint the policy names, the one to ask when the payload names none.
    pub fn claude_endpoint(&self) -> Option<&str> {
        self.doc.claude_endpoint.as_deref()
    }

    /// The serving rules: the pinned job, and no code of the caller's choosing.
    pub fn check_serving(&self, payload: &Payload) -> Result<()> {
        let given_job = payload.doc.get("job_id").and_then(Value::as_i64);
        if let (Some(pinned), Some(given)) = (self.pinned_job, given_job)
            && pinned != given
        {
            return Err(refuse(
                "job_id",
                format!(
                    "this endpoint starts job {pinned} only (--job-id); a payload cannot \
                     choose job {given}"
                ),
            ));
        }
        if !self.fixed_code {
            return Ok(());
        }
        let operator = "callers do not choose the code that runs (the operator may allow it \
                        with serve --allow-caller-code)";
        for key in ["task_overrides", "runner_path"] {
            if payload.doc.contains_key(key) {
                return Err(refuse(
                    key,
                    format!("{operator}; the runner is serve --runner-path"),
                ));
            }
        }
        if let Some(Value::Object(cluster)) = payload.doc.get("new_cluster") {
            for key in CLUSTER_CODE_KEYS {
                if cluster.contains_key(key) {
                    return Err(refuse(format!("new_cluster.{key}"), operator));
                }
            }
        }
        for (i, env) in payload.environments.iter().flatten().enumerate() {
            let spec = env.get("spec").and_then(Value::as_object);
            for key in spec.into_iter().flat_map(|s| s.keys()) {
                if !PLAIN_ENVIRONMENT_KEYS.contains(&key.as_str()) {
                    return Err(refuse(format!("environments[{i}].spec.{key}"), operator));
                }
            }
        }
        Ok(())
    }

    /// The document's rules on what the payload itself says: both sides check these before
    /// anything is sent (run: before the model is asked).
    pub fn check_payload(&self, payload: &Payload) -> Result<()> {
        let doc = &self.doc;
        if doc.adopt == Some(false) && payload.adopt {
            return Err(refuse(
                "adopt",
                "this deployment does not adopt pipelines it did not create (policy adopt: false)",
            ));
        }
        if let (Some(allowed), Some(given)) = (&doc.claude_endpoint, &payload.claude_endpoint)
            && allowed != given
        {
            return Err(refuse(
                "claude_endpoint",
                format!("this deployment asks the model endpoint `{allowed}` only, not `{given}`"),
            ));
        }
        // The data checks run SQL on the named warehouse as the run identity: only on one the
        // operator listed.
        if let (Some(allowed), Some(given)) = (&doc.warehouses, &payload.warehouse_id)
            && !allowed.iter().any(|w| w == given)
        {
            return Err(refuse(
                "warehouse_id",
                if allowed.is_empty() {
                    format!(
                        "this deployment runs no SQL on a warehouse (policy warehouses: []), \
                         not on `{given}`"
                    )
                } else {
                    format!(
                        "this deployment runs SQL on the warehouses {} only, not on `{given}`",
                        allowed.join(", ")
                    )
                },
            ));
        }
        if doc.caller_sources == Some(false) {
            for key in ["sources", "workspace_file_paths"] {
                if payload.doc.contains_key(key) {
                    return Err(refuse(
                        key,
                        "this deployment writes and uses only the model's source files \
                         (policy caller_sources: false)",
                    ));
                }
            }
        }
        let config = &payload.config;
        // The files the payload would have written first: they are what a refusal is about.
        let mut places: Vec<(String, &str)> = config
            .sources
            .keys()
            .map(|p| (format!("sources.{p}"), p.as_str()))
            .collect();
        let files = config.workspace_file_paths.iter().flatten().enumerate();
        places.extend(files.map(|(i, p)| (format!("workspace_file_paths[{i}]"), p.as_str())));
        // A root_path given or implied by the files (the model may still choose one).
        let root_path = config.root_path.as_deref();
        self.check_names(config.catalog.as_deref(), config.schema.as_deref())?;
        self.check_places(root_path, &places)
    }

    /// The document's rules on the complete config, the model's choices included, before
    /// anything is written or started.
    pub fn check_config(&self, cfg: &PipelineConfig) -> Result<()> {
        self.check_names(Some(&cfg.catalog), Some(&cfg.schema))?;
        let places: Vec<(String, &str)> = cfg
            .workspace_file_paths
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("workspace_file_paths[{i}]"), p.as_str()))
            .collect();
        self.check_places(Some(&cfg.root_path), &places)
    }

    fn check_names(&self, catalog: Option<&str>, schema: Option<&str>) -> Result<()> {
        if let (Some(globs), Some(catalog)) = (&self.doc.catalogs, catalog)
            && !matches_any(globs, catalog)
        {
            return Err(refuse(
                "catalog",
                format!(
                    "catalog `{catalog}` is not one this deployment may write to (policy \
                     catalogs: {})",
                    globs.join(", ")
                ),
            ));
        }
        if let (Some(globs), Some(catalog), Some(schema)) = (&self.doc.schemas, catalog, schema) {
            let qualified = format!("{catalog}.{schema}");
            if !matches_any(globs, &qualified) {
                return Err(refuse(
                    "schema",
                    format!(
                        "schema `{qualified}` is not one this deployment may write to (policy \
                         schemas: {})",
                        globs.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `root_path` and every source file: under the policy's root, never in the launcher's
    /// folder, and Python only when allowed.
    fn check_places(&self, root_path: Option<&str>, files: &[(String, &str)]) -> Result<()> {
        let root_path = root_path.map(|p| ("root_path".to_string(), p));
        for (field, path) in root_path.iter().chain(files) {
            if let Some(protected) = &self.protected
                && protected.holds(path)
                && !self.carved.as_ref().is_some_and(|c| c.holds(path))
            {
                return Err(refuse(
                    field.as_str(),
                    format!(
                        "`{path}` is in the deployment's own folder {} (it holds the policy and \
                         the launcher); nothing is written or used there",
                        protected.shown()
                    ),
                ));
            }
            if let Some(root) = &self.root
                && !root.holds(path)
            {
                return Err(refuse(
                    field.as_str(),
                    format!("`{path}` is not under {} (policy root)", root.shown()),
                ));
            }
        }
        if self.doc.python == Some(false)
            && let Some((field, path)) = files.iter().find(|(_, p)| p.ends_with(".py"))
        {
            return Err(refuse(
                field.as_str(),
                format!(
                    "`{path}` is a Python source; this deployment runs SQL only (policy python: false)"
                ),
            ));
        }
        Ok(())
    }
}

/// Whether `name` matches one of `globs`; Unity Catalog names ignore case.
fn matches_any(globs: &[String], name: &str) -> bool {
    let options = MatchOptions {
        case_sensitive: false,
        require_literal_separator: false,
        require_literal_leading_dot: false,
    };
    globs.iter().any(|g| {
        Pattern::new(g)
            .map(|p| p.matches_with(name, options))
            .unwrap_or(false)
    })
}

fn refuse(field: impl Into<String>, rule: impl Into<String>) -> Error {
    Error::PolicyRefused(PolicyRefusal::new(field, rule))
}

#[cfg(test)]
mod tests;
