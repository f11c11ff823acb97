//! The workspace's object tree: folders, files and notebooks by canonical path.

use std::collections::BTreeMap;

use crate::error::{ApiError, ApiResult};
use crate::ids::Ids;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Directory,
    File,
    Notebook,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Directory => "DIRECTORY",
            Kind::File => "FILE",
            Kind::Notebook => "NOTEBOOK",
        }
    }
}

#[derive(Debug)]
pub(super) struct Object {
    pub(super) kind: Kind,
    pub(super) language: Option<String>,
    pub(super) content: Vec<u8>,
    pub(super) object_id: i64,
}

impl Object {
    fn directory(object_id: i64) -> Self {
        Self {
            kind: Kind::Directory,
            language: None,
            content: Vec::new(),
            object_id,
        }
    }
}

/// Objects by canonical path (without the `/Workspace` prefix).
#[derive(Debug)]
pub struct WorkspaceState {
    pub(super) objects: BTreeMap<String, Object>,
}

impl Default for WorkspaceState {
    /// The top-level folders every workspace has.
    fn default() -> Self {
        let objects = ["/", "/Users", "/Shared", "/Repos"]
            .into_iter()
            .zip(1..)
            .map(|(path, object_id)| (path.to_string(), Object::directory(object_id)))
            .collect();
        Self { objects }
    }
}

/// Canonical form of an absolute path: no `/Workspace` prefix, no trailing slash.
pub(crate) fn canonical(path: &str) -> ApiResult<String> {
    if !path.starts_with('/') {
        return Err(ApiError::invalid(format!(
            "Path ({path}) doesn't start with '/'"
        )));
    }
    let rest = match path.strip_prefix("/Workspace") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    };
    let trimmed = rest.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

pub(crate) fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl WorkspaceState {
    /// Creates `path` and its missing parents as directories (mkdirs semantics); the ids of
    /// the folders it created.
    pub(super) fn ensure_dirs(&mut self, ids: &mut Ids, path: &str) -> ApiResult<Vec<i64>> {
        let mut created = Vec::new();
        let mut prefix = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            prefix.push('/');
            prefix.push_str(segment);
            match self.objects.get(&prefix) {
                Some(obj) if obj.kind != Kind::Directory => {
                    return Err(ApiError::already_exists(format!(
                        "Path ({prefix}) already exists and is not a directory."
                    )));
                }
                Some(_) => {}
                None => {
                    let dir = Object::directory(ids.object_id());
                    created.push(dir.object_id);
                    self.objects.insert(prefix.clone(), dir);
                }
            }
        }
        Ok(created)
    }

    /// Seeds a FILE, creating its parents (test setup, so a clash is simply overwritten).
    pub fn put_file(&mut self, ids: &mut Ids, path: &str, content: &str) {
        self.seed(ids, path, Kind::File, None, content);
    }

    /// Seeds a NOTEBOOK of `language` (SQL, PYTHON, ...) exactly at `path`.
    pub fn put_notebook(&mut self, ids: &mut Ids, path: &str, language: &str, content: &str) {
        self.seed(ids, path, Kind::Notebook, Some(language), content);
    }

    fn seed(
        &mut self,
        ids: &mut Ids,
        path: &str,
        kind: Kind,
        language: Option<&str>,
        content: &str,
    ) {
        let path = canonical(path).unwrap_or_else(|_| format!("/{path}"));
        if self.ensure_dirs(ids, parent(&path)).is_err() {
            tracing::warn!(%path, "seeding: a parent of the path is a file");
            return;
        }
        let object = Object {
            kind,
            language: language.map(str::to_string),
            content: content.as_bytes().to_vec(),
            object_id: ids.object_id(),
        };
        self.objects.insert(path, object);
    }

    /// The object id and type name (`DIRECTORY`, ...) at a canonical path.
    pub fn object_at(&self, path: &str) -> Option<(i64, &'static str)> {
        self.objects
            .get(path)
            .map(|obj| (obj.object_id, obj.kind.name()))
    }

    /// The canonical path and type name of the object with id `object_id`.
    pub fn find_by_id(&self, object_id: i64) -> Option<(String, &'static str)> {
        self.objects
            .iter()
            .find(|(_, obj)| obj.object_id == object_id)
            .map(|(path, obj)| (path.clone(), obj.kind.name()))
    }

    /// `FILE`, `NOTEBOOK` or `DIRECTORY` at `path`, if anything is there.
    pub fn object_type(&self, path: &str) -> Option<&'static str> {
        let obj = self.objects.get(&canonical(path).ok()?)?;
        Some(obj.kind.name())
    }

    /// Whether `path` is an existing directory.
    pub fn is_directory(&self, path: &str) -> bool {
        canonical(path)
            .ok()
            .and_then(|p| self.objects.get(&p))
            .is_some_and(|o| o.kind == Kind::Directory)
    }

    /// Decoded content of a FILE or NOTEBOOK.
    pub fn file(&self, path: &str) -> Option<String> {
        let obj = self.objects.get(&canonical(path).ok()?)?;
        (obj.kind != Kind::Directory).then(|| String::from_utf8_lossy(&obj.content).into_owned())
    }

    /// Every FILE and NOTEBOOK as `(/Workspace path, notebook language, decoded content)`, by
    /// path: what a pipeline's glob libraries are matched against.
    pub fn sources(&self) -> Vec<(String, Option<String>, String)> {
        self.objects
            .iter()
            .filter(|(_, obj)| obj.kind != Kind::Directory)
            .map(|(path, obj)| {
                let language = (obj.kind == Kind::Notebook)
                    .then(|| obj.language.clone())
                    .flatten();
                let text = String::from_utf8_lossy(&obj.content).into_owned();
                (format!("/Workspace{path}"), language, text)
            })
            .collect()
    }

    /// The object at `given` (as the caller wrote it, for the message), or the API's
    /// RESOURCE_DOES_NOT_EXIST.
    pub(super) fn lookup(&self, given: &str) -> ApiResult<&Object> {
        self.objects
            .get(&canonical(given)?)
            .ok_or_else(|| ApiError::not_found(format!("Path ({given}) doesn't exist.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical("/Workspace/Shared/x").unwrap(), "/Shared/x");
        assert_eq!(canonical("/Shared/x/").unwrap(), "/Shared/x");
        assert_eq!(canonical("/Workspace").unwrap(), "/");
        assert_eq!(canonical("/WorkspaceX/a").unwrap(), "/WorkspaceX/a");
        assert!(canonical("Shared/x").is_err());
    }

    #[test]
    fn parents() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
    }

    #[test]
    fn put_file_creates_parents_and_reads_back() {
        let mut ws = WorkspaceState::default();
        let mut ids = Ids::default();
        ws.put_file(&mut ids, "/Workspace/Shared/a/b.sql", "SELECT 1");
        assert_eq!(ws.file("/Shared/a/b.sql").as_deref(), Some("SELECT 1"));
        assert_eq!(ws.objects["/Shared/a"].kind, Kind::Directory);
        assert!(ws.file("/Shared/a").is_none());
    }
}
