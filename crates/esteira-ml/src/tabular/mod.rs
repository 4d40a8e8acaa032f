//! Tabular regression and classification in pure Rust, with scikit-learn's semantics and defaults.
//!
//! Input is a [`Features`] table of named numeric or categorical columns (independent of Arrow) and
//! a [`Target`]: `f64` values for regression or `String` labels for classification. Classes are
//! the sorted distinct labels (byte order, which is what `np.unique` gives for Python strings).
//!
//! [`fit`] trains one of the [`Algorithm`]s with parameters given as JSON (each algorithm has a
//! serde `Params` struct that rejects unknown fields; absent fields take the documented default):
//!
//! | algorithm | tasks | like scikit-learn | params |
//! |---|---|---|---|
//! | [`Algorithm::Linear`] | regression | `LinearRegression()` | [`LinearParams`] |
//! | [`Algorithm::Ridge`] | regression | `Ridge(alpha=1.0)` | [`RidgeParams`] |
//! | [`Algorithm::Logistic`] | classification | `LogisticRegression()` (lbfgs, L2, C=1) | [`LogisticParams`] |
//! | [`Algorithm::Gbdt`] | both | `HistGradientBoostingRegressor/Classifier()` | [`GbdtParams`] |
//! | [`Algorithm::RandomForest`] | both | `RandomForestRegressor/Classifier()` | [`ForestParams`] |
//!
//! # Encoding
//!
//! Every algorithm one-hot encodes categorical columns like scikit-learn's `OneHotEncoder()`
//! (no category dropped): the categories are learned at fit, sorted, with the missing value
//! (`None`) as its own category placed last. The design matrix has the input columns in order, a
//! categorical column expanding in place to one 0/1 column per category. Numeric columns pass
//! through unchanged; `NaN` means missing. Gradient boosting and random forests therefore split on
//! category indicators rather than on category subsets (no native categorical splits).
//!
//! A category not seen at fit is, at predict, an error naming the column, the value and the row
//! ([`TabularError::UnseenCategory`]) unless the algorithm's params say
//! `"handle_unknown": "ignore"`, in which case all of that column's indicators are 0 (as
//! `OneHotEncoder(handle_unknown="ignore")`).
//!
//! Missing numeric values (`NaN`) are accepted by [`Algorithm::Gbdt`] and
//! [`Algorithm::RandomForest`] (each split learns the side missing values go to, as scikit-learn
//! does); the linear models reject them with [`TabularError::MissingValue`]. Infinite feature values
//! are always rejected ([`TabularError::NonFiniteFeature`]).
//!
//! # Model format
//!
//! A [`TabularModel`] serialises (serde) to a stable JSON object with `"format_version": 1`; the
//! params it holds are the resolved ones (defaults filled in). Deserialising checks the version
//! and the structure (tree indices, widths), so a corrupt file is an error, never a panic at
//! predict. Prediction matches columns by name: extra columns are ignored.

mod encode;
mod forest;
mod gbdt;
mod linear;
mod logistic;
mod rng;

use std::collections::HashSet;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use encode::HandleUnknown;
pub use forest::{ForestParams, MaxFeatures, MaxFeaturesName};
pub use gbdt::{EarlyStopping, EarlyStoppingName, GbdtParams};
pub use linear::{LinearParams, RidgeParams};
pub use logistic::LogisticParams;

use encode::Schema;

/// Errors of tabular fitting, prediction and model loading.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TabularError {
    /// A table without columns or without rows, or a target without values.
    #[error("empty data: {what}")]
    Empty {
        /// What is empty.
        what: &'static str,
    },
    /// A column whose length differs from the first column's.
    #[error("length mismatch: column '{column}' has {len} rows but '{first}' has {expected}")]
    ColumnLength {
        /// The offending column.
        column: String,
        /// Its length.
        len: usize,
        /// The first column.
        first: String,
        /// The first column's length.
        expected: usize,
    },
    /// The names and columns given to [`Features::new`] differ in number.
    #[error("{names} column names for {columns} columns")]
    NameCount {
        /// Number of names.
        names: usize,
        /// Number of columns.
        columns: usize,
    },
    /// Two columns with the same name.
    #[error("duplicate column name '{0}'")]
    DuplicateColumn(String),
    /// The target's length differs from the number of rows.
    #[error("length mismatch: the target has {target} values but the features have {rows} rows")]
    TargetLength {
        /// Target length.
        target: usize,
        /// Number of feature rows.
        rows: usize,
    },
    /// A regression target that is NaN or infinite.
    #[error("target value at row {row} is not finite ({value})")]
    NonFiniteTarget {
        /// Row index.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A classification target with fewer than two distinct labels.
    #[error("classification needs at least two classes; the target only holds '{class}'")]
    SingleClass {
        /// The only label.
        class: String,
    },
    /// The target's kind does not fit the task (labels for regression or values for classification).
    #[error("task {task} needs {expected} as target")]
    TargetKind {
        /// The task asked for.
        task: Task,
        /// What the task needs.
        expected: &'static str,
    },
    /// An algorithm asked for a task it does not do.
    #[error("algorithm {algorithm} does not support {task}")]
    UnsupportedTask {
        /// The algorithm.
        algorithm: Algorithm,
        /// The task.
        task: Task,
    },
    /// Params that are not a JSON object (or null).
    #[error("params for {algorithm} must be a JSON object, got {got}")]
    ParamsNotObject {
        /// The algorithm.
        algorithm: Algorithm,
        /// The JSON type given.
        got: &'static str,
    },
    /// A parameter the algorithm does not have.
    #[error("unknown parameter '{param}' for {algorithm} (known: {known})")]
    UnknownParam {
        /// The algorithm.
        algorithm: Algorithm,
        /// The unknown name.
        param: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A parameter of the wrong JSON type or out of its range.
    #[error("invalid value {value} for parameter '{param}' of {algorithm}: {expected}")]
    BadParam {
        /// The algorithm.
        algorithm: Algorithm,
        /// The parameter.
        param: String,
        /// The value given (JSON text).
        value: String,
        /// The accepted type or range.
        expected: String,
    },
    /// An infinite value in a numeric feature column.
    #[error("column '{column}' holds a non-finite value ({value}) at row {row}")]
    NonFiniteFeature {
        /// The column.
        column: String,
        /// Row index.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A missing numeric value (NaN) given to an algorithm that does not handle them.
    #[error(
        "column '{column}' has a missing value (NaN) at row {row}; {algorithm} does not accept missing values"
    )]
    MissingValue {
        /// The column.
        column: String,
        /// Row index.
        row: usize,
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// A categorical value not seen at fit (with `handle_unknown = "error"`, the default).
    #[error("column '{column}' has category {} at row {row}, unseen at fit", category_text(.value))]
    UnseenCategory {
        /// The column.
        column: String,
        /// The value (`None` = missing).
        value: Option<String>,
        /// Row index.
        row: usize,
    },
    /// A column the model was fitted with is absent at predict.
    #[error("missing column '{0}'")]
    MissingColumn(String),
    /// A column of the other kind than at fit.
    #[error("column '{column}' is {found} but the model was fitted with it {expected}")]
    WrongColumnKind {
        /// The column.
        column: String,
        /// The kind at fit.
        expected: ColumnKind,
        /// The kind given.
        found: ColumnKind,
    },
    /// A prediction method that does not fit the model's task.
    #[error("{method} needs a {needs} model, this one is {task}")]
    WrongTask {
        /// The method called.
        method: &'static str,
        /// The task the method needs.
        needs: Task,
        /// The model's task.
        task: Task,
    },
    /// The iterative solver did not reach its tolerance.
    #[error(
        "{algorithm} did not converge in {iterations} iterations (gradient norm {gradient:e}, tol {tol:e}); raise max_iter or tol"
    )]
    NotConverged {
        /// The algorithm.
        algorithm: Algorithm,
        /// Iterations run.
        iterations: usize,
        /// Final max-abs gradient.
        gradient: f64,
        /// The tolerance.
        tol: f64,
    },
    /// A numerical failure that the inputs made unavoidable (reported instead of NaN output).
    #[error("{algorithm}: numerical failure: {reason}")]
    Numerical {
        /// The algorithm.
        algorithm: Algorithm,
        /// What failed.
        reason: String,
    },
    /// A serialised model that is not valid (wrong version or inconsistent structure).
    #[error("invalid model: {0}")]
    InvalidModel(String),
}

fn category_text(value: &Option<String>) -> String {
    match value {
        Some(v) => format!("'{v}'"),
        None => "<missing>".to_string(),
    }
}

/// Class probabilities from raw scores: one score is binomial (its sigmoid is the second
/// class's probability), several are a softmax.
pub(crate) fn proba_from_scores(z: &[f64]) -> Vec<f64> {
    if z.len() == 1 {
        let p = sigmoid(z[0]);
        return vec![1.0 - p, p];
    }
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// The logistic function, without overflow for large |z|.
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The result type of this module.
pub type Result<T> = std::result::Result<T, TabularError>;

/// One feature column.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureColumn {
    /// Numbers; `NaN` means missing.
    Numeric(Vec<f64>),
    /// Category labels; `None` means missing (treated as a category of its own).
    Categorical(Vec<Option<String>>),
}

impl FeatureColumn {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            FeatureColumn::Numeric(v) => v.len(),
            FeatureColumn::Categorical(v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column's kind.
    pub fn kind(&self) -> ColumnKind {
        match self {
            FeatureColumn::Numeric(_) => ColumnKind::Numeric,
            FeatureColumn::Categorical(_) => ColumnKind::Categorical,
        }
    }
}

/// The kind of a feature column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// [`FeatureColumn::Numeric`].
    Numeric,
    /// [`FeatureColumn::Categorical`].
    Categorical,
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
        })
    }
}

/// A table of named feature columns of equal length (at least one column and one row).
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    names: Vec<String>,
    columns: Vec<FeatureColumn>,
}

impl Features {
    /// Checks and builds a table.
    ///
    /// # Errors
    /// [`TabularError::NameCount`] if `names` and `columns` differ in length,
    /// [`TabularError::Empty`] without columns or rows, [`TabularError::DuplicateColumn`] for a
    /// repeated name, [`TabularError::ColumnLength`] for columns of unequal length.
    pub fn new(names: Vec<String>, columns: Vec<FeatureColumn>) -> Result<Self> {
        if names.len() != columns.len() {
            return Err(TabularError::NameCount {
                names: names.len(),
                columns: columns.len(),
            });
        }
        if columns.is_empty() {
            return Err(TabularError::Empty { what: "no columns" });
        }
        let mut seen = HashSet::new();
        for name in &names {
            if !seen.insert(name.as_str()) {
                return Err(TabularError::DuplicateColumn(name.clone()));
            }
        }
        let expected = columns[0].len();
        for (name, column) in names.iter().zip(&columns) {
            if column.len() != expected {
                return Err(TabularError::ColumnLength {
                    column: name.clone(),
                    len: column.len(),
                    first: names[0].clone(),
                    expected,
                });
            }
        }
        if expected == 0 {
            return Err(TabularError::Empty { what: "no rows" });
        }
        Ok(Self { names, columns })
    }

    /// Column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Columns, in order.
    pub fn columns(&self) -> &[FeatureColumn] {
        &self.columns
    }

    /// The column of that name, if any.
    pub fn column(&self, name: &str) -> Option<&FeatureColumn> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.columns[i])
    }

    /// Number of rows (at least 1).
    pub fn n_rows(&self) -> usize {
        self.columns[0].len()
    }

    /// Number of columns (at least 1).
    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }
}

/// Regression or classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predict a real value.
    Regression,
    /// Predict one of the labels seen at fit.
    Classification,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Regression => "regression",
            Task::Classification => "classification",
        })
    }
}

/// The learners of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Ordinary least squares with intercept.
    Linear,
    /// L2-penalised least squares, intercept not penalised.
    Ridge,
    /// L2-penalised logistic regression (multinomial for more than two classes).
    Logistic,
    /// Histogram gradient boosting.
    Gbdt,
    /// Random forest of CART trees.
    RandomForest,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Linear => "linear",
            Algorithm::Ridge => "ridge",
            Algorithm::Logistic => "logistic",
            Algorithm::Gbdt => "gbdt",
            Algorithm::RandomForest => "random_forest",
        })
    }
}

/// The target of [`fit`].
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Regression values (finite).
    Values(&'a [f64]),
    /// Classification labels.
    Labels(&'a [String]),
}

/// Class probabilities: one row per input row, one column per class (rows sum to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Proba {
    /// The classes, sorted (the column order of `rows`).
    pub classes: Vec<String>,
    /// One probability vector per input row.
    pub rows: Vec<Vec<f64>>,
}

/// The fitted learner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Fitted {
    Linear(linear::LinearModel),
    Logistic(logistic::LogisticModel),
    Gbdt(gbdt::GbdtModel),
    Forest(forest::ForestModel),
}

/// A fitted model; serialises to JSON (see the module docs for the format guarantees).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ModelFile", into = "ModelFile")]
pub struct TabularModel {
    task: Task,
    algorithm: Algorithm,
    params: Value,
    schema: Schema,
    classes: Option<Vec<String>>,
    fitted: Fitted,
}

/// The JSON form of [`TabularModel`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format_version: u32,
    task: Task,
    algorithm: Algorithm,
    params: Value,
    schema: Schema,
    classes: Option<Vec<String>>,
    fitted: Fitted,
}

/// The only model format this version reads and writes.
pub const FORMAT_VERSION: u32 = 1;

impl From<TabularModel> for ModelFile {
    fn from(m: TabularModel) -> Self {
        ModelFile {
            format_version: FORMAT_VERSION,
            task: m.task,
            algorithm: m.algorithm,
            params: m.params,
            schema: m.schema,
            classes: m.classes,
            fitted: m.fitted,
        }
    }
}

impl TryFrom<ModelFile> for TabularModel {
    type Error = TabularError;

    fn try_from(f: ModelFile) -> Result<Self> {
        if f.format_version != FORMAT_VERSION {
            return Err(TabularError::InvalidModel(format!(
                "format_version {} is not supported (expected {FORMAT_VERSION})",
                f.format_version
            )));
        }
        f.schema.validate()?;
        let width = f.schema.width();
        let n_classes = match (&f.task, &f.classes) {
            (Task::Regression, None) => None,
            (Task::Classification, Some(c)) if c.len() >= 2 => Some(c.len()),
            _ => {
                return Err(TabularError::InvalidModel(
                    "classes must be absent for regression and hold at least two labels for classification".into(),
                ));
            }
        };
        let consistent = matches!(
            (f.algorithm, &f.fitted),
            (Algorithm::Linear | Algorithm::Ridge, Fitted::Linear(_))
                | (Algorithm::Logistic, Fitted::Logistic(_))
                | (Algorithm::Gbdt, Fitted::Gbdt(_))
                | (Algorithm::RandomForest, Fitted::Forest(_))
        );
        if !consistent {
            return Err(TabularError::InvalidModel(format!(
                "algorithm {} does not match the fitted model kind",
                f.algorithm
            )));
        }
        match &f.fitted {
            Fitted::Linear(m) => m.validate(width, n_classes)?,
            Fitted::Logistic(m) => m.validate(width, n_classes)?,
            Fitted::Gbdt(m) => m.validate(width, n_classes)?,
            Fitted::Forest(m) => m.validate(width, n_classes)?,
        }
        Ok(TabularModel {
            task: f.task,
            algorithm: f.algorithm,
            params: f.params,
            schema: f.schema,
            classes: f.classes,
            fitted: f.fitted,
        })
    }
}

/// Fits `algorithm` for `task` on `features` and `target`.
///
/// `params` is a JSON object of the algorithm's params (see [`LinearParams`], [`RidgeParams`],
/// [`LogisticParams`], [`GbdtParams`], [`ForestParams`]); `null` or `{}` means all defaults.
///
/// # Errors
/// [`TabularError::TargetLength`], [`TabularError::TargetKind`] (values for classification or
/// labels for regression), [`TabularError::NonFiniteTarget`], [`TabularError::SingleClass`],
/// [`TabularError::UnsupportedTask`] (linear/ridge for classification, logistic for regression),
/// [`TabularError::ParamsNotObject`], [`TabularError::UnknownParam`], [`TabularError::BadParam`],
/// [`TabularError::NonFiniteFeature`], [`TabularError::MissingValue`] (linear models only),
/// [`TabularError::NotConverged`] (logistic), [`TabularError::Numerical`].
pub fn fit(
    task: Task,
    algorithm: Algorithm,
    params: &Value,
    features: &Features,
    target: Target<'_>,
) -> Result<TabularModel> {
    let n = features.n_rows();
    let y = match (task, target) {
        (Task::Regression, Target::Values(v)) => {
            check_len(v.len(), n)?;
            if let Some(row) = v.iter().position(|x| !x.is_finite()) {
                return Err(TabularError::NonFiniteTarget { row, value: v[row] });
            }
            Y::Values(v)
        }
        (Task::Classification, Target::Labels(labels)) => {
            check_len(labels.len(), n)?;
            let mut classes: Vec<String> = labels.to_vec();
            classes.sort_unstable();
            classes.dedup();
            if classes.len() < 2 {
                return Err(TabularError::SingleClass {
                    class: classes.swap_remove(0),
                });
            }
            let codes = labels
                .iter()
                .map(|l| classes.binary_search(l).unwrap_or_default())
                .collect();
            Y::Classes { classes, codes }
        }
        (Task::Regression, Target::Labels(_)) => {
            return Err(TabularError::TargetKind {
                task,
                expected: "values (Target::Values)",
            });
        }
        (Task::Classification, Target::Values(_)) => {
            return Err(TabularError::TargetKind {
                task,
                expected: "labels (Target::Labels)",
            });
        }
    };
    let unsupported = matches!(
        (algorithm, task),
        (Algorithm::Linear | Algorithm::Ridge, Task::Classification)
            | (Algorithm::Logistic, Task::Regression)
    );
    if unsupported {
        return Err(TabularError::UnsupportedTask { algorithm, task });
    }

    let mut schema = Schema::learn(features);
    let design = |allow_nan: bool| schema.transform(features, algorithm, allow_nan);
    let (fitted, params_json, handle_unknown) = match algorithm {
        Algorithm::Linear => {
            let p: LinearParams = parse_params(algorithm, params)?;
            let x = design(false)?;
            let m = linear::fit_least_squares(&x, y.values(), 0.0, algorithm)?;
            (Fitted::Linear(m), to_json(&p), p.handle_unknown)
        }
        Algorithm::Ridge => {
            let p: RidgeParams = parse_params(algorithm, params)?;
            p.validate()?;
            let x = design(false)?;
            let m = linear::fit_least_squares(&x, y.values(), p.alpha, algorithm)?;
            (Fitted::Linear(m), to_json(&p), p.handle_unknown)
        }
        Algorithm::Logistic => {
            let p: LogisticParams = parse_params(algorithm, params)?;
            p.validate()?;
            let x = design(false)?;
            let (classes, codes) = y.classes();
            let m = logistic::fit(&x, codes, classes.len(), &p)?;
            (Fitted::Logistic(m), to_json(&p), p.handle_unknown)
        }
        Algorithm::Gbdt => {
            let p: GbdtParams = parse_params(algorithm, params)?;
            p.validate()?;
            let x = design(true)?;
            let m = match &y {
                Y::Values(v) => gbdt::fit(&x, gbdt::GbdtTarget::Regression(v), &p),
                Y::Classes { classes, codes } => {
                    gbdt::fit(&x, gbdt::GbdtTarget::Classes(codes, classes.len()), &p)
                }
            };
            (Fitted::Gbdt(m), to_json(&p), p.handle_unknown)
        }
        Algorithm::RandomForest => {
            let p: ForestParams = parse_params(algorithm, params)?;
            p.validate(schema.width())?;
            let x = design(true)?;
            let m = match &y {
                Y::Values(v) => forest::fit(&x, forest::ForestTarget::Regression(v), &p),
                Y::Classes { classes, codes } => {
                    forest::fit(&x, forest::ForestTarget::Classes(codes, classes.len()), &p)
                }
            };
            (Fitted::Forest(m), to_json(&p), p.handle_unknown)
        }
    };
    let classes = match y {
        Y::Values(_) => None,
        Y::Classes { classes, .. } => Some(classes),
    };
    schema.set_handle_unknown(handle_unknown);
    Ok(TabularModel {
        task,
        algorithm,
        params: params_json,
        schema,
        classes,
        fitted,
    })
}

fn check_len(target: usize, rows: usize) -> Result<()> {
    if target != rows {
        return Err(TabularError::TargetLength { target, rows });
    }
    Ok(())
}

/// The checked target.
enum Y<'a> {
    Values(&'a [f64]),
    Classes {
        classes: Vec<String>,
        codes: Vec<usize>,
    },
}

impl Y<'_> {
    fn values(&self) -> &[f64] {
        match self {
            Y::Values(v) => v,
            Y::Classes { .. } => &[],
        }
    }

    fn classes(&self) -> (&[String], &[usize]) {
        match self {
            Y::Values(_) => (&[], &[]),
            Y::Classes { classes, codes } => (classes, codes),
        }
    }
}

fn to_json<P: Serialize>(p: &P) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses `params` into `P`, naming the first unknown or ill-typed parameter.
///
/// The known names are the keys of `P::default()` serialised, so they cannot drift from the struct.
fn parse_params<P>(algorithm: Algorithm, params: &Value) -> Result<P>
where
    P: DeserializeOwned + Serialize + Default,
{
    let map = match params {
        Value::Null => return Ok(P::default()),
        Value::Object(map) => map,
        other => {
            return Err(TabularError::ParamsNotObject {
                algorithm,
                got: json_type(other),
            });
        }
    };
    let known: Vec<String> = match serde_json::to_value(P::default()) {
        Ok(Value::Object(d)) => d.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for (key, value) in map {
        if !known.contains(key) {
            return Err(TabularError::UnknownParam {
                algorithm,
                param: key.clone(),
                known: known.join(", "),
            });
        }
        let mut single = serde_json::Map::new();
        single.insert(key.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<P>(Value::Object(single)) {
            return Err(TabularError::BadParam {
                algorithm,
                param: key.clone(),
                value: value.to_string(),
                expected: e.to_string(),
            });
        }
    }
    serde_json::from_value(params.clone()).map_err(|e| TabularError::BadParam {
        algorithm,
        param: "(params)".into(),
        value: params.to_string(),
        expected: e.to_string(),
    })
}

/// A range-check failure for `param` of `algorithm`.
fn bad_param(
    algorithm: Algorithm,
    param: &str,
    value: impl fmt::Display,
    expected: &str,
) -> TabularError {
    TabularError::BadParam {
        algorithm,
        param: param.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

impl TabularModel {
    /// The task the model was fitted for.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The resolved params (every field, defaults filled in).
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// The names of the input columns the model was fitted with, in order.
    pub fn feature_names(&self) -> Vec<&str> {
        self.schema.names()
    }

    /// The classes (sorted) of a classification model; `None` for regression.
    pub fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    /// Names of the design-matrix columns (`name` for numeric, `name=category` / `name=<missing>`
    /// for the one-hot indicators), the order of linear coefficients and tree feature indices.
    pub fn design_names(&self) -> Vec<String> {
        self.schema.design_names()
    }

    /// Linear coefficients `(coef, intercept)` over [`Self::design_names`] for linear and ridge
    /// models; `None` otherwise.
    pub fn linear_coefficients(&self) -> Option<(&[f64], f64)> {
        match &self.fitted {
            Fitted::Linear(m) => Some((&m.coef, m.intercept)),
            _ => None,
        }
    }

    /// Logistic coefficients `(coef rows, intercepts)`: one row per class for more than two
    /// classes, a single row (for the second class) for two, like scikit-learn's `coef_`.
    pub fn logistic_coefficients(&self) -> Option<(&[Vec<f64>], &[f64])> {
        match &self.fitted {
            Fitted::Logistic(m) => Some((&m.coef, &m.intercept)),
            _ => None,
        }
    }

    fn input(&self, features: &Features) -> Result<Vec<Vec<f64>>> {
        let allow_nan = matches!(self.algorithm, Algorithm::Gbdt | Algorithm::RandomForest);
        self.schema.transform(features, self.algorithm, allow_nan)
    }

    /// Regression predictions, one per row.
    ///
    /// # Errors
    /// [`TabularError::WrongTask`] on a classification model; [`TabularError::MissingColumn`],
    /// [`TabularError::WrongColumnKind`], [`TabularError::UnseenCategory`],
    /// [`TabularError::NonFiniteFeature`], [`TabularError::MissingValue`] for bad input;
    /// [`TabularError::Numerical`] if an output would not be finite (e.g. a linear model on
    /// inputs near `f64::MAX`).
    pub fn predict(&self, features: &Features) -> Result<Vec<f64>> {
        if self.task != Task::Regression {
            return Err(TabularError::WrongTask {
                method: "predict",
                needs: Task::Regression,
                task: self.task,
            });
        }
        let x = self.input(features)?;
        let n = features.n_rows();
        let out: Vec<f64> = match &self.fitted {
            Fitted::Linear(m) => m.predict(&x, n),
            Fitted::Gbdt(m) => m.predict_raw(&x, n).into_iter().map(|r| r[0]).collect(),
            Fitted::Forest(m) => m.predict(&x, n).into_iter().map(|r| r[0]).collect(),
            Fitted::Logistic(_) => Vec::new(),
        };
        self.check_output(out.iter().position(|v| !v.is_finite()))?;
        Ok(out)
    }

    /// [`TabularError::Numerical`] naming the first row whose output is not finite.
    fn check_output(&self, bad_row: Option<usize>) -> Result<()> {
        match bad_row {
            Some(row) => Err(TabularError::Numerical {
                algorithm: self.algorithm,
                reason: format!("prediction for row {row} is not finite (input values too large?)"),
            }),
            None => Ok(()),
        }
    }

    /// Class probabilities per row.
    ///
    /// # Errors
    /// [`TabularError::WrongTask`] on a regression model; the input errors of [`Self::predict`].
    pub fn predict_proba(&self, features: &Features) -> Result<Proba> {
        let classes = match (&self.classes, self.task) {
            (Some(c), Task::Classification) => c.clone(),
            _ => {
                return Err(TabularError::WrongTask {
                    method: "predict_proba",
                    needs: Task::Classification,
                    task: self.task,
                });
            }
        };
        let x = self.input(features)?;
        let n = features.n_rows();
        let rows = match &self.fitted {
            Fitted::Logistic(m) => m.predict_proba(&x, n),
            Fitted::Gbdt(m) => m
                .predict_raw(&x, n)
                .into_iter()
                .map(|r| proba_from_scores(&r))
                .collect(),
            Fitted::Forest(m) => m.predict(&x, n),
            Fitted::Linear(_) => Vec::new(),
        };
        self.check_output(rows.iter().position(|r| r.iter().any(|v| !v.is_finite())))?;
        Ok(Proba { classes, rows })
    }

    /// Predicted labels per row: the class of highest probability (the first on ties, like
    /// `np.argmax`).
    ///
    /// # Errors
    /// As [`Self::predict_proba`].
    pub fn predict_labels(&self, features: &Features) -> Result<Vec<String>> {
        let proba = self.predict_proba(features).map_err(|e| match e {
            TabularError::WrongTask { needs, task, .. } => TabularError::WrongTask {
                method: "predict_labels",
                needs,
                task,
            },
            other => other,
        })?;
        Ok(proba
            .rows
            .iter()
            .map(|row| proba.classes[argmax(row)].clone())
            .collect())
    }
}

/// Index of the largest value (the first on ties).
fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}
