//! The Permissions API for the objects sdp-agent deploys and creates:
//! `GET/PUT/PATCH /api/2.0/permissions/{directories|files|notebooks|jobs|pipelines|serving-endpoints}/{id}`
//! with databricks-sdk's shapes (`AccessControlRequest` in, `ObjectPermissions` out). PUT
//! replaces an object's direct grants, PATCH adds or replaces one principal's; changing them
//! needs CAN_MANAGE. Workspace writes are checked here too: creating an item in a folder
//! needs CAN_MANAGE on it, overwriting an item CAN_EDIT (the documented folder and file
//! ACLs), otherwise 403 PERMISSION_DENIED.

mod acl;
mod entries;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::state::{SharedApp, State as Workspace};
use acl::{Grant, parse_request};
pub use acl::{Grants as PermissionsState, ObjectType, Principal};
use entries::{Entry, holds};

/// `GET /api/2.0/permissions/{type}/{id}`.
pub async fn get(
    State(app): State<SharedApp>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = object_type(&kind)?;
    let state = app.lock();
    let path = resolve(&state, kind, &id)?;
    Ok(Json(answer(&state, kind, &id, path.as_deref())))
}

/// `PUT /api/2.0/permissions/{type}/{id}`: the direct grants become the request's.
pub async fn set(
    State(app): State<SharedApp>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    change(&app, &caller, &kind, &id, &body, true)
}

/// `PATCH /api/2.0/permissions/{type}/{id}`: the request's grants are added (one per principal).
pub async fn update(
    State(app): State<SharedApp>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    change(&app, &caller, &kind, &id, &body, false)
}

fn change(
    app: &SharedApp,
    caller: &Caller,
    kind: &str,
    id: &str,
    body: &Map<String, Value>,
    replace: bool,
) -> ApiResult<Json<Value>> {
    let kind = object_type(kind)?;
    let grants = parse_request(body, kind)?;
    let mut state = app.lock();
    let path = resolve(&state, kind, id)?;
    let what = path
        .clone()
        .unwrap_or_else(|| format!("/{}/{id}", kind.segment()));
    if !holds(
        &entries::of_object(&state, kind, id, path.as_deref()),
        kind,
        caller,
        "CAN_MANAGE",
    ) {
        return Err(denied(
            caller,
            "CAN_MANAGE",
            &what,
            "changing its permissions",
        ));
    }
    if let Some(unknown) = grants
        .iter()
        .find(|g| !known_principal(app, &state, &g.principal))
    {
        return Err(ApiError::invalid(format!(
            "Principal {} {} does not exist in this workspace",
            unknown_kind(&unknown.principal),
            unknown.principal.name()
        )));
    }
    let (owners, grants): (Vec<Grant>, Vec<Grant>) =
        grants.into_iter().partition(|g| g.level == "IS_OWNER");
    let new_owner = match owners.as_slice() {
        [] => None,
        [
            Grant {
                principal: Principal::Group(_),
                ..
            },
        ] => {
            return Err(ApiError::invalid(
                "A group cannot be the owner of an object",
            ));
        }
        [one] => Some(one.principal.name().to_string()),
        _ => {
            return Err(ApiError::invalid(
                "An object has exactly one owner (IS_OWNER)",
            ));
        }
    };
    let acl = &mut state.permissions;
    if let Some(owner) = new_owner {
        acl.set_owner(kind, id, &owner);
    }
    if replace {
        acl.set(kind, id, grants);
    } else {
        acl.update(kind, id, grants);
    }
    Ok(Json(answer(&state, kind, id, path.as_deref())))
}

fn object_type(segment: &str) -> ApiResult<ObjectType> {
    ObjectType::parse(segment).ok_or_else(|| {
        ApiError::invalid(format!(
            "'{segment}' is not an object type of the Permissions API here \
             (directories, files, notebooks, jobs, pipelines, serving-endpoints)"
        ))
    })
}

/// Checks the object exists; a workspace object's canonical path.
fn resolve(state: &Workspace, kind: ObjectType, id: &str) -> ApiResult<Option<String>> {
    let missing = || ApiError::not_found(format!("{} {id} does not exist.", kind.singular()));
    let number = || id.parse::<i64>().map_err(|_| missing());
    match kind {
        ObjectType::Jobs => state
            .named_jobs
            .contains(number()?)
            .then_some(None)
            .ok_or_else(missing),
        ObjectType::Pipelines => state
            .pipelines
            .list
            .iter()
            .any(|p| p.id == id)
            .then_some(None)
            .ok_or_else(missing),
        ObjectType::ServingEndpoints => {
            state.serving.has_id(id).then_some(None).ok_or_else(missing)
        }
        _ => {
            let wanted = match kind {
                ObjectType::Directories => "DIRECTORY",
                ObjectType::Notebooks => "NOTEBOOK",
                _ => "FILE",
            };
            match state.workspace.find_by_id(number()?) {
                Some((path, found)) if found == wanted => Ok(Some(path)),
                _ => Err(missing()),
            }
        }
    }
}

fn unknown_kind(principal: &Principal) -> &'static str {
    match principal {
        Principal::User(_) => "user",
        Principal::Service(_) => "service principal",
        Principal::Group(_) => "group",
    }
}

/// Users and groups SCIM knows; service principals SCIM knows, OAuth clients and apps'.
pub(crate) fn known_principal(app: &SharedApp, state: &Workspace, principal: &Principal) -> bool {
    match principal {
        Principal::User(name) => state.scim.groups_of(name).is_some(),
        Principal::Group(name) => state.scim.has_group(name),
        Principal::Service(id) => {
            state.scim.groups_of(id).is_some()
                || app
                    .config
                    .oauth_clients
                    .iter()
                    .any(|(client, _)| client == id)
                || state.apps.service_principals().any(|sp| sp == id)
        }
    }
}

/// `ObjectPermissions`: one `AccessControlResponse` per principal with all its levels.
fn answer(state: &Workspace, kind: ObjectType, id: &str, path: Option<&str>) -> Value {
    let mut merged: Vec<(Principal, Vec<Value>)> = Vec::new();
    for Entry {
        principal,
        level,
        inherited_from,
    } in entries::of_object(state, kind, id, path)
    {
        let mut permission =
            json!({"permission_level": level, "inherited": inherited_from.is_some()});
        if let Some(from) = inherited_from {
            permission["inherited_from_object"] = json!([from]);
        }
        match merged.iter_mut().find(|(p, _)| *p == principal) {
            Some((_, all)) if !all.contains(&permission) => all.push(permission),
            Some(_) => {}
            None => merged.push((principal, vec![permission])),
        }
    }
    let list: Vec<Value> = merged
        .into_iter()
        .map(|(principal, all)| {
            let mut entry = principal.json();
            entry.insert("all_permissions".into(), Value::Array(all));
            Value::Object(entry)
        })
        .collect();
    json!({
        "object_id": format!("/{}/{id}", kind.segment()),
        "object_type": kind.singular(),
        "access_control_list": list,
    })
}

/// 403 PERMISSION_DENIED, as the workspace answers a missing grant.
pub fn denied(caller: &Caller, level: &str, what: &str, doing: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        format!(
            "{} does not have {level} permission on {what} ({doing} needs it)",
            caller.name
        ),
    )
}

/// Creating an item at canonical `path` needs CAN_MANAGE on the folder it goes in (the
/// nearest existing one: mkdirs creates the folders between).
pub fn check_create(state: &Workspace, caller: &Caller, path: &str) -> ApiResult<()> {
    let mut folder = crate::workspace::parent(path).to_string();
    while state.workspace.object_at(&folder).is_none() && folder != "/" {
        folder = crate::workspace::parent(&folder).to_string();
    }
    let entries = entries::of_workspace_path(state, &folder);
    if holds(&entries, ObjectType::Directories, caller, "CAN_MANAGE") {
        Ok(())
    } else {
        Err(denied(
            caller,
            "CAN_MANAGE",
            &format!("/Workspace{folder}"),
            &format!("creating /Workspace{path}"),
        ))
    }
}

/// Overwriting the existing item at canonical `path` needs CAN_EDIT on it.
pub fn check_edit(state: &Workspace, caller: &Caller, path: &str) -> ApiResult<()> {
    let entries = entries::of_workspace_path(state, path);
    if holds(&entries, ObjectType::Files, caller, "CAN_EDIT") {
        Ok(())
    } else {
        Err(denied(
            caller,
            "CAN_EDIT",
            &format!("/Workspace{path}"),
            "overwriting it",
        ))
    }
}

/// Whether `caller` may act on the object with at least `level` (e.g. CAN_MANAGE_RUN to
/// run a job).
pub fn allows(state: &Workspace, caller: &Caller, kind: ObjectType, id: &str, level: &str) -> bool {
    holds(
        &entries::of_object(state, kind, id, None),
        kind,
        caller,
        level,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Caller {
        Caller {
            name: name.to_string(),
            groups: Vec::new(),
        }
    }

    /// A workspace with the deployer's folder and a file in it.
    fn workspace() -> (Workspace, String) {
        let mut state = Workspace::default();
        state
            .workspace
            .put_file(&mut state.ids, "/Users/owner@x.com/app/a.py", "x");
        let (dir, _) = state.workspace.object_at("/Users/owner@x.com/app").unwrap();
        (state, dir.to_string())
    }

    #[test]
    fn creating_needs_manage_on_the_folder_and_overwriting_edit_on_the_item() {
        let (mut state, dir) = workspace();
        let other = user("other@x.com");
        let new = "/Users/owner@x.com/app/b.py";
        assert!(
            check_create(&state, &Caller::owner(), new).is_ok(),
            "admins manage everything"
        );
        assert!(
            check_create(&state, &user("owner@x.com"), new).is_ok(),
            "home folder"
        );
        assert!(
            check_create(&state, &other, "/Shared/x/y.py").is_ok(),
            "Shared is everyone's"
        );
        let err = check_create(&state, &other, new).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.error_code.as_str()),
            (403, "PERMISSION_DENIED")
        );
        assert!(check_edit(&state, &other, "/Users/owner@x.com/app/a.py").is_err());

        let grant = |level| Grant {
            principal: Principal::User("other@x.com".into()),
            level,
        };
        state
            .permissions
            .set(ObjectType::Directories, &dir, vec![grant("CAN_EDIT")]);
        assert!(
            check_edit(&state, &other, "/Users/owner@x.com/app/a.py").is_ok(),
            "inherited"
        );
        assert!(
            check_create(&state, &other, new).is_err(),
            "CAN_EDIT does not create"
        );
        state
            .permissions
            .set(ObjectType::Directories, &dir, vec![grant("CAN_MANAGE")]);
        assert!(check_create(&state, &other, "/Users/owner@x.com/app/deep/c.py").is_ok());
    }

    #[test]
    fn answers_list_inherited_and_direct_levels() {
        let (mut state, dir) = workspace();
        state
            .permissions
            .set_owner(ObjectType::Directories, &dir, "maker@x.com");
        state.permissions.set(
            ObjectType::Directories,
            &dir,
            vec![Grant {
                principal: Principal::Service("sp-1".into()),
                level: "CAN_READ",
            }],
        );
        let path = "/Users/owner@x.com/app";
        let out = answer(&state, ObjectType::Directories, &dir, Some(path));
        assert_eq!(out["object_id"], format!("/directories/{dir}"));
        assert_eq!(out["object_type"], "directory");
        let acl = out["access_control_list"].as_array().unwrap();
        let find = |key: &str, name: &str| {
            acl.iter()
                .find(|e| e[key] == name)
                .unwrap_or_else(|| panic!("{key}={name} in {out}"))
                .clone()
        };
        assert_eq!(
            find("group_name", "admins")["all_permissions"][0]["inherited"],
            true
        );
        assert_eq!(
            find("user_name", "owner@x.com")["all_permissions"][0]["inherited"],
            true
        );
        let maker = find("user_name", "maker@x.com");
        assert_eq!(
            maker["all_permissions"][0],
            json!({"permission_level": "CAN_MANAGE", "inherited": false})
        );
        let sp = find("service_principal_name", "sp-1");
        assert_eq!(sp["all_permissions"][0]["permission_level"], "CAN_READ");
    }
}
