//! Where a served model comes from (`models:/NAME@ALIAS`, `models:/NAME/VERSION`,
//! `runs:/RUN_ID/PATH`, a local directory or `.onnx` file), how it is fetched from the
//! stores, and the watcher that installs a new version when an alias moves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use esteira_artifacts::{ArtifactPath, ArtifactStore};
use esteira_store::Store;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::runtime::ServedModel;
use crate::slot::ModelSlot;

/// A model reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// `models:/NAME@ALIAS`: follows the alias.
    Alias {
        /// The registered model.
        name: String,
        /// The alias.
        alias: String,
    },
    /// `models:/NAME/VERSION`.
    Version {
        /// The registered model.
        name: String,
        /// The version.
        version: String,
    },
    /// `runs:/RUN_ID/PATH`.
    Run {
        /// The run.
        run_id: String,
        /// The model's path in the run's artifacts.
        path: String,
    },
    /// A local model directory or `.onnx` file.
    Local(PathBuf),
}

impl ModelSource {
    /// Parses a model URI; anything without a scheme is a local path.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming the URI for a malformed `models:/` or `runs:/` URI.
    pub fn parse(uri: &str) -> Result<ModelSource> {
        let bad = |what: &str| Error::bad_input("model", format!("{uri:?}: expected {what}"));
        if let Some(rest) = uri.strip_prefix("models:/") {
            if let Some((name, alias)) = rest.split_once('@') {
                if name.is_empty() || alias.is_empty() {
                    return Err(bad("models:/NAME@ALIAS"));
                }
                return Ok(ModelSource::Alias {
                    name: name.to_string(),
                    alias: alias.to_string(),
                });
            }
            return match rest.rsplit_once('/') {
                Some((name, version)) if !name.is_empty() && version.parse::<u64>().is_ok() => {
                    Ok(ModelSource::Version {
                        name: name.to_string(),
                        version: version.to_string(),
                    })
                }
                _ => Err(bad("models:/NAME/VERSION or models:/NAME@ALIAS")),
            };
        }
        if let Some(rest) = uri.strip_prefix("runs:/") {
            return match rest.split_once('/') {
                Some((run, path)) if !run.is_empty() && !path.is_empty() => Ok(ModelSource::Run {
                    run_id: run.to_string(),
                    path: path.to_string(),
                }),
                _ => Err(bad("runs:/RUN_ID/PATH")),
            };
        }
        if uri.contains("://") {
            return Err(bad(
                "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH or a local path",
            ));
        }
        Ok(ModelSource::Local(PathBuf::from(uri)))
    }

    /// Whether the served version can change (an alias).
    pub fn follows_alias(&self) -> bool {
        matches!(self, ModelSource::Alias { .. })
    }
}

/// The stores a model is fetched from, and where downloads are kept.
#[derive(Clone)]
pub struct Fetcher {
    /// The metadata store (registry, runs; the prediction log's index).
    pub store: Arc<dyn Store>,
    /// The artifact store.
    pub artifacts: ArtifactStore,
    /// Downloaded model directories go below it, one per version.
    pub cache_dir: PathBuf,
}

impl Fetcher {
    /// The registered version `source` points to now (`None` for runs and local paths).
    ///
    /// # Errors
    /// [`Error::Load`] when the model, version or alias does not exist.
    pub async fn current_version(&self, source: &ModelSource) -> Result<Option<String>> {
        match source {
            ModelSource::Alias { name, alias } => self
                .store
                .get_model_version_by_alias(name, alias)
                .await
                .map(|v| Some(v.version))
                .map_err(|e| Error::Load {
                    uri: format!("models:/{name}@{alias}"),
                    reason: e.message(),
                }),
            ModelSource::Version { version, .. } => Ok(Some(version.clone())),
            ModelSource::Run { .. } | ModelSource::Local(_) => Ok(None),
        }
    }

    /// Fetches and loads the model `source` points to (for an alias, `version` as resolved
    /// by [`Fetcher::current_version`]).
    ///
    /// # Errors
    /// [`Error::Load`] when it cannot be found, downloaded or loaded.
    pub async fn load(&self, source: &ModelSource, version: Option<&str>) -> Result<ServedModel> {
        let (name, version, dir) = match source {
            ModelSource::Local(path) => {
                let name = path.display().to_string();
                (name, "local".to_string(), path.clone())
            }
            ModelSource::Alias { name, .. } | ModelSource::Version { name, .. } => {
                let version = version.ok_or_else(|| Error::Load {
                    uri: format!("models:/{name}"),
                    reason: "no version resolved".into(),
                })?;
                let uri = self
                    .store
                    .get_model_version_download_uri(name, version)
                    .await
                    .map_err(|e| load_error(&format!("models:/{name}/{version}"), e.message()))?;
                let dir = self.download(&uri, &format!("{name}-{version}")).await?;
                (name.clone(), version.to_string(), dir)
            }
            ModelSource::Run { run_id, path } => {
                let run = self
                    .store
                    .get_run(run_id)
                    .await
                    .map_err(|e| load_error(&format!("runs:/{run_id}/{path}"), e.message()))?;
                let uri = format!("{}/{}", run.info.artifact_uri.trim_end_matches('/'), path);
                let dir = self.download(&uri, &format!("run-{run_id}")).await?;
                (format!("runs:/{run_id}/{path}"), run_id.clone(), dir)
            }
        };
        tokio::task::spawn_blocking(move || ServedModel::load(&dir, &name, &version))
            .await
            .map_err(|e| load_error("model", e.to_string()))?
    }

    async fn download(&self, uri: &str, key: &str) -> Result<PathBuf> {
        let path = ArtifactPath::from_proxy_uri(uri).map_err(|e| load_error(uri, e.to_string()))?;
        let dest = self.cache_dir.join(sanitize(key));
        if dest.exists() {
            return Ok(model_root(&dest));
        }
        let partial = self.cache_dir.join(format!(".{}.partial", sanitize(key)));
        let _ = tokio::fs::remove_dir_all(&partial).await;
        let files = self
            .artifacts
            .download_dir(&path, &partial)
            .await
            .map_err(|e| load_error(uri, e.to_string()))?;
        if files == 0 {
            return Err(load_error(uri, "no files there".into()));
        }
        tokio::fs::rename(&partial, &dest)
            .await
            .map_err(|e| load_error(uri, e.to_string()))?;
        Ok(model_root(&dest))
    }
}

/// A downloaded model directory, or the single `.onnx` file inside it.
fn model_root(dir: &Path) -> PathBuf {
    if dir.join("MLmodel").exists() || dir.join("esteira.json").exists() {
        return dir.to_path_buf();
    }
    let onnx: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
                .collect()
        })
        .unwrap_or_default();
    match onnx.as_slice() {
        [single] => single.clone(),
        _ => dir.to_path_buf(),
    }
}

fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn load_error(uri: &str, reason: String) -> Error {
    Error::Load {
        uri: uri.to_string(),
        reason,
    }
}

/// Installs in `slot` the version `source` points to now, when it differs from the one
/// serving (and did not already fail to load). A version that fails to load leaves the
/// current one serving and is recorded as the slot's last error.
pub async fn refresh(fetcher: &Fetcher, source: &ModelSource, slot: &ModelSlot) {
    let version = match fetcher.current_version(source).await {
        Ok(Some(v)) => v,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot resolve the alias; the current version keeps serving");
            return;
        }
    };
    if version == slot.get().version || slot.failed(&version) {
        return;
    }
    match fetcher.load(source, Some(&version)).await {
        Ok(model) => {
            tracing::info!(model = %model.name, version = %version, "serving a new version");
            slot.install(model);
        }
        Err(e) => {
            tracing::error!(version = %version, error = %e, "the new version failed to load; the old one keeps serving");
            slot.record_failure(&version, e.to_string());
        }
    }
}

/// Calls [`refresh`] every `interval` until `stop` turns true.
pub async fn follow_alias(
    fetcher: Fetcher,
    source: ModelSource,
    slot: Arc<ModelSlot>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        refresh(&fetcher, &source, &slot).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}
