//! How an emulator instance behaves, and the hook that "executes" submitted job runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::scim::WorkspaceUser;

pub use crate::demo_model::DemoFlaw;
pub use crate::engine::Engine;
pub use crate::foundation_models::ModelConfig;

/// Knobs for one emulator instance. `Default` gives a realistic workspace that needs a token.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Personal access token requests may carry as `Bearer` (401 UNAUTHENTICATED otherwise).
    /// None with no `oauth_clients` = no check.
    pub token: Option<String>,
    /// OAuth M2M clients `(client_id, client_secret)` that `POST /oidc/v1/token` accepts; the
    /// tokens it issues are accepted like `token` until they expire. Default none.
    pub oauth_clients: Vec<(String, String)>,
    /// Workspace users, each with a bearer token of its own (`token`, user): every route
    /// accepts the token and SCIM `Me` answers the user with its groups. The personal access
    /// token `token` always belongs to `sdp-agent@example.com` (group `admins`). Default none.
    pub users: Vec<(String, WorkspaceUser)>,
    /// Lifetime of an issued OAuth token (`expires_in`), in seconds. Default 3600.
    pub oauth_token_ttl_secs: u64,
    /// Max page size for GET /api/2.0/pipelines (requests asking more are capped). Default 25.
    pub list_page_size: usize,
    /// How many GETs of an update it takes to move it one state forward (default 1):
    /// QUEUED -> CREATED -> WAITING_FOR_RESOURCES -> INITIALIZING -> SETTING_UP_TABLES -> RUNNING -> COMPLETED.
    pub update_polls_per_state: usize,
    /// Make the pipelines `name LIKE` filter case-insensitive, as SQL LIKE is in some engines:
    /// a LIKE match is then clearly not an exact match. Default false.
    pub like_case_insensitive: bool,
    /// Whether `\` escapes the next character in the `name LIKE` filter. The docs name no
    /// escape character, so clients must work either way; false makes it ordinary. Default true.
    pub like_backslash_escapes: bool,
    /// `default_catalog_name` of `GET /api/2.1/unity-catalog/current-metastore-assignment`;
    /// None = no metastore assigned (404). Default `main`.
    pub default_catalog_name: Option<String>,
    /// Omit run_page_url from runs/get answers (tests the agent's fallback). Default false.
    pub omit_run_page_url: bool,
    /// Called (as a spawned tokio task) for every NEW run accepted by runs/submit; the run goes
    /// PENDING -> RUNNING while it executes and TERMINATED/SUCCESS or FAILED afterwards, and
    /// `RunOutcome.logs` becomes runs/get-output `logs`.
    /// None = the run is marked TERMINATED/SUCCESS immediately with empty logs.
    pub run_executor: Option<RunExecutor>,
    /// What runs pipeline updates' code: the structural check (default) or Apache Spark
    /// Declarative Pipelines (`Engine::Spark`).
    pub engine: Engine,
    /// The mistake the demo model's first answer in a conversation makes (a wrong table,
    /// column or streaming read); a follow-up turn (a repair request) fixes what its errors
    /// name. Shows a repair round. Default none.
    pub demo_flaw: DemoFlaw,
    /// A directory of real files the workspace starts with (`--data`, see `data.rs`):
    /// `DIR/<catalog>/<schema>/<volume>/…` is the volume's `/Volumes/…`. Default none.
    pub data: Option<std::path::PathBuf>,
    /// Who else answers the chat route: a real model (`--model-url`), a recording
    /// (`--replay`), and whether exchanges are recorded. Default: the emulator itself.
    pub model: ModelConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            token: Some("dapi-emulator-token".to_string()),
            oauth_clients: Vec::new(),
            users: Vec::new(),
            oauth_token_ttl_secs: 3600,
            list_page_size: 25,
            update_polls_per_state: 1,
            like_case_insensitive: false,
            like_backslash_escapes: true,
            default_catalog_name: Some("main".to_string()),
            omit_run_page_url: false,
            run_executor: None,
            engine: Engine::Structural,
            demo_flaw: DemoFlaw::None,
            data: None,
            model: ModelConfig::default(),
        }
    }
}

/// Runs a submitted job run (e.g. by executing the agent's runner) and reports how it ended.
pub type RunExecutor =
    Arc<dyn Fn(SubmittedRun) -> Pin<Box<dyn Future<Output = RunOutcome> + Send>> + Send + Sync>;

/// What the executor is handed: the new run id and the runs/submit body exactly as received.
#[derive(Clone, Debug)]
pub struct SubmittedRun {
    pub run_id: i64,
    pub request: serde_json::Value,
}

/// How an executed run ended; `logs` is what runs/get-output answers as `logs`.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub success: bool,
    pub logs: String,
    pub error: Option<String>,
}
