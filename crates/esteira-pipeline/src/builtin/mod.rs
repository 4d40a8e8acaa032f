//! The built-in step types. See [`crate::step::BuiltinKind`] for their ports.

mod batch_predict;
mod deploy;
mod evaluate;
mod gate;
mod ingest;

pub use ingest::local_sources as ingest_sources;
mod io;
mod model_io;
mod model_params;
mod register;
mod split;
mod train;
mod transform;
mod tune;
mod validate;

pub use ingest::query_postgres;

use crate::step::{BuiltinKind, StepContext, StepError, StepOutput};

/// Runs the built-in step `kind`.
///
/// # Errors
/// [`StepError`] naming the param or input at fault, or why the step failed.
pub async fn run(kind: BuiltinKind, ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    match kind {
        BuiltinKind::Ingest => ingest::run(ctx).await,
        BuiltinKind::Validate => validate::run(ctx).await,
        BuiltinKind::Split => split::run(ctx).await,
        BuiltinKind::Transform => transform::run(ctx).await,
        BuiltinKind::Train => train::run(ctx).await,
        BuiltinKind::Tune => tune::run(ctx).await,
        BuiltinKind::Evaluate => evaluate::run(ctx).await,
        BuiltinKind::Gate => gate::run(ctx).await,
        BuiltinKind::Register => register::run(ctx).await,
        BuiltinKind::Deploy => deploy::run(ctx).await,
        BuiltinKind::BatchPredict => batch_predict::run(ctx).await,
    }
}
