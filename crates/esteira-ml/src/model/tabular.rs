//! Tabular models on tables: features and targets read from Arrow columns, a seeded holdout
//! split, holdout scores, and prediction tables.
//!
//! Numeric columns (integers, floats) become numeric features with nulls as missing values;
//! every other column becomes a categorical feature.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use serde_json::{Value, json};

use super::{ColumnSpec, ModelError, Result, Signature};
use crate::dataset::{Table, table_from_columns};
use crate::metrics::{self, Average};
use crate::tabular::{FeatureColumn, Features, TabularModel, Target, Task};

/// Name of the prediction column for regression, and of the label column for classification.
pub const PREDICTION_COLUMN: &str = "prediction";
/// Prefix of the class-probability columns (`proba_<class>`).
pub const PROBA_PREFIX: &str = "proba_";

/// A target column read for a task.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetData {
    Values(Vec<f64>),
    Labels(Vec<String>),
}

impl TargetData {
    /// The borrowed form [`crate::tabular::fit`] takes.
    pub fn as_target(&self) -> Target<'_> {
        match self {
            TargetData::Values(v) => Target::Values(v),
            TargetData::Labels(l) => Target::Labels(l),
        }
    }

    /// The rows at `rows`, in that order.
    pub fn take(&self, rows: &[usize]) -> TargetData {
        match self {
            TargetData::Values(v) => TargetData::Values(rows.iter().map(|&r| v[r]).collect()),
            TargetData::Labels(l) => {
                TargetData::Labels(rows.iter().map(|&r| l[r].clone()).collect())
            }
        }
    }
}

/// The feature columns `names` of `table` (every column but `exclude` when `names` is empty).
///
/// # Errors
/// [`ModelError::Dataset`] for an unknown column, [`ModelError::Tabular`] when no feature is
/// left.
pub fn features_from_table(table: &Table, names: &[String], exclude: &str) -> Result<Features> {
    let names: Vec<String> = if names.is_empty() {
        table
            .column_names()
            .into_iter()
            .filter(|n| n != exclude)
            .collect()
    } else {
        names.to_vec()
    };
    let columns = names
        .iter()
        .map(|n| {
            let numeric = table.column(n)?.data_type().is_numeric();
            Ok(if numeric {
                let values = table.f64_column(n)?;
                FeatureColumn::Numeric(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            } else {
                FeatureColumn::Categorical(table.string_column(n)?)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Features::new(names, columns)?)
}

/// The target column `name` for `task`: numbers for regression, labels (any type, as text)
/// for classification.
///
/// # Errors
/// [`ModelError::Dataset`] for an unknown or non-numeric regression column;
/// [`ModelError::Invalid`] naming the row of a null, NaN or infinite target.
pub fn target_from_table(table: &Table, name: &str, task: Task) -> Result<TargetData> {
    let null = |row: usize| ModelError::Invalid {
        field: "target",
        reason: format!("column '{name}' is null at row {row}"),
    };
    match task {
        Task::Regression => table
            .f64_column(name)?
            .into_iter()
            .enumerate()
            .map(|(row, v)| match v {
                None => Err(null(row)),
                Some(x) if !x.is_finite() => Err(ModelError::Invalid {
                    field: "target",
                    reason: format!("column '{name}' is not finite ({x}) at row {row}"),
                }),
                Some(x) => Ok(x),
            })
            .collect::<Result<Vec<_>>>()
            .map(TargetData::Values),
        Task::Classification => table
            .string_column(name)?
            .into_iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| null(row)))
            .collect::<Result<Vec<_>>>()
            .map(TargetData::Labels),
    }
}

/// Rows of `features` at `rows`, in that order.
pub fn take_rows(features: &Features, rows: &[usize]) -> Result<Features> {
    let columns = features
        .columns()
        .iter()
        .map(|c| match c {
            FeatureColumn::Numeric(v) => {
                FeatureColumn::Numeric(rows.iter().map(|&r| v[r]).collect())
            }
            FeatureColumn::Categorical(v) => {
                FeatureColumn::Categorical(rows.iter().map(|&r| v[r].clone()).collect())
            }
        })
        .collect();
    Ok(Features::new(features.names().to_vec(), columns)?)
}

/// A seeded shuffle of `0..n` cut into (train, test) with `round(n * test_fraction)` test rows
/// (at least one of each).
///
/// # Errors
/// [`ModelError::Invalid`] when `test_fraction` is not in (0, 1) or `n < 2`.
pub fn split_rows(n: usize, test_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(ModelError::Invalid {
            field: "test_fraction",
            reason: format!("must be between 0 and 1 (exclusive), got {test_fraction}"),
        });
    }
    if n < 2 {
        return Err(ModelError::Invalid {
            field: "data",
            reason: format!("a holdout split needs at least 2 rows, got {n}"),
        });
    }
    let mut rows = shuffled_rows(n, seed);
    let test = ((n as f64 * test_fraction).round() as usize).clamp(1, n - 1);
    let train = rows.split_off(test);
    Ok((train, rows))
}

/// A seeded shuffle of `0..n` (Fisher–Yates driven by SplitMix64); [`split_rows`] cuts it
/// into its test rows (the first ones) and train rows.
pub fn shuffled_rows(n: usize, seed: u64) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..n).collect();
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        state = splitmix(state);
        let j = (state % (i as u64 + 1)) as usize;
        rows.swap(i, j);
    }
    rows
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Scores `model` on `features` against `target`: `rmse`, `mae`, `r2` for regression;
/// `accuracy`, `f1_macro`, `log_loss` and, with two classes, `roc_auc` for classification.
/// Metrics undefined on the data are left out.
///
/// # Errors
/// [`ModelError::Tabular`] when prediction fails (missing column, unseen category).
pub fn score(
    model: &TabularModel,
    features: &Features,
    target: &TargetData,
) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    let mut put = |name: &str, v: std::result::Result<f64, metrics::MetricError>| {
        if let Ok(v) = v
            && v.is_finite()
        {
            out.insert(name.to_string(), v);
        }
    };
    match target {
        TargetData::Values(y) => {
            let p = model.predict(features)?;
            put("rmse", metrics::rmse(y, &p));
            put("mae", metrics::mae(y, &p));
            put("r2", metrics::r2(y, &p));
        }
        TargetData::Labels(y) => {
            let proba = model.predict_proba(features)?;
            let labels = model.predict_labels(features)?;
            put("accuracy", metrics::accuracy(y, &labels));
            put("f1_macro", metrics::f1(y, &labels, Average::Macro));
            let index: Option<Vec<usize>> = y
                .iter()
                .map(|l| proba.classes.iter().position(|c| c == l))
                .collect();
            if let Some(index) = index {
                put(
                    "log_loss",
                    metrics::log_loss_multiclass(&index, &proba.rows),
                );
                if proba.classes.len() == 2 {
                    let truth: Vec<bool> = index.iter().map(|&i| i == 1).collect();
                    let scores: Vec<f64> = proba.rows.iter().map(|r| r[1]).collect();
                    put("roc_auc", metrics::roc_auc(&truth, &scores));
                }
            }
        }
    }
    Ok(out)
}

/// Predictions for every row of `table`: `prediction` for regression; `prediction` (the
/// label) and one `proba_<class>` column per class for classification.
///
/// # Errors
/// [`ModelError::Dataset`] / [`ModelError::Tabular`] for missing or mistyped columns and
/// unseen categories, naming them.
pub fn predict_table(model: &TabularModel, table: &Table) -> Result<Table> {
    let names: Vec<String> = model
        .feature_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let features = features_from_table(table, &names, "")?;
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    match model.task() {
        Task::Regression => {
            let p = model.predict(&features)?;
            columns.push((PREDICTION_COLUMN.into(), Arc::new(Float64Array::from(p))));
        }
        Task::Classification => {
            let labels = model.predict_labels(&features)?;
            columns.push((
                PREDICTION_COLUMN.into(),
                Arc::new(StringArray::from(labels)),
            ));
            let proba = model.predict_proba(&features)?;
            for (k, class) in proba.classes.iter().enumerate() {
                let values: Vec<f64> = proba.rows.iter().map(|r| r[k]).collect();
                columns.push((
                    format!("{PROBA_PREFIX}{class}"),
                    Arc::new(Float64Array::from(values)),
                ));
            }
        }
    }
    Ok(table_from_columns(columns)?)
}

/// The signature of a tabular model: its feature columns in, its prediction columns out.
pub fn signature(model: &TabularModel, features: &Features) -> Signature {
    let inputs = features
        .names()
        .iter()
        .zip(features.columns())
        .map(|(n, c)| match c {
            FeatureColumn::Numeric(_) => ColumnSpec::required(n, "double"),
            FeatureColumn::Categorical(_) => ColumnSpec::required(n, "string"),
        })
        .collect();
    let outputs = match (model.task(), model.classes()) {
        (Task::Classification, Some(classes)) => {
            let mut o = vec![ColumnSpec::required(PREDICTION_COLUMN, "string")];
            o.extend(
                classes
                    .iter()
                    .map(|c| ColumnSpec::required(&format!("{PROBA_PREFIX}{c}"), "double")),
            );
            o
        }
        _ => vec![ColumnSpec::required(PREDICTION_COLUMN, "double")],
    };
    Signature { inputs, outputs }
}

/// The first `rows` rows of `features` in pandas "split" orient.
pub fn input_example(features: &Features, rows: usize) -> Value {
    let n = rows.min(features.n_rows());
    let data: Vec<Value> = (0..n)
        .map(|r| {
            Value::Array(
                features
                    .columns()
                    .iter()
                    .map(|c| match c {
                        FeatureColumn::Numeric(v) if v[r].is_finite() => json!(v[r]),
                        FeatureColumn::Numeric(_) => Value::Null,
                        FeatureColumn::Categorical(v) => json!(v[r]),
                    })
                    .collect(),
            )
        })
        .collect();
    json!({"columns": features.names(), "data": data})
}
