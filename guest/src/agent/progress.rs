//! Progress of a run on stderr: one line per update state change and repair round, with the
//! time since the run began. The host passes the guest's stderr through, so a terminal, a
//! job's log on Databricks and a test read the same timeline.

use crate::databricks::{WorkspaceClient, updates};
use crate::error::{Error, Result};
use std::fmt::Display;
use std::time::{Duration, Instant};

pub struct Progress {
    started: Instant,
}

impl Progress {
    pub fn start() -> Self {
        Progress {
            started: Instant::now(),
        }
    }

    /// `sdp-agent: [  12.3s] <what>`
    pub fn say(&self, what: impl Display) {
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!("sdp-agent: [{secs:>7.1}s] {what}");
    }

    /// Polls the update until a final state, backing off from 50 ms to 5 s between polls;
    /// each state it is seen in is one line (`what` names the update, e.g. `validation update`).
    pub async fn wait_for(
        &self,
        ws: &WorkspaceClient,
        id: &str,
        update_id: &str,
        what: &str,
        timeout_secs: u64,
    ) -> Result<String> {
        let started = Instant::now();
        let limit = Duration::from_secs(timeout_secs);
        let mut pause = Duration::from_millis(50);
        let mut seen = String::new();
        loop {
            let state = updates::state(ws, id, update_id).await?;
            if state != seen {
                self.say(format_args!("{what} {update_id}: {state}"));
                seen.clone_from(&state);
            }
            if updates::FINAL_STATES.contains(&state.as_str()) {
                return Ok(state);
            }
            if started.elapsed() + pause > limit {
                return Err(Error::Timeout(format!(
                    "pipeline {id} {what} {update_id} still {state} after {timeout_secs} s"
                )));
            }
            wstd::task::sleep(pause.into()).await;
            pause = Duration::from_millis((pause.as_millis() as u64 * 2).min(5_000));
        }
    }
}
