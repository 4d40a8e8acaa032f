//! HTTP handlers and the route table. Each handler extracts its input, calls the store or a
//! [`crate::service`] function, and converts the result to MLflow's JSON.

mod artifacts;
mod endpoints;
mod logged_models;
mod misc;
mod monitors;
mod pipelines;
mod registry;
mod tracking;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub(crate) use misc::{endpoint_not_found, health, metrics, server_info, version};

/// A required, non-empty request field.
pub(crate) fn required<'a>(value: &'a Option<String>, name: &str) -> ApiResult<&'a str> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("Missing value for required parameter '{name}'.")))
}

/// The MLflow tracking and registry RPCs, relative to `/api/2.0/mlflow`.
fn mlflow_rpcs() -> Vec<(&'static str, MethodRouter<AppState>)> {
    use logged_models as lm;
    use registry as r;
    use tracking as t;
    vec![
        ("/experiments/create", post(t::create_experiment)),
        ("/experiments/get", get(t::get_experiment)),
        ("/experiments/get-by-name", get(t::get_experiment_by_name)),
        (
            "/experiments/search",
            get(t::search_experiments).post(t::search_experiments),
        ),
        ("/experiments/update", post(t::update_experiment)),
        ("/experiments/delete", post(t::delete_experiment)),
        ("/experiments/restore", post(t::restore_experiment)),
        (
            "/experiments/set-experiment-tag",
            post(t::set_experiment_tag),
        ),
        (
            "/experiments/delete-experiment-tag",
            post(t::delete_experiment_tag),
        ),
        ("/runs/create", post(t::create_run)),
        ("/runs/update", post(t::update_run)),
        ("/runs/delete", post(t::delete_run)),
        ("/runs/restore", post(t::restore_run)),
        ("/runs/get", get(t::get_run)),
        ("/runs/log-metric", post(t::log_metric)),
        ("/runs/log-parameter", post(t::log_param)),
        ("/runs/set-tag", post(t::set_tag)),
        ("/runs/delete-tag", post(t::delete_tag)),
        ("/runs/log-batch", post(t::log_batch)),
        ("/runs/log-inputs", post(t::log_inputs)),
        ("/runs/outputs", post(t::log_outputs)),
        ("/runs/log-model", post(t::log_model)),
        ("/runs/search", post(t::search_runs).get(t::search_runs)),
        ("/metrics/get-history", get(t::get_metric_history)),
        ("/metrics/get-history-bulk", get(t::get_metric_history_bulk)),
        (
            "/metrics/get-history-bulk-interval",
            get(t::get_metric_history_bulk_interval),
        ),
        ("/artifacts/list", get(t::list_run_artifacts)),
        (
            "/registered-models/create",
            post(r::create_registered_model),
        ),
        ("/registered-models/get", get(r::get_registered_model)),
        (
            "/registered-models/rename",
            post(r::rename_registered_model),
        ),
        (
            "/registered-models/update",
            patch(r::update_registered_model),
        ),
        (
            "/registered-models/delete",
            delete(r::delete_registered_model),
        ),
        (
            "/registered-models/search",
            get(r::search_registered_models),
        ),
        (
            "/registered-models/get-latest-versions",
            get(r::get_latest_versions).post(r::get_latest_versions),
        ),
        (
            "/registered-models/set-tag",
            post(r::set_registered_model_tag),
        ),
        (
            "/registered-models/delete-tag",
            delete(r::delete_registered_model_tag),
        ),
        (
            "/registered-models/alias",
            post(r::set_alias)
                .delete(r::delete_alias)
                .get(r::get_by_alias),
        ),
        ("/model-versions/create", post(r::create_model_version)),
        ("/model-versions/get", get(r::get_model_version)),
        ("/model-versions/update", patch(r::update_model_version)),
        ("/model-versions/delete", delete(r::delete_model_version)),
        (
            "/model-versions/transition-stage",
            post(r::transition_stage),
        ),
        ("/model-versions/search", get(r::search_model_versions)),
        ("/model-versions/get-download-uri", get(r::get_download_uri)),
        ("/model-versions/set-tag", post(r::set_model_version_tag)),
        (
            "/model-versions/delete-tag",
            delete(r::delete_model_version_tag),
        ),
        ("/logged-models", post(lm::create)),
        ("/logged-models/search", post(lm::search)),
        (
            "/logged-models/{model_id}",
            get(lm::get).patch(lm::finalize).delete(lm::delete),
        ),
        ("/logged-models/{model_id}/tags", patch(lm::set_tags)),
        (
            "/logged-models/{model_id}/tags/{tag_key}",
            delete(lm::delete_tag),
        ),
        ("/logged-models/{model_id}/params", post(lm::log_params)),
        (
            "/logged-models/{model_id}/artifacts/directories",
            get(lm::list_artifacts),
        ),
    ]
}

/// Esteira's own routes, relative to `/api/2.0/esteira`: (path, method, handler). Each route
/// answers one method, the one named; `docs/openapi.json` documents every one of them.
fn esteira_routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    use pipelines as p;
    vec![
        ("/pipelines/deploy", "POST", post(p::deploy)),
        ("/pipelines/get", "GET", get(p::get_pipeline)),
        ("/pipelines/list", "GET", get(p::list_pipelines)),
        ("/pipelines/trigger", "POST", post(p::trigger)),
        ("/pipelines/runs/list", "GET", get(p::list_runs)),
        ("/pipelines/runs/get", "GET", get(p::get_run)),
        ("/pipelines/runs/cancel", "POST", post(p::cancel_run)),
        ("/pipelines/firings/list", "GET", get(p::list_firings)),
        ("/lineage", "GET", get(p::get_lineage)),
        ("/models/alias-history", "GET", get(p::alias_history)),
        ("/models/rollback", "POST", post(p::rollback)),
        ("/endpoints/create", "POST", post(endpoints::create)),
        ("/endpoints/get", "GET", get(endpoints::get)),
        ("/endpoints/list", "GET", get(endpoints::list)),
        ("/endpoints/delete", "POST", post(endpoints::delete)),
        ("/endpoints/predictions", "GET", get(endpoints::predictions)),
        (
            "/endpoints/ground-truth",
            "POST",
            post(endpoints::ground_truth),
        ),
        ("/monitors/deploy", "POST", post(monitors::deploy)),
        ("/monitors/list", "GET", get(monitors::list)),
        ("/monitors/run", "POST", post(monitors::run)),
        ("/monitors/results", "GET", get(monitors::results)),
        ("/monitors/report", "GET", get(monitors::report)),
        ("/decisions/list", "GET", get(monitors::decisions)),
        ("/openapi.json", "GET", get(misc::openapi)),
    ]
}

/// The path (under `/api/2.0/esteira`, e.g. `/pipelines/deploy`) and the method (`GET` or
/// `POST`) of each of Esteira's own routes, for checking their documentation.
pub fn esteira_route_paths() -> Vec<(&'static str, &'static str)> {
    esteira_routes()
        .into_iter()
        .map(|(path, method, _)| (path, method))
        .collect()
}

/// The artifact proxy routes, relative to `/api/2.0/mlflow-artifacts`.
fn artifact_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    use artifacts as a;
    vec![
        ("/artifacts", get(a::list)),
        (
            "/artifacts/{*path}",
            get(a::download).put(a::upload).delete(a::delete),
        ),
        ("/mpu/create/{*path}", post(a::mpu_create)),
        ("/mpu/complete/{*path}", post(a::mpu_complete)),
        ("/mpu/abort/{*path}", post(a::mpu_abort)),
        ("/mpu/upload-part/{*path}", put(a::mpu_upload_part)),
        ("/presigned/{*path}", get(a::presigned_unsupported)),
    ]
}

/// Every API route under both MLflow prefixes (`/api` and the web UI's `/ajax-api`).
pub(crate) fn api_routes() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ["/api/2.0", "/ajax-api/2.0"] {
        for (path, handler) in mlflow_rpcs() {
            router = router.route(&format!("{prefix}/mlflow{path}"), handler);
        }
        for (path, _, handler) in esteira_routes() {
            router = router.route(&format!("{prefix}/esteira{path}"), handler);
        }
        for (path, handler) in artifact_routes() {
            router = router.route(&format!("{prefix}/mlflow-artifacts{path}"), handler);
        }
    }
    router = router
        .route(
            "/serving-endpoints/{name}/invocations",
            post(endpoints::invoke),
        )
        .route("/endpoints/{name}/invocations", post(endpoints::invoke))
        .route("/get-artifact", get(artifacts::run_artifact))
        .route(
            "/model-versions/get-artifact",
            get(artifacts::model_version_artifact),
        );
    for prefix in ["/api/3.0", "/ajax-api/3.0"] {
        router = router.route(&format!("{prefix}/mlflow/server-info"), get(server_info));
    }
    router
}
