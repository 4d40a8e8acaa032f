//! ONNX models on ONNX Runtime.
//!
//! Models run on ONNX Runtime through the `ort` crate, which loads the shared library at run time
//! (`load-dynamic`; nothing is downloaded at build time). The library comes from the `onnxruntime`
//! PyPI wheel (pinned in `scripts/requirements.txt`, installed by `scripts/setup.sh`).
//!
//! # Finding the ONNX Runtime library
//!
//! [`find_runtime_library`] looks, in order, at:
//! 1. the environment variable `ORT_DYLIB_PATH`, if set: that file is used (and it is an error if it
//!    does not exist; there is no fallback, so a typo is not silently ignored);
//! 2. `$ESTEIRA_VENV/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*`, if `ESTEIRA_VENV` is set;
//! 3. the same path below `.venv` of the workspace this crate was built from (`<workspace>/.venv`,
//!    where `scripts/setup.sh` installs it; this is what the tests use), then below `.venv` of the
//!    current directory and its ancestors.
//!
//! The first successful [`init_runtime`] / [`init_runtime_from`] loads the library once per process
//! (guarded by a `OnceLock`); later calls reuse it.
//!
//! # Prediction (MLflow's ONNX rules)
//!
//! [`OnnxModel::predict`] takes named [`Column`]s of equal length, numbers ([`Column::F64`]) or
//! strings ([`Column::Str`]); [`OnnxModel::predict_f64`] is the same for numeric columns only.
//! - a model with a single input takes the whole matrix: the columns in the given order form a
//!   `[rows, columns]` tensor (names are not checked, the count is if the model declares it); the
//!   columns must all be strings for a `tensor(string)` input and all numbers otherwise;
//! - a model with several inputs gets each input from the column of the same name (missing, extra
//!   or duplicate columns are errors), shaped `[rows, 1]` for a rank-2 input or `[rows]` for rank 1;
//!   each column must be strings for a `tensor(string)` input and numbers otherwise.
//!
//! Numbers are converted to the element type the model declares: `float` → `f32` (rounded to
//! nearest; a finite value beyond the `f32` range is an error), `double` → `f64`, `int64` / `int32`
//! (integral values in range only), `bool` (0 or 1 only); any other value is an
//! [`OnnxError::BadValue`] naming the input, column and row, as is a string with a NUL byte. NaN
//! and infinities pass unchanged into `float` / `double` inputs: NaN is how ONNX tree ensembles
//! (e.g. from scikit-learn's `HistGradientBoosting*`) take missing values, so whether it is valid is
//! the model's business, and a model may then give NaN outputs. A string column given to a numeric
//! input (or the reverse) is an [`OnnxError::ColumnType`] naming the input and the column: strings
//! are never parsed as numbers, nor numbers formatted as strings.
//!
//! Outputs come back as [`OutputMatrix`]es in the model's output order: `tensor(string)` outputs (the
//! labels of a classifier trained on string labels) as [`Column::Str`], numeric tensors as
//! [`Column::F64`] (integer labels converted), and a sequence of maps (scikit-learn's default
//! `ZipMap` probabilities, `seq(map(int64|string, float|double))`) as one numeric column per key,
//! sorted by key (numerically for `int64` keys: scikit-learn's `classes_` order), with the keys in
//! [`OutputMatrix::column_labels`].

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::value::{DynMap, DynValue, Tensor, TensorElementType, ValueType};

/// Errors of ONNX model loading and prediction.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The ONNX Runtime shared library was not found.
    #[error(
        "ONNX Runtime library not found: {path} (set ORT_DYLIB_PATH to libonnxruntime.so, or run scripts/setup.sh to install the onnxruntime wheel into .venv)"
    )]
    LibraryNotFound {
        /// The path (or glob pattern) that was looked at.
        path: String,
    },
    /// The ONNX Runtime shared library exists but could not be loaded or initialised.
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    LibraryLoad {
        /// The library file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model file or MLflow model directory could not be read or is not a valid ONNX model.
    #[error("cannot load ONNX model {path}: {message}")]
    ModelLoad {
        /// The model file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A model input has no column of that name.
    #[error("input column missing: model input '{0}' has no column of that name")]
    MissingColumn(String),
    /// A column that no model input takes.
    #[error("extra input column '{0}': the model has no input of that name")]
    ExtraColumn(String),
    /// Two columns of the same name for a model with several inputs.
    #[error("duplicate input column '{0}'")]
    DuplicateColumn(String),
    /// A string column for a numeric input, or a numeric column for a string input.
    #[error(
        "wrong column type for input '{input}': column '{column}' is {given}, expected {expected}"
    )]
    ColumnType {
        /// The model input.
        input: String,
        /// The column given for it.
        column: String,
        /// What the column holds: `numeric` or `string`.
        given: &'static str,
        /// What the input takes.
        expected: String,
    },
    /// The data does not fit the shape the model declares.
    #[error("wrong shape for input '{input}': {message}")]
    WrongShape {
        /// The model input (or column) concerned.
        input: String,
        /// What was expected and what was given.
        message: String,
    },
    /// A value the input's element type cannot hold: a number beyond `float` range, a non-integer
    /// for an integer input, not 0 or 1 for a `bool` input, a string with a NUL byte.
    #[error("bad value for input '{input}': column '{column}' row {row}: {message}")]
    BadValue {
        /// The model input.
        input: String,
        /// The column.
        column: String,
        /// The row (from 0).
        row: usize,
        /// The value and why it does not fit.
        message: String,
    },
    /// A tensor element type (or value type) this module cannot convert.
    #[error("unsupported type for '{name}': {ty}")]
    UnsupportedType {
        /// The input or output name.
        name: String,
        /// The ONNX type.
        ty: String,
    },
    /// ONNX Runtime failed while running the model.
    #[error("ONNX Runtime failed to run the model: {0}")]
    Run(String),
}

/// Result alias for this module.
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;

const WHEEL_LIB_DIR: &str = "site-packages/onnxruntime/capi";

/// Finds `libonnxruntime.so.*` (see the module documentation for the search order).
pub fn find_runtime_library() -> Result<PathBuf> {
    if let Some(explicit) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return find_runtime_library_in(Some(Path::new(&explicit)), &[]);
    }
    let mut venvs = Vec::new();
    if let Some(venv) = std::env::var_os("ESTEIRA_VENV").filter(|v| !v.is_empty()) {
        venvs.push(PathBuf::from(venv));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    venvs.push(workspace.join(".venv"));
    if let Ok(cwd) = std::env::current_dir() {
        venvs.extend(cwd.ancestors().map(|dir| dir.join(".venv")));
    }
    find_runtime_library_in(None, &venvs)
}

/// Finds the library given an explicit file (used as is, error if missing) or, without one, in the
/// `onnxruntime` wheel of the first of `venvs` that has it.
pub fn find_runtime_library_in(explicit: Option<&Path>, venvs: &[PathBuf]) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(OnnxError::LibraryNotFound {
                path: path.display().to_string(),
            })
        };
    }
    for venv in venvs {
        let Ok(lib) = std::fs::read_dir(venv.join("lib")) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = lib
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path().join(WHEEL_LIB_DIR))
            .collect();
        pythons.sort();
        for capi in pythons {
            let Ok(entries) = std::fs::read_dir(&capi) else {
                continue;
            };
            let mut libs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("libonnxruntime.so")
                })
                .map(|e| e.path())
                .collect();
            libs.sort();
            // Prefer the fully versioned file (libonnxruntime.so.1.31.1) over a bare symlink.
            if let Some(found) = libs.pop() {
                return Ok(found);
            }
        }
    }
    let looked = venvs
        .iter()
        .map(|v| {
            format!(
                "{}/lib/python3*/{WHEEL_LIB_DIR}/libonnxruntime.so*",
                v.display()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(OnnxError::LibraryNotFound {
        path: if looked.is_empty() {
            "(no search path)".into()
        } else {
            looked
        },
    })
}

static RUNTIME: OnceLock<(PathBuf, ort::environment::Environment)> = OnceLock::new();
static RUNTIME_INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime from [`find_runtime_library`] once per process; returns the library path.
pub fn init_runtime() -> Result<&'static Path> {
    if let Some((path, _)) = RUNTIME.get() {
        return Ok(path);
    }
    init_runtime_from(&find_runtime_library()?)
}

/// Loads ONNX Runtime from `path` once per process and returns the library actually in use.
///
/// A missing file is always an error naming it. Once a library is loaded, later calls return the
/// loaded one (a process holds a single ONNX Runtime).
pub fn init_runtime_from(path: &Path) -> Result<&'static Path> {
    if !path.is_file() {
        return Err(OnnxError::LibraryNotFound {
            path: path.display().to_string(),
        });
    }
    let _guard = RUNTIME_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((loaded, _)) = RUNTIME.get() {
        return Ok(loaded);
    }
    let load_err = |message: String| OnnxError::LibraryLoad {
        path: path.to_path_buf(),
        message,
    };
    let env = ort::init_from(path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("esteira")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    let (loaded, _) = RUNTIME.get_or_init(|| (path.to_path_buf(), env));
    Ok(loaded)
}

/// Element type of a model input or output, as ONNX names it (`float`, `double`, `int64`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputInfo {
    /// The input name.
    pub name: String,
    /// Element type in ONNX notation (`float`, `double`, `int64`, `string`, ...).
    pub element_type: String,
    /// Declared shape; `-1` for a dynamic dimension (e.g. the batch).
    pub shape: Vec<i64>,
}

/// A column of values: numbers or strings. Model inputs take columns; outputs come back as them.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers (cast to the tensor's element type on input; converted to `f64` on output).
    F64(Vec<f64>),
    /// Strings, for `tensor(string)` inputs and outputs.
    Str(Vec<String>),
}

impl Column {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::F64(v) => v.len(),
            Column::Str(v) => v.len(),
        }
    }

    /// True when the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numbers, or `None` for a string column.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match self {
            Column::F64(v) => Some(v),
            Column::Str(_) => None,
        }
    }

    /// The strings, or `None` for a numeric column.
    pub fn as_str(&self) -> Option<&[String]> {
        match self {
            Column::F64(_) => None,
            Column::Str(v) => Some(v),
        }
    }

    fn view(&self) -> ColumnRef<'_> {
        match self {
            Column::F64(v) => ColumnRef::F64(v),
            Column::Str(v) => ColumnRef::Str(v),
        }
    }
}

impl From<Vec<f64>> for Column {
    fn from(values: Vec<f64>) -> Self {
        Column::F64(values)
    }
}

impl From<Vec<String>> for Column {
    fn from(values: Vec<String>) -> Self {
        Column::Str(values)
    }
}

impl From<Vec<&str>> for Column {
    fn from(values: Vec<&str>) -> Self {
        Column::Str(values.into_iter().map(str::to_string).collect())
    }
}

/// A borrowed column, so that [`OnnxModel::predict_f64`] does not copy its input.
#[derive(Clone, Copy)]
enum ColumnRef<'a> {
    F64(&'a [f64]),
    Str(&'a [String]),
}

impl ColumnRef<'_> {
    fn len(self) -> usize {
        match self {
            ColumnRef::F64(v) => v.len(),
            ColumnRef::Str(v) => v.len(),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            ColumnRef::F64(_) => "numeric",
            ColumnRef::Str(_) => "string",
        }
    }
}

/// One named output as a row-major matrix of numbers or strings.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputMatrix {
    /// The output name.
    pub name: String,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns (1 for a 1-D output).
    pub cols: usize,
    /// Row-major values, `rows * cols` long: [`Column::Str`] for a `tensor(string)` output (e.g. the
    /// labels of a classifier trained on string labels), [`Column::F64`] otherwise.
    pub data: Column,
    /// Column labels when the output was a sequence of maps (the map keys); empty otherwise.
    pub column_labels: Vec<String>,
}

impl OutputMatrix {
    /// The number at `row`, `col`; `None` if out of range or the output holds strings.
    pub fn get(&self, row: usize, col: usize) -> Option<f64> {
        let index = self.index(row, col)?;
        self.data.as_f64().map(|v| v[index])
    }

    /// The string at `row`, `col`; `None` if out of range or the output holds numbers.
    pub fn get_str(&self, row: usize, col: usize) -> Option<&str> {
        let index = self.index(row, col)?;
        self.data.as_str().map(|v| v[index].as_str())
    }

    /// The number in column `label` (a map key of a `ZipMap` output) at `row`.
    pub fn get_labelled(&self, row: usize, label: &str) -> Option<f64> {
        let col = self.column_labels.iter().position(|l| l == label)?;
        self.get(row, col)
    }

    fn index(&self, row: usize, col: usize) -> Option<usize> {
        (row < self.rows && col < self.cols).then_some(row * self.cols + col)
    }
}

/// The outputs of a prediction, in the model's output order.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs(pub Vec<OutputMatrix>);

impl Outputs {
    /// The output of that name.
    pub fn get(&self, name: &str) -> Option<&OutputMatrix> {
        self.0.iter().find(|o| o.name == name)
    }

    /// Output names in order.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|o| o.name.as_str()).collect()
    }
}

/// An ONNX model loaded into an ONNX Runtime session.
pub struct OnnxModel {
    path: PathBuf,
    inputs: Vec<InputInfo>,
    session: Mutex<Session>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

fn type_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "float".into(),
        TensorElementType::Float64 => "double".into(),
        TensorElementType::Int64 => "int64".into(),
        TensorElementType::Int32 => "int32".into(),
        TensorElementType::Bool => "bool".into(),
        TensorElementType::String => "string".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn value_type_name(ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor { ty, .. } => format!("tensor({})", type_name(*ty)),
        ValueType::Sequence(inner) => format!("seq({})", value_type_name(inner)),
        ValueType::Map { key, value } => format!("map({}, {})", type_name(*key), type_name(*value)),
        ValueType::Optional(inner) => format!("optional({})", value_type_name(inner)),
    }
}

/// Reads `data:` under `flavors:` → `onnx:` of an MLflow `MLmodel` file (a tiny YAML subset).
fn mlmodel_onnx_file(text: &str) -> Option<String> {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut flavors_indent = None;
    let mut onnx_indent = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if let Some(oi) = onnx_indent {
            if ind <= oi {
                return None;
            }
            if ind > oi
                && let Some(value) = trimmed.strip_prefix("data:")
            {
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                return (!value.is_empty()).then(|| value.to_string());
            }
            continue;
        }
        if let Some(fi) = flavors_indent {
            if ind <= fi {
                flavors_indent = None;
            } else if trimmed == "onnx:" {
                onnx_indent = Some(ind);
                continue;
            }
        }
        if trimmed == "flavors:" {
            flavors_indent = Some(ind);
        }
    }
    None
}

/// Settings of the ONNX Runtime session behind an [`OnnxModel`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads used inside an operator (e.g. across the rows of a tree ensemble); ONNX Runtime's
    /// default (one per physical core) when `None`.
    pub intra_op_threads: Option<NonZeroUsize>,
    /// Whether idle intra-op threads busy-wait for work; ONNX Runtime's default (yes) when
    /// `None`. A server answering many small requests on few cores wants `Some(false)`.
    pub intra_op_spinning: Option<bool>,
}

impl SessionOptions {
    /// The settings for serving many small requests concurrently: one intra-op thread (the
    /// requests are the parallelism) that does not spin.
    pub fn serving() -> Self {
        SessionOptions {
            intra_op_threads: NonZeroUsize::new(1),
            intra_op_spinning: Some(false),
        }
    }
}

impl OnnxModel {
    /// Loads a `.onnx` file, or an MLflow model directory whose `MLmodel` names the file under
    /// `flavors: onnx: data:`, with ONNX Runtime's default session settings. Initialises ONNX
    /// Runtime on first use ([`init_runtime`]).
    ///
    /// # Errors
    /// [`OnnxError::ModelLoad`] naming the path if it is missing, is a directory without a usable
    /// `MLmodel`, or is not a model ONNX Runtime accepts; [`OnnxError::LibraryNotFound`] /
    /// [`OnnxError::LibraryLoad`] if ONNX Runtime cannot be loaded; [`OnnxError::UnsupportedType`]
    /// for an input that is not a tensor.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, SessionOptions::default())
    }

    /// [`load`](Self::load) with explicit session settings.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_with(path: impl AsRef<Path>, options: SessionOptions) -> Result<Self> {
        let path = path.as_ref();
        let model_err = |message: String| OnnxError::ModelLoad {
            path: path.to_path_buf(),
            message,
        };
        let file = if path.is_dir() {
            let mlmodel = path.join("MLmodel");
            let text = std::fs::read_to_string(&mlmodel).map_err(|e| {
                model_err(format!(
                    "not an MLflow model directory ({}: {e})",
                    mlmodel.display()
                ))
            })?;
            let name = mlmodel_onnx_file(&text)
                .ok_or_else(|| model_err("MLmodel has no `flavors: onnx: data:` entry".into()))?;
            path.join(name)
        } else {
            path.to_path_buf()
        };
        if !file.is_file() {
            return Err(model_err(format!("{} does not exist", file.display())));
        }
        init_runtime()?;
        let (_, env) = RUNTIME.get().expect("initialised by init_runtime");
        let mut builder = Session::builder(env).map_err(|e| model_err(e.to_string()))?;
        if let Some(threads) = options.intra_op_threads {
            builder = builder
                .with_intra_threads(threads.get())
                .map_err(|e| model_err(format!("intra-op threads {threads}: {e}")))?;
        }
        if let Some(spinning) = options.intra_op_spinning {
            builder = builder
                .with_intra_op_spinning(spinning)
                .map_err(|e| model_err(format!("intra-op spinning {spinning}: {e}")))?;
        }
        let session = builder
            .commit_from_file(&file)
            .map_err(|e| model_err(e.to_string()))?;
        let inputs = session
            .inputs()
            .iter()
            .map(|i| match i.dtype() {
                ValueType::Tensor { ty, shape, .. } => Ok(InputInfo {
                    name: i.name().to_string(),
                    element_type: type_name(*ty),
                    shape: shape.iter().copied().collect(),
                }),
                other => Err(OnnxError::UnsupportedType {
                    name: i.name().to_string(),
                    ty: value_type_name(other),
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            path: file,
            inputs,
            session: Mutex::new(session),
        })
    }

    /// The `.onnx` file loaded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model inputs: names, element types, shapes.
    pub fn inputs(&self) -> &[InputInfo] {
        &self.inputs
    }

    /// The model output names in order.
    pub fn output_names(&self) -> Vec<String> {
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect()
    }

    /// Predicts `rows` rows from named columns of numbers or strings (see the module documentation
    /// for how columns are matched to inputs).
    ///
    /// # Errors
    /// [`OnnxError::WrongShape`] if a column does not have `rows` values or the columns do not fit the
    /// input's declared shape; [`OnnxError::ColumnType`] if a string column is given to a numeric
    /// input or a numeric column to a string input; [`OnnxError::MissingColumn`],
    /// [`OnnxError::ExtraColumn`], [`OnnxError::DuplicateColumn`] for a model with several inputs;
    /// [`OnnxError::BadValue`] for a value the input's element type cannot hold;
    /// [`OnnxError::UnsupportedType`] for an input or output type this module cannot convert;
    /// [`OnnxError::Run`] if ONNX Runtime fails.
    pub fn predict(&self, columns: &[(String, Column)], rows: usize) -> Result<Outputs> {
        let views: Vec<(&str, ColumnRef<'_>)> = columns
            .iter()
            .map(|(name, column)| (name.as_str(), column.view()))
            .collect();
        self.run(&views, rows)
    }

    /// [`predict`](Self::predict) for numeric columns only, without copying them into [`Column`]s.
    ///
    /// # Errors
    /// As [`predict`](Self::predict); a model with a string input gives [`OnnxError::ColumnType`].
    pub fn predict_f64(&self, columns: &[(String, Vec<f64>)], rows: usize) -> Result<Outputs> {
        let views: Vec<(&str, ColumnRef<'_>)> = columns
            .iter()
            .map(|(name, values)| (name.as_str(), ColumnRef::F64(values)))
            .collect();
        self.run(&views, rows)
    }

    fn run(&self, columns: &[(&str, ColumnRef<'_>)], rows: usize) -> Result<Outputs> {
        for (name, values) in columns {
            if values.len() != rows {
                return Err(OnnxError::WrongShape {
                    input: name.to_string(),
                    message: format!("column has {} values, expected {rows} rows", values.len()),
                });
            }
        }
        let mut feeds: Vec<(String, DynValue)> = Vec::with_capacity(self.inputs.len());
        if let [input] = self.inputs.as_slice() {
            for (name, values) in columns {
                check_values(input, name, *values)?;
            }
            feeds.push((input.name.clone(), matrix_tensor(input, columns, rows)?));
        } else {
            for (i, (name, _)) in columns.iter().enumerate() {
                if !self.inputs.iter().any(|input| input.name == *name) {
                    return Err(OnnxError::ExtraColumn(name.to_string()));
                }
                if columns[..i].iter().any(|(earlier, _)| earlier == name) {
                    return Err(OnnxError::DuplicateColumn(name.to_string()));
                }
            }
            for input in &self.inputs {
                let (name, values) = columns
                    .iter()
                    .find(|(name, _)| *name == input.name)
                    .ok_or_else(|| OnnxError::MissingColumn(input.name.clone()))?;
                let shape = match input.shape.as_slice() {
                    [_] => vec![rows as i64],
                    [_, d] if *d == -1 || *d == 1 => vec![rows as i64, 1],
                    other => {
                        return Err(OnnxError::WrongShape {
                            input: input.name.clone(),
                            message: format!(
                                "cannot feed one column to an input of shape {other:?}"
                            ),
                        });
                    }
                };
                check_values(input, name, *values)?;
                feeds.push((
                    input.name.clone(),
                    make_tensor(input, name, shape, *values)?,
                ));
            }
        }

        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(feeds)
            .map_err(|e| OnnxError::Run(e.to_string()))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            result.push(to_matrix(name, &value)?);
        }
        Ok(Outputs(result))
    }
}

/// The tensor for a model's single input: the columns side by side, `[rows, columns]` (or `[rows]`
/// for a rank-1 input fed one column).
fn matrix_tensor(
    input: &InputInfo,
    columns: &[(&str, ColumnRef<'_>)],
    rows: usize,
) -> Result<DynValue> {
    let cols = columns.len();
    let Some(&(first_name, first)) = columns.first() else {
        return Err(OnnxError::WrongShape {
            input: input.name.clone(),
            message: "no columns given".into(),
        });
    };
    let shape = match input.shape.as_slice() {
        [_, expected] if *expected >= 0 && *expected as usize != cols => {
            return Err(OnnxError::WrongShape {
                input: input.name.clone(),
                message: format!("model expects {expected} columns, got {cols}"),
            });
        }
        [_, _] => vec![rows as i64, cols as i64],
        [_] if cols == 1 => vec![rows as i64],
        other => {
            return Err(OnnxError::WrongShape {
                input: input.name.clone(),
                message: format!(
                    "cannot feed a {rows}x{cols} matrix to an input of shape {other:?}"
                ),
            });
        }
    };
    if cols == 1 {
        return make_tensor(input, first_name, shape, first);
    }
    match first {
        ColumnRef::F64(_) => {
            let mut numbers: Vec<&[f64]> = Vec::with_capacity(cols);
            for &(name, column) in columns {
                match column {
                    ColumnRef::F64(v) => numbers.push(v),
                    ColumnRef::Str(_) => return Err(mixed_columns(input, name, column, first)),
                }
            }
            let mut data = Vec::with_capacity(rows * cols);
            for r in 0..rows {
                data.extend(numbers.iter().map(|v| v[r]));
            }
            make_tensor(input, first_name, shape, ColumnRef::F64(&data))
        }
        ColumnRef::Str(_) => {
            let mut strings: Vec<&[String]> = Vec::with_capacity(cols);
            for &(name, column) in columns {
                match column {
                    ColumnRef::Str(v) => strings.push(v),
                    ColumnRef::F64(_) => return Err(mixed_columns(input, name, column, first)),
                }
            }
            let mut data = Vec::with_capacity(rows * cols);
            for r in 0..rows {
                data.extend(strings.iter().map(|v| v[r].clone()));
            }
            make_tensor(input, first_name, shape, ColumnRef::Str(&data))
        }
    }
}

/// A single tensor input cannot hold numeric and string columns together.
fn mixed_columns(
    input: &InputInfo,
    column: &str,
    given: ColumnRef<'_>,
    first: ColumnRef<'_>,
) -> OnnxError {
    OnnxError::ColumnType {
        input: input.name.clone(),
        column: column.to_string(),
        given: given.kind(),
        expected: format!("{} (like the first column)", first.kind()),
    }
}

/// Checks that every value of `column` fits the element type of `input` (see [`OnnxError::BadValue`]);
/// a column of the wrong kind is left to [`make_tensor`], which reports it.
fn check_values(input: &InputInfo, column: &str, values: ColumnRef<'_>) -> Result<()> {
    let bad = |row: usize, message: String| OnnxError::BadValue {
        input: input.name.clone(),
        column: column.to_string(),
        row,
        message,
    };
    // Integers representable in i64: [-2^63, 2^63).
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    match (input.element_type.as_str(), values) {
        ("float", ColumnRef::F64(data)) => {
            if let Some(row) = data
                .iter()
                .position(|v| v.is_finite() && v.abs() > f64::from(f32::MAX))
            {
                return Err(bad(
                    row,
                    format!("{:?} is beyond the range of float32", data[row]),
                ));
            }
        }
        ("int64" | "int32", ColumnRef::F64(data)) => {
            let (low, end) = if input.element_type == "int64" {
                (-I64_END, I64_END)
            } else {
                (f64::from(i32::MIN), f64::from(i32::MAX) + 1.0)
            };
            if let Some(row) = data
                .iter()
                .position(|v| v.fract() != 0.0 || !(low..end).contains(v))
            {
                return Err(bad(
                    row,
                    format!("{:?} is not an {} integer", data[row], input.element_type),
                ));
            }
        }
        ("bool", ColumnRef::F64(data)) => {
            if let Some(row) = data.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(bad(row, format!("{:?} is not 0 or 1", data[row])));
            }
        }
        ("string", ColumnRef::Str(data)) => {
            if let Some(row) = data.iter().position(|v| v.contains('\0')) {
                return Err(bad(row, format!("{:?} contains a NUL byte", data[row])));
            }
        }
        _ => {}
    }
    Ok(())
}

fn make_tensor(
    input: &InputInfo,
    column: &str,
    shape: Vec<i64>,
    values: ColumnRef<'_>,
) -> Result<DynValue> {
    let run_err = |e: ort::Error| OnnxError::Run(e.to_string());
    let wrong_type = |expected: &str| OnnxError::ColumnType {
        input: input.name.clone(),
        column: column.to_string(),
        given: values.kind(),
        expected: format!("{expected} (tensor({}))", input.element_type),
    };
    let value = match (input.element_type.as_str(), values) {
        ("string", ColumnRef::Str(data)) => Tensor::from_string_array((shape, data))
            .map_err(run_err)?
            .into_dyn(),
        ("string", ColumnRef::F64(_)) => return Err(wrong_type("string")),
        ("float" | "double" | "int64" | "int32" | "bool", ColumnRef::Str(_)) => {
            return Err(wrong_type("numeric"));
        }
        ("float", ColumnRef::F64(data)) => {
            Tensor::from_array((shape, data.iter().map(|&v| v as f32).collect::<Vec<_>>()))
                .map_err(run_err)?
                .into_dyn()
        }
        ("double", ColumnRef::F64(data)) => Tensor::from_array((shape, data.to_vec()))
            .map_err(run_err)?
            .into_dyn(),
        // Integral and in range (check_values), so `as` is exact.
        ("int64", ColumnRef::F64(data)) => {
            Tensor::from_array((shape, data.iter().map(|&v| v as i64).collect::<Vec<_>>()))
                .map_err(run_err)?
                .into_dyn()
        }
        ("int32", ColumnRef::F64(data)) => {
            Tensor::from_array((shape, data.iter().map(|&v| v as i32).collect::<Vec<_>>()))
                .map_err(run_err)?
                .into_dyn()
        }
        ("bool", ColumnRef::F64(data)) => {
            Tensor::from_array((shape, data.iter().map(|&v| v == 1.0).collect::<Vec<_>>()))
                .map_err(run_err)?
                .into_dyn()
        }
        (other, _) => {
            return Err(OnnxError::UnsupportedType {
                name: input.name.clone(),
                ty: format!("tensor({other})"),
            });
        }
    };
    Ok(value)
}

/// `(rows, cols)` of an output tensor: the first dimension is the rows, the rest are flattened.
fn output_dims(name: &str, shape: &[i64], len: usize) -> Result<(usize, usize)> {
    let (rows, cols) = match shape {
        [] => (1, 1),
        [n] => (*n as usize, 1),
        [n, rest @ ..] => (*n as usize, rest.iter().product::<i64>() as usize),
    };
    if rows * cols != len {
        return Err(OnnxError::WrongShape {
            input: name.to_string(),
            message: format!("output shape {shape:?} does not match {len} values"),
        });
    }
    Ok((rows, cols))
}

fn to_matrix(name: &str, value: &ort::value::DynValueRef<'_>) -> Result<OutputMatrix> {
    let unsupported = || OnnxError::UnsupportedType {
        name: name.to_string(),
        ty: value_type_name(value.dtype()),
    };
    let run_err = |e: ort::Error| OnnxError::Run(e.to_string());
    match value.dtype() {
        ValueType::Tensor { ty, .. } => {
            macro_rules! extract {
                ($t:ty) => {{
                    let (shape, data) = value.try_extract_tensor::<$t>().map_err(run_err)?;
                    (
                        shape.to_vec(),
                        Column::F64(data.iter().map(|&v| v as f64).collect()),
                    )
                }};
            }
            let (shape, data) = match ty {
                TensorElementType::Float32 => extract!(f32),
                TensorElementType::Float64 => extract!(f64),
                TensorElementType::Int64 => extract!(i64),
                TensorElementType::Int32 => extract!(i32),
                TensorElementType::Bool => {
                    let (shape, data) = value.try_extract_tensor::<bool>().map_err(run_err)?;
                    (
                        shape.to_vec(),
                        Column::F64(data.iter().map(|&v| f64::from(u8::from(v))).collect()),
                    )
                }
                TensorElementType::String => {
                    let (shape, data) = value.try_extract_strings().map_err(run_err)?;
                    (shape.to_vec(), Column::Str(data))
                }
                _ => return Err(unsupported()),
            };
            let (rows, cols) = output_dims(name, &shape, data.len())?;
            Ok(OutputMatrix {
                name: name.to_string(),
                rows,
                cols,
                data,
                column_labels: Vec::new(),
            })
        }
        ValueType::Sequence(inner) if matches!(**inner, ValueType::Map { .. }) => {
            let maps = value
                .try_extract_sequence::<ort::value::DynMapValueType>()
                .map_err(run_err)?;
            sequence_of_maps(name, &maps)
        }
        _ => Err(unsupported()),
    }
}

/// A `ZipMap` output (one map per row, `int64` or `string` keys to `float` or `double` values):
/// columns are the keys, sorted (numerically for `int64` keys), which is scikit-learn's `classes_`
/// order.
fn sequence_of_maps(name: &str, maps: &[DynMap]) -> Result<OutputMatrix> {
    let run_err = |e: ort::Error| OnnxError::Run(e.to_string());
    let mut rows: Vec<Vec<(String, f64)>> = Vec::with_capacity(maps.len());
    for map in maps {
        let ValueType::Map { key, value } = map.dtype() else {
            return Err(OnnxError::UnsupportedType {
                name: name.to_string(),
                ty: format!("seq({})", value_type_name(map.dtype())),
            });
        };
        macro_rules! numeric_keys {
            ($v:ty) => {{
                let mut kv = map.try_extract_key_values::<i64, $v>().map_err(run_err)?;
                kv.sort_by_key(|(k, _)| *k);
                kv.into_iter()
                    .map(|(k, v)| (k.to_string(), f64::from(v)))
                    .collect()
            }};
        }
        macro_rules! string_keys {
            ($v:ty) => {{
                let mut kv = map
                    .try_extract_key_values::<String, $v>()
                    .map_err(run_err)?;
                kv.sort_by(|a, b| a.0.cmp(&b.0));
                kv.into_iter().map(|(k, v)| (k, f64::from(v))).collect()
            }};
        }
        let row: Vec<(String, f64)> = match (key, value) {
            (TensorElementType::Int64, TensorElementType::Float32) => numeric_keys!(f32),
            (TensorElementType::Int64, TensorElementType::Float64) => numeric_keys!(f64),
            (TensorElementType::String, TensorElementType::Float32) => string_keys!(f32),
            (TensorElementType::String, TensorElementType::Float64) => string_keys!(f64),
            _ => {
                return Err(OnnxError::UnsupportedType {
                    name: name.to_string(),
                    ty: format!("seq({})", value_type_name(map.dtype())),
                });
            }
        };
        rows.push(row);
    }
    let labels: Vec<String> = rows
        .first()
        .map(|r| r.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut data = Vec::with_capacity(rows.len() * labels.len());
    for row in &rows {
        if row.len() != labels.len() || row.iter().zip(&labels).any(|((k, _), l)| k != l) {
            return Err(OnnxError::WrongShape {
                input: name.to_string(),
                message: "maps of the output sequence have different keys".into(),
            });
        }
        data.extend(row.iter().map(|(_, v)| *v));
    }
    Ok(OutputMatrix {
        name: name.to_string(),
        rows: rows.len(),
        cols: labels.len(),
        data: Column::F64(data),
        column_labels: labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mlmodel_onnx_data() {
        let text = "artifact_path: m\nflavors:\n  onnx:\n    code: null\n    data: model.onnx\n  python_function:\n    data: other.onnx\n";
        assert_eq!(mlmodel_onnx_file(text).as_deref(), Some("model.onnx"));
        let pyfunc_only = "flavors:\n  python_function:\n    data: other.onnx\n";
        assert_eq!(mlmodel_onnx_file(pyfunc_only), None);
        let quoted = "flavors:\n  onnx:\n    data: 'm.onnx'\n";
        assert_eq!(mlmodel_onnx_file(quoted).as_deref(), Some("m.onnx"));
    }

    #[test]
    fn explicit_missing_library_is_named() {
        let err = find_runtime_library_in(Some(Path::new("/nowhere/libonnxruntime.so.1")), &[])
            .unwrap_err();
        assert!(
            err.to_string().contains("/nowhere/libonnxruntime.so.1"),
            "{err}"
        );
    }
}
