//! `sdp-agent eval [CASES_DIR]`: runs every case (`*.json` in the folder) through the whole
//! loop on an embedded emulator and reports, per case and in total, how it ended, whether its
//! expected tables hold, the repair rounds, the model calls and tokens, and the time taken. A
//! table on stdout (a progress bar on stderr while it runs), or the JSON with `--json`; exit 1
//! when any case fails.

mod case;
mod checks;
mod report;
mod runner;

use crate::cli::Cli;
use crate::component::{Allocation, Runtime};
use crate::outcome::Failure;
use case::LoadedCase;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use report::Report;
use runner::Setup;
use sdp_emulator::{EngineArgs, EngineKind, ModelArgs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folder of cases, one JSON file each.
    #[arg(value_name = "CASES_DIR", default_value = "eval/cases")]
    pub cases: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Run each case's reference solution instead of asking a model: proves every case
    /// solvable and its checks right.
    #[arg(long, conflicts_with_all = ["model_url", "replay", "record"])]
    pub reference: bool,
    /// Print the report as one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: &Cli, args: &EvalArgs) -> ExitCode {
    match evaluate(cli, args).await {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.table());
            }
            if report.all_passed() {
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

async fn evaluate(cli: &Cli, args: &EvalArgs) -> Result<Report, Failure> {
    let cases = load_cases(&args.cases)?;
    // Made once, before any case runs: on Spark every case's emulator runs its updates on the
    // one warm server, each in a namespace of its own (SparkEngine::for_emulator).
    let engine = args
        .engine
        .engine()
        .map_err(|e| Failure::Config(format!("the {:?} engine: {e:#}", args.engine.engine)))?;
    let model = args
        .model
        .model()
        .map_err(|e| Failure::Config(format!("{e:#}")))?;
    let runtime = Runtime::load(cli.component.clone(), Allocation::OnDemand)
        .await
        .map_err(|e| Failure::Config(format!("{e:#}")))?;
    let setup = Setup {
        runtime,
        engine,
        data: args.engine.data.clone(),
        model,
        reference: args.reference,
    };
    // indicatif draws nothing when stderr is not a terminal.
    let bar = ProgressBar::new(cases.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut reports = Vec::new();
    for case in &cases {
        bar.set_message(case.name.clone());
        let report = runner::run(cli, &setup, case).await;
        bar.println(format!(
            "{} {} ({}, {:.1} s)",
            if report.passed { "pass" } else { "FAIL" },
            report.case,
            report.outcome,
            report.seconds
        ));
        reports.push(report);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let engine = match args.engine.engine {
        EngineKind::Structural => "structural",
        EngineKind::Spark => "spark",
    };
    Ok(Report::new(engine, model_source(args), reports))
}

fn model_source(args: &EvalArgs) -> &'static str {
    match (&args.model.model_url, &args.model.replay) {
        _ if args.reference => "reference",
        (_, Some(_)) => "replay",
        (Some(_), None) => "url",
        (None, None) => "demo",
    }
}

/// Every `*.json` of the folder, by name; an unreadable or invalid case stops the evaluation
/// before anything runs.
fn load_cases(dir: &Path) -> Result<Vec<LoadedCase>, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::Config(format!("cases folder {}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Failure::Config(format!(
            "cases folder {}: no case (*.json) in it",
            dir.display()
        )));
    }
    paths
        .iter()
        .map(|p| LoadedCase::load(p).map_err(Failure::Config))
        .collect()
}
