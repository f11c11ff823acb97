//! `sdp-agent demo`: the whole flow offline.
//!
//! An in-process workspace emulator stands in for Databricks; its run executor plays the
//! cluster, decoding the job's `argv[1]` and calling the component's `run` the way
//! `launcher/sdp_agent_launcher.py` does on a real cluster.

mod report;

use crate::agent::Agent;
use crate::cli::{Cli, job_argument};
use crate::component::{Allocation, Export, Runtime};
use crate::deadline::Deadline;
use crate::outcome::{Failure, Success, render};
use crate::workspace::Workspace;
use report::{chains, source_files, tables, update_lines};
use sdp_emulator::{
    DemoFlaw, Emulator, EmulatorConfig, EngineArgs, EngineKind, RunExecutor, RunOutcome,
    SubmittedRun,
};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const DEFAULT_QUESTION: &str = "Build a bronze/silver SDP pipeline over synthetic clickstream data";
const RUNNER_PATH: &str = "/Workspace/Shared/sdp-agent/sdp_agent_launcher.py";
const CLAUDE_ENDPOINT: &str = "databricks-claude-sonnet-4-5";
const POLL_EVERY: Duration = Duration::from_millis(200);

pub async fn run(
    cli: &Cli,
    question: Option<&str>,
    engine: &EngineArgs,
    flaw: DemoFlaw,
) -> ExitCode {
    match demo(cli, question.unwrap_or(DEFAULT_QUESTION), engine, flaw).await {
        Ok(last) => {
            println!("{}", last.line);
            if last.success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(failure) => {
            println!("{}", failure.to_json());
            ExitCode::FAILURE
        }
    }
}

/// The final line: `run`'s own JSON, success or error.
struct LastLine {
    line: String,
    success: bool,
}

async fn demo(
    cli: &Cli,
    question: &str,
    engine_args: &EngineArgs,
    flaw: DemoFlaw,
) -> Result<LastLine, Failure> {
    let engine = engine_args
        .engine()
        .map_err(|e| Failure::Config(format!("the {:?} engine: {e:#}", engine_args.engine)))?;
    let engine_line = match &engine {
        sdp_emulator::Engine::Structural => "updates checked structurally".to_string(),
        sdp_emulator::Engine::Spark(spark) => format!(
            "updates run on local Apache Spark {}",
            spark
                .version()
                .unwrap_or_else(|| "(version unknown)".into())
        ),
    };
    let runtime = Runtime::load(cli.component.clone(), Allocation::OnDemand)
        .await
        .map_err(|e| Failure::Config(format!("{e:#}")))?;
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
        engine,
        demo_flaw: flaw,
        data: engine_args.data.clone(),
        ..Default::default()
    })
    .await
    .map_err(|e| Failure::Config(format!("starting the workspace emulator: {e:#}")))?;

    let workspace = Workspace::new(&emulator.url(), emulator.token()).map_err(Failure::Config)?;
    let mut options = cli.agent_options();
    // The demo's emulator starts empty: a deployed job (SDP_AGENT_JOB_ID) cannot exist there.
    options.job_id = None;
    let timeout = options.timeout;
    let agent = Arc::new(Agent::new(runtime, client, &workspace, options));
    let _ = slot.set(agent.clone());
    println!(
        "[1/4] workspace emulator at {} ({engine_line})",
        workspace.url
    );

    let payload = json!({
        "question": question,
        "runner_path": RUNNER_PATH,
        "claude_endpoint": CLAUDE_ENDPOINT,
        "wait": true,
    });
    let (run_id, run_url) = match agent.call(Export::Predict, &payload.to_string()).await? {
        Success::Submitted { run_id, run_url } => (run_id, run_url),
        other => {
            return Err(Failure::Trap(format!(
                "predict answered a pipeline result: {}",
                other.to_json()
            )));
        }
    };
    println!("[2/4] predict → run {run_id} ({run_url})");

    // The executor's own call is bounded by its deadline; allow some slack around it.
    let run_deadline = Deadline::for_call(Export::Run, timeout, &payload.to_string()).total();
    let state = wait_for_run(&emulator, run_id, run_deadline + Duration::from_secs(30)).await?;
    let life_cycle = state["life_cycle_state"].as_str().unwrap_or("?");
    let result_state = state["result_state"].as_str().unwrap_or("");
    println!("[3/4] job run {run_id} {life_cycle} {result_state}");

    let logs = emulator.run_logs(run_id).unwrap_or_default();
    let Some(line) = logs.lines().rev().find(|l| l.trim_start().starts_with('{')) else {
        return Err(Failure::Trap(format!(
            "job run {run_id} ended without a result line (state {life_cycle} {result_state})"
        )));
    };
    let result: Value = serde_json::from_str(line)
        .map_err(|e| Failure::Trap(format!("job run {run_id} printed unparsable JSON: {e}")))?;
    if result.get("error").is_some() {
        // Already the error JSON of `run`: it becomes the final line, unchanged.
        return Ok(LastLine {
            line: line.to_string(),
            success: false,
        });
    }
    let pipeline_id = result["pipeline_id"].as_str().unwrap_or("?");
    let update_id = result["update_id"].as_str().unwrap_or("?");
    let update_state = result["state"].as_str();
    println!(
        "[4/4] pipeline {pipeline_id} update {update_id} {}",
        update_state.unwrap_or("(not waited for)")
    );
    for path in source_files(&emulator, pipeline_id) {
        println!("      source {path}");
    }
    for line in update_lines(&emulator, pipeline_id) {
        println!("      update {line}");
    }
    let mut result = result.clone();
    for chain in chains(&result["datasets"]) {
        println!("      flow   {chain}");
    }
    if engine_args.engine == EngineKind::Spark {
        let tables = tables(&emulator, pipeline_id);
        for (table, rows) in &tables {
            println!("      table  {table}: {rows} rows");
        }
        result["tables"] = json!(tables);
    }
    Ok(LastLine {
        line: result.to_string(),
        // A pipeline whose update FAILED or was CANCELED is not a successful demo.
        success: update_state.is_none_or(|s| s == "COMPLETED"),
    })
}

/// Polls the emulator's runs until `run_id` is in a final life-cycle state; returns its `state`.
async fn wait_for_run(emulator: &Emulator, run_id: i64, limit: Duration) -> Result<Value, Failure> {
    let deadline = Instant::now() + limit;
    loop {
        let state = emulator
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
