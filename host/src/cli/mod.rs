//! Command line: flags and commands; [`payload`] turns payload arguments into JSON text.

mod payload;

pub use payload::{job_argument, predict_payload, run_payload, with_dry_run};

use crate::agent::AgentOptions;
use crate::client::HttpClient;
use crate::deadline::DEFAULT_TIMEOUT_SECS;
use crate::egress::AllowedHost;
use crate::env::{CLAUDE_ENDPOINT_ENV, POLICY_ENV, STAGING_DIR_ENV};
use crate::limits::Limits;
use crate::outcome::Failure;
use crate::policy::Policy;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "sdp-agent",
    version,
    about = "Runs the sdp-agent WebAssembly component: request in words -> Spark Declarative Pipeline",
    after_help = "Environment: DATABRICKS_HOST (workspace URL); DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID + \
                  DATABRICKS_CLIENT_SECRET (OAuth M2M); else a profile of ~/.databrickscfg \
                  (DATABRICKS_CONFIG_FILE, DATABRICKS_CONFIG_PROFILE). Credentials stay in the host, \
                  never given to the component. CLAUDE_ENDPOINT_NAME (optional), RUST_LOG (log level, default warn). \
                  SDP_AGENT_MODEL_TOKEN: the bearer token of demo's and eval's --model-url."
)]
pub struct Cli {
    /// Component to run instead of the embedded one (.wasm).
    #[arg(long, global = true, value_name = "PATH", env = "SDP_AGENT_COMPONENT")]
    pub component: Option<PathBuf>,

    /// Also let the component reach HOST (any port) or HOST:PORT; repeatable. The workspace is
    /// always allowed; credentials are only ever sent to the workspace.
    #[arg(long = "allow-host", global = true, value_name = "HOST[:PORT]")]
    pub allow_host: Vec<AllowedHost>,

    /// Deadline of each component call, in seconds. `run` of a payload with `"wait": true`
    /// gets its `wait_timeout_seconds` on top, so waiting never eats the time of the work.
    #[arg(long, global = true, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Longest wait, in seconds, for the answer to any one outgoing request (its response
    /// head), whatever the component asked for. Without it each request waits as long as the
    /// component asks (60 s for workspace calls, 300 s for the model), or 60 s when it asks
    /// nothing. A stalled workspace then looks like a timeout to the component, which retries
    /// what is safe to retry (reads, idempotent submits) instead of waiting for --timeout.
    #[arg(long = "http-timeout", global = true, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub http_timeout: Option<u64>,

    /// Linear memory the component may use per call, in MiB (all its memories together).
    /// Past it, allocations fail and the call ends with a `trap` error naming this limit.
    #[arg(long, global = true, value_name = "MIB",
          default_value_t = crate::limits::DEFAULT_MAX_MEMORY_MIB,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_memory: u64,

    /// Profile of ~/.databrickscfg (or DATABRICKS_CONFIG_FILE) to take the workspace and
    /// credentials from; overrides DATABRICKS_CONFIG_PROFILE. Environment values still win.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// A job deployed by `sdp-agent deploy`: predict starts it with run-now (the payload
    /// travels as its `payload` job parameter) instead of submitting a one-time run. The job
    /// is pinned: a payload naming another `job_id` is refused (`policy_refused`).
    #[arg(long = "job-id", global = true, value_name = "ID", env = "SDP_AGENT_JOB_ID",
          value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    pub job_id: Option<u64>,

    /// The deployment's staging folder (`sdp-agent deploy` makes it and names it in the App's
    /// and the endpoint's environment): `predict` writes a payload too large for a job
    /// parameter there. Without it, such a payload of an admitted caller is refused (a caller
    /// must not pick where the deployment writes); one's own is staged under its `root_path`.
    #[arg(long = "staging-dir", global = true, value_name = "DIR", env = STAGING_DIR_ENV,
          value_parser = staging_dir)]
    pub staging_dir: Option<String>,

    /// Plan mode for `predict` and `run`: send the reads (lookups, the model), withhold every
    /// write, and print `{"plan": [{"method", "path", "body"}, ...], ...}`. The same as
    /// `"dry_run": true` in the payload.
    #[arg(long)]
    pub dry_run: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Wait for a response head when neither the component nor `--http-timeout` sets one.
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a payload and submit the one-time Jobs run that will build the pipeline.
    Predict {
        /// Payload JSON, `@FILE`, or `-`/absent for stdin.
        #[arg(value_name = "PAYLOAD")]
        payload: Option<String>,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Job side: create or edit the pipeline and start an update.
    Run(RunArgs),
    /// Serve the component's Model Serving (MLflow scoring) protocol over HTTP/1.1.
    Serve(ServeArgs),
    /// Put the agent into a workspace: binaries to a volume, a job, and (by default) an app
    /// serving predict. Idempotent; prints one JSON line.
    // Boxed: its many flags would make every other command as large (clippy::large_enum_variant).
    Deploy(Box<crate::deploy::DeployArgs>),
    /// Write the agent as an MLflow pyfunc model directory (what `deploy --serve
    /// model-serving` registers): MLmodel, a loader module, the binaries as data.
    PackageModel(crate::deploy::PackageArgs),
    /// Run a folder of evaluation cases through the whole loop offline and report how each
    /// ended (a table, or JSON with --json); exit 1 when any case fails.
    Eval(crate::eval::EvalArgs),
    /// Offline end-to-end demo against an in-process workspace emulator.
    Demo {
        /// What the pipeline should do, in words.
        #[arg(value_name = "QUESTION")]
        question: Option<String>,
        #[command(flatten)]
        engine: sdp_emulator::EngineArgs,
        /// The offline model's first answer has a mistake, so validation fails and the agent
        /// repairs it: `--flaw` (= `--flaw=table`, a table read under a wrong name),
        /// `--flaw=column` (a misspelled column) or `--flaw=streaming` (a streaming table over
        /// a batch source).
        #[arg(long, env = "SDP_AGENT_DEMO_FLAW", value_enum, num_args = 0..=1, require_equals = true,
              default_value = "none", default_missing_value = "table")]
        flaw: sdp_emulator::DemoFlaw,
        #[command(flatten)]
        model: sdp_emulator::ModelArgs,
    },
}

/// Exactly one payload source: the Databricks job convention (base64 in argv) or plain JSON.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["payload_b64", "payload"])))]
pub struct RunArgs {
    /// Base64 of the payload JSON (standard or URL-safe, padding optional), as a job passes
    /// it; or `@/Workspace/...`, a workspace file holding the JSON (predict stages large
    /// payloads so), which the component reads through the Workspace API.
    #[arg(value_name = "PAYLOAD_B64")]
    pub payload_b64: Option<String>,

    /// Payload JSON or `@FILE`, instead of PAYLOAD_B64.
    #[arg(long, value_name = "JSON|@FILE")]
    pub payload: Option<String>,

    #[command(flatten)]
    pub policy: PolicyArg,

    /// Who asked for this run (the deployed job's `caller` parameter, which `serve` sets to
    /// the admitted caller): written to the pipeline's tags as `sdp_agent_caller` and to the
    /// output as `caller`. Empty means unknown.
    #[arg(long, value_name = "NAME", value_parser = caller_name)]
    pub caller: Option<String>,
}

/// `--policy`, shared by `predict`, `run` and `serve`.
#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArg {
    /// The deployment's policy: what a request may touch (catalogs, schemas, root, Python,
    /// caller sources, adopt, model endpoint). JSON, or `@FILE` holding it (or holding
    /// `sdp_agent_deploy.json`, whose `policy` key it is); nothing is ever written under that
    /// file's folder. A refusal is `policy_refused`; a malformed policy a `config` error.
    #[arg(long = "policy", value_name = "JSON|@FILE", env = POLICY_ENV)]
    pub policy: Option<String>,
}

/// A caller's user or application name (it goes into a tag): no spaces or control characters.
fn caller_name(text: &str) -> Result<String, String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a user or application name has no spaces or control characters".into());
    }
    if text.len() > 255 {
        return Err("at most 255 characters".into());
    }
    Ok(text.to_string())
}

/// `--staging-dir`: an absolute workspace folder.
fn staging_dir(text: &str) -> Result<String, String> {
    let text = text.trim();
    if !text.starts_with('/') || text.split('/').any(|s| s == "..") {
        return Err(format!(
            "`{text}` must be an absolute workspace folder, e.g. /Workspace/Users/<you>/.sdp-agent/sdp-agent/staging"
        ));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// `serve --runner-path`: the launcher's workspace path or storage URI, a `.py` file.
fn runner_path(text: &str) -> Result<String, String> {
    let uri = ["dbfs:/", "s3://", "s3a://", "abfss://", "gs://"]
        .iter()
        .any(|p| text.starts_with(p));
    if !(text.starts_with('/') || uri) || !text.ends_with(".py") {
        return Err(format!(
            "`{text}` must be the launcher's absolute workspace path (or a dbfs:/ or cloud \
             storage URI) ending in .py"
        ));
    }
    Ok(text.to_string())
}

impl Cli {
    /// What every call of the component shares: egress, deadline, model endpoint, limits.
    pub fn agent_options(&self) -> AgentOptions {
        AgentOptions {
            allow_hosts: self.allow_host.clone(),
            timeout: Duration::from_secs(self.timeout),
            claude_endpoint: std::env::var(CLAUDE_ENDPOINT_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty()),
            job_id: self.job_id,
            policy: None,
            fixed_code: false,
            runner_path: None,
            staging_dir: self.staging_dir.clone(),
            caller: None,
            limits: Limits::from_mib(self.max_memory),
            live_progress: false,
        }
    }

    /// The command's `--policy`, read and checked (a malformed one is a `config` failure).
    pub fn policy(&self) -> Result<Option<Policy>, Failure> {
        let arg = match &self.command {
            Command::Predict { policy, .. } => policy,
            Command::Run(args) => &args.policy,
            Command::Serve(args) => &args.policy,
            _ => return Ok(None),
        };
        arg.policy.as_deref().map(crate::policy::read).transpose()
    }

    /// The one pooled client of this process: a response head is due when the component
    /// asked for it, else within `DEFAULT_HTTP_TIMEOUT_SECS`; `--http-timeout` caps both.
    pub fn http_client(&self) -> Result<HttpClient, Failure> {
        let client = HttpClient::new()
            .map_err(|e| Failure::Config(format!("HTTP client: {e:#}")))?
            .with_head_default(Duration::from_secs(DEFAULT_HTTP_TIMEOUT_SECS));
        Ok(match self.http_timeout {
            Some(secs) => client.with_head_cap(Duration::from_secs(secs)),
            None => client,
        })
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the line on stderr tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Requests run at once, each in its own instance [default: 2 x CPU cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_concurrency: Option<u32>,

    /// Requests that may wait for a free slot; beyond that the answer is 503 with Retry-After.
    #[arg(long, value_name = "M", default_value_t = 64)]
    pub max_queue: u32,

    /// Largest request body accepted (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Deadline of each request, queueing and the component's outgoing calls included (504).
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,

    /// Who may call (every route but /ping, /health and /api/ping). Required to listen on an
    /// address other than loopback; on loopback the default is `none`.
    #[arg(long, value_name = "POLICY", value_enum)]
    pub callers: Option<CallerPolicy>,

    /// Admit only members of group G (repeatable: any one of them suffices). Needs --callers
    /// workspace or app.
    #[arg(long = "allow-group", value_name = "G")]
    pub allow_group: Vec<String>,

    /// Also accept OAuth tokens (JWTs) issued for scope S besides `all-apis` (repeatable).
    /// Tokens for other scopes were minted for something else (another app's users) and are
    /// refused before the workspace is asked.
    #[arg(long = "accept-scope", value_name = "S")]
    pub accept_scope: Vec<String>,

    /// Identity checks (uncached callers) allowed per second from one client address; bursts
    /// of twice as many. Beyond it: 429 with Retry-After. Cached callers are never limited.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub checks_per_address: u32,

    /// Identity checks allowed per second from all clients together (behind a proxy every
    /// caller shares one address). Beyond it: 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub checks_per_second: u32,

    /// Serve Prometheus metrics at `GET http://ADDR/metrics`: a port of its own, so they are
    /// never exposed with the endpoint. Off by default; an address other than loopback needs
    /// --metrics-public.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Allow --metrics-listen on an address other than loopback (the metrics are not
    /// authenticated: anyone who reaches the port reads them).
    #[arg(long)]
    pub metrics_public: bool,

    #[command(flatten)]
    pub policy: PolicyArg,

    /// Let callers choose code: `task_overrides`, `runner_path`, cluster init scripts, Docker
    /// image and environment variables, environment dependencies. Without it, when callers
    /// are checked (--callers workspace|app) or off loopback, such payloads are refused
    /// (403 `policy_refused`): every admitted caller would run their code as this deployment.
    #[arg(long)]
    pub allow_caller_code: bool,

    /// The launcher one-time runs execute (payloads then need no `runner_path`, which callers
    /// may not give unless --allow-caller-code).
    #[arg(long = "runner-path", value_name = "PATH", env = "SDP_AGENT_RUNNER_PATH",
          value_parser = runner_path)]
    pub runner_path: Option<String>,
}

/// `serve --callers`: how a caller proves who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CallerPolicy {
    /// A Databricks token of this workspace (`Authorization: Bearer`), checked with SCIM Me.
    Workspace,
    /// The user the Databricks Apps proxy names in X-Forwarded-Email (only inside an App).
    App,
    /// No check: anyone who can reach the port.
    None,
}

#[cfg(test)]
mod tests;
