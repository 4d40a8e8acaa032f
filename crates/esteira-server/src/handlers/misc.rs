//! Health, version, capabilities, Prometheus metrics, the OpenAPI document and the JSON 404.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use esteira_core::ErrorCode;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// `GET /health`: `OK` once the server serves requests.
pub(crate) async fn health() -> &'static str {
    "OK"
}

/// `GET /version`: Esteira's version.
pub(crate) async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `GET /api/3.0/mlflow/server-info`: the capabilities the MLflow 3 client asks for.
pub(crate) async fn server_info() -> Json<Value> {
    Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": true,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": { "gateway": false },
    }))
}

/// `GET /metrics`: Prometheus text exposition, with the batch sizes of batching endpoints.
pub(crate) async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut text = s.telemetry.render();
    text.push_str(&esteira_serving::batch::render_prometheus(
        &s.endpoints.batch_counts(),
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `GET /api/2.0/esteira/openapi.json`: the OpenAPI 3.1 document of Esteira's own API
/// (`docs/openapi.json`, compiled in).
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../../../docs/openapi.json"),
    )
}

/// Any path or method Esteira does not serve.
pub(crate) async fn endpoint_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::EndpointNotFound,
        format!("No endpoint {} on this server", uri.path()),
    )
}
