//! A server with a job id (`--job-id`, `SDP_AGENT_JOB_ID`) starts that job only: a payload
//! naming another is refused (403 `policy_refused`, field `job_id`) with nothing sent upstream,
//! the same one is fine.

mod common;

use common::answer::Answer;
use common::callers::call;
use common::jobs::{deployed_job, run_now_bodies};
use common::servers::Server;
use common::*;
use serde_json::{Value, json};

fn invoke(server: &Server, payload: &Value) -> Answer {
    call(
        "POST",
        &format!("{}/invocations", server.url),
        None,
        Some(payload),
    )
}

/// A refusal as both the scoring protocol and `sdp-agent` say it.
fn assert_policy_refused(answer: &Answer, field: &str) {
    answer.assert_error(403, "PERMISSION_DENIED");
    assert_eq!(
        answer.json["error"]["kind"], "policy_refused",
        "{}",
        answer.text
    );
    assert_eq!(answer.json["error"]["field"], field, "{}", answer.text);
}

#[test]
fn a_payload_naming_another_job_is_refused_and_nothing_is_sent() {
    let emu = emulator();
    let pinned = deployed_job(&emu);
    let other = deployed_job(&emu);
    let server = Server::sdp_agent(&emu, &["--job-id", &pinned.to_string()]);

    let refused = invoke(&server, &json!({"question": "q", "job_id": other}));
    assert_policy_refused(&refused, "job_id");
    assert!(
        refused.text.contains(&format!("job {pinned} only")),
        "{}",
        refused.text
    );
    // Records too: one refused record submits none of them.
    let records =
        json!({"dataframe_records": [{"question": "a"}, {"question": "b", "job_id": other}]});
    assert_policy_refused(&invoke(&server, &records), "job_id");
    // Only the test's own two jobs/create: nothing the server sent.
    assert_eq!(workspace_writes(&emu), ["POST /api/2.2/jobs/create"; 2]);
    assert!(emu.runs().is_empty());

    invoke(&server, &json!({"question": "q", "job_id": pinned})).assert_ok();
    invoke(&server, &json!({"question": "q"})).assert_ok();
    let started: Vec<Value> = run_now_bodies(&emu)
        .iter()
        .map(|b| b["job_id"].clone())
        .collect();
    assert_eq!(started, [json!(pinned), json!(pinned)]);
}

#[test]
fn predict_with_a_job_id_refuses_another_job_too() {
    let emu = emulator();
    let pinned = deployed_job(&emu);
    let mut cmd = agent_command(&emu);
    cmd.args(["--job-id", &pinned.to_string(), "predict"])
        .arg(json!({"question": "q", "job_id": pinned + 1}).to_string());
    let out = finish(cmd);
    assert_eq!(
        (out.code, out.kind()),
        (1, "policy_refused"),
        "{}",
        out.json
    );
    assert_eq!(out.json["error"]["field"], "job_id");
    assert_eq!(
        calls(&emu, "/"),
        ["POST /api/2.2/jobs/create"],
        "only the test's own"
    );
}
