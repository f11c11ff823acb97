//! Routes and serving: the router, and the two ways to run it (own thread + runtime for sync
//! tests, or a task in the caller's runtime).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use tokio::sync::watch;

use crate::jobs::{self, named, run_now};
use crate::pipelines::{self, events, updates};
use crate::state::SharedApp;
use crate::{
    apps, files, foundation_models, gate, models, oauth, oidc, permissions, scim, secrets, serving,
    sql_statements, uc_grants, unity_catalog, volumes, workspace,
};

pub fn router(app: SharedApp) -> Router {
    let jobs = Router::new()
        .route("/runs/submit", post(jobs::submit))
        .route("/runs/get", get(jobs::get))
        .route("/runs/get-output", get(jobs::get_output))
        .route("/create", post(named::create))
        .route("/get", get(named::get))
        .route("/list", get(named::list))
        .route("/reset", post(named::reset))
        .route("/run-now", post(run_now::run_now));
    Router::new()
        // Current SDKs use 2.2; 2.1 still answers the same.
        .nest("/api/2.2/jobs", jobs.clone())
        .nest("/api/2.1/jobs", jobs)
        .route(
            "/api/2.0/pipelines",
            get(pipelines::list).post(pipelines::create),
        )
        .route(
            "/api/2.0/pipelines/{id}",
            get(pipelines::get)
                .put(pipelines::edit)
                .delete(pipelines::delete),
        )
        .route("/api/2.0/pipelines/{id}/updates", post(updates::start))
        .route(
            "/api/2.0/pipelines/{id}/updates/{update_id}",
            get(updates::get),
        )
        .route("/api/2.0/pipelines/{id}/stop", post(updates::stop))
        .route("/api/2.0/pipelines/{id}/events", get(events::list))
        .route(
            "/api/2.1/unity-catalog/current-metastore-assignment",
            get(unity_catalog::current_metastore_assignment),
        )
        .route("/api/2.0/workspace/mkdirs", post(workspace::mkdirs))
        .route("/api/2.0/workspace/import", post(workspace::import))
        .route("/api/2.0/workspace/get-status", get(workspace::get_status))
        .route("/api/2.0/workspace/export", get(workspace::export))
        .route(
            "/serving-endpoints/chat/completions",
            post(foundation_models::chat_completions),
        )
        .route(
            "/serving-endpoints/{name}/invocations",
            post(foundation_models::invocations),
        )
        .route("/api/2.1/unity-catalog/volumes", post(volumes::create))
        .route(
            "/api/2.1/unity-catalog/volumes/{full_name}",
            get(volumes::get),
        )
        .route(
            "/api/2.0/fs/files/{*path}",
            get(files::get)
                .put(files::put)
                .head(files::head)
                // The gate already bounds uploads (MAX_FILE_BYTES); axum's 2 MB default would not fit a binary.
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/api/2.0/apps", post(apps::create))
        .route("/api/2.0/apps/{name}", get(apps::get).patch(apps::update))
        .route("/api/2.0/apps/{name}/start", post(apps::start))
        .route("/api/2.0/apps/{name}/deployments", post(apps::deploy))
        .route(
            "/api/2.0/apps/{name}/deployments/{id}",
            get(apps::get_deployment),
        )
        .route("/api/2.1/unity-catalog/models", post(models::create))
        .route(
            "/api/2.1/unity-catalog/models/{full_name}",
            get(models::get),
        )
        .route(
            "/api/2.0/mlflow/unity-catalog/model-versions/create",
            post(models::create_version),
        )
        .route(
            "/api/2.0/mlflow/unity-catalog/model-versions/finalize",
            post(models::finalize_version),
        )
        .route(
            "/api/2.0/mlflow/unity-catalog/model-versions/get",
            get(models::get_version),
        )
        .route("/api/2.0/serving-endpoints", post(serving::create))
        .route("/api/2.0/serving-endpoints/{name}", get(serving::get))
        .route(
            "/api/2.0/serving-endpoints/{name}/config",
            put(serving::update_config),
        )
        .route(
            "/api/2.0/serving-endpoints/{name}/tags",
            patch(serving::patch_tags),
        )
        .route(
            "/api/2.1/unity-catalog/models/{full_name}/versions/{version}",
            delete(models::delete_version),
        )
        .route("/api/2.0/secrets/list", get(secrets::list))
        .route(
            "/api/2.0/sql/warehouses",
            get(sql_statements::list_warehouses),
        )
        .route(
            "/api/2.0/sql/warehouses/{id}",
            get(sql_statements::get_warehouse),
        )
        .route("/api/2.0/sql/statements", post(sql_statements::execute))
        .route("/api/2.0/sql/statements/{id}", get(sql_statements::get))
        .route(
            "/api/2.0/sql/statements/{id}/cancel",
            post(sql_statements::cancel),
        )
        .route(
            "/api/2.1/unity-catalog/permissions/{securable_type}/{full_name}",
            get(uc_grants::get).patch(uc_grants::update),
        )
        .route(
            "/api/2.0/permissions/{object_type}/{id}",
            get(permissions::get)
                .put(permissions::set)
                .patch(permissions::update),
        )
        .route(oauth::TOKEN_PATH, post(oauth::token))
        .route(oidc::METADATA_PATH, get(oidc::metadata))
        .route(oidc::OPENID_PATH, get(oidc::metadata))
        .route(oidc::JWKS_PATH, get(oidc::jwks))
        .route(scim::ME_PATH, get(scim::me))
        .route(scim::USERS_PATH, get(scim::list_users))
        .route(
            scim::SERVICE_PRINCIPALS_PATH,
            get(scim::list_service_principals),
        )
        .fallback(gate::not_found)
        .method_not_allowed_fallback(gate::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            gate::gate,
        ))
        .with_state(app)
}

/// After shutdown starts, requests still in flight get this long before they are cut off.
const GRACE: Duration = Duration::from_secs(1);

/// Serves until the `stop` sender is dropped: in-flight requests may finish (within GRACE),
/// idle keep-alive connections close at once.
pub async fn serve(listener: tokio::net::TcpListener, app: SharedApp, stop: watch::Receiver<()>) {
    // The local Spark server boots while the first requests (a model's answer, say) are served.
    if let crate::config::Engine::Spark(spark) = &app.config.engine {
        spark.warm_up();
    }
    let mut graceful = stop.clone();
    let mut hard = stop;
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
        let _ = graceful.changed().await;
    });
    let deadline = async move {
        let _ = hard.changed().await;
        tokio::time::sleep(GRACE).await;
    };
    tokio::select! {
        result = server => {
            if let Err(err) = result {
                tracing::error!(%err, "emulator server failed");
            }
        }
        () = deadline => tracing::debug!("emulator stopped with requests still in flight"),
    }
}

/// Binds loopback (port 0 = ephemeral) with a std listener, so it works outside a runtime.
pub fn bind(port: u16) -> anyhow::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
