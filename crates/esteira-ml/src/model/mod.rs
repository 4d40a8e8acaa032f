//! Saved models: a directory laid out like an MLflow model, so that the MLflow API lists and
//! downloads it like any other, plus Esteira's own versioned manifest.
//!
//! ```text
//! model/
//!   MLmodel              MLflow's manifest (YAML): flavors, signature, input example info
//!   esteira.json         Esteira's manifest: format version, kind, signature, training summary
//!   model.json           the fitted model (kind-specific: forecast or tabular)
//!   input_example.json   a few input rows, pandas "split" orient
//! ```
//!
//! Versioning: [`FORMAT_VERSION`] is written into `esteira.json` and into the `esteira`
//! flavor of `MLmodel`. [`load`] reads every format from 1 up to the current one (older
//! payloads are upgraded on load); a directory written by a newer Esteira is
//! [`ModelError::NewerFormat`]. Directories without `esteira.json` whose `MLmodel` has an
//! `onnx` flavor, and bare `.onnx` files, load as ONNX models.

pub mod forecast;
pub mod tabular;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backtest::BacktestError;
use crate::dataset::{DatasetError, Table, table_from_columns};
use crate::forecast::ForecastError;
use crate::onnx::{Column, OnnxError, OnnxModel};
use crate::series::SeriesError;
use crate::tabular::{TabularError, TabularModel};

pub use forecast::{ForecastConfig, ForecastModel, SeriesModel, TrainReport, backtest};

/// The format version this Esteira writes.
pub const FORMAT_VERSION: u32 = 1;

/// Name of Esteira's manifest inside a model directory.
pub const MANIFEST_FILE: &str = "esteira.json";
/// Name of the fitted model inside a model directory.
pub const DATA_FILE: &str = "model.json";
/// Name of the input example inside a model directory.
pub const INPUT_EXAMPLE_FILE: &str = "input_example.json";

/// Errors saving, loading and using models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON for this model format: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path} already exists; choose another output directory")]
    Exists { path: PathBuf },
    #[error(
        "{path}: model format {found} was written by a newer Esteira (this one reads up to {supported})"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "{path} is not a model: expected a directory with esteira.json or an MLmodel with an onnx flavor, or a .onnx file"
    )]
    NotAModel { path: PathBuf },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("unknown series '{series}': the model was not trained on it")]
    UnknownSeries { series: String },
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Series(#[from] SeriesError),
    #[error("series '{series}': {source}")]
    Forecast {
        series: String,
        #[source]
        source: ForecastError,
    },
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    #[error(transparent)]
    Tabular(#[from] TabularError),
}

/// Result of model operations.
pub type Result<T> = std::result::Result<T, ModelError>;

/// What a model directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Many-series forecasts ([`ForecastModel`]).
    Forecast,
    /// Regression or classification on feature columns ([`TabularModel`]).
    Tabular,
}

/// One column of a signature, as MLflow's `ColSpec` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    pub name: String,
    /// MLflow data type: `string`, `double`, `long`, `datetime`, `boolean`.
    #[serde(rename = "type")]
    pub data_type: String,
    pub required: bool,
}

impl ColumnSpec {
    /// A column that must be present.
    pub fn required(name: &str, data_type: &str) -> Self {
        Self {
            name: name.to_string(),
            data_type: data_type.to_string(),
            required: true,
        }
    }

    /// A column that may be absent.
    pub fn optional(name: &str, data_type: &str) -> Self {
        Self {
            required: false,
            ..Self::required(name, data_type)
        }
    }
}

/// Input and output columns of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub inputs: Vec<ColumnSpec>,
    pub outputs: Vec<ColumnSpec>,
}

/// Esteira's manifest (`esteira.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub kind: ModelKind,
    /// Version of the Esteira that wrote the model.
    pub esteira_version: String,
    /// UTC creation time, RFC 3339.
    pub created: String,
    pub signature: Signature,
    /// Input example in pandas "split" orient: `{"columns": [...], "data": [[...]]}`.
    pub input_example: Value,
    /// What training measured (backtest summaries, fallbacks); free-form JSON.
    pub training: Value,
}

/// A loaded model of any kind.
pub enum LoadedModel {
    Forecast(Box<ForecastModel>, Manifest),
    Tabular(Box<TabularModel>, Manifest),
    Onnx(Box<OnnxModel>),
}

/// Writes a model directory at `dir`, which must not exist yet. The files are written into a
/// temporary sibling directory that is renamed into place, so a failed save leaves nothing.
///
/// # Errors
/// [`ModelError::Exists`] when `dir` exists, [`ModelError::Io`] for file system failures.
pub fn save(dir: &Path, manifest: &Manifest, data: &impl Serialize) -> Result<()> {
    if dir.exists() {
        return Err(ModelError::Exists {
            path: dir.to_path_buf(),
        });
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    fs::create_dir(&staging).map_err(io(&staging))?;
    let written = write_files(&staging, manifest, data);
    let result = written.and_then(|()| fs::rename(&staging, dir).map_err(io(dir)));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn write_files(dir: &Path, manifest: &Manifest, data: &impl Serialize) -> Result<()> {
    let data_json = serde_json::to_vec(data).map_err(|e| ModelError::Json {
        path: dir.join(DATA_FILE),
        message: e.to_string(),
    })?;
    write(&dir.join(DATA_FILE), &data_json)?;
    let manifest_json = serde_json::to_vec_pretty(manifest).map_err(|e| ModelError::Json {
        path: dir.join(MANIFEST_FILE),
        message: e.to_string(),
    })?;
    write(&dir.join(MANIFEST_FILE), &manifest_json)?;
    write(
        &dir.join(INPUT_EXAMPLE_FILE),
        manifest.input_example.to_string().as_bytes(),
    )?;
    let size = (data_json.len() + manifest_json.len()) as u64;
    write(
        &dir.join("MLmodel"),
        mlmodel_yaml(manifest, size).as_bytes(),
    )
}

/// The `MLmodel` file MLflow reads: an `esteira` flavor, the signature as JSON strings, the
/// input example's location, creation time and a model UUID.
pub fn mlmodel_yaml(manifest: &Manifest, size: u64) -> String {
    let quoted = |v: &Value| format!("'{}'", v.to_string().replace('\'', "''"));
    let inputs = quoted(&serde_json::to_value(&manifest.signature.inputs).unwrap_or_default());
    let outputs = quoted(&serde_json::to_value(&manifest.signature.outputs).unwrap_or_default());
    let created = chrono::DateTime::parse_from_rfc3339(&manifest.created)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        .unwrap_or_else(|_| manifest.created.clone());
    let kind = serde_json::to_value(manifest.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!(
        "artifact_path: model\n\
         flavors:\n  esteira:\n    data: {DATA_FILE}\n    esteira_version: {version}\n    format_version: {format}\n    model_kind: {kind}\n\
         model_size_bytes: {size}\n\
         model_uuid: {uuid}\n\
         saved_input_example_info:\n  artifact_path: {INPUT_EXAMPLE_FILE}\n  pandas_orient: split\n  type: dataframe\n\
         signature:\n  inputs: {inputs}\n  outputs: {outputs}\n  params: null\n\
         utc_time_created: '{created}'\n",
        version = manifest.esteira_version,
        format = manifest.format_version,
        uuid = uuid::Uuid::new_v4().simple(),
    )
}

/// Loads the model at `path`: an Esteira model directory, an MLflow directory with an `onnx`
/// flavor, or a `.onnx` file.
///
/// # Errors
/// [`ModelError::NotAModel`], [`ModelError::NewerFormat`], [`ModelError::Io`],
/// [`ModelError::Json`], or the ONNX loader's errors.
pub fn load(path: &Path) -> Result<LoadedModel> {
    load_with(path, crate::onnx::SessionOptions::default())
}

/// As [`load`], with `onnx` as the session settings of an ONNX model.
///
/// # Errors
/// As [`load`].
pub fn load_with(path: &Path, onnx: crate::onnx::SessionOptions) -> Result<LoadedModel> {
    let manifest_path = path.join(MANIFEST_FILE);
    if path.is_dir() && manifest_path.is_file() {
        let manifest: Manifest = read_json(&manifest_path)?;
        if manifest.format_version > FORMAT_VERSION {
            return Err(ModelError::NewerFormat {
                path: path.to_path_buf(),
                found: manifest.format_version,
                supported: FORMAT_VERSION,
            });
        }
        return match manifest.kind {
            ModelKind::Forecast => {
                let model: ForecastModel = read_json(&path.join(DATA_FILE))?;
                Ok(LoadedModel::Forecast(Box::new(model), manifest))
            }
            ModelKind::Tabular => {
                let model: TabularModel = read_json(&path.join(DATA_FILE))?;
                Ok(LoadedModel::Tabular(Box::new(model), manifest))
            }
        };
    }
    let is_onnx_file = path.extension().is_some_and(|e| e == "onnx") && path.is_file();
    if is_onnx_file || path.join("MLmodel").is_file() {
        return Ok(LoadedModel::Onnx(Box::new(OnnxModel::load_with(
            path, onnx,
        )?)));
    }
    Err(ModelError::NotAModel {
        path: path.to_path_buf(),
    })
}

/// Predictions of the ONNX `model` for every row of `table`. Every column of `table` is fed
/// to the model input of its name (numbers for numeric columns, text otherwise); every
/// output comes back: an output with one column as a column of its name, a wider one as
/// `<output>_<label>` per column (its class labels) or `<output>_<index>` when it has none.
///
/// # Errors
/// [`ModelError::Invalid`] (field `data`) naming the column and row of a null value;
/// [`ModelError::Onnx`] when the columns do not fit the model's inputs or the model fails;
/// [`ModelError::Dataset`] when the outputs do not make a table.
pub fn onnx_predict_table(model: &OnnxModel, table: &Table) -> Result<Table> {
    let columns = table
        .column_names()
        .into_iter()
        .map(|name| onnx_input(table, &name).map(|column| (name, column)))
        .collect::<Result<Vec<_>>>()?;
    let outputs = model.predict(&columns, table.num_rows())?;
    let mut out: Vec<(String, ArrayRef)> = Vec::new();
    for matrix in &outputs.0 {
        for col in 0..matrix.cols {
            let name = match (matrix.cols, matrix.column_labels.get(col)) {
                (1, _) => matrix.name.clone(),
                (_, Some(label)) => format!("{}_{label}", matrix.name),
                (_, None) => format!("{}_{col}", matrix.name),
            };
            let rows = 0..matrix.rows;
            let array: ArrayRef = match &matrix.data {
                Column::F64(_) => Arc::new(Float64Array::from(
                    rows.map(|r| matrix.get(r, col)).collect::<Vec<_>>(),
                )),
                Column::Str(_) => Arc::new(StringArray::from(
                    rows.map(|r| matrix.get_str(r, col)).collect::<Vec<_>>(),
                )),
            };
            out.push((name, array));
        }
    }
    Ok(table_from_columns(out)?)
}

/// Column `name` of `table` as an ONNX input: numbers for numeric columns, text otherwise.
fn onnx_input(table: &Table, name: &str) -> Result<Column> {
    fn non_null<T>(name: &str, values: Vec<Option<T>>) -> Result<Vec<T>> {
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                v.ok_or_else(|| ModelError::Invalid {
                    field: "data",
                    reason: format!("column '{name}' is null at row {row}"),
                })
            })
            .collect()
    }
    if table.column(name)?.data_type().is_numeric() {
        Ok(Column::F64(non_null(name, table.f64_column(name)?)?))
    } else {
        Ok(Column::Str(non_null(name, table.string_column(name)?)?))
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes).map_err(|e| ModelError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(io(path))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The manifest of a model written now by this Esteira.
pub fn new_manifest(
    kind: ModelKind,
    signature: Signature,
    input_example: Value,
    training: Value,
) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        kind,
        esteira_version: env!("CARGO_PKG_VERSION").to_string(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        signature,
        input_example,
        training,
    }
}
