//! The `split` step: divides a dataset into `train` and `test`, keeping the rows' order.
//!
//! Params:
//! - `method`: `"time"` (the default when `time` is given), `"random"` (the default otherwise)
//!   or `"stratified"`.
//! - `"time"`: `time` (a date, timestamp, date-time text or integer column, with no nulls;
//!   times are compared to the second), `id` (optional; a column or a list of columns
//!   identifying series) and exactly one of
//!   - `horizon = N`: the last N distinct times of each series go to test (a series with N
//!     times or fewer goes entirely to test);
//!   - `test_fraction = f`: the last ⌈f·k⌉ of the k distinct times of the whole table go to
//!     test;
//!   - `cutoff`: rows with time > cutoff go to test (a date or date-time text for a time
//!     column, an integer for an integer column).
//! - `"random"`: `test_fraction` (default 0.2) and `seed` (default 0): ⌈f·n⌉ rows, drawn
//!   uniformly, go to test.
//! - `"stratified"`: `column`, `test_fraction` (default 0.2) and `seed` (default 0): in each
//!   class of n rows, round(f·n) rows go to test, but at least one and at most n − 1 when
//!   n ≥ 2 (so every such class is in both sets); a class of one row goes to train. Nulls
//!   form a class of their own.
//!
//! Metrics: `train_rows`, `test_rows`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::{Array, AsArray, BooleanArray, StringArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, TimeUnit, TimestampSecondType};
use esteira_ml::dataset::{Table, TimeColumn};
use esteira_ml::rng::SplitMix64;
use serde_json::Value;

use super::io::{self, param_error};
use crate::step::{StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for an unknown method, column or param combination, a fraction
/// outside (0, 1), a bad horizon or cutoff; [`StepError::Input`] when `data` cannot be read
/// or its time column has nulls; [`StepError::Failed`] when train or test would be empty.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    let method = Method::from_params(ctx)?;
    let table = io::read_table(ctx, "data")?;
    let (train, test) = io::spawn_cpu(move || {
        let in_test = method.test_mask(&table)?;
        split_rows(&table, &in_test)
    })
    .await?;
    let (train_rows, test_rows) = (train.num_rows(), test.num_rows());
    ctx.log.line(format!(
        "split {} rows into {train_rows} train and {test_rows} test rows",
        train_rows + test_rows
    ));
    let train_path = io::write_table(ctx, "train", &train)?;
    let test_path = io::write_table(ctx, "test", &test)?;
    Ok(StepOutput {
        outputs: [
            ("train".to_string(), train_path),
            ("test".to_string(), test_path),
        ]
        .into(),
        metrics: [
            ("train_rows".to_string(), train_rows as f64),
            ("test_rows".to_string(), test_rows as f64),
        ]
        .into(),
    })
}

/// Which rows go to test, by time.
#[derive(Debug)]
enum TimeRule {
    Horizon(usize),
    Fraction(f64),
    Cutoff(Value),
}

/// A split method with its params.
#[derive(Debug)]
enum Method {
    Time {
        time: String,
        ids: Vec<String>,
        rule: TimeRule,
    },
    Random {
        fraction: f64,
        seed: u64,
    },
    Stratified {
        column: String,
        fraction: f64,
        seed: u64,
    },
}

/// The params each method takes, for rejecting the others.
const TIME_PARAMS: [&str; 6] = ["method", "time", "id", "horizon", "test_fraction", "cutoff"];
const RANDOM_PARAMS: [&str; 3] = ["method", "test_fraction", "seed"];
const STRATIFIED_PARAMS: [&str; 4] = ["method", "column", "test_fraction", "seed"];

impl Method {
    fn from_params(ctx: &StepContext<'_>) -> Result<Method, StepError> {
        let has_time = io::param(ctx, "time").is_some();
        let method =
            io::optional_str(ctx, "method")?.unwrap_or(if has_time { "time" } else { "random" });
        let (known, method) = match method {
            "time" => (&TIME_PARAMS[..], Self::time_from_params(ctx)?),
            "random" => (
                &RANDOM_PARAMS[..],
                Method::Random {
                    fraction: fraction_param(ctx)?,
                    seed: seed_param(ctx)?,
                },
            ),
            "stratified" => (
                &STRATIFIED_PARAMS[..],
                Method::Stratified {
                    column: io::required_str(ctx, "column")?.to_string(),
                    fraction: fraction_param(ctx)?,
                    seed: seed_param(ctx)?,
                },
            ),
            other => {
                return Err(param_error(
                    "method",
                    format!("unknown method `{other}` (known: time, random, stratified)"),
                ));
            }
        };
        if let Some(unused) = ctx.params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(param_error(
                unused,
                format!("is not a param of the `{}` method", method.name()),
            ));
        }
        Ok(method)
    }

    fn name(&self) -> &'static str {
        match self {
            Method::Time { .. } => "time",
            Method::Random { .. } => "random",
            Method::Stratified { .. } => "stratified",
        }
    }

    fn time_from_params(ctx: &StepContext<'_>) -> Result<Method, StepError> {
        let time = io::required_str(ctx, "time")?.to_string();
        let ids = io::str_list(ctx, "id")?;
        let given: Vec<&str> = ["horizon", "test_fraction", "cutoff"]
            .into_iter()
            .filter(|name| io::param(ctx, name).is_some())
            .collect();
        let rule = match given.as_slice() {
            ["horizon"] => match io::usize_or(ctx, "horizon", 0)? {
                0 => return Err(param_error("horizon", "must be at least 1".into())),
                n => TimeRule::Horizon(n),
            },
            ["test_fraction"] => TimeRule::Fraction(fraction_param(ctx)?),
            ["cutoff"] => TimeRule::Cutoff(io::param(ctx, "cutoff").cloned().unwrap_or_default()),
            _ => {
                return Err(param_error(
                    "horizon",
                    format!(
                        "the time method takes exactly one of `horizon`, `test_fraction` and \
                         `cutoff` (given: {})",
                        if given.is_empty() {
                            "none".to_string()
                        } else {
                            given.join(", ")
                        }
                    ),
                ));
            }
        };
        Ok(Method::Time { time, ids, rule })
    }

    /// `true` for each row that goes to test.
    fn test_mask(&self, table: &Table) -> Result<Vec<bool>, StepError> {
        match self {
            Method::Time { time, ids, rule } => {
                let times = io::time_values(table, time)?;
                let keys = series_keys(table, ids)?;
                match rule {
                    TimeRule::Horizon(n) => Ok(horizon_mask(&times, &keys, *n)),
                    TimeRule::Fraction(f) => Ok(fraction_mask(&times, *f)),
                    TimeRule::Cutoff(cutoff) => {
                        let cutoff = parse_cutoff(table, time, cutoff)?;
                        Ok(times.iter().map(|&t| t > cutoff).collect())
                    }
                }
            }
            Method::Random { fraction, seed } => {
                let n = table.num_rows();
                let take = (fraction * n as f64).ceil() as usize;
                let mut rng = SplitMix64::new(*seed);
                let mut mask = vec![false; n];
                for i in rng.sample(n, take) {
                    mask[i] = true;
                }
                Ok(mask)
            }
            Method::Stratified {
                column,
                fraction,
                seed,
            } => stratified_mask(table, column, *fraction, *seed),
        }
    }
}

fn fraction_param(ctx: &StepContext<'_>) -> Result<f64, StepError> {
    let fraction = io::f64_or(ctx, "test_fraction", 0.2)?;
    if fraction > 0.0 && fraction < 1.0 {
        Ok(fraction)
    } else {
        Err(param_error(
            "test_fraction",
            format!("must be strictly between 0 and 1, not {fraction}"),
        ))
    }
}

fn seed_param(ctx: &StepContext<'_>) -> Result<u64, StepError> {
    match io::param(ctx, "seed") {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| param_error("seed", format!("must be a non-negative integer, not {v}"))),
    }
}

fn column_error(param: &str, e: impl std::fmt::Display) -> StepError {
    param_error(param, e.to_string())
}

/// One key per row identifying its series (all equal without id columns).
fn series_keys(table: &Table, ids: &[String]) -> Result<Vec<String>, StepError> {
    let columns = ids
        .iter()
        .map(|id| table.string_column(id).map_err(|e| column_error("id", e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..table.num_rows())
        .map(|row| {
            columns
                .iter()
                .map(|c| c[row].as_deref().unwrap_or("\u{0}null"))
                .collect::<Vec<_>>()
                .join("\u{1f}")
        })
        .collect())
}

fn horizon_mask(times: &[i64], keys: &[String], horizon: usize) -> Vec<bool> {
    let mut per_series: HashMap<&str, BTreeSet<i64>> = HashMap::new();
    for (key, &t) in keys.iter().zip(times) {
        per_series.entry(key).or_default().insert(t);
    }
    let first_test: HashMap<&str, i64> = per_series
        .into_iter()
        .map(|(key, set)| {
            let skip = set.len().saturating_sub(horizon);
            (key, set.into_iter().nth(skip).unwrap_or(i64::MIN))
        })
        .collect();
    keys.iter()
        .zip(times)
        .map(|(key, &t)| {
            first_test
                .get(key.as_str())
                .is_some_and(|&first| t >= first)
        })
        .collect()
}

fn fraction_mask(times: &[i64], fraction: f64) -> Vec<bool> {
    let distinct: BTreeSet<i64> = times.iter().copied().collect();
    let take = (fraction * distinct.len() as f64).ceil() as usize;
    let first_test = distinct
        .iter()
        .nth(distinct.len().saturating_sub(take))
        .copied()
        .unwrap_or(i64::MAX);
    times.iter().map(|&t| t >= first_test).collect()
}

/// The cutoff in the units of the time column.
fn parse_cutoff(table: &Table, time: &str, cutoff: &Value) -> Result<i64, StepError> {
    let bad = |reason: String| param_error("cutoff", reason);
    match table
        .time_column(time)
        .map_err(|e| column_error("time", e))?
    {
        TimeColumn::Index(_) => cutoff.as_i64().ok_or_else(|| {
            bad(format!(
                "must be an integer like the column `{time}`, not {cutoff}"
            ))
        }),
        TimeColumn::Seconds(_) => {
            let text = cutoff.as_str().ok_or_else(|| {
                bad(format!(
                    "must be a date or date-time like the column `{time}`, not {cutoff}"
                ))
            })?;
            let array = StringArray::from(vec![text]);
            let seconds = cast(&array, &DataType::Timestamp(TimeUnit::Second, None))
                .map_err(|e| bad(format!("`{text}` is not a date or date-time: {e}")))?;
            let seconds = seconds.as_primitive::<TimestampSecondType>();
            if seconds.is_valid(0) {
                Ok(seconds.value(0))
            } else {
                Err(bad(format!("`{text}` is not a date or date-time")))
            }
        }
    }
}

fn stratified_mask(
    table: &Table,
    column: &str,
    fraction: f64,
    seed: u64,
) -> Result<Vec<bool>, StepError> {
    let labels = table
        .string_column(column)
        .map_err(|e| column_error("column", e))?;
    let mut classes: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (row, label) in labels.iter().enumerate() {
        classes.entry(label.as_deref()).or_default().push(row);
    }
    let mut rng = SplitMix64::new(seed);
    let mut mask = vec![false; labels.len()];
    for rows in classes.values() {
        let n = rows.len();
        if n < 2 {
            continue;
        }
        let take = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
        for i in rng.sample(n, take) {
            mask[rows[i]] = true;
        }
    }
    Ok(mask)
}

/// The rows of `table` where `in_test` is false, and those where it is true, in order.
fn split_rows(table: &Table, in_test: &[bool]) -> Result<(Table, Table), StepError> {
    let test_rows = in_test.iter().filter(|&&t| t).count();
    if test_rows == 0 {
        return Err(StepError::Failed("the split leaves `test` empty".into()));
    }
    if test_rows == in_test.len() {
        return Err(StepError::Failed("the split leaves `train` empty".into()));
    }
    let test_mask = BooleanArray::from(in_test.to_vec());
    let train_mask = BooleanArray::from(in_test.iter().map(|t| !t).collect::<Vec<_>>());
    let take = |mask: &BooleanArray| {
        filter_record_batch(table.batch(), mask)
            .map(Table::new)
            .map_err(|e| StepError::Failed(format!("splitting the rows: {e}")))
    };
    Ok((take(&train_mask)?, take(&test_mask)?))
}
