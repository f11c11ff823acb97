//! What `sdp-agent serve` adds to the scoring protocol (the stock `wasmtime serve` has none of
//! it): a deadline per request, load shedding beyond its queue, a graceful drain on SIGTERM.

mod common;

use common::answer::{Answer, CALL_LIMIT};
use common::scoring::{agent, assert_submitted, post_json, send};
use common::servers;
use common::*;
use sdp_emulator::Fault;
use servers::Server;
use std::collections::BTreeSet;
use std::time::Duration;

/// `wasmtime serve` cannot be given a shorter deadline for the guest's outgoing calls (the
/// component waits 60 s for a first byte), so the 504 is proved on `sdp-agent serve` alone.
#[test]
fn sdp_agent_serve_answers_504_at_its_deadline_and_keeps_serving() {
    let emu = emulator();
    let server = Server::sdp_agent(&emu, &["--request-timeout", "2"]);
    emu.inject_fault(Fault {
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        delay_ms: 10_000,
        ..Default::default()
    });
    let http = agent();
    let url = format!("{}/invocations", server.url);
    let slow = post_json(&http, &url, &full_payload(&emu, "slow"));
    slow.assert_error(504, "DEADLINE_EXCEEDED");
    assert!(
        slow.json["message"]
            .as_str()
            .unwrap()
            .contains("--request-timeout"),
        "{}",
        slow.json
    );
    assert_eq!(
        send(&http, "GET", &format!("{}/ping", server.url), None).status,
        200
    );
    let next = post_json(&http, &url, &full_payload(&emu, "next"));
    assert_eq!(next.status, 200, "{}", next.json);
    assert_submitted(&emu, &next.json);
}

/// Far more concurrent requests than `--max-concurrency 2 --max-queue 4` admit: each is either
/// served or refused at once with 503 + Retry-After, the server stays healthy, and the
/// workspace saw exactly one run per success.
#[test]
fn sdp_agent_serve_sheds_load_beyond_its_queue() {
    const THREADS: usize = 64;
    const PER_THREAD: usize = 5;
    let emu = emulator();
    let server = Server::sdp_agent(&emu, &["--max-concurrency", "2", "--max-queue", "4"]);
    // Each admitted request holds its slot a little while, so the queue fills up.
    emu.inject_fault(Fault {
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        delay_ms: 50,
        times: THREADS * PER_THREAD,
        ..Default::default()
    });
    let payload = full_payload(&emu, "load");
    let url = format!("{}/invocations", server.url);
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (url, payload) = (url.clone(), payload.clone());
            std::thread::spawn(move || {
                let http = agent();
                (0..PER_THREAD)
                    .map(|_| post_json(&http, &url, &payload))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<Answer> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a client thread"))
        .collect();
    assert_eq!(answers.len(), THREADS * PER_THREAD);

    let mut ok_runs = BTreeSet::new();
    let mut refused = 0;
    for answer in &answers {
        match answer.status {
            200 => {
                assert!(ok_runs.insert(answer.json["run_id"].as_i64().unwrap()));
            }
            503 => {
                assert_eq!(answer.json["error_code"], "TEMPORARILY_UNAVAILABLE");
                assert_eq!(answer.retry_after.as_deref(), Some("1"));
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", answer.json),
        }
    }
    assert!(!ok_runs.is_empty(), "some requests must be served");
    assert!(refused > 0, "some requests must be shed");

    // Healthy afterwards.
    let http = agent();
    assert_eq!(
        send(&http, "GET", &format!("{}/ping", server.url), None).status,
        200
    );
    let after = post_json(&http, &url, &payload);
    assert_eq!(after.status, 200, "{}", after.json);
    ok_runs.insert(assert_submitted(&emu, &after.json));

    let runs: BTreeSet<i64> = emu
        .runs()
        .iter()
        .filter_map(|r| r["run_id"].as_i64())
        .collect();
    assert_eq!(runs, ok_runs, "exactly one run per 200");
}

/// SIGTERM: the request in flight is answered, new connections are refused, exit status 0.
#[test]
fn sdp_agent_serve_drains_in_flight_requests_on_sigterm() {
    let emu = emulator();
    let mut server = Server::sdp_agent(&emu, &[]);
    emu.inject_fault(Fault {
        path_prefix: "/api/2.2/jobs/runs/submit".into(),
        delay_ms: 1_500,
        ..Default::default()
    });
    let url = format!("{}/invocations", server.url);
    let payload = full_payload(&emu, "in-flight");
    let in_flight = std::thread::spawn(move || post_json(&agent(), &url, &payload));
    // Wait until the component's submit has reached the workspace: the request is in flight.
    let started = std::time::Instant::now();
    while calls(&emu, "/api/2.2/jobs/runs/submit").is_empty() {
        assert!(started.elapsed() < CALL_LIMIT, "the submit never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.terminate();
    let answer = in_flight.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_submitted(&emu, &answer.json);
    let status = server.wait_exit(CALL_LIMIT).expect("the server exits");
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(server.log().contains("SIGTERM"), "{}", server.log());
    let refused = agent().get(&format!("{}/ping", server.url)).call();
    assert!(
        matches!(refused, Err(ureq::Error::Transport(_))),
        "{refused:?}"
    );
}
