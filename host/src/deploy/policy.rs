//! The deployment's policy as `deploy` writes it: what a caller's run may touch (issue 17's
//! document: `catalogs`, `schemas`, `root`, `python`, `caller_sources`, `adopt`,
//! `claude_endpoint`, and `warehouses`, issue 19's), stored under `policy` in `sdp_agent_deploy.json` beside the launcher,
//! which passes it to `run --policy @<that file>`; the app passes the same document to
//! `serve --policy`. Defaults are the narrow ones: the volume's catalog, root
//! `<workspace-dir>/pipelines`, SQL only, no caller sources, no adopt, deploy's model endpoint,
//! no SQL warehouse for the data checks.

use crate::outcome::Failure;
use clap::Args;
use serde_json::{Value, json};

/// The folder under the deployment's folder that runs create pipelines in by default.
pub const DEFAULT_ROOT: &str = "pipelines";

#[derive(Clone, Debug, Default, Args)]
pub struct PolicyArgs {
    /// A catalog callers' runs may use (glob; repeatable) [default: the volume's catalog].
    #[arg(long = "allow-catalog", value_name = "GLOB")]
    pub catalogs: Vec<String>,

    /// A schema callers' runs may use, as `catalog.schema` (glob; repeatable)
    /// [default: any schema of an allowed catalog].
    #[arg(long = "allow-schema", value_name = "CATALOG.SCHEMA")]
    pub schemas: Vec<String>,

    /// Workspace folder that runs' pipelines, sources and `root_path` must be under; the run
    /// identity gets CAN_MANAGE on it [default: <workspace-dir>/pipelines].
    #[arg(long = "root", value_name = "DIR")]
    pub root: Option<String>,

    /// Let pipelines have Python sources (they execute as the run identity). SQL only otherwise.
    #[arg(long)]
    pub allow_python: bool,

    /// Let payloads bring their own `sources` and `workspace_file_paths`.
    #[arg(long)]
    pub allow_caller_sources: bool,

    /// Let payloads `adopt` (edit) an existing pipeline of that name.
    #[arg(long)]
    pub allow_adopt: bool,

    /// A SQL warehouse a payload's `warehouse_id` may name for the data checks after a run
    /// (repeatable; the run identity needs CAN_USE on it) [default: none].
    #[arg(long = "allow-warehouse", value_name = "ID")]
    pub warehouses: Vec<String>,
}

impl PolicyArgs {
    /// Local checks of the flags, before any request.
    pub fn check(&self) -> Result<(), Failure> {
        for glob in &self.catalogs {
            plain(glob, "--allow-catalog")?;
            if glob.contains('.') {
                return Err(Failure::invalid_field(
                    "--allow-catalog",
                    format!(
                        "`{glob}` names a catalog only (use --allow-schema for catalog.schema)"
                    ),
                ));
            }
        }
        for glob in &self.schemas {
            plain(glob, "--allow-schema")?;
            match glob.split_once('.') {
                Some((c, s)) if !c.is_empty() && !s.is_empty() && !s.contains('.') => {}
                _ => {
                    return Err(Failure::invalid_field(
                        "--allow-schema",
                        format!("`{glob}` is not CATALOG.SCHEMA (globs allowed in either part)"),
                    ));
                }
            }
        }
        for id in &self.warehouses {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Failure::invalid_field(
                    "--allow-warehouse",
                    format!("`{id}` is not a SQL warehouse id (letters and digits)"),
                ));
            }
        }
        if let Some(root) = &self.root
            && !root.starts_with('/')
        {
            return Err(Failure::invalid_field(
                "--root",
                format!("`{root}` must be an absolute workspace path"),
            ));
        }
        Ok(())
    }

    /// The root folder: `--root`, else `<workspace_dir>/pipelines`. It must not hold the
    /// deployment's own folder (the launcher and this policy): runs write under the root.
    pub fn root(&self, workspace_dir: &str) -> Result<String, Failure> {
        let root = match &self.root {
            Some(root) => root.trim_end_matches('/').to_string(),
            None => return Ok(format!("{workspace_dir}/{DEFAULT_ROOT}")),
        };
        if !root.starts_with('/') || root.split('/').any(|s| s == ".." || s == ".") {
            return Err(Failure::invalid_field(
                "--root",
                format!("`{root}` must be an absolute workspace folder without `.` or `..`"),
            ));
        }
        let (r, d) = (bare(&root), bare(workspace_dir));
        if r == "/" || d == r || d.starts_with(&format!("{r}/")) {
            return Err(Failure::invalid_field(
                "--root",
                format!(
                    "`{root}` holds the deployment's folder {workspace_dir} (its launcher and \
                     policy): runs write under the root, so pick a folder beside it or under it"
                ),
            ));
        }
        // Under the deployment's folder, only a folder of its own: `run` never writes into
        // the deployment's entries (the guest's policy keeps the same list).
        let own = [
            super::sources::APP_DIR,
            super::sources::STAGING_DIR,
            super::sources::LAUNCHER_NAME,
            super::sources::SETTINGS_NAME,
        ];
        if let Some(first) = r
            .strip_prefix(&format!("{d}/"))
            .and_then(|rest| rest.split('/').next())
            && own.contains(&first)
        {
            return Err(Failure::invalid_field(
                "--root",
                format!(
                    "`{root}` is inside `{first}`, which the deployment itself uses in                      {workspace_dir}: pick another folder (the default is {workspace_dir}/{DEFAULT_ROOT})"
                ),
            ));
        }
        Ok(root)
    }

    /// The policy document.
    pub fn document(&self, volume_catalog: &str, root: &str, claude_endpoint: &str) -> Value {
        let catalogs = if self.catalogs.is_empty() {
            vec![volume_catalog.to_string()]
        } else {
            self.catalogs.clone()
        };
        let mut doc = json!({
            "catalogs": catalogs,
            "root": root,
            "python": self.allow_python,
            "caller_sources": self.allow_caller_sources,
            "adopt": self.allow_adopt,
            "claude_endpoint": claude_endpoint,
            "warehouses": self.warehouses,
        });
        // Absent = any schema of an allowed catalog.
        if !self.schemas.is_empty() {
            doc["schemas"] = json!(self.schemas);
        }
        doc
    }
}

/// A glob: not empty, no spaces or control characters.
fn plain(glob: &str, flag: &str) -> Result<(), Failure> {
    if glob.is_empty() || glob.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::invalid_field(
            flag,
            format!("`{glob}` must be a non-empty name or glob without spaces"),
        ));
    }
    Ok(())
}

/// A workspace path without its `/Workspace` prefix (both name the same object).
fn bare(path: &str) -> &str {
    match path.strip_prefix("/Workspace") {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut PolicyArgs)) -> PolicyArgs {
        let mut a = PolicyArgs::default();
        f(&mut a);
        a
    }

    #[test]
    fn defaults_are_narrow() {
        let dir = "/Workspace/Users/me@x.com/.sdp-agent/a";
        let a = PolicyArgs::default();
        let root = a.root(dir).unwrap();
        assert_eq!(root, format!("{dir}/pipelines"));
        assert_eq!(
            a.document("main", &root, "claude"),
            json!({"catalogs": ["main"], "root": root, "python": false,
                   "caller_sources": false, "adopt": false, "claude_endpoint": "claude",
                   "warehouses": []})
        );
        let wide = args(|a| {
            a.catalogs = vec!["dev_*".into()];
            a.schemas = vec!["dev_*.sales".into()];
            a.allow_python = true;
            a.allow_adopt = true;
        });
        let doc = wide.document("main", "/Workspace/Shared/p", "c");
        assert_eq!(doc["catalogs"], json!(["dev_*"]));
        assert_eq!(doc["schemas"], json!(["dev_*.sales"]));
        assert_eq!(
            (doc["python"].clone(), doc["adopt"].clone()),
            (json!(true), json!(true))
        );
    }

    #[test]
    fn bad_flags_name_themselves() {
        let field = |a: PolicyArgs| match a.check() {
            Err(Failure::InvalidPayload(f)) => f[0].path.clone(),
            other => panic!("expected an invalid field, got {other:?}"),
        };
        assert_eq!(
            field(args(|a| a.schemas = vec!["sales".into()])),
            "--allow-schema"
        );
        assert_eq!(
            field(args(|a| a.schemas = vec!["a.b.c".into()])),
            "--allow-schema"
        );
        assert_eq!(
            field(args(|a| a.catalogs = vec!["a.b".into()])),
            "--allow-catalog"
        );
        assert_eq!(
            field(args(|a| a.catalogs = vec!["".into()])),
            "--allow-catalog"
        );
        assert_eq!(field(args(|a| a.root = Some("Shared/x".into()))), "--root");
        assert_eq!(
            field(args(|a| a.warehouses = vec!["a b".into()])),
            "--allow-warehouse"
        );
        let dir = "/Workspace/Users/me@x.com/.sdp-agent/a";
        for holding in [
            "/Workspace/Users/me@x.com",
            "/Users/me@x.com/.sdp-agent/a",
            "/Workspace",
            "/Workspace/Users/me@x.com/.sdp-agent/a/app",
            "/Users/me@x.com/.sdp-agent/a/staging/x",
            "/Workspace/Users/me@x.com/.sdp-agent/a/pipelines/../app",
        ] {
            let a = args(|a| a.root = Some(holding.into()));
            assert!(a.root(dir).is_err(), "{holding}");
        }
        let beside = args(|a| a.root = Some("/Workspace/Shared/pipelines/".into()));
        assert_eq!(beside.root(dir).unwrap(), "/Workspace/Shared/pipelines");
    }
}
