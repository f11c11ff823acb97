//! A faithful local Databricks workspace on 127.0.0.1: Jobs (one-time runs, named jobs and
//! run-now), Pipelines (SDP), Workspace files, Unity Catalog (metastore assignment, volumes with
//! the Files API, registered models and their versions), Databricks Apps, Model Serving
//! endpoints for custom models, secret scopes, Foundation Model chat, the OAuth M2M token
//! endpoint with its OAuth metadata and signing keys (tokens are JWTs) and SCIM identities
//! (`Me`, users and service principals by name, with their groups), with the real paths,
//! shapes and error codes.
//! End-to-end tests script it (chat replies, faults, run execution) and inspect what the
//! client sent; the offline demo answers chat from a deterministic demo model.

mod apps;
mod auth;
mod body;
mod config;
pub mod data;
mod demo_model;
pub mod engine;
mod error;
mod faults;
mod fields;
mod files;
mod foundation_models;
mod gate;
mod identity;
mod ids;
mod jobs;
mod models;
mod oauth;
mod oidc;
mod permissions;
mod pipelines;
mod scim;
mod secrets;
mod seeds;
mod server;
mod serving;
mod sql_statements;
mod state;
mod uc_grants;
mod unity_catalog;
mod volumes;
mod workspace;

use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

pub use config::{
    DemoFlaw, EmulatorConfig, Engine, ModelConfig, RunExecutor, RunOutcome, SubmittedRun,
};
pub use engine::{EngineArgs, EngineKind, SparkEngine};
pub use faults::Fault;
pub use foundation_models::{
    ChatReply, MODEL_TOKEN_ENV, ModelArgs, ModelUpstream, ModelUsage, Recording, recording_key,
};
pub use gate::RecordedRequest;
pub use oauth::IssuedToken;
pub use scim::WorkspaceUser;

use state::{App, SharedApp};

/// The identity the emulated workspace reports as creator / run-as user.
pub(crate) const USER_NAME: &str = "sdp-agent@example.com";

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    app: SharedApp,
    /// Dropping this sender is the stop signal.
    stop: Option<watch::Sender<()>>,
    /// The serving thread when started with `spawn`.
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds 127.0.0.1:0 and serves on a dedicated thread with its own tokio runtime, so sync
    /// tests can use it. Stops on Drop.
    pub fn spawn(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        let (listener, addr) = server::bind(0)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sdp-emulator-rt")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let app = App::new(config, format!("http://{addr}"))?;
        let (stop, stopped) = watch::channel(());
        let served = app.clone();
        let thread = std::thread::Builder::new()
            .name("sdp-emulator".into())
            .spawn(move || {
                runtime.block_on(server::serve(listener, served, stopped));
                // Executor tasks and lingering connections must not keep the thread alive.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })?;
        Ok(Emulator {
            app,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Binds 127.0.0.1:0 and serves inside the caller's tokio runtime (for the host's `demo`
    /// and `serve`). Stops on Drop.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        Self::start_on_port(config, 0).await
    }

    /// Like `start`, on a fixed port (0 = ephemeral); used by the `sdp-emulator` binary.
    pub async fn start_on_port(config: EmulatorConfig, port: u16) -> anyhow::Result<Emulator> {
        let (listener, addr) = server::bind(port)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let app = App::new(config, format!("http://{addr}"))?;
        let (stop, stopped) = watch::channel(());
        tokio::spawn(server::serve(listener, app.clone(), stopped));
        Ok(Emulator {
            app,
            stop: Some(stop),
            thread: None,
        })
    }

    /// "http://127.0.0.1:PORT" (no trailing slash).
    pub fn url(&self) -> String {
        self.app.url.clone()
    }

    pub fn token(&self) -> Option<String> {
        self.app.config.token.clone()
    }

    /// Adds a workspace user (or replaces the one of the same name) whose bearer token is
    /// `token`: every route accepts it, and SCIM `Me` answers this user with its groups.
    pub fn add_user(&self, token: &str, user: WorkspaceUser) {
        let mut state = self.app.lock();
        let state = &mut *state;
        state.scim.add(&mut state.ids, token, user);
    }

    /// An OAuth access token for the workspace user (or service principal) `user_name`, as an
    /// OAuth app obtains one for its user: a JWT for `scope` (space-separated, e.g. `all-apis`
    /// or `iam.current-user:read`), expiring in `expires_in_secs` (negative: already expired).
    /// Routes accept it within its scope; SCIM `Me` answers that identity.
    pub fn user_token(&self, user_name: &str, scope: &str, expires_in_secs: i64) -> String {
        let issuer = format!("{}/oidc", self.app.url);
        self.app.lock().oauth.issue(
            &self.app.signing_key,
            oauth::NewToken {
                issuer: &issuer,
                subject: user_name,
                scope,
                expires_in_secs,
            },
        )
    }

    /// Access tokens `POST /oidc/v1/token` has issued, in order.
    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.app.lock().oauth.issued()
    }

    /// Queues replies (FIFO) for one serving endpoint; the demo model answers once they run out.
    pub fn script_chat(&self, endpoint: &str, replies: Vec<ChatReply>) {
        self.app.lock().chat.script(endpoint, replies);
    }

    /// Makes `endpoint` answer 400 to requests carrying `key` (e.g. `temperature`), as
    /// endpoints of models that do not take it do.
    pub fn refuse_chat_parameter(&self, endpoint: &str, key: &str) {
        self.app.lock().chat.refuse_parameter(endpoint, key);
    }

    /// Bodies received by any chat endpoint, in order.
    pub fn chat_requests(&self) -> Vec<Value> {
        self.app.lock().chat.requests.clone()
    }

    /// Chat answers given with success so far, and the tokens their `usage` reported.
    pub fn model_usage(&self) -> ModelUsage {
        self.app.lock().chat.usage
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.app.lock().faults.inject(fault);
    }

    /// Every request, in arrival order, with the status answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.app.lock().requests.clone()
    }

    /// Every run: `{"run_id", "request", "state": {...}}`.
    pub fn runs(&self) -> Vec<Value> {
        self.app.lock().jobs.summaries()
    }

    /// Every named job: `{"job_id", "settings": {...}}`, in creation order.
    pub fn jobs(&self) -> Vec<Value> {
        self.app.lock().named_jobs.summaries()
    }

    /// Logs of a run (by run id or task run id); empty until the run has finished.
    pub fn run_logs(&self, run_id: i64) -> Option<String> {
        self.app.lock().jobs.logs(run_id)
    }

    /// Each: `{"pipeline_id", "spec": {...}, "updates": [{update_id, state, full_refresh, ...}]}`.
    pub fn pipelines(&self) -> Vec<Value> {
        self.app.lock().pipelines.summaries()
    }

    /// The pipeline's event log, oldest first (empty for an unknown pipeline).
    pub fn pipeline_events(&self, pipeline_id: &str) -> Vec<Value> {
        let mut state = self.app.lock();
        state
            .pipelines
            .get_mut(pipeline_id)
            .map(|p| p.events.clone())
            .unwrap_or_default()
    }

    /// Seeds a pipeline directly (no validation); returns its id.
    pub fn create_pipeline(&self, spec: Value) -> String {
        self.create_pipeline_as(spec, USER_NAME)
    }

    /// Seeds a pipeline someone else created (`creator_user_name`); returns its id.
    pub fn create_pipeline_as(&self, spec: Value, creator: &str) -> String {
        let mut state = self.app.lock();
        let state = &mut *state;
        let spec = match spec {
            Value::Object(map) => map,
            _ => Default::default(),
        };
        let id = state.pipelines.insert(&mut state.ids, spec);
        if let Ok(pipeline) = state.pipelines.get_mut(&id) {
            pipeline.creator = creator.to_string();
        }
        state
            .permissions
            .set_owner(permissions::ObjectType::Pipelines, &id, creator);
        id
    }

    /// "COMPLETED" (default) | "FAILED" | "CANCELED" for the next update started.
    pub fn set_next_update_outcome(&self, final_state: &str) {
        self.app.lock().pipelines.next_outcome = Some(final_state.to_string());
    }

    /// The next update started fails, its ERROR event's `error.exceptions[0].message` saying
    /// `message`.
    pub fn set_next_update_error(&self, message: &str) {
        let mut state = self.app.lock();
        state.pipelines.next_outcome = Some("FAILED".to_string());
        state.pipelines.next_error = Some(message.to_string());
    }

    /// Seeds a workspace FILE (parents become directories).
    pub fn put_file(&self, path: &str, content: &str) {
        let mut state = self.app.lock();
        let state = &mut *state;
        state.workspace.put_file(&mut state.ids, path, content);
    }

    /// Seeds a workspace NOTEBOOK of `language` (SQL, PYTHON, ...) exactly at `path`.
    pub fn put_notebook(&self, path: &str, language: &str, content: &str) {
        let mut state = self.app.lock();
        let state = &mut *state;
        state
            .workspace
            .put_notebook(&mut state.ids, path, language, content);
    }

    /// Every Databricks App as GET answers it, plus `deployments` (oldest first).
    pub fn apps(&self) -> Vec<Value> {
        self.app.lock().apps.all()
    }

    /// Every Unity Catalog volume (VolumeInfo).
    pub fn volumes(&self) -> Vec<Value> {
        self.app.lock().volumes.all()
    }

    /// Every registered model's RegisteredModelInfo, with `versions` (MLflow ModelVersion).
    pub fn models(&self) -> Vec<Value> {
        self.app.lock().models.all()
    }

    /// Every serving endpoint as GET answers it (without applying a pending config).
    pub fn serving_endpoints(&self) -> Vec<Value> {
        self.app.lock().serving.all()
    }

    /// Seeds a secret (the scope is created when missing), as `databricks secrets put-secret`.
    pub fn put_secret(&self, scope: &str, key: &str, value: &str) {
        self.app.lock().secrets.put(scope, key, value);
    }

    /// The bytes of a volume file (`/Volumes/c/s/v/...`) or model version file
    /// (`/Models/c/s/m/<version>/...`), as uploaded with the Files API.
    pub fn volume_file(&self, path: &str) -> Option<Vec<u8>> {
        self.app.lock().files.get(path)
    }

    /// Every volume file's path and size.
    pub fn volume_files(&self) -> Vec<(String, usize)> {
        self.app.lock().files.list()
    }

    /// Decoded content of an imported or seeded file (or notebook).
    pub fn file(&self, path: &str) -> Option<String> {
        self.app.lock().workspace.file(path)
    }

    /// `FILE`, `NOTEBOOK` or `DIRECTORY` at `path`, if anything is there.
    pub fn object_type(&self, path: &str) -> Option<&'static str> {
        self.app.lock().workspace.object_type(path)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
