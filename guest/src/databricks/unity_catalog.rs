//! Unity Catalog: the workspace's default catalog, for when nobody named one.

use super::client::WorkspaceClient;
use serde_json::Value;

/// `default_catalog_name` of the workspace's metastore assignment; None when it cannot be read
/// (no metastore, no permission), since the model can still be asked without it.
pub async fn default_catalog(ws: &WorkspaceClient) -> Option<String> {
    match ws
        .get("/api/2.1/unity-catalog/current-metastore-assignment")
        .await
    {
        Ok(answer) => answer
            .get("default_catalog_name")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .map(str::to_string),
        Err(e) => {
            eprintln!("sdp-agent: no default catalog ({e})");
            None
        }
    }
}
