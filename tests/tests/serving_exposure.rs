//! What a client that is not admitted can cost `sdp-agent serve`, or make it do: the open
//! routes take no slot and read no body, a slow body is cut off before it holds a slot, and a
//! server on loopback answers no web page (DNS rebinding, cross-site POSTs).

mod common;

use common::answer::CALL_LIMIT;
use common::callers::{ALICE, call, workspace};
use common::scoring::{agent, assert_submitted, post_json, send};
use common::servers;
use common::*;
use servers::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// A raw connection to the server at `url` (`http://ADDR`), for requests no client library
/// would send (a body that never arrives, a foreign `Host`).
fn connect(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("the server accepts");
    stream.set_read_timeout(Some(CALL_LIMIT)).unwrap();
    stream
}

/// Everything the server answers on `stream` until it closes it.
fn answer_of(mut stream: TcpStream) -> String {
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

/// `request` (a whole HTTP/1.1 request with `Connection: close`) and its answer.
fn exchange(url: &str, request: &str) -> String {
    let mut stream = connect(url);
    stream.write_all(request.as_bytes()).unwrap();
    answer_of(stream)
}

/// The status of a raw answer.
fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// Before: 3 `POST /ping` announcing 1000 bytes and sending one filled `--max-concurrency 2
/// --max-queue 1`, and an admitted predict got 503. Now the open routes hold nothing, and a
/// slow body on an admitted route waits without a slot and ends in 408.
#[test]
fn slow_senders_do_not_block_an_admitted_predict() {
    let emu = emulator();
    let server = Server::sdp_agent(&emu, &["--max-concurrency", "2", "--max-queue", "1"]);
    let host = server.url.trim_start_matches("http://").to_string();
    let slow = |path: &str| {
        let mut stream = connect(&server.url);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: 1000\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream
    };
    let pings: Vec<TcpStream> = (0..3).map(|_| slow("/ping")).collect();
    let uploads: Vec<TcpStream> = (0..3).map(|_| slow("/invocations")).collect();
    let sent = Instant::now();

    let http = agent();
    let url = format!("{}/invocations", server.url);
    for i in 0..3 {
        let answer = post_json(&http, &url, &full_payload(&emu, &format!("admitted-{i}")));
        assert_eq!(answer.status, 200, "{}", answer.json);
        assert_submitted(&emu, &answer.json);
    }
    for path in ["/ping", "/health", "/api/ping"] {
        let probe = send(&http, "GET", &format!("{}{path}", server.url), None);
        assert_eq!(probe.status, 200, "{path}");
        assert_eq!(probe.json["status"], "ok");
        let head = call("HEAD", &format!("{}{path}", server.url), None, None);
        assert_eq!(head.status, 200, "{path}");
    }
    // The open route answered at once, without waiting for the body it will never read.
    for ping in pings {
        let answer = answer_of(ping);
        assert_eq!(status(&answer), 405, "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("allow: get, head"),
            "{answer}"
        );
    }
    // The uploads that never finish are cut off (408), having held no instance.
    for upload in uploads {
        let answer = answer_of(upload);
        assert_eq!(status(&answer), 408, "{answer}");
        assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    }
    println!(
        "3 slow /ping + 3 slow /invocations: 3 predicts answered 200; the slow uploads got \
         408 after {:.1}s",
        sent.elapsed().as_secs_f64()
    );
    assert_eq!(
        emu.runs().len(),
        3,
        "one run per admitted predict, none for the rest"
    );
}

/// `/ping`, `/health` and `/api/ping` (the path Databricks Apps users are told to call) need
/// no caller; everything else does.
#[test]
fn open_routes_need_no_caller() {
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace"]);
    for path in ["/ping", "/health", "/api/ping", "/api/ping/"] {
        let answer = call("GET", &format!("{}{path}", server.url), None, None);
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    for path in ["/version", "/api/version", "/api/health/x"] {
        let answer = call("GET", &format!("{}{path}", server.url), None, None);
        assert_eq!(answer.status, 401, "{path}: {}", answer.text);
    }
    let post = call(
        "POST",
        &format!("{}/api/ping", server.url),
        None,
        Some(&"x".into()),
    );
    assert_eq!(post.status, 405, "{}", post.text);
    assert_eq!(post.allow.as_deref(), Some("GET, HEAD"));
    assert!(
        calls(&emu, "/api/2.0/preview/scim").is_empty(),
        "no identity check for probes"
    );
}

/// A web page on `attacker.example` that resolves its name to 127.0.0.1 (DNS rebinding) made
/// the browser POST to the loopback server with `Host: attacker.example`, and a run started.
#[test]
fn a_web_page_cannot_reach_a_loopback_server() {
    let emu = emulator();
    let server = Server::sdp_agent(&emu, &[]);
    let host = server.url.trim_start_matches("http://").to_string();
    let body = full_payload(&emu, "rebound").to_string();
    let post = |host: &str, origin: Option<&str>| {
        let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        let request = format!(
            "POST /invocations HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: \
             application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        exchange(&server.url, &request)
    };
    let rebound = post("attacker.example", Some("http://attacker.example"));
    assert_eq!(status(&rebound), 403, "{rebound}");
    assert!(rebound.contains("attacker.example"), "{rebound}");
    let port = host.rsplit(':').next().unwrap();
    let rebound_port = post(&format!("attacker.example:{port}"), None);
    assert_eq!(status(&rebound_port), 403, "{rebound_port}");
    let cross_site = post(&host, Some("https://attacker.example"));
    assert_eq!(status(&cross_site), 403, "{cross_site}");
    assert!(emu.runs().is_empty(), "no run for a web page");
    assert!(
        calls(&emu, "/api/2.2/jobs").is_empty(),
        "nothing reached the workspace"
    );

    // This machine's own clients, by any of its names.
    for (host, origin) in [
        (host.clone(), None),
        (
            format!("localhost:{port}"),
            Some(format!("http://localhost:{port}")),
        ),
    ] {
        let answer = post(&host, origin.as_deref());
        assert_eq!(status(&answer), 200, "{answer}");
    }
    assert_eq!(emu.runs().len(), 2);
    // With a caller check on loopback the rule is the same: the token does not make a web
    // page this machine.
    let users = workspace();
    let checked = Server::sdp_agent(&users, &["--callers", "workspace"]);
    let checked_host = checked.url.trim_start_matches("http://").to_string();
    let request = format!(
        "GET /version HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer {ALICE}\r\n\
         Connection: close\r\n\r\n"
    );
    let answer = exchange(&checked.url, &request);
    assert_eq!(status(&answer), 403, "{answer}");
    let ok = exchange(
        &checked.url,
        &request.replace("attacker.example", &checked_host),
    );
    assert_eq!(status(&ok), 200, "{ok}");
}
