//! Serving endpoints: Databricks' `/serving-endpoints/{name}/invocations` (and
//! `/endpoints/{name}/invocations`) with weighted, sticky routes and a shadow, and Esteira's
//! API to create, list, get and delete them.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use esteira_core::ErrorCode;
use esteira_serving::endpoint::{EndpointSpec, RouteSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::input::Input;
use crate::serving::{read_body, respond, score};

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
            let status = match score(&shadow_model, format, &body).await {
                Ok(_) => 200,
                Err(e) => crate::error::status(e.code).as_u16(),
            };
            telemetry.record(&label, "POST", status, shadow_started.elapsed());
        });
    }
    let mut response = respond(score(&model, format, &bytes).await, &model);
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
}

pub(super) async fn create(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: CreateRequest = input.parse()?;
    let spec = EndpointSpec {
        routes: r.routes,
        shadow: r.shadow,
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
    json!({ "name": name, "routes": spec.routes, "shadow": spec.shadow })
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
