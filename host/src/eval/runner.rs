//! One case through the whole loop on a fresh embedded emulator: predict → job run → model →
//! validate → repair → update; then its tables against the case's expectations.

use super::case::LoadedCase;
use super::checks::{self, Check};
use super::report::CaseReport;
use crate::cli::Cli;
use crate::component::Runtime;
use crate::demo::session::Session;
use crate::demo::{CLAUDE_ENDPOINT, RUNNER_PATH};
use crate::outcome::Failure;
use sdp_emulator::{EmulatorConfig, Engine, ModelConfig, ModelUsage};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// What every case shares.
pub struct Setup {
    pub runtime: Arc<Runtime>,
    /// The engine every case's emulator runs on.
    pub engine: Engine,
    /// `--data`, mounted for the cases that name no data folder of their own.
    pub data: Option<std::path::PathBuf>,
    pub model: ModelConfig,
    /// Run each case's reference sources instead of asking the model.
    pub reference: bool,
}

impl Setup {
    /// Whether updates write data whose tables can be checked (the Spark engine).
    fn writes_data(&self) -> bool {
        matches!(self.engine, Engine::Spark(_))
    }
}

/// How the case's run ended, before its tables are looked at.
struct Ran {
    outcome: String,
    detail: Option<String>,
    /// `repair_rounds` of a `validation_failed` error.
    repair_rounds: Option<u32>,
    pipeline_id: Option<String>,
}

pub async fn run(cli: &Cli, setup: &Setup, case: &LoadedCase) -> CaseReport {
    let started = Instant::now();
    let mut report = CaseReport {
        case: case.name.clone(),
        passed: false,
        outcome: String::new(),
        tables: None,
        checks: Vec::new(),
        repair_rounds: 0,
        model: ModelUsage::default(),
        seconds: 0.0,
        detail: None,
    };
    let session = match start(cli, setup, case).await {
        Ok(session) => session,
        Err(failure) => {
            report.outcome = failure.kind().to_string();
            report.detail = Some(failure.message());
            report.seconds = started.elapsed().as_secs_f64();
            return report;
        }
    };
    let ran = match drive(&session, setup, case).await {
        Ok(ran) => ran,
        Err(failure) => Ran {
            outcome: failure.kind().to_string(),
            detail: Some(failure.message()),
            repair_rounds: None,
            pipeline_id: None,
        },
    };
    report.seconds = started.elapsed().as_secs_f64();
    report.model = session.emulator.model_usage();
    report.outcome = ran.outcome;
    report.detail = ran.detail;
    let pipeline = ran.pipeline_id.as_deref().and_then(|id| {
        session
            .emulator
            .pipelines()
            .into_iter()
            .find(|p| p["pipeline_id"].as_str() == Some(id))
    });
    report.repair_rounds = ran
        .repair_rounds
        .unwrap_or_else(|| pipeline.as_ref().map_or(0, repair_rounds));
    let expected = &case.case.expect.tables;
    if !expected.is_empty() {
        report.checks = if setup.writes_data() {
            let written = pipeline.as_ref().map(checks::written).unwrap_or_default();
            checks::check(expected, &written)
        } else {
            // No data: whether the last update's graph defines each expected table.
            let defined = pipeline
                .as_ref()
                .and_then(|p| {
                    let id = p["pipeline_id"].as_str()?;
                    let update = p["updates"].as_array()?.last()?["update_id"].as_str()?;
                    Some(checks::defined(
                        &session.emulator.pipeline_events(id),
                        update,
                    ))
                })
                .unwrap_or_default();
            checks::exist(expected, &defined)
        };
        report.tables = Some(report.checks.iter().all(|c| c.check != "exists" || c.ok));
    }
    let completed = report.outcome == "completed";
    report.passed = completed && report.checks.iter().all(|c| c.ok);
    if completed && !report.passed {
        report.detail = report.checks.iter().find(|c| !c.ok).map(describe);
    }
    report
}

fn describe(check: &Check) -> String {
    match &check.found {
        Some(found) => format!("{}: {} does not hold ({found})", check.table, check.check),
        None => format!("{}: {} does not hold", check.table, check.check),
    }
}

/// A fresh emulator for the case (its data folder mounted like `--data`), and the agent on it.
async fn start(cli: &Cli, setup: &Setup, case: &LoadedCase) -> Result<Session, Failure> {
    let data = case.data_dir().or_else(|| setup.data.clone());
    if let Some(dir) = data.as_ref().filter(|d| !d.is_dir()) {
        // The corpus's data is generated, not committed: say how to make it.
        return Err(Failure::Config(format!(
            "case {}: data folder {} is not a folder (eval/cases' data is made by \
             `scripts/demo-data eval/data`, which scripts/setup runs)",
            case.name,
            dir.display()
        )));
    }
    let config = EmulatorConfig {
        engine: setup.engine.clone(),
        model: setup.model.clone(),
        data,
        ..Default::default()
    };
    Session::start(cli, setup.runtime.clone(), config).await
}

/// Predict, wait for the job run, and read how `run` ended.
async fn drive(session: &Session, setup: &Setup, case: &LoadedCase) -> Result<Ran, Failure> {
    let payload = case
        .payload(RUNNER_PATH, CLAUDE_ENDPOINT, setup.reference)
        .map_err(Failure::Config)?
        .to_string();
    let (run_id, _) = session.predict(&payload).await?;
    let end = session.finish(run_id, &payload).await?;
    let result: Value = serde_json::from_str(&end.line)
        .map_err(|e| Failure::Trap(format!("job run {run_id} printed unparsable JSON: {e}")))?;
    if let Some(error) = result.get("error") {
        return Ok(Ran {
            outcome: error["kind"].as_str().unwrap_or("error").to_string(),
            detail: error["message"].as_str().map(str::to_string),
            repair_rounds: error["repair_rounds"].as_u64().map(|n| n as u32),
            pipeline_id: error["pipeline_id"].as_str().map(str::to_string),
        });
    }
    let state = result["state"].as_str().unwrap_or("not waited for");
    let completed = state == "COMPLETED";
    Ok(Ran {
        outcome: if completed {
            "completed".into()
        } else {
            format!("update_{}", state.to_ascii_lowercase())
        },
        detail: (!completed).then(|| result["message"].as_str().unwrap_or("").to_string()),
        repair_rounds: None,
        pipeline_id: result["pipeline_id"].as_str().map(str::to_string),
    })
}

/// Validation updates after the first: each one follows a repair.
fn repair_rounds(pipeline: &Value) -> u32 {
    let validations = pipeline["updates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["validate_only"] == true)
        .count() as u32;
    validations.saturating_sub(1)
}
