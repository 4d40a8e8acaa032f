//! scratch
use crate::step::*;
use std::collections::BTreeMap;
pub struct Tracking {
    pub uri: String,
    pub run_id: String,
    pub experiment_id: String,
}
pub async fn run_command(
    _a: &[String],
    _c: &StepContext<'_>,
    _o: &BTreeMap<String, ArtifactKind>,
    _e: &BTreeMap<String, String>,
    _t: Option<&Tracking>,
    _x: tokio::sync::watch::Receiver<bool>,
) -> Result<StepOutput, StepError> {
    Err(StepError::Failed(String::new()))
}
