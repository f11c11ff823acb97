//! Large payloads. A job task's parameters are size-limited, so a payload whose base64 would
//! not fit is written to a workspace file first and the task gets `@<path>` instead; `run`
//! reads the file back through the Workspace API (so it works on any compute and any host).
//!
//! Where: a deployment's staging folder (`SDP_AGENT_STAGING_DIR`, which `deploy` creates and
//! lets the serving identity create files in, and the run identity read). Never under a
//! caller's `root_path` when serving callers: the serving identity has no grant there, and a
//! caller must not pick where the deployment writes. Only a `predict` of one's own (no caller)
//! without a staging folder stages under its `root_path`.

use crate::databricks::{WorkspaceClient, workspace};
use crate::error::{Error, FieldError, Result};
use crate::payload::Payload;
use base64::Engine;
use serde_json::Value;
use std::borrow::Cow;

/// Longest base64 payload passed inline. Jobs caps the JSON of a task's parameters at 10,000
/// bytes (documented for run-now's `python_params`); this leaves room for the options after it.
pub const MAX_INLINE_BYTES: usize = 8_000;

/// The host's default `--timeout`: the budget of the work `run` does before it waits.
pub const WORK_BUDGET_SECS: u64 = 900;

/// Folder (under the pipeline's folder) that staged payloads go to without a staging folder.
const STAGING_FOLDER: &str = ".sdp-agent";
/// The deployment's staging folder (host `env.rs` declares it).
const STAGING_DIR_ENV: &str = "SDP_AGENT_STAGING_DIR";

/// The payload document as base64, the job convention for `run`'s argument.
fn encode(payload: &Payload) -> String {
    base64::engine::general_purpose::STANDARD.encode(Value::Object(payload.doc.clone()).to_string())
}

/// How the payload reaches `run`: inline as base64, or as `@path` of a staged copy with the
/// deadline `run` needs (`--timeout`), which the host cannot read from a staged payload.
pub enum Passed {
    Inline(String),
    Staged {
        reference: String,
        timeout_secs: Option<u64>,
    },
}

impl Passed {
    /// The launcher's parameters: the payload, then any host options `run` needs for it.
    pub fn into_arguments(self) -> Vec<String> {
        match self {
            Passed::Inline(encoded) => vec![encoded],
            Passed::Staged {
                reference,
                timeout_secs,
            } => {
                let mut arguments = vec![reference];
                if let Some(secs) = timeout_secs {
                    arguments.extend(["--timeout".into(), secs.to_string()]);
                }
                arguments
            }
        }
    }
}

/// The payload as a job parameter carries it: inline when its base64 fits, else staged in a
/// workspace file first.
pub async fn pass(ws: &WorkspaceClient, payload: &Payload, token: &str) -> Result<Passed> {
    let encoded = encode(payload);
    if encoded.len() <= MAX_INLINE_BYTES {
        return Ok(Passed::Inline(encoded));
    }
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let place = match (env(STAGING_DIR_ENV), super::caller()) {
        (Some(dir), _) => Some(in_folder(&dir, token)),
        (None, Some(_)) => {
            return Err(Error::InvalidPayload(vec![FieldError::new(
                "$",
                format!(
                    "the payload is {} bytes as base64, more than a job parameter carries \
                     ({MAX_INLINE_BYTES}), and this deployment has no staging folder \
                     ({STAGING_DIR_ENV}; `sdp-agent deploy` sets it): send a smaller payload",
                    encoded.len()
                ),
            )]));
        }
        (None, None) => staging_path(payload, token),
    };
    let Some(path) = place else {
        return Err(Error::InvalidPayload(vec![FieldError::new(
            "root_path",
            format!(
                "the payload is {} bytes as base64, more than a job parameter carries ({MAX_INLINE_BYTES}); \
                 give root_path (or workspace_file_paths) so it can be staged in a workspace file",
                encoded.len()
            ),
        )]));
    };
    let text = Value::Object(payload.doc.clone()).to_string();
    workspace::upload(ws, &path, &text).await?;
    Ok(Passed::Staged {
        reference: format!("@{path}"),
        // The host reads `wait` from an inline payload to extend run's deadline; a staged one
        // it cannot see, so the deadline is passed explicitly.
        timeout_secs: payload
            .wait
            .then_some(WORK_BUDGET_SECS + payload.wait_timeout_seconds),
    })
}

/// `<root>/.sdp-agent/payload-<token>.json`. The root is `root_path`, else the common folder
/// of the pipeline's files: a place the run identity (the submitter) writes to anyway.
fn staging_path(payload: &Payload, token: &str) -> Option<String> {
    let root = payload.config.root_path.clone().or_else(|| {
        let paths = payload.config.workspace_file_paths.as_ref()?;
        common_folder(paths)
    })?;
    Some(in_folder(&format!("{root}/{STAGING_FOLDER}"), token))
}

/// `<folder>/payload-<token>.json`, under `/Workspace` (the form a cluster's file system also
/// shows).
fn in_folder(folder: &str, token: &str) -> String {
    let folder = folder.trim_end_matches('/');
    let folder = if folder == "/Workspace" || folder.starts_with("/Workspace/") {
        folder.to_string()
    } else {
        format!("/Workspace{folder}")
    };
    format!("{folder}/payload-{}.json", file_name_part(token))
}

/// The deepest folder holding every path (None when that is the workspace root).
fn common_folder(paths: &[String]) -> Option<String> {
    let folders: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            let mut parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
            parts.pop();
            parts
        })
        .collect();
    let first = folders.first()?;
    let depth = (0..first.len())
        .take_while(|&i| folders.iter().all(|f| f.get(i) == first.get(i)))
        .count();
    (depth > 0).then(|| format!("/{}", first[..depth].join("/")))
}

/// The token as it may appear in a file name: kept when it is plain, else hex-encoded (so two
/// different tokens never share a file).
fn file_name_part(token: &str) -> String {
    if !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        token.to_string()
    } else {
        token.bytes().map(|b| format!("{b:02x}")).collect()
    }
}

/// `run`'s argument as JSON text: itself, or for `@<path>` the staged file's content.
pub async fn resolve(argument: &str) -> Result<Cow<'_, str>> {
    let Some(path) = argument.strip_prefix('@') else {
        return Ok(Cow::Borrowed(argument));
    };
    if !path.starts_with('/') {
        return Err(Error::InvalidPayload(vec![FieldError::new(
            "$",
            format!("`@{path}` must name a workspace file by its absolute path"),
        )]));
    }
    let ws = WorkspaceClient::from_env()?;
    let bytes = workspace::export(&ws, path).await?;
    String::from_utf8(bytes).map(Cow::Owned).map_err(|_| {
        Error::InvalidPayload(vec![FieldError::new(
            "$",
            format!("the staged payload {path} is not UTF-8 text"),
        )])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_folders() {
        let paths = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            common_folder(&paths(&["/Workspace/a/b/x.sql", "/Workspace/a/c/y.sql"])).as_deref(),
            Some("/Workspace/a")
        );
        assert_eq!(
            common_folder(&paths(&["/Users/me/p/x.sql"])).as_deref(),
            Some("/Users/me/p")
        );
        assert_eq!(common_folder(&paths(&["/x.sql", "/y.sql"])), None);
        assert_eq!(common_folder(&[]), None);
    }

    #[test]
    fn staged_files_are_named_in_their_folder() {
        assert_eq!(
            in_folder("/Users/me/.sdp-agent/a/staging/", "t1"),
            "/Workspace/Users/me/.sdp-agent/a/staging/payload-t1.json"
        );
        assert_eq!(
            in_folder("/Workspace/Shared/s", "a/b"),
            "/Workspace/Shared/s/payload-612f62.json"
        );
    }

    #[test]
    fn tokens_become_file_names() {
        assert_eq!(file_name_part("order-42_a"), "order-42_a");
        assert_eq!(file_name_part("a/b"), "612f62");
        assert_eq!(file_name_part(""), "");
    }
}
