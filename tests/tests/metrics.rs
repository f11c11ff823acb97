//! What operators of `sdp-agent serve` see (`--metrics-listen`): requests, callers and
//! upstream calls counted in OpenMetrics text.

mod common;

use common::answer::http_agent;
use common::callers::{ALICE, BOB, call, invoke, workspace};
use common::servers;
use sdp_emulator::Fault;
use servers::Server;

/// `--metrics-listen`: a scrape after a few requests counts them.
#[test]
fn metrics_count_requests_callers_and_upstream_calls() {
    let emu = workspace();
    let server = Server::sdp_agent(
        &emu,
        &["--callers", "workspace", "--metrics-listen", "127.0.0.1:0"],
    );
    let metrics_addr = metrics_addr(&server);
    let url = |path: &str| format!("{}{path}", server.url);
    for _ in 0..3 {
        assert_eq!(call("GET", &url("/ping"), None, None).status, 200);
    }
    assert_eq!(call("GET", &url("/version"), None, None).status, 401);
    assert_eq!(call("GET", &url("/version"), Some(BOB), None).status, 200);
    // One prediction: a runs/submit and a runs/get upstream, both 2xx.
    invoke(&emu, &server.url, ALICE, "metered").assert_ok();
    // A throttled submit the component retries.
    emu.inject_fault(Fault {
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        status: 429,
        error_code: "REQUEST_LIMIT_EXCEEDED".into(),
        message: "slow down".into(),
        retry_after_secs: Some(0),
        ..Default::default()
    });
    invoke(&emu, &server.url, ALICE, "retried").assert_ok();

    // The endpoint does not serve metrics; the metrics port serves nothing else.
    assert_eq!(call("GET", &url("/metrics"), Some(ALICE), None).status, 404);
    let scrape = http_agent()
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
    for (series, expected) in [
        (
            r#"sdp_agent_http_requests_total{route="/ping",status="200"}"#,
            3.0,
        ),
        (
            r#"sdp_agent_http_requests_total{route="/version",status="401"}"#,
            1.0,
        ),
        (
            r#"sdp_agent_http_requests_total{route="/version",status="200"}"#,
            1.0,
        ),
        (
            r#"sdp_agent_http_requests_total{route="/invocations",status="200"}"#,
            2.0,
        ),
        (
            r#"sdp_agent_http_request_duration_seconds_count{route="/ping"}"#,
            3.0,
        ),
        (r#"sdp_agent_callers_total{outcome="admitted"}"#, 4.0),
        (r#"sdp_agent_callers_total{outcome="unauthenticated"}"#, 1.0),
        ("sdp_agent_requests_in_flight", 0.0),
        ("sdp_agent_requests_queued", 0.0),
        ("sdp_agent_requests_shed_total", 0.0),
        ("sdp_agent_component_traps_total", 0.0),
        // Two predictions: submit + runs/get each, plus the throttled submit.
        (r#"sdp_agent_upstream_requests_total{class="2xx"}"#, 4.0),
        (r#"sdp_agent_upstream_requests_total{class="4xx"}"#, 1.0),
        ("sdp_agent_upstream_retries_total", 1.0),
    ] {
        assert_eq!(value(series), expected, "{series}");
    }
}

/// The metrics address `serve` printed.
fn metrics_addr(server: &Server) -> String {
    let log = server.log();
    log.lines()
        .find_map(|l| l.split("metrics on http://").nth(1))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in\n{log}"))
        .to_string()
}

/// Before: 16 idle sockets held every place of the metrics port and scrapes hung. Now a
/// connection that sends no request within the header-read timeout gives its place back.
/// Databricks App routes (`/api/...`) are counted under their own labels.
#[test]
fn idle_sockets_cannot_starve_scrapes() {
    let emu = workspace();
    let server = Server::sdp_agent(
        &emu,
        &["--callers", "workspace", "--metrics-listen", "127.0.0.1:0"],
    );
    let metrics = metrics_addr(&server);
    let idle: Vec<std::net::TcpStream> = (0..32)
        .map(|_| std::net::TcpStream::connect(&metrics).expect("connects"))
        .collect();
    assert_eq!(
        call("GET", &format!("{}/api/ping", server.url), None, None).status,
        200
    );
    let api_version = format!("{}/api/version", server.url);
    assert_eq!(call("GET", &api_version, Some(ALICE), None).status, 200);
    let started = std::time::Instant::now();
    let scrape = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .get(&format!("http://{metrics}/metrics"))
        .call()
        .expect("a scrape despite 32 idle sockets");
    let text = scrape.into_string().unwrap();
    println!(
        "scrape answered after {:.1}s behind 32 idle sockets",
        started.elapsed().as_secs_f64()
    );
    for line in [
        r#"sdp_agent_http_requests_total{route="/api/ping",status="200"} 1"#,
        r#"sdp_agent_http_requests_total{route="/api/version",status="200"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    drop(idle);
}

/// The metrics are not authenticated: serving them beyond loopback takes `--metrics-public`.
#[test]
fn public_metrics_take_a_flag() {
    let emu = workspace();
    let mut cmd = common::agent_command(&emu);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "0.0.0.0:0",
    ]);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--metrics-public"), "{stderr}");
    let public = Server::sdp_agent(&emu, &["--metrics-listen", "0.0.0.0:0", "--metrics-public"]);
    let port = metrics_addr(&public)
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let scrape = http_agent()
        .get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .expect("served with --metrics-public");
    assert_eq!(scrape.status(), 200);
}
