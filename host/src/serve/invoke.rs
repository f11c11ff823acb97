//! One request through the component: a fresh store and instance from the pool, the guest's
//! answer collected in full, traps and deadlines turned into JSON errors.

use super::reply::{self, Reply};
use crate::epoch;
use crate::limits::{Breach, HasLimiter};
use crate::store::AgentState;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use prometheus_client::metrics::counter::Counter;
use std::future::Future;
use std::pin::{Pin, pin};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use wasmtime::{Store, Trap};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Builds each request's store: workspace, egress hooks on the shared client, memory limits,
/// and the user name of the admitted caller, if any.
pub type NewStore = Box<dyn Fn(Option<&str>) -> Store<AgentState> + Send + Sync>;

type Head = Result<http::Response<HyperOutgoingBody>, ErrorCode>;

pub struct Invoker {
    pre: ProxyPre<AgentState>,
    new_store: NewStore,
    /// Only for messages; the deadline itself comes with each request.
    timeout: Duration,
    /// Instances that trapped or ran into a limit (not those stopped at the deadline).
    traps: Counter,
}

impl Invoker {
    pub fn new(
        pre: ProxyPre<AgentState>,
        new_store: NewStore,
        timeout: Duration,
        traps: Counter,
    ) -> Self {
        Self {
            pre,
            new_store,
            timeout,
            traps,
        }
    }

    /// Instantiates `n` stores side by side (then drops them): proves the pool can hold as
    /// many instances as may run at once.
    pub async fn check_capacity(&self, n: usize) -> wasmtime::Result<()> {
        let mut live = Vec::with_capacity(n);
        for _ in 0..n {
            let mut store = (self.new_store)(None);
            self.pre.instantiate_async(&mut store).await?;
            live.push(store);
        }
        Ok(())
    }

    /// Runs the component's `wasi:http/incoming-handler` on `request` for `caller`. Guest
    /// code past `deadline` is interrupted; the caller bounds the time spent waiting on I/O.
    pub async fn invoke(
        &self,
        request: Request<Bytes>,
        deadline: Instant,
        caller: Option<&str>,
    ) -> Reply {
        let mut store = (self.new_store)(caller);
        epoch::arm(&mut store, deadline);
        let request = request.map(|bytes| {
            Full::new(bytes).map_err(|never| -> wasmtime_wasi_http::Error { match never {} })
        });
        let (sender, receiver) = oneshot::channel();
        let resources = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request);
        let resources = resources.and_then(|req| {
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((req, out))
        });
        let (req, out) = match resources {
            Ok(pair) => pair,
            Err(e) => return reply::internal(&format!("cannot hand the request over: {e}")),
        };
        let pre = &self.pre;
        let guest = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        let answer = self.answer(pin!(guest), receiver).await;
        answer.unwrap_or_else(|e| self.failed(&e, store.data_mut().limiter().breach()))
        // The store (and its pool slot) is released here, before the caller frees the slot.
    }

    /// Waits for the response head, then for its body and the guest's return. A guest that
    /// fails at any point makes the whole answer a failure: a body cut short by a trap looks
    /// complete on the wire, so it is never passed on.
    async fn answer(
        &self,
        mut guest: Pin<&mut impl Future<Output = wasmtime::Result<()>>>,
        mut receiver: oneshot::Receiver<Head>,
    ) -> wasmtime::Result<Reply> {
        let mut finished = None;
        let head = tokio::select! {
            head = &mut receiver => head.ok(),
            result = guest.as_mut() => {
                finished = Some(result);
                receiver.try_recv().ok()
            }
        };
        // The outparam was dropped unset: the guest's result says why.
        let result = match (head.is_none(), finished.take()) {
            (true, None) => Some(guest.as_mut().await),
            (_, other) => other,
        };
        if let Some(Err(e)) = result {
            return Err(e);
        }
        let response = match head {
            None => return Ok(reply::internal("the component returned without answering")),
            Some(Err(code)) => {
                return Ok(reply::internal(&format!(
                    "the component answered with {code:?}"
                )));
            }
            Some(Ok(response)) => response,
        };
        let (parts, body) = response.into_parts();
        let mut collect = pin!(body.collect());
        let (body, result) = match result {
            Some(done) => (collect.await, done),
            None => tokio::select! {
                body = collect.as_mut() => (body, guest.await),
                done = guest.as_mut() => match done {
                    Ok(()) => (collect.await, Ok(())),
                    Err(e) => return Err(e),
                },
            },
        };
        result?;
        Ok(match body {
            Ok(collected) => http::Response::from_parts(parts, Full::new(collected.to_bytes())),
            Err(e) => reply::internal(&format!("the component's response body failed: {e}")),
        })
    }

    /// A guest that trapped or could not be instantiated; the limit it ran into, if any, is
    /// the cause worth reporting (an allocation failure only shows up as a trap).
    fn failed(&self, e: &wasmtime::Error, breach: Option<Breach>) -> Reply {
        let trap = e.downcast_ref::<Trap>();
        if trap != Some(&Trap::Interrupt) || breach.is_some() {
            self.traps.inc();
        }
        if let Some(breach) = breach {
            tracing::error!("the component exceeded {breach}: {e:?}");
            let then = trap.map_or_else(|| e.to_string(), Trap::to_string);
            return reply::internal(&breach.stopped("the component", then));
        }
        match trap {
            Some(Trap::Interrupt) => reply::deadline(self.timeout),
            Some(trap) => {
                tracing::error!("the component trapped: {e:?}");
                reply::internal(&format!("the component trapped: {trap}"))
            }
            None => {
                tracing::error!("the component failed: {e:?}");
                reply::internal(&format!("the component failed: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::HttpClient;
    use crate::component::{EMBEDDED_COMPONENT, linker, load_component, new_pooling_engine};
    use crate::egress::{EgressHooks, EgressPolicy, Origin};
    use crate::epoch::EpochTicker;
    use crate::limits::{self, Limits};
    use crate::serve::pool;
    use std::sync::Arc;
    use wasmtime::Engine;

    /// An incoming handler whose body is `code` (a core function of two handles).
    fn handler_component(code: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component
                (import "wasi:http/types@0.2.12" (instance $types
                    (export "incoming-request" (type (sub resource)))
                    (export "response-outparam" (type (sub resource)))))
                (alias export $types "incoming-request" (type $request))
                (alias export $types "response-outparam" (type $outparam))
                (core module $m (func (export "handle") (param i32 i32) {code}))
                (core instance $i (instantiate $m))
                (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
                    (canon lift (core func $i "handle")))
                (instance $handler (export "handle" (func $handle)))
                (export "wasi:http/incoming-handler@0.2.12" (instance $handler)))"#
        ))
        .expect("valid component text")
    }

    fn invoker(engine: &Engine, wasm: &[u8], timeout: Duration) -> Invoker {
        let component = load_component(engine, wasm).unwrap();
        let pre = linker(engine).unwrap().instantiate_pre(&component).unwrap();
        let pre = ProxyPre::new(pre).unwrap();
        let client = HttpClient::new().unwrap();
        let policy = Arc::new(EgressPolicy::new(
            Origin::from_url("http://127.0.0.1:9").unwrap(),
            Arc::new(crate::auth::Authenticator::None),
            vec![],
        ));
        let engine = engine.clone();
        let new_store = Box::new(move |caller: Option<&str>| {
            let mut env = vec![("DATABRICKS_HOST", "http://127.0.0.1:9".to_string())];
            env.extend(caller.map(|c| ("SDP_AGENT_CALLER", c.to_string())));
            let hooks = EgressHooks::new(policy.clone(), client.clone());
            let state = AgentState::new(&env, hooks, None);
            let mut store = Store::new(&engine, state);
            limits::apply(&mut store, Limits::default());
            store
        });
        Invoker::new(pre, new_store, timeout, Counter::default())
    }

    fn get(path: &str) -> Request<Bytes> {
        Request::get(path)
            .header("host", "localhost")
            .body(Bytes::new())
            .unwrap()
    }

    async fn json(reply: Reply) -> (u16, serde_json::Value) {
        let status = reply.status().as_u16();
        let body = reply.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).expect("a JSON body"))
    }

    /// One pool slot shared by a trapping component and the real one: a trap answers 500 and
    /// gives the slot back, so the next request (to either) runs.
    #[tokio::test]
    async fn a_trap_is_a_500_and_the_next_request_runs() {
        let (pool, reservation) = pool::config(1, Limits::default());
        let engine = new_pooling_engine(pool, reservation).unwrap();
        let _ticker = EpochTicker::start(&engine);
        let deadline = || Instant::now() + Duration::from_secs(30);
        let trapping = invoker(
            &engine,
            &handler_component("unreachable"),
            Duration::from_secs(30),
        );
        let real = invoker(&engine, EMBEDDED_COMPONENT, Duration::from_secs(30));
        for _ in 0..2 {
            let (status, body) = json(trapping.invoke(get("/ping"), deadline(), None).await).await;
            assert_eq!(status, 500, "{body}");
            assert_eq!(body["error_code"], "INTERNAL_ERROR");
            assert!(
                body["message"].as_str().unwrap().contains("unreachable"),
                "{body}"
            );
            let (status, body) = json(real.invoke(get("/ping"), deadline(), None).await).await;
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!((trapping.traps.get(), real.traps.get()), (2, 0));
        let (status, body) = json(real.invoke(get("/nope"), deadline(), None).await).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (404, Some("ENDPOINT_NOT_FOUND"))
        );
    }

    #[tokio::test]
    async fn a_spinning_guest_is_stopped_at_the_deadline() {
        let (pool, reservation) = pool::config(1, Limits::default());
        let engine = new_pooling_engine(pool, reservation).unwrap();
        let _ticker = EpochTicker::start(&engine);
        let spinning = invoker(
            &engine,
            &handler_component("(loop (br 0))"),
            Duration::from_secs(1),
        );
        let started = Instant::now();
        let reply = spinning
            .invoke(get("/ping"), started + Duration::from_millis(300), None)
            .await;
        let (status, body) = json(reply).await;
        assert_eq!(status, 504, "{body}");
        assert_eq!(body["error_code"], "DEADLINE_EXCEEDED");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(spinning.traps.get(), 0, "a deadline is not a trap");
    }

    #[tokio::test]
    async fn a_guest_that_never_answers_is_a_500() {
        let (pool, reservation) = pool::config(1, Limits::default());
        let engine = new_pooling_engine(pool, reservation).unwrap();
        let _ticker = EpochTicker::start(&engine);
        let silent = invoker(&engine, &handler_component("nop"), Duration::from_secs(5));
        let reply = silent
            .invoke(get("/ping"), Instant::now() + Duration::from_secs(5), None)
            .await;
        let (status, body) = json(reply).await;
        assert_eq!(status, 500, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("without answering"),
            "{body}"
        );
    }
}
