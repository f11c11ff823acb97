//! The whole workspace's state behind one mutex: handlers are short and never hold it across an
//! await, so a single lock keeps every answer consistent without ordering puzzles.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::fm::ChatState;
use crate::ids::Ids;
use crate::jobs::JobsState;
use crate::middleware::RecordedRequest;
use crate::oauth::OAuthState;
use crate::pipelines::PipelinesState;
use crate::workspace::WorkspaceState;

#[derive(Default)]
pub struct State {
    pub ids: Ids,
    pub requests: Vec<RecordedRequest>,
    pub faults: Faults,
    pub jobs: JobsState,
    pub pipelines: PipelinesState,
    pub workspace: WorkspaceState,
    pub chat: ChatState,
    pub oauth: OAuthState,
}

/// Everything a handler needs: fixed configuration, the served URL, and the mutable state.
pub struct App {
    pub config: EmulatorConfig,
    pub url: String,
    state: Mutex<State>,
}

pub type SharedApp = Arc<App>;

impl App {
    pub fn new(config: EmulatorConfig, url: String) -> SharedApp {
        Arc::new(Self {
            config,
            url,
            state: Mutex::new(State::default()),
        })
    }

    /// Whether requests need a bearer token at all.
    pub fn auth_required(&self) -> bool {
        self.config.token.is_some() || !self.config.oauth_clients.is_empty()
    }

    /// A panic in one handler must not wedge the emulator for the rest of a test run.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
