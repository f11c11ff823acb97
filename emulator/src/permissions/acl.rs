//! Access control lists: the object types the Permissions API serves here, their permission
//! levels (ordered from least to most), principals, and the grants made on each object.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::fields::{item_obj, known_keys, opt_array, opt_str};
use crate::identity::Caller;

/// An object type of `/api/2.0/permissions/{type}/{id}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    Directories,
    Files,
    Notebooks,
    Jobs,
    Pipelines,
    ServingEndpoints,
}

/// Workspace objects (folders, files, notebooks) share one ladder.
const WORKSPACE_LEVELS: &[&str] = &["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"];
const JOB_LEVELS: &[&str] = &["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"];
const PIPELINE_LEVELS: &[&str] = &["CAN_VIEW", "CAN_RUN", "CAN_MANAGE", "IS_OWNER"];
const SERVING_LEVELS: &[&str] = &["CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"];

impl ObjectType {
    pub fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "directories" => Self::Directories,
            "files" => Self::Files,
            "notebooks" => Self::Notebooks,
            "jobs" => Self::Jobs,
            "pipelines" => Self::Pipelines,
            "serving-endpoints" => Self::ServingEndpoints,
            _ => return None,
        })
    }

    /// The path segment, as in `object_id` (`/jobs/123`).
    pub fn segment(self) -> &'static str {
        match self {
            Self::Directories => "directories",
            Self::Files => "files",
            Self::Notebooks => "notebooks",
            Self::Jobs => "jobs",
            Self::Pipelines => "pipelines",
            Self::ServingEndpoints => "serving-endpoints",
        }
    }

    /// `object_type` of an answer.
    pub fn singular(self) -> &'static str {
        match self {
            Self::Directories => "directory",
            Self::Files => "file",
            Self::Notebooks => "notebook",
            Self::Jobs => "job",
            Self::Pipelines => "pipelines",
            Self::ServingEndpoints => "serving-endpoint",
        }
    }

    /// Its permission levels, least first.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Self::Directories | Self::Files | Self::Notebooks => WORKSPACE_LEVELS,
            Self::Jobs => JOB_LEVELS,
            Self::Pipelines => PIPELINE_LEVELS,
            Self::ServingEndpoints => SERVING_LEVELS,
        }
    }

    pub fn is_workspace(self) -> bool {
        matches!(self, Self::Directories | Self::Files | Self::Notebooks)
    }

    /// The level of its owner (the creator): IS_OWNER where the type has it, else the top.
    pub fn owner_level(self) -> &'static str {
        let levels = self.levels();
        levels[levels.len() - 1]
    }

    /// The level that lets an identity change the object and its permissions.
    pub fn manage_level(self) -> &'static str {
        "CAN_MANAGE"
    }

    /// Position of `level` on this type's ladder (None: not one of its levels).
    pub fn rank(self, level: &str) -> Option<usize> {
        self.levels().iter().position(|l| *l == level)
    }
}

/// Who a grant is for, as `AccessControlRequest` names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    User(String),
    /// A service principal, by application id.
    Service(String),
    Group(String),
}

impl Principal {
    fn key(&self) -> &'static str {
        match self {
            Self::User(_) => "user_name",
            Self::Service(_) => "service_principal_name",
            Self::Group(_) => "group_name",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::User(n) | Self::Service(n) | Self::Group(n) => n,
        }
    }

    /// A principal of an identity that has no group in its name: a user has an e-mail
    /// address, a service principal an application id.
    pub fn of_identity(name: &str) -> Self {
        if name.contains('@') {
            Self::User(name.to_string())
        } else {
            Self::Service(name.to_string())
        }
    }

    /// Whether this principal covers `caller` (itself, or a group it is in).
    pub fn covers(&self, caller: &Caller) -> bool {
        match self {
            Self::User(n) | Self::Service(n) => caller.is(n),
            Self::Group(g) => caller.in_group(g),
        }
    }

    fn same(&self, other: &Principal) -> bool {
        self.key() == other.key() && self.name().eq_ignore_ascii_case(other.name())
    }

    /// `{"user_name": ...}` and friends, for an answer.
    pub fn json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert(self.key().into(), json!(self.name()));
        if !matches!(self, Self::Group(_)) {
            out.insert("display_name".into(), json!(self.name()));
        }
        out
    }
}

/// One entry of a request's `access_control_list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub principal: Principal,
    pub level: &'static str,
}

/// Parses `{"access_control_list": [AccessControlRequest...]}` for an object of `kind`.
pub fn parse_request(body: &Map<String, Value>, kind: ObjectType) -> ApiResult<Vec<Grant>> {
    known_keys(body, &["access_control_list"], "")?;
    let mut grants = Vec::new();
    for (i, item) in opt_array(body, "access_control_list", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("access_control_list[{i}]");
        let entry = item_obj(item, &ctx)?;
        known_keys(
            entry,
            &[
                "user_name",
                "group_name",
                "service_principal_name",
                "permission_level",
            ],
            &ctx,
        )?;
        let named: Vec<Principal> = [
            opt_str(entry, "user_name", &ctx)?.map(|n| Principal::User(n.to_string())),
            opt_str(entry, "group_name", &ctx)?.map(|n| Principal::Group(n.to_string())),
            opt_str(entry, "service_principal_name", &ctx)?
                .map(|n| Principal::Service(n.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect();
        let [principal] = named.as_slice() else {
            return Err(ApiError::invalid(format!(
                "{ctx}: exactly one of user_name, group_name or service_principal_name must be set"
            )));
        };
        let given = opt_str(entry, "permission_level", &ctx)?.ok_or_else(|| {
            ApiError::invalid(format!("Missing required field: {ctx}.permission_level"))
        })?;
        let level = kind.levels().iter().find(|l| **l == given).ok_or_else(|| {
            ApiError::invalid(format!(
                "Permission level {given} is not supported for {}; use one of {}",
                kind.segment(),
                kind.levels().join(", ")
            ))
        })?;
        grants.push(Grant {
            principal: principal.clone(),
            level,
        });
    }
    Ok(grants)
}

/// Direct grants and owners by object (`(type family, id)`): workspace objects share one id
/// space.
#[derive(Debug, Default)]
pub struct Grants {
    by_object: HashMap<(Family, String), Vec<Grant>>,
    /// Who created (or was made owner of) an object: it keeps the type's top level.
    owners: HashMap<(Family, String), String>,
}

/// Workspace object types share ids; the others have their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Family {
    Workspace,
    Other(ObjectType),
}

fn family(kind: ObjectType) -> Family {
    if kind.is_workspace() {
        Family::Workspace
    } else {
        Family::Other(kind)
    }
}

impl Grants {
    /// The owner of an object (its creator unless IS_OWNER was given to another).
    pub fn owner(&self, kind: ObjectType, id: &str) -> Option<&str> {
        self.owners
            .get(&(family(kind), id.to_string()))
            .map(String::as_str)
    }

    pub fn set_owner(&mut self, kind: ObjectType, id: &str, owner: &str) {
        self.owners
            .insert((family(kind), id.to_string()), owner.to_string());
    }

    /// The direct grants on an object.
    pub fn of(&self, kind: ObjectType, id: &str) -> &[Grant] {
        self.by_object
            .get(&(family(kind), id.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// PUT: the direct grants become exactly `grants`.
    pub fn set(&mut self, kind: ObjectType, id: &str, grants: Vec<Grant>) {
        self.by_object
            .insert((family(kind), id.to_string()), grants);
    }

    /// PATCH: each principal's grant is added or replaced; the others stay.
    pub fn update(&mut self, kind: ObjectType, id: &str, grants: Vec<Grant>) {
        let list = self
            .by_object
            .entry((family(kind), id.to_string()))
            .or_default();
        for grant in grants {
            list.retain(|g| !g.principal.same(&grant.principal));
            list.push(grant);
        }
    }

    /// The highest level a direct grant gives `caller` on the object.
    pub fn best_for(&self, kind: ObjectType, id: &str, caller: &Caller) -> Option<&'static str> {
        self.of(kind, id)
            .iter()
            .filter(|g| g.principal.covers(caller))
            .map(|g| g.level)
            .max_by_key(|l| kind.rank(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn requests_are_checked_against_the_type() {
        let ok = body(json!({"access_control_list": [
            {"user_name": "a@x.com", "permission_level": "CAN_VIEW"},
            {"service_principal_name": "abc", "permission_level": "CAN_MANAGE_RUN"},
        ]}));
        let grants = parse_request(&ok, ObjectType::Jobs).unwrap();
        assert_eq!(grants[1].principal, Principal::Service("abc".into()));
        let err = parse_request(&ok, ObjectType::Directories).unwrap_err();
        assert!(err.message.contains("CAN_VIEW"), "{}", err.message);
        for bad in [
            json!({"access_control_list": [{"permission_level": "CAN_VIEW"}]}),
            json!({"access_control_list": [{"user_name": "a", "group_name": "g", "permission_level": "CAN_VIEW"}]}),
            json!({"access_control_list": [{"user_name": "a"}]}),
            json!({"access_control_list": [{"user_name": "a", "permission_level": "CAN_VIEW", "x": 1}]}),
            json!({"acl": []}),
        ] {
            assert!(
                parse_request(&body(bad.clone()), ObjectType::Jobs).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn update_replaces_per_principal_and_set_replaces_all() {
        let mut grants = Grants::default();
        let g = |p: Principal, level| Grant {
            principal: p,
            level,
        };
        grants.update(
            ObjectType::Pipelines,
            "p",
            vec![g(Principal::User("a@x".into()), "CAN_VIEW")],
        );
        grants.update(
            ObjectType::Pipelines,
            "p",
            vec![g(Principal::User("A@x".into()), "CAN_RUN")],
        );
        assert_eq!(grants.of(ObjectType::Pipelines, "p").len(), 1);
        let a = Caller {
            name: "a@x".into(),
            groups: vec![],
        };
        assert_eq!(
            grants.best_for(ObjectType::Pipelines, "p", &a),
            Some("CAN_RUN")
        );
        grants.set(ObjectType::Pipelines, "p", vec![]);
        assert_eq!(grants.best_for(ObjectType::Pipelines, "p", &a), None);
        // Workspace types share ids: a directory's grants are found under the same id.
        grants.set(
            ObjectType::Directories,
            "7",
            vec![g(Principal::Group("users".into()), "CAN_READ")],
        );
        assert_eq!(
            grants.best_for(ObjectType::Files, "7", &a),
            Some("CAN_READ")
        );
    }
}
