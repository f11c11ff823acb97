//! `--serve model-serving`: the pyfunc model (`package.rs`) registered in Unity Catalog as a
//! model version (`model_version.rs`), served by a Model Serving endpoint named NAME (created,
//! or its config updated), whose environment names the workspace, the job and the credentials
//! (secret references: Model Serving's automatic auth does not cover Jobs).
//!
//! A rerun is safe: an update still in progress is waited for (Model Serving refuses a second
//! one), the served version is reused when it holds the same binaries, and a config that
//! would not change is not sent again. REST calls: `GET /api/2.0/serving-endpoints/{name}`
//! (read by `ownership::survey`), then `POST /api/2.0/serving-endpoints` or
//! `PUT /api/2.0/serving-endpoints/{name}/config`, waited for.

use super::model_version::{self, ModelName};
use super::ownership::{self, TAG_KEY};
use super::package::ModelFile;
use super::rest::{Rest, Retry};
use super::wait::{self, Step};
use crate::env::{
    CLAUDE_ENDPOINT_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV, HOST_ENV, JOB_ID_ENV, POLICY_ENV,
    STAGING_DIR_ENV, TOKEN_ENV,
};
use crate::outcome::Failure;
use http::Method;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// Keys `deploy` reads from the secret scope: an OAuth M2M service principal (preferred) or a
/// token, whichever the scope holds.
pub const CLIENT_ID_KEY: &str = "client-id";
pub const CLIENT_SECRET_KEY: &str = "client-secret";
pub const TOKEN_KEY: &str = "token";

/// What `deploy` serves and where.
pub struct Endpoint<'a> {
    pub name: &'a str,
    pub model: ModelName,
    pub workspace_url: &'a str,
    /// The job id, or what stands for it.
    pub job: String,
    pub claude_endpoint: &'a str,
    pub secret_scope: &'a str,
    /// `environment_vars` entries from `credential_vars`.
    pub credentials: Map<String, Value>,
    /// The deployment's staging folder, for payloads too large for a job parameter.
    pub staging_dir: &'a str,
    /// The deployment's policy, which predict enforces early (`SDP_AGENT_POLICY`).
    pub policy: &'a Value,
}

impl Endpoint<'_> {
    /// The served entity (`serving.ServedEntityInput`) for `version` of the model: the
    /// workspace, the credentials, the job and the model that fills in config.
    pub fn entity(&self, version: &str) -> Value {
        let mut env = Map::new();
        env.insert(HOST_ENV.into(), json!(self.workspace_url));
        env.extend(self.credentials.clone());
        env.insert(JOB_ID_ENV.into(), json!(self.job));
        env.insert(CLAUDE_ENDPOINT_ENV.into(), json!(self.claude_endpoint));
        env.insert(STAGING_DIR_ENV.into(), json!(self.staging_dir));
        env.insert(POLICY_ENV.into(), json!(self.policy.to_string()));
        json!({
            "name": "sdp-agent",
            "entity_name": self.model.full_name(),
            "entity_version": version,
            "workload_size": "Small",
            "scale_to_zero_enabled": true,
            "environment_vars": env,
        })
    }

    /// The create body (`POST /api/2.0/serving-endpoints`, and a bundle's endpoint resource).
    pub fn create_body(&self, entity: Value) -> Value {
        json!({
            "name": self.name,
            "config": {"served_entities": [entity]},
            "tags": [{"key": TAG_KEY, "value": env!("CARGO_PKG_VERSION")}],
        })
    }
}

/// Registers the model version (or reuses the served one when it holds these very binaries)
/// and creates or updates the endpoint; answers deploy's output fields for it. `found` is the
/// endpoint as read before (`ownership::survey`): ours, or adopted.
pub async fn deploy(
    rest: &Rest,
    endpoint: Endpoint<'_>,
    found: Option<Value>,
    release_folder: &str,
    files: Vec<ModelFile>,
    wait: Duration,
) -> Result<Map<String, Value>, Failure> {
    let path = format!("/api/2.0/serving-endpoints/{}", endpoint.name);
    let deadline = Instant::now() + wait;
    // Model Serving refuses a config update while one is in progress (an earlier deploy that
    // timed out, say): wait for it first, then look at what it serves.
    let found = match found {
        Some(seen) if wait::text(&seen, "/state/config_update") == "IN_PROGRESS" => {
            Some(settled(rest, &path, seen, deadline).await?)
        }
        other => other,
    };
    let model = &endpoint.model;
    let served = found
        .as_ref()
        .and_then(|e| model_version::served(e, &model.full_name()));
    let version = match model_version::reusable(rest, model, served, &files).await? {
        Some(version) => version,
        None => {
            // A version's `source` is where its MLflow model can be read (MLflow's client
            // downloads from it): the whole model directory, put beside the release binaries.
            let model_dir = format!("{release_folder}/model");
            for file in &files {
                let path = super::rest::files_api_path(&format!("{model_dir}/{}", file.path));
                rest.upload(&format!("{path}?overwrite=true"), file.bytes.clone())
                    .await?;
            }
            model_version::register(rest, model, &model_dir, files).await?
        }
    };
    let entity = endpoint.entity(&version);
    create_or_update(rest, &endpoint, found, entity, deadline).await?;
    let url = endpoint.workspace_url.trim_end_matches('/');
    let mut out = Map::new();
    out.insert("endpoint_name".into(), json!(endpoint.name));
    out.insert(
        "endpoint_url".into(),
        json!(format!(
            "{url}/serving-endpoints/{}/invocations",
            endpoint.name
        )),
    );
    out.insert("model_name".into(), json!(model.full_name()));
    out.insert("model_version".into(), json!(version));
    out.insert("secret_scope".into(), json!(endpoint.secret_scope));
    Ok(out)
}

/// The endpoint's `environment_vars` credentials, from what the scope holds: secret
/// references, never values (`deploy` cannot read them, only their names).
pub async fn credential_vars(rest: &Rest, scope: &str) -> Result<Map<String, Value>, Failure> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("scope", scope)
        .finish();
    let listed = rest
        .get_optional(&format!("/api/2.0/secrets/list?{query}"))
        .await?
        .ok_or_else(|| missing_secrets(scope, "the scope does not exist"))?;
    let keys: Vec<&str> = listed["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["key"].as_str())
        .collect();
    credential_refs(scope, &keys)
}

/// The `environment_vars` credentials for a scope holding `keys`: a service principal's
/// client id and secret when it holds both, else a token.
pub fn credential_refs(scope: &str, keys: &[&str]) -> Result<Map<String, Value>, Failure> {
    let reference = |key: &str| json!(format!("{{{{secrets/{scope}/{key}}}}}"));
    let mut vars = Map::new();
    if keys.contains(&CLIENT_ID_KEY) && keys.contains(&CLIENT_SECRET_KEY) {
        vars.insert(CLIENT_ID_ENV.into(), reference(CLIENT_ID_KEY));
        vars.insert(CLIENT_SECRET_ENV.into(), reference(CLIENT_SECRET_KEY));
    } else if keys.contains(&TOKEN_KEY) {
        vars.insert(TOKEN_ENV.into(), reference(TOKEN_KEY));
    } else {
        return Err(missing_secrets(scope, &format!("it holds {keys:?}")));
    }
    Ok(vars)
}

fn missing_secrets(scope: &str, why: &str) -> Failure {
    Failure::invalid_field(
        "--secret-scope",
        format!(
            "secret scope `{scope}` must hold `{CLIENT_ID_KEY}` and `{CLIENT_SECRET_KEY}` (a service principal with CAN_MANAGE_RUN on the job) or `{TOKEN_KEY}`, but {why}: create them with `databricks secrets put-secret {scope} {CLIENT_ID_KEY}` …"
        ),
    )
}

/// Creates the endpoint or updates its config (unless it already serves `entity` as is),
/// tags an adopted one as deploy's, then waits until the config is in place.
async fn create_or_update(
    rest: &Rest,
    endpoint: &Endpoint<'_>,
    found: Option<Value>,
    entity: Value,
    deadline: Instant,
) -> Result<(), Failure> {
    let path = format!("/api/2.0/serving-endpoints/{}", endpoint.name);
    let written = match &found {
        None => {
            let body = endpoint.create_body(entity);
            rest.write(
                Method::POST,
                "/api/2.0/serving-endpoints",
                &body,
                Retry::Never,
            )
            .await?
        }
        Some(current) => {
            if !ownership::endpoint_is_ours(current) {
                let tag =
                    json!({"add_tags": [{"key": TAG_KEY, "value": env!("CARGO_PKG_VERSION")}]});
                rest.write(Method::PATCH, &format!("{path}/tags"), &tag, Retry::Safe)
                    .await?;
            }
            if serves(current, &entity) {
                return Ok(());
            }
            let body = json!({"served_entities": [entity]});
            rest.write(Method::PUT, &format!("{path}/config"), &body, Retry::Safe)
                .await?
        }
    };
    match written {
        None => Ok(()), // dry run
        Some(first) => wait_for_config(rest, &path, first, deadline).await,
    }
}

/// Whether the endpoint's one served entity is already `entity` (same model version and
/// settings): then a config update would change nothing.
fn serves(endpoint: &Value, entity: &Value) -> bool {
    let served = endpoint["config"]["served_entities"].as_array();
    let [current] = served.map(Vec::as_slice).unwrap_or_default() else {
        return false;
    };
    [
        "entity_name",
        "entity_version",
        "workload_size",
        "scale_to_zero_enabled",
        "environment_vars",
    ]
    .iter()
    .all(|k| current[k] == entity[k])
}

/// Waits until a config update in progress is over, whatever its outcome; answers the
/// endpoint as last read.
async fn settled(
    rest: &Rest,
    path: &str,
    first: Value,
    deadline: Instant,
) -> Result<Value, Failure> {
    wait::until(
        rest,
        path,
        Some(first),
        deadline,
        "the serving endpoint's config update in progress",
        |endpoint| match wait::text(endpoint, "/state/config_update") {
            "IN_PROGRESS" => Step::Pending {
                state: "IN_PROGRESS".to_string(),
                post: None,
            },
            _ => Step::Done,
        },
    )
    .await
}

/// Waits until `config_update` is NOT_UPDATING; an UPDATE_FAILED is an error.
async fn wait_for_config(
    rest: &Rest,
    path: &str,
    first: Value,
    deadline: Instant,
) -> Result<(), Failure> {
    let what = "the serving endpoint's config update";
    wait::until(
        rest,
        path,
        Some(first),
        deadline,
        what,
        |endpoint| match wait::text(endpoint, "/state/config_update") {
            "NOT_UPDATING" => Step::Done,
            state @ ("UPDATE_FAILED" | "UPDATE_CANCELED") => Step::Failed(format!(
                "{what} ended {state}: see its events in the workspace"
            )),
            state => Step::Pending {
                state: state.to_string(),
                post: None,
            },
        },
    )
    .await
    .map(drop)
}
