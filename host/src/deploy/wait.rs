//! Waiting for what the workspace does after a write (an app's compute, its deployment, a
//! serving endpoint's config update): one polling loop, backing off to a pause of 5 s, bounded
//! by `--wait-timeout`.

use super::rest::{Rest, Retry};
use crate::outcome::Failure;
use http::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// What one look at the resource says.
pub enum Step {
    Done,
    /// Will not get there: the message of the error.
    Failed(String),
    /// Still in `state`; `post`, when given, is a path to `POST {}` to before waiting on
    /// (e.g. starting a stopped app).
    Pending {
        state: String,
        post: Option<String>,
    },
}

/// Reads `path` (after `first`, the answer already in hand, if any) until `check` says it is
/// done; answers the last read. `what` names the resource in the timeout error.
pub async fn until(
    rest: &Rest,
    path: &str,
    first: Option<Value>,
    deadline: Instant,
    what: &str,
    mut check: impl FnMut(&Value) -> Step,
) -> Result<Value, Failure> {
    let mut current = first;
    let mut pause = FIRST_PAUSE;
    loop {
        let seen = match current.take() {
            Some(v) => v,
            None => rest.get(path).await?,
        };
        let state = match check(&seen) {
            Step::Done => return Ok(seen),
            Step::Failed(message) => return Err(Failure::Config(message)),
            Step::Pending { state, post } => {
                if let Some(post) = post {
                    rest.write(Method::POST, &post, &json!({}), Retry::Safe)
                        .await?;
                }
                state
            }
        };
        if Instant::now() + pause > deadline {
            return Err(Failure::Timeout(format!(
                "{what} is still {state} (waited --wait-timeout)"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// The text at `pointer`, or "" (a state not reported yet).
pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}
