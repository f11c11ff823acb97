//! The source files an update runs: what the pipeline's `libraries` name (file, notebook and
//! glob entries), read from the emulated workspace as they are when the update starts.

use globset::GlobBuilder;
use serde_json::{Map, Value};

use super::{ANALYSIS_EXCEPTION, Problem};
use crate::workspace::WorkspaceState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Sql,
    Python,
}

/// One source file of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Workspace path, always with the `/Workspace` prefix.
    pub path: String,
    pub language: Language,
    pub text: String,
}

/// `/Workspace/x` and `/x` name the same object.
fn with_prefix(path: &str) -> String {
    match path.strip_prefix("/Workspace") {
        Some(rest) if rest.starts_with('/') => path.to_string(),
        _ => format!("/Workspace{path}"),
    }
}

/// The language of a workspace object: notebooks say it, files by their extension.
fn language_of(path: &str, notebook_language: Option<&str>) -> Option<Language> {
    match notebook_language.map(str::to_ascii_uppercase).as_deref() {
        Some("SQL") => return Some(Language::Sql),
        Some("PYTHON") => return Some(Language::Python),
        Some(_) => return None,
        None => {}
    }
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".sql") {
        Some(Language::Sql)
    } else if lower.ends_with(".py") {
        Some(Language::Python)
    } else {
        None
    }
}

/// The pipeline's source files in library order (each once), and a problem for every library
/// that names nothing usable.
pub fn collect(
    spec: &Map<String, Value>,
    workspace: &WorkspaceState,
) -> (Vec<SourceFile>, Vec<Problem>) {
    let objects = workspace.sources();
    let mut files: Vec<SourceFile> = Vec::new();
    let mut problems = Vec::new();
    let libraries = spec.get("libraries").and_then(Value::as_array);
    for library in libraries.into_iter().flatten() {
        let single = library
            .pointer("/file/path")
            .or_else(|| library.pointer("/notebook/path"))
            .and_then(Value::as_str);
        let matched: Vec<&(String, Option<String>, String)> = if let Some(path) = single {
            let path = with_prefix(path);
            let found: Vec<_> = objects.iter().filter(|(p, _, _)| *p == path).collect();
            if found.is_empty() {
                problems.push(
                    Problem::new(
                        "",
                        format!("The library file {path} does not exist in the workspace."),
                        "java.io.FileNotFoundException",
                    )
                    .in_file(&path),
                );
            }
            found
        } else if let Some(include) = library.pointer("/glob/include").and_then(Value::as_str) {
            let include = with_prefix(include);
            match GlobBuilder::new(&include).literal_separator(true).build() {
                Ok(glob) => {
                    let glob = glob.compile_matcher();
                    objects
                        .iter()
                        .filter(|(p, _, _)| glob.is_match(p))
                        .collect()
                }
                Err(e) => {
                    problems.push(Problem::new(
                        "",
                        format!("Invalid glob pattern {include}: {e}"),
                        "java.lang.IllegalArgumentException",
                    ));
                    Vec::new()
                }
            }
        } else {
            // jar, maven, whl: dependencies, not pipeline code.
            Vec::new()
        };
        for (path, notebook_language, text) in matched {
            if files.iter().any(|f| &f.path == path) {
                continue;
            }
            match language_of(path, notebook_language.as_deref()) {
                Some(language) => files.push(SourceFile {
                    path: path.clone(),
                    language,
                    text: text.clone(),
                }),
                None => problems.push(
                    Problem::new(
                        "PIPELINE_UNSUPPORTED_DEFINITIONS_FILE_EXTENSION",
                        format!(
                            "Unsupported pipeline definitions file {path}: only SQL (.sql) and Python (.py) files define datasets."
                        ),
                        ANALYSIS_EXCEPTION,
                    )
                    .in_file(path),
                ),
            }
        }
    }
    (files, problems)
}
