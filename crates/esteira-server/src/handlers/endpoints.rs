//! Serving endpoints: Databricks' `/serving-endpoints/{name}/invocations` (and
//! `/endpoints/{name}/invocations`) with weighted, sticky routes and a shadow, and Esteira's
//! API to create, list, get and delete them.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use esteira_core::ErrorCode;
use esteira_serving::batch::BatchConfig;
use esteira_serving::endpoint::{EndpointSpec, RouteSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::input::Input;
use crate::serving::{DEFAULT_PREDICT_TIMEOUT, Logged, log_prediction, read_body, respond, score};

/// The header whose value keeps a client on one route.
pub const ROUTING_KEY_HEADER: &str = "x-esteira-routing-key";

/// The header naming the route that answered.
pub const ROUTE_HEADER: &str = "x-esteira-route";

pub(super) async fn invoke(
    State(s): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let Some(endpoint) = s.endpoints.get(&name) else {
        return ApiError::new(
            ErrorCode::ResourceDoesNotExist,
            format!("Endpoint '{name}' does not exist or is not loaded."),
        )
        .into_response();
    };
    let id = crate::serving::request_id(&request);
    let key = request
        .headers()
        .get(ROUTING_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let route = endpoint.choose(key.as_deref());
    let model = route.slot.get();
    let (format, bytes) = match read_body(request, s.max_body_bytes).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    if let Some(shadow) = &endpoint.shadow {
        let (shadow_model, body, telemetry) =
            (shadow.slot.get(), bytes.clone(), s.telemetry.clone());
        let label = format!(
            "endpoint {name} route shadow version {}",
            shadow_model.version
        );
        tokio::spawn(async move {
            let shadow_started = Instant::now();
            let shadowed = score(&shadow_model, format, &body, DEFAULT_PREDICT_TIMEOUT, None);
            let status = match shadowed.await {
                Ok(_) => 200,
                Err(e) => crate::error::status(e.code).as_u16(),
            };
            telemetry.record(&label, "POST", status, shadow_started.elapsed());
        });
    }
    let batcher = route.batcher.as_deref();
    let answer = respond(
        score(&model, format, &bytes, DEFAULT_PREDICT_TIMEOUT, batcher).await,
        &model,
    );
    let entry = Logged {
        request_id: id,
        endpoint: &name,
        route: &route.name,
        model: &model,
        body: &bytes,
        started,
    };
    let mut response = log_prediction(s.predictions.as_ref(), entry, answer).await;
    if let Ok(v) = HeaderValue::from_str(&route.name) {
        response.headers_mut().insert(ROUTE_HEADER, v);
    }
    s.telemetry.record(
        &format!(
            "endpoint {name} route {} version {}",
            route.name, model.version
        ),
        "POST",
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    routes: Vec<RouteSpec>,
    shadow: Option<String>,
    batch: Option<BatchConfig>,
}

pub(super) async fn create(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: CreateRequest = input.parse()?;
    let spec = EndpointSpec {
        routes: r.routes,
        shadow: r.shadow,
        batch: r.batch,
    };
    s.endpoints
        .install(&r.name, spec.clone())
        .await
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameterValue, e.to_string()))?;
    let text = serde_json::to_string(&spec).unwrap_or_default();
    let record = s.store.put_endpoint(&r.name, &text).await?;
    Ok(Json(json!({ "endpoint": describe(&record.name, &spec) })))
}

fn describe(name: &str, spec: &EndpointSpec) -> Value {
    json!({ "name": name, "routes": spec.routes, "shadow": spec.shadow, "batch": spec.batch })
}

#[derive(Deserialize)]
struct NameRequest {
    name: Option<String>,
}

pub(super) async fn get(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: NameRequest = input.parse()?;
    let name = required(&r.name, "name")?;
    let record = s.store.get_endpoint(name).await?;
    let mut described = json!({ "name": record.name, "definition": serde_json::from_str::<Value>(&record.spec).unwrap_or_default() });
    if let Some(live) = s.endpoints.get(name) {
        let routes: Vec<Value> = live
            .routes
            .iter()
            .chain(live.shadow.iter())
            .map(|route| {
                let model = route.slot.get();
                json!({
                    "route": route.name, "weight": route.weight, "model": model.name,
                    "version": model.version, "last_error": route.slot.last_error(),
                })
            })
            .collect();
        described["serving"] = Value::Array(routes);
    }
    Ok(Json(json!({ "endpoint": described })))
}

pub(super) async fn list(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let records = s.store.list_endpoints().await?;
    let endpoints: Vec<Value> = records
        .iter()
        .map(|r| json!({ "name": r.name, "definition": serde_json::from_str::<Value>(&r.spec).unwrap_or_default() }))
        .collect();
    Ok(Json(json!({ "endpoints": endpoints })))
}

pub(super) async fn delete(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: NameRequest = input.parse()?;
    let name = required(&r.name, "name")?;
    s.store.delete_endpoint(name).await?;
    s.endpoints.remove(name);
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct PredictionsRequest {
    name: Option<String>,
    #[serde(default, deserialize_with = "esteira_core::json::de_opt_i64")]
    from_ms: Option<i64>,
    #[serde(default, deserialize_with = "esteira_core::json::de_opt_i64")]
    to_ms: Option<i64>,
}

/// `GET endpoints/predictions?name=&from_ms=&to_ms=`: the prediction log of an endpoint in a
/// time window (default: everything).
pub(super) async fn predictions(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: PredictionsRequest = input.parse()?;
    let name = required(&r.name, "name")?;
    let records = esteira_serving::log::read_predictions(
        &s.artifacts,
        &*s.store,
        name,
        r.from_ms.unwrap_or(0),
        r.to_ms.unwrap_or(i64::MAX),
    )
    .await
    .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?;
    Ok(Json(json!({ "predictions": records })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroundTruthRequest {
    name: String,
    records: Vec<GroundTruthRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroundTruthRecord {
    request_id: Option<String>,
    series: Option<String>,
    time: Option<String>,
    value: Value,
}

/// `POST endpoints/ground-truth {name, records: [{request_id | series + time, value}]}`:
/// actual values arriving later, for monitoring to join with the prediction log.
pub(super) async fn ground_truth(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: GroundTruthRequest = input.parse()?;
    let now = chrono::Utc::now().timestamp_millis();
    let records: Vec<esteira_store::predictions::GroundTruth> = r
        .records
        .into_iter()
        .map(|g| esteira_store::predictions::GroundTruth {
            endpoint: r.name.clone(),
            request_id: g.request_id,
            series: g.series,
            time: g.time,
            value: g.value,
            received_ms: now,
        })
        .collect();
    s.store.add_ground_truth(&records).await?;
    Ok(Json(json!({ "received": records.len() })))
}
