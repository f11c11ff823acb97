//! The pipeline's source files: which exist (as files or notebooks), which to write, and which
//! existing ones to keep. Everything is checked before anything is written.

use crate::databricks::WorkspaceClient;
use crate::databricks::pipelines::Existing;
use crate::databricks::workspace::{self, Object};
use crate::error::{Error, FieldError, Result};
use crate::pipeline_config::PipelineConfig;
use std::collections::{BTreeMap, BTreeSet};

/// What writing the sources did.
#[derive(Debug, Default)]
pub struct Written {
    /// Paths that are notebooks in the workspace (their library is a `notebook`).
    pub notebooks: BTreeSet<String>,
    /// The model's files that were written: path → text (what a repair round shows it).
    pub by_model: BTreeMap<String, String>,
    /// The payload's files that were written.
    pub by_payload: BTreeSet<String>,
    /// In words, for the run's `message`.
    pub notes: Vec<String>,
}

impl Written {
    /// Whether any source file was written (then it is validated).
    pub fn any(&self) -> bool {
        !self.by_model.is_empty() || !self.by_payload.is_empty()
    }
}

/// Makes every library path exist before the pipeline refers to it. Payload sources are always
/// written. The model's are written where nothing exists, or over a file the agent wrote
/// itself earlier (its tagged pipeline's folder); any other existing file or notebook is kept,
/// and the message says so.
pub async fn write(
    ws: &WorkspaceClient,
    cfg: &PipelineConfig,
    given: &BTreeMap<String, String>,
    generated: &BTreeMap<String, String>,
    existing: Option<&Existing>,
) -> Result<Written> {
    let mut problems = Vec::new();
    for path in given.keys() {
        if !cfg.workspace_file_paths.contains(path) {
            problems.push(FieldError::new(
                format!("sources.{path}"),
                "not one of workspace_file_paths",
            ));
        }
    }
    let mut written = Written::default();
    // (path, text, whether the model wrote it)
    let mut uploads: Vec<(&str, &str, bool)> = Vec::new();
    let mut kept = Vec::new();
    for (i, path) in cfg.workspace_file_paths.iter().enumerate() {
        if let Some(text) = given.get(path) {
            uploads.push((path, text, false));
            continue;
        }
        let field = || format!("workspace_file_paths[{i}]");
        match (workspace::object_at(ws, path).await?, generated.get(path)) {
            (None, Some(text)) => uploads.push((path, text, true)),
            (None, None) => problems.push(FieldError::new(
                field(),
                format!("`{path}` does not exist in the workspace and no source was given for it"),
            )),
            (Some(Object::Other), _) => problems.push(FieldError::new(
                field(),
                format!("`{path}` is a folder or other object, not a source file or notebook"),
            )),
            (Some(Object::Notebook), model) => {
                written.notebooks.insert(path.clone());
                if model.is_some() {
                    kept.push(format!("{path} (a notebook)"));
                }
            }
            (Some(Object::File), Some(text)) if written_by_agent(existing, path) => {
                uploads.push((path, text, true));
            }
            (Some(Object::File), Some(_)) => kept.push(path.clone()),
            (Some(Object::File), None) => {}
        }
    }
    if !problems.is_empty() {
        return Err(Error::InvalidPayload(problems));
    }
    for &(path, text, by_model) in &uploads {
        workspace::upload(ws, path, text).await?;
        if by_model {
            written.by_model.insert(path.to_string(), text.to_string());
        } else {
            written.by_payload.insert(path.to_string());
        }
    }
    if !uploads.is_empty() {
        let paths: Vec<&str> = uploads.iter().map(|(p, _, _)| *p).collect();
        written.notes.push(format!("wrote {}", paths.join(", ")));
    }
    if !kept.is_empty() {
        written.notes.push(format!(
            "kept existing {} (not written by the agent; the model's version was not used)",
            kept.join(", ")
        ));
    }
    Ok(written)
}

/// A file in the folder of a pipeline the agent created is one it wrote earlier.
fn written_by_agent(existing: Option<&Existing>, path: &str) -> bool {
    existing.is_some_and(|p| {
        p.is_ours()
            && p.root_path().is_some_and(|root| {
                path.strip_prefix(root.trim_end_matches('/'))
                    .is_some_and(|rest| rest.starts_with('/'))
            })
    })
}
