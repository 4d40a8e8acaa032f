//! Reading inputs, writing outputs and reading params, shared by the built-in steps.

use std::path::PathBuf;

use esteira_ml::dataset::{Table, TimeColumn};
use serde_json::Value;

use crate::step::{StepContext, StepError};

/// Reads the dataset connected to input port `port`.
///
/// # Errors
/// [`StepError::Input`] when the port is not connected or the file cannot be read.
pub fn read_table(ctx: &StepContext<'_>, port: &str) -> Result<Table, StepError> {
    let path = input_path(ctx, port)?;
    Table::read(&path).map_err(|e| StepError::Input {
        input: port.to_string(),
        reason: e.to_string(),
    })
}

/// The local path of input port `port`.
///
/// # Errors
/// [`StepError::Input`] when the port is not connected.
pub fn input_path(ctx: &StepContext<'_>, port: &str) -> Result<PathBuf, StepError> {
    ctx.inputs
        .get(port)
        .cloned()
        .ok_or_else(|| StepError::Input {
            input: port.to_string(),
            reason: "not connected".into(),
        })
}

/// Writes `table` as the Parquet output `port` and returns its path.
///
/// # Errors
/// [`StepError::Failed`] when the file cannot be written.
pub fn write_table(ctx: &StepContext<'_>, port: &str, table: &Table) -> Result<PathBuf, StepError> {
    let path = ctx.out_dir.join(format!("{port}.parquet"));
    table
        .write(&path)
        .map_err(|e| StepError::Failed(format!("writing output `{port}`: {e}")))?;
    Ok(path)
}

/// Writes `value` as the JSON output `port` and returns its path.
///
/// # Errors
/// [`StepError::Failed`] when the file cannot be written.
pub fn write_json(
    ctx: &StepContext<'_>,
    port: &str,
    value: &impl serde::Serialize,
) -> Result<PathBuf, StepError> {
    let path = ctx.out_dir.join(format!("{port}.json"));
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| StepError::Failed(format!("encoding output `{port}`: {e}")))?;
    std::fs::write(&path, text)
        .map_err(|e| StepError::Failed(format!("writing output `{port}`: {e}")))?;
    Ok(path)
}

/// Reads the JSON input `port` as `T`.
///
/// # Errors
/// [`StepError::Input`] when the port is not connected or the file is not a valid `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(
    ctx: &StepContext<'_>,
    port: &str,
) -> Result<T, StepError> {
    let path = input_path(ctx, port)?;
    let bad = |reason: String| StepError::Input {
        input: port.to_string(),
        reason,
    };
    let text = std::fs::read(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))
}

/// The param `name`, if given.
pub fn param<'a>(ctx: &'a StepContext<'_>, name: &str) -> Option<&'a Value> {
    ctx.params.get(name)
}

/// The string param `name`.
///
/// # Errors
/// [`StepError::Param`] when it is missing or not a string.
pub fn required_str<'a>(ctx: &'a StepContext<'_>, name: &str) -> Result<&'a str, StepError> {
    match param(ctx, name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(param_error(name, format!("must be a string, not {other}"))),
        None => Err(param_error(name, "is required".into())),
    }
}

/// The optional string param `name`.
///
/// # Errors
/// [`StepError::Param`] when it is present but not a string.
pub fn optional_str<'a>(
    ctx: &'a StepContext<'_>,
    name: &str,
) -> Result<Option<&'a str>, StepError> {
    match param(ctx, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(param_error(name, format!("must be a string, not {other}"))),
    }
}

/// The param `name` as a list of strings; a single string is a list of one.
///
/// # Errors
/// [`StepError::Param`] when it is present but not a string or a list of strings.
pub fn str_list(ctx: &StepContext<'_>, name: &str) -> Result<Vec<String>, StepError> {
    match param(ctx, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(param_error(name, format!("has a non-string item {other}"))),
            })
            .collect(),
        Some(other) => Err(param_error(
            name,
            format!("must be a string or a list of strings, not {other}"),
        )),
    }
}

/// The non-negative integer param `name`, or `default` when absent.
///
/// # Errors
/// [`StepError::Param`] when it is present but not a non-negative integer.
pub fn usize_or(ctx: &StepContext<'_>, name: &str, default: usize) -> Result<usize, StepError> {
    match param(ctx, name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| param_error(name, format!("must be a non-negative integer, not {v}"))),
    }
}

/// The number param `name`, or `default` when absent.
///
/// # Errors
/// [`StepError::Param`] when it is present but not a finite number.
pub fn f64_or(ctx: &StepContext<'_>, name: &str, default: f64) -> Result<f64, StepError> {
    match param(ctx, name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| param_error(name, format!("must be a finite number, not {v}"))),
    }
}

/// Refuses a param not in `known`.
///
/// # Errors
/// [`StepError::Param`] naming the first unknown param and listing the known ones.
pub fn reject_unknown_params(ctx: &StepContext<'_>, known: &[&str]) -> Result<(), StepError> {
    match ctx.params.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(param_error(
            unknown,
            format!("unknown param (known: {})", known.join(", ")),
        )),
    }
}

/// The time column `time` of the `data` input as integers (seconds or periods).
///
/// # Errors
/// [`StepError::Param`] naming `time` when the column is missing or not a time;
/// [`StepError::Input`] naming the row of a null time.
pub fn time_values(table: &Table, time: &str) -> Result<Vec<i64>, StepError> {
    let values = match table
        .time_column(time)
        .map_err(|e| param_error("time", e.to_string()))?
    {
        TimeColumn::Seconds(v) | TimeColumn::Index(v) => v,
    };
    values
        .into_iter()
        .enumerate()
        .map(|(row, t)| {
            t.ok_or_else(|| StepError::Input {
                input: "data".into(),
                reason: format!("time column `{time}` is null in row {row}"),
            })
        })
        .collect()
}

/// A [`StepError::Param`].
pub fn param_error(name: &str, reason: String) -> StepError {
    StepError::Param {
        param: name.to_string(),
        reason,
    }
}

/// Runs `work` (CPU-heavy or blocking file work) on Tokio's blocking thread pool.
///
/// # Errors
/// The error `work` returns, or [`StepError::Failed`] when it panicked.
pub async fn spawn_cpu<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StepError> + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StepError::Failed(format!("the step's worker thread failed: {e}")))?
}
