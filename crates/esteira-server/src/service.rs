//! Service functions shared by the HTTP handlers and the CLI: the parts of an operation
//! that are more than one store call. No HTTP types here.

use esteira_artifacts::{ArtifactPath, ArtifactStore};
use esteira_core::entities::{Metric, Tag};
use esteira_store::{MetadataStore, MetricHistoryQuery};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};

pub use esteira_artifacts::PROXY_SCHEME;

/// An artifact listing entry as MLflow returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// The path relative to the listed root.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes, for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// The artifact-store path of a `mlflow-artifacts:` URI (`mlflow-artifacts:/1/abc/artifacts`
/// or `mlflow-artifacts://host:port/1/abc/artifacts`).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` when the URI has another scheme (its artifacts are not served
/// by this server) or an unsafe path.
pub fn proxied_path(uri: &str) -> ApiResult<ArtifactPath> {
    ArtifactPath::from_proxy_uri(uri).map_err(|e| match e {
        esteira_artifacts::Error::InvalidPath { reason, .. } if !uri.starts_with(PROXY_SCHEME) => {
            ApiError::invalid(format!("The artifact location {uri:?} is {reason}"))
        }
        other => other.into(),
    })
}

/// Lists the direct children of `relative` under the artifact root `root_uri`, with paths
/// relative to that root (MLflow's `artifacts/list` shape).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` for a root this server does not proxy or an unsafe path.
pub async fn list_artifacts_under(
    artifacts: &ArtifactStore,
    root_uri: &str,
    relative: Option<&str>,
) -> ApiResult<Vec<FileInfo>> {
    let root = proxied_path(root_uri)?;
    let rel = ArtifactPath::parse(relative.unwrap_or_default())?;
    let dir = root.join(&rel);
    let entries = artifacts.list(Some(&dir)).await?;
    Ok(entries
        .into_iter()
        .map(|e| FileInfo {
            path: if rel.is_root() {
                e.path
            } else {
                format!("{}/{}", rel.as_str(), e.path)
            },
            is_dir: e.is_dir,
            file_size: e.file_size,
        })
        .collect())
}

/// The tag in which MLflow 2 clients record each logged model's `MLmodel` as JSON.
pub const MODEL_HISTORY_TAG: &str = "mlflow.log-model.history";

/// Appends a model description to the run's model history tag (MLflow's `log-model`).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` when `model_json` is not a JSON object; the store's errors.
pub async fn append_model_history(
    store: &dyn MetadataStore,
    run_id: &str,
    model_json: &str,
) -> ApiResult<()> {
    let model: serde_json::Value = serde_json::from_str(model_json)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| {
            ApiError::invalid("Invalid value for parameter 'model_json': not a JSON object")
        })?;
    let run = store.get_run(run_id).await?;
    let mut history: Vec<serde_json::Value> = run
        .data
        .tags
        .iter()
        .find(|t| t.key == MODEL_HISTORY_TAG)
        .and_then(|t| serde_json::from_str(&t.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = Tag {
        key: MODEL_HISTORY_TAG.to_string(),
        value: serde_json::Value::Array(history).to_string(),
    };
    store.log_batch(run_id, &[], &[], &[tag]).await?;
    Ok(())
}

/// Metric histories of several runs limited to a step range, each run's points thinned
/// evenly to at most `max_points` (always keeping the first and the last).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` without any run; the store's errors (a missing run is
/// `RESOURCE_DOES_NOT_EXIST`).
pub async fn sampled_history(
    store: &dyn MetadataStore,
    query: MetricHistoryQuery,
    start_step: Option<i64>,
    end_step: Option<i64>,
    max_points: i64,
) -> ApiResult<Vec<Metric>> {
    if query.run_ids.is_empty() {
        return Err(ApiError::invalid(
            "Missing value for required parameter 'run_ids'.",
        ));
    }
    let max_points = usize::try_from(max_points.max(2)).unwrap_or(2);
    let mut out = Vec::new();
    for run_id in &query.run_ids {
        let one = MetricHistoryQuery {
            run_ids: vec![run_id.clone()],
            ..query.clone()
        };
        let mut points: Vec<Metric> = store
            .get_metric_history(&one)
            .await?
            .items
            .into_iter()
            .filter(|m| {
                start_step.is_none_or(|s| m.step >= s) && end_step.is_none_or(|e| m.step <= e)
            })
            .collect();
        points.sort_by_key(|m| (m.step, m.timestamp));
        let n = points.len();
        let kept: Vec<Metric> = if n <= max_points {
            points
        } else {
            let last = n - 1;
            let picks: Vec<usize> = (0..max_points)
                .map(|i| i * last / (max_points - 1))
                .collect();
            points
                .into_iter()
                .enumerate()
                .filter(|(i, _)| picks.binary_search(i).is_ok())
                .map(|(_, m)| m)
                .collect()
        };
        out.extend(kept.into_iter().map(|mut m| {
            m.run_id = Some(run_id.clone());
            m
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_uris_map_to_store_paths() {
        assert_eq!(
            proxied_path("mlflow-artifacts:/1/abc/artifacts")
                .unwrap()
                .as_str(),
            "1/abc/artifacts"
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://host:5000/1/x")
                .unwrap()
                .as_str(),
            "1/x"
        );
        assert!(proxied_path("s3://bucket/x").is_err());
        assert!(proxied_path("mlflow-artifacts:/1/../../etc").is_err());
    }
}
