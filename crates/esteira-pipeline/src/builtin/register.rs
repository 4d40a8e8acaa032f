//! The `register` step: registers the `model` directory as a new version of the registered
//! model `name` (param, required), tagged with the step's origin, and outputs the version as
//! a [`ModelVersionRef`].
//!
//! The step always registers, blessed or not: registering records the candidate in the
//! registry; only `deploy` moves an alias, and only for a blessed version. When a `blessing`
//! is connected, its verdict is written to the step's log. The metric `version` is the new
//! version number.

use std::collections::BTreeMap;

use super::io::{self, param_error, required_str};
use super::model_params::{check_known_params, input_error};
use crate::step::{Blessing, StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for a missing or empty `name` or an unknown param;
/// [`StepError::Input`] when `model` is not a directory or the `blessing` cannot be read;
/// [`StepError::Failed`] when the registry fails or returns a version that is not a number.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    check_known_params(ctx, "`register`", &["name"])?;
    let name = required_str(ctx, "name")?;
    if name.trim().is_empty() {
        return Err(param_error("name", "must not be empty".into()));
    }
    let model_dir = io::input_path(ctx, "model")?;
    if !model_dir.is_dir() {
        return Err(input_error(
            "model",
            format!("{} is not a model directory", model_dir.display()),
        ));
    }
    if ctx.inputs.contains_key("blessing") {
        let blessing: Blessing = io::read_json(ctx, "blessing")?;
        ctx.log.line(format!(
            "blessing: {} (registered either way; deploy moves aliases only for blessed versions)",
            if blessing.blessed {
                "blessed"
            } else {
                "not blessed"
            }
        ));
    }
    let version = ctx
        .registry
        .register(name, &model_dir, ctx.origin)
        .await
        .map_err(|e| StepError::Failed(format!("registering `{name}`: {e}")))?;
    let number: f64 = version.version.parse().map_err(|_| {
        StepError::Failed(format!(
            "the registry returned version `{}` of `{name}`, not a number",
            version.version
        ))
    })?;
    ctx.log.line(format!(
        "registered {} version {}",
        version.name, version.version
    ));
    let out = io::write_json(ctx, "version", &version)?;
    Ok(StepOutput {
        outputs: BTreeMap::from([("version".to_string(), out)]),
        metrics: BTreeMap::from([("version".to_string(), number)]),
    })
}
