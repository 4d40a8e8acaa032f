//! The `deploy` step: points `alias` (param, default `champion`) at the registered `version`
//! when the `blessing` says so, recording the blessing's reasons as the alias move's reason.
//!
//! Report: `{"deployed": true, "alias", "name", "version", "previous"}` (`previous`: the
//! version the alias pointed to before, or null), or, when not blessed,
//! `{"deployed": false, "alias", "name", "version", "reasons"}` with no alias moved. A
//! refusal is not a step failure; the metric `deployed` is 1 or 0.

use std::collections::BTreeMap;

use serde_json::json;

use super::io::{self, optional_str, param_error};
use super::model_params::check_known_params;
use crate::step::{Blessing, ModelVersionRef, StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for an unknown param or an alias that is empty or holds characters
/// other than letters, digits, `_` and `-`; [`StepError::Input`] when `version` or
/// `blessing` cannot be read; [`StepError::Failed`] when the registry fails.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    check_known_params(ctx, "`deploy`", &["alias"])?;
    let alias = optional_str(ctx, "alias")?.unwrap_or("champion");
    if alias.is_empty()
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(param_error(
            "alias",
            format!("`{alias}` must be letters, digits, `_` or `-`"),
        ));
    }
    let version: ModelVersionRef = io::read_json(ctx, "version")?;
    let blessing: Blessing = io::read_json(ctx, "blessing")?;
    let report = if blessing.blessed {
        let reason = format!(
            "blessed by pipeline `{}` run {} step `{}`: {}",
            ctx.origin.pipeline,
            ctx.origin.run_id,
            ctx.origin.step,
            blessing.reasons.join("; ")
        );
        let previous = ctx
            .registry
            .set_alias(&version, alias, &reason, ctx.origin)
            .await
            .map_err(|e| {
                StepError::Failed(format!(
                    "moving {}@{alias} to version {}: {e}",
                    version.name, version.version
                ))
            })?;
        ctx.log.line(format!(
            "{}@{alias} -> version {} (was {})",
            version.name,
            version.version,
            previous.as_deref().unwrap_or("unset")
        ));
        json!({"deployed": true, "alias": alias, "name": version.name,
               "version": version.version, "previous": previous})
    } else {
        ctx.log.line(format!(
            "not blessed: {}@{alias} left unchanged",
            version.name
        ));
        json!({"deployed": false, "alias": alias, "name": version.name,
               "version": version.version, "reasons": blessing.reasons})
    };
    let out = io::write_json(ctx, "report", &report)?;
    Ok(StepOutput {
        outputs: BTreeMap::from([("report".to_string(), out)]),
        metrics: BTreeMap::from([(
            "deployed".to_string(),
            if blessing.blessed { 1.0 } else { 0.0 },
        )]),
    })
}
