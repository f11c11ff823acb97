//! `run` on a terminal shows the guest's progress as one live line (indicatif); off a terminal
//! the same lines pass through plain, one per state, as a job's log keeps them.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

/// The one-shot `run` of a payload with a source of its own, so a validation update runs.
fn run_command(emu: &sdp_emulator::Emulator, name: &str) -> Command {
    let mut payload = full_payload(emu, name);
    let bronze = payload["workspace_file_paths"][0]
        .as_str()
        .unwrap()
        .to_string();
    payload["sources"] = json!({
        bronze: "CREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT id FROM range(10)",
    });
    let mut cmd = agent_command(emu);
    cmd.arg("run").arg(b64(&payload));
    cmd
}

#[test]
fn off_a_terminal_progress_lines_pass_through_plain() {
    let emu = emulator();
    let out = run_command(&emu, "piped_progress").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("validation update") && stderr.contains(": COMPLETED"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "no terminal drawing in a log: {stderr:?}"
    );
}

#[test]
fn on_a_terminal_progress_is_a_live_line_and_closing_lines_stay() {
    let emu = emulator();
    let cmd = run_command(&emu, "tty_progress");
    // `script` runs the command on a pseudo-terminal (stdout and stderr both), as a shell would.
    let program = cmd.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut tty = Command::new("script");
    tty.args([
        "-qec",
        &format!("{program} {}", args.join(" ")),
        "/dev/null",
    ]);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => tty.env(key, value),
            None => tty.env_remove(key),
        };
    }
    let out = tty.output().expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    // indicatif rewrites its line in place: erase the line (`ESC [2K`), then draw the spinner.
    assert!(
        screen.contains("\x1b[2K"),
        "a terminal gets the live line drawn: {screen:?}"
    );
    // The validation's final state is kept on the screen, above where the live line was.
    assert!(
        screen.contains("validation update") && screen.contains(": COMPLETED"),
        "{screen:?}"
    );
    assert!(
        screen.contains("\"pipeline_id\""),
        "the JSON line still comes: {screen:?}"
    );
}
