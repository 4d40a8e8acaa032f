//! Helpers shared by the step tests.

use std::path::Path;

use esteira_pipeline::step::{ModelVersionRef, Registry, StepOrigin};

/// A registry for steps that never use one: every call fails.
pub struct NoRegistry;

#[async_trait::async_trait]
impl Registry for NoRegistry {
    async fn fetch_alias(
        &self,
        _: &str,
        _: &str,
        _: &Path,
    ) -> Result<Option<ModelVersionRef>, String> {
        Err("no registry in these tests".into())
    }

    async fn register(&self, _: &str, _: &Path, _: &StepOrigin) -> Result<ModelVersionRef, String> {
        Err("no registry in these tests".into())
    }

    async fn set_alias(
        &self,
        _: &ModelVersionRef,
        _: &str,
        _: &str,
        _: &StepOrigin,
    ) -> Result<Option<String>, String> {
        Err("no registry in these tests".into())
    }
}
