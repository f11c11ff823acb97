//! Who may call `sdp-agent serve` (`--callers`, `--allow-group`) and what operators see
//! (`--metrics-listen`), against the emulator's SCIM identities.

mod common;
#[path = "support/servers.rs"]
mod servers;

use common::*;
use sdp_agent_e2e::PROBE_WASM;
use sdp_emulator::{Emulator, EmulatorConfig, Fault, WorkspaceUser};
use serde_json::{Value, json};
use servers::Server;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Bounds a hang; never a speed assertion.
const CALL_LIMIT: Duration = Duration::from_secs(60);
const ME: &str = "/api/2.0/preview/scim/v2/Me";
const ALICE: &str = "dapi-alice-0123456789abcdef";
const BOB: &str = "dapi-bob-fedcba9876543210";

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    json: Value,
    www_authenticate: Option<String>,
    text: String,
}

fn http() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(CALL_LIMIT).build()
}

fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
    let mut request = http().request(method, url);
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Some(body) => request
            .set("Content-Type", "application/json")
            .send_string(&body.to_string()),
        None => request.call(),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let www_authenticate = response.header("www-authenticate").map(str::to_string);
    let text = response.into_string().expect("a readable body");
    Answer {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        www_authenticate,
        text,
    }
}

/// An emulator with alice (in `data-eng`) and bob (in `marketing`), each with a token.
fn workspace() -> Emulator {
    emulator_with(EmulatorConfig {
        users: vec![
            (
                ALICE.into(),
                WorkspaceUser::new("alice@example.com").in_groups(&["data-eng", "users"]),
            ),
            (
                BOB.into(),
                WorkspaceUser::new("bob@example.com").in_groups(&["marketing"]),
            ),
        ],
        ..Default::default()
    })
}

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

fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.json["error_code"], code, "{}", answer.text);
    assert!(
        answer.json["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.text
    );
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
    assert_error(&anonymous, 401, "UNAUTHENTICATED");
    assert_eq!(anonymous.www_authenticate.as_deref(), Some("Bearer"));
    let anonymous_get = call("GET", &url("/version"), None, None);
    assert_error(&anonymous_get, 401, "UNAUTHENTICATED");
    // A token the workspace does not know.
    let unknown = call("GET", &url("/version"), Some("dapi-not-a-token"), None);
    assert_error(&unknown, 401, "UNAUTHENTICATED");
    assert!(
        unknown
            .www_authenticate
            .as_deref()
            .is_some_and(|v| v.starts_with("Bearer") && v.contains("invalid_token")),
        "{unknown:?}"
    );
    // A good token outside the group.
    let outsider = call(
        "POST",
        &url("/invocations"),
        Some(BOB),
        Some(&full_payload(&emu, "from-bob")),
    );
    assert_error(&outsider, 403, "PERMISSION_DENIED");
    assert!(
        outsider.text.contains("bob@example.com"),
        "{}",
        outsider.text
    );
    assert!(emu.runs().is_empty(), "no run for a refused caller");

    // A good token in the group: the run is submitted with the deployment's credentials and
    // its name says who asked.
    let ok = call(
        "POST",
        &url("/invocations"),
        Some(ALICE),
        Some(&full_payload(&emu, "from-alice")),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
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
    assert_error(&failed, 503, "TEMPORARILY_UNAVAILABLE");
    emu.inject_fault(Fault {
        path_prefix: ME.into(),
        delay_ms: 5_000,
        ..Default::default()
    });
    let started = Instant::now();
    let slow = call("GET", &url, Some(ALICE), None);
    assert_error(&slow, 503, "TEMPORARILY_UNAVAILABLE");
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
    let mut request = http()
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

/// Inside an App, the proxy's X-Forwarded-Email names the caller; groups come from SCIM with
/// the app's own credentials.
#[test]
fn app_callers_are_named_by_the_apps_proxy() {
    let emu = workspace();
    let mut cmd = agent_command(&emu);
    cmd.env("RUST_LOG", "info")
        .env("DATABRICKS_APP_PORT", "8000")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--callers", "app", "--allow-group", "data-eng"]);
    let server = Server::start(
        servers::Host::SdpAgent,
        cmd,
        "sdp-agent serve: listening on ",
    );
    let url = format!("{}/version", server.url);
    let as_user = |email: Option<&str>| {
        let mut request = http().get(&url);
        if let Some(email) = email {
            request = request.set("X-Forwarded-Email", email);
        }
        match request.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(as_user(None), 401, "not through the proxy");
    assert_eq!(as_user(Some("bob@example.com")), 403);
    assert_eq!(as_user(Some("nobody@example.com")), 403);
    assert_eq!(as_user(Some("alice@example.com")), 200);
    assert_eq!(as_user(Some("alice@example.com")), 200);
    // Looked up once per user, with the deployment's token (never a caller's).
    let lookups: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/2.0/preview/scim/v2/Users")
        .collect();
    assert_eq!(lookups.len(), 3, "{lookups:?}");
    let deployment = format!("Bearer {}", emu.token().unwrap());
    assert!(
        lookups
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&deployment))
    );
    log_with(&server, "alice@example.com GET /version 200 ");
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
    let records = json!([full_payload(&emu, "from-sdk")]);
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
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

/// `--metrics-listen`: a scrape after a few requests counts them.
#[test]
fn metrics_count_requests_callers_and_upstream_calls() {
    let emu = workspace();
    let server = Server::sdp_agent(
        &emu,
        &["--callers", "workspace", "--metrics-listen", "127.0.0.1:0"],
    );
    let log = server.log();
    let metrics_addr = log
        .lines()
        .find_map(|l| l.split("metrics on http://").nth(1))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in\n{log}"))
        .to_string();
    let url = |path: &str| format!("{}{path}", server.url);
    for _ in 0..3 {
        assert_eq!(call("GET", &url("/ping"), None, None).status, 200);
    }
    assert_eq!(call("GET", &url("/version"), None, None).status, 401);
    assert_eq!(call("GET", &url("/version"), Some(BOB), None).status, 200);
    // One prediction: a runs/submit and a runs/get upstream, both 2xx.
    let ok = call(
        "POST",
        &url("/invocations"),
        Some(ALICE),
        Some(&full_payload(&emu, "metered")),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    // A throttled submit the component retries.
    emu.inject_fault(Fault {
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        status: 429,
        error_code: "REQUEST_LIMIT_EXCEEDED".into(),
        message: "slow down".into(),
        retry_after_secs: Some(0),
        ..Default::default()
    });
    let retried = call(
        "POST",
        &url("/invocations"),
        Some(ALICE),
        Some(&full_payload(&emu, "retried")),
    );
    assert_eq!(retried.status, 200, "{}", retried.text);

    // The endpoint does not serve metrics; the metrics port serves nothing else.
    assert_eq!(call("GET", &url("/metrics"), Some(ALICE), None).status, 404);
    let scrape = http()
        .get(&format!("http://{metrics_addr}/metrics"))
        .call()
        .expect("a scrape");
    assert!(scrape.content_type().contains("openmetrics-text"));
    let text = scrape.into_string().unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
    };
    assert_eq!(
        value(r#"sdp_agent_http_requests_total{route="/ping",status="200"}"#),
        3.0
    );
    assert_eq!(
        value(r#"sdp_agent_http_requests_total{route="/version",status="401"}"#),
        1.0
    );
    assert_eq!(
        value(r#"sdp_agent_http_requests_total{route="/version",status="200"}"#),
        1.0
    );
    assert_eq!(
        value(r#"sdp_agent_http_requests_total{route="/invocations",status="200"}"#),
        2.0
    );
    assert_eq!(
        value(r#"sdp_agent_http_request_duration_seconds_count{route="/ping"}"#),
        3.0
    );
    assert_eq!(value(r#"sdp_agent_callers_total{outcome="admitted"}"#), 4.0);
    assert_eq!(
        value(r#"sdp_agent_callers_total{outcome="unauthenticated"}"#),
        1.0
    );
    assert_eq!(value("sdp_agent_requests_in_flight"), 0.0);
    assert_eq!(value("sdp_agent_requests_queued"), 0.0);
    assert_eq!(value("sdp_agent_requests_shed_total"), 0.0);
    assert_eq!(value("sdp_agent_component_traps_total"), 0.0);
    // Two predictions: submit + runs/get each, plus the throttled submit.
    assert_eq!(
        value(r#"sdp_agent_upstream_requests_total{class="2xx"}"#),
        4.0
    );
    assert_eq!(
        value(r#"sdp_agent_upstream_requests_total{class="4xx"}"#),
        1.0
    );
    assert_eq!(value("sdp_agent_upstream_retries_total"), 1.0);
}
