//! Where CLI commands go: a running server over its MLflow REST API, or the metadata store
//! opened directly. Both return the same entities, so output does not depend on the mode.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use esteira_core::entities::{Experiment, RegisteredModel, Run, ViewType};
use esteira_store::{ExperimentQuery, MetadataStore, Paging, RegistryQuery, RunQuery};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The target of CLI commands.
pub enum Backend {
    /// A server at this base URL, with an optional bearer token.
    Remote {
        /// HTTP client.
        client: reqwest::Client,
        /// Base URL without a trailing slash.
        base: String,
        /// Bearer token.
        token: Option<String>,
    },
    /// The store, opened in-process.
    Local(Arc<dyn MetadataStore>),
}

/// Sends `body` to `url` (as the query string for GET, as JSON otherwise) with an optional
/// bearer token, and returns the JSON answer.
///
/// # Errors
/// The server unreachable, or a non-2xx answer as `ERROR_CODE: message (HTTP status)`.
pub async fn request_json(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    method: reqwest::Method,
    body: Value,
) -> Result<Value> {
    let mut req = if method == reqwest::Method::GET {
        let pairs: Vec<(String, String)> = body
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(k, v)| match v {
                Value::Null => Vec::new(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| (k.clone(), plain(i)))
                    .collect::<Vec<_>>(),
                other => vec![(k.clone(), plain(other))],
            })
            .collect();
        client.get(url).query(&pairs)
    } else {
        client.request(method, url).json(&body)
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let code = value["error_code"].as_str().unwrap_or("HTTP_ERROR");
        let message = value["message"].as_str().unwrap_or_default();
        return Err(anyhow!("{code}: {message} (HTTP {status})"));
    }
    Ok(value)
}

/// Calls Esteira's own API (`/api/2.0/esteira/PATH`) on the server at `base`, with `token`
/// or else `MLFLOW_TRACKING_TOKEN`.
///
/// # Errors
/// As [`request_json`].
pub async fn esteira_api(
    base: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Result<Value> {
    let url = format!("{}/api/2.0/esteira/{path}", base.trim_end_matches('/'));
    let token = token
        .map(str::to_string)
        .or_else(|| std::env::var("MLFLOW_TRACKING_TOKEN").ok());
    request_json(
        &reqwest::Client::new(),
        &url,
        token.as_deref(),
        method,
        body,
    )
    .await
}

/// Reads `field` of a JSON response into `T` (missing means empty).
fn field<T: DeserializeOwned + Default>(v: &Value, name: &str) -> Result<T> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(x) => serde_json::from_value(x.clone())
            .with_context(|| format!("unexpected '{name}' in the server's answer")),
    }
}

impl Backend {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value> {
        let Backend::Remote {
            client,
            base,
            token,
        } = self
        else {
            return Err(anyhow!("not a remote backend"));
        };
        let url = format!("{base}/api/2.0/mlflow/{path}");
        request_json(client, &url, token.as_deref(), method, body).await
    }

    /// Experiments in the given view, newest first.
    pub async fn experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        match self {
            Backend::Local(store) => Ok(store
                .search_experiments(&ExperimentQuery {
                    view_type: view,
                    filter: None,
                    order_by: vec![],
                    paging: Paging {
                        max_results: 50_000,
                        page_token: None,
                    },
                })
                .await?
                .items),
            remote => {
                let v = remote
                    .call(
                        reqwest::Method::POST,
                        "experiments/search",
                        json!({"view_type": view, "max_results": 50000}),
                    )
                    .await?;
                field(&v, "experiments")
            }
        }
    }

    /// An experiment by name, or by id when no experiment has that name.
    pub async fn experiment(&self, name_or_id: &str) -> Result<Experiment> {
        let by_name = match self {
            Backend::Local(store) => store
                .get_experiment_by_name(name_or_id)
                .await
                .map_err(anyhow::Error::from),
            remote => remote
                .call(
                    reqwest::Method::GET,
                    "experiments/get-by-name",
                    json!({"experiment_name": name_or_id}),
                )
                .await
                .and_then(|v| field(&v, "experiment")),
        };
        if by_name.is_ok() || name_or_id.parse::<i64>().is_err() {
            return by_name;
        }
        match self {
            Backend::Local(store) => Ok(store.get_experiment(name_or_id).await?),
            remote => {
                let v = remote
                    .call(
                        reqwest::Method::GET,
                        "experiments/get",
                        json!({"experiment_id": name_or_id}),
                    )
                    .await?;
                field(&v, "experiment")
            }
        }
    }

    /// Runs of one experiment matching an MLflow filter, in the given order.
    pub async fn runs(
        &self,
        experiment_id: &str,
        filter: Option<String>,
        order_by: Vec<String>,
        max_results: i64,
    ) -> Result<Vec<Run>> {
        match self {
            Backend::Local(store) => Ok(store
                .search_runs(&RunQuery {
                    experiment_ids: vec![experiment_id.to_string()],
                    filter,
                    view_type: ViewType::ActiveOnly,
                    order_by,
                    paging: Paging {
                        max_results,
                        page_token: None,
                    },
                })
                .await?
                .items),
            remote => {
                let body = json!({"experiment_ids": [experiment_id], "filter": filter, "order_by": order_by, "max_results": max_results});
                let v = remote
                    .call(reqwest::Method::POST, "runs/search", body)
                    .await?;
                field(&v, "runs")
            }
        }
    }

    /// One run.
    pub async fn run(&self, run_id: &str) -> Result<Run> {
        match self {
            Backend::Local(store) => Ok(store.get_run(run_id).await?),
            remote => {
                let v = remote
                    .call(reqwest::Method::GET, "runs/get", json!({"run_id": run_id}))
                    .await?;
                field(&v, "run")
            }
        }
    }

    /// Registered models matching an MLflow filter, by name.
    pub async fn models(&self, filter: Option<String>) -> Result<Vec<RegisteredModel>> {
        match self {
            Backend::Local(store) => Ok(store
                .search_registered_models(&RegistryQuery {
                    filter,
                    order_by: vec![],
                    paging: Paging {
                        max_results: 1000,
                        page_token: None,
                    },
                })
                .await?
                .items),
            remote => {
                let v = remote
                    .call(
                        reqwest::Method::GET,
                        "registered-models/search",
                        json!({"filter": filter, "max_results": 1000}),
                    )
                    .await?;
                field(&v, "registered_models")
            }
        }
    }

    /// One registered model with its versions' details.
    pub async fn model(&self, name: &str) -> Result<RegisteredModel> {
        match self {
            Backend::Local(store) => Ok(store.get_registered_model(name).await?),
            remote => {
                let v = remote
                    .call(
                        reqwest::Method::GET,
                        "registered-models/get",
                        json!({"name": name}),
                    )
                    .await?;
                field(&v, "registered_model")
            }
        }
    }

    /// Points `alias` at `version` of model `name`.
    pub async fn set_alias(&self, name: &str, alias: &str, version: &str) -> Result<()> {
        match self {
            Backend::Local(store) => Ok(store
                .set_registered_model_alias(name, alias, version)
                .await?),
            remote => {
                let body = json!({"name": name, "alias": alias, "version": version});
                remote
                    .call(reqwest::Method::POST, "registered-models/alias", body)
                    .await
                    .map(drop)
            }
        }
    }

    /// Removes `alias` from model `name`.
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        match self {
            Backend::Local(store) => Ok(store.delete_registered_model_alias(name, alias).await?),
            remote => remote
                .call(
                    reqwest::Method::DELETE,
                    "registered-models/alias",
                    json!({"name": name, "alias": alias}),
                )
                .await
                .map(drop),
        }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
