//! Who may call `sdp-agent serve` (`--callers`, `--allow-group`), against the emulator's SCIM
//! identities. What a token proves and what checking it costs is in `callers_tokens.rs`, the
//! Databricks Apps proxy's headers in `callers_app.rs`, what operators see (`--metrics-listen`)
//! in `metrics.rs`.

mod common;

use common::answer::{CALL_LIMIT, http_agent};
use common::callers::{ALICE, BOB, call, invoke, workspace};
use common::servers;
use common::*;
use sdp_agent_e2e::PROBE_WASM;
use sdp_emulator::{Emulator, Fault};
use serde_json::{Value, json};
use servers::Server;
use std::process::Stdio;
use std::time::{Duration, Instant};

const ME: &str = "/api/2.0/preview/scim/v2/Me";

/// The server's log once a line contains `needle` (stderr is read by another thread).
fn log_with(server: &Server, needle: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log();
        if log.lines().any(|l| l.contains(needle)) {
            return log;
        }
        assert!(Instant::now() < until, "no line with {needle:?} in\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SCIM `Me` calls the server made with `token` (other clients of the emulator aside).
fn me_calls(emu: &Emulator, token: &str) -> usize {
    let bearer = format!("Bearer {token}");
    emu.requests()
        .iter()
        .filter(|r| r.path == ME && r.authorization.as_deref() == Some(bearer.as_str()))
        .filter(|r| {
            r.user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("sdp-agent/"))
        })
        .count()
}

#[test]
fn workspace_callers_need_a_token_of_the_workspace_in_an_allowed_group() {
    let emu = workspace();
    let server = Server::sdp_agent(
        &emu,
        &["--callers", "workspace", "--allow-group", "data-eng"],
    );
    let url = |path: &str| format!("{}{path}", server.url);

    // Load balancers' probes stay open.
    for path in ["/ping", "/health"] {
        assert_eq!(call("GET", &url(path), None, None).status, 200, "{path}");
    }
    // No token: 401 with the scheme to use, and nothing reaches the workspace.
    let anonymous = call("POST", &url("/invocations"), None, Some(&json!({})));
    anonymous.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(anonymous.www_authenticate.as_deref(), Some("Bearer"));
    let anonymous_get = call("GET", &url("/version"), None, None);
    anonymous_get.assert_error(401, "UNAUTHENTICATED");
    // A token the workspace does not know.
    let unknown = call("GET", &url("/version"), Some("dapi-not-a-token"), None);
    unknown.assert_error(401, "UNAUTHENTICATED");
    assert!(
        unknown
            .www_authenticate
            .as_deref()
            .is_some_and(|v| v.starts_with("Bearer") && v.contains("invalid_token")),
        "{unknown:?}"
    );
    // A good token outside the group.
    let outsider = invoke(&emu, &server.url, BOB, "from-bob");
    outsider.assert_error(403, "PERMISSION_DENIED");
    assert!(
        outsider.text.contains("bob@example.com"),
        "{}",
        outsider.text
    );
    assert!(emu.runs().is_empty(), "no run for a refused caller");

    // A good token in the group: the run is submitted with the deployment's credentials and
    // its name says who asked.
    let ok = invoke(&emu, &server.url, ALICE, "from-alice");
    ok.assert_ok();
    let runs = emu.runs();
    assert_eq!(runs.len(), 1);
    let run_name = runs[0]["request"]["run_name"].as_str().unwrap_or("");
    assert!(
        run_name.ends_with("(asked by alice@example.com)"),
        "{run_name}"
    );
    assert_eq!(
        submit_authorization(&emu),
        Some(format!("Bearer {}", emu.token().unwrap()))
    );

    // Audit: the access log names the caller, never a token.
    let log = log_with(&server, "alice@example.com POST /invocations 200 ");
    assert!(log.lines().any(|l| l.contains("- GET /ping 200 ")), "{log}");
    for token in [ALICE, BOB, "dapi-not-a-token"] {
        assert!(!log.contains(token), "a token in the log:\n{log}");
    }
    // The caller's token went to SCIM Me and nowhere else.
    for token in [ALICE, BOB] {
        let carried: Vec<String> = emu
            .requests()
            .iter()
            .filter(|r| r.authorization.as_deref() == Some(&format!("Bearer {token}")))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(carried, [format!("GET {ME}")], "{token}");
    }
}

/// A burst of 50 concurrent requests from one caller costs one identity check.
#[test]
fn a_burst_from_one_caller_costs_one_check() {
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace"]);
    let url = format!("{}/version", server.url);
    let workers: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || call("GET", &url, Some(ALICE), None).status)
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().unwrap(), 200);
    }
    assert_eq!(me_calls(&emu, ALICE), 1, "{:?}", calls(&emu, ME));
    // Refusals are remembered too: a bad token does not cost a check per request.
    for _ in 0..5 {
        assert_eq!(call("GET", &url, Some("dapi-wrong"), None).status, 401);
    }
    assert_eq!(me_calls(&emu, "dapi-wrong"), 1);
}

/// A check that fails or takes too long is a 503, never an admit, and is not remembered.
#[test]
fn a_failed_or_slow_check_is_a_503() {
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace", "--request-timeout", "2"]);
    let url = format!("{}/version", server.url);
    emu.inject_fault(Fault {
        path_prefix: ME.into(),
        status: 500,
        error_code: "INTERNAL_ERROR".into(),
        message: "boom".into(),
        ..Default::default()
    });
    let failed = call("GET", &url, Some(ALICE), None);
    failed.assert_error(503, "TEMPORARILY_UNAVAILABLE");
    emu.inject_fault(Fault {
        path_prefix: ME.into(),
        delay_ms: 5_000,
        ..Default::default()
    });
    let started = Instant::now();
    let slow = call("GET", &url, Some(ALICE), None);
    slow.assert_error(503, "TEMPORARILY_UNAVAILABLE");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the check timeout"
    );
    // The workspace answers again: the caller is admitted.
    assert_eq!(call("GET", &url, Some(ALICE), None).status, 200);
}

/// The spy: the probe component echoes every header and variable the host gave it.
#[test]
fn the_component_never_sees_the_callers_credentials() {
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace", "--component", PROBE_WASM]);
    let mut request = http_agent()
        .post(&format!("{}/invocations", server.url))
        .set("Authorization", &format!("Bearer {ALICE}"))
        .set("Cookie", "session=s3cret-cookie")
        .set("X-Forwarded-Access-Token", "user-token-s3cret")
        .set("X-Custom", "kept");
    request = request.set("Content-Type", "application/json");
    let answer = request.send_string("{}").expect("the probe answers");
    let echo: Value = serde_json::from_str(&answer.into_string().unwrap()).unwrap();
    let text = echo.to_string();
    for secret in [ALICE, "s3cret-cookie", "user-token-s3cret"] {
        assert!(
            !text.contains(secret),
            "{secret} reached the component: {echo}"
        );
    }
    let names: Vec<&str> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    assert!(names.contains(&"x-custom"), "{echo}");
    assert!(!names.contains(&"authorization"), "{echo}");
    // The caller's name is all the component learns about it.
    assert_eq!(
        echo["env"]["SDP_AGENT_CALLER"], "alice@example.com",
        "{echo}"
    );
    assert!(echo["env"].get("DATABRICKS_TOKEN").is_none(), "{echo}");
}

/// Listening beyond loopback needs a policy: exit 2 and one line naming the flag.
#[test]
fn binding_every_address_without_a_policy_is_refused() {
    let emu = workspace();
    let mut cmd = agent_command(&emu);
    cmd.args(["serve", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("sdp-agent runs");
    let until = Instant::now() + CALL_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("sdp-agent serve --listen 0.0.0.0:0 did not refuse");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--callers"), "{stderr}");
    assert!(out.stdout.is_empty());

    // `app` outside a Databricks App is refused the same way.
    let mut cmd = agent_command(&emu);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--callers", "app"])
        .env_remove("DATABRICKS_APP_PORT");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("DATABRICKS_APP_PORT"), "{stderr}");
}

/// The official Python SDK as a real client: `WorkspaceClient(host=serve_url, token=...)`
/// passes its token, which the server checks; the same SDK reads the emulator's `Me`.
#[test]
fn the_databricks_python_sdk_passes_its_token() {
    let emu = workspace();
    let server = Server::sdp_agent(
        &emu,
        &["--callers", "workspace", "--allow-group", "data-eng"],
    );
    // Checked callers do not choose the runner: the server's is used.
    let mut record = full_payload(&emu, "from-sdk");
    record.as_object_mut().unwrap().remove("runner_path");
    let records = json!([record]);
    let script = r#"
import json, sys
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import PermissionDenied
serve_url, emu_url, records = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
alice = WorkspaceClient(host=serve_url, token=sys.argv[4], auth_type="pat")
answer = alice.serving_endpoints.query(name="sdp-agent", dataframe_records=records)
bob = WorkspaceClient(host=serve_url, token=sys.argv[5], auth_type="pat")
try:
    bob.serving_endpoints.query(name="sdp-agent", dataframe_records=records)
    refused = None
except PermissionDenied as e:
    refused = str(e)
me = WorkspaceClient(host=emu_url, token=sys.argv[4], auth_type="pat").current_user.me()
print(json.dumps({"answer": answer.as_dict(), "refused": refused,
                  "me": me.user_name, "groups": [g.display for g in me.groups]}))
"#;
    let out = sdk_python(
        script,
        &[&server.url, &emu.url(), &records.to_string(), ALICE, BOB],
    )
    .output()
    .expect("python3 runs");
    let stdout = server.client_stdout(&out);
    let result: Value = serde_json::from_str(stdout.trim()).expect("the SDK printed JSON");
    assert_eq!(
        result["answer"]["predictions"].as_array().map(Vec::len),
        Some(1),
        "{result}"
    );
    assert!(
        result["refused"]
            .as_str()
            .is_some_and(|m| m.contains("bob@example.com")),
        "{result}"
    );
    assert_eq!(result["me"], "alice@example.com");
    assert_eq!(result["groups"], json!(["data-eng", "users"]));
    assert_eq!(me_calls(&emu, ALICE), 1);
}
