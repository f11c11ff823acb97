//! One offline session: an in-process workspace emulator whose run executor plays the cluster
//! (it decodes the job's `argv[1]` and calls the component's `run`, the way
//! `launcher/sdp_agent_launcher.py` does on a real cluster), and the agent pointed at it.
//! `demo` drives one session; `eval` one per case.

use crate::agent::Agent;
use crate::cli::{Cli, job_argument};
use crate::component::{Export, Runtime};
use crate::deadline::Deadline;
use crate::outcome::{Failure, Success, render};
use crate::workspace::Workspace;
use sdp_emulator::{Emulator, EmulatorConfig, RunExecutor, RunOutcome, SubmittedRun};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const POLL_EVERY: Duration = Duration::from_millis(200);

pub struct Session {
    pub emulator: Emulator,
    pub agent: Arc<Agent>,
    pub workspace: Workspace,
    timeout: Duration,
}

/// How the job run `predict` submitted ended: its final `state`, and `run`'s JSON line.
pub struct RunEnd {
    pub state: Value,
    pub line: String,
}

impl Session {
    /// Starts the emulator (with `config`, plus the executor) and the agent.
    pub async fn start(
        cli: &Cli,
        runtime: Arc<Runtime>,
        config: EmulatorConfig,
    ) -> Result<Session, Failure> {
        let client = cli.http_client()?;
        // The executor needs the agent, the agent needs the emulator's URL: tie the knot later.
        let slot: Arc<OnceLock<Arc<Agent>>> = Arc::new(OnceLock::new());
        let executor: RunExecutor = {
            let slot = slot.clone();
            Arc::new(move |run: SubmittedRun| {
                let agent = slot.get().cloned();
                Box::pin(execute(agent, run))
            })
        };
        let emulator = Emulator::start(EmulatorConfig {
            run_executor: Some(executor),
            ..config
        })
        .await
        .map_err(|e| Failure::Config(format!("starting the workspace emulator: {e:#}")))?;
        let workspace =
            Workspace::new(&emulator.url(), emulator.token()).map_err(Failure::Config)?;
        let mut options = cli.agent_options();
        // The emulator starts empty: a deployed job (SDP_AGENT_JOB_ID) cannot exist there.
        options.job_id = None;
        let timeout = options.timeout;
        let agent = Arc::new(Agent::new(runtime, client, &workspace, options));
        let _ = slot.set(agent.clone());
        Ok(Session {
            emulator,
            agent,
            workspace,
            timeout,
        })
    }

    /// `predict` with `payload`: the run it submitted, as (id, page URL).
    pub async fn predict(&self, payload: &str) -> Result<(i64, String), Failure> {
        match self.agent.call(Export::Predict, payload).await? {
            Success::Submitted { run_id, run_url } => Ok((run_id, run_url)),
            other => Err(Failure::Trap(format!(
                "predict answered a pipeline result: {}",
                other.to_json()
            ))),
        }
    }

    /// Waits for the job run and reads `run`'s JSON line from its logs.
    pub async fn finish(&self, run_id: i64, payload: &str) -> Result<RunEnd, Failure> {
        // The executor's own call is bounded by its deadline; allow some slack around it.
        let run_deadline = Deadline::for_call(Export::Run, self.timeout, payload).total();
        let state = self
            .wait_for_run(run_id, run_deadline + Duration::from_secs(30))
            .await?;
        let logs = self.emulator.run_logs(run_id).unwrap_or_default();
        let Some(line) = logs.lines().rev().find(|l| l.trim_start().starts_with('{')) else {
            return Err(Failure::Trap(format!(
                "job run {run_id} ended without a result line (state {} {})",
                state["life_cycle_state"].as_str().unwrap_or("?"),
                state["result_state"].as_str().unwrap_or(""),
            )));
        };
        Ok(RunEnd {
            state,
            line: line.to_string(),
        })
    }

    /// Polls the emulator's runs until `run_id` is in a final life-cycle state; its `state`.
    async fn wait_for_run(&self, run_id: i64, limit: Duration) -> Result<Value, Failure> {
        let deadline = Instant::now() + limit;
        loop {
            let state = self
                .emulator
                .runs()
                .into_iter()
                .find(|r| r["run_id"].as_i64() == Some(run_id))
                .map(|r| r["state"].clone());
            if let Some(state) = state {
                let life_cycle = state["life_cycle_state"].as_str().unwrap_or("");
                if matches!(life_cycle, "TERMINATED" | "SKIPPED" | "INTERNAL_ERROR") {
                    return Ok(state);
                }
            }
            if Instant::now() >= deadline {
                return Err(Failure::Timeout(format!(
                    "job run {run_id} did not terminate within {}s",
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// What a cluster would do with the submitted run: decode `argv[1]`, call `run`, print its line.
async fn execute(agent: Option<Arc<Agent>>, run: SubmittedRun) -> RunOutcome {
    let outcome = match (agent, argv1(&run.request)) {
        (None, _) => Err(Failure::Config("the demo agent is not ready yet".into())),
        (_, None) => Err(Failure::invalid_field(
            "tasks[0].spark_python_task.parameters[0]",
            "missing from the runs/submit body",
        )),
        (Some(agent), Some(argument)) => match job_argument(&argument) {
            Ok(payload) => agent.call(Export::Run, &payload).await,
            Err(f) => Err(f),
        },
    };
    let line = render(&outcome);
    // Like the launcher: the run's stdout is the one JSON line, its stderr the guest's logs.
    RunOutcome {
        success: outcome.is_ok(),
        logs: format!("{line}\n"),
        error: outcome.err().map(|f| f.to_string()),
    }
}

fn argv1(request: &Value) -> Option<String> {
    request
        .pointer("/tasks/0/spark_python_task/parameters/0")
        .and_then(Value::as_str)
        .map(str::to_string)
}
