//! `--serve model-serving`: the pyfunc model (`package.rs`) registered in Unity Catalog as a
//! new model version, served by a Model Serving endpoint named NAME (created, or its config
//! updated), whose environment names the workspace, the job and the credentials (secret
//! references: Model Serving's automatic auth does not cover Jobs).
//!
//! REST calls, in order: `GET`/`POST /api/2.1/unity-catalog/models` (public UC API); MLflow's
//! `POST /api/2.0/mlflow/unity-catalog/model-versions/create`, the files through the Files API
//! under `/Models/<catalog>/<schema>/<model>/<version>/` (what MLflow's
//! `DatabricksSDKModelsArtifactRepository` does), `POST …/model-versions/finalize`; then
//! `GET /api/2.0/serving-endpoints/{name}` and `POST /api/2.0/serving-endpoints` or
//! `PUT /api/2.0/serving-endpoints/{name}/config`, waited for.

use super::package::ModelFile;
use super::rest::{Rest, Retry};
use super::wait::{self, Step};
use crate::env::{
    CLAUDE_ENDPOINT_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV, HOST_ENV, JOB_ID_ENV, TOKEN_ENV,
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

/// `catalog.schema.model`.
pub struct ModelName {
    pub catalog: String,
    pub schema: String,
    pub name: String,
}

impl ModelName {
    pub fn new(catalog: &str, schema: &str, name: &str) -> Self {
        Self {
            catalog: catalog.to_string(),
            schema: schema.to_string(),
            name: name.to_string(),
        }
    }

    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

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
            "tags": [{"key": "sdp-agent", "value": env!("CARGO_PKG_VERSION")}],
        })
    }
}

/// Registers the model version and creates or updates the endpoint; answers deploy's
/// output fields for it.
pub async fn deploy(
    rest: &Rest,
    endpoint: Endpoint<'_>,
    source: &str,
    files: Vec<ModelFile>,
    wait: Duration,
) -> Result<Map<String, Value>, Failure> {
    let model = &endpoint.model;
    let version = register(rest, model, source, files).await?;
    let entity = endpoint.entity(&version);
    create_or_update(rest, &endpoint, entity, wait).await?;
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

/// Registers `files` as a new version of `model` (the model created when missing) and
/// answers the version (`"<version>"` in a dry run).
async fn register(
    rest: &Rest,
    model: &ModelName,
    source: &str,
    files: Vec<ModelFile>,
) -> Result<String, Failure> {
    let full_name = model.full_name();
    let info = format!("/api/2.1/unity-catalog/models/{full_name}");
    if rest.get_optional(&info).await?.is_none() {
        let body = json!({
            "catalog_name": model.catalog, "schema_name": model.schema, "name": model.name,
            "comment": "sdp-agent: request in words -> Spark Declarative Pipeline. Managed by `sdp-agent deploy`.",
        });
        rest.write(
            Method::POST,
            "/api/2.1/unity-catalog/models",
            &body,
            Retry::Never,
        )
        .await?;
    }
    let body = json!({
        "name": full_name,
        "source": source,
        "description": format!("sdp-agent {}", env!("CARGO_PKG_VERSION")),
    });
    let created = rest
        .write(
            Method::POST,
            "/api/2.0/mlflow/unity-catalog/model-versions/create",
            &body,
            Retry::Never,
        )
        .await?;
    let version = match created {
        None => "<version>".to_string(),
        Some(answer) => answer
            .pointer("/model_version/version")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_i64().map(|n| n.to_string()))
            })
            .ok_or_else(|| {
                Failure::Transport(format!(
                    "model-versions/create answered without a version: {answer}"
                ))
            })?,
    };
    let base = format!(
        "/api/2.0/fs/files/Models/{}/{}/{}/{version}",
        model.catalog, model.schema, model.name
    );
    for file in files {
        rest.upload(&format!("{base}/{}?overwrite=true", file.path), file.bytes)
            .await?;
    }
    rest.write(
        Method::POST,
        "/api/2.0/mlflow/unity-catalog/model-versions/finalize",
        &json!({"name": full_name, "version": version}),
        Retry::Safe,
    )
    .await?;
    Ok(version)
}

/// Creates the endpoint or updates its config, then waits until the config is in place.
async fn create_or_update(
    rest: &Rest,
    endpoint: &Endpoint<'_>,
    entity: Value,
    limit: Duration,
) -> Result<(), Failure> {
    let path = format!("/api/2.0/serving-endpoints/{}", endpoint.name);
    let written = match rest.get_optional(&path).await? {
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
        Some(_) => {
            let body = json!({"served_entities": [entity]});
            rest.write(Method::PUT, &format!("{path}/config"), &body, Retry::Safe)
                .await?
        }
    };
    match written {
        None => Ok(()), // dry run
        Some(first) => wait_for_config(rest, &path, first, Instant::now() + limit).await,
    }
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
