//! The model registry as steps see it ([`crate::step::Registry`]), over the metadata and
//! artifact stores.

use std::path::Path;
use std::sync::Arc;

use esteira_artifacts::ArtifactPath;
use esteira_core::ErrorCode;
use esteira_core::entities::Tag;
use esteira_store::pipelines::ArtifactRecord;
use esteira_store::{NewModelVersion, NewRegisteredModel};

use crate::engine::{Engine, now_ms};
use crate::step::{ModelVersionRef, Registry, StepOrigin};

/// The registry of one step's execution: uploads go under the step's MLflow run.
pub struct StoreRegistry {
    engine: Arc<Engine>,
    run_artifact_uri: String,
}

impl StoreRegistry {
    /// A registry whose uploads go under `run_artifact_uri` (a `mlflow-artifacts:` URI).
    pub fn new(engine: Arc<Engine>, run_artifact_uri: String) -> Self {
        StoreRegistry {
            engine,
            run_artifact_uri,
        }
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

#[async_trait::async_trait]
impl Registry for StoreRegistry {
    async fn fetch_alias(
        &self,
        name: &str,
        alias: &str,
        dest: &Path,
    ) -> Result<Option<ModelVersionRef>, String> {
        let store = self.engine.store();
        let version = match store.get_model_version_by_alias(name, alias).await {
            Ok(v) => v,
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::ResourceDoesNotExist | ErrorCode::InvalidParameterValue
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.to_string()),
        };
        let uri = store
            .get_model_version_download_uri(name, &version.version)
            .await
            .map_err(|e| e.to_string())?;
        let path = ArtifactPath::from_proxy_uri(&uri).map_err(|e| e.to_string())?;
        let files = self
            .engine
            .artifacts()
            .download_dir(&path, dest)
            .await
            .map_err(|e| e.to_string())?;
        if files == 0 {
            return Err(format!(
                "model {name} version {} has no files at {uri}",
                version.version
            ));
        }
        Ok(Some(ModelVersionRef {
            name: name.to_string(),
            version: version.version,
        }))
    }

    async fn register(
        &self,
        name: &str,
        model_dir: &Path,
        origin: &StepOrigin,
    ) -> Result<ModelVersionRef, String> {
        let store = self.engine.store();
        let root = ArtifactPath::from_proxy_uri(&self.run_artifact_uri)
            .and_then(|r| {
                Ok(r.join(&ArtifactPath::parse(&format!(
                    "registered/{}",
                    origin.execution_id
                ))?))
            })
            .map_err(|e| e.to_string())?;
        self.engine
            .artifacts()
            .upload_dir(model_dir, &root)
            .await
            .map_err(|e| e.to_string())?;
        match store
            .create_registered_model(NewRegisteredModel {
                name: name.to_string(),
                tags: Vec::new(),
                description: None,
            })
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == ErrorCode::ResourceAlreadyExists => {}
            Err(e) => return Err(e.to_string()),
        }
        let version = store
            .create_model_version(NewModelVersion {
                name: name.to_string(),
                source: root.to_proxy_uri(),
                run_id: Some(origin.mlflow_run_id.clone()),
                tags: vec![
                    tag("esteira.pipeline", &origin.pipeline),
                    tag("esteira.pipeline_run", &origin.run_id),
                    tag("esteira.step", &origin.step),
                    tag("esteira.execution", &origin.execution_id),
                ],
                ..NewModelVersion::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        store
            .add_output_artifact(
                &origin.execution_id,
                "registered_model_version",
                ArtifactRecord {
                    artifact_id: format!("mv-{name}-{}", version.version),
                    kind: "registered_model_version".into(),
                    uri: format!("models:/{name}/{}", version.version),
                    digest: None,
                    properties: serde_json::json!({ "source": root.to_proxy_uri() }).to_string(),
                    created_time: now_ms(),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(ModelVersionRef {
            name: name.to_string(),
            version: version.version,
        })
    }

    async fn set_alias(
        &self,
        version: &ModelVersionRef,
        alias: &str,
        reason: &str,
        origin: &StepOrigin,
    ) -> Result<Option<String>, String> {
        let actor = format!(
            "pipeline {} run {} step {}",
            origin.pipeline, origin.run_id, origin.step
        );
        self.engine
            .store()
            .move_alias(&version.name, alias, &version.version, &actor, reason)
            .await
            .map(|p| p.map(|v| v.to_string()))
            .map_err(|e| e.to_string())
    }
}
