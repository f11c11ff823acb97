//! Serves an emulated Databricks workspace (default config, chat answered by the demo
//! model, or forwarded to `--model-url`) until Ctrl-C; handy for manual use and for pointing
//! other hosts at it.

use clap::Parser;
use sdp_emulator::{DemoFlaw, Emulator, EmulatorConfig, EngineArgs, ModelArgs};

#[derive(Parser)]
#[command(about = "Serve a local emulated Databricks workspace on 127.0.0.1")]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Bearer token clients must send.
    #[arg(long, default_value = "dapi-emulator-token")]
    token: String,
    /// Accept no personal access token; with no --oauth-client either, requests need no token.
    #[arg(long)]
    no_auth: bool,
    /// An OAuth M2M client `POST /oidc/v1/token` accepts, as CLIENT_ID:SECRET; repeatable.
    #[arg(long = "oauth-client", value_name = "CLIENT_ID:SECRET", value_parser = parse_client)]
    oauth_clients: Vec<(String, String)>,
    /// Lifetime of the OAuth tokens it issues, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    oauth_token_ttl: u64,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// The demo model's first answer in a conversation has a mistake (`table`, the default,
    /// `column` or `streaming`); a repair request gets what its errors name fixed.
    #[arg(long, env = "SDP_AGENT_DEMO_FLAW", value_enum, num_args = 0..=1, require_equals = true,
          default_value = "none", default_missing_value = "table")]
    demo_flaw: DemoFlaw,
}

fn parse_client(raw: &str) -> Result<(String, String), String> {
    match raw.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_string(), secret.to_string()))
        }
        _ => Err(format!("{raw:?}: expected CLIENT_ID:SECRET")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = EmulatorConfig {
        token: (!args.no_auth).then_some(args.token),
        oauth_clients: args.oauth_clients,
        oauth_token_ttl_secs: args.oauth_token_ttl,
        engine: args.engine.engine()?,
        data: args.engine.data.clone(),
        demo_flaw: args.demo_flaw,
        model: args.model.model()?,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start_on_port(config, args.port).await?;
    println!("{}", emulator.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
