//! `--policy <JSON|@FILE>`: the deployment policy, read and checked at start, then handed to
//! the component (which enforces it) through its environment. The host only reads it: the
//! rules live in the guest (`guest/src/policy/`), whose document type is read here too.

use crate::outcome::Failure;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[path = "../../guest/src/policy/document.rs"]
mod document;

/// A policy ready for the component: the document as JSON text, and the folder of the file it
/// came from (the deployed launcher's folder, which `run` never writes to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub document: String,
    pub folder: Option<String>,
}

/// Reads `--policy`: JSON text, or `@FILE` holding either the document or, under its `policy`
/// key, the deploy settings beside the launcher (`sdp_agent_deploy.json`). Anything malformed
/// is a `config` error, never "no limits".
pub fn read(arg: &str) -> Result<Policy, Failure> {
    let (text, folder) = match arg.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Config(format!("--policy: cannot read {path}: {e}")))?;
            (text, Some(folder_of(Path::new(path))))
        }
        None => (arg.to_string(), None),
    };
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::Config(format!("--policy: not valid JSON: {e}")))?;
    let doc = match doc {
        Value::Object(mut settings) if settings.contains_key("policy") => {
            settings.remove("policy").unwrap_or_default()
        }
        other => other,
    };
    let document = doc.to_string();
    document::Document::parse(&document).map_err(|e| Failure::Config(format!("--policy: {e}")))?;
    Ok(Policy { document, folder })
}

/// The folder holding the policy file, absolute: on a cluster the launcher names it by its
/// `/Workspace/...` path, which is also its path in the workspace.
fn folder_of(file: &Path) -> String {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    absolute
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_message(arg: &str) -> String {
        match read(arg) {
            Err(Failure::Config(m)) => m,
            other => panic!("{arg}: expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn a_malformed_policy_is_a_config_error_naming_the_key() {
        assert!(config_message("{").contains("not valid JSON"));
        assert!(config_message(r#"{"catalogs": "main"}"#).contains("policy.catalogs"));
        assert!(config_message(r#"{"roots": "/Workspace"}"#).contains("unknown field `roots`"));
        assert!(config_message("@/nonexistent/policy.json").contains("cannot read"));
        let ok = read(r#"{"catalogs": ["main"], "python": false}"#).unwrap();
        assert_eq!(ok.folder, None);
    }

    #[test]
    fn a_file_gives_its_folder_and_deploy_settings_hold_the_policy() {
        let dir = std::env::temp_dir().join(format!("sdp-agent-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sdp_agent_deploy.json");
        std::fs::write(
            &file,
            r#"{"volume": "/Volumes/main/x/y", "policy": {"root": "/Workspace/Shared/p"}}"#,
        )
        .unwrap();
        let policy = read(&format!("@{}", file.display())).unwrap();
        assert_eq!(policy.document, r#"{"root":"/Workspace/Shared/p"}"#);
        assert_eq!(policy.folder.as_deref(), Some(dir.to_str().unwrap()));
        std::fs::write(&file, r#"{"volume": "/Volumes/main/x/y"}"#).unwrap();
        let message = config_message(&format!("@{}", file.display()));
        assert!(message.contains("unknown field `volume`"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
