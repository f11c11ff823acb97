//! Calling the component: one fresh store per call on a shared runtime, with a deadline.

use crate::client::HttpClient;
use crate::component::Runtime;
use crate::config::Workspace;
use crate::egress::{AllowedHost, Egress, EgressPolicy};
use crate::epoch;
use crate::output::{Failure, Success};
use crate::state::AgentState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap};

/// Which export to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    Predict,
    Run,
}

impl Export {
    fn name(self) -> &'static str {
        match self {
            Export::Predict => "predict",
            Export::Run => "run",
        }
    }
}

/// Per-agent settings besides the workspace.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub allow_hosts: Vec<AllowedHost>,
    /// Deadline of one call, host calls included.
    pub timeout: Duration,
    /// Passed to the guest as `CLAUDE_ENDPOINT_NAME` when set.
    pub claude_endpoint: Option<String>,
}

/// The component bound to one workspace. Cheap to share (`Arc`), safe to call concurrently.
pub struct Agent {
    runtime: Arc<Runtime>,
    workspace_url: String,
    policy: Arc<EgressPolicy>,
    client: HttpClient,
    options: AgentOptions,
}

impl Agent {
    pub fn new(
        runtime: Arc<Runtime>,
        client: HttpClient,
        workspace: &Workspace,
        options: AgentOptions,
    ) -> Self {
        let policy = EgressPolicy::new(
            workspace.origin.clone(),
            workspace.token.clone(),
            options.allow_hosts.clone(),
        );
        Self {
            runtime,
            workspace_url: workspace.url.clone(),
            policy: Arc::new(policy),
            client,
            options,
        }
    }

    /// Calls `predict` or `run` with the payload JSON text.
    pub async fn call(&self, export: Export, payload: &str) -> Result<Success, Failure> {
        let hooks = Egress::new(self.policy.clone(), self.client.clone());
        let state = AgentState::new(
            &self.workspace_url,
            self.options.claude_endpoint.as_deref(),
            hooks,
        );
        let mut store = Store::new(self.runtime.engine(), state);
        let timeout = self.options.timeout;
        epoch::arm(&mut store, Instant::now() + timeout);

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
        match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(timed_out(export, timeout)),
            Ok(Err(trap)) => Err(classify_trap(export, timeout, &trap)),
            Ok(Ok(Err(agent_error))) => Err(Failure::from(agent_error)),
            Ok(Ok(Ok(success))) => Ok(success),
        }
    }
}

fn timed_out(export: Export, timeout: Duration) -> Failure {
    Failure::Timeout(format!(
        "{} did not finish within {}s (--timeout)",
        export.name(),
        timeout.as_secs()
    ))
}

fn classify_trap(export: Export, timeout: Duration, err: &wasmtime::Error) -> Failure {
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return timed_out(export, timeout);
    }
    tracing::debug!("{} trapped: {err:?}", export.name());
    Failure::Trap(format!("{} trapped: {err:#}", export.name()))
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
}
