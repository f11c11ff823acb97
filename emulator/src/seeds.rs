//! What tests seed that no request of theirs could make: a job, app or serving endpoint that
//! another user created (deploy must not take it over), and work still in progress (an app
//! deployment, an endpoint's config update) held for a number of reads, as a slow workspace
//! would.

use serde_json::{Map, Value};

use crate::Emulator;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl Emulator {
    /// A job with these settings that `creator` made; answers its id.
    pub fn create_job_as(&self, settings: Value, creator: &str) -> i64 {
        let mut state = self.app.lock();
        let state = &mut *state;
        let job_id = state.ids.job_id();
        state.named_jobs.seed(job_id, object(settings), creator);
        job_id
    }

    /// An app (`{"name", "description", ...}`) that `creator` made.
    pub fn create_app_as(&self, app: Value, creator: &str) {
        let mut state = self.app.lock();
        crate::apps::insert(&mut state, object(app), creator);
    }

    /// A serving endpoint (`{"name", "config", "tags", ...}`) that `creator` made, its config
    /// in place.
    pub fn create_serving_endpoint_as(&self, endpoint: Value, creator: &str) {
        let mut state = self.app.lock();
        let state = &mut *state;
        let id = state.ids.uuid().replace('-', "");
        state.serving.seed(id, object(endpoint), creator);
    }

    /// The app's deployment in progress stays so for `reads` more reads of it; false when
    /// none is in progress.
    pub fn hold_app_deployment(&self, name: &str, reads: u32) -> bool {
        self.app.lock().apps.hold_deployment(name, reads)
    }

    /// The endpoint's pending config stays IN_PROGRESS for `reads` more reads; false when
    /// none is pending.
    pub fn hold_serving_update(&self, name: &str, reads: u32) -> bool {
        self.app.lock().serving.hold_update(name, reads)
    }
}
