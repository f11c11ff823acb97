//! `--model-url`: the demo's model is any chat endpoint. A stub OpenAI-compatible server stands
//! in for llama.cpp, vLLM or a Databricks serving endpoint: the agent's request reaches it byte
//! for byte with the token of SDP_AGENT_MODEL_TOKEN in its Authorization header and nowhere
//! else, its answers come back unchanged (errors and `finish_reason: "length"` included), and
//! `--record` / `--replay` rerun the same session without it.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::agent_bin;
use common::credentials::TempDir;
use common::model_stub::{ModelStub, Reply};
use sdp_emulator::recording_key;
use serde_json::{Value, json};

const TOKEN: &str = "model-token-e2e-5d1c9a";
const QUESTION: &str = "Orders from a synthetic range, one materialized view";

/// A good answer: a complete config whose one SQL file passes the structural check.
fn pipeline_answer() -> String {
    let file = "/Workspace/Shared/stub_orders/orders.sql";
    json!({
        "pipelineName": "stub_orders",
        "catalog": "main",
        "schema": "stub",
        "root_path": "/Workspace/Shared/stub_orders",
        "workspace_file_paths": [file],
        "sources": {file: "CREATE OR REFRESH MATERIALIZED VIEW orders AS SELECT id AS order_id, id % 7 AS customer_id FROM range(0, 100);"},
    })
    .to_string()
}

struct Demo {
    code: i32,
    stdout: String,
    stderr: String,
    json: Value,
}

/// `sdp-agent demo QUESTION ARGS` with the model token in the environment.
fn demo(question: &str, args: &[&str]) -> Demo {
    let out = Command::new(agent_bin())
        .arg("demo")
        .arg(question)
        .args(args)
        .env_remove("SDP_AGENT_DEMO_FLAW")
        .env("SDP_AGENT_MODEL_TOKEN", TOKEN)
        // As talkative as it gets: the token must not show even in debug logs.
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .expect("sdp-agent runs");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stdout.lines().last().unwrap_or_default();
    let json = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the last line is not JSON ({e}): {stdout}\nstderr:\n{stderr}"));
    Demo {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        json,
    }
}

/// Every file of a recording, as text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("the recording folder")
        .map(|e| e.expect("an entry").path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("a text file"))
        })
        .collect();
    files.sort();
    files
}

/// The emulator's URL (random port) is the one part of the final JSON that differs by run.
fn without_host(mut json: Value) -> Value {
    json["service_url"] = json["service_url"]
        .as_str()
        .and_then(|u| u.split_once("/pipelines/"))
        .map_or(Value::Null, |(_, id)| json!(id));
    json
}

#[test]
fn the_agents_request_reaches_the_model_unchanged_and_the_token_only_in_its_header() {
    let stub = ModelStub::start(
        vec![],
        Reply::completion(&pipeline_answer(), "stop", (1234, 56)),
    );
    let recording = TempDir::new("model-url-forward");
    let url = stub.url("/v1/chat/completions");
    let dir = recording.path().to_str().unwrap();
    let run = demo(QUESTION, &["--model-url", &url, "--record", dir]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json["state"], "COMPLETED", "{}", run.json);
    assert_eq!(
        run.json["model"],
        json!({"calls": 1, "prompt_tokens": 1234, "completion_tokens": 56}),
        "the run's cost, from the model's own usage"
    );

    let received = stub.received();
    assert_eq!(received.len(), 1, "one question, one answer: {received:?}");
    let request = &received[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    let body = request.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["max_tokens", "messages", "temperature"], "{body}");
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains(QUESTION),
        "{body}"
    );
    // The recording is keyed by the hash of the body the agent sent: the stub got those bytes.
    let recorded = files(recording.path());
    let key = recording_key(&request.body);
    assert_eq!(
        recorded.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [format!("{key}.json")],
        "the body reached the model byte for byte"
    );

    // The token went in one header and nowhere else.
    let elsewhere = request
        .headers
        .iter()
        .filter(|(name, value)| name != "authorization" && value.contains(TOKEN))
        .count()
        + usize::from(String::from_utf8_lossy(&request.body).contains(TOKEN));
    assert_eq!(elsewhere, 0, "{request:?}");
    assert!(!run.stdout.contains(TOKEN), "stdout: {}", run.stdout);
    assert!(!run.stderr.contains(TOKEN), "stderr: {}", run.stderr);
    for (name, text) in &recorded {
        assert!(!text.contains(TOKEN), "{name}: {text}");
    }
}

#[test]
fn errors_and_cut_answers_come_back_unchanged() {
    // An OpenAI-shaped error, as a local server answers a request it cannot take.
    let refusal = json!({"error": {"message": "stub-model: context length exceeded", "type": "invalid_request_error"}});
    let stub = ModelStub::start(vec![], Reply::error(400, refusal));
    let url = stub.url("/v1/chat/completions");
    let run = demo(QUESTION, &["--model-url", &url]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let error = &run.json["error"];
    assert_eq!(error["kind"], "upstream", "{}", run.json);
    assert_eq!(error["status"], 400, "{}", run.json);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("context length exceeded"),
        "{}",
        run.json
    );

    // Cut off twice: the agent asks once more with a larger budget, then gives up, saying why.
    let cut = Reply::completion("{\"pipelineName\": \"stub_or", "length", (900, 8192));
    let stub = ModelStub::start(vec![], cut);
    let url = stub.url("/v1/chat/completions");
    let run = demo(QUESTION, &["--model-url", &url]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json["error"]["kind"], "llm_unusable", "{}", run.json);
    assert!(
        run.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("finish_reason \"length\""),
        "{}",
        run.json
    );
    let budgets: Vec<Value> = stub
        .received()
        .iter()
        .map(|r| r.json()["max_tokens"].clone())
        .collect();
    assert_eq!(budgets, [json!(8192), json!(32000)]);
}

#[test]
fn a_recorded_session_replays_to_the_same_final_json_without_the_model() {
    let stub = ModelStub::start(
        vec![],
        Reply::completion(&pipeline_answer(), "stop", (700, 90)),
    );
    let recording = TempDir::new("model-url-replay");
    let dir = recording.path().to_str().unwrap();
    let url = stub.url("/v1/chat/completions");
    let recorded = demo(QUESTION, &["--model-url", &url, "--record", dir]);
    assert_eq!(recorded.code, 0, "{}\n{}", recorded.stdout, recorded.stderr);
    let asked = stub.received().len();

    let replayed = demo(QUESTION, &["--replay", dir]);
    assert_eq!(replayed.code, 0, "{}\n{}", replayed.stdout, replayed.stderr);
    assert_eq!(without_host(replayed.json), without_host(recorded.json));
    assert_eq!(
        stub.received().len(),
        asked,
        "the replay never asked the model"
    );

    // Another question was never recorded: the replay fails, naming the key it looked for.
    let missed = demo("Something else entirely", &["--replay", dir]);
    assert_eq!(missed.code, 1, "{}", missed.stdout);
    let message = missed.json["error"]["message"].as_str().unwrap_or_default();
    let key = message
        .split("no recorded model exchange for key ")
        .nth(1)
        .map(|rest| &rest[..16.min(rest.len())])
        .unwrap_or_else(|| panic!("the miss names its key: {}", missed.json));
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{message}");
    assert!(!recording.path().join(format!("{key}.json")).exists());
    assert_eq!(missed.json["error"]["status"], 404, "{}", missed.json);
}
