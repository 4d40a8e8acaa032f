//! Ground truth paired with the prediction log.
//!
//! How a ground-truth value finds its prediction:
//!
//! - **Forecasts** (a logged answer whose rows carry `step` and `forecast`): by series and
//!   time. The series id is the values of the id columns joined with `/`, as the model
//!   names its series; the time is matched as a point in time when it reads as a date or a
//!   date-time (`2024-03-01`, `2024-03-01T06:00:00`, `2024-03-01 06:00:00`, RFC 3339), as
//!   an integer period otherwise, else as text. When several forecasts cover the same
//!   (series, time), the most recent one made (request time) strictly before that time is
//!   used; with integer periods, which cannot be compared with a request time, the most
//!   recent one. A value whose only forecasts were made at or after its time is not
//!   paired. The pair keeps the horizon step h (`step`, 1-based) of the forecast used.
//! - **Tabular models**: by request id. A request of one row is answered by a value for its
//!   `request_id`. A request of several rows is answered either by one value per row in a
//!   JSON list in the order of the rows sent (the shape of the `predictions` answered), or
//!   row by row with `request_id` written `ID#ROW` (row 0-based). A single value for a
//!   request of several rows, or a list of another length, is counted as mismatched. This
//!   is the key MLflow and Databricks users already hold: the request id they sent (or got
//!   back in `x-request-id`), the labels in the shape of the predictions. A row's
//!   prediction is the answered value, or the `prediction` field of a classifier's record.
//!
//! A request id logged more than once counts by its last record (in the order given).
//! Ground truth is taken in order of receipt: a later value for the same key (request row,
//! or series and time) replaces the earlier one. Numeric predictions are compared with
//! JSON numbers only (a string or a boolean for a numeric prediction is reported as not a
//! number); label predictions (strings) are compared with strings, or with the JSON text of
//! a number or boolean (`1` for the label `"1"`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use esteira_ml::model::forecast::{FORECAST_COLUMN, INTERVAL_COLUMNS, STEP_COLUMN};
use esteira_ml::model::tabular::PREDICTION_COLUMN;
use esteira_serving::log::PredictionRecord;
use esteira_store::predictions::GroundTruth;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A predicted or observed value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A finite number.
    Number(f64),
    /// A class label.
    Label(String),
}

/// One prediction with its ground truth.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pair {
    /// The request that made the prediction.
    pub request_id: String,
    /// The model version that answered.
    pub version: String,
    /// When the prediction was made, milliseconds since the epoch.
    pub predicted_at_ms: i64,
    /// Tabular: the row of the request (0-based).
    pub row: Option<usize>,
    /// Forecasts: the series.
    pub series: Option<String>,
    /// Forecasts: the time forecast, as the forecast wrote it.
    pub time: Option<String>,
    /// Forecasts: that time in milliseconds since the epoch, when it is a date or date-time.
    pub time_ms: Option<i64>,
    /// Forecasts: the horizon step h of the forecast used (1 = the first step forecast).
    pub horizon: Option<u32>,
    /// The prediction (the point forecast for forecasts).
    pub predicted: Outcome,
    /// The ground truth.
    pub actual: Outcome,
}

/// How forecast answers name their columns, when they cannot be told from the answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinOptions {
    /// The forecasts' time column. Default: the one column (besides `step`, `forecast` and
    /// the intervals) whose value is an integer or a date or date-time.
    pub time_column: Option<String>,
    /// The forecasts' series id columns, in the model's order. Default: the remaining
    /// columns in name order (the model's order when there is one id column).
    pub id_columns: Option<Vec<String>>,
}

/// The pairs, and what could not be paired.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Joined {
    /// Predictions with their ground truth, in order of the first receipt of a ground
    /// truth for their key.
    pub pairs: Vec<Pair>,
    /// Ground-truth values (after replacement) with no prediction in the log given.
    pub truth_without_prediction: usize,
    /// Predicted keys (tabular request rows; forecast series and times) with no ground
    /// truth yet.
    pub predictions_without_truth: usize,
    /// Ground-truth values replaced by a later one for the same key.
    pub replaced_truth: usize,
    /// Ground-truth values whose shape does not fit the request (a single value for a
    /// request of several rows, a list of another length, a row beyond the request's).
    pub mismatched_truth: usize,
    /// Pairs left out because the prediction or the ground truth is not comparable: not a
    /// number for a numeric prediction, a null prediction, a list or object.
    pub not_comparable: usize,
    /// Logged records left out: failed requests (status other than 200) and answers that
    /// could not be read.
    pub unreadable_predictions: usize,
    /// The first problems met, described (at most [`Joined::MAX_PROBLEMS`]).
    pub problems: Vec<String>,
}

impl Joined {
    /// How many problems are described at most.
    pub const MAX_PROBLEMS: usize = 20;

    fn problem(&mut self, describe: impl FnOnce() -> String) {
        if self.problems.len() < Self::MAX_PROBLEMS {
            self.problems.push(describe());
        }
    }

    /// The numeric residuals (actual − predicted) of the pairs, in order.
    pub fn residuals(&self) -> Vec<f64> {
        self.pairs
            .iter()
            .filter_map(|p| match (&p.predicted, &p.actual) {
                (Outcome::Number(f), Outcome::Number(y)) => Some(y - f),
                _ => None,
            })
            .collect()
    }
}

/// [`join_with`] with the default [`JoinOptions`].
pub fn join(predictions: &[PredictionRecord], truth: &[GroundTruth]) -> Joined {
    join_with(predictions, truth, &JoinOptions::default())
}

/// Pairs every ground-truth value with its prediction (see the module's documentation for
/// the rules) and counts what cannot be paired. Never fails: problems are counted and the
/// first ones described in [`Joined::problems`].
pub fn join_with(
    predictions: &[PredictionRecord],
    truth: &[GroundTruth],
    options: &JoinOptions,
) -> Joined {
    let mut joined = Joined::default();
    let index = PredictionIndex::build(predictions, options, &mut joined);
    let latest = latest_truth(truth, &index, &mut joined);
    let mut answered_rows = 0;
    let mut answered_points = 0;
    for (key, value) in latest {
        let found = match &key {
            TruthKey::Row { request, row } => {
                let found = index.row(request, *row);
                answered_rows += usize::from(found.is_some());
                found.ok_or("no prediction in the log")
            }
            TruthKey::Point { series, time } => {
                let forecast = index.candidates(series, time).is_some();
                answered_points += usize::from(forecast);
                index.point(series, time).ok_or(if forecast {
                    "only forecasts made at or after that time"
                } else {
                    "no prediction in the log"
                })
            }
        };
        match found {
            Ok(found) => pair(found, value, &key, &mut joined),
            Err(reason) => {
                joined.truth_without_prediction += 1;
                joined.problem(|| format!("{key}: {reason}"));
            }
        }
    }
    joined.predictions_without_truth =
        (index.rows - answered_rows) + (index.points - answered_points);
    joined
}

/// The key a ground-truth value answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum TruthKey<'t> {
    Row { request: &'t str, row: usize },
    Point { series: &'t str, time: TimeKey },
}

impl std::fmt::Display for TruthKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TruthKey::Row { request, row } => write!(f, "request {request} row {row}"),
            TruthKey::Point { series, time } => write!(f, "series {series} at {time}"),
        }
    }
}

/// A forecast time, compared as a point in time, a period index or text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum TimeKey {
    Instant(i64),
    Index(i64),
    Text(String),
}

impl std::fmt::Display for TimeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeKey::Instant(ms) => match DateTime::from_timestamp_millis(*ms) {
                Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S")),
                None => write!(f, "{ms} ms"),
            },
            TimeKey::Index(i) => write!(f, "{i}"),
            TimeKey::Text(s) => write!(f, "{s}"),
        }
    }
}

impl TimeKey {
    fn parse(text: &str) -> TimeKey {
        let text = text.trim();
        if let Ok(i) = text.parse::<i64>() {
            return TimeKey::Index(i);
        }
        instant_ms(text).map_or_else(|| TimeKey::Text(text.to_string()), TimeKey::Instant)
    }

    fn of_value(value: &Value) -> Option<TimeKey> {
        match value {
            Value::Number(n) => n.as_i64().map(TimeKey::Index),
            Value::String(s) => Some(TimeKey::parse(s)),
            _ => None,
        }
    }

    fn instant(&self) -> Option<i64> {
        match self {
            TimeKey::Instant(ms) => Some(*ms),
            _ => None,
        }
    }
}

/// A date (midnight UTC), a date-time without zone (UTC) or an RFC 3339 time, in ms.
fn instant_ms(text: &str) -> Option<i64> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// What a logged answer predicted.
struct Predicted<'a> {
    record: &'a PredictionRecord,
    /// `None` for a null prediction.
    value: Option<Outcome>,
    horizon: Option<u32>,
    time: Option<String>,
    time_ms: Option<i64>,
}

/// The logged predictions by key.
struct PredictionIndex<'a> {
    requests: HashMap<&'a str, Vec<Predicted<'a>>>,
    rows: usize,
    /// The forecasts by series, then time.
    forecasts: HashMap<String, HashMap<TimeKey, Vec<Predicted<'a>>>>,
    /// How many (series, time) keys were forecast.
    points: usize,
}

impl<'a> PredictionIndex<'a> {
    fn build(
        records: &'a [PredictionRecord],
        options: &JoinOptions,
        joined: &mut Joined,
    ) -> PredictionIndex<'a> {
        let mut index = PredictionIndex {
            requests: HashMap::new(),
            rows: 0,
            forecasts: HashMap::new(),
            points: 0,
        };
        for record in records {
            if let Err(reason) = index.add(record, options) {
                joined.unreadable_predictions += 1;
                joined.problem(|| format!("request {}: {reason}", record.request_id));
            }
        }
        index
    }

    fn add(&mut self, record: &'a PredictionRecord, options: &JoinOptions) -> Result<(), String> {
        if record.status != 200 {
            return Err(format!("the request failed (status {})", record.status));
        }
        let rows = answer_rows(&record.outputs)?;
        let forecast = rows.iter().any(|r| r.get(FORECAST_COLUMN).is_some())
            && rows.iter().any(|r| r.get(STEP_COLUMN).is_some());
        if forecast {
            let points = rows
                .iter()
                .map(|row| forecast_point(record, row, options))
                .collect::<Result<Vec<_>, _>>()?;
            for (key, point) in points {
                let (series, time) = key;
                let times = self.forecasts.entry(series).or_default();
                let candidates = times.entry(time).or_default();
                self.points += usize::from(candidates.is_empty());
                candidates.push(point);
            }
        } else {
            let predicted = rows
                .iter()
                .map(|row| tabular_prediction(record, row))
                .collect::<Result<Vec<_>, _>>()?;
            let added = predicted.len();
            let replaced = self.requests.insert(record.request_id.as_str(), predicted);
            self.rows = self.rows - replaced.map_or(0, |p| p.len()) + added;
        }
        Ok(())
    }

    fn request_rows(&self, request: &str) -> Option<usize> {
        self.requests.get(request).map(Vec::len)
    }

    fn row(&self, request: &str, row: usize) -> Option<&Predicted<'a>> {
        self.requests.get(request).and_then(|rows| rows.get(row))
    }

    fn candidates(&self, series: &str, time: &TimeKey) -> Option<&Vec<Predicted<'a>>> {
        self.forecasts.get(series).and_then(|times| times.get(time))
    }

    /// The most recent forecast made before the time (any, for times that are not
    /// instants).
    fn point(&self, series: &str, time: &TimeKey) -> Option<&Predicted<'a>> {
        let candidates = self.candidates(series, time)?;
        let made_in_time = |p: &&Predicted<'a>| time.instant().is_none_or(|t| p.record.time_ms < t);
        candidates
            .iter()
            .filter(made_in_time)
            .max_by_key(|p| p.record.time_ms)
    }
}

/// The answer's rows: the `predictions` list, each a JSON value.
fn answer_rows(outputs: &str) -> Result<Vec<Value>, String> {
    /// The logged answer: `{"predictions": [...]}` (other fields ignored).
    #[derive(serde::Deserialize)]
    struct Answer {
        predictions: Vec<Value>,
    }
    serde_json::from_str::<Answer>(outputs)
        .map(|a| a.predictions)
        .map_err(|e| format!("the answer is not a JSON object with a 'predictions' list: {e}"))
}

fn outcome(value: &Value) -> Option<Outcome> {
    match value {
        Value::Number(n) => n.as_f64().filter(|v| v.is_finite()).map(Outcome::Number),
        Value::String(s) => Some(Outcome::Label(s.clone())),
        Value::Bool(b) => Some(Outcome::Label(b.to_string())),
        _ => None,
    }
}

fn tabular_prediction<'a>(
    record: &'a PredictionRecord,
    row: &Value,
) -> Result<Predicted<'a>, String> {
    let value = match row {
        Value::Object(fields) => fields
            .get(PREDICTION_COLUMN)
            .ok_or_else(|| format!("a row of the answer has no '{PREDICTION_COLUMN}' field"))?,
        other => other,
    };
    Ok(Predicted {
        record,
        value: outcome(value),
        horizon: None,
        time: None,
        time_ms: None,
    })
}

fn forecast_point<'a>(
    record: &'a PredictionRecord,
    row: &Value,
    options: &JoinOptions,
) -> Result<((String, TimeKey), Predicted<'a>), String> {
    let Value::Object(fields) = row else {
        return Err("a forecast row is not a JSON object".into());
    };
    let step = fields
        .get(STEP_COLUMN)
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .filter(|s| *s >= 1)
        .ok_or_else(|| format!("a forecast row's '{STEP_COLUMN}' is not a positive integer"))?;
    let time_column = time_column(fields, options)?;
    let time_value = fields.get(&time_column).unwrap_or(&Value::Null);
    let time = TimeKey::of_value(time_value)
        .ok_or_else(|| format!("the forecast time '{time_column}' is {time_value}"))?;
    let series = series_id(fields, &time_column, options)?;
    let point = Predicted {
        record,
        value: fields.get(FORECAST_COLUMN).and_then(outcome),
        horizon: Some(step),
        time: Some(match time_value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        time_ms: time.instant(),
    };
    Ok(((series, time), point))
}

fn is_forecast_value_column(name: &str) -> bool {
    name == STEP_COLUMN || name == FORECAST_COLUMN || INTERVAL_COLUMNS.contains(&name)
}

fn time_column(fields: &Map<String, Value>, options: &JoinOptions) -> Result<String, String> {
    if let Some(column) = &options.time_column {
        return match fields.contains_key(column) {
            true => Ok(column.clone()),
            false => Err(format!("a forecast row has no time column '{column}'")),
        };
    }
    let timelike = |(name, value): &(&String, &Value)| {
        !is_forecast_value_column(name)
            && match value {
                Value::Number(n) => n.is_i64(),
                Value::String(s) => instant_ms(s.trim()).is_some(),
                _ => false,
            }
    };
    let found: Vec<&String> = fields.iter().filter(timelike).map(|(n, _)| n).collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err("a forecast row has no time column (an integer or a date)".into()),
        many => Err(format!(
            "a forecast row has several columns that may be its time ({}); name it in the join options",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn series_id(
    fields: &Map<String, Value>,
    time_column: &str,
    options: &JoinOptions,
) -> Result<String, String> {
    let names: Vec<&str> = match &options.id_columns {
        Some(ids) => ids.iter().map(String::as_str).collect(),
        None => fields
            .keys()
            .map(String::as_str)
            .filter(|n| *n != time_column && !is_forecast_value_column(n))
            .collect(),
    };
    if names.is_empty() {
        return Err("a forecast row has no series id column".into());
    }
    let parts = names
        .iter()
        .map(|name| match fields.get(*name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(format!("the series id column '{name}' is {other}")),
            None => Err(format!("a forecast row has no series id column '{name}'")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join("/"))
}

/// The ground truth by key, the latest received for each key, in order of first receipt.
fn latest_truth<'t>(
    truth: &'t [GroundTruth],
    index: &PredictionIndex<'_>,
    joined: &mut Joined,
) -> Vec<(TruthKey<'t>, &'t Value)> {
    let mut order: Vec<&GroundTruth> = truth.iter().collect();
    order.sort_by_key(|g| g.received_ms);
    let mut position: HashMap<TruthKey<'t>, usize> = HashMap::new();
    let mut latest: Vec<(TruthKey<'t>, &Value)> = Vec::new();
    for g in order {
        for (key, value) in truth_keys(g, index, joined) {
            match position.get(&key) {
                Some(i) => {
                    latest[*i].1 = value;
                    joined.replaced_truth += 1;
                }
                None => {
                    position.insert(key.clone(), latest.len());
                    latest.push((key, value));
                }
            }
        }
    }
    latest
}

/// The keys one ground-truth record answers, with their values.
fn truth_keys<'t>(
    g: &'t GroundTruth,
    index: &PredictionIndex<'_>,
    joined: &mut Joined,
) -> Vec<(TruthKey<'t>, &'t Value)> {
    let present = |v: &'t Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let (Some(series), Some(time)) = (present(&g.series), present(&g.time)) {
        let key = TruthKey::Point {
            series,
            time: TimeKey::parse(time),
        };
        return vec![(key, &g.value)];
    }
    let Some(request) = present(&g.request_id) else {
        joined.truth_without_prediction += 1;
        joined.problem(|| {
            "a ground-truth value has neither a request id nor a series and time".into()
        });
        return Vec::new();
    };
    match row_keys(request, &g.value, index) {
        Ok(keys) => keys,
        Err(reason) => {
            joined.mismatched_truth += 1;
            joined.problem(|| format!("request {request}: {reason}"));
            Vec::new()
        }
    }
}

fn row_keys<'t>(
    request: &'t str,
    value: &'t Value,
    index: &PredictionIndex<'_>,
) -> Result<Vec<(TruthKey<'t>, &'t Value)>, String> {
    let row_key = |request: &'t str, row: usize| TruthKey::Row { request, row };
    let Some(rows) = index.request_rows(request) else {
        if let Some((id, row)) = request.rsplit_once('#')
            && let (Some(rows), Ok(row)) = (index.request_rows(id), row.parse::<usize>())
        {
            if row >= rows {
                return Err(format!("row {row} is beyond the request's {rows} rows"));
            }
            return Ok(vec![(row_key(id, row), value)]);
        }
        return Ok(vec![(row_key(request, 0), value)]);
    };
    match value {
        Value::Array(values) if values.len() == rows => Ok(values
            .iter()
            .enumerate()
            .map(|(row, v)| (row_key(request, row), v))
            .collect()),
        Value::Array(values) => Err(format!(
            "{} values for a request of {rows} rows",
            values.len()
        )),
        _ if rows == 1 => Ok(vec![(row_key(request, 0), value)]),
        _ => Err(format!(
            "one value for a request of {rows} rows: send a list of {rows} values, or address a row as '{request}#ROW'"
        )),
    }
}

fn pair(found: &Predicted<'_>, actual: &Value, key: &TruthKey<'_>, joined: &mut Joined) {
    let compared = match &found.value {
        None => Err("the prediction is null".to_string()),
        Some(Outcome::Number(f)) => match actual {
            Value::Number(n) => n
                .as_f64()
                .filter(|y| y.is_finite())
                .map(|y| (Outcome::Number(*f), Outcome::Number(y)))
                .ok_or_else(|| format!("the ground truth {n} is not a finite number")),
            other => Err(format!("the ground truth {other} is not a number")),
        },
        Some(Outcome::Label(label)) => match actual {
            Value::String(s) => Ok((Outcome::Label(label.clone()), Outcome::Label(s.clone()))),
            Value::Number(_) | Value::Bool(_) => Ok((
                Outcome::Label(label.clone()),
                Outcome::Label(actual.to_string()),
            )),
            other => Err(format!("the ground truth {other} is not a label")),
        },
    };
    match compared {
        Ok((predicted, actual)) => {
            let (row, series) = match key {
                TruthKey::Row { row, .. } => (Some(*row), None),
                TruthKey::Point { series, .. } => (None, Some(series.to_string())),
            };
            joined.pairs.push(Pair {
                request_id: found.record.request_id.clone(),
                version: found.record.version.clone(),
                predicted_at_ms: found.record.time_ms,
                row,
                series,
                time: found.time.clone(),
                time_ms: found.time_ms,
                horizon: found.horizon,
                predicted,
                actual,
            });
        }
        Err(reason) => {
            joined.not_comparable += 1;
            joined.problem(|| format!("{key}: {reason}"));
        }
    }
}
