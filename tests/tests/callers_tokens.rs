//! What a token proves to `sdp-agent serve --callers workspace`, and what checking it may
//! cost the workspace: OAuth tokens must be this workspace's, for its APIs; unknown tokens are
//! checked at a bounded rate; a throttled or blocking workspace is never taken for a verdict.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::callers::{ALICE, BOB, call, invoke, workspace};
use common::servers;
use sdp_emulator::{Emulator, Fault};
use serde_json::Value;
use servers::Server;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ME: &str = "/api/2.0/preview/scim/v2/Me";

/// SCIM `Me` calls the server made (its user agent), with any token.
fn server_me_calls(emu: &Emulator) -> Vec<Option<String>> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path == ME)
        .filter(|r| {
            r.user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("sdp-agent/"))
        })
        .map(|r| r.authorization)
        .collect()
}

fn me_calls_with(emu: &Emulator, token: &str) -> usize {
    let bearer = format!("Bearer {token}");
    server_me_calls(emu)
        .iter()
        .filter(|a| a.as_deref() == Some(bearer.as_str()))
        .count()
}

/// `token` with its claims changed and its signature kept: a forgery.
fn with_claims(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).expect("JSON claims");
    change(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// An OAuth token another Databricks App obtained for alice with the narrow scope
/// `iam.current-user:read` passes SCIM `Me` (it is made for exactly that), so before this
/// check its author could call the endpoint as alice. Now a JWT must be this workspace's
/// (issuer, signature), unexpired and for `all-apis`, and is refused before SCIM is asked.
#[test]
fn tokens_for_another_audience_are_refused_before_scim() {
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace"]);
    let alice = "alice@example.com";
    let narrow = emu.user_token(alice, "iam.current-user:read", 3600);
    let expired = emu.user_token(alice, "all-apis", -600);
    let good = emu.user_token(alice, "all-apis offline_access", 3600);
    let widened = with_claims(&narrow, |c| c["scope"] = "all-apis".into());
    let other = workspace();
    let foreign = other.user_token(alice, "all-apis", 3600);

    // The attack is real: the workspace itself accepts the narrow token for `Me`.
    let me = call("GET", &format!("{}{ME}", emu.url()), Some(&narrow), None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["userName"], alice);

    for (name, token, why) in [
        ("narrow scope", &narrow, "scope"),
        ("expired", &expired, "expired"),
        ("re-signed claims", &widened, "signature"),
        ("another workspace's", &foreign, "issued by this workspace"),
    ] {
        let answer = invoke(&emu, &server.url, token, &format!("as-{why}"));
        answer.assert_error(401, "UNAUTHENTICATED");
        assert!(answer.text.contains(why), "{name}: {}", answer.text);
        assert!(
            answer
                .www_authenticate
                .as_deref()
                .is_some_and(|v| v.contains("invalid_token")),
            "{name}: {answer:?}"
        );
        assert_eq!(me_calls_with(&emu, token), 0, "{name}: SCIM was asked");
    }
    assert!(emu.runs().is_empty(), "no run for a refused token");
    println!(
        "narrow-scope, expired, re-signed and foreign JWTs: 401 each, {} SCIM calls",
        server_me_calls(&emu).len()
    );

    // A token of this workspace for its APIs is checked with SCIM as before.
    invoke(&emu, &server.url, &good, "as-alice").assert_ok();
    assert_eq!(me_calls_with(&emu, &good), 1);
    assert_eq!(emu.runs().len(), 1);
    // The keys were read once, from the workspace's published metadata.
    let discovery: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/oidc/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        discovery,
        [
            "GET /oidc/.well-known/oauth-authorization-server",
            "GET /oidc/jwks.json"
        ]
    );

    // `--accept-scope` admits tokens minted for a scope the operator names.
    let widened_server = Server::sdp_agent(
        &emu,
        &[
            "--callers",
            "workspace",
            "--accept-scope",
            "iam.current-user:read",
        ],
    );
    let answer = call(
        "GET",
        &format!("{}/version", widened_server.url),
        Some(&narrow),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
}

/// Before: 500 random tokens cost 500 SCIM calls. Now uncached checks from one address are
/// limited (10 per second, bursts of 20), beyond that 429 with Retry-After; a cached caller is
/// never limited.
#[test]
fn random_tokens_cost_a_bounded_number_of_checks() {
    const TOKENS: usize = 300;
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace"]);
    let url = format!("{}/version", server.url);
    assert_eq!(call("GET", &url, Some(ALICE), None).status, 200);
    let started = Instant::now();
    let workers: Vec<_> = (0..10)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                (0..TOKENS / 10)
                    .map(|i| {
                        let answer = call("GET", &url, Some(&format!("dapi-random-{w}-{i}")), None);
                        (answer.status, answer.retry_after)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Meanwhile the known caller is answered from the cache, however busy the limiter.
    for _ in 0..20 {
        assert_eq!(call("GET", &url, Some(ALICE), None).status, 200);
    }
    let answers: Vec<(u16, Option<String>)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    let mut by_status = BTreeMap::new();
    for (status, retry_after) in &answers {
        *by_status.entry(*status).or_insert(0) += 1;
        if *status == 429 {
            let secs: u64 = retry_after
                .as_deref()
                .unwrap_or("")
                .parse()
                .expect("Retry-After");
            assert!(secs >= 1, "{retry_after:?}");
        }
    }
    let checks = server_me_calls(&emu).len() - 1;
    println!(
        "{TOKENS} random tokens from one address in {:.2}s: {checks} SCIM calls, answers \
         {by_status:?}",
        elapsed.as_secs_f64()
    );
    assert_eq!(
        by_status.keys().copied().collect::<Vec<_>>(),
        [401, 429],
        "{by_status:?}"
    );
    // Bursts of 20 plus 10 per second while the flood lasted.
    let allowed = 20 + (elapsed.as_secs_f64() * 10.0).ceil() as usize + 1;
    assert!(checks <= allowed, "{checks} checks in {elapsed:?}");
    assert!(checks <= 45, "{checks} checks");
    assert_eq!(
        me_calls_with(&emu, ALICE),
        1,
        "the cached caller cost one check"
    );

    // `Bearer x`, `bearer x` and `Bearer  x` are one token: one cache entry (once this
    // address may be checked again).
    std::thread::sleep(Duration::from_secs(1));
    for sent in [
        format!("bearer {BOB}"),
        format!("Bearer  {BOB} "),
        format!("BEARER {BOB}"),
    ] {
        let answer = common::answer::http_agent()
            .get(&url)
            .set("Authorization", &sent)
            .call()
            .map(|r| r.status());
        assert_eq!(answer.ok(), Some(200), "{sent}");
    }
    assert_eq!(me_calls_with(&emu, BOB), 1);
}

/// A SCIM 403 (an IP access list blocking the server, say) was cached as "invalid token" for
/// 60 s; a SCIM 429 made every uncached caller a 503 and was retried at once. Now a 403 is a
/// 503 naming the likely cause, remembered for nobody; a 429 pauses the checks for its
/// Retry-After, without asking the workspace again meanwhile.
#[test]
fn a_blocked_or_throttled_workspace_is_not_a_verdict() {
    let emu = workspace();
    let server = Server::sdp_agent(&emu, &["--callers", "workspace"]);
    let url = format!("{}/version", server.url);
    emu.inject_fault(Fault {
        path_prefix: ME.into(),
        status: 403,
        error_code: "403".into(),
        message: "Source IP address: 203.0.113.9 is blocked by Databricks IP ACL".into(),
        ..Default::default()
    });
    let blocked = call("GET", &url, Some(ALICE), None);
    blocked.assert_error(503, "TEMPORARILY_UNAVAILABLE");
    assert!(blocked.text.contains("IP access list"), "{}", blocked.text);
    // Not cached: the next request is checked again, and admitted.
    assert_eq!(call("GET", &url, Some(ALICE), None).status, 200);
    assert_eq!(me_calls_with(&emu, ALICE), 2);

    emu.inject_fault(Fault {
        path_prefix: ME.into(),
        status: 429,
        error_code: "REQUEST_LIMIT_EXCEEDED".into(),
        message: "slow down".into(),
        retry_after_secs: Some(2),
        times: 100,
        ..Default::default()
    });
    let throttled = call("GET", &url, Some(BOB), None);
    throttled.assert_error(503, "TEMPORARILY_UNAVAILABLE");
    assert_eq!(throttled.retry_after.as_deref(), Some("2"), "{throttled:?}");
    let asked = server_me_calls(&emu).len();
    // During the pause: other new callers wait too, without a call to the workspace...
    let mut held = 0;
    for i in 0..20 {
        let answer = call("GET", &url, Some(&format!("dapi-new-{i}")), None);
        assert_eq!(answer.status, 503, "{}", answer.text);
        let secs: u64 = answer.retry_after.as_deref().unwrap_or("").parse().unwrap();
        assert!((1..=2).contains(&secs), "{secs}");
        held += 1;
    }
    assert_eq!(server_me_calls(&emu).len(), asked, "asked during the pause");
    // ...and a cached caller is not held at all.
    assert_eq!(call("GET", &url, Some(ALICE), None).status, 200);
    println!("SCIM 429 (Retry-After 2): {held} new callers held with 503, 0 SCIM calls meanwhile");
    std::thread::sleep(Duration::from_millis(2100));
    let after = call("GET", &url, Some(BOB), None);
    // The workspace still throttles (the fault lasts): one more call, one more pause.
    assert_eq!(after.status, 503, "{}", after.text);
    assert_eq!(server_me_calls(&emu).len(), asked + 1);
}
