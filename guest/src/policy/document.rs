// The deployment policy document (`sdp-agent run|serve|predict --policy`), as `deploy` writes
// it: what a caller's request may touch. Absent keys set no limit; unknown keys and wrong types
// are errors, never "no limits".
//
// Plain `//` comments and serde/serde_json only: the host includes this file as source
// (`#[path]` in host/src/policy.rs) to refuse a malformed policy at start, so the guest and the
// host read one type.

use serde::Deserialize;

/// The policy document: `{"catalogs", "schemas", "root", "python", "caller_sources", "adopt",
/// "claude_endpoint", "warehouses"}`, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Globs a pipeline's catalog must match (`*`, `?`, `[...]`).
    pub catalogs: Option<Vec<String>>,
    /// Globs its `catalog.schema` must match.
    pub schemas: Option<Vec<String>>,
    /// The workspace folder every root_path and source file must be under.
    pub root: Option<String>,
    /// Whether Python sources (the model's or the caller's) may be written or used.
    pub python: Option<bool>,
    /// Whether the payload may bring its own `sources` and `workspace_file_paths`.
    pub caller_sources: Option<bool>,
    /// Whether the payload may say `"adopt": true`.
    pub adopt: Option<bool>,
    /// The only model endpoint a payload may name.
    pub claude_endpoint: Option<String>,
    /// The SQL warehouses a payload's `warehouse_id` may name (the data checks run SQL there as
    /// the run identity); empty = none.
    pub warehouses: Option<Vec<String>>,
}

impl Document {
    /// Reads and checks a policy document; the error names the key and what is wrong.
    pub fn parse(text: &str) -> Result<Document, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let doc: Document = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                format!("policy: {inner}")
            } else {
                format!("policy.{path}: {inner}")
            }
        })?;
        doc.check()?;
        Ok(doc)
    }

    /// Values serde accepts but no rule could use.
    fn check(&self) -> Result<(), String> {
        for (key, globs) in [("catalogs", &self.catalogs), ("schemas", &self.schemas)] {
            for (i, glob) in globs.iter().flatten().enumerate() {
                if glob.trim().is_empty() {
                    return Err(format!("policy.{key}[{i}]: a glob cannot be empty"));
                }
                if let Err(e) = glob::Pattern::new(glob) {
                    return Err(format!("policy.{key}[{i}]: `{glob}` is not a glob: {e}"));
                }
                if key == "schemas" && !glob.contains('.') {
                    return Err(format!(
                        "policy.schemas[{i}]: `{glob}` must be `catalog.schema` (globs allowed, \
                         e.g. `main.*`)"
                    ));
                }
            }
        }
        if let Some(root) = &self.root
            && (!root.starts_with('/') || root.split('/').any(|s| s == ".." || s == "."))
        {
            return Err(format!(
                "policy.root: `{root}` must be an absolute workspace folder without `.` or `..` \
                 segments, e.g. /Workspace/Users/me/pipelines"
            ));
        }
        for (i, id) in self.warehouses.iter().flatten().enumerate() {
            if id.trim().is_empty() {
                return Err(format!(
                    "policy.warehouses[{i}]: a warehouse id cannot be empty"
                ));
            }
        }
        if let Some(endpoint) = &self.claude_endpoint
            && endpoint.trim().is_empty()
        {
            return Err(
                "policy.claude_endpoint: cannot be empty (leave it out for no limit)".into(),
            );
        }
        Ok(())
    }
}
