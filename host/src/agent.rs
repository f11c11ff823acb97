//! Calling the component: one fresh store per call on a shared runtime, with a deadline.

use crate::auth::Authenticator;
use crate::client::HttpClient;
use crate::component::{Export, Runtime};
use crate::deadline::Deadline;
use crate::egress::{AllowedHost, EgressHooks, EgressObserver, EgressPolicy};
use crate::env::{
    CALLER_CODE_ENV, CALLER_CODE_REFUSED, CALLER_ENV, CLAUDE_ENDPOINT_ENV, HOST_ENV, JOB_ID_ENV,
    POLICY_DIR_ENV, POLICY_ENV, RUNNER_PATH_ENV, STAGING_DIR_ENV,
};
use crate::epoch;
use crate::limits::{self, Breach, HasLimiter, Limits};
use crate::live::LiveStderr;
use crate::outcome::{Failure, Success};
use crate::policy::Policy;
use crate::store::AgentState;
use crate::workspace::Workspace;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap};

/// Per-agent settings besides the workspace.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub allow_hosts: Vec<AllowedHost>,
    /// Deadline of one call, host calls included.
    pub timeout: Duration,
    /// Passed to the guest as `CLAUDE_ENDPOINT_NAME` when set.
    pub claude_endpoint: Option<String>,
    /// Passed to the guest as `SDP_AGENT_JOB_ID`: predict then starts this job (run-now), and
    /// a payload naming another job is refused.
    pub job_id: Option<u64>,
    /// `--policy`: passed to the guest as `SDP_AGENT_POLICY` (and its file's folder as
    /// `SDP_AGENT_POLICY_DIR`), which enforces it.
    pub policy: Option<Policy>,
    /// `serve`'s rule that callers do not choose code (`SDP_AGENT_CALLER_CODE=refused`).
    pub fixed_code: bool,
    /// `serve --runner-path`: the launcher of one-time runs (`SDP_AGENT_RUNNER_PATH`).
    pub runner_path: Option<String>,
    /// `--staging-dir`: where predict stages a large payload (`SDP_AGENT_STAGING_DIR`).
    pub staging_dir: Option<String>,
    /// `run --caller`: who asked for this run (`SDP_AGENT_CALLER`), when `serve` does not say.
    pub caller: Option<String>,
    /// Resource limits of each call's store (`--max-memory`).
    pub limits: Limits,
    /// `call` shows the guest's progress as a live line (one-shot `run` on a terminal).
    pub live_progress: bool,
}

/// The component bound to one workspace. Cheap to share (`Arc`), safe to call concurrently.
pub struct Agent {
    runtime: Arc<Runtime>,
    workspace_url: String,
    /// Shared by every call, so an OAuth token is fetched once and refreshed once.
    auth: Arc<Authenticator>,
    policy: Arc<EgressPolicy>,
    client: HttpClient,
    options: AgentOptions,
    /// Told about every outgoing call of every store (serve's metrics).
    observer: Option<Arc<dyn EgressObserver>>,
}

impl Agent {
    pub fn new(
        runtime: Arc<Runtime>,
        client: HttpClient,
        workspace: &Workspace,
        options: AgentOptions,
    ) -> Self {
        let auth = Arc::new(Authenticator::new(
            &workspace.credentials,
            &workspace.url,
            &client,
        ));
        let policy = EgressPolicy::new(
            workspace.origin.clone(),
            auth.clone(),
            options.allow_hosts.clone(),
        );
        Self {
            runtime,
            workspace_url: workspace.url.clone(),
            auth,
            policy: Arc::new(policy),
            client,
            options,
            observer: None,
        }
    }

    /// The same agent, reporting every outgoing call of its stores to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn EgressObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The data of a fresh store: this workspace, its egress policy, the shared client, and
    /// the user name of whoever asked (when `serve` checked it).
    pub fn new_state(&self, caller: Option<&str>, live: Option<LiveStderr>) -> AgentState {
        let hooks = EgressHooks::new(self.policy.clone(), self.client.clone())
            .observed_by(self.observer.clone());
        AgentState::new(&self.guest_env(caller), hooks, live)
    }

    /// Everything the guest is told, by name: settings and names, never a credential.
    fn guest_env(&self, caller: Option<&str>) -> Vec<(&'static str, String)> {
        let o = &self.options;
        let mut env = vec![(HOST_ENV, self.workspace_url.clone())];
        let mut set = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                env.push((name, value));
            }
        };
        set(CLAUDE_ENDPOINT_ENV, o.claude_endpoint.clone());
        set(CALLER_ENV, caller.map(str::to_string).or(o.caller.clone()));
        set(JOB_ID_ENV, o.job_id.map(|id| id.to_string()));
        set(POLICY_ENV, o.policy.as_ref().map(|p| p.document.clone()));
        set(
            POLICY_DIR_ENV,
            o.policy.as_ref().and_then(|p| p.folder.clone()),
        );
        set(
            CALLER_CODE_ENV,
            o.fixed_code.then(|| CALLER_CODE_REFUSED.into()),
        );
        set(RUNNER_PATH_ENV, o.runner_path.clone());
        set(STAGING_DIR_ENV, o.staging_dir.clone());
        env
    }

    /// The deployment's credentials (`serve --callers app` looks groups up with them).
    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.auth.clone()
    }

    /// A fresh sandboxed store: [`Self::new_state`] under the memory limits, with the call's
    /// deadline (`--timeout`) armed from now. Every guest call (any export) must run in one
    /// of these.
    pub fn new_store(&self, caller: Option<&str>) -> Store<AgentState> {
        self.store_due_in(caller, self.options.timeout, None)
    }

    fn store_due_in(
        &self,
        caller: Option<&str>,
        timeout: Duration,
        live: Option<LiveStderr>,
    ) -> Store<AgentState> {
        let mut store = Store::new(self.runtime.engine(), self.new_state(caller, live));
        limits::apply(&mut store, self.options.limits);
        epoch::arm(&mut store, Instant::now() + timeout);
        store
    }

    /// Calls `predict` or `run` with the payload JSON text.
    pub async fn call(&self, export: Export, payload: &str) -> Result<Success, Failure> {
        // Unusable credentials fail here, clearly, rather than as the guest's first request.
        self.auth
            .header()
            .await
            .map_err(|e| Failure::Auth(e.to_string()))?;
        let deadline = Deadline::for_call(export, self.options.timeout, payload);
        let timeout = deadline.total();
        let live = self.options.live_progress.then(LiveStderr::new);
        let mut store = self.store_due_in(None, timeout, live.clone());

        let call = async {
            let instance = self.runtime.pre().instantiate_async(&mut store).await?;
            let agent = instance.sdp_agent_agent();
            Ok::<_, wasmtime::Error>(match export {
                Export::Predict => agent
                    .call_predict(&mut store, payload)
                    .await?
                    .map(Success::from),
                Export::Run => agent
                    .call_run(&mut store, payload)
                    .await?
                    .map(Success::from),
            })
        };
        // Epoch interruption stops busy guest code; this also bounds time blocked in host I/O.
        let outcome = tokio::time::timeout(timeout, call).await;
        if let Some(live) = live {
            live.finish();
        }
        match outcome {
            Err(_) => Err(timed_out(export, deadline)),
            Ok(Err(trap)) => {
                let breach = store.data_mut().limiter().breach();
                Err(classify_trap(export, deadline, &trap, breach))
            }
            // A refresh that failed mid-call reached the guest as an opaque transport error.
            Ok(Ok(Err(agent_error))) => Err(match store.data().egress().credentials_failure() {
                Some(e) => Failure::Auth(e.to_string()),
                None => Failure::from(agent_error),
            }),
            Ok(Ok(Ok(success))) => Ok(success),
        }
    }
}

fn timed_out(export: Export, deadline: Deadline) -> Failure {
    Failure::Timeout(format!(
        "{} did not finish within {}",
        export.name(),
        deadline.describe()
    ))
}

/// A failed call: the deadline, a limit the guest ran into (and then died of), or a trap.
fn classify_trap(
    export: Export,
    deadline: Deadline,
    err: &wasmtime::Error,
    breach: Option<Breach>,
) -> Failure {
    let trap = err.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) {
        return timed_out(export, deadline);
    }
    tracing::debug!("{} trapped: {err:?}", export.name());
    match breach {
        // The trap itself is only the guest's reaction (an allocation failure aborts): the
        // cause worth reporting is the limit.
        Some(breach) => {
            let then = trap.map_or_else(|| err.root_cause().to_string(), Trap::to_string);
            Failure::Trap(breach.stopped(export.name(), then))
        }
        None => Failure::Trap(format!("{} trapped: {err:#}", export.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::EMBEDDED_COMPONENT;

    /// Whatever guest is embedded, it must link, instantiate, and answer twice from one runtime
    /// with a typed agent error (an empty payload is never valid), not a trap.
    #[tokio::test]
    async fn embedded_component_answers_repeatedly() {
        let runtime = Arc::new(Runtime::new(EMBEDDED_COMPONENT).expect("component loads"));
        let workspace = Workspace::new("http://127.0.0.1:9", None).unwrap();
        let options = AgentOptions {
            allow_hosts: vec![],
            timeout: Duration::from_secs(60),
            claude_endpoint: None,
            job_id: None,
            policy: None,
            fixed_code: false,
            runner_path: None,
            staging_dir: None,
            caller: None,
            limits: Limits::default(),
            live_progress: false,
        };
        let agent = Agent::new(runtime, HttpClient::new().unwrap(), &workspace, options);
        for export in [Export::Predict, Export::Predict, Export::Run] {
            let failure = agent
                .call(export, "{}")
                .await
                .expect_err("{} is not a valid payload");
            assert!(
                !matches!(
                    failure,
                    Failure::Trap(_) | Failure::Config(_) | Failure::Timeout(_)
                ),
                "{export:?}: {failure}"
            );
        }
    }

    /// A guest stopped by the deadline or the memory limit leaves the agent (engine, epoch
    /// thread, client) fit for the next call, as a long-running `serve` needs.
    #[tokio::test]
    async fn calls_after_a_timeout_or_a_limit_still_work() {
        let path = std::path::Path::new(sdp_agent_e2e::PROBE_WASM);
        let runtime = Arc::new(Runtime::from_source(Some(path)).expect("probe loads"));
        let workspace = Workspace::new("http://127.0.0.1:9", None).unwrap();
        let options = AgentOptions {
            allow_hosts: vec![],
            timeout: Duration::from_secs(2),
            claude_endpoint: None,
            job_id: None,
            policy: None,
            fixed_code: false,
            runner_path: None,
            staging_dir: None,
            caller: None,
            limits: Limits::from_mib(32),
            live_progress: false,
        };
        let agent = Agent::new(runtime, HttpClient::new().unwrap(), &workspace, options);
        let ok = || agent.call(Export::Predict, r#"{"probe": "ok"}"#);
        let expected = Success::Submitted {
            run_id: 0,
            run_url: "probe ok".into(),
        };
        assert_eq!(ok().await, Ok(expected.clone()));

        let spin = agent.call(Export::Predict, r#"{"probe": "spin"}"#).await;
        let Err(Failure::Timeout(message)) = spin else {
            panic!("spin: {spin:?}")
        };
        assert!(message.contains("within 2s (--timeout)"), "{message}");
        assert_eq!(ok().await, Ok(expected.clone()));

        let alloc = agent.call(Export::Run, r#"{"probe": "alloc"}"#).await;
        let Err(Failure::Trap(message)) = alloc else {
            panic!("alloc: {alloc:?}")
        };
        assert!(
            message.starts_with("run exceeded the memory limit of 32 MiB (--max-memory)"),
            "{message}"
        );
        assert_eq!(ok().await, Ok(expected));
    }
}
