//! How long one component call may take: `--timeout` for the work, plus, for `run` of a
//! payload that asks to wait for its pipeline update, the time it allows for that wait.

use crate::component::Export;
use serde::Deserialize;
use std::time::Duration;

/// `--timeout`'s default: how long the work of one call may take; also the deployed job's
/// `timeout` parameter default.
pub const DEFAULT_TIMEOUT_SECS: u64 = 900;
/// The component's default `wait_timeout_seconds` (guest `payload.rs`).
const DEFAULT_WAIT_SECS: u64 = 3600;
/// The largest `wait_timeout_seconds` the component accepts.
const MAX_WAIT_SECS: u64 = 86_400;

/// The fields of a payload that decide how long `run` waits.
#[derive(Deserialize)]
struct Waiting {
    #[serde(default)]
    wait: bool,
    wait_timeout_seconds: Option<u64>,
}

/// The deadline of one call and, for messages, what it is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub work: Duration,
    pub wait: Duration,
}

impl Deadline {
    pub fn for_call(export: Export, work: Duration, payload: &str) -> Self {
        let wait = match export {
            Export::Run => wait_budget(payload),
            Export::Predict => Duration::ZERO,
        };
        Deadline { work, wait }
    }

    pub fn total(self) -> Duration {
        self.work + self.wait
    }

    /// "900s (--timeout)" or "4500s (--timeout 900s + wait_timeout_seconds 3600s)".
    pub fn describe(self) -> String {
        if self.wait.is_zero() {
            format!("{}s (--timeout)", self.work.as_secs())
        } else {
            format!(
                "{}s (--timeout {}s + wait_timeout_seconds {}s)",
                self.total().as_secs(),
                self.work.as_secs(),
                self.wait.as_secs()
            )
        }
    }
}

/// How long `run` may wait for the update, read from the payload JSON. Zero when it does not
/// wait or the text cannot be read (the component then reports the payload, at once); a
/// staged payload (`@path`) brings its deadline as an explicit `--timeout` instead.
fn wait_budget(payload: &str) -> Duration {
    match serde_json::from_str::<Waiting>(payload) {
        Ok(Waiting {
            wait: true,
            wait_timeout_seconds,
        }) => Duration::from_secs(
            wait_timeout_seconds
                .unwrap_or(DEFAULT_WAIT_SECS)
                .min(MAX_WAIT_SECS),
        ),
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORK: Duration = Duration::from_secs(DEFAULT_TIMEOUT_SECS);

    fn total(export: Export, payload: &str) -> u64 {
        Deadline::for_call(export, WORK, payload).total().as_secs()
    }

    #[test]
    fn run_gets_its_wait_on_top() {
        assert_eq!(total(Export::Run, r#"{"wait": true}"#), 4500);
        assert_eq!(
            total(Export::Run, r#"{"wait": true, "wait_timeout_seconds": 60}"#),
            960
        );
        assert_eq!(total(Export::Run, r#"{"wait": false}"#), 900);
        assert_eq!(total(Export::Run, r#"{"question": "x"}"#), 900);
        assert_eq!(total(Export::Predict, r#"{"wait": true}"#), 900);
        for unreadable in ["not json", r#"{"wait": "yes"}"#, "@/Workspace/p.json"] {
            assert_eq!(total(Export::Run, unreadable), 900, "{unreadable}");
        }
        let d = Deadline::for_call(Export::Run, WORK, r#"{"wait": true}"#);
        assert_eq!(
            d.describe(),
            "4500s (--timeout 900s + wait_timeout_seconds 3600s)"
        );
    }
}
