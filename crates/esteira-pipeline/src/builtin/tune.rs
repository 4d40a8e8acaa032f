//! The `tune` step.

use crate::step::{StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError`] naming the param or input at fault.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    Err(StepError::Failed(format!(
        "step `{}`: `tune` is being written",
        ctx.origin.step
    )))
}
