//! The pipeline config the agent needs, and the rules a value must meet whether it comes
//! from the payload or from the model.

use crate::error::FieldError;
use crate::fields::{kind, string};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Payload names of the config keys, in the order they are reported.
pub const KEYS: [&str; 5] = [
    "pipelineName",
    "catalog",
    "schema",
    "root_path",
    "workspace_file_paths",
];

/// Config as far as it is known; `None` = still missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialConfig {
    pub pipeline_name: Option<String>,
    pub catalog: Option<String>,
    pub schema: Option<String>,
    pub root_path: Option<String>,
    pub workspace_file_paths: Option<Vec<String>>,
    /// Source text for files, by absolute workspace path (uploaded before the pipeline is made).
    pub sources: BTreeMap<String, String>,
}

/// Config with every key present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    pub pipeline_name: String,
    pub catalog: String,
    pub schema: String,
    pub root_path: String,
    pub workspace_file_paths: Vec<String>,
}

impl PartialConfig {
    /// Reads the config keys of `doc`, recording every bad value in `errors`. Used for the
    /// payload (prefix "") and for the model's answer.
    pub fn read(doc: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Self {
        let mut cfg = PartialConfig::default();
        let snake = doc.get("pipeline_name");
        let camel = doc.get("pipelineName");
        if let (Some(a), Some(b)) = (camel, snake)
            && a != b
        {
            errors.push(FieldError::new(
                "pipeline_name",
                "conflicts with pipelineName; give one of them",
            ));
        }
        if let Some((key, v)) = camel
            .map(|v| ("pipelineName", v))
            .or(snake.map(|v| ("pipeline_name", v)))
        {
            cfg.pipeline_name = string(key, v, errors).and_then(|s| pipeline_name(key, s, errors));
        }
        if let Some(v) = doc.get("catalog") {
            cfg.catalog =
                string("catalog", v, errors).and_then(|s| identifier("catalog", s, errors));
        }
        if let Some(v) = doc.get("schema") {
            cfg.schema = string("schema", v, errors).and_then(|s| identifier("schema", s, errors));
        }
        if let Some(v) = doc.get("root_path") {
            cfg.root_path =
                string("root_path", v, errors).and_then(|s| workspace_path("root_path", s, errors));
        }
        if let Some(v) = doc.get("workspace_file_paths") {
            cfg.workspace_file_paths = path_list("workspace_file_paths", v, errors);
        }
        if let Some(v) = doc.get("sources") {
            cfg.sources = sources("sources", v, errors);
        }
        // As the original system did: the code's folder defaults to where the code is.
        if !doc.contains_key("root_path") {
            cfg.root_path = cfg.workspace_file_paths.as_deref().and_then(common_parent);
        }
        cfg
    }

    /// Payload names of the keys still missing.
    pub fn missing(&self) -> Vec<String> {
        let present = [
            self.pipeline_name.is_some(),
            self.catalog.is_some(),
            self.schema.is_some(),
            self.root_path.is_some(),
            self.workspace_file_paths.is_some(),
        ];
        KEYS.iter()
            .zip(present)
            .filter(|(_, p)| !p)
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// Fills what `self` lacks from `other`: values already here win.
    pub fn fill_from(&mut self, other: PartialConfig) {
        self.pipeline_name = self.pipeline_name.take().or(other.pipeline_name);
        self.catalog = self.catalog.take().or(other.catalog);
        self.schema = self.schema.take().or(other.schema);
        self.root_path = self.root_path.take().or(other.root_path);
        self.workspace_file_paths = self
            .workspace_file_paths
            .take()
            .or(other.workspace_file_paths);
        for (path, text) in other.sources {
            self.sources.entry(path).or_insert(text);
        }
    }

    /// The complete config, or the payload names of what is missing.
    pub fn complete(&self) -> Result<PipelineConfig, Vec<String>> {
        match (
            &self.pipeline_name,
            &self.catalog,
            &self.schema,
            &self.root_path,
            &self.workspace_file_paths,
        ) {
            (Some(n), Some(c), Some(s), Some(r), Some(f)) => Ok(PipelineConfig {
                pipeline_name: n.clone(),
                catalog: c.clone(),
                schema: s.clone(),
                root_path: r.clone(),
                workspace_file_paths: f.clone(),
            }),
            _ => Err(self.missing()),
        }
    }

    /// The known keys as a JSON object (shown to the model as fixed values).
    pub fn known_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("pipelineName", self.pipeline_name.clone().map(Value::from));
        put("catalog", self.catalog.clone().map(Value::from));
        put("schema", self.schema.clone().map(Value::from));
        put("root_path", self.root_path.clone().map(Value::from));
        put(
            "workspace_file_paths",
            self.workspace_file_paths.clone().map(Value::from),
        );
        Value::Object(m)
    }
}

/// The deepest folder holding every path; None when that is the workspace root.
pub fn common_parent(paths: &[String]) -> Option<String> {
    let mut common: Option<Vec<&str>> = None;
    for path in paths {
        let dir: Vec<&str> = path.rsplit_once('/')?.0.split('/').collect();
        common = Some(match common {
            None => dir,
            Some(c) => c
                .iter()
                .zip(&dir)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    let folder = common?.join("/");
    (folder.len() > 1).then_some(folder)
}

fn pipeline_name(path: &str, s: String, errors: &mut Vec<FieldError>) -> Option<String> {
    if s.chars().count() > 100 {
        errors.push(FieldError::new(path, "must be at most 100 characters"));
        return None;
    }
    if s.chars().any(char::is_control) {
        errors.push(FieldError::new(path, "must not contain control characters"));
        return None;
    }
    Some(s)
}

/// Unity Catalog names the agent writes unquoted into SQL: letters, digits, underscores.
fn identifier(path: &str, s: String, errors: &mut Vec<FieldError>) -> Option<String> {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || s.len() > 255 {
        errors.push(FieldError::new(
            path,
            format!(
                "`{s}` is not a valid identifier (letters, digits and _, not starting with a digit)"
            ),
        ));
        return None;
    }
    Some(s)
}

/// An absolute workspace path: `/Workspace/...`, `/Users/...`, `/Repos/...`, `/Shared/...`.
pub fn workspace_path(path: &str, s: String, errors: &mut Vec<FieldError>) -> Option<String> {
    if !s.starts_with('/') || s.len() < 2 {
        errors.push(FieldError::new(
            path,
            format!("`{s}` must be an absolute workspace path such as /Workspace/Users/me/project"),
        ));
        return None;
    }
    if s.split('/').any(|seg| seg == ".." || seg == ".") || s.contains("//") {
        errors.push(FieldError::new(
            path,
            format!("`{s}` must not contain empty, `.` or `..` segments"),
        ));
        return None;
    }
    if s.chars().any(char::is_control) {
        errors.push(FieldError::new(path, "must not contain control characters"));
        return None;
    }
    Some(s.trim_end_matches('/').to_string())
}

fn path_list(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    let Value::Array(items) = v else {
        errors.push(FieldError::new(
            path,
            format!("must be an array of workspace paths, got {}", kind(v)),
        ));
        return None;
    };
    if items.is_empty() {
        errors.push(FieldError::new(path, "must list at least one source file"));
        return None;
    }
    let before = errors.len();
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if let Some(s) = string(&p, item, errors).and_then(|s| workspace_path(&p, s, errors)) {
            if out.contains(&s) {
                errors.push(FieldError::new(&p, format!("`{s}` is listed twice")));
            } else {
                out.push(s);
            }
        }
    }
    (errors.len() == before).then_some(out)
}

fn sources(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Value::Object(map) = v else {
        errors.push(FieldError::new(
            path,
            format!(
                "must be an object mapping workspace paths to source text, got {}",
                kind(v)
            ),
        ));
        return out;
    };
    for (file, text) in map {
        let p = format!("{path}.{file}");
        let file = workspace_path(&p, file.clone(), errors);
        let text = string(&p, text, errors);
        if let (Some(f), Some(t)) = (file, text) {
            out.insert(f, t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(paths: &[&str]) -> Option<String> {
        common_parent(&paths.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn root_path_defaults_to_the_common_folder() {
        assert_eq!(
            parent(&["/Workspace/Repos/r/pipelines/bronze.sql"]).as_deref(),
            Some("/Workspace/Repos/r/pipelines")
        );
        assert_eq!(
            parent(&[
                "/Workspace/a/x/b.sql",
                "/Workspace/a/y/s.sql",
                "/Workspace/a/g.sql"
            ])
            .as_deref(),
            Some("/Workspace/a")
        );
        assert_eq!(
            parent(&["/Workspace/ab/b.sql", "/Workspace/a/s.sql"]).as_deref(),
            Some("/Workspace")
        );
        assert_eq!(parent(&["/a.sql", "/b/c.sql"]), None);
        let mut errors = Vec::new();
        let doc = serde_json::json!({"workspace_file_paths": ["/Workspace/r/p/b.sql"]});
        let cfg = PartialConfig::read(doc.as_object().unwrap(), &mut errors);
        assert_eq!(cfg.root_path.as_deref(), Some("/Workspace/r/p"));
        let doc = serde_json::json!({"root_path": "/Workspace/r", "workspace_file_paths": ["/Workspace/r/p/b.sql"]});
        let cfg = PartialConfig::read(doc.as_object().unwrap(), &mut errors);
        assert_eq!(cfg.root_path.as_deref(), Some("/Workspace/r"));
        assert!(errors.is_empty());
    }
}
