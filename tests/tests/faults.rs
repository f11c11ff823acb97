//! A busy workspace's faults: each run ends in success or a clear error, with exactly one
//! Jobs run and at most one pipeline created.

mod common;

use common::recorder;
use common::*;
use sdp_emulator::{ChatReply, Emulator, Fault};
use serde_json::json;

fn fault(method: &str, path: &str) -> Fault {
    Fault {
        method: Some(method.into()),
        path_prefix: path.into(),
        times: 1,
        ..Default::default()
    }
}

fn unavailable(method: &str, path: &str) -> Fault {
    Fault {
        status: 503,
        error_code: "TEMPORARILY_UNAVAILABLE".into(),
        message: "The service is temporarily unavailable".into(),
        ..fault(method, path)
    }
}

const SUBMIT: &str = "/api/2.2/jobs/runs/submit";
const PIPELINES: &str = "/api/2.0/pipelines";

fn count(emu: &Emulator, method: &str, path: &str) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

#[test]
fn rate_limits_are_waited_out_as_retry_after_says() {
    let emu = emulator();
    emu.inject_fault(Fault {
        status: 429,
        error_code: "REQUEST_LIMIT_EXCEEDED".into(),
        message: "slow down".into(),
        retry_after_secs: Some(1),
        times: 2,
        ..fault("GET", PIPELINES)
    });
    emu.inject_fault(Fault {
        status: 429,
        error_code: "REQUEST_LIMIT_EXCEEDED".into(),
        retry_after_secs: Some(1),
        ..fault("POST", PIPELINES)
    });
    let started = std::time::Instant::now();
    let result = run(&emu, &full_payload(&emu, "rate_limited"))
        .assert_ok()
        .clone();
    assert!(
        started.elapsed().as_secs_f64() >= 2.5,
        "Retry-After honoured three times"
    );
    assert_eq!(emu.pipelines().len(), 1);
    assert_eq!(result["pipeline_id"], emu.pipelines()[0]["pipeline_id"]);
    assert_eq!(
        count(&emu, "POST", PIPELINES),
        2,
        "a 429 create is repeated: not processed"
    );
}

#[test]
fn a_burst_of_503s_on_submit_still_makes_exactly_one_run() {
    let emu = emulator();
    // One of them after the run was created: only the idempotency token prevents a second.
    emu.inject_fault(unavailable("POST", SUBMIT));
    emu.inject_fault(Fault {
        after_handling: true,
        ..unavailable("POST", SUBMIT)
    });
    emu.inject_fault(Fault {
        times: 2,
        ..unavailable("POST", SUBMIT)
    });
    let result = predict(&emu, &full_payload(&emu, "p")).assert_ok().clone();
    assert_eq!(emu.runs().len(), 1);
    assert_eq!(result["run_id"], emu.runs()[0]["run_id"]);
    assert_eq!(count(&emu, "POST", SUBMIT), 5);
}

#[test]
fn a_dropped_connection_after_the_submit_was_done_makes_exactly_one_run() {
    let emu = emulator();
    emu.inject_fault(Fault {
        drop_connection: true,
        after_handling: true,
        ..fault("POST", SUBMIT)
    });
    let result = predict(&emu, &full_payload(&emu, "p")).assert_ok().clone();
    assert_eq!(emu.runs().len(), 1);
    assert_eq!(result["run_id"], emu.runs()[0]["run_id"]);
    assert_eq!(
        count(&emu, "POST", SUBMIT),
        2,
        "retried once with the same token"
    );
}

#[test]
fn a_pipeline_created_but_unanswered_is_found_not_created_twice() {
    let emu = emulator();
    emu.inject_fault(Fault {
        drop_connection: true,
        after_handling: true,
        ..fault("POST", PIPELINES)
    });
    let result = run(&emu, &full_payload(&emu, "lost_answer"))
        .assert_ok()
        .clone();
    assert_eq!(emu.pipelines().len(), 1, "{:?}", emu.pipelines());
    assert_eq!(result["pipeline_id"], emu.pipelines()[0]["pipeline_id"]);
    assert_eq!(
        count(&emu, "POST", PIPELINES),
        1,
        "looked it up instead of creating again"
    );
}

#[test]
fn a_500_with_a_garbage_body_on_create_is_checked_then_retried() {
    let emu = emulator();
    emu.inject_fault(Fault {
        status: 500,
        raw_body: Some("<html><body>Internal Server Error</body></html>".into()),
        ..fault("POST", PIPELINES)
    });
    let result = run(&emu, &full_payload(&emu, "garbage_500"))
        .assert_ok()
        .clone();
    assert_eq!(emu.pipelines().len(), 1);
    assert_eq!(result["pipeline_id"], emu.pipelines()[0]["pipeline_id"]);
    assert_eq!(count(&emu, "POST", PIPELINES), 2);
}

#[test]
fn a_500_with_a_garbage_body_on_submit_is_a_clear_error() {
    let emu = emulator();
    emu.inject_fault(Fault {
        status: 500,
        raw_body: Some("upstream connect error or disconnect/reset before headers".into()),
        ..fault("POST", SUBMIT)
    });
    let out = predict(&emu, &full_payload(&emu, "p"));
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "upstream");
    assert_eq!(out.json["error"]["status"], 500);
    let message = out.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("upstream connect error"), "{message}");
    assert!(emu.runs().is_empty());
}

#[test]
fn a_503_that_never_ends_gives_up_with_a_clear_error() {
    let emu = emulator();
    emu.inject_fault(Fault {
        times: 100,
        retry_after_secs: Some(0),
        ..unavailable("POST", SUBMIT)
    });
    let out = predict(&emu, &full_payload(&emu, "p"));
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "upstream");
    assert_eq!(out.json["error"]["error_code"], "TEMPORARILY_UNAVAILABLE");
    let attempts = count(&emu, "POST", SUBMIT);
    assert!((2..=10).contains(&attempts), "bounded attempts: {attempts}");
    assert!(emu.runs().is_empty());
}

#[test]
fn the_model_endpoint_is_retried_through_503s() {
    let emu = emulator();
    let endpoint = "databricks-claude-sonnet-4-5";
    emu.inject_fault(Fault {
        times: 2,
        ..unavailable(
            "POST",
            &format!("/serving-endpoints/{endpoint}/invocations"),
        )
    });
    emu.script_chat(
        endpoint,
        vec![ChatReply::Text(
            json!({"pipelineName": "via_retries", "catalog": "main", "schema": "s",
                   "root_path": "/Workspace/Shared/x", "workspace_file_paths": ["/Workspace/Shared/x/a.sql"],
                   "sources": {"/Workspace/Shared/x/a.sql": "CREATE OR REFRESH MATERIALIZED VIEW a AS SELECT 1 AS id"}})
            .to_string(),
        )],
    );
    let payload = json!({"question": "anything", "claude_endpoint": endpoint});
    run(&emu, &payload).assert_ok();
    assert_eq!(pipelines_named(&emu, "via_retries").len(), 1);
}

#[test]
fn every_request_says_who_is_calling() {
    let emu = emulator();
    run(&emu, &full_payload(&emu, "agent_ua")).assert_ok();
    for r in emu.requests() {
        let ua = r.user_agent.unwrap_or_default();
        assert!(
            ua.starts_with("sdp-agent/"),
            "{} {}: {ua}",
            r.method,
            r.path
        );
    }
}

#[test]
fn a_slow_answer_past_the_deadline_is_retried_and_makes_exactly_one_run() {
    let emu = emulator();
    // The first submit stalls well past the host's per-request deadline.
    emu.inject_fault(Fault {
        delay_ms: 8_000,
        ..fault("POST", SUBMIT)
    });
    let mut cmd = agent_command(&emu);
    cmd.args(["--http-timeout", "2", "predict"])
        .arg(full_payload(&emu, "p").to_string());
    let result = finish(cmd).assert_ok().clone();
    // Give a stalled first attempt time to land if it were going to.
    std::thread::sleep(std::time::Duration::from_secs(7));
    assert_eq!(emu.runs().len(), 1, "one run, whichever attempt made it");
    assert_eq!(result["run_id"], emu.runs()[0]["run_id"]);
    assert!(count(&emu, "POST", SUBMIT) >= 2);
}

#[test]
fn a_workspace_that_stays_slow_ends_in_a_timeout_error() {
    let emu = emulator();
    emu.inject_fault(Fault {
        delay_ms: 6_000,
        times: 100,
        ..fault("GET", PIPELINES)
    });
    let mut cmd = agent_command(&emu);
    cmd.args(["--http-timeout", "1", "run"])
        .arg(b64(&full_payload(&emu, "never")));
    let out = finish(cmd);
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "timeout", "{}", out.json);
    assert!(emu.pipelines().is_empty());
}

#[test]
fn a_redirect_to_another_host_is_not_followed() {
    let emu = emulator();
    let elsewhere = recorder::Recorder::start();
    emu.inject_fault(Fault {
        status: 307,
        location: Some(format!(
            "http://127.0.0.1:{}/api/2.2/jobs/runs/submit",
            elsewhere.port()
        )),
        raw_body: Some(String::new()),
        ..fault("POST", SUBMIT)
    });
    let out = predict(&emu, &full_payload(&emu, "p"));
    assert_eq!(out.code, 1);
    assert_eq!(out.kind(), "upstream", "{}", out.json);
    assert_eq!(out.json["error"]["status"], 307);
    assert_eq!(
        elsewhere.accepted(),
        0,
        "the redirect target was never contacted"
    );
    assert!(emu.runs().is_empty());
}

#[test]
fn a_lost_answer_to_starting_an_update_adopts_the_update_that_started() {
    for drop_connection in [false, true] {
        let emu = emulator();
        // Only `.../{id}/updates` is a POST under this prefix here.
        emu.inject_fault(Fault {
            after_handling: true,
            drop_connection,
            ..unavailable("POST", "/api/2.0/pipelines/")
        });
        let result = run(&emu, &full_payload(&emu, "lost_start"))
            .assert_ok()
            .clone();
        let p = &pipelines_named(&emu, "lost_start")[0];
        let updates = p["updates"].as_array().unwrap();
        assert_eq!(updates.len(), 1, "dropped: {drop_connection}");
        assert_eq!(result["update_id"], updates[0]["update_id"]);
    }
}

#[test]
fn a_start_that_started_nothing_is_sent_again() {
    let emu = emulator();
    emu.inject_fault(unavailable("POST", "/api/2.0/pipelines/"));
    let result = run(&emu, &full_payload(&emu, "unstarted"))
        .assert_ok()
        .clone();
    let p = &pipelines_named(&emu, "unstarted")[0];
    assert_eq!(p["updates"].as_array().unwrap().len(), 1);
    assert_eq!(result["update_id"], p["updates"][0]["update_id"]);
    let starts = calls(&emu, "/api/2.0/pipelines/")
        .into_iter()
        .filter(|c| c.starts_with("POST") && c.ends_with("/updates"))
        .count();
    assert_eq!(starts, 2);
}
