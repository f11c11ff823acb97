//! The data of one `Store`: one per call, so nothing leaks between calls.

use crate::egress::EgressHooks;
use crate::limits::{HasLimiter, Limiter};
use crate::live::LiveStderr;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct AgentState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: EgressHooks,
    /// Replaced by `limits::apply` with the call's own limits.
    limiter: Limiter,
}

impl AgentState {
    /// `env` is all the guest is told (`Agent::guest_env`): the workspace URL and settings,
    /// never a credential; the token stays in `hooks`.
    pub fn new(env: &[(&str, String)], hooks: EgressHooks, live: Option<LiveStderr>) -> Self {
        let mut wasi = WasiCtx::builder();
        for (name, value) in env {
            wasi.env(name, value);
        }
        // The guest's log lines go to the user's stderr (on a terminal, progress as a live
        // line). Its stdout is discarded: ours carries exactly one JSON line.
        match live {
            Some(live) => wasi.stderr(live),
            None => wasi.inherit_stderr(),
        };
        // Raw sockets and DNS stay closed; HTTP goes through `hooks` only.
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            limiter: Limiter::default(),
        }
    }
}

impl AgentState {
    /// The store's egress hooks (e.g. to ask why a request got no credentials).
    pub fn egress(&self) -> &EgressHooks {
        &self.hooks
    }
}

impl HasLimiter for AgentState {
    fn limiter(&mut self) -> &mut Limiter {
        &mut self.limiter
    }
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for AgentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
