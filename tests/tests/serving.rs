//! The Model Serving (MLflow scoring) protocol over loopback, spoken by the same component under
//! two hosts: the stock `wasmtime serve` and `sdp-agent serve`. One suite runs against both;
//! the host-only behaviour (deadline, load shedding, graceful shutdown) is in `serving_limits.rs`.

mod common;

use common::answer::{Answer, CALL_LIMIT};
use common::scoring::{agent, assert_submitted, post_json, predictions, send};
use common::servers;
use common::*;
use sdp_emulator::{Emulator, Fault};
use serde_json::{Value, json};
use servers::{Host, Server};
use std::collections::BTreeSet;

/// Sends only the head of a `POST /invocations` announcing `length` bytes of JSON, and reads
/// the answer. (A client that writes a large body before reading would meet a closed socket:
/// the server answers and stops reading, as it should.)
fn announce_body(server: &Server, length: usize) -> Answer {
    use std::io::{Read, Write};
    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(CALL_LIMIT)).unwrap();
    let head = format!(
        "POST /invocations HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write the head");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    // `wasmtime serve` streams its answers chunked.
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        json: serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
        text: body,
        allow: None,
        retry_after: None,
        www_authenticate: None,
    }
}

/// The data of a `Transfer-Encoding: chunked` body (no extensions or trailers expected).
fn dechunk(mut rest: &str) -> String {
    let mut data = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        data.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    data
}

/// Every route, every MLflow wrapper and every error the protocol defines, against `server`.
fn protocol_suite(server: &Server, emu: &Emulator) {
    let http = agent();
    let url = |path: &str| format!("{}{path}", server.url);
    let record = |name: &str| full_payload(emu, name);
    let mut submitted = 0;

    for path in ["/ping", "/health"] {
        let answer = send(&http, "GET", &url(path), None);
        assert_eq!(
            (answer.status, &answer.json),
            (200, &json!({"status": "ok"}))
        );
    }
    let version = send(&http, "GET", &url("/version"), None);
    assert_eq!(version.status, 200);
    assert_eq!(version.json["name"], "sdp-agent");

    // A raw seed payload is answered with the predict result itself.
    let raw = post_json(&http, &url("/invocations"), &record("raw"));
    assert_eq!(raw.status, 200, "{}", raw.json);
    assert_submitted(emu, &raw.json);
    submitted += 1;

    // Each MLflow wrapper: one prediction per record, in order.
    let records = post_json(
        &http,
        &url("/invocations"),
        &json!({"dataframe_records": [record("r1"), record("r2"), record("r3")]}),
    );
    let ids = predictions(emu, &records, 3);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3, "three runs");
    submitted += 3;

    let one = record("split");
    let columns: Vec<&String> = one.as_object().unwrap().keys().collect();
    let row: Vec<&Value> = one.as_object().unwrap().values().collect();
    let split = json!({"dataframe_split": {"columns": columns, "data": [row]}});
    predictions(emu, &post_json(&http, &url("/invocations"), &split), 1);
    submitted += 1;

    let instances = json!({"instances": [record("i1"), record("i2")]});
    predictions(emu, &post_json(&http, &url("/invocations"), &instances), 2);
    submitted += 2;

    let inputs_object = json!({"inputs": record("in-object"), "params": {}});
    predictions(
        emu,
        &post_json(&http, &url("/invocations"), &inputs_object),
        1,
    );
    submitted += 1;
    let inputs_list = json!({"inputs": [record("in-1"), record("in-2")]});
    predictions(
        emu,
        &post_json(&http, &url("/invocations"), &inputs_list),
        2,
    );
    submitted += 2;

    // The workspace-style path, as an SDK pointed at this server calls it.
    let named = post_json(
        &http,
        &url("/serving-endpoints/sdp-agent/invocations"),
        &json!({"dataframe_records": [record("named")]}),
    );
    predictions(emu, &named, 1);
    submitted += 1;
    assert_eq!(emu.runs().len(), submitted);

    // 400 naming the field; one bad record submits nothing at all.
    let mut bad = record("bad");
    bad["catalog"] = json!("a-b");
    let invalid = post_json(
        &http,
        &url("/invocations"),
        &json!({"dataframe_records": [record("good"), bad]}),
    );
    invalid.assert_error(400, "INVALID_PARAMETER_VALUE");
    let fields: Vec<&str> = invalid.json["details"]
        .as_array()
        .expect("details list the fields")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"dataframe_records[1].catalog"),
        "{}",
        invalid.json
    );
    assert!(
        fields
            .iter()
            .all(|f| f.starts_with("dataframe_records[1].")),
        "only the bad record is blamed: {}",
        invalid.json
    );
    let two_wrappers = post_json(
        &http,
        &url("/invocations"),
        &json!({"instances": [], "inputs": []}),
    );
    two_wrappers.assert_error(400, "BAD_REQUEST");
    let not_json = send(
        &http,
        "POST",
        &url("/invocations"),
        Some(("application/json", b"{not json")),
    );
    not_json.assert_error(400, "BAD_REQUEST");
    assert_eq!(
        emu.runs().len(),
        submitted,
        "no run from a rejected request"
    );

    // 413 from the announced length alone, before any of the body is sent.
    let too_large = announce_body(server, 1024 * 1024 + 1);
    too_large.assert_error(413, "BAD_REQUEST");

    // 415, 404, 405 (with Allow).
    let text = send(
        &http,
        "POST",
        &url("/invocations"),
        Some(("text/plain", b"{}")),
    );
    text.assert_error(415, "BAD_REQUEST");
    let missing = send(&http, "GET", &url("/no/such/route"), None);
    missing.assert_error(404, "ENDPOINT_NOT_FOUND");
    let wrong_method = send(&http, "GET", &url("/invocations"), None);
    wrong_method.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(wrong_method.allow.as_deref(), Some("POST"));

    // 502 carrying the workspace's own error code.
    emu.inject_fault(Fault {
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        status: 403,
        error_code: "PERMISSION_DENIED".into(),
        message: "no permission to submit runs".into(),
        ..Default::default()
    });
    let denied = post_json(&http, &url("/invocations"), &record("denied"));
    denied.assert_error(502, "PERMISSION_DENIED");
    assert_eq!(denied.json["details"][0]["upstream_status"], 403);

    // Still serving, and every successful prediction is exactly one run.
    let after = post_json(&http, &url("/invocations"), &record("after"));
    assert_submitted(emu, &after.json);
    assert_eq!(emu.runs().len(), submitted + 1);
}

#[test]
fn wasmtime_serve_speaks_the_scoring_protocol() {
    let emu = emulator();
    let server = Server::wasmtime(&emu);
    assert_eq!(server.host, Host::Wasmtime);
    protocol_suite(&server, &emu);
}

#[test]
fn sdp_agent_serve_speaks_the_scoring_protocol() {
    let emu = emulator();
    let server = Server::sdp_agent(&emu, &[]);
    protocol_suite(&server, &emu);
    // The host, not the component, attached the token: the component never saw it.
    assert_eq!(
        submit_authorization(&emu),
        Some(format!("Bearer {}", emu.token().unwrap()))
    );
    // One access-log line per request, with method, path, status and duration.
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("GET /ping 200 ") && l.trim_end().ends_with("ms")),
        "{log}"
    );
    assert!(log.contains("POST /invocations 415 "), "{log}");
}

/// The official Python SDK, pointed at our server as if it were a workspace, queries the
/// "endpoint" and gets the predictions back.
#[test]
fn the_databricks_python_sdk_queries_sdp_agent_serve() {
    let emu = emulator();
    let server = Server::sdp_agent(&emu, &[]);
    let records = json!([
        full_payload(&emu, "from-sdk-1"),
        full_payload(&emu, "from-sdk-2")
    ]);
    let script = r#"
import json, sys
from databricks.sdk import WorkspaceClient
w = WorkspaceClient(host=sys.argv[1], token="not-a-workspace-token", auth_type="pat")
answer = w.serving_endpoints.query(name="sdp-agent", dataframe_records=json.loads(sys.argv[2]))
print(json.dumps(answer.as_dict()))
"#;
    let out = sdk_python(script, &[&server.url, &records.to_string()])
        .output()
        .expect("python3 runs");
    let stdout = server.client_stdout(&out);
    // The SDK asks /.well-known/databricks-config when the client starts, and warns when the
    // answer is not host metadata: it starts quietly here.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("host metadata"), "{stderr}");
    assert!(
        server
            .log()
            .contains("GET /.well-known/databricks-config 200"),
        "{}",
        server.log()
    );
    let answer: Value = serde_json::from_str(stdout.trim()).expect("the SDK printed JSON");
    let list = answer["predictions"].as_array().expect("predictions");
    assert_eq!(list.len(), 2, "{answer}");
    let ids: BTreeSet<i64> = list.iter().map(|p| assert_submitted(&emu, p)).collect();
    let runs: BTreeSet<i64> = emu
        .runs()
        .iter()
        .filter_map(|r| r["run_id"].as_i64())
        .collect();
    assert_eq!(ids, runs);
}
