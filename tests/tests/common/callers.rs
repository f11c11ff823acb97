//! The workspace the caller tests admit or refuse: alice and bob with their tokens, and a call
//! made with one.

use super::answer::{Answer, http_agent};
use super::{emulator_with, full_payload};
use sdp_emulator::{Emulator, EmulatorConfig, WorkspaceUser};
use serde_json::Value;

pub const ALICE: &str = "dapi-alice-0123456789abcdef";
pub const BOB: &str = "dapi-bob-fedcba9876543210";

/// `method url` with `token` as a bearer token and `body` as JSON.
pub fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
    let mut request = http_agent().request(method, url);
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Some(body) => request
            .set("Content-Type", "application/json")
            .send_string(&body.to_string()),
        None => request.call(),
    };
    Answer::read(method, url, result)
}

/// `POST /invocations` to the server at `server_url` as `token`, with the full payload `name`
/// less its runner: checked callers do not choose code, the server's `--runner-path` does.
pub fn invoke(emu: &Emulator, server_url: &str, token: &str, name: &str) -> Answer {
    let url = format!("{server_url}/invocations");
    let mut payload = full_payload(emu, name);
    payload.as_object_mut().unwrap().remove("runner_path");
    call("POST", &url, Some(token), Some(&payload))
}

/// An emulator with alice (in `data-eng`) and bob (in `marketing`), each with a token.
pub fn workspace() -> Emulator {
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
