//! Monitors, retrain policies and decisions under `/api/2.0/esteira`: deploy a
//! `monitors.toml`, list, run the due windows, read a monitor's windows (JSON or an HTML
//! report), and the decision ledger.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use esteira_core::json::de_opt_i64;
use esteira_monitor::service::{self, EngineTrigger, Services};
use esteira_monitor::spec::MonitorsFile;
use esteira_store::monitors::DefinitionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::input::Input;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    /// The text of `monitors.toml`.
    source: String,
    /// The file's name, for error locations.
    file: Option<String>,
    /// The directory relative paths resolve against (on the server's machine).
    base_dir: String,
}

pub(super) async fn deploy(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: DeployRequest = input.parse()?;
    let file = MonitorsFile::parse(&r.source, r.file.as_deref().unwrap_or("monitors.toml"))?;
    let deployed = service::deploy(s.store.as_ref(), &file, &PathBuf::from(r.base_dir)).await?;
    Ok(Json(json!({ "deployed": deployed })))
}

pub(super) async fn list(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let monitors = s.store.list_definitions(DefinitionKind::Monitor).await?;
    let policies = s.store.list_definitions(DefinitionKind::Policy).await?;
    Ok(Json(json!({ "monitors": monitors, "policies": policies })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// Evaluate as if it were this time, milliseconds since the epoch [default: now].
    #[serde(default, deserialize_with = "de_opt_i64")]
    at: Option<i64>,
}

pub(super) async fn run(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: RunRequest = input.parse()?;
    let now =
        r.at.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let trigger = EngineTrigger {
        engine: s.engine.clone(),
    };
    let services = Services {
        store: s.store.as_ref(),
        artifacts: &s.artifacts,
        trigger: &trigger,
    };
    let done = service::tick(&services, now).await?;
    Ok(Json(json!({
        "windows": done.windows,
        "failed": done.failed,
        "decisions": done.decisions,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultsRequest {
    name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
}

impl ResultsRequest {
    fn limit(&self) -> ApiResult<usize> {
        match self.max_results {
            None => Ok(1000),
            Some(n) if (1..=10_000).contains(&n) => Ok(n as usize),
            Some(n) => Err(ApiError::invalid(format!(
                "Invalid value {n} for parameter 'max_results': must be between 1 and 10000"
            ))),
        }
    }
}

/// The latest `limit` window reports of the monitor named in the request, oldest first.
async fn reports(
    s: &AppState,
    r: &ResultsRequest,
) -> ApiResult<(String, Vec<esteira_monitor::window::WindowReport>)> {
    let name = required(&r.name, "name")?.to_string();
    let limit = r.limit()?;
    s.store
        .get_definition(DefinitionKind::Monitor, &name)
        .await?;
    let results = s
        .store
        .list_monitor_results(&name, i64::MIN, i64::MAX)
        .await?;
    let skip = results.len().saturating_sub(limit);
    let reports = results[skip..]
        .iter()
        .map(service::report_of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name, reports))
}

pub(super) async fn results(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: ResultsRequest = input.parse()?;
    let (name, reports) = reports(&s, &r).await?;
    Ok(Json(json!({ "monitor": name, "windows": reports })))
}

pub(super) async fn report(State(s): State<AppState>, input: Input) -> ApiResult<Html<String>> {
    let r: ResultsRequest = input.parse()?;
    let (name, reports) = reports(&s, &r).await?;
    Ok(Html(esteira_monitor::report::html(&name, &reports)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsRequest {
    policy: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
}

pub(super) async fn decisions(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: DecisionsRequest = input.parse()?;
    let limit = match r.max_results {
        None => 100,
        Some(n) if (1..=10_000).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "Invalid value {n} for parameter 'max_results': must be between 1 and 10000"
            )));
        }
    };
    let ledger = service::decisions(
        s.store.as_ref(),
        r.policy.as_deref(),
        i64::MIN,
        i64::MAX,
        limit,
    )
    .await?;
    Ok(Json(json!({ "ledger": ledger })))
}
