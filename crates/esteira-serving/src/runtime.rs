//! A loaded model that predicts tables: the embeddable runtime
//! (`ServedModel::load(dir)?.predict(&table, &params)`).

use std::path::Path;

use esteira_ml::dataset::Table;
use esteira_ml::model::{self, LoadedModel, Signature, tabular};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A model ready to predict, with where it came from.
pub struct ServedModel {
    /// The registered model's name, or the path it was loaded from.
    pub name: String,
    /// The registered version, or `"local"`.
    pub version: String,
    model: LoadedModel,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

impl ServedModel {
    /// Loads the model directory (or `.onnx` file) at `path`; an ONNX session gets the
    /// serving settings (one intra-op thread, no spinning: concurrent requests are the
    /// parallelism).
    ///
    /// # Errors
    /// [`Error::Load`] with the cause.
    pub fn load(path: &Path, name: &str, version: &str) -> Result<ServedModel> {
        let options = esteira_ml::onnx::SessionOptions::serving();
        let model = model::load_with(path, options).map_err(|e| Error::Load {
            uri: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(ServedModel {
            name: name.to_string(),
            version: version.to_string(),
            model,
        })
    }

    /// The model's input signature, when it records one (ONNX models do not).
    pub fn signature(&self) -> Option<&Signature> {
        match &self.model {
            LoadedModel::Forecast(_, manifest) | LoadedModel::Tabular(_, manifest) => {
                Some(&manifest.signature)
            }
            LoadedModel::Onnx(_) => None,
        }
    }

    /// Whether this is a forecast model (requests name series, and optionally a horizon).
    pub fn is_forecast(&self) -> bool {
        matches!(self.model, LoadedModel::Forecast(..))
    }

    /// Predicts `table`. Tabular and ONNX models score every row. Forecast models forecast
    /// the series named by the id columns of `table` for `params.horizon` steps (default
    /// the trained horizon), or, when the model has exogenous columns, through the future
    /// rows of `table`; each forecast row carries its intervals.
    ///
    /// # Errors
    /// [`Error::BadInput`] for a bad `horizon` param or rows the model cannot score (an
    /// unknown series, a missing column); [`Error::Predict`] for a failure of the model.
    pub fn predict(&self, table: &Table, params: &Map<String, Value>) -> Result<Table> {
        match &self.model {
            LoadedModel::Forecast(m, _) => {
                let horizon = match horizon(params)? {
                    Some(h) => Some(h),
                    None => horizon_column(table)?,
                };
                let rows = without_column(table, HORIZON_COLUMN)?;
                m.predict_table(&rows, None, horizon).map_err(input_error)
            }
            LoadedModel::Tabular(m, _) => {
                no_params(params)?;
                tabular::predict_table(m, table).map_err(input_error)
            }
            LoadedModel::Onnx(m) => {
                no_params(params)?;
                model::onnx_predict_table(m, table).map_err(input_error)
            }
        }
    }
}

fn horizon(params: &Map<String, Value>) -> Result<Option<usize>> {
    if let Some(k) = params.keys().find(|k| k.as_str() != "horizon") {
        return Err(Error::bad_input(
            format!("params.{k}"),
            "unknown param; forecast models take `horizon`",
        ));
    }
    match params.get("horizon") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|h| *h > 0)
            .and_then(|h| usize::try_from(h).ok())
            .map(Some)
            .ok_or_else(|| {
                Error::bad_input(
                    "params.horizon",
                    format!("must be a positive integer, not {v}"),
                )
            }),
    }
}

/// The optional input column of forecast signatures that carries the horizon.
const HORIZON_COLUMN: &str = "horizon";

/// The horizon the `horizon` column asks for: every non-null value must agree.
fn horizon_column(table: &Table) -> Result<Option<usize>> {
    if !table.column_names().iter().any(|c| c == HORIZON_COLUMN) {
        return Ok(None);
    }
    let values = table
        .f64_column(HORIZON_COLUMN)
        .map_err(|e| Error::bad_input(HORIZON_COLUMN, e.to_string()))?;
    let mut asked: Option<f64> = None;
    for (row, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        if *v < 1.0 || v.fract() != 0.0 {
            return Err(Error::bad_input(
                HORIZON_COLUMN,
                format!("row {row}: {v} is not a positive whole number"),
            ));
        }
        if asked.is_some_and(|a| a != *v) {
            return Err(Error::bad_input(
                HORIZON_COLUMN,
                "the rows ask for different horizons; send one horizon per request",
            ));
        }
        asked = Some(*v);
    }
    Ok(asked.map(|h| h as usize))
}

/// `table` without `column` (unchanged when it has none).
fn without_column(table: &Table, column: &str) -> Result<Table> {
    let batch = table.batch();
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|i| batch.schema().field(*i).name() != column)
        .collect();
    batch
        .project(&keep)
        .map(Table::new)
        .map_err(|e| Error::Predict(e.to_string()))
}

fn no_params(params: &Map<String, Value>) -> Result<()> {
    match params.keys().next() {
        None => Ok(()),
        Some(k) => Err(Error::bad_input(
            format!("params.{k}"),
            "this model takes no params",
        )),
    }
}

fn input_error(e: model::ModelError) -> Error {
    match e {
        model::ModelError::Invalid { field, reason } => Error::bad_input(field, reason),
        model::ModelError::UnknownSeries { .. }
        | model::ModelError::Dataset(_)
        | model::ModelError::Series(_) => Error::bad_input("inputs", e.to_string()),
        other => Error::Predict(other.to_string()),
    }
}
