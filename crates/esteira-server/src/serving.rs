//! The scoring server of `esteira serve`: MLflow's `/invocations`, `/ping`, `/health`,
//! `/version` and Prometheus `/metrics`, over one hot-swappable model slot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use esteira_core::ErrorCode;
use esteira_serving::batch::Batcher;
use esteira_serving::protocol::{self, Format};
use esteira_serving::slot::ModelSlot;

use crate::error::ApiError;
use crate::telemetry::Telemetry;

/// The header naming the model version that answered a request (`NAME/VERSION`).
pub const MODEL_VERSION_HEADER: &str = "x-esteira-model-version";

/// How long a prediction may take before the request is answered 504, unless configured.
pub const DEFAULT_PREDICT_TIMEOUT: Duration = Duration::from_secs(30);

/// The header carrying a request's id (the client's, or one Esteira makes), in the
/// prediction log and in the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id: the client's `x-request-id`, or a new one.
pub(crate) fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string)
}

/// What the prediction log records of one answered request.
pub(crate) struct Logged<'a> {
    pub request_id: String,
    pub endpoint: &'a str,
    pub route: &'a str,
    pub model: &'a esteira_serving::runtime::ServedModel,
    pub body: &'a [u8],
    pub started: Instant,
}

/// Logs an answered request (its body as inputs when sampled, the response as outputs),
/// never waiting; and names the request id in the response.
pub(crate) async fn log_prediction(
    log: Option<&esteira_serving::log::PredictionLog>,
    entry: Logged<'_>,
    response: Response,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if let Some(log) = log {
        let inputs = log
            .samples_inputs(&entry.request_id)
            .then(|| String::from_utf8_lossy(entry.body).into_owned());
        log.log(esteira_serving::log::PredictionRecord {
            request_id: entry.request_id.clone(),
            time_ms: chrono::Utc::now().timestamp_millis(),
            endpoint: entry.endpoint.to_string(),
            route: entry.route.to_string(),
            model: entry.model.name.clone(),
            version: entry.model.version.clone(),
            inputs,
            outputs: String::from_utf8_lossy(&bytes).into_owned(),
            latency_us: entry.started.elapsed().as_micros() as i64,
            status: parts.status.as_u16(),
            series: None,
        });
    }
    if let Ok(v) = HeaderValue::from_str(&entry.request_id) {
        parts.headers.insert(REQUEST_ID_HEADER, v);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// What the scoring routes need.
#[derive(Clone)]
pub struct ServeState {
    /// The prediction log, when the server has a store to write it to.
    pub log: Option<esteira_serving::log::PredictionLog>,
    /// The endpoint name recorded in the prediction log.
    pub endpoint: String,
    /// How long one prediction may take (504 past it).
    pub timeout: Duration,
    /// The model being served.
    pub slot: Arc<ModelSlot>,
    /// Request telemetry for `/metrics`.
    pub telemetry: Arc<Telemetry>,
    /// Largest request body accepted (413 past it).
    pub max_body_bytes: usize,
    /// The micro-batcher of the slot, when batching is on.
    pub batcher: Option<Arc<Batcher>>,
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
        "prediction_log": s.log.as_ref().map(|l| l.stats()),
    });
    let mut response = axum::Json(body).into_response();
    insert_version(&mut response, &model.name, &model.version);
    response
}

/// `GET /metrics`: request telemetry, and the batch sizes when batching is on.
async fn metrics(State(s): State<ServeState>) -> impl IntoResponse {
    let mut text = s.telemetry.render();
    if let Some(batcher) = &s.batcher {
        let series = [(s.endpoint.clone(), "default".to_string(), batcher.counts())];
        text.push_str(&esteira_serving::batch::render_prometheus(&series));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn invocations(State(s): State<ServeState>, request: Request) -> Response {
    let started = Instant::now();
    let model = s.slot.get();
    let id = request_id(&request);
    let response = match read_body(request, s.max_body_bytes).await {
        Ok((format, bytes)) => {
            let scored = score(&model, format, &bytes, s.timeout, s.batcher.as_deref()).await;
            let answer = respond(scored, &model);
            let entry = Logged {
                request_id: id,
                endpoint: &s.endpoint,
                route: "default",
                model: &model,
                body: &bytes,
                started,
            };
            log_prediction(s.log.as_ref(), entry, answer).await
        }
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

/// Scores `bytes` with `model`: the `{"predictions": ...}` body. With a `batcher` that takes
/// the request, it is scored within a micro-batch; otherwise small requests of row-wise
/// models are scored inline and the others on the blocking pool. Past `timeout` the request
/// is answered without waiting for its prediction.
///
/// # Errors
/// 400 naming the field for bad input, 500 when the model fails, 504 past `timeout`.
pub(crate) async fn score(
    model: &Arc<esteira_serving::runtime::ServedModel>,
    format: Format,
    bytes: &[u8],
    timeout: Duration,
    batcher: Option<&Batcher>,
) -> Result<Body, ApiError> {
    let parsed = match format {
        Format::Json => protocol::parse_json(bytes, model.signature()),
        Format::Csv => protocol::parse_csv(bytes, model.signature()),
    }
    .map_err(serving_error)?;
    let predictions = if let Some(batcher) = batcher.filter(|b| b.takes(model, &parsed)) {
        let batched = batcher.predict(model.clone(), parsed.table);
        within(timeout, batched).await?.map_err(serving_error)?
    } else if parsed.table.num_rows() <= INLINE_ROWS && !model.is_forecast() {
        model
            .predict(&parsed.table, &parsed.params)
            .map_err(serving_error)?
    } else {
        predict_blocking(model, parsed, timeout).await?
    };
    Ok(Body::from(
        protocol::encode_predictions(&predictions).to_string(),
    ))
}

/// Requests of at most this many rows of a row-wise model are scored on the request's own
/// thread (well under a millisecond); larger ones go to the blocking pool under the timeout.
const INLINE_ROWS: usize = 256;

async fn predict_blocking(
    model: &Arc<esteira_serving::runtime::ServedModel>,
    parsed: protocol::Request,
    timeout: Duration,
) -> Result<esteira_serving::Table, ApiError> {
    let runner = model.clone();
    let job = tokio::task::spawn_blocking(move || runner.predict(&parsed.table, &parsed.params));
    match within(timeout, job).await? {
        Ok(result) => result.map_err(serving_error),
        Err(e) => Err(ApiError::new(
            ErrorCode::InternalError,
            format!("the prediction task failed: {e}"),
        )),
    }
}

/// The output of `prediction`, or 504 `DEADLINE_EXCEEDED` past `timeout`.
async fn within<T>(timeout: Duration, prediction: impl Future<Output = T>) -> Result<T, ApiError> {
    tokio::time::timeout(timeout, prediction)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::DeadlineExceeded,
                format!("the prediction took longer than {timeout:?}"),
            )
        })
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
