//! `sdp-agent serve`: the component's `wasi:http/incoming-handler` (the MLflow scoring
//! protocol) behind an HTTP/1.1 server. Each request gets a fresh instance from a pool sized
//! by `--max-concurrency`; the component's outgoing calls share one keep-alive client and obey
//! the same egress policy (and credentials) as `predict`.

mod admission;
mod body;
mod callers;
mod invoke;
mod listener;
mod metrics;
mod metrics_http;
mod pool;
mod reply;
mod service;
mod shutdown;

use crate::agent::{Agent, AgentOptions};
use crate::cli::{CallerPolicy, Cli, ServeArgs};
use crate::component::{Allocation, Runtime, to_anyhow};
use crate::outcome::Failure;
use crate::workspace::Workspace;
use admission::Admission;
use anyhow::Context as _;
use callers::Gate;
use http::header::HeaderValue;
use invoke::Invoker;
use metrics::Metrics;
use service::Service;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(cli: &Cli, args: &ServeArgs) -> ExitCode {
    // Flags that do not add up are a usage error: one line, exit 2, nothing loaded.
    let app_port = callers::app_port();
    let policy = match callers::choose(
        args.listen,
        args.callers,
        &args.allow_group,
        app_port.as_deref(),
    ) {
        Ok((policy, warning)) => {
            if let Some(warning) = warning {
                eprintln!("sdp-agent serve: {warning}");
            }
            policy
        }
        Err(usage) => {
            eprintln!("sdp-agent serve: {usage}");
            return ExitCode::from(2);
        }
    };
    if let Err(usage) = metrics_http::check_listen(args.metrics_listen, args.metrics_public) {
        eprintln!("sdp-agent serve: {usage}");
        return ExitCode::from(2);
    }
    // A malformed --policy is a config error before anything is loaded or bound.
    let rules = match rules(cli, args, policy) {
        Ok(rules) => rules,
        Err(failure) => {
            eprintln!("sdp-agent serve: {failure}");
            return ExitCode::FAILURE;
        }
    };
    match serve(cli, args, policy, rules).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdp-agent serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What every request is held to, besides who may call: the `--policy`, and whether callers
/// may choose code (not when they are checked or may come from elsewhere, unless
/// `--allow-caller-code`). Warns when such a server has no pinned job.
fn rules(cli: &Cli, args: &ServeArgs, callers: CallerPolicy) -> Result<AgentOptions, Failure> {
    let mut options = cli.agent_options();
    options.policy = cli.policy()?;
    let exposed = callers != CallerPolicy::None || !args.listen.ip().is_loopback();
    options.fixed_code = exposed && !args.allow_caller_code;
    options.runner_path = args.runner_path.clone();
    if !args.listen.ip().is_loopback() && cli.job_id.is_none() {
        eprintln!(
            "sdp-agent serve: warning: serving on {} without a pinned job (--job-id): every \
             request submits a one-time run as this deployment{}",
            args.listen,
            if options.fixed_code {
                " (callers cannot choose its code)"
            } else {
                ", whose code callers choose (--allow-caller-code)"
            }
        );
    }
    Ok(options)
}

async fn serve(
    cli: &Cli,
    args: &ServeArgs,
    policy: CallerPolicy,
    options: AgentOptions,
) -> anyhow::Result<()> {
    let workspace = Workspace::from_env(cli.profile.as_deref()).map_err(anyhow::Error::msg)?;
    let concurrency = args.max_concurrency.unwrap_or_else(default_concurrency);
    let timeout = Duration::from_secs(args.request_timeout);
    let (pool, memory_reservation) = pool::config(concurrency, options.limits);
    let allocation = Allocation::Pooling {
        pool,
        memory_reservation,
    };
    let runtime = Runtime::load(cli.component.clone(), allocation).await?;
    let pre = runtime
        .proxy()
        .context("the component does not export wasi:http/incoming-handler")?
        .clone();
    let client = cli
        .http_client()
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let metrics = Arc::new(Metrics::new());
    // One agent, hence one egress policy and one pooled client, for every request.
    let agent = Agent::new(runtime, client.clone(), &workspace, options)
        .observed_by(Arc::new(metrics.upstream.clone()));
    let agent = Arc::new(agent);
    let gate = Gate::new(
        policy,
        &args.allow_group,
        &workspace.url,
        client,
        agent.authenticator(),
        callers::CHECK_TIMEOUT.min(timeout),
        callers::CheckSettings {
            accept_scopes: args.accept_scope.clone(),
            per_address: NonZeroU32::new(args.checks_per_address).unwrap_or(NonZeroU32::MIN),
            overall: NonZeroU32::new(args.checks_per_second).unwrap_or(NonZeroU32::MIN),
        },
    );
    let new_store = Box::new(move |caller: Option<&str>| agent.new_store(caller));
    let invoker = Invoker::new(pre, new_store, timeout, metrics.traps.clone());
    fill_every_slot(&invoker, concurrency).await?;

    let mut signals = shutdown::Signals::install().context("installing signal handlers")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let metrics_server = match args.metrics_listen {
        Some(addr) => Some(
            metrics_http::bind(addr, metrics.clone())
                .await
                .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?,
        ),
        None => None,
    };
    let service = Arc::new(Service {
        admission: Admission::new(
            concurrency as usize,
            args.max_queue as usize,
            metrics.queued.clone(),
        ),
        invoker,
        gate,
        loopback: callers::Loopback::of(addr),
        metrics,
        max_body_bytes: args.max_body_bytes,
        timeout,
        authority: HeaderValue::from_str(&addr.to_string())?,
    });
    tracing::info!(
        workspace = %workspace.url,
        max_concurrency = concurrency,
        max_queue = args.max_queue,
        callers = ?policy,
        allow_groups = ?args.allow_group,
        "serving the component"
    );
    if let Some((addr, server)) = metrics_server {
        tokio::spawn(server);
        eprintln!("sdp-agent serve: metrics on http://{addr}/metrics");
    }
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
    #[test]
    fn default_concurrency_uses_every_core_twice() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(super::default_concurrency() as usize, (cores * 2).min(4096));
        assert!(super::default_concurrency() >= 2);
    }
}
