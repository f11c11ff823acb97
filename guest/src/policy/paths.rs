//! Workspace folders compared the way the workspace resolves paths: `.` and `..` segments,
//! repeated and trailing slashes do not count, and `/Workspace/x` is the same place as `/x` (the
//! Workspace API accepts both).

/// A folder a path may be under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// As the policy named it (for messages).
    given: String,
    segments: Vec<String>,
}

impl Folder {
    pub fn new(path: &str) -> Self {
        Self {
            given: path.to_string(),
            segments: normalise(path),
        }
    }

    /// Whether `path` is this folder or inside it, once both are normalised.
    pub fn holds(&self, path: &str) -> bool {
        normalise(path).starts_with(&self.segments)
    }

    /// When this folder is strictly inside `parent`: its first segment below `parent`.
    pub fn below(&self, parent: &Folder) -> Option<&str> {
        (self.segments.len() > parent.segments.len() && self.segments.starts_with(&parent.segments))
            .then(|| self.segments[parent.segments.len()].as_str())
    }

    pub fn shown(&self) -> &str {
        &self.given
    }
}

/// The segments of an absolute workspace path after resolving `.` and `..` (never above the
/// top), without a leading `Workspace`.
fn normalise(path: &str) -> Vec<String> {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.first() == Some(&"Workspace") {
        out.remove(0);
    }
    out.into_iter().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_and_slashes_are_resolved_before_comparing() {
        let root = Folder::new("/Workspace/root/");
        for inside in [
            "/Workspace/root",
            "/Workspace/root/",
            "/Workspace/root/a.sql",
            "/Workspace//root/x/../b.sql",
            "/Workspace/root/./c/d.py",
            "/root/e.sql",
        ] {
            assert!(root.holds(inside), "{inside}");
        }
        for outside in [
            "/Workspace/root/../x",
            "/Workspace/root/../root2/a.sql",
            "/Workspace/rootless/a.sql",
            "/Workspace/root/a/../../x.sql",
            "/Workspace/Users/me/a.sql",
            "/Workspace",
            "/",
            "/Workspace/root/../../../../root2",
        ] {
            assert!(!root.holds(outside), "{outside}");
        }
    }

    #[test]
    fn the_workspace_prefix_names_the_same_place() {
        let launcher = Folder::new("/Users/deployer/.sdp-agent/sdp-agent");
        assert!(launcher.holds("/Workspace/Users/deployer/.sdp-agent/sdp-agent/launcher.py"));
        assert!(launcher.holds("/Users/deployer/.sdp-agent/sdp-agent/"));
        assert!(!launcher.holds("/Workspace/Users/deployer/.sdp-agent/other/x.py"));
        // A policy root of `/` (or `/Workspace`) holds every path.
        assert!(Folder::new("/Workspace").holds("/Shared/x.sql"));
    }

    #[test]
    fn below_names_the_first_segment_inside_the_parent() {
        let dir = Folder::new("/Workspace/Users/d/.sdp-agent/a");
        let root = Folder::new("/Users/d/.sdp-agent/a/pipelines/x/");
        assert_eq!(root.below(&dir), Some("pipelines"));
        assert_eq!(Folder::new("/Users/d/.sdp-agent/a/").below(&dir), None);
        assert_eq!(Folder::new("/Users/d/.sdp-agent/a/../b").below(&dir), None);
        assert_eq!(Folder::new("/Users/d/.sdp-agent").below(&dir), None);
    }
}
