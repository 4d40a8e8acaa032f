//! Loading models for the model steps: from an input port or from the registry by alias
//! into a scratch directory.

use std::path::{Path, PathBuf};

use esteira_ml::model::{self, LoadedModel};

use super::model_params::AliasRef;
use crate::step::{ModelVersionRef, StepContext, StepError};

/// A directory under the system's temporary directory, removed (with its content) when
/// dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates an empty directory named after `purpose` and a random suffix.
    ///
    /// # Errors
    /// [`StepError::Failed`] when it cannot be created.
    pub fn new(purpose: &str) -> Result<ScratchDir, StepError> {
        let path = std::env::temp_dir().join(format!(
            "esteira-{purpose}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| StepError::Failed(format!("creating {}: {e}", path.display())))?;
        Ok(ScratchDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is not worth failing a step for.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A model version downloaded from the registry; the files live as long as this value.
#[derive(Debug)]
pub struct FetchedModel {
    /// The version the alias pointed to.
    pub version: ModelVersionRef,
    /// Where the model directory was downloaded.
    pub dir: PathBuf,
    _scratch: ScratchDir,
}

/// Downloads the version `reference` points to. `None` when the model or the alias does not
/// exist.
///
/// # Errors
/// [`StepError::Failed`] when the registry fails.
pub async fn fetch_alias(
    ctx: &StepContext<'_>,
    reference: &AliasRef,
) -> Result<Option<FetchedModel>, StepError> {
    let scratch = ScratchDir::new("registry-model")?;
    let dir = scratch.path().join("model");
    std::fs::create_dir(&dir)
        .map_err(|e| StepError::Failed(format!("creating {}: {e}", dir.display())))?;
    let version = ctx
        .registry
        .fetch_alias(&reference.name, &reference.alias, &dir)
        .await
        .map_err(|e| StepError::Failed(format!("fetching {reference} from the registry: {e}")))?;
    Ok(version.map(|version| FetchedModel {
        version,
        dir,
        _scratch: scratch,
    }))
}

/// Loads the model at `path`, the artifact of input port `port`.
///
/// # Errors
/// [`StepError::Input`] naming `port` when `path` holds no loadable model.
pub fn load_input_model(path: &Path, port: &str) -> Result<LoadedModel, StepError> {
    model::load(path).map_err(|e| StepError::Input {
        input: port.to_string(),
        reason: e.to_string(),
    })
}
