//! The Unity Catalog model version `--serve model-serving` serves: registered the way MLflow's
//! client does it (`POST /api/2.0/mlflow/unity-catalog/model-versions/create`, the files
//! through the Files API under `/Models/<catalog>/<schema>/<model>/<version>/`, as MLflow's
//! `DatabricksSDKModelsArtifactRepository` writes them, `POST …/model-versions/finalize`),
//! the model created first when missing (public UC API).
//!
//! Each version records the sha256 of its binaries in a tag, so a rerun with the same
//! binaries reuses the served version instead of uploading ~50 MB again; a registration that
//! fails half-way is deleted, never left PENDING_REGISTRATION.

use super::package::ModelFile;
use super::rest::{self, Rest, Retry};
use crate::outcome::Failure;
use http::Method;
use serde_json::{Value, json};

/// The version tag holding `<file>:<sha256>` of each binary, comma-separated.
pub const BINARIES_TAG: &str = "sdp_agent_binaries";

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

/// The tag value for these model files: each binary (`data/…`) with its sha256.
pub fn binaries_digest(files: &[ModelFile]) -> String {
    files
        .iter()
        .filter(|f| f.path.starts_with("data/"))
        .map(|f| {
            format!(
                "{}:{}",
                &f.path["data/".len()..],
                rest::sha256_hex(&f.bytes)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The version of `model` the endpoint serves, if it serves one.
pub fn served(endpoint: &Value, model: &str) -> Option<String> {
    endpoint["config"]["served_entities"]
        .as_array()?
        .iter()
        .find(|e| {
            e["entity_name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(model))
        })
        .and_then(|e| e["entity_version"].as_str())
        .map(str::to_string)
}

/// `served`, when it is READY and holds exactly these binaries (its tag says so).
pub async fn reusable(
    rest: &Rest,
    model: &ModelName,
    served: Option<String>,
    files: &[ModelFile],
) -> Result<Option<String>, Failure> {
    let Some(version) = served else {
        return Ok(None);
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", &model.full_name())
        .append_pair("version", &version)
        .finish();
    let path = format!("/api/2.0/mlflow/unity-catalog/model-versions/get?{query}");
    let Some(answer) = rest.get_optional(&path).await? else {
        return Ok(None);
    };
    let info = &answer["model_version"];
    let digest = binaries_digest(files);
    let same = info["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == BINARIES_TAG && t["value"] == digest.as_str());
    Ok((same && info["status"] == "READY").then_some(version))
}

/// Registers `files` as a new version of `model` (the model created when missing) and
/// answers the version (`"<version>"` in a dry run). `source` says where the model comes
/// from.
pub async fn register(
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
        "tags": [{"key": BINARIES_TAG, "value": binaries_digest(&files)}],
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
    if let Err(failure) = upload_and_finalize(rest, model, &version, files).await {
        // Never leave a PENDING_REGISTRATION version behind: the next deploy makes a new one.
        let path = format!("/api/2.1/unity-catalog/models/{full_name}/versions/{version}");
        if let Err(e) = rest.delete(&path).await {
            tracing::warn!(%full_name, %version, error = %e.message(), "could not delete the unfinished model version");
        }
        return Err(failure);
    }
    Ok(version)
}

async fn upload_and_finalize(
    rest: &Rest,
    model: &ModelName,
    version: &str,
    files: Vec<ModelFile>,
) -> Result<(), Failure> {
    let base = format!(
        "/Models/{}/{}/{}/{version}",
        model.catalog, model.schema, model.name
    );
    for file in files {
        let path = rest::files_api_path(&format!("{base}/{}", file.path));
        rest.upload(&format!("{path}?overwrite=true"), file.bytes)
            .await?;
    }
    rest.write(
        Method::POST,
        "/api/2.0/mlflow/unity-catalog/model-versions/finalize",
        &json!({"name": model.full_name(), "version": version}),
        Retry::Safe,
    )
    .await
    .map(drop)
}
