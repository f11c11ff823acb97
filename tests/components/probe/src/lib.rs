//! A hostile stand-in for the sdp-agent component, for sandbox tests only.
//!
//! It implements the agent's entry points (`wit/agent.wit`, world `entry-points`), so `sdp-agent --component` runs it like the
//! real agent. Both exports read the payload as a command and report what the host let it do:
//!
//! | payload | does | answers |
//! | --- | --- | --- |
//! | `{"probe": "ok"}` | nothing | success |
//! | `{"probe": "env"}` | reads its whole environment | success, the JSON object as text |
//! | `{"probe": "fetch", "url": U[, "authorization": A]}` | GET `U` through wasi-http, setting `Authorization: A` itself when given | success with the status, or `transport` with the exact error |
//! | `{"probe": "spin"}` | loops forever | never |
//! | `{"probe": "alloc"}` | allocates and touches memory forever | never |
//!
//! `predict` answers the text as `run-url` and the status (or 0) as `run-id`; `run` answers them
//! as `message` and `update-id`.
//!
//! It also exports `wasi:http/incoming-handler`: every request is answered `200` with
//! `{"headers": [[name, value], …], "env": {…}}`, exactly what the host handed it, so a test
//! can prove what a server passes on to its component (and what it keeps back).

wit_bindgen::generate!({ path: "../../../wit", world: "entry-points" });

use exports::sdp::agent::agent::Guest;
use sdp::agent::types::{AgentError, FieldError, ModelUsage, PipelineResult, SubmittedRun};
use serde_json::Value;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

/// What a probe that returns reports: a number (HTTP status, or 0) and a text.
struct Report {
    code: u16,
    text: String,
}

struct Probe;

impl Guest for Probe {
    fn predict(payload: String) -> Result<SubmittedRun, AgentError> {
        probe(&payload).map(|r| SubmittedRun {
            run_id: r.code.into(),
            run_url: r.text,
            plan: None,
        })
    }

    fn run(payload: String) -> Result<PipelineResult, AgentError> {
        probe(&payload).map(|r| PipelineResult {
            service_url: String::new(),
            pipeline_id: String::new(),
            update_id: r.code.to_string(),
            message: r.text,
            state: None,
            datasets: None,
            checks: None,
            plan: None,
            model: ModelUsage {
                calls: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
            },
        })
    }
}

export!(Probe);

/// The HTTP side: an echo of the request head and the environment.
struct Echo;

impl wasip2::exports::http::incoming_handler::Guest for Echo {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let headers: Vec<Value> = request
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| Value::from(vec![name, String::from_utf8_lossy(&value).into()]))
            .collect();
        let env: Value = serde_json::from_str(&environment()).expect("an object");
        let text = serde_json::json!({"headers": headers, "env": env}).to_string();
        let fields = Fields::new();
        fields
            .append("content-type", b"application/json")
            .expect("a valid header");
        let response = OutgoingResponse::new(fields);
        let body = response.body().expect("the body is taken once");
        ResponseOutparam::set(response_out, Ok(response));
        let stream = body.write().expect("the stream is taken once");
        for chunk in text.as_bytes().chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .expect("the host takes the body");
        }
        drop(stream);
        OutgoingBody::finish(body, None).expect("the body finishes");
    }
}

wasip2::http::proxy::export!(Echo);

fn probe(payload: &str) -> Result<Report, AgentError> {
    let command: Value =
        serde_json::from_str(payload).map_err(|e| invalid("$", format!("not JSON: {e}")))?;
    let text = |key: &str| command.get(key).and_then(Value::as_str);
    match text("probe") {
        Some("ok") => Ok(Report {
            code: 0,
            text: "probe ok".into(),
        }),
        Some("env") => Ok(Report {
            code: 0,
            text: environment(),
        }),
        Some("fetch") => {
            let url = text("url").ok_or_else(|| invalid("url", "required for fetch"))?;
            fetch(url, text("authorization"))
        }
        Some("spin") => spin(),
        Some("alloc") => alloc(),
        _ => Err(invalid(
            "probe",
            "expected one of ok, env, fetch, spin, alloc",
        )),
    }
}

/// Every variable the host gave the component, as a JSON object.
fn environment() -> String {
    let vars: serde_json::Map<String, Value> = std::env::vars()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Value::Object(vars).to_string()
}

/// One GET through `wasi:http/outgoing-handler`; any refusal comes back as the exact wasi-http
/// error (e.g. `ErrorCode::HttpRequestDenied`, `HeaderError::Forbidden`).
fn fetch(url: &str, authorization: Option<&str>) -> Result<Report, AgentError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| invalid("url", format!("{url:?}: {e}")))?;
    let headers = Fields::new();
    if let Some(value) = authorization {
        headers
            .append("authorization", value.as_bytes())
            .map_err(|e| AgentError::Transport(format!("setting header authorization: {e:?}")))?;
    }
    let request = OutgoingRequest::new(headers);
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        other => Scheme::Other(other.unwrap_or_default().to_string()),
    };
    let set = [
        request.set_method(&Method::Get),
        request.set_scheme(Some(&scheme)),
        request.set_authority(uri.authority().map(|a| a.as_str())),
        request.set_path_with_query(uri.path_and_query().map(|p| p.as_str())),
    ];
    if set.iter().any(Result::is_err) {
        return Err(invalid(
            "url",
            format!("wasi-http rejected the parts of {url:?}"),
        ));
    }
    let body = request.body().expect("the body is taken once");
    let response = outgoing_handler::handle(request, None)
        .map_err(|e| AgentError::Transport(format!("{e:?}")))?;
    // Nothing to send. If the host already refused the request this fails too; the response
    // below carries the reason.
    let _ = OutgoingBody::finish(body, None);
    response.subscribe().block();
    let response = response
        .get()
        .expect("ready after block")
        .expect("taken once")
        .map_err(|e| AgentError::Transport(format!("{e:?}")))?;
    let status = response.status();
    Ok(Report {
        code: status,
        text: format!("status {status}"),
    })
}

/// Busy code that never calls the host: only the engine's deadline can stop it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Grows the heap 1 MiB at a time, writing every page so the memory is really used.
fn alloc() -> ! {
    const CHUNK: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        kept.push(std::hint::black_box(chunk));
    }
}

fn invalid(path: &str, message: impl Into<String>) -> AgentError {
    AgentError::InvalidPayload(vec![FieldError {
        path: path.into(),
        message: message.into(),
    }])
}
