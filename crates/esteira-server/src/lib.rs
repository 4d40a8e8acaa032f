//! Esteira's HTTP server: the MLflow REST API (tracking, registry, MLflow 3 logged models),
//! the artifact proxy, health, version and Prometheus metrics.
//!
//! [`router`] builds the whole application from an [`AppState`]; `main` serves it and the
//! tests call it in-process.

mod error;
mod handlers;
mod input;
mod reply;
pub mod service;
pub mod serving;
mod telemetry;
mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use esteira_artifacts::ArtifactStore;
use esteira_core::ErrorCode;
use esteira_pipeline::Engine;
use esteira_store::Store;

pub use error::{ApiError, ApiResult, status};
pub use handlers::esteira_route_paths;
pub use telemetry::Telemetry;

/// The default limit on JSON request bodies (artifact uploads stream and have none).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The metadata store.
    pub store: Arc<dyn Store>,
    /// The pipeline engine over the same stores.
    pub engine: Arc<Engine>,
    /// The serving endpoints.
    pub endpoints: Arc<esteira_serving::endpoint::Endpoints>,
    /// The prediction log of the endpoints (off unless the binary starts it).
    pub predictions: Option<esteira_serving::log::PredictionLog>,
    /// The artifact store behind the proxy.
    pub artifacts: ArtifactStore,
    /// Accepted bearer tokens; `None` turns authentication off.
    pub auth_tokens: Option<Arc<Vec<String>>>,
    /// Request telemetry.
    pub telemetry: Arc<Telemetry>,
    /// Largest JSON body accepted.
    pub max_body_bytes: usize,
}

impl AppState {
    /// State with authentication off and the default body limit.
    pub fn new(store: Arc<dyn Store>, artifacts: ArtifactStore) -> Self {
        let fetcher = esteira_serving::source::Fetcher {
            store: store.clone(),
            artifacts: artifacts.clone(),
            cache_dir: std::env::temp_dir().join(format!("esteira-serving-{}", std::process::id())),
        };
        AppState {
            endpoints: Arc::new(esteira_serving::endpoint::Endpoints::new(fetcher)),
            predictions: None,
            engine: Arc::new(Engine::new(store.clone(), artifacts.clone())),
            store,
            artifacts,
            auth_tokens: None,
            telemetry: Arc::new(Telemetry::default()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The whole application: API routes under `/api` and `/ajax-api`, `/health`, `/version`,
/// `/metrics`, a JSON 404 for everything else, bearer authentication when tokens are set,
/// and per-route telemetry.
pub fn router(state: AppState) -> Router {
    handlers::api_routes()
        .route("/health", axum::routing::get(handlers::health))
        .route("/version", axum::routing::get(handlers::version))
        .route("/metrics", axum::routing::get(handlers::metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            record_telemetry,
        ))
        .fallback(handlers::endpoint_not_found)
        .method_not_allowed_fallback(handlers::endpoint_not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .merge(ui::routes(&state))
        .with_state(state)
}

/// Paths served without a token: liveness and the capability probe clients make first.
fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/version") || path.ends_with("/mlflow/server-info")
}

/// Compares in time independent of where the strings differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(tokens) = &state.auth_tokens else {
        return next.run(req).await;
    };
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let message = match presented {
        Some(token)
            if tokens
                .iter()
                .any(|t| constant_time_eq(t.as_bytes(), token.as_bytes())) =>
        {
            return next.run(req).await;
        }
        Some(_) => "The bearer token is not valid",
        None => {
            "Authentication required: send 'Authorization: Bearer <token>' (MLFLOW_TRACKING_TOKEN)"
        }
    };
    let mut response = ApiError::new(ErrorCode::Unauthenticated, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

async fn record_telemetry(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.telemetry.record(&route, &method, status, elapsed);
    tracing::debug!(
        route = %route,
        method = %method,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "Request served."
    );
    response
}
