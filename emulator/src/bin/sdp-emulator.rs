//! Serves an emulated Databricks workspace (default config, chat answered by the demo
//! planner) until Ctrl-C; handy for manual use and for pointing other hosts at it.

use clap::Parser;
use sdp_emulator::{Emulator, EmulatorConfig};

#[derive(Parser)]
#[command(about = "Serve a local emulated Databricks workspace on 127.0.0.1")]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Bearer token clients must send.
    #[arg(long, default_value = "dapi-emulator-token")]
    token: String,
    /// Accept requests without a token.
    #[arg(long)]
    no_auth: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = EmulatorConfig {
        token: (!args.no_auth).then_some(args.token),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start_on_port(config, args.port).await?;
    println!("{}", emulator.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
