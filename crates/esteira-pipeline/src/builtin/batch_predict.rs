//! The `batch_predict` step: scores the `data` dataset with a model and writes the
//! `predictions` dataset.
//!
//! The model is the `model` input when connected, otherwise the registry's model behind the
//! param `model = "NAME@ALIAS"` (one of the two is required, not both).
//!
//! - Forecast models without exogenous columns forecast `horizon` steps (param; default the
//!   horizon the model was trained for) for each series id present in `data` (read from the
//!   `id` columns, param; default the model's id columns), in order of first appearance.
//! - Forecast models with exogenous columns read `data` as future rows (ids, times and the
//!   exogenous values) and forecast each series through its last future row; `horizon` is
//!   not allowed then.
//! - Tabular models predict every row (`prediction`, and `proba_<class>` for
//!   classification); ONNX models output every output of the model, one column per output
//!   column.
//!
//! The metric `rows` counts the prediction rows.

use std::collections::BTreeMap;

use esteira_ml::dataset::Table;
use esteira_ml::model::{self, ForecastModel, LoadedModel, tabular as tab};
use serde_json::Value;

use super::io::{self, param, param_error, str_list, usize_or};
use super::model_io::fetch_alias;
use super::model_params::{alias_ref, blocking, check_known_params, input_error};
use crate::step::{StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] when neither or both of the `model` input and param are given, the
/// alias does not exist, or a param does not apply to the model; [`StepError::Input`] when
/// the `model` input cannot be loaded or `data` does not fit the model (missing column,
/// unknown series, unseen category); [`StepError::Failed`] when the registry fails, its model
/// cannot be loaded, or the output cannot be written.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    check_known_params(ctx, "`batch_predict`", &["model", "id", "horizon"])?;
    let id = str_list(ctx, "id")?;
    let horizon = match param(ctx, "horizon") {
        None | Some(Value::Null) => None,
        Some(_) => Some(usize_or(ctx, "horizon", 0)?),
    };
    if horizon == Some(0) {
        return Err(param_error("horizon", "must be at least 1".into()));
    }
    let reference = alias_ref(ctx, "model")?;
    let data = io::read_table(ctx, "data")?;
    let (model_path, fetched) = match (ctx.inputs.get("model"), &reference) {
        (Some(_), Some(_)) => {
            return Err(param_error(
                "model",
                "the `model` input is connected too; give one of the two".into(),
            ));
        }
        (None, None) => {
            return Err(param_error(
                "model",
                "is required when no `model` input is connected (NAME@ALIAS)".into(),
            ));
        }
        (Some(path), None) => (path.clone(), None),
        (None, Some(r)) => match fetch_alias(ctx, r).await? {
            None => {
                return Err(param_error(
                    "model",
                    format!("{r} does not exist in the registry"),
                ));
            }
            Some(f) => {
                ctx.log
                    .line(format!("{r} is version {}", f.version.version));
                (f.dir.clone(), Some(f))
            }
        },
    };
    let source = fetched
        .as_ref()
        .map(|f| format!("{} version {}", f.version.name, f.version.version));
    let predictions = blocking(move || {
        let model = model::load(&model_path).map_err(|e| match &source {
            Some(registered) => StepError::Failed(format!("loading {registered}: {e}")),
            None => input_error("model", e),
        })?;
        let predictions = predict(&model, &data, &id, horizon);
        // The downloaded files are kept until the model has been used.
        drop(fetched);
        predictions
    })
    .await?;
    let out = io::write_table(ctx, "predictions", &predictions)?;
    ctx.log
        .line(format!("{} prediction rows", predictions.num_rows()));
    Ok(StepOutput {
        outputs: BTreeMap::from([("predictions".to_string(), out)]),
        metrics: BTreeMap::from([("rows".to_string(), predictions.num_rows() as f64)]),
    })
}

fn predict(
    model: &LoadedModel,
    data: &Table,
    id: &[String],
    horizon: Option<usize>,
) -> Result<Table, StepError> {
    let tabular_only = |name: &str| {
        param_error(
            name,
            "applies to forecast models; this is not one".to_string(),
        )
    };
    match model {
        LoadedModel::Forecast(m, _) => predict_forecast(m, data, id, horizon),
        LoadedModel::Tabular(..) | LoadedModel::Onnx(_) if !id.is_empty() => {
            Err(tabular_only("id"))
        }
        LoadedModel::Tabular(..) | LoadedModel::Onnx(_) if horizon.is_some() => {
            Err(tabular_only("horizon"))
        }
        LoadedModel::Tabular(m, _) => {
            tab::predict_table(m, data).map_err(|e| input_error("data", e))
        }
        LoadedModel::Onnx(m) => {
            model::onnx_predict_table(m, data).map_err(|e| input_error("data", e))
        }
    }
}

fn predict_forecast(
    model: &ForecastModel,
    data: &Table,
    id: &[String],
    horizon: Option<usize>,
) -> Result<Table, StepError> {
    model
        .predict_table(data, Some(id), horizon)
        .map_err(|e| match e {
            esteira_ml::model::ModelError::Invalid {
                field: "horizon",
                reason,
            } => param_error("horizon", reason),
            other => input_error("data", other),
        })
}
