//! The `transform` step: feature engineering for time series — lags, rolling means of past
//! values and calendar features.
//!
//! Params:
//! - `time`: the time column (dates, timestamps or date-time text; an integer period index
//!   is allowed unless `calendar` is asked for). It must have no nulls. Times are compared
//!   to the second.
//! - `id` (optional): a column or a list of columns identifying series.
//! - `target`: the column lags and rolling means are computed from (numeric); required when
//!   `lags` or `rolling_mean` is given.
//! - `lags = [1, 7]`: adds `<target>_lag_<k>`, the target k rows earlier in the same series
//!   (as pandas' `groupby(id)[target].shift(k)`: rows, not time periods, so gaps in time are
//!   not filled).
//! - `rolling_mean = [7, 28]`: adds `<target>_rolling_mean_<w>`, the mean of the w target
//!   values just BEFORE the row in its series, so a row never sees its own target (as pandas'
//!   `groupby(id)[target].transform(lambda s: s.rolling(w).mean().shift(1))`): null when
//!   fewer than w earlier rows exist or any of them is null.
//! - `calendar = ["dayofweek", "month", "dayofyear", "weekofyear", "hour", "is_weekend",
//!   "year"]`: adds `<time>_<feature>` as integers, computed in UTC: `dayofweek` 0 = Monday to
//!   6 = Sunday, `weekofyear` the ISO 8601 week, `is_weekend` 1 on Saturdays and Sundays and
//!   0 otherwise.
//! - `drop_incomplete` (default `false`): drop the rows where a lag or rolling mean is null
//!   (otherwise they stay, with nulls).
//!
//! At least one of `lags`, `rolling_mean` and `calendar` must be given. Lags and rolling
//! means are Float64 columns. The output rows are sorted by (id columns, time), stably.
//! Metrics: `rows` (written), `dropped_rows`, `features` (columns added).

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, UInt64Array};
use arrow::compute::{SortColumn, filter_record_batch, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use esteira_ml::dataset::{Table, TimeColumn};
use serde_json::Value;

use super::io::{self, param_error};
use crate::step::{StepContext, StepError, StepOutput};

/// The params this step knows.
const KNOWN_PARAMS: [&str; 7] = [
    "time",
    "id",
    "target",
    "lags",
    "rolling_mean",
    "calendar",
    "drop_incomplete",
];

/// The calendar features this step knows.
const CALENDAR_FEATURES: [&str; 7] = [
    "dayofweek",
    "month",
    "dayofyear",
    "weekofyear",
    "hour",
    "is_weekend",
    "year",
];

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for an unknown column, a non-positive lag or window, an unknown
/// calendar feature, a calendar on an integer time column, or nothing to compute;
/// [`StepError::Input`] when `data` cannot be read, its time column has nulls or an added
/// column's name is taken.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    let features = Features::from_params(ctx)?;
    let table = io::read_table(ctx, "data")?;
    let rows_in = table.num_rows();
    let (table, added) = io::spawn_cpu(move || features.apply(&table)).await?;
    let rows = table.num_rows();
    ctx.log.line(format!(
        "added {added} feature columns; {rows} of {rows_in} rows kept, sorted by series and time"
    ));
    let path = io::write_table(ctx, "data", &table)?;
    Ok(StepOutput {
        outputs: [("data".to_string(), path)].into(),
        metrics: [
            ("rows".to_string(), rows as f64),
            ("dropped_rows".to_string(), (rows_in - rows) as f64),
            ("features".to_string(), added as f64),
        ]
        .into(),
    })
}

/// What to compute.
#[derive(Debug)]
struct Features {
    time: String,
    ids: Vec<String>,
    target: Option<String>,
    lags: Vec<usize>,
    windows: Vec<usize>,
    calendar: Vec<String>,
    drop_incomplete: bool,
}

impl Features {
    fn from_params(ctx: &StepContext<'_>) -> Result<Features, StepError> {
        io::reject_unknown_params(ctx, &KNOWN_PARAMS)?;
        let features = Features {
            time: io::required_str(ctx, "time")?.to_string(),
            ids: io::str_list(ctx, "id")?,
            target: io::optional_str(ctx, "target")?.map(str::to_string),
            lags: positive_list(ctx, "lags")?,
            windows: positive_list(ctx, "rolling_mean")?,
            calendar: io::str_list(ctx, "calendar")?,
            drop_incomplete: match io::param(ctx, "drop_incomplete") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(param_error(
                        "drop_incomplete",
                        format!("must be true or false, not {other}"),
                    ));
                }
            },
        };
        if let Some(unknown) = features
            .calendar
            .iter()
            .find(|f| !CALENDAR_FEATURES.contains(&f.as_str()))
        {
            return Err(param_error(
                "calendar",
                format!(
                    "unknown feature `{unknown}` (known: {})",
                    CALENDAR_FEATURES.join(", ")
                ),
            ));
        }
        let uses_target = !features.lags.is_empty() || !features.windows.is_empty();
        if uses_target && features.target.is_none() {
            return Err(param_error(
                "target",
                "is required with `lags` or `rolling_mean`".into(),
            ));
        }
        if !uses_target && features.calendar.is_empty() {
            return Err(param_error(
                "lags",
                "nothing to compute: give `lags`, `rolling_mean` or `calendar`".into(),
            ));
        }
        Ok(features)
    }

    /// The sorted table with the feature columns added, and how many were added.
    fn apply(&self, table: &Table) -> Result<(Table, usize), StepError> {
        let sorted = self.sort(table)?;
        let mut columns: Vec<(String, ArrayRef)> = Vec::new();
        if let Some(target) = &self.target {
            let values = sorted
                .f64_column(target)
                .map_err(|e| param_error("target", e.to_string()))?;
            let starts = self.series_starts(&sorted)?;
            for &k in &self.lags {
                columns.push((
                    format!("{target}_lag_{k}"),
                    Arc::new(lag(&values, &starts, k)),
                ));
            }
            for &w in &self.windows {
                let name = format!("{target}_rolling_mean_{w}");
                columns.push((name, Arc::new(rolling_mean(&values, &starts, w))));
            }
        }
        if !self.calendar.is_empty() {
            let seconds = self.seconds(&sorted)?;
            for feature in &self.calendar {
                let name = format!("{}_{feature}", self.time);
                columns.push((name, Arc::new(calendar_feature(&seconds, feature)?)));
            }
        }
        let added = columns.len();
        let mut table = append_columns(&sorted, columns)?;
        if self.drop_incomplete {
            // The lags and rolling means are the first columns added.
            let first = sorted.schema().fields().len();
            let history = first..first + self.lags.len() + self.windows.len();
            table = drop_incomplete(&table, history)?;
        }
        Ok((table, added))
    }

    /// The rows sorted by (ids, time), ties kept in their original order.
    fn sort(&self, table: &Table) -> Result<Table, StepError> {
        let mut keys = Vec::new();
        for id in &self.ids {
            let column = table
                .column(id)
                .map_err(|e| param_error("id", e.to_string()))?;
            keys.push(SortColumn {
                values: column.clone(),
                options: None,
            });
        }
        let times = io::time_values(table, &self.time)?;
        keys.push(SortColumn {
            values: Arc::new(Int64Array::from(times)),
            options: None,
        });
        let row_numbers: UInt64Array = (0..table.num_rows() as u64).collect();
        keys.push(SortColumn {
            values: Arc::new(row_numbers),
            options: None,
        });
        let order = lexsort_to_indices(&keys, None)
            .map_err(|e| StepError::Failed(format!("sorting the rows: {e}")))?;
        take_record_batch(table.batch(), &order)
            .map(Table::new)
            .map_err(|e| StepError::Failed(format!("sorting the rows: {e}")))
    }

    /// For each row of the sorted table, the index of the first row of its series.
    fn series_starts(&self, sorted: &Table) -> Result<Vec<usize>, StepError> {
        let ids = self
            .ids
            .iter()
            .map(|id| {
                sorted
                    .string_column(id)
                    .map_err(|e| param_error("id", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut starts = Vec::with_capacity(sorted.num_rows());
        for row in 0..sorted.num_rows() {
            let same_series = row > 0 && ids.iter().all(|c| c[row] == c[row - 1]);
            starts.push(if same_series { starts[row - 1] } else { row });
        }
        Ok(starts)
    }

    /// The time column as seconds since the epoch, for calendar features.
    fn seconds(&self, sorted: &Table) -> Result<Vec<i64>, StepError> {
        match sorted
            .time_column(&self.time)
            .map_err(|e| param_error("time", e.to_string()))?
        {
            TimeColumn::Seconds(values) => Ok(values.into_iter().flatten().collect()),
            TimeColumn::Index(_) => Err(param_error(
                "calendar",
                format!(
                    "needs dates or timestamps, but `{}` is an integer column",
                    self.time
                ),
            )),
        }
    }
}

fn positive_list(ctx: &StepContext<'_>, name: &str) -> Result<Vec<usize>, StepError> {
    let Some(value) = io::param(ctx, name) else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| param_error(name, format!("must be a list of integers, not {value}")))?;
    items
        .iter()
        .map(|item| {
            item.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| param_error(name, format!("must be positive integers, not {item}")))
        })
        .collect()
}

/// `values` shifted down by `k` rows within each series.
fn lag(values: &[Option<f64>], starts: &[usize], k: usize) -> Float64Array {
    (0..values.len())
        .map(|row| {
            row.checked_sub(k)
                .filter(|&earlier| earlier >= starts[row])
                .and_then(|earlier| values[earlier])
        })
        .collect()
}

/// The mean of the `w` values before each row within its series; null unless all `w` exist.
fn rolling_mean(values: &[Option<f64>], starts: &[usize], w: usize) -> Float64Array {
    (0..values.len())
        .map(|row| {
            let first = row.checked_sub(w).filter(|&first| first >= starts[row])?;
            let window: Option<Vec<f64>> = values[first..row].iter().copied().collect();
            window.map(|v| v.iter().sum::<f64>() / w as f64)
        })
        .collect()
}

fn calendar_feature(seconds: &[i64], feature: &str) -> Result<Int64Array, StepError> {
    seconds
        .iter()
        .map(|&s| {
            let t: DateTime<Utc> =
                DateTime::from_timestamp(s, 0).ok_or_else(|| StepError::Input {
                    input: "data".into(),
                    reason: format!("time {s} s is out of range"),
                })?;
            Ok(Some(match feature {
                "dayofweek" => i64::from(t.weekday().num_days_from_monday()),
                "month" => i64::from(t.month()),
                "dayofyear" => i64::from(t.ordinal()),
                "weekofyear" => i64::from(t.iso_week().week()),
                "hour" => i64::from(t.hour()),
                "is_weekend" => i64::from(matches!(t.weekday(), Weekday::Sat | Weekday::Sun)),
                "year" => i64::from(t.year()),
                unknown => {
                    return Err(param_error(
                        "calendar",
                        format!("unknown feature `{unknown}`"),
                    ));
                }
            }))
        })
        .collect()
}

/// `table` with `columns` added at the end; a name already taken is an error.
fn append_columns(table: &Table, columns: Vec<(String, ArrayRef)>) -> Result<Table, StepError> {
    let schema = table.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays: Vec<ArrayRef> = table.batch().columns().to_vec();
    for (name, array) in columns {
        if fields.iter().any(|f| f.name() == &name) {
            return Err(StepError::Input {
                input: "data".into(),
                reason: format!("already has a column `{name}`, which this step would add"),
            });
        }
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map(Table::new)
        .map_err(|e| StepError::Failed(format!("adding the feature columns: {e}")))
}

/// Drops the rows where any of the columns `history` (lags and rolling means) is null.
fn drop_incomplete(table: &Table, history: Range<usize>) -> Result<Table, StepError> {
    let batch = table.batch();
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|row| Some(history.clone().all(|c| batch.column(c).is_valid(row))))
        .collect();
    filter_record_batch(batch, &keep)
        .map(Table::new)
        .map_err(|e| StepError::Failed(format!("dropping incomplete rows: {e}")))
}
