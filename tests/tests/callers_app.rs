//! `sdp-agent serve --callers app`: behind the Databricks Apps proxy, which signs users in and
//! names them in `X-Forwarded-Email`. Only what the proxy can vouch for is trusted: one value
//! of each identity header, a plausible name, the port the proxy forwards to; groups come from
//! SCIM (users and service principals) with the app's own credentials.

mod common;

use common::answer::http_agent;
use common::callers::workspace;
use common::deploying::free_port;
use common::servers::{self, Server};
use common::*;
use sdp_emulator::{Emulator, WorkspaceUser};

const USERS: &str = "/api/2.0/preview/scim/v2/Users";
const SERVICE_PRINCIPALS: &str = "/api/2.0/preview/scim/v2/ServicePrincipals";
/// A service principal's application id, as the proxy names it.
const ETL_BOT: &str = "9f0c1a52-3b7e-4d5f-8a6b-0c1d2e3f4a5b";

/// `serve --callers app [extra]` as a Databricks App runs it: listening on the port the proxy
/// forwards to.
fn app_server(emu: &Emulator, extra: &[&str]) -> Server {
    let port = free_port().to_string();
    let mut cmd = agent_command(emu);
    cmd.env("RUST_LOG", "info")
        .env("DATABRICKS_APP_PORT", &port)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--callers",
            "app",
        ])
        .args(extra);
    Server::start(
        servers::Host::SdpAgent,
        cmd,
        "sdp-agent serve: listening on ",
    )
}

/// The status of `GET /version` with these proxy headers (each pair one header line).
fn status_with(server: &Server, headers: &[(&str, &str)]) -> u16 {
    let mut request = http_agent().get(&format!("{}/version", server.url));
    for (name, value) in headers {
        request = request.set(name, value);
    }
    match request.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
        Err(e) => panic!("{e}"),
    }
}

/// The status of `GET /version` with these raw header lines (ureq's `set` replaces a header;
/// these tests need one header twice).
fn status_with_lines(server: &Server, lines: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let request =
        format!("GET /version HTTP/1.1\r\nHost: {addr}\r\n{lines}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Inside an App, the proxy's X-Forwarded-Email names the caller; groups come from SCIM with
/// the app's own credentials, matched by name whatever the case.
#[test]
fn app_callers_are_named_by_the_apps_proxy() {
    let emu = workspace();
    let server = app_server(&emu, &["--allow-group", "DATA-ENG"]);
    let email = |v: &str| status_with(&server, &[("X-Forwarded-Email", v)]);
    assert_eq!(status_with(&server, &[]), 401, "not through the proxy");
    assert_eq!(email("bob@example.com"), 403);
    assert_eq!(email("nobody@example.com"), 403);
    assert_eq!(email("alice@example.com"), 200);
    assert_eq!(email("alice@example.com"), 200);
    // Looked up once per user, with the deployment's token (never a caller's).
    let lookups: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path == USERS)
        .collect();
    assert_eq!(lookups.len(), 3, "{lookups:?}");
    let deployment = format!("Bearer {}", emu.token().unwrap());
    assert!(
        lookups
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&deployment))
    );
    let log = server.log();
    assert!(log.contains("alice@example.com GET /version 200 "), "{log}");
}

/// Before: with two `X-Forwarded-Email` the first won, a lone `X-Forwarded-Preferred-Username`
/// was accepted, and a name with spaces forged access-log fields.
#[test]
fn only_what_the_proxy_can_vouch_for_is_trusted() {
    let emu = workspace();
    let server = app_server(&emu, &[]);
    assert_eq!(
        status_with(&server, &[("X-Forwarded-Email", "alice@example.com")]),
        200
    );
    for header in [
        "X-Forwarded-Email",
        "X-Forwarded-User",
        "X-Forwarded-Preferred-Username",
        "X-Forwarded-Access-Token",
    ] {
        let email = if header == "X-Forwarded-Email" {
            ""
        } else {
            "X-Forwarded-Email: alice@example.com\r\n"
        };
        let lines = format!("{email}{header}: alice@example.com\r\n{header}: bob@example.com\r\n");
        let status = status_with_lines(&server, &lines);
        assert_eq!(status, 401, "{header} twice");
    }
    let alone = [("X-Forwarded-Preferred-Username", "alice@example.com")];
    assert_eq!(status_with(&server, &alone), 401, "no e-mail");
    for forged in [
        "alice@example.com 200 GET /admin",
        "alice",
        "\"alice\"@example.com",
    ] {
        assert_eq!(
            status_with(&server, &[("X-Forwarded-Email", forged)]),
            401,
            "{forged}"
        );
    }
    let log = server.log();
    assert!(
        !log.contains("200 GET /admin"),
        "a forged log field:\n{log}"
    );
    assert!(emu.runs().is_empty());
}

/// Before: `--allow-group` refused every service principal (SCIM `Users` does not list them).
#[test]
fn service_principals_are_matched_to_groups() {
    let emu = workspace();
    emu.add_user(
        "dapi-etl-bot",
        WorkspaceUser::service_principal(ETL_BOT, "etl-bot").in_groups(&["data-eng"]),
    );
    emu.add_user(
        "dapi-other-bot",
        WorkspaceUser::service_principal(&ETL_BOT.replace('9', "8"), "other-bot"),
    );
    let server = app_server(&emu, &["--allow-group", "data-eng"]);
    assert_eq!(status_with(&server, &[("X-Forwarded-Email", ETL_BOT)]), 200);
    let other = ETL_BOT.replace('9', "8");
    assert_eq!(status_with(&server, &[("X-Forwarded-Email", &other)]), 403);
    let principals: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path == SERVICE_PRINCIPALS)
        .map(|r| r.query)
        .collect();
    assert_eq!(principals.len(), 2, "{principals:?}");
    assert!(principals[0].contains("applicationId"), "{principals:?}");
    // The request bodies the SDK would send are plain GETs; the answers are SDK-shaped.
    let listed = common::callers::call(
        "GET",
        &format!("{}{SERVICE_PRINCIPALS}", emu.url()),
        emu.token().as_deref(),
        None,
    );
    assert_eq!(listed.json["Resources"].as_array().map(Vec::len), Some(2));
}

/// The Apps proxy forwards to `DATABRICKS_APP_PORT` only: another port is a mistake (or a
/// second listener outside the proxy), refused at start with exit 2.
#[test]
fn the_listen_port_is_the_apps_port() {
    let emu = workspace();
    let mut cmd = agent_command(&emu);
    cmd.env("DATABRICKS_APP_PORT", "8000").args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--callers",
        "app",
    ]);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABRICKS_APP_PORT"), "{stderr}");
}
