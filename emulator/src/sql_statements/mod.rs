//! Databricks SQL: one serverless warehouse (`GET /api/2.0/sql/warehouses[/{id}]`) and the
//! Statement Execution API (`POST /api/2.0/sql/statements`, `GET …/{id}`, `POST …/{id}/cancel`)
//! over the tables this workspace's pipelines wrote. Statements run on the local Spark engine
//! (`engine::spark::query`); the structural engine holds no data, so there they fail saying so.
//! Results come back INLINE in JSON_ARRAY, the API's default disposition and format.

mod request;
mod response;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tokio::task::AbortHandle;

use crate::body::JsonBody;
use crate::config::Engine;
use crate::engine::spark::LocalSchema;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedApp;
use request::{OnWaitTimeout, StatementRequest};
use response::Outcome;

/// The workspace's one warehouse (16 hex digits, like real warehouse ids).
pub const WAREHOUSE_ID: &str = "5e1a9c0b7d3f2e48";
const WAREHOUSE_NAME: &str = "Serverless Starter Warehouse";

#[derive(Debug, Default)]
pub struct StatementsState {
    statements: BTreeMap<String, Slot>,
}

/// A statement: its outcome once it has one, and its work while it runs.
#[derive(Debug, Default)]
struct Slot {
    outcome: Option<Outcome>,
    work: Option<AbortHandle>,
}

fn warehouse(app: &SharedApp) -> Value {
    json!({
        "id": WAREHOUSE_ID,
        "name": WAREHOUSE_NAME,
        "state": "RUNNING",
        "cluster_size": "Small",
        "min_num_clusters": 1,
        "max_num_clusters": 1,
        "auto_stop_mins": 10,
        "enable_serverless_compute": true,
        "warehouse_type": "PRO",
        "creator_name": crate::USER_NAME,
        "jdbc_url": format!("jdbc:databricks://{}:443/default;httpPath=/sql/1.0/warehouses/{WAREHOUSE_ID}", app.url.trim_start_matches("http://")),
        "odbc_params": {"hostname": app.url.trim_start_matches("http://"), "path": format!("/sql/1.0/warehouses/{WAREHOUSE_ID}"), "protocol": "https", "port": 443},
    })
}

pub async fn list_warehouses(State(app): State<SharedApp>) -> Json<Value> {
    Json(json!({"warehouses": [warehouse(&app)]}))
}

pub async fn get_warehouse(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if id != WAREHOUSE_ID {
        return Err(no_such_warehouse(&id));
    }
    Ok(Json(warehouse(&app)))
}

fn no_such_warehouse(id: &str) -> ApiError {
    ApiError::not_found(format!("Warehouse {id} does not exist."))
}

pub async fn execute(
    State(app): State<SharedApp>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request = StatementRequest::read(&body)?;
    if request.warehouse_id != WAREHOUSE_ID {
        return Err(no_such_warehouse(&request.warehouse_id));
    }
    // The slot exists before the work starts, so the work always finds it to settle.
    let id = {
        let mut state = app.lock();
        let id = state.ids.uuid();
        state.statements.statements.insert(
            id.clone(),
            Slot {
                outcome: None,
                work: None,
            },
        );
        id
    };
    let mut work = tokio::spawn({
        let (app, id, request) = (app.clone(), id.clone(), request.clone());
        async move {
            let outcome = run(&app, &request).await;
            settle(&app, &id, outcome);
        }
    });
    if let Some(slot) = app.lock().statements.statements.get_mut(&id)
        && slot.outcome.is_none()
    {
        slot.work = Some(work.abort_handle());
    }
    let finished = match request.wait {
        Some(wait) => matches!(tokio::time::timeout(wait, &mut work).await, Ok(Ok(()))),
        None => false,
    };
    if !finished && request.on_wait_timeout == OnWaitTimeout::Cancel {
        work.abort();
        settle(&app, &id, Outcome::Canceled);
    }
    let state = app.lock();
    let outcome = state
        .statements
        .statements
        .get(&id)
        .and_then(|s| s.outcome.as_ref());
    Ok(Json(response::body(&id, outcome)))
}

/// Records a statement's outcome, unless it already has one (a cancel came first).
fn settle(app: &SharedApp, id: &str, outcome: Outcome) {
    let mut state = app.lock();
    if let Some(slot) = state.statements.statements.get_mut(id)
        && slot.outcome.is_none()
    {
        slot.outcome = Some(outcome);
        slot.work = None;
    }
}

pub async fn get(State(app): State<SharedApp>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let state = app.lock();
    match state.statements.statements.get(&id) {
        Some(slot) => Ok(Json(response::body(&id, slot.outcome.as_ref()))),
        None => Err(no_such_statement(&id)),
    }
}

pub async fn cancel(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let work = {
        let mut state = app.lock();
        let slot = state
            .statements
            .statements
            .get_mut(&id)
            .ok_or_else(|| no_such_statement(&id))?;
        slot.work.take()
    };
    if let Some(work) = work {
        work.abort();
        settle(&app, &id, Outcome::Canceled);
    }
    Ok(Json(json!({})))
}

fn no_such_statement(id: &str) -> ApiError {
    ApiError::not_found(format!("Statement {id} does not exist."))
}

/// Runs the statement on the engine.
async fn run(app: &SharedApp, request: &StatementRequest) -> Outcome {
    let Engine::Spark(spark) = &app.config.engine else {
        return Outcome::failed(
            "BAD_REQUEST",
            "This emulated warehouse has no data: updates run on the structural engine, which \
             writes no tables. Start the emulator with --engine spark to query them.",
        );
    };
    let schemas = schemas(app, spark);
    let default_catalog = request
        .catalog
        .clone()
        .or_else(|| app.config.default_catalog_name.clone())
        .unwrap_or_else(|| "main".to_string());
    match spark
        .query(
            &request.statement,
            &request.parameters,
            &schemas,
            (&default_catalog, request.schema.as_deref()),
            request.row_limit,
        )
        .await
    {
        Ok(rows) => Outcome::Succeeded(rows),
        Err(problem) => Outcome::failed("BAD_REQUEST", &problem.message),
    }
}

/// Where each `catalog.schema` a pipeline published to lives: the pipeline whose run wrote
/// last, as the one table a workspace would have.
fn schemas(app: &SharedApp, spark: &crate::engine::SparkEngine) -> Vec<LocalSchema> {
    let state = app.lock();
    let mut latest: BTreeMap<(String, String), (i64, String)> = BTreeMap::new();
    for pipeline in &state.pipelines.list {
        let (catalog, schema) = crate::engine::target_of(&pipeline.spec);
        let wrote = pipeline.updates.iter().filter_map(|u| u.wrote_at()).max();
        let key = (catalog.to_ascii_lowercase(), schema.to_ascii_lowercase());
        let entry = latest.entry(key).or_insert((i64::MIN, pipeline.id.clone()));
        if wrote.unwrap_or(i64::MIN + 1) > entry.0 {
            *entry = (wrote.unwrap_or(i64::MIN + 1), pipeline.id.clone());
        }
    }
    latest
        .into_iter()
        .map(|((catalog, schema), (_, id))| LocalSchema {
            database: spark.database_of(&id, &catalog, &schema),
            catalog,
            schema,
        })
        .collect()
}
