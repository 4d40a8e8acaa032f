//! Logging CLI work (training, evaluation) as MLflow runs, and fetching logged models back.
//!
//! One code path: the MLflow REST API, either over HTTP to a server (`--server`,
//! `ESTEIRA_SERVER`, or an `http(s)` `MLFLOW_TRACKING_URI`) or in-process through the
//! server's own `router` over a store opened directly (`--store`, with `--artifacts`). Runs
//! logged either way are the same rows and files, and the real `mlflow` client reads them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use esteira_artifacts::ArtifactStore;
use esteira_server::AppState;
use esteira_store::SqlStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Where runs go.
enum Transport {
    Http {
        client: reqwest::Client,
        base: String,
        token: Option<String>,
    },
    InProcess(axum::Router),
}

/// A tracking connection.
pub struct Tracker {
    transport: Transport,
    /// Where it points, for messages.
    pub location: String,
}

/// A started run.
#[derive(Debug, Clone)]
pub struct RunHandle {
    pub run_id: String,
    pub artifact_uri: String,
}

impl Tracker {
    /// A tracker over HTTP to the server at `base`.
    pub fn http(base: &str, token: Option<String>) -> Tracker {
        Tracker {
            transport: Transport::Http {
                client: reqwest::Client::new(),
                base: base.trim_end_matches('/').to_string(),
                token,
            },
            location: base.to_string(),
        }
    }

    /// A tracker over the store at `store_url` and the artifact store at `artifacts_url`,
    /// served in-process.
    ///
    /// # Errors
    /// When either store cannot be opened.
    pub async fn in_process(store_url: &str, artifacts_url: &str) -> Result<Tracker> {
        if let Some(path) = store_url.strip_prefix("sqlite://")
            && let Some(parent) = Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let store = SqlStore::open(store_url)
            .await
            .with_context(|| format!("cannot open the metadata store {store_url}"))?;
        let artifacts = ArtifactStore::from_url(artifacts_url)
            .with_context(|| format!("cannot open the artifact store {artifacts_url}"))?;
        let router = esteira_server::router(AppState::new(Arc::new(store), artifacts));
        Ok(Tracker {
            transport: Transport::InProcess(router),
            location: store_url.to_string(),
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(StatusCode, bytes::Bytes)> {
        match &self.transport {
            Transport::Http {
                client,
                base,
                token,
            } => {
                let mut req = client
                    .request(method, format!("{base}{path}"))
                    .header("content-type", content_type)
                    .body(body);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let resp = req
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {base}"))?;
                let status = StatusCode::from_u16(resp.status().as_u16())?;
                Ok((status, resp.bytes().await?))
            }
            Transport::InProcess(router) => {
                let req = Request::builder()
                    .method(method)
                    .uri(path)
                    .header("content-type", content_type)
                    .body(Body::from(body))?;
                let resp = router.clone().oneshot(req).await?;
                let status = resp.status();
                Ok((status, resp.into_body().collect().await?.to_bytes()))
            }
        }
    }

    /// Calls `/api/2.0/mlflow/<endpoint>` with a JSON body (query string for GET).
    async fn api(&self, method: Method, endpoint: &str, body: Value) -> Result<Value> {
        let (path, bytes) = if method == Method::GET {
            let query: Vec<String> = body
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    format!("{k}={}", urlencode(&v))
                })
                .collect();
            (
                format!("/api/2.0/mlflow/{endpoint}?{}", query.join("&")),
                Vec::new(),
            )
        } else {
            (
                format!("/api/2.0/mlflow/{endpoint}"),
                serde_json::to_vec(&body)?,
            )
        };
        let (status, bytes) = self.send(method, &path, bytes, "application/json").await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let code = value["error_code"].as_str().unwrap_or("HTTP_ERROR");
            let message = value["message"].as_str().unwrap_or_default();
            bail!("{endpoint}: {code}: {message} (HTTP {status})");
        }
        Ok(value)
    }

    /// The id of experiment `name`, created when missing.
    pub async fn experiment_id(&self, name: &str) -> Result<String> {
        let found = self
            .api(
                Method::GET,
                "experiments/get-by-name",
                json!({"experiment_name": name}),
            )
            .await;
        if let Ok(v) = found {
            return string_at(&v, &["experiment", "experiment_id"]);
        }
        let created = self
            .api(Method::POST, "experiments/create", json!({"name": name}))
            .await?;
        string_at(&created, &["experiment_id"])
    }

    /// Starts a run in experiment `experiment` (created when missing).
    pub async fn start_run(
        &self,
        experiment: &str,
        run_name: &str,
        tags: &[(&str, String)],
    ) -> Result<RunHandle> {
        let experiment_id = self.experiment_id(experiment).await?;
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let v = self
            .api(
                Method::POST,
                "runs/create",
                json!({"experiment_id": experiment_id, "run_name": run_name,
                       "start_time": now_ms(), "tags": tags}),
            )
            .await?;
        Ok(RunHandle {
            run_id: string_at(&v, &["run", "info", "run_id"])?,
            artifact_uri: string_at(&v, &["run", "info", "artifact_uri"])?,
        })
    }

    /// Logs params and metrics (at step 0) in one batch.
    pub async fn log(
        &self,
        run: &RunHandle,
        params: &[(String, String)],
        metrics: &[(String, f64)],
    ) -> Result<()> {
        let ts = now_ms();
        let params: Vec<Value> = params
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let metrics: Vec<Value> = metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| json!({"key": k, "value": v, "timestamp": ts, "step": 0}))
            .collect();
        for chunk in metrics.chunks(1000) {
            self.api(
                Method::POST,
                "runs/log-batch",
                json!({"run_id": run.run_id, "metrics": chunk}),
            )
            .await?;
        }
        for chunk in params.chunks(100) {
            self.api(
                Method::POST,
                "runs/log-batch",
                json!({"run_id": run.run_id, "params": chunk}),
            )
            .await?;
        }
        Ok(())
    }

    /// Uploads every file under `local` to `artifact_path` of the run.
    pub async fn upload_dir(
        &self,
        run: &RunHandle,
        local: &Path,
        artifact_path: &str,
    ) -> Result<()> {
        let root = proxy_path(&run.artifact_uri)?;
        for file in files_under(local)? {
            let rel = file
                .strip_prefix(local)?
                .to_string_lossy()
                .replace('\\', "/");
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let path = format!("/api/2.0/mlflow-artifacts/artifacts/{root}/{artifact_path}/{rel}");
            let (status, body) = self
                .send(Method::PUT, &path, bytes, "application/octet-stream")
                .await?;
            if !status.is_success() {
                bail!(
                    "uploading {rel}: HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        Ok(())
    }

    /// Sets a tag on the run.
    pub async fn set_tag(&self, run: &RunHandle, key: &str, value: &str) -> Result<()> {
        self.api(
            Method::POST,
            "runs/set-tag",
            json!({"run_id": run.run_id, "key": key, "value": value}),
        )
        .await
        .map(drop)
    }

    /// Ends the run with `status` (`FINISHED` or `FAILED`).
    pub async fn finish(&self, run: &RunHandle, status: &str) -> Result<()> {
        self.api(
            Method::POST,
            "runs/update",
            json!({"run_id": run.run_id, "status": status, "end_time": now_ms()}),
        )
        .await
        .map(drop)
    }

    /// Registers `artifact_path` of the run as a new version of model `name` (created when
    /// missing); returns the version.
    pub async fn register(
        &self,
        run: &RunHandle,
        artifact_path: &str,
        name: &str,
    ) -> Result<String> {
        let exists = self
            .api(Method::GET, "registered-models/get", json!({"name": name}))
            .await
            .is_ok();
        if !exists {
            self.api(
                Method::POST,
                "registered-models/create",
                json!({"name": name}),
            )
            .await?;
        }
        let source = format!("{}/{artifact_path}", run.artifact_uri);
        let v = self
            .api(
                Method::POST,
                "model-versions/create",
                json!({"name": name, "source": source, "run_id": run.run_id}),
            )
            .await?;
        string_at(&v, &["model_version", "version"])
    }

    /// Downloads the model at `uri` (`runs:/RUN_ID/PATH`, `models:/NAME/VERSION` or
    /// `models:/NAME@ALIAS`) into `dest`, returning the model directory.
    pub async fn download(&self, uri: &str, dest: &Path) -> Result<PathBuf> {
        let source = self.artifact_source(uri).await?;
        let root = proxy_path(&source)?;
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            let listing = self.list(&root, &dir).await?;
            for entry in listing {
                let rel = entry["path"].as_str().unwrap_or_default().to_string();
                let name = rel.rsplit('/').next().unwrap_or(&rel);
                let rel = if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                };
                if entry["is_dir"].as_bool().unwrap_or(false) {
                    pending.push(rel);
                    continue;
                }
                let (status, bytes) = self
                    .send(
                        Method::GET,
                        &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/{rel}"),
                        Vec::new(),
                        "application/octet-stream",
                    )
                    .await?;
                if !status.is_success() {
                    bail!("downloading {rel} of {uri}: HTTP {status}");
                }
                let target = dest.join(&rel);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, &bytes)
                    .with_context(|| format!("cannot write {}", target.display()))?;
            }
        }
        if !dest.is_dir() {
            bail!("{uri} holds no files");
        }
        Ok(dest.to_path_buf())
    }

    async fn list(&self, root: &str, dir: &str) -> Result<Vec<Value>> {
        let path = format!("{root}/{dir}");
        let path = path.trim_end_matches('/');
        let (status, bytes) = self
            .send(
                Method::GET,
                &format!(
                    "/api/2.0/mlflow-artifacts/artifacts?path={}",
                    urlencode(path)
                ),
                Vec::new(),
                "application/json",
            )
            .await?;
        if !status.is_success() {
            bail!("listing {path}: HTTP {status}");
        }
        let v: Value = serde_json::from_slice(&bytes)?;
        Ok(v["files"].as_array().cloned().unwrap_or_default())
    }

    /// The `mlflow-artifacts:` location of a model URI.
    async fn artifact_source(&self, uri: &str) -> Result<String> {
        if let Some(rest) = uri.strip_prefix("runs:/") {
            let (run_id, path) = rest
                .split_once('/')
                .ok_or_else(|| anyhow!("{uri}: expected runs:/RUN_ID/PATH"))?;
            let v = self
                .api(Method::GET, "runs/get", json!({"run_id": run_id}))
                .await?;
            let root = string_at(&v, &["run", "info", "artifact_uri"])?;
            return Ok(format!("{root}/{}", path.trim_matches('/')));
        }
        let rest = uri.strip_prefix("models:/").ok_or_else(|| {
            anyhow!(
                "{uri}: expected a directory, a .onnx file, runs:/RUN_ID/PATH or models:/NAME@ALIAS"
            )
        })?;
        let v = match rest.split_once('@') {
            Some((name, alias)) => {
                self.api(
                    Method::GET,
                    "registered-models/alias",
                    json!({"name": name, "alias": alias}),
                )
                .await?
            }
            None => {
                let (name, version) = rest.split_once('/').ok_or_else(|| {
                    anyhow!("{uri}: expected models:/NAME/VERSION or models:/NAME@ALIAS")
                })?;
                self.api(
                    Method::GET,
                    "model-versions/get",
                    json!({"name": name, "version": version}),
                )
                .await?
            }
        };
        string_at(&v, &["model_version", "source"])
    }
}

/// The proxy path (`1/abc/artifacts`) of a `mlflow-artifacts:` URI.
fn proxy_path(uri: &str) -> Result<String> {
    esteira_server::service::proxied_path(uri)
        .map(|p| p.as_str().to_string())
        .map_err(|e| anyhow!("artifact location {uri}: {}", e.message))
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn string_at(v: &Value, path: &[&str]) -> Result<String> {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the tracking server's answer has no {}", path.join(".")))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
