//! Every environment variable the host reads or passes on to the component, declared once.

/// The workspace URL; the only one of the workspace's settings the guest is given.
pub const HOST_ENV: &str = "DATABRICKS_HOST";
/// A personal access token.
pub const TOKEN_ENV: &str = "DATABRICKS_TOKEN";
/// OAuth M2M: the service principal's client id and secret.
pub const CLIENT_ID_ENV: &str = "DATABRICKS_CLIENT_ID";
pub const CLIENT_SECRET_ENV: &str = "DATABRICKS_CLIENT_SECRET";
/// Picks the method when more than one is configured (`pat`, `oauth-m2m`).
pub const AUTH_TYPE_ENV: &str = "DATABRICKS_AUTH_TYPE";
/// The profile of the config file to read (`--profile` wins).
pub const PROFILE_ENV: &str = "DATABRICKS_CONFIG_PROFILE";
/// The config file, instead of `~/.databrickscfg`.
pub const CONFIG_FILE_ENV: &str = "DATABRICKS_CONFIG_FILE";
/// The SDKs' metadata service handing out the workspace's current token.
pub const METADATA_SERVICE_URL_ENV: &str = "DATABRICKS_METADATA_SERVICE_URL";
/// Set by Databricks Apps in the app's environment: the port its proxy forwards to.
pub const APP_PORT_ENV: &str = "DATABRICKS_APP_PORT";
/// A PEM bundle of roots to trust besides the Mozilla ones (a TLS-inspecting proxy's CA, say),
/// read as OpenSSL-based clients (Python's, on a cluster) read it.
pub const CA_FILE_ENV: &str = "SSL_CERT_FILE";
/// Optional model endpoint name, passed through to the guest.
pub const CLAUDE_ENDPOINT_ENV: &str = "CLAUDE_ENDPOINT_NAME";
/// Given to the guest: the user name of the caller `serve` admitted (put in the run's name and
/// run-now's `caller` job parameter), or `run --caller` (put in the pipeline's tags).
pub const CALLER_ENV: &str = "SDP_AGENT_CALLER";
/// The deployment's staging folder (`deploy` makes it, and lets the serving identity create
/// files in it): where `predict` stages a payload too large for a job parameter.
pub const STAGING_DIR_ENV: &str = "SDP_AGENT_STAGING_DIR";
/// The deployed job `predict` starts with run-now (`--job-id`), passed through to the guest.
pub const JOB_ID_ENV: &str = "SDP_AGENT_JOB_ID";
/// Given to the guest: the policy document of `--policy` (JSON), which the guest enforces.
pub const POLICY_ENV: &str = "SDP_AGENT_POLICY";
/// Given to the guest: the folder of the `--policy @FILE` (the deployed launcher's), which
/// `run` never writes to or uses, whatever the policy says.
pub const POLICY_DIR_ENV: &str = "SDP_AGENT_POLICY_DIR";
/// Given to the guest by `serve`: `refused` when callers may not choose code (task overrides,
/// runner, cluster init scripts, libraries), set unless `--allow-caller-code`.
pub const CALLER_CODE_ENV: &str = "SDP_AGENT_CALLER_CODE";
pub const CALLER_CODE_REFUSED: &str = "refused";
/// The launcher of one-time runs (`serve --runner-path`), passed through to the guest.
pub const RUNNER_PATH_ENV: &str = "SDP_AGENT_RUNNER_PATH";
// The model endpoint's token for `demo`/`eval --model-url` (SDP_AGENT_MODEL_TOKEN) is declared
// once, beside the proxy that sends it: `sdp_emulator::MODEL_TOKEN_ENV`.
