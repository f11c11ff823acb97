//! `sdp-agent deploy`'s flags and the checks of their values that need no workspace.

use super::job::Compute;
use super::model_version::ModelName;
use super::policy::PolicyArgs;
use crate::outcome::Failure;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;

pub const DEFAULT_CLAUDE_ENDPOINT: &str = "databricks-claude-sonnet-4-5";

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Unity Catalog volume for the binaries (created, MANAGED, when missing).
    #[arg(long, value_name = "CATALOG.SCHEMA.VOLUME", value_parser = parse_volume)]
    pub volume: VolumeName,

    /// Name of the job (and of the app): found and updated when it exists.
    #[arg(long, value_name = "NAME", default_value = "sdp-agent")]
    pub name: String,

    /// What serves `predict`: a Databricks App running `sdp-agent serve`, a Model Serving
    /// endpoint (an MLflow pyfunc model in Unity Catalog), or nothing (the job alone, for
    /// callers that run predict themselves with `--job-id`).
    #[arg(long, value_enum, default_value_t = Serve::App)]
    pub serve: Serve,

    /// With --serve model-serving: the Unity Catalog model to register a version of
    /// [default: the volume's catalog and schema, NAME with `-` as `_`].
    #[arg(long, value_name = "CATALOG.SCHEMA.MODEL", value_parser = parse_volume)]
    pub model: Option<VolumeName>,

    /// With --serve model-serving: the secret scope holding the endpoint's credentials,
    /// `client-id` and `client-secret` (a service principal) or `token` [default: NAME].
    #[arg(long, value_name = "SCOPE")]
    pub secret_scope: Option<String>,

    /// Foundation Model endpoint that fills in missing config (CLAUDE_ENDPOINT_NAME of the
    /// served predict and of the job's runs).
    #[arg(long, value_name = "ENDPOINT", default_value = DEFAULT_CLAUDE_ENDPOINT)]
    pub claude_endpoint: String,

    /// Run the job on this cluster instead of serverless compute.
    #[arg(long, value_name = "ID")]
    pub existing_cluster_id: Option<String>,

    /// Workspace folder for the launcher and the app sources
    /// [default: /Workspace/Users/<you>/.sdp-agent/<NAME>].
    #[arg(long, value_name = "PATH")]
    pub workspace_dir: Option<String>,

    /// Folder with the release binaries (sdp-agent-<arch>-unknown-linux-musl)
    /// [default: ./dist, then the folder of this binary].
    #[arg(long, value_name = "DIR")]
    pub dist: Option<PathBuf>,

    /// Longest wait for the app's compute and deployment, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1200,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_timeout: u64,

    /// Take over a job, app or serving endpoint named NAME that deploy did not make (it lacks
    /// deploy's tag): without this flag, deploy refuses to touch it.
    #[arg(long)]
    pub adopt: bool,
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The service principal (application id) the job's runs act as; deploy grants it only
    /// what runs need [default: what the job already runs as, else you].
    #[arg(long, value_name = "APPLICATION_ID")]
    pub run_as: Option<String>,

    /// With --serve model-serving: the endpoint's service principal (the application id of
    /// the secret scope's `client-id`), granted CAN_MANAGE_RUN on the job, read on the
    /// deployment folder and creating files in its staging folder.
    #[arg(long, value_name = "APPLICATION_ID")]
    pub serving_principal: Option<String>,

    /// Send only reads; print the writes that would be made.
    #[arg(long)]
    pub dry_run: bool,

    /// Instead of calling the workspace, write the same resources as a Databricks Asset Bundle
    /// into DIR (`databricks.yml` and the sources; new, empty, or an earlier bundle of ours).
    #[arg(long, value_name = "DIR", conflicts_with = "dry_run")]
    pub bundle: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Serve {
    App,
    ModelServing,
    None,
}

impl Serve {
    /// Who runs the uploaded binaries on an image not ours (so they must be static), if any:
    /// with `--serve none` only the job's clusters run them.
    pub fn image_runner(self) -> Option<&'static str> {
        match self {
            Serve::App => Some("a Databricks App"),
            Serve::ModelServing => Some("Model Serving"),
            Serve::None => None,
        }
    }
}

/// `catalog.schema.volume` (or `catalog.schema.model`).
#[derive(Clone, Debug)]
pub struct VolumeName {
    pub catalog: String,
    pub schema: String,
    pub volume: String,
}

impl VolumeName {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.volume)
    }

    pub fn path(&self) -> String {
        format!("/Volumes/{}/{}/{}", self.catalog, self.schema, self.volume)
    }

    /// The volume's create body (`POST /api/2.1/unity-catalog/volumes`, a bundle's volume).
    pub fn create_body(&self) -> Value {
        json!({"catalog_name": self.catalog, "schema_name": self.schema,
               "name": self.volume, "volume_type": "MANAGED"})
    }
}

impl DeployArgs {
    /// The binaries' folder in the volume: one per version, so a deploy never changes what a
    /// running older version downloads.
    pub fn release_path(&self) -> String {
        format!("{}/{}", self.volume.path(), env!("CARGO_PKG_VERSION"))
    }

    pub fn compute(&self) -> Compute<'_> {
        match &self.existing_cluster_id {
            Some(id) => Compute::Cluster(id),
            None => Compute::Serverless,
        }
    }

    /// `--model`, by default in the volume's schema, named after `--name`.
    pub fn model_name(&self) -> ModelName {
        match &self.model {
            Some(m) => ModelName::new(&m.catalog, &m.schema, &m.volume),
            None => ModelName::new(
                &self.volume.catalog,
                &self.volume.schema,
                &self.name.replace('-', "_"),
            ),
        }
    }

    pub fn secret_scope(&self) -> &str {
        self.secret_scope.as_deref().unwrap_or(&self.name)
    }

    /// The checks of the policy and identity flags that need no workspace.
    pub fn check_access(&self) -> Result<(), Failure> {
        self.policy.check()?;
        super::run_as::check_flag(self.run_as.as_deref())?;
        match (&self.serving_principal, self.serve) {
            (Some(_), serve) if serve != Serve::ModelServing => Err(Failure::invalid_field(
                "--serving-principal",
                "only with --serve model-serving (an App serves as its own service principal)",
            )),
            (Some(id), _) if id.trim().is_empty() || id.chars().any(char::is_whitespace) => {
                Err(Failure::invalid_field(
                    "--serving-principal",
                    format!("`{id}` is not a service principal's application id"),
                ))
            }
            _ => Ok(()),
        }
    }
}

fn parse_volume(text: &str) -> Result<VolumeName, String> {
    let parts: Vec<&str> = text.split('.').collect();
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    match parts.as_slice() {
        [c, s, v] if [c, s, v].iter().all(|p| ok(p)) => Ok(VolumeName {
            catalog: c.to_string(),
            schema: s.to_string(),
            volume: v.to_string(),
        }),
        _ => Err(format!(
            "`{text}` is not CATALOG.SCHEMA.VOLUME (three names of letters, digits, _ or -)"
        )),
    }
}

/// `--name` must suit what it names: an app's name becomes part of its URL, an endpoint's of
/// its invocation path.
pub fn check_name(name: &str, serve: Serve) -> Result<(), Failure> {
    if name.trim().is_empty() {
        return Err(Failure::invalid_field("--name", "must not be empty"));
    }
    let all = |allowed: fn(char) -> bool| name.chars().all(allowed);
    let (ok, rule) = match serve {
        Serve::App => (
            (2..=30).contains(&name.len())
                && all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.starts_with('-')
                && !name.ends_with('-'),
            "an app: use 2 to 30 lower-case letters, digits and hyphens (or --serve none)",
        ),
        Serve::ModelServing => (
            name.len() <= 63 && all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "a serving endpoint: use at most 63 letters, digits, - and _",
        ),
        Serve::None => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(Failure::invalid_field(
            "--name",
            format!("`{name}` cannot name {rule}"),
        ))
    }
}

/// `--workspace-dir`, without a trailing slash: it must be an absolute workspace path.
pub fn check_workspace_dir(dir: &str) -> Result<String, Failure> {
    if dir.starts_with('/') {
        Ok(dir.trim_end_matches('/').to_string())
    } else {
        Err(Failure::invalid_field(
            "--workspace-dir",
            format!("`{dir}` must be an absolute workspace path"),
        ))
    }
}
