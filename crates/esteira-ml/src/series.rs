//! Many series in long format: one row per (series id, timestamp, value), read from a
//! [`Table`] into regular series on a detected calendar.
//!
//! Rules, checked for every series:
//! - the id, time and target columns must exist and have usable types (errors name the column);
//! - ids and times must not be null (errors name the column and the row);
//! - targets must be finite: NaN or infinite values are errors naming the series and the time;
//!   a null target is a missing value;
//! - a timestamp may appear once per series (errors name the series and the time);
//! - times must sit on one regular calendar (hourly, daily, weekly, monthly, quarterly, yearly
//!   or a fixed step), detected from the most common spacing; a time off that grid is an error;
//! - missing steps inside a series (absent rows or null targets) are filled by linear
//!   interpolation between the neighbouring observations, and counted per series so that the
//!   caller reports them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Months, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::dataset::{DatasetError, Table, TimeColumn};
use crate::model::tabular::shuffled_rows;

/// Errors building series from a table.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("at least one id column is required")]
    NoIdColumn,
    #[error("column '{column}' is null at row {row}")]
    Null { column: String, row: usize },
    #[error(
        "series '{series}': target '{column}' is {value} at {time}; targets must be finite numbers"
    )]
    NonFiniteTarget {
        series: String,
        column: String,
        time: String,
        value: f64,
    },
    #[error("series '{series}': timestamp {time} appears more than once")]
    DuplicateTimestamp { series: String, time: String },
    #[error(
        "series '{series}': time {time} is not on the {calendar} grid of the data; resample the data to one frequency"
    )]
    IrregularTime {
        series: String,
        time: String,
        calendar: String,
    },
    #[error("series '{series}' has no observed value")]
    NoValues { series: String },
    #[error(
        "series '{series}': exogenous column '{column}' is {value} at {time}; values must be finite"
    )]
    NonFiniteExog {
        series: String,
        column: String,
        time: String,
        value: f64,
    },
    #[error(
        "series '{series}': exogenous column '{column}' has no value in the series' time range"
    )]
    MissingExog { series: String, column: String },
}

/// Result of series operations.
pub type Result<T> = std::result::Result<T, SeriesError>;

/// Which columns of a long table hold what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongFormat {
    /// Columns whose values together identify a series (joined with `/` into the series id).
    pub id: Vec<String>,
    /// The time column: dates, timestamps, date-time strings or integer periods.
    pub time: String,
    /// The numeric target column.
    pub target: String,
    /// Numeric exogenous columns (regressors whose future values are known at prediction).
    #[serde(default)]
    pub exog: Vec<String>,
}

/// How times are written: seconds since the epoch or an integer period index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    Seconds,
    Index,
}

/// The regular grid the series live on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", content = "every", rename_all = "snake_case")]
pub enum Calendar {
    /// A fixed step in the time column's unit (seconds, or index periods).
    Fixed(i64),
    /// A number of calendar months (1 monthly, 3 quarterly, 12 yearly).
    Months(u32),
}

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

impl Calendar {
    /// Seasonal periods worth testing for this calendar, shortest first (for example 24 and
    /// 168 for hourly data, 7 and 365 for daily data); empty when none is customary.
    pub fn candidate_seasons(self, kind: TimeKind) -> Vec<usize> {
        match (kind, self) {
            (TimeKind::Index, _) => Vec::new(),
            (TimeKind::Seconds, Calendar::Fixed(s)) if s == 30 * 60 => vec![48, 336],
            (TimeKind::Seconds, Calendar::Fixed(HOUR)) => vec![24, 168],
            (TimeKind::Seconds, Calendar::Fixed(DAY)) => vec![7, 365],
            (TimeKind::Seconds, Calendar::Fixed(s)) if s == 7 * DAY => vec![52],
            (TimeKind::Seconds, Calendar::Fixed(_)) => Vec::new(),
            (TimeKind::Seconds, Calendar::Months(1)) => vec![12],
            (TimeKind::Seconds, Calendar::Months(3)) => vec![4],
            (TimeKind::Seconds, Calendar::Months(_)) => Vec::new(),
        }
    }

    /// A human name: `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `yearly`, or the step.
    pub fn name(self, kind: TimeKind) -> String {
        match (kind, self) {
            (TimeKind::Index, Calendar::Fixed(1)) => "every period".to_string(),
            (TimeKind::Index, Calendar::Fixed(s)) => format!("every {s} periods"),
            (_, Calendar::Fixed(HOUR)) => "hourly".to_string(),
            (_, Calendar::Fixed(DAY)) => "daily".to_string(),
            (_, Calendar::Fixed(s)) if s == 7 * DAY => "weekly".to_string(),
            (_, Calendar::Fixed(s)) => format!("every {s} s"),
            (_, Calendar::Months(1)) => "monthly".to_string(),
            (_, Calendar::Months(3)) => "quarterly".to_string(),
            (_, Calendar::Months(12)) => "yearly".to_string(),
            (_, Calendar::Months(n)) => format!("every {n} months"),
        }
    }

    /// The time `steps` periods after `start` (which is on the grid).
    pub fn advance(self, start: i64, steps: i64) -> i64 {
        match self {
            Calendar::Fixed(s) => start + s * steps,
            Calendar::Months(n) => {
                let Some(date) = DateTime::<Utc>::from_timestamp(start, 0) else {
                    return start;
                };
                let months = Months::new((i64::from(n) * steps).unsigned_abs() as u32);
                let moved = if steps >= 0 {
                    date.checked_add_months(months)
                } else {
                    date.checked_sub_months(months)
                };
                moved.map_or(start, |d| d.timestamp())
            }
        }
    }

    /// Position of `time` relative to `start` in periods, or `None` when it is off the grid.
    fn position(self, start: i64, time: i64) -> Option<i64> {
        match self {
            Calendar::Fixed(s) => ((time - start) % s == 0).then_some((time - start) / s),
            Calendar::Months(n) => {
                let (a, b) = (month_index(start)?, month_index(time)?);
                let months = b - a;
                let steps = months.div_euclid(i64::from(n));
                (months.rem_euclid(i64::from(n)) == 0 && self.advance(start, steps) == time)
                    .then_some(steps)
            }
        }
    }
}

fn month_index(t: i64) -> Option<i64> {
    let d = DateTime::<Utc>::from_timestamp(t, 0)?;
    Some(i64::from(d.year()) * 12 + i64::from(d.month0()))
}

/// Formats a time of the given kind for messages and output: a date, a date-time, or the index.
pub fn format_time(kind: TimeKind, t: i64) -> String {
    match kind {
        TimeKind::Index => t.to_string(),
        TimeKind::Seconds => match Utc.timestamp_opt(t, 0).single() {
            Some(d) if t % DAY == 0 => d.format("%Y-%m-%d").to_string(),
            Some(d) => d.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => t.to_string(),
        },
    }
}

/// Days since the epoch of a midnight timestamp, for writing dates.
pub fn epoch_days(t: i64) -> Option<i32> {
    (t % DAY == 0)
        .then(|| i32::try_from(t / DAY).ok())
        .flatten()
}

/// One regular series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The id columns' values, in the order of [`LongFormat::id`].
    pub id_parts: Vec<String>,
    /// The id: `id_parts` joined with `/`.
    pub id: String,
    /// Time of `values[0]`.
    pub start: i64,
    /// One value per period, oldest first, gaps filled.
    pub values: Vec<f64>,
    /// How many values were filled in.
    pub filled: usize,
    /// One column per [`LongFormat::exog`], aligned with `values`, gaps interpolated.
    pub exog: Vec<Vec<f64>>,
}

/// Series read from a long table, all on one calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSet {
    pub format: LongFormat,
    pub kind: TimeKind,
    pub calendar: Calendar,
    /// In order of first appearance in the table.
    pub series: Vec<Series>,
}

impl SeriesSet {
    /// Time of the last value of `series`.
    pub fn last_time(&self, series: &Series) -> i64 {
        self.calendar
            .advance(series.start, series.values.len() as i64 - 1)
    }

    /// A seeded share `budget` of the series: the first `ceil(len × budget)` (at least one)
    /// in the order of [`shuffled_rows`] with `seed`; all of them, in their order, when
    /// `budget >= 1` or there are fewer than two. Tuning uses it to score a trial on part of
    /// the series at a low budget.
    pub fn subset(&self, budget: f64, seed: u64) -> SeriesSet {
        let n = self.series.len();
        if budget >= 1.0 || n < 2 {
            return self.clone();
        }
        let keep = ((n as f64 * budget).ceil() as usize).clamp(1, n);
        SeriesSet {
            format: self.format.clone(),
            kind: self.kind,
            calendar: self.calendar,
            series: shuffled_rows(n, seed)
                .into_iter()
                .take(keep)
                .map(|i| self.series[i].clone())
                .collect(),
        }
    }

    /// Reads the series of `table` described by `format`; see the module rules.
    ///
    /// # Errors
    /// Every rule of the module has its [`SeriesError`] variant.
    pub fn from_table(table: &Table, format: &LongFormat) -> Result<SeriesSet> {
        build(table, format, true, None)
    }

    /// Reads future rows (ids, times and exogenous values; no target) on a known calendar:
    /// each series' `start` is its first future time and `exog` its future regressors
    /// (`values` are zeros).
    ///
    /// # Errors
    /// As [`SeriesSet::from_table`], except for the target, which is not read.
    pub fn future_from_table(
        table: &Table,
        format: &LongFormat,
        calendar: Calendar,
    ) -> Result<SeriesSet> {
        build(table, format, false, Some(calendar))
    }
}

/// The distinct series ids of `table` (the `id_columns` values joined with `/`), in order of
/// first appearance.
///
/// # Errors
/// [`SeriesError::Dataset`] for a missing or non-text id column; [`SeriesError::Null`] for a
/// null id value.
pub fn series_ids(table: &Table, id_columns: &[String]) -> Result<Vec<String>> {
    let columns = id_columns
        .iter()
        .map(|c| table.string_column(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for row in 0..table.num_rows() {
        let parts = id_columns
            .iter()
            .zip(&columns)
            .map(|(column, values)| {
                values[row].clone().ok_or_else(|| SeriesError::Null {
                    column: column.clone(),
                    row,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let id = parts.join("/");
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn build(
    table: &Table,
    format: &LongFormat,
    with_target: bool,
    calendar: Option<Calendar>,
) -> Result<SeriesSet> {
    if format.id.is_empty() {
        return Err(SeriesError::NoIdColumn);
    }
    let ids = format
        .id
        .iter()
        .map(|c| table.string_column(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let times = table.time_column(&format.time)?;
    let targets = if with_target {
        table.f64_column(&format.target)?
    } else {
        vec![Some(0.0); table.num_rows()]
    };
    let exog = format
        .exog
        .iter()
        .map(|c| table.f64_column(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (kind, times) = match times {
        TimeColumn::Seconds(t) => (TimeKind::Seconds, t),
        TimeColumn::Index(t) => (TimeKind::Index, t),
    };
    let raw = group_rows(format, &ids, &times, &targets, &exog)?;
    let calendar = calendar.unwrap_or_else(|| detect_calendar(kind, &raw));
    let series = raw
        .into_iter()
        .map(|r| regularise(r, format, kind, calendar))
        .collect::<Result<Vec<_>>>()?;
    Ok(SeriesSet {
        format: format.clone(),
        kind,
        calendar,
        series,
    })
}

struct RawSeries {
    id_parts: Vec<String>,
    points: Vec<Point>,
}

struct Point {
    time: i64,
    target: Option<f64>,
    exog: Vec<Option<f64>>,
}

fn group_rows(
    format: &LongFormat,
    ids: &[Vec<Option<String>>],
    times: &[Option<i64>],
    targets: &[Option<f64>],
    exog: &[Vec<Option<f64>>],
) -> Result<Vec<RawSeries>> {
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    let mut raw: Vec<RawSeries> = Vec::new();
    for row in 0..times.len() {
        let mut key = Vec::with_capacity(ids.len());
        for (column, values) in format.id.iter().zip(ids) {
            let v = values[row].clone().ok_or_else(|| SeriesError::Null {
                column: column.clone(),
                row,
            })?;
            key.push(v);
        }
        let time = times[row].ok_or_else(|| SeriesError::Null {
            column: format.time.clone(),
            row,
        })?;
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            raw.push(RawSeries {
                id_parts: key,
                points: Vec::new(),
            });
            raw.len() - 1
        });
        raw[slot].points.push(Point {
            time,
            target: targets[row],
            exog: exog.iter().map(|column| column[row]).collect(),
        });
    }
    Ok(raw)
}

/// The most common positive spacing between consecutive times over all series, mapped to a
/// calendar (month-like spacings become calendar months).
fn detect_calendar(kind: TimeKind, raw: &[RawSeries]) -> Calendar {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for r in raw {
        let mut t: Vec<i64> = r.points.iter().map(|p| p.time).collect();
        t.sort_unstable();
        for w in t.windows(2) {
            if w[1] > w[0] {
                *counts.entry(w[1] - w[0]).or_default() += 1;
            }
        }
    }
    let step = counts
        .into_iter()
        .max_by_key(|&(step, count)| (count, std::cmp::Reverse(step)))
        .map_or(1, |(step, _)| step);
    if kind == TimeKind::Seconds {
        let days = step / DAY;
        if step % DAY == 0 {
            match days {
                28..=31 => return Calendar::Months(1),
                89..=92 => return Calendar::Months(3),
                365 | 366 => return Calendar::Months(12),
                _ => {}
            }
        }
    }
    Calendar::Fixed(step.max(1))
}

fn regularise(
    raw: RawSeries,
    format: &LongFormat,
    kind: TimeKind,
    calendar: Calendar,
) -> Result<Series> {
    let id = raw.id_parts.join("/");
    let mut points = raw.points;
    points.sort_by_key(|p| p.time);
    if let Some(w) = points.windows(2).find(|w| w[0].time == w[1].time) {
        return Err(SeriesError::DuplicateTimestamp {
            series: id,
            time: format_time(kind, w[0].time),
        });
    }
    let start = points[0].time;
    let last = points[points.len() - 1].time;
    let off_grid = |time: i64| SeriesError::IrregularTime {
        series: id.clone(),
        time: format_time(kind, time),
        calendar: calendar.name(kind),
    };
    let len = calendar
        .position(start, last)
        .ok_or_else(|| off_grid(last))? as usize
        + 1;
    let mut values = vec![None; len];
    let mut exog = vec![vec![None; len]; format.exog.len()];
    for point in &points {
        let pos = calendar
            .position(start, point.time)
            .ok_or_else(|| off_grid(point.time))? as usize;
        if let Some(v) = point.target
            && !v.is_finite()
        {
            return Err(SeriesError::NonFiniteTarget {
                series: id,
                column: format.target.clone(),
                time: format_time(kind, point.time),
                value: v,
            });
        }
        values[pos] = point.target;
        for (j, x) in point.exog.iter().enumerate() {
            if let Some(v) = x
                && !v.is_finite()
            {
                return Err(SeriesError::NonFiniteExog {
                    series: id,
                    column: format.exog[j].clone(),
                    time: format_time(kind, point.time),
                    value: *v,
                });
            }
            exog[j][pos] = *x;
        }
    }
    let first = values.iter().position(Option::is_some);
    let last = values.iter().rposition(Option::is_some);
    let (Some(first), Some(last)) = (first, last) else {
        return Err(SeriesError::NoValues { series: id });
    };
    let observed = &values[first..=last];
    let exog = exog
        .iter()
        .zip(&format.exog)
        .map(|(column, name)| {
            fill_edges(&column[first..=last]).ok_or_else(|| SeriesError::MissingExog {
                series: id.clone(),
                column: name.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Series {
        id_parts: raw.id_parts,
        start: calendar.advance(start, first as i64),
        filled: observed.iter().filter(|v| v.is_none()).count(),
        values: interpolate(observed),
        exog,
        id,
    })
}

/// [`interpolate`] for a column that may miss values at its ends too: those take the nearest
/// observed value. `None` when nothing is observed.
fn fill_edges(values: &[Option<f64>]) -> Option<Vec<f64>> {
    let first = values.iter().position(Option::is_some)?;
    let last = values.iter().rposition(Option::is_some)?;
    let mut out = vec![values[first]?; first];
    out.extend(interpolate(&values[first..=last]));
    out.extend(std::iter::repeat_n(values[last]?, values.len() - 1 - last));
    Some(out)
}

/// Linear interpolation of the missing values between observed ones (`values` starts and ends
/// with an observed value).
fn interpolate(values: &[Option<f64>]) -> Vec<f64> {
    let mut next_observed = vec![(0, 0.0); values.len()];
    let mut next = (values.len().saturating_sub(1), 0.0);
    for i in (0..values.len()).rev() {
        if let Some(x) = values[i] {
            next = (i, x);
        }
        next_observed[i] = next;
    }
    let mut previous = (0, values.first().copied().flatten().unwrap_or(0.0));
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        if let Some(x) = v {
            previous = (i, *x);
            out.push(*x);
        } else {
            let (j, x) = next_observed[i];
            let w = (i - previous.0) as f64 / (j - previous.0) as f64;
            out.push(previous.1 + w * (x - previous.1));
        }
    }
    out
}
