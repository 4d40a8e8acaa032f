//! The built-in step types. See [`crate::step::BuiltinKind`] for their ports.

use crate::step::{BuiltinKind, StepContext, StepError, StepOutput};

/// Runs the built-in step `kind`.
///
/// # Errors
/// [`StepError`] naming the param or input at fault, or why the step failed.
pub async fn run(kind: BuiltinKind, ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    Err(StepError::Failed(format!(
        "step type `{}` is not implemented yet (step `{}`)",
        kind.name(),
        ctx.origin.step
    )))
}
