//! `sdp-agent serve`: the component's `wasi:http/incoming-handler` (the MLflow scoring
//! protocol) behind an HTTP/1.1 server. Each request gets a fresh instance from a pool sized
//! by `--max-concurrency`; the component's outgoing calls share one keep-alive client and obey
//! the same egress policy (and credentials) as `predict`.

mod admission;
mod body;
mod invoke;
mod listener;
mod pool;
mod reply;
mod service;
mod shutdown;

use crate::agent::Agent;
use crate::cli::Cli;
use crate::component::{Runtime, new_pooling_engine, to_anyhow};
use crate::config::Workspace;
use crate::limits::Limits;
use admission::Admission;
use anyhow::Context as _;
use clap::Args;
use http::header::HeaderValue;
use invoke::Invoker;
use service::Service;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the line on stderr tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Requests run at once, each in its own instance [default: 2 x CPU cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_concurrency: Option<u32>,

    /// Requests that may wait for a free slot; beyond that the answer is 503 with Retry-After.
    #[arg(long, value_name = "M", default_value_t = 64)]
    pub max_queue: u32,

    /// Largest request body accepted (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Deadline of each request, queueing and the component's outgoing calls included (504).
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
}

pub async fn run(cli: &Cli, args: &ServeArgs) -> ExitCode {
    match serve(cli, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdp-agent serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let workspace = Workspace::from_env(cli.profile.as_deref()).map_err(anyhow::Error::msg)?;
    let concurrency = args.max_concurrency.unwrap_or_else(default_concurrency);
    let timeout = Duration::from_secs(args.request_timeout);
    let options = crate::agent_options(cli);
    let runtime = load_runtime(cli, concurrency, options.limits).await?;
    let pre = runtime
        .proxy()
        .context("the component does not export wasi:http/incoming-handler")?
        .clone();
    let client = crate::http_client(cli).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    // One agent, hence one egress policy and one pooled client, for every request.
    let agent = Arc::new(Agent::new(runtime, client, &workspace, options));
    let invoker = Invoker::new(pre, Box::new(move || agent.new_store()), timeout);
    fill_every_slot(&invoker, concurrency).await?;

    let mut signals = shutdown::Signals::install().context("installing signal handlers")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let service = Arc::new(Service {
        admission: Admission::new(concurrency as usize, args.max_queue as usize),
        invoker,
        max_body_bytes: args.max_body_bytes,
        timeout,
        authority: HeaderValue::from_str(&addr.to_string())?,
    });
    tracing::info!(
        workspace = %workspace.url,
        max_concurrency = concurrency,
        max_queue = args.max_queue,
        "serving the component"
    );
    eprintln!("sdp-agent serve: listening on http://{addr}");

    let (stop, stopped) = tokio::sync::oneshot::channel::<&'static str>();
    let server = listener::serve(
        listener,
        service,
        async {
            let _ = stopped.await;
        },
        // Every request ends by its deadline anyway; a little more lets its answer be written.
        timeout + Duration::from_secs(1),
    );
    let mut server = std::pin::pin!(server);
    tokio::select! {
        drained = server.as_mut() => {
            anyhow::ensure!(drained, "stopped unexpectedly");
            return Ok(());
        }
        name = signals.next() => {
            eprintln!("sdp-agent serve: {name}: finishing in-flight requests");
            let _ = stop.send(name);
        }
    }
    // A second signal cuts the wait short.
    tokio::select! {
        drained = server => {
            if !drained {
                eprintln!("sdp-agent serve: some requests did not finish in time");
            }
        }
        name = signals.next() => eprintln!("sdp-agent serve: {name} again: exiting now"),
    }
    Ok(())
}

fn default_concurrency() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores * 2).unwrap_or(u32::MAX).min(4096)
}

/// Compiling is CPU-bound: off the async workers.
async fn load_runtime(cli: &Cli, concurrency: u32, limits: Limits) -> anyhow::Result<Arc<Runtime>> {
    let path = cli.component.clone();
    let (pool, reservation) = pool::config(concurrency, limits);
    let runtime = tokio::task::spawn_blocking(move || {
        let engine = new_pooling_engine(pool, reservation)?;
        Runtime::from_source_on(engine, path.as_deref())
    })
    .await??;
    Ok(Arc::new(runtime))
}

/// Instantiates `n` stores at once before listening, so a pool too small for this component
/// fails here with a clear message rather than under load.
async fn fill_every_slot(invoker: &Invoker, n: u32) -> anyhow::Result<()> {
    let started = Instant::now();
    invoker
        .check_capacity(n as usize)
        .await
        .map_err(to_anyhow)
        .with_context(|| {
            format!("the instance pool cannot hold {n} instances of this component")
        })?;
    tracing::debug!(n, elapsed = ?started.elapsed(), "every pool slot instantiated once");
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn serve_args(args: &[&str]) -> Result<super::ServeArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["sdp-agent", "serve"], args].concat())?;
        match cli.command {
            Command::Serve(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults_and_bounds() {
        let args = serve_args(&[]).unwrap();
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.max_concurrency, None);
        assert_eq!(args.max_queue, 64);
        assert_eq!(args.max_body_bytes, 1024 * 1024);
        assert_eq!(args.request_timeout, 60);
        assert!(super::default_concurrency() >= 2);

        let args = serve_args(&["--listen", "0.0.0.0:0", "--max-concurrency", "2"]).unwrap();
        assert_eq!(args.listen.port(), 0);
        assert_eq!(args.max_concurrency, Some(2));
        for bad in [
            &["--max-concurrency", "0"][..],
            &["--request-timeout", "0"],
            &["--listen", "localhost"],
        ] {
            assert!(serve_args(bad).is_err(), "{bad:?}");
        }
    }
}
