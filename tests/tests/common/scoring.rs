//! Speaking the scoring protocol to a server under test: requests whose answers must be JSON,
//! and the shape of a prediction.

use super::answer::{Answer, http_agent};
use sdp_emulator::Emulator;
use serde_json::Value;

pub fn agent() -> ureq::Agent {
    http_agent()
}

/// Any status is an answer here; its body must be JSON.
pub fn send(agent: &ureq::Agent, method: &str, url: &str, body: Option<(&str, &[u8])>) -> Answer {
    let request = agent.request(method, url);
    let result = match body {
        Some((content_type, bytes)) => request.set("Content-Type", content_type).send_bytes(bytes),
        None => request.call(),
    };
    let answer = Answer::read(method, url, result);
    if let Err(e) = serde_json::from_str::<Value>(&answer.text) {
        panic!(
            "{method} {url} -> {}: not JSON ({e}): {}",
            answer.status, answer.text
        );
    }
    answer
}

pub fn post_json(agent: &ureq::Agent, url: &str, body: &Value) -> Answer {
    send(
        agent,
        "POST",
        url,
        Some(("application/json", body.to_string().as_bytes())),
    )
}

/// The predict result shape; returns the run id after checking the emulator has that run.
pub fn assert_submitted(emu: &Emulator, prediction: &Value) -> i64 {
    let run_id = prediction["run_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no run_id in {prediction}"));
    let url = prediction["run_url"].as_str().unwrap_or("");
    assert!(url.contains(&run_id.to_string()), "{prediction}");
    assert!(
        emu.runs().iter().any(|r| r["run_id"] == run_id),
        "the emulator has no run {run_id}"
    );
    run_id
}

pub fn predictions(emu: &Emulator, answer: &Answer, expected: usize) -> Vec<i64> {
    assert_eq!(answer.status, 200, "{}", answer.json);
    let list = answer.json["predictions"]
        .as_array()
        .unwrap_or_else(|| panic!("no predictions in {}", answer.json));
    assert_eq!(list.len(), expected, "{}", answer.json);
    list.iter().map(|p| assert_submitted(emu, p)).collect()
}
