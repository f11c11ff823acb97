//! Model Serving endpoints for custom models: create, get and update-config under
//! `/api/2.0/serving-endpoints`. A served entity must name a READY model version in Unity
//! Catalog, and every `{{secrets/<scope>/<key>}}` reference in its `environment_vars` must
//! exist. A new config is pending (`config_update: IN_PROGRESS`) until the endpoint has been
//! read once more; another update meanwhile is refused, as on Databricks. Nothing is served:
//! tests run the model themselves (`mlflow models serve`).

mod tags;

use std::collections::BTreeMap;

pub use tags::patch_tags;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fields::{
    field, item_obj, known_keys, opt_array, opt_bool, opt_enum, opt_obj, opt_str, opt_str_map,
    req_str,
};
use crate::identity::Caller;
use crate::ids::now_ms;
use crate::permissions::ObjectType;
use crate::state::{SharedApp, State as Workspace};

/// The fields of `serving.CreateServingEndpoint`.
const CREATE_KEYS: &[&str] = &[
    "name",
    "config",
    "ai_gateway",
    "budget_policy_id",
    "description",
    "email_notifications",
    "rate_limits",
    "route_optimized",
    "tags",
    "telemetry_config",
];
/// The fields of `serving.EndpointCoreConfigInput` (also the body of update-config).
const CONFIG_KEYS: &[&str] = &[
    "served_entities",
    "served_models",
    "traffic_config",
    "auto_capture_config",
];
/// The fields of `serving.ServedEntityInput`.
const ENTITY_KEYS: &[&str] = &[
    "burst_scaling_enabled",
    "entity_name",
    "entity_version",
    "environment_vars",
    "external_model",
    "instance_profile_arn",
    "max_provisioned_concurrency",
    "max_provisioned_throughput",
    "min_provisioned_concurrency",
    "min_provisioned_throughput",
    "name",
    "provisioned_model_units",
    "scale_to_zero_enabled",
    "workload_size",
    "workload_type",
];

#[derive(Debug)]
struct Endpoint {
    detail: Map<String, Value>,
    /// Applied on the next read after it was answered once.
    pending: Option<Map<String, Value>>,
    /// Reads that still answer the pending config IN_PROGRESS (a test's hold).
    held_reads: u32,
    config_version: u64,
}

impl Endpoint {
    fn id(&self) -> Option<&str> {
        self.detail.get("id").and_then(Value::as_str)
    }

    fn json(&self) -> Value {
        let mut out = self.detail.clone();
        let updating = self.pending.is_some();
        let ready = out.contains_key("config");
        out.insert(
            "state".into(),
            json!({
                "ready": if ready { "READY" } else { "NOT_READY" },
                "config_update": if updating { "IN_PROGRESS" } else { "NOT_UPDATING" },
            }),
        );
        if let Some(p) = &self.pending {
            out.insert("pending_config".into(), Value::Object(p.clone()));
        }
        Value::Object(out)
    }
}

#[derive(Debug, Default)]
pub struct ServingState {
    endpoints: BTreeMap<String, Endpoint>,
}

impl ServingState {
    /// Every endpoint as GET answers it.
    pub fn all(&self) -> Vec<Value> {
        self.endpoints.values().map(Endpoint::json).collect()
    }

    /// Holds the endpoint's pending config for `reads` more reads (false: none is pending).
    pub fn hold_update(&mut self, name: &str, reads: u32) -> bool {
        match self.endpoints.get_mut(name) {
            Some(e) if e.pending.is_some() => {
                e.held_reads = reads;
                true
            }
            _ => false,
        }
    }

    /// Adds an endpoint `creator` made, its config already applied (no validation: a test's
    /// seed).
    pub(crate) fn seed(&mut self, id: String, body: Map<String, Value>, creator: &str) {
        let name = body["name"].as_str().unwrap_or_default().to_string();
        let mut detail = body;
        detail.insert("id".into(), json!(id));
        detail.insert("creator".into(), json!(creator));
        detail.insert("creation_timestamp".into(), json!(now_ms()));
        self.endpoints.insert(
            name,
            Endpoint {
                detail,
                pending: None,
                held_reads: 0,
                config_version: 1,
            },
        );
    }

    /// Whether an endpoint has this `id` (what the Permissions API names endpoints by).
    pub fn has_id(&self, id: &str) -> bool {
        self.endpoints.values().any(|e| e.id() == Some(id))
    }

    /// The endpoint named `name`, or the API's answer that there is none.
    fn get_mut(&mut self, name: &str) -> ApiResult<&mut Endpoint> {
        self.endpoints
            .get_mut(name)
            .ok_or_else(|| no_endpoint(name))
    }
}

fn no_endpoint(name: &str) -> ApiError {
    ApiError::not_found(format!("Endpoint with name '{name}' does not exist."))
}

/// Endpoint names: letters, digits, `-` and `_`, at most 63.
fn check_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid endpoint name '{name}': use at most 63 letters, digits, '-' and '_'"
        )))
    }
}

/// `{{secrets/<scope>/<key>}}` → (scope, key); None for a plain value.
fn secret_reference(value: &str) -> Option<(&str, &str)> {
    let inner = value.strip_prefix("{{secrets/")?.strip_suffix("}}")?;
    inner.split_once('/')
}

/// Validates one served entity and answers it as the endpoint reports it (ServedEntityOutput).
fn served_entity(entity: &Map<String, Value>, ctx: &str, state: &Workspace) -> ApiResult<Value> {
    known_keys(entity, ENTITY_KEYS, ctx)?;
    if entity.contains_key("external_model") {
        return Err(ApiError::invalid(format!(
            "{ctx}.external_model: external models are not served by this workspace"
        )));
    }
    let model = req_str(entity, "entity_name", ctx)?;
    let version = req_str(entity, "entity_version", ctx)?;
    match state.models.version_status(model, version).as_deref() {
        Some("READY") => {}
        Some(status) => {
            return Err(ApiError::invalid(format!(
                "{ctx}: model version {model}/{version} is {status}, not READY"
            )));
        }
        None => {
            return Err(ApiError::not_found(format!(
                "{ctx}: model version {model}/{version} does not exist"
            )));
        }
    }
    req_str(entity, "workload_size", ctx)?;
    opt_enum(entity, "workload_size", ctx, &["Small", "Medium", "Large"])?;
    opt_bool(entity, "scale_to_zero_enabled", ctx)?;
    opt_str(entity, "name", ctx)?;
    opt_enum(
        entity,
        "workload_type",
        ctx,
        &[
            "CPU",
            "GPU_SMALL",
            "GPU_MEDIUM",
            "GPU_LARGE",
            "MULTIGPU_MEDIUM",
        ],
    )?;
    opt_str_map(entity, "environment_vars", ctx)?;
    for (key, value) in opt_obj(entity, "environment_vars", ctx)?
        .into_iter()
        .flatten()
    {
        let text = value.as_str().unwrap_or_default();
        if let Some((scope, secret)) = secret_reference(text)
            && !state.secrets.exists(scope, secret)
        {
            return Err(ApiError::invalid(format!(
                "{ctx}.environment_vars.{key}: secret '{secret}' does not exist in scope '{scope}'"
            )));
        }
    }
    let mut out = entity.clone();
    let short = model.rsplit('.').next().unwrap_or(model);
    out.entry("name")
        .or_insert_with(|| json!(format!("{short}-{version}")));
    out.insert("creator".into(), json!(crate::USER_NAME));
    out.insert("creation_timestamp".into(), json!(now_ms()));
    out.insert(
        "state".into(),
        json!({"deployment": "DEPLOYMENT_READY", "deployment_state_message": ""}),
    );
    Ok(Value::Object(out))
}

/// Validates an EndpointCoreConfigInput (at `ctx`: "config", or "" for update-config) and
/// answers the config it becomes.
fn config(
    body: &Map<String, Value>,
    ctx: &str,
    state: &Workspace,
) -> ApiResult<Map<String, Value>> {
    known_keys(body, CONFIG_KEYS, ctx)?;
    if body.contains_key("served_models") {
        return Err(ApiError::invalid(format!(
            "{} is deprecated here: use served_entities",
            field(ctx, "served_models")
        )));
    }
    let entities = opt_array(body, "served_entities", ctx)?
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Missing required field: {}",
                field(ctx, "served_entities")
            ))
        })?;
    let mut served = Vec::new();
    for (i, e) in entities.iter().enumerate() {
        let ctx = format!("{}[{i}]", field(ctx, "served_entities"));
        served.push(served_entity(item_obj(e, &ctx)?, &ctx, state)?);
    }
    let names: Vec<&str> = served.iter().filter_map(|e| e["name"].as_str()).collect();
    if let Some((_, dup)) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
    {
        return Err(ApiError::invalid(format!(
            "Served entity name '{dup}' is not unique"
        )));
    }
    let traffic = match opt_obj(body, "traffic_config", ctx)? {
        Some(t) => Value::Object(t.clone()),
        // One entity takes all traffic by default.
        None if served.len() == 1 => {
            json!({"routes": [{"served_entity_name": names[0], "traffic_percentage": 100}]})
        }
        None => {
            return Err(ApiError::invalid(format!(
                "Missing required field: {} (more than one served entity)",
                field(ctx, "traffic_config")
            )));
        }
    };
    let mut out = Map::new();
    out.insert("served_entities".into(), Value::Array(served));
    out.insert("traffic_config".into(), traffic);
    Ok(out)
}

/// `POST /api/2.0/serving-endpoints` (body: CreateServingEndpoint).
pub async fn create(
    State(app): State<SharedApp>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, CREATE_KEYS, "")?;
    let name = req_str(&body, "name", "")?.to_string();
    check_name(&name)?;
    opt_str(&body, "description", "")?;
    for (i, tag) in opt_array(&body, "tags", "")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ctx = format!("tags[{i}]");
        let tag = item_obj(tag, &ctx)?;
        known_keys(tag, &["key", "value"], &ctx)?;
        req_str(tag, "key", &ctx)?;
        opt_str(tag, "value", &ctx)?;
    }
    let given = opt_obj(&body, "config", "")?
        .ok_or_else(|| ApiError::invalid("Missing required field: config"))?;
    let mut state = app.lock();
    let state = &mut *state;
    let mut pending = config(given, "config", state)?;
    if state.serving.endpoints.contains_key(&name) {
        return Err(ApiError::already_exists(format!(
            "Endpoint with name '{name}' already exists."
        )));
    }
    pending.insert("config_version".into(), json!(1));
    pending.insert("start_time".into(), json!(now_ms()));
    let now = now_ms();
    let id = state.ids.uuid().replace('-', "");
    state
        .permissions
        .set_owner(ObjectType::ServingEndpoints, &id, &caller.name);
    let mut detail = json!({
        "name": name,
        "id": id,
        "creator": caller.name,
        "creation_timestamp": now,
        "last_updated_timestamp": now,
        "permission_level": "CAN_MANAGE",
        "route_optimized": false,
        "task": "llm/v1/custom",
    });
    for key in ["tags", "description"] {
        if let Some(v) = body.get(key) {
            detail[key] = v.clone();
        }
    }
    let Value::Object(detail) = detail else {
        unreachable!("a JSON object literal")
    };
    let endpoint = Endpoint {
        detail,
        pending: Some(pending),
        held_reads: 0,
        config_version: 1,
    };
    let answer = endpoint.json();
    state.serving.endpoints.insert(name, endpoint);
    Ok(Json(answer))
}

/// `GET /api/2.0/serving-endpoints/{name}`: a pending config is applied once it was seen.
pub async fn get(State(app): State<SharedApp>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let endpoint = state.serving.get_mut(&name)?;
    let answer = endpoint.json();
    if endpoint.pending.is_some() && endpoint.held_reads > 0 {
        endpoint.held_reads -= 1;
    } else if let Some(mut applied) = endpoint.pending.take() {
        applied.remove("start_time");
        endpoint
            .detail
            .insert("config".into(), Value::Object(applied));
        endpoint
            .detail
            .insert("last_updated_timestamp".into(), json!(now_ms()));
    }
    Ok(Json(answer))
}

/// `PUT /api/2.0/serving-endpoints/{name}/config` (body: EndpointCoreConfigInput).
pub async fn update_config(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let mut state = app.lock();
    let state = &mut *state;
    let mut pending = config(&body, "", state)?;
    let endpoint = state.serving.get_mut(&name)?;
    if endpoint.pending.is_some() {
        return Err(ApiError::conflict(format!(
            "Endpoint '{name}' is currently being updated: wait until its config_update is NOT_UPDATING"
        )));
    }
    endpoint.config_version += 1;
    pending.insert("config_version".into(), json!(endpoint.config_version));
    pending.insert("start_time".into(), json!(now_ms()));
    endpoint.pending = Some(pending);
    Ok(Json(endpoint.json()))
}
