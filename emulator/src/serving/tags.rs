//! An endpoint's tags: `PATCH /api/2.0/serving-endpoints/{name}/tags`, which adds and deletes
//! tags in one call (creating an endpoint sets its first tags).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fields::{item_obj, known_keys, opt_array, opt_str, req_str};
use crate::state::SharedApp;

/// `PATCH /api/2.0/serving-endpoints/{name}/tags` (body: `add_tags` [{key, value}],
/// `delete_tags` [key]): answers the endpoint's tags (`EndpointTags`).
pub async fn patch_tags(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, &["add_tags", "delete_tags"], "")?;
    let mut added = Vec::new();
    for (i, tag) in opt_array(&body, "add_tags", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("add_tags[{i}]");
        let tag = item_obj(tag, &ctx)?;
        known_keys(tag, &["key", "value"], &ctx)?;
        req_str(tag, "key", &ctx)?;
        opt_str(tag, "value", &ctx)?;
        added.push(Value::Object(tag.clone()));
    }
    let mut deleted = Vec::new();
    for (i, key) in opt_array(&body, "delete_tags", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let key = key.as_str().ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid value for field 'delete_tags[{i}]': expected a string"
            ))
        })?;
        deleted.push(key.to_string());
    }
    let mut state = app.lock();
    let endpoint = state.serving.get_mut(&name)?;
    let mut tags: Vec<Value> = endpoint
        .detail
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    tags.retain(|t| {
        let key = t["key"].as_str().unwrap_or_default();
        !deleted.iter().any(|d| d == key) && !added.iter().any(|a| a["key"] == key)
    });
    tags.extend(added);
    endpoint
        .detail
        .insert("tags".into(), Value::Array(tags.clone()));
    Ok(Json(json!({"tags": tags})))
}
