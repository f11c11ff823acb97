//! The whole workspace's state behind one mutex: handlers are short and never hold it across an
//! await, so a single lock keeps every answer consistent without ordering puzzles.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::apps::AppsState;
use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::files::FilesState;
use crate::foundation_models::ChatState;
use crate::gate::RecordedRequest;
use crate::identity::Caller;
use crate::ids::Ids;
use crate::jobs::JobsState;
use crate::jobs::named::NamedJobs;
use crate::models::ModelsState;
use crate::oauth::{OAuthState, TokenStatus};
use crate::oidc::SigningKey;
use crate::permissions::PermissionsState;
use crate::pipelines::PipelinesState;
use crate::scim::{ScimState, WorkspaceUser};
use crate::secrets::SecretsState;
use crate::serving::ServingState;
use crate::uc_grants::UcGrants;
use crate::volumes::VolumesState;
use crate::workspace::WorkspaceState;

#[derive(Default)]
pub struct State {
    pub ids: Ids,
    pub requests: Vec<RecordedRequest>,
    pub faults: Faults,
    pub jobs: JobsState,
    pub named_jobs: NamedJobs,
    pub pipelines: PipelinesState,
    pub workspace: WorkspaceState,
    pub volumes: VolumesState,
    pub files: FilesState,
    pub apps: AppsState,
    pub models: ModelsState,
    pub serving: ServingState,
    pub secrets: SecretsState,
    pub chat: ChatState,
    pub oauth: OAuthState,
    pub scim: ScimState,
    /// Tables read from `--data` files (`data.rs`), for the local engine.
    pub data_tables: Vec<crate::data::DataTable>,
    pub permissions: PermissionsState,
    pub uc_grants: UcGrants,
    pub statements: crate::sql_statements::StatementsState,
}

/// Everything a handler needs: fixed configuration, the served URL, and the mutable state.
pub struct App {
    pub config: EmulatorConfig,
    pub url: String,
    /// Signs the OAuth tokens this workspace issues; published at `/oidc/jwks.json`.
    pub signing_key: SigningKey,
    state: Mutex<State>,
}

pub type SharedApp = Arc<App>;

impl App {
    /// Fails when the data directory (`config.data`) cannot be read.
    pub fn new(mut config: EmulatorConfig, url: String) -> anyhow::Result<SharedApp> {
        // An engine may be shared by emulators (one warm Spark server): this one's pipelines
        // get a namespace of their own there.
        if let crate::config::Engine::Spark(spark) = &mut config.engine {
            *spark = spark.for_emulator();
        }
        let mut state = State::default();
        // The deployment's own identity: the personal access token's user, a workspace admin.
        let owner = WorkspaceUser::new(crate::USER_NAME).in_groups(&["admins"]);
        match &config.token {
            Some(token) => state.scim.add(&mut state.ids, token, owner),
            None => {
                state.scim.add_user(&mut state.ids, owner);
            }
        }
        for (token, user) in &config.users {
            state.scim.add(&mut state.ids, token, user.clone());
        }
        if let Some(dir) = &config.data {
            crate::data::mount(&mut state, dir)?;
        }
        Ok(Arc::new(Self {
            config,
            url,
            signing_key: SigningKey::generate(),
            state: Mutex::new(state),
        }))
    }

    /// Whether the gate lets `token` through: a user's own token or a live OAuth token.
    pub fn token_status(&self, token: &str, now: std::time::Instant) -> TokenStatus {
        let state = self.lock();
        if state.scim.knows(token) {
            return TokenStatus::Valid;
        }
        state.oauth.status(token, now)
    }

    /// Whether a valid `token` may call `path`: any token but an OAuth token of a narrower
    /// scope than `all-apis`.
    pub fn token_allows(&self, token: &str, path: &str) -> bool {
        self.lock()
            .oauth
            .scopes_of(token)
            .is_none_or(|scopes| crate::oidc::scope_allows(&scopes, path))
    }

    /// The identity behind a bearer token the gate accepted: a user's own token, an OAuth
    /// token's service principal (its client id), else the workspace's own admin identity
    /// (the personal access token, or any request when auth is off).
    pub fn caller(&self, token: Option<&str>) -> Caller {
        let state = self.lock();
        let Some(token) = token else {
            return Caller::owner();
        };
        if let Some(caller) = state.scim.caller_of_token(token) {
            return caller;
        }
        match state.oauth.subject_of(token) {
            Some(client_id) => Caller {
                groups: state.scim.groups_of(&client_id).unwrap_or_default(),
                name: client_id,
            },
            None => Caller::owner(),
        }
    }

    /// Whether requests need a bearer token at all.
    pub fn auth_required(&self) -> bool {
        self.config.token.is_some()
            || !self.config.oauth_clients.is_empty()
            || !self.config.users.is_empty()
    }

    /// A panic in one handler must not wedge the emulator for the rest of a test run.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
