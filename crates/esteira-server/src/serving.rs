//! The scoring server of `esteira serve`: MLflow's `/invocations`, `/ping`, `/health`,
//! `/version` and Prometheus `/metrics`, over one hot-swappable model slot.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use esteira_core::ErrorCode;
use esteira_serving::protocol::{self, Format};
use esteira_serving::slot::ModelSlot;

use crate::error::ApiError;
use crate::telemetry::Telemetry;

/// The header naming the model version that answered a request (`NAME/VERSION`).
pub const MODEL_VERSION_HEADER: &str = "x-esteira-model-version";

/// What the scoring routes need.
#[derive(Clone)]
pub struct ServeState {
    /// The model being served.
    pub slot: Arc<ModelSlot>,
    /// Request telemetry for `/metrics`.
    pub telemetry: Arc<Telemetry>,
    /// Largest request body accepted (413 past it).
    pub max_body_bytes: usize,
}

/// The scoring server's routes; unknown routes answer a JSON 404.
pub fn serving_router(state: ServeState) -> Router {
    Router::new()
        .route("/invocations", post(invocations))
        .route("/ping", get(ping))
        .route("/health", get(health))
        .route("/version", get(crate::handlers::version))
        .route("/metrics", get(metrics))
        .fallback(crate::handlers::endpoint_not_found)
        .method_not_allowed_fallback(crate::handlers::endpoint_not_found)
        .with_state(state)
}

async fn ping(State(s): State<ServeState>) -> Response {
    let model = s.slot.get();
    let mut response = "OK".into_response();
    insert_version(&mut response, &model.name, &model.version);
    response
}

/// `GET /health`: the model serving now and the last failure to load a new version.
async fn health(State(s): State<ServeState>) -> Response {
    let model = s.slot.get();
    let body = serde_json::json!({
        "status": "OK",
        "model": model.name,
        "version": model.version,
        "last_error": s.slot.last_error(),
    });
    let mut response = axum::Json(body).into_response();
    insert_version(&mut response, &model.name, &model.version);
    response
}

async fn metrics(State(s): State<ServeState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.telemetry.render(),
    )
}

async fn invocations(State(s): State<ServeState>, request: Request) -> Response {
    let started = Instant::now();
    let model = s.slot.get();
    let response = match read_body(request, s.max_body_bytes).await {
        Ok((format, bytes)) => respond(score(&model, format, &bytes).await, &model),
        Err(e) => e.into_response(),
    };
    s.telemetry.record(
        "/invocations",
        "POST",
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The body's format (from `Content-Type`) and bytes.
///
/// # Errors
/// 415 for another content type, 413 past `limit`.
pub(crate) async fn read_body(request: Request, limit: usize) -> Result<(Format, Bytes), ApiError> {
    let format = protocol::content_type(
        request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(serving_error)?;
    let bytes = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body exceeds {limit} bytes"),
            )
        })?;
    Ok((format, bytes))
}

/// Scores `bytes` with `model`: the `{"predictions": ...}` body.
///
/// # Errors
/// 400 naming the field for bad input, 500 when the model fails.
pub(crate) async fn score(
    model: &esteira_serving::runtime::ServedModel,
    format: Format,
    bytes: &[u8],
) -> Result<Body, ApiError> {
    let parsed = match format {
        Format::Json => protocol::parse_json(bytes, model.signature()),
        Format::Csv => protocol::parse_csv(bytes, model.signature()),
    }
    .map_err(serving_error)?;
    let predictions = model
        .predict(&parsed.table, &parsed.params)
        .map_err(serving_error)?;
    Ok(Body::from(
        protocol::encode_predictions(&predictions).to_string(),
    ))
}

/// The HTTP response of a scoring result, naming the model version that answered.
pub(crate) fn respond(
    answer: Result<Body, ApiError>,
    model: &esteira_serving::runtime::ServedModel,
) -> Response {
    let mut response = match answer {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => e.into_response(),
    };
    insert_version(&mut response, &model.name, &model.version);
    response
}

fn serving_error(e: esteira_serving::Error) -> ApiError {
    ApiError::new(e.code(), e.to_string())
}

fn insert_version(response: &mut Response, name: &str, version: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("{name}/{version}")) {
        response.headers_mut().insert(MODEL_VERSION_HEADER, v);
    }
}
