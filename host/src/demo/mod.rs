//! `sdp-agent demo`: the whole flow offline.
//!
//! An in-process workspace emulator stands in for Databricks; its run executor plays the
//! cluster (see [`session`]).

mod report;
mod samples;
pub mod session;

use crate::cli::Cli;
use crate::component::{Allocation, Runtime};
use crate::outcome::Failure;
use report::{chains, source_files, tables, update_lines};
use sdp_emulator::{DemoFlaw, EmulatorConfig, EngineArgs, EngineKind, ModelArgs};
use serde_json::{Value, json};
use session::Session;
use std::process::ExitCode;

const DEFAULT_QUESTION: &str = "Build a bronze/silver SDP pipeline over synthetic clickstream data";
pub const RUNNER_PATH: &str = "/Workspace/Shared/sdp-agent/sdp_agent_launcher.py";
pub const CLAUDE_ENDPOINT: &str = "databricks-claude-sonnet-4-5";

pub async fn run(
    cli: &Cli,
    question: Option<&str>,
    engine: &EngineArgs,
    flaw: DemoFlaw,
    model: &ModelArgs,
) -> ExitCode {
    match demo(
        cli,
        question.unwrap_or(DEFAULT_QUESTION),
        engine,
        flaw,
        model,
    )
    .await
    {
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

/// How the model is reached, in words, for the first line.
fn model_source(model: &ModelArgs) -> String {
    match (&model.model_url, &model.replay) {
        (_, Some(dir)) => format!("model replayed from {}", dir.display()),
        (Some(url), None) => format!("model at {url}"),
        (None, None) => "demo model".to_string(),
    }
}

async fn demo(
    cli: &Cli,
    question: &str,
    engine_args: &EngineArgs,
    flaw: DemoFlaw,
    model_args: &ModelArgs,
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
    let model = model_args
        .model()
        .map_err(|e| Failure::Config(format!("{e:#}")))?;
    let runtime = Runtime::load(cli.component.clone(), Allocation::OnDemand)
        .await
        .map_err(|e| Failure::Config(format!("{e:#}")))?;
    let config = EmulatorConfig {
        engine,
        demo_flaw: flaw,
        data: engine_args.data.clone(),
        model,
        ..Default::default()
    };
    let session = Session::start(cli, runtime, config).await?;
    let emulator = &session.emulator;
    println!(
        "[1/4] workspace emulator at {} ({engine_line}; {})",
        session.workspace.url,
        model_source(model_args),
    );

    // The workspace's SQL warehouse counts the keys after the run and reads the sample rows.
    let sql = samples::Sql::new(&session.workspace)?;
    let warehouse = sql.warehouse().await;
    let mut payload = json!({
        "question": question,
        "runner_path": RUNNER_PATH,
        "claude_endpoint": CLAUDE_ENDPOINT,
        "wait": true,
    });
    match &warehouse {
        Ok(id) => {
            payload["warehouse_id"] = json!(id);
            println!("      SQL warehouse {id}");
        }
        Err(why) => println!("      no SQL warehouse: {why}"),
    }
    let payload = payload.to_string();
    let (run_id, run_url) = session.predict(&payload).await?;
    println!("[2/4] predict → run {run_id} ({run_url})");

    let end = session.finish(run_id, &payload).await?;
    let life_cycle = end.state["life_cycle_state"].as_str().unwrap_or("?");
    let result_state = end.state["result_state"].as_str().unwrap_or("");
    println!("[3/4] job run {run_id} {life_cycle} {result_state}");

    let line = end.line;
    let result: Value = serde_json::from_str(&line)
        .map_err(|e| Failure::Trap(format!("job run {run_id} printed unparsable JSON: {e}")))?;
    if result.get("error").is_some() {
        // Already the error JSON of `run`: it becomes the final line, unchanged.
        return Ok(LastLine {
            line,
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
    for path in source_files(emulator, pipeline_id) {
        println!("      source {path}");
    }
    for line in update_lines(emulator, pipeline_id) {
        println!("      update {line}");
    }
    let mut result = result.clone();
    for chain in chains(&result["datasets"]) {
        println!("      flow   {chain}");
    }
    for line in samples::check_lines(&result["checks"]) {
        println!("      checks {line}");
    }
    let tables_of_run = result["datasets"].as_array().cloned().unwrap_or_default();
    // Tables the warehouse could not read, by reason: one line per reason.
    let mut unread: Vec<(String, Vec<&str>)> = Vec::new();
    for table in tables_of_run.iter().filter_map(|d| d["name"].as_str()) {
        let Ok(id) = &warehouse else { break };
        match sql.sample(id, table).await {
            Ok(lines) => {
                println!("      sample {table}");
                for line in lines {
                    println!("             {line}");
                }
            }
            Err(why) => match unread.iter_mut().find(|(w, _)| *w == why) {
                Some((_, tables)) => tables.push(table),
                None => unread.push((why, vec![table])),
            },
        }
    }
    for (why, tables) in unread {
        println!("      sample {}: {why}", tables.join(", "));
    }
    if engine_args.engine == EngineKind::Spark {
        let tables = tables(emulator, pipeline_id);
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
