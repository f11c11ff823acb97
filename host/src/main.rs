//! `sdp-agent`: a wasmtime host for the sdp-agent component.
//!
//! `predict` and `run` print exactly one JSON line on stdout (exit 0 on success, 1 on failure,
//! 2 on usage errors); logs go to stderr. `demo` runs the whole flow against an in-process
//! workspace emulator.

mod agent;
mod auth;
mod cli;
mod client;
mod compile_cache;
mod component;
mod deadline;
mod demo;
mod deploy;
mod egress;
mod env;
mod epoch;
mod eval;
mod limits;
mod live;
mod outcome;
mod policy;
mod serve;
mod store;
mod workspace;

use agent::Agent;
use clap::Parser;
use cli::{Cli, Command};
use component::{Allocation, Export, Runtime};
use outcome::{Failure, Success};
use std::io::IsTerminal;
use std::process::ExitCode;
use workspace::Workspace;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server's access log is info-level; one-shot commands keep stderr quiet.
    init_tracing(match cli.command {
        Command::Serve(_) => "warn,sdp_agent=info",
        _ => "warn",
    });
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!(
                "{}",
                Failure::Config(format!("cannot start tokio: {e}")).to_json()
            );
            return ExitCode::FAILURE;
        }
    };
    tokio.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> ExitCode {
    if cli.dry_run && !matches!(cli.command, Command::Predict { .. } | Command::Run(_)) {
        use clap::CommandFactory;
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--dry-run applies to predict and run only",
            )
            .exit();
    }
    match &cli.command {
        Command::Predict { payload, .. } => {
            if payload.is_none() && std::io::stdin().is_terminal() {
                eprintln!("sdp-agent: reading the payload JSON from stdin (end with Ctrl-D)");
            }
            let outcome = call_once(&cli, Export::Predict, || {
                cli::predict_payload(payload.as_deref(), std::io::stdin().lock())
            })
            .await;
            print_outcome(&outcome)
        }
        Command::Run(args) => {
            let outcome = call_once(&cli, Export::Run, || {
                cli::run_payload(args, std::io::stdin().lock())
            })
            .await;
            let caller = args.caller.as_deref().filter(|c| !c.is_empty());
            print_outcome(&outcome.map(|success| success.with_caller(caller)))
        }
        Command::Serve(args) => serve::run(&cli, args).await,
        Command::Deploy(args) => deploy::run(cli.profile.as_deref(), args).await,
        Command::PackageModel(args) => deploy::package_model(args),
        Command::Eval(args) => eval::run(&cli, args).await,
        Command::Demo {
            question,
            engine,
            flaw,
            model,
        } => demo::run(&cli, question.as_deref(), engine, *flaw, model).await,
    }
}

/// One call against the workspace named by the environment.
async fn call_once(
    cli: &Cli,
    export: Export,
    payload: impl FnOnce() -> Result<String, Failure>,
) -> Result<Success, Failure> {
    // Cheapest checks first: a malformed policy, missing host or credentials should not cost
    // a compile.
    let policy = cli.policy()?;
    let workspace = Workspace::from_env(cli.profile.as_deref()).map_err(Failure::Config)?;
    let payload = payload()?;
    let payload = if cli.dry_run {
        cli::with_dry_run(payload)
    } else {
        payload
    };
    let runtime = Runtime::load(cli.component.clone(), Allocation::OnDemand)
        .await
        .map_err(|e| Failure::Config(format!("{e:#}")))?;
    let client = cli.http_client()?;
    let mut options = cli.agent_options();
    options.policy = policy;
    if let Command::Run(args) = &cli.command {
        options.caller = args.caller.clone().filter(|c| !c.is_empty());
    }
    // A person watching `run` sees its progress as one live line; a log keeps every line.
    options.live_progress = matches!(export, Export::Run) && std::io::stderr().is_terminal();
    let agent = Agent::new(runtime, client, &workspace, options);
    agent.call(export, &payload).await
}

fn print_outcome(outcome: &Result<Success, Failure>) -> ExitCode {
    println!("{}", outcome::render(outcome));
    match outcome {
        Ok(s) if s.succeeded() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// `RUST_LOG` filters (else `default`); always to stderr, stdout is reserved for results.
fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
