//! Everything that gives an identity a level on one object: the object's own grants and
//! owner, and what it inherits. Workspace objects inherit from every folder above them, with
//! the documented defaults: admins manage everything (from the root), all users manage
//! `/Shared`, a user manages their home folder `/Users/<name>`, and a creator manages what
//! they created. Jobs, pipelines and endpoints inherit admins' CAN_MANAGE from their root.

use super::acl::{Grants, ObjectType, Principal};
use crate::identity::{ADMINS, Caller, USERS};
use crate::state::State;

/// One level given to one principal on the object.
#[derive(Clone, Debug)]
pub struct Entry {
    pub principal: Principal,
    pub level: &'static str,
    /// `/directories/<id>` (or `/jobs/`, ...) when inherited from there; None when direct.
    pub inherited_from: Option<String>,
}

/// Every entry of the object `id` of `kind` (for a workspace object, `path` is its
/// canonical path).
pub fn of_object(state: &State, kind: ObjectType, id: &str, path: Option<&str>) -> Vec<Entry> {
    match path {
        Some(path) if kind.is_workspace() => of_workspace_path(state, path),
        _ => {
            let mut out = vec![Entry {
                principal: Principal::Group(ADMINS.to_string()),
                level: "CAN_MANAGE",
                inherited_from: Some(format!("/{}/", kind.segment())),
            }];
            direct(&state.permissions, kind, id, &mut out, None);
            out
        }
    }
}

/// The entries of the workspace object at canonical `path` (which may not exist yet: then
/// only its existing folders count).
pub fn of_workspace_path(state: &State, path: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut prefixes = vec!["/".to_string()];
    let mut prefix = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        prefix.push('/');
        prefix.push_str(segment);
        prefixes.push(prefix.clone());
    }
    for here in &prefixes {
        let Some((id, kind)) = state.workspace.object_at(here) else {
            continue;
        };
        let from = (here != path).then(|| format!("/directories/{id}"));
        let mut give = |principal, level| {
            out.push(Entry {
                principal,
                level,
                inherited_from: from.clone(),
            })
        };
        if here == "/" {
            give(Principal::Group(ADMINS.to_string()), "CAN_MANAGE");
        }
        if here == "/Shared" {
            give(Principal::Group(USERS.to_string()), "CAN_MANAGE");
        }
        if let Some(home) = here.strip_prefix("/Users/").filter(|h| !h.contains('/')) {
            give(Principal::of_identity(home), "CAN_MANAGE");
        }
        let kind = match kind {
            "DIRECTORY" => ObjectType::Directories,
            "NOTEBOOK" => ObjectType::Notebooks,
            _ => ObjectType::Files,
        };
        direct(&state.permissions, kind, &id.to_string(), &mut out, from);
    }
    out
}

/// The owner's and the granted entries made on the object itself.
fn direct(grants: &Grants, kind: ObjectType, id: &str, out: &mut Vec<Entry>, from: Option<String>) {
    if let Some(owner) = grants.owner(kind, id) {
        out.push(Entry {
            principal: Principal::of_identity(owner),
            level: kind.owner_level(),
            inherited_from: from.clone(),
        });
    }
    out.extend(grants.of(kind, id).iter().map(|g| Entry {
        principal: g.principal.clone(),
        level: g.level,
        inherited_from: from.clone(),
    }));
}

/// The highest level `entries` give `caller` on an object of `kind`.
pub fn level_of(entries: &[Entry], kind: ObjectType, caller: &Caller) -> Option<&'static str> {
    entries
        .iter()
        .filter(|e| e.principal.covers(caller))
        .map(|e| e.level)
        .max_by_key(|l| kind.rank(l))
}

/// Whether `caller` holds at least `wanted` on an object of `kind`.
pub fn holds(entries: &[Entry], kind: ObjectType, caller: &Caller, wanted: &str) -> bool {
    match (level_of(entries, kind, caller), kind.rank(wanted)) {
        (Some(level), Some(wanted)) => kind.rank(level).is_some_and(|r| r >= wanted),
        _ => false,
    }
}
