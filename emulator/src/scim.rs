//! Identities (SCIM 2.0): `GET /api/2.0/preview/scim/v2/Me` answers who the bearer token
//! belongs to, with the groups it is a direct member of; `GET …/Users?filter=userName eq "…"`
//! finds a user by name, `GET …/ServicePrincipals?filter=applicationId eq "…"` a service
//! principal by application id. Every identity added here has a token of its own that the
//! whole workspace accepts, like a personal access token.
//!
//! The configured personal access token belongs to [`crate::USER_NAME`] (in `admins`); an
//! OAuth M2M token belongs to the service principal of its client, whose `userName` is the
//! client (application) id, as on Databricks.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::body::Params;
use crate::identity::Caller;
use crate::ids::Ids;
use crate::state::SharedApp;

pub const ME_PATH: &str = "/api/2.0/preview/scim/v2/Me";
pub const USERS_PATH: &str = "/api/2.0/preview/scim/v2/Users";
pub const SERVICE_PRINCIPALS_PATH: &str = "/api/2.0/preview/scim/v2/ServicePrincipals";

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SERVICE_PRINCIPAL_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
const WORKSPACE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:workspace:2.0:User";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A workspace identity as a test declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceUser {
    /// The SCIM `userName`: an e-mail address for a person, the application id for a
    /// service principal.
    pub user_name: String,
    pub display_name: String,
    /// Display names of the groups it is a direct member of.
    pub groups: Vec<String>,
    /// A service principal (listed by `ServicePrincipals`, not `Users`); its `user_name` is
    /// its application id.
    pub service_principal: bool,
}

impl WorkspaceUser {
    /// A user in no group, displayed by the part of its name before `@`.
    pub fn new(user_name: &str) -> Self {
        let display = user_name.split('@').next().unwrap_or(user_name);
        Self {
            user_name: user_name.to_string(),
            display_name: display.to_string(),
            groups: Vec::new(),
            service_principal: false,
        }
    }

    /// A service principal named by its application id (a UUID), in no group.
    pub fn service_principal(application_id: &str, display_name: &str) -> Self {
        Self {
            user_name: application_id.to_string(),
            display_name: display_name.to_string(),
            groups: Vec::new(),
            service_principal: true,
        }
    }

    /// The same user, member of `groups`.
    pub fn in_groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }
}

/// A user with the ids the workspace gave it.
#[derive(Debug)]
struct Record {
    id: String,
    user: WorkspaceUser,
}

#[derive(Debug, Default)]
pub struct ScimState {
    users: Vec<Record>,
    /// Bearer token -> index in `users`.
    tokens: HashMap<String, usize>,
    /// Group display name -> group id, assigned on first use.
    groups: BTreeMap<String, String>,
}

impl ScimState {
    /// Adds `user` (or replaces the user of the same name, keeping its id); its index.
    pub fn add_user(&mut self, ids: &mut Ids, user: WorkspaceUser) -> usize {
        for group in &user.groups {
            if !self.groups.contains_key(group) {
                self.groups
                    .insert(group.clone(), ids.object_id().to_string());
            }
        }
        match self.index_of(&user.user_name) {
            Some(index) => {
                self.users[index].user = user;
                index
            }
            None => {
                self.users.push(Record {
                    id: ids.object_id().to_string(),
                    user,
                });
                self.users.len() - 1
            }
        }
    }

    /// [`Self::add_user`], and lets `token` act as that user.
    pub fn add(&mut self, ids: &mut Ids, token: &str, user: WorkspaceUser) {
        let index = self.add_user(ids, user);
        self.tokens.insert(token.to_string(), index);
    }

    /// Whether `token` belongs to a user added here.
    pub fn knows(&self, token: &str) -> bool {
        self.tokens.contains_key(token)
    }

    /// The user `token` belongs to, as a request's identity.
    pub fn caller_of_token(&self, token: &str) -> Option<Caller> {
        let record = &self.users[*self.tokens.get(token)?];
        Some(Caller {
            name: record.user.user_name.clone(),
            groups: record.user.groups.clone(),
        })
    }

    /// The groups of the identity named `name`, when it is known here.
    pub fn groups_of(&self, name: &str) -> Option<Vec<String>> {
        self.index_of(name)
            .map(|i| self.users[i].user.groups.clone())
    }

    /// Whether a group of that display name exists (`users` and `admins` always do).
    pub fn has_group(&self, name: &str) -> bool {
        [crate::identity::USERS, crate::identity::ADMINS]
            .iter()
            .chain(
                self.groups
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .any(|g| g.eq_ignore_ascii_case(name))
    }

    fn index_of(&self, user_name: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|r| r.user.user_name.eq_ignore_ascii_case(user_name))
    }

    fn group_refs(&self, user: &WorkspaceUser) -> Vec<Value> {
        user.groups
            .iter()
            .map(|name| {
                let id = self.groups.get(name).cloned().unwrap_or_default();
                json!({"display": name, "type": "direct", "value": id, "$ref": format!("Groups/{id}")})
            })
            .collect()
    }

    /// The SCIM `ServicePrincipal` resource.
    fn principal_resource(&self, record: &Record) -> Value {
        let principal = &record.user;
        json!({
            "schemas": [SERVICE_PRINCIPAL_SCHEMA],
            "id": record.id,
            "applicationId": principal.user_name,
            "displayName": principal.display_name,
            "active": true,
            "groups": self.group_refs(principal),
        })
    }

    /// The SCIM `User` resource (also what `Me` answers for a service principal).
    fn resource(&self, record: &Record) -> Value {
        let user = &record.user;
        let groups = self.group_refs(user);
        let mut resource = json!({
            "schemas": [USER_SCHEMA, WORKSPACE_USER_SCHEMA],
            "id": record.id,
            "userName": user.user_name,
            "displayName": user.display_name,
            "active": true,
            "groups": groups,
        });
        if user.user_name.contains('@') {
            resource["emails"] =
                json!([{"type": "work", "value": user.user_name, "primary": true}]);
        }
        resource
    }
}

/// `GET /api/2.0/preview/scim/v2/Me`: the identity of the bearer token (the gate has already
/// refused unknown and expired tokens).
pub async fn me(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let mut state = app.lock();
    let state = &mut *state;
    let by_token = token.and_then(|t| state.scim.tokens.get(t).copied());
    let index = match (by_token, token.and_then(|t| state.oauth.subject_of(t))) {
        (Some(index), _) => index,
        // An OAuth token's subject: a user added before, or the service principal of an M2M
        // client, known to the workspace from its first token on.
        (None, Some(subject)) => match state.scim.index_of(&subject) {
            Some(index) => index,
            None => state.scim.add_user(
                &mut state.ids,
                WorkspaceUser::service_principal(&subject, &subject),
            ),
        },
        // The personal access token, or any request when auth is off.
        (None, None) => match state.scim.index_of(crate::USER_NAME) {
            Some(index) => index,
            None => return scim_error(StatusCode::NOT_FOUND, "User not found."),
        },
    };
    Json(state.scim.resource(&state.scim.users[index])).into_response()
}

/// `GET /api/2.0/preview/scim/v2/Users[?filter=userName eq "NAME"]`.
pub async fn list_users(State(app): State<SharedApp>, params: Params) -> Response {
    let wanted = match params.get("filter").map(|f| parse_filter(f, "userName")) {
        None => None,
        Some(Ok(name)) => Some(name),
        Some(Err(message)) => return scim_error(StatusCode::BAD_REQUEST, &message),
    };
    let state = app.lock();
    let found: Vec<Value> = state
        .scim
        .users
        .iter()
        .filter(|r| !r.user.service_principal)
        .filter(|r| {
            wanted
                .as_deref()
                .is_none_or(|name| r.user.user_name.eq_ignore_ascii_case(name))
        })
        .map(|r| state.scim.resource(r))
        .collect();
    list_response(found)
}

/// `GET /api/2.0/preview/scim/v2/ServicePrincipals[?filter=applicationId eq "ID"]`.
pub async fn list_service_principals(State(app): State<SharedApp>, params: Params) -> Response {
    let wanted = match params
        .get("filter")
        .map(|f| parse_filter(f, "applicationId"))
    {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(message)) => return scim_error(StatusCode::BAD_REQUEST, &message),
    };
    let state = app.lock();
    let found: Vec<Value> = state
        .scim
        .users
        .iter()
        .filter(|r| r.user.service_principal)
        .filter(|r| {
            wanted
                .as_deref()
                .is_none_or(|id| r.user.user_name.eq_ignore_ascii_case(id))
        })
        .map(|r| state.scim.principal_resource(r))
        .collect();
    list_response(found)
}

fn list_response(found: Vec<Value>) -> Response {
    Json(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": found.len(),
        "startIndex": 1,
        "itemsPerPage": found.len(),
        "Resources": found,
    }))
    .into_response()
}

/// The one filter this emulator understands: `ATTRIBUTE eq "VALUE"` on the one attribute
/// that names the resource (attribute and operator case-insensitive, as SCIM says).
fn parse_filter(filter: &str, named_by: &str) -> Result<String, String> {
    let unsupported =
        || format!("Unsupported filter: {filter}. Supported: {named_by} eq \"VALUE\"");
    let mut words = filter.trim().splitn(3, ' ');
    let (Some(attribute), Some(operator), Some(value)) = (words.next(), words.next(), words.next())
    else {
        return Err(unsupported());
    };
    if !attribute.eq_ignore_ascii_case(named_by) || !operator.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let value = value.trim();
    match value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|v| !v.contains('"'))
    {
        Some(name) => Ok(name.to_string()),
        None => Err(unsupported()),
    }
}

/// SCIM routes answer errors in SCIM's own shape (RFC 7644 §3.12).
fn scim_error(status: StatusCode, detail: &str) -> Response {
    let body = json!({"schemas": [ERROR_SCHEMA], "detail": detail, "status": status.as_str()});
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(
            parse_filter(r#"userName eq "a@b.com""#, "userName").unwrap(),
            "a@b.com"
        );
        assert_eq!(
            parse_filter(r#"USERNAME EQ "a b""#, "userName").unwrap(),
            "a b",
            "case-insensitive attribute and operator"
        );
        for bad in [
            "",
            "userName",
            r#"displayName eq "x""#,
            r#"userName co "x""#,
            "userName eq x",
            r#"userName eq "a" or userName eq "b""#,
        ] {
            assert!(parse_filter(bad, "userName").is_err(), "{bad}");
        }
    }

    #[test]
    fn users_keep_their_ids_and_groups_share_theirs() {
        let mut ids = Ids::default();
        let mut scim = ScimState::default();
        scim.add(
            &mut ids,
            "t1",
            WorkspaceUser::new("a@x.com").in_groups(&["data"]),
        );
        scim.add(
            &mut ids,
            "t2",
            WorkspaceUser::new("b@x.com").in_groups(&["data", "ops"]),
        );
        let by_token = |scim: &ScimState, t: &str| scim.resource(&scim.users[scim.tokens[t]]);
        let a = by_token(&scim, "t1");
        let b = by_token(&scim, "t2");
        assert_ne!(a["id"], b["id"]);
        assert_eq!(a["groups"][0]["value"], b["groups"][0]["value"]);
        assert_eq!(b["groups"][1]["display"], "ops");
        assert_eq!(a["emails"][0]["value"], "a@x.com");
        // Re-adding a user under another token keeps its id; both tokens act as it.
        scim.add(&mut ids, "t3", WorkspaceUser::new("A@x.com"));
        assert_eq!(by_token(&scim, "t3")["id"], a["id"]);
        assert!(scim.knows("t1") && scim.knows("t3") && !scim.knows("t4"));
        assert_eq!(
            parse_filter(r#"applicationId eq "9f0c""#, "applicationId").unwrap(),
            "9f0c"
        );
    }

    #[test]
    fn service_principals_are_their_own_resource() {
        let mut ids = Ids::default();
        let mut scim = ScimState::default();
        let sp = WorkspaceUser::service_principal("9f0c1a52", "etl-bot").in_groups(&["data-eng"]);
        scim.add(&mut ids, "t-sp", sp);
        let record = &scim.users[scim.tokens["t-sp"]];
        let resource = scim.principal_resource(record);
        assert_eq!(resource["applicationId"], "9f0c1a52");
        assert_eq!(resource["displayName"], "etl-bot");
        assert_eq!(resource["groups"][0]["display"], "data-eng");
        assert_eq!(resource["schemas"][0], SERVICE_PRINCIPAL_SCHEMA);
    }
}
