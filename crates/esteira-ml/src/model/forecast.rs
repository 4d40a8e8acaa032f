//! The many-series forecast model: one fitted forecaster per series of a long table, trained in
//! parallel, saved as one JSON document, predicting any horizon without refitting.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, StringArray, TimestampSecondArray, UInt32Array,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ColumnSpec, ModelError, Result, Signature};
use crate::backtest::{
    BacktestError, BacktestMany, BacktestSpec, SeriesBacktest, Summary, backtest_with,
};
use crate::dataset::{Table, table_from_columns};
use crate::forecast::{FittedSeries, Forecast, ForecastError, Method, detect_seasonality, fit};
use crate::metrics;
use crate::series::{Calendar, LongFormat, Series, SeriesSet, TimeKind, epoch_days, format_time};

/// Column names of forecast tables besides the id and time columns.
pub const STEP_COLUMN: &str = "step";
pub const FORECAST_COLUMN: &str = "forecast";
pub const INTERVAL_COLUMNS: [&str; 4] = ["lo_95", "lo_80", "hi_80", "hi_95"];

/// What to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    pub format: LongFormat,
    /// Method name as [`Method::name`] prints it (case-insensitive on input).
    pub method: String,
    /// Default horizon of predictions.
    pub horizon: usize,
    /// Seasonal periods to use; `None` tests the calendar's customary periods per series.
    pub seasons: Option<Vec<usize>>,
}

/// One series of a [`ForecastModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesModel {
    pub id_parts: Vec<String>,
    pub id: String,
    /// Time of the last training value.
    pub last_time: i64,
    /// Training values (after gap filling).
    pub n_obs: usize,
    /// Values filled in gaps.
    pub filled: usize,
    /// Seasonal periods used, shortest first (empty: none).
    pub seasons: Vec<usize>,
    /// What was fitted, e.g. `Theta` or `Ensemble(MSTL(7)+Theta 0.6, sNaive 0.4)`.
    pub model: String,
    /// In-sample seasonal-naive MAE (shortest season), the MASE scale; `None` when undefined
    /// (a constant series).
    pub mase_scale: Option<f64>,
    /// Why a simpler setting than requested was used, if it was.
    pub fallback: Option<String>,
    /// Coefficients of the exogenous columns (empty without them): the forecaster models the
    /// target minus their effect, which is added back with the future values.
    #[serde(default)]
    pub exog_coefficients: Vec<f64>,
    fitted: FittedSeries,
}

impl ForecastConfig {
    /// Checks the method, the horizon and the seasons; returns the method and the periods to
    /// test on each series of `set` (the configured ones, or the calendar's customary ones).
    fn resolve(&self, set: &SeriesSet) -> Result<(Method, Vec<usize>)> {
        let method = parse_method(&self.method)?;
        if self.horizon == 0 {
            return Err(ModelError::Invalid {
                field: "horizon",
                reason: "must be at least 1".into(),
            });
        }
        match &self.seasons {
            Some(seasons) if seasons.contains(&0) => Err(ModelError::Invalid {
                field: "season",
                reason: "must be at least 1 (1 means non-seasonal)".into(),
            }),
            Some(seasons) => Ok((method, seasons.clone())),
            None => Ok((method, set.calendar.candidate_seasons(set.kind))),
        }
    }
}

/// A trained many-series forecast model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastModel {
    pub config: ForecastConfig,
    pub kind: TimeKind,
    pub calendar: Calendar,
    pub series: Vec<SeriesModel>,
}

/// What training did, for the run summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub series: usize,
    pub observations: usize,
    /// `(series, values filled)` for series with gaps.
    pub gaps_filled: Vec<(String, usize)>,
    /// `(series, reason)` for series that used a simpler setting.
    pub fallbacks: Vec<(String, String)>,
    /// Seasonal periods (`"7"`, `"24,168"`, `"none"`) → number of series using them.
    pub seasons: BTreeMap<String, usize>,
    /// Fitted model name → number of series.
    pub models: BTreeMap<String, usize>,
}

/// The method called `name` (case-insensitive), or `None`.
pub fn method_by_name(name: &str) -> Option<Method> {
    Method::EVERY
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
}

fn parse_method(name: &str) -> Result<Method> {
    method_by_name(name).ok_or_else(|| ModelError::Invalid {
        field: "method",
        reason: format!(
            "unknown method '{name}' (methods: {})",
            Method::EVERY.map(Method::name).join(", ")
        ),
    })
}

impl ForecastModel {
    /// Fits one forecaster per series of `set`, in parallel.
    ///
    /// Seasons per series: the configured periods, or the calendar's customary ones, keeping
    /// those the series holds three full cycles of and, when not configured, that
    /// [`detect_seasonality`] finds; none otherwise, reported as a fallback when periods were
    /// configured. Methods with one season use the shortest; MSTL and the ensemble use all.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] for an unknown method, a zero horizon or a zero season;
    /// [`ModelError::Forecast`] naming the series when a fit fails.
    pub fn train(
        set: &SeriesSet,
        config: ForecastConfig,
        progress: &(dyn Fn() + Sync),
    ) -> Result<(ForecastModel, TrainReport)> {
        let (method, candidates) = config.resolve(set)?;
        let series = set
            .series
            .par_iter()
            .map(|s| {
                let configured = config.seasons.is_some();
                let fitted = fit_series(set, s, method, &candidates, configured, config.horizon);
                progress();
                fitted
            })
            .collect::<Result<Vec<_>>>()?;
        let report = TrainReport {
            series: series.len(),
            observations: series.iter().map(|s| s.n_obs).sum(),
            gaps_filled: series
                .iter()
                .filter(|s| s.filled > 0)
                .map(|s| (s.id.clone(), s.filled))
                .collect(),
            fallbacks: series
                .iter()
                .filter_map(|s| s.fallback.clone().map(|f| (s.id.clone(), f)))
                .collect(),
            seasons: series.iter().fold(BTreeMap::new(), |mut acc, s| {
                *acc.entry(seasons_key(&s.seasons)).or_default() += 1;
                acc
            }),
            models: series.iter().fold(BTreeMap::new(), |mut acc, s| {
                *acc.entry(s.model.clone()).or_default() += 1;
                acc
            }),
        };
        let model = ForecastModel {
            config,
            kind: set.kind,
            calendar: set.calendar,
            series,
        };
        Ok((model, report))
    }

    /// Forecasts `horizon` steps after each series' last training value, for the series in
    /// `ids` (all when `None`), in parallel. Columns: the id columns, the time column,
    /// `step`, `forecast`, and `lo_95`, `lo_80`, `hi_80`, `hi_95` (null for methods without
    /// intervals).
    ///
    /// # Errors
    /// [`ModelError::UnknownSeries`] for an id the model was not trained on,
    /// [`ModelError::Invalid`] for a zero horizon, [`ModelError::Forecast`] naming the series.
    pub fn predict(&self, ids: Option<&[String]>, horizon: usize) -> Result<Table> {
        if horizon == 0 {
            return Err(ModelError::Invalid {
                field: "horizon",
                reason: "must be at least 1".into(),
            });
        }
        if !self.config.format.exog.is_empty() {
            return Err(ModelError::Invalid {
                field: "input",
                reason: format!(
                    "the model uses exogenous columns ({}): give their future values per series and time",
                    self.config.format.exog.join(", ")
                ),
            });
        }
        let chosen = self.select(ids)?;
        let forecasts = chosen
            .par_iter()
            .map(|s| self.forecast_series(s, horizon, &[]).map(|f| (*s, f)))
            .collect::<Result<Vec<_>>>()?;
        self.forecast_table(&forecasts)
    }

    /// Forecasts for the rows of `data`: without exogenous columns, `horizon` steps (default
    /// the trained horizon) for each series id found in `data` (read from `id_columns`,
    /// default the trained id columns), in order of first appearance; with exogenous
    /// columns, through the future rows of `data` (ids, times and the exogenous values).
    ///
    /// # Errors
    /// [`ModelError::Invalid`] for a `horizon` given to a model with exogenous columns;
    /// as [`ForecastModel::predict`] and [`ForecastModel::predict_future`].
    pub fn predict_table(
        &self,
        data: &Table,
        id_columns: Option<&[String]>,
        horizon: Option<usize>,
    ) -> Result<Table> {
        let mut format = self.config.format.clone();
        if let Some(id) = id_columns.filter(|id| !id.is_empty()) {
            format.id = id.to_vec();
        }
        if format.exog.is_empty() {
            let ids = crate::series::series_ids(data, &format.id)?;
            return self.predict(Some(&ids), horizon.unwrap_or(self.config.horizon));
        }
        if horizon.is_some() {
            return Err(ModelError::Invalid {
                field: "horizon",
                reason: format!(
                    "the model uses exogenous columns ({}): it forecasts through the future rows given",
                    format.exog.join(", ")
                ),
            });
        }
        let future = SeriesSet::future_from_table(data, &format, self.calendar)?;
        self.predict_future(&future)
    }

    /// Forecasts the series of `future` (read with [`SeriesSet::future_from_table`] on this
    /// model's calendar): each from the step after its last training value through its last
    /// future row, with the future values of the exogenous columns.
    ///
    /// # Errors
    /// [`ModelError::UnknownSeries`], [`ModelError::Invalid`] when a series' future rows do not
    /// start right after its training data, [`ModelError::Forecast`] naming the series.
    pub fn predict_future(&self, future: &SeriesSet) -> Result<Table> {
        let index: HashMap<&str, &SeriesModel> =
            self.series.iter().map(|s| (s.id.as_str(), s)).collect();
        let forecasts = future
            .series
            .par_iter()
            .map(|f| {
                let s = index
                    .get(f.id.as_str())
                    .ok_or_else(|| ModelError::UnknownSeries { series: f.id.clone() })?;
                let next = self.calendar.advance(s.last_time, 1);
                if f.start != next {
                    return Err(ModelError::Invalid {
                        field: "input",
                        reason: format!(
                            "series '{}': future rows must start at {}, the step after the training data, not {}",
                            f.id,
                            format_time(self.kind, next),
                            format_time(self.kind, f.start)
                        ),
                    });
                }
                self.forecast_series(s, f.values.len(), &f.exog).map(|fc| (*s, fc))
            })
            .collect::<Result<Vec<_>>>()?;
        self.forecast_table(&forecasts)
    }

    fn select(&self, ids: Option<&[String]>) -> Result<Vec<&SeriesModel>> {
        let Some(ids) = ids else {
            return Ok(self.series.iter().collect());
        };
        let index: HashMap<&str, &SeriesModel> =
            self.series.iter().map(|s| (s.id.as_str(), s)).collect();
        ids.iter()
            .map(|id| {
                index
                    .get(id.as_str())
                    .copied()
                    .ok_or_else(|| ModelError::UnknownSeries { series: id.clone() })
            })
            .collect()
    }

    /// `horizon` forecasts of `s`, plus the effect of the future exogenous values `exog` (one
    /// column per exogenous variable, at least `horizon` long; empty without them).
    fn forecast_series(
        &self,
        s: &SeriesModel,
        horizon: usize,
        exog: &[Vec<f64>],
    ) -> Result<Forecast> {
        let needed = s.exog_coefficients.len();
        if exog.len() != needed || exog.iter().any(|c| c.len() < horizon) {
            return Err(ModelError::Invalid {
                field: "exog",
                reason: format!(
                    "series '{}': {horizon} future values of {needed} exogenous column(s) are needed",
                    s.id
                ),
            });
        }
        let f = with_exog_effect(s.fitted.forecast(horizon), &s.exog_coefficients, exog);
        if f.mean.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Forecast {
                series: s.id.clone(),
                source: ForecastError::NonFinite {
                    position: f.mean.iter().position(|v| !v.is_finite()).unwrap_or(0),
                    value: f64::NAN,
                },
            });
        }
        Ok(f)
    }

    fn forecast_table(&self, forecasts: &[(&SeriesModel, Forecast)]) -> Result<Table> {
        let rows: usize = forecasts.iter().map(|(_, f)| f.len()).sum();
        let mut ids: Vec<Vec<String>> = vec![Vec::with_capacity(rows); self.config.format.id.len()];
        let mut times = Vec::with_capacity(rows);
        let mut steps = Vec::with_capacity(rows);
        let mut mean = Vec::with_capacity(rows);
        let mut bounds: [Vec<Option<f64>>; 4] = Default::default();
        for (s, f) in forecasts {
            for k in 0..f.len() {
                for (column, part) in ids.iter_mut().zip(&s.id_parts) {
                    column.push(part.clone());
                }
                times.push(self.calendar.advance(s.last_time, k as i64 + 1));
                steps.push(k as u32 + 1);
                mean.push(f.mean[k]);
                let b = [&f.lower95, &f.lower80, &f.upper80, &f.upper95];
                for (out, band) in bounds.iter_mut().zip(b) {
                    out.push(band.as_ref().map(|v| v[k]));
                }
            }
        }
        let mut columns: Vec<(String, ArrayRef)> = self
            .config
            .format
            .id
            .iter()
            .zip(ids)
            .map(|(name, values)| {
                (
                    name.clone(),
                    Arc::new(StringArray::from(values)) as ArrayRef,
                )
            })
            .collect();
        columns.push((self.config.format.time.clone(), self.time_array(times)));
        columns.push((STEP_COLUMN.into(), Arc::new(UInt32Array::from(steps))));
        columns.push((FORECAST_COLUMN.into(), Arc::new(Float64Array::from(mean))));
        for (name, values) in INTERVAL_COLUMNS.iter().zip(bounds) {
            columns.push((name.to_string(), Arc::new(Float64Array::from(values))));
        }
        Ok(table_from_columns(columns)?)
    }

    /// Times as dates when every one is a midnight, as timestamps otherwise, or as integers.
    fn time_array(&self, times: Vec<i64>) -> ArrayRef {
        match self.kind {
            TimeKind::Index => Arc::new(Int64Array::from(times)),
            TimeKind::Seconds => {
                let days: Option<Vec<i32>> = times.iter().map(|t| epoch_days(*t)).collect();
                match days {
                    Some(d) => Arc::new(Date32Array::from(d)),
                    None => Arc::new(TimestampSecondArray::from(times)),
                }
            }
        }
    }

    /// The signature this model is saved with: the id columns (and an optional horizon) in,
    /// the forecast table out.
    pub fn signature(&self) -> Signature {
        let id_columns = || -> Vec<ColumnSpec> {
            let ids = self.config.format.id.iter();
            ids.map(|c| ColumnSpec::required(c, "string")).collect()
        };
        let mut inputs = id_columns();
        let time_type = if self.kind == TimeKind::Index {
            "long"
        } else {
            "datetime"
        };
        if self.config.format.exog.is_empty() {
            inputs.push(ColumnSpec::optional("horizon", "long"));
        } else {
            inputs.push(ColumnSpec::required(&self.config.format.time, time_type));
            let exog = self.config.format.exog.iter();
            inputs.extend(exog.map(|c| ColumnSpec::required(c, "double")));
        }
        let mut outputs = id_columns();
        outputs.push(ColumnSpec::required(&self.config.format.time, time_type));
        outputs.push(ColumnSpec::required(STEP_COLUMN, "long"));
        outputs.push(ColumnSpec::required(FORECAST_COLUMN, "double"));
        outputs.extend(
            INTERVAL_COLUMNS
                .iter()
                .map(|c| ColumnSpec::optional(c, "double")),
        );
        Signature { inputs, outputs }
    }

    /// An input example: the first few series ids with the default horizon, or, for a model
    /// with exogenous columns, the ids, the next time and placeholder exogenous values (0).
    pub fn input_example(&self) -> Value {
        let format = &self.config.format;
        let mut columns: Vec<Value> = format.id.iter().map(|c| json!(c)).collect();
        if format.exog.is_empty() {
            columns.push(json!("horizon"));
        } else {
            columns.push(json!(format.time));
            columns.extend(format.exog.iter().map(|c| json!(c)));
        }
        let data: Vec<Value> = self
            .series
            .iter()
            .take(3)
            .map(|s| {
                let mut row: Vec<Value> = s.id_parts.iter().map(|p| json!(p)).collect();
                if format.exog.is_empty() {
                    row.push(json!(self.config.horizon));
                } else {
                    let next = self.calendar.advance(s.last_time, 1);
                    row.push(json!(format_time(self.kind, next)));
                    row.extend(format.exog.iter().map(|_| json!(0.0)));
                }
                Value::Array(row)
            })
            .collect();
        json!({"columns": columns, "data": data})
    }

    /// Scores the model's forecasts against the actual values in `actuals` (series read with
    /// the model's long format), joined on series and time: overall and per-series metrics,
    /// and per-step MAE. Actual values at or before a series' last training time are ignored.
    ///
    /// # Errors
    /// [`ModelError::UnknownSeries`] for a series of `actuals` the model does not know,
    /// [`ModelError::Invalid`] when no actual value falls after the training data or a time
    /// is off the model's calendar, [`ModelError::Forecast`] naming the series.
    pub fn evaluate(&self, actuals: &SeriesSet) -> Result<Evaluation> {
        let index: HashMap<&str, &SeriesModel> =
            self.series.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut rows = Vec::new();
        for a in &actuals.series {
            let s = index
                .get(a.id.as_str())
                .ok_or_else(|| ModelError::UnknownSeries {
                    series: a.id.clone(),
                })?;
            rows.extend(self.joined_rows(s, a, actuals)?);
        }
        if rows.is_empty() {
            return Err(ModelError::Invalid {
                field: "actuals",
                reason: "no value falls after the training data of its series".into(),
            });
        }
        Ok(Evaluation::of(&rows, &index))
    }

    fn joined_rows(
        &self,
        s: &SeriesModel,
        a: &Series,
        actuals: &SeriesSet,
    ) -> Result<Vec<ScoredPoint>> {
        let first = steps_between(self.calendar, s.last_time, a.start).ok_or_else(|| {
            ModelError::Invalid {
                field: "actuals",
                reason: format!(
                    "series '{}': time {} is not on the model's {} calendar",
                    a.id,
                    format_time(actuals.kind, a.start),
                    self.calendar.name(self.kind)
                ),
            }
        })?;
        let points: Vec<(i64, f64)> = a
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (first + i as i64, *v))
            .filter(|(step, _)| *step >= 1)
            .collect();
        let Some(max_step) = points.iter().map(|p| p.0).max() else {
            return Ok(Vec::new());
        };
        let exog = if self.config.format.exog.is_empty() {
            Vec::new()
        } else if first != 1 {
            return Err(ModelError::Invalid {
                field: "actuals",
                reason: format!(
                    "series '{}': with exogenous columns the actuals must start right after the training data",
                    a.id
                ),
            });
        } else {
            a.exog.clone()
        };
        let f = self.forecast_series(s, max_step as usize, &exog)?;
        Ok(points
            .into_iter()
            .map(|(step, actual)| {
                let k = step as usize - 1;
                ScoredPoint {
                    series: s.id.clone(),
                    step: step as u32,
                    actual,
                    forecast: f.mean[k],
                    lo80: f.lower80.as_ref().map(|v| v[k]),
                    hi80: f.upper80.as_ref().map(|v| v[k]),
                    lo95: f.lower95.as_ref().map(|v| v[k]),
                    hi95: f.upper95.as_ref().map(|v| v[k]),
                }
            })
            .collect())
    }
}

/// Steps from `from` to `to` on `calendar`, or `None` when `to` is off the grid.
fn steps_between(calendar: Calendar, from: i64, to: i64) -> Option<i64> {
    match calendar {
        Calendar::Fixed(s) => ((to - from) % s == 0).then_some((to - from) / s),
        Calendar::Months(_) => (-1..=100_000).find(|k| calendar.advance(from, *k) == to),
    }
}

struct ScoredPoint {
    series: String,
    step: u32,
    actual: f64,
    forecast: f64,
    lo80: Option<f64>,
    hi80: Option<f64>,
    lo95: Option<f64>,
    hi95: Option<f64>,
}

/// Forecast accuracy of a model on actual values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Scored points.
    pub points: usize,
    /// Metric → value over every point: `mae`, `rmse`, `smape`, `mase` (per-series stored
    /// scales, mean over points), `wape`, `bias`, `coverage80`, `coverage95`, `pinball10`,
    /// `pinball90` (from the 80 % bounds). Undefined metrics are absent.
    pub overall: BTreeMap<String, f64>,
    /// Series → metric → value (`mae`, `smape`, `mase`).
    pub per_series: BTreeMap<String, BTreeMap<String, f64>>,
    /// Horizon step → MAE over the series.
    pub per_step_mae: BTreeMap<u32, f64>,
}

impl Evaluation {
    fn of(rows: &[ScoredPoint], models: &HashMap<&str, &SeriesModel>) -> Evaluation {
        let actual: Vec<f64> = rows.iter().map(|r| r.actual).collect();
        let forecast: Vec<f64> = rows.iter().map(|r| r.forecast).collect();
        let mut overall = BTreeMap::new();
        let mut put = |name: &str, v: std::result::Result<f64, metrics::MetricError>| {
            if let Ok(v) = v
                && v.is_finite()
            {
                overall.insert(name.to_string(), v);
            }
        };
        put("mae", metrics::mae(&actual, &forecast));
        put("rmse", metrics::rmse(&actual, &forecast));
        put("smape", metrics::smape(&actual, &forecast));
        put("wape", metrics::wape(&actual, &forecast));
        put("bias", metrics::bias(&actual, &forecast));
        let scaled: Option<Vec<f64>> = rows
            .iter()
            .map(|r| {
                let scale = models.get(r.series.as_str())?.mase_scale?;
                Some((r.actual - r.forecast).abs() / scale)
            })
            .collect();
        if let Some(scaled) = scaled {
            put("mase", Ok(scaled.iter().sum::<f64>() / scaled.len() as f64));
        }
        let band = |lo: fn(&ScoredPoint) -> Option<f64>, hi: fn(&ScoredPoint) -> Option<f64>| {
            let l: Option<Vec<f64>> = rows.iter().map(lo).collect();
            let h: Option<Vec<f64>> = rows.iter().map(hi).collect();
            l.zip(h)
        };
        if let Some((l, h)) = band(|r| r.lo80, |r| r.hi80) {
            put("coverage80", metrics::interval_coverage(&actual, &l, &h));
            put("pinball10", metrics::pinball(&actual, &l, 0.1));
            put("pinball90", metrics::pinball(&actual, &h, 0.9));
        }
        if let Some((l, h)) = band(|r| r.lo95, |r| r.hi95) {
            put("coverage95", metrics::interval_coverage(&actual, &l, &h));
        }
        Evaluation {
            points: rows.len(),
            overall,
            per_series: per_series(rows, models),
            per_step_mae: per_step(rows),
        }
    }
}

fn per_series(
    rows: &[ScoredPoint],
    models: &HashMap<&str, &SeriesModel>,
) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut groups: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in rows {
        let g = groups.entry(&r.series).or_default();
        g.0.push(r.actual);
        g.1.push(r.forecast);
    }
    groups
        .into_iter()
        .map(|(id, (a, f))| {
            let mut m = BTreeMap::new();
            if let Ok(v) = metrics::mae(&a, &f) {
                m.insert("mae".to_string(), v);
                if let Some(scale) = models.get(id).and_then(|s| s.mase_scale) {
                    m.insert("mase".to_string(), v / scale);
                }
            }
            if let Ok(v) = metrics::smape(&a, &f) {
                m.insert("smape".to_string(), v);
            }
            (id.to_string(), m)
        })
        .collect()
}

fn per_step(rows: &[ScoredPoint]) -> BTreeMap<u32, f64> {
    let mut groups: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
    for r in rows {
        let g = groups.entry(r.step).or_default();
        g.0 += (r.actual - r.forecast).abs();
        g.1 += 1;
    }
    groups
        .into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

fn fit_series(
    set: &SeriesSet,
    s: &Series,
    method: Method,
    candidates: &[usize],
    configured: bool,
    horizon: usize,
) -> Result<SeriesModel> {
    let x = &s.values;
    let coefficients = exog_coefficients(x, &s.exog);
    let adjusted = without_exog_effect(x, &coefficients, &s.exog);
    let (seasons, fallback) = choose_seasons(&adjusted, candidates, configured);
    let fitted =
        fit(method, &adjusted, horizon, &seasons).map_err(|source| ModelError::Forecast {
            series: s.id.clone(),
            source,
        })?;
    let shortest = seasons.first().copied().unwrap_or(1);
    Ok(SeriesModel {
        id_parts: s.id_parts.clone(),
        id: s.id.clone(),
        last_time: set.last_time(s),
        n_obs: x.len(),
        filled: s.filled,
        model: fitted.model_name().to_string(),
        fallback: fallback.or_else(|| fitted.fallback().map(str::to_string)),
        exog_coefficients: coefficients,
        seasons,
        mase_scale: metrics::mase_scale(x, shortest)
            .ok()
            .filter(|v| *v > 0.0 && v.is_finite()),
        fitted,
    })
}

fn seasons_key(seasons: &[usize]) -> String {
    if seasons.is_empty() {
        return "none".to_string();
    }
    seasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The seasons for series `x`: the candidate periods (shortest first) the series holds three
/// cycles of and, when the periods were not configured, that [`detect_seasonality`] finds in
/// the data. When configured periods could not be used, the reason is returned.
fn choose_seasons(
    x: &[f64],
    candidates: &[usize],
    configured: bool,
) -> (Vec<usize>, Option<String>) {
    let mut sorted: Vec<usize> = candidates.iter().copied().filter(|&m| m > 1).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let long_enough: Vec<usize> = sorted
        .iter()
        .copied()
        .filter(|&m| x.len() >= 3 * m)
        .collect();
    let usable = if configured {
        long_enough
    } else {
        detect_seasonality(x, &long_enough).unwrap_or_default()
    };
    let dropped: Vec<String> = sorted
        .iter()
        .filter(|m| !usable.contains(m))
        .map(ToString::to_string)
        .collect();
    let fallback = (configured && !dropped.is_empty()).then(|| {
        format!(
            "too short for season {} ({} values; a season needs three cycles): {}",
            dropped.join(","),
            x.len(),
            if usable.is_empty() {
                "fitted without seasonality"
            } else {
                "fitted with the shorter seasons"
            }
        )
    });
    (usable, fallback)
}

/// Rolling-origin backtest of `config` on every series of `set`: `windows` windows of
/// `config.horizon` steps, one horizon apart, each series with the season training would
/// choose for it. Series too short for the windows are skipped and listed. `progress` is
/// called once per series.
///
/// # Errors
/// [`ModelError::Invalid`] for an unknown method or zero windows or horizon;
/// [`ModelError::Backtest`] naming the series when a window fails.
pub fn backtest(
    set: &SeriesSet,
    config: &ForecastConfig,
    windows: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<BacktestMany> {
    let (method, candidates) = config.resolve(set)?;
    if windows == 0 {
        return Err(ModelError::Invalid {
            field: "windows",
            reason: "must be at least 1".into(),
        });
    }
    let per_series = set
        .series
        .par_iter()
        .map(|s| {
            let coefficients = exog_coefficients(&s.values, &s.exog);
            let adjusted = without_exog_effect(&s.values, &coefficients, &s.exog);
            let (seasons, _) = choose_seasons(&adjusted, &candidates, config.seasons.is_some());
            let spec = BacktestSpec {
                horizon: config.horizon,
                windows,
                step: config.horizon,
                season: seasons.first().copied().unwrap_or(1),
            };
            let forecaster = |train: &[f64], h: usize| {
                let n = train.len();
                let past: Vec<Vec<f64>> = s.exog.iter().map(|c| c[..n].to_vec()).collect();
                let future: Vec<Vec<f64>> = s.exog.iter().map(|c| c[n..n + h].to_vec()).collect();
                let coefficients = exog_coefficients(train, &past);
                let adjusted = without_exog_effect(train, &coefficients, &past);
                let f = fit(method, &adjusted, h, &seasons)?.forecast(h);
                Ok(with_exog_effect(f, &coefficients, &future))
            };
            let result = backtest_with(&s.id, &s.values, spec, &forecaster);
            progress();
            match result {
                Ok(b) => Ok(Ok(SeriesBacktest {
                    name: s.id.clone(),
                    backtest: b,
                })),
                Err(e @ BacktestError::TooShort { .. }) => Ok(Err((s.id.clone(), e.to_string()))),
                Err(e) => Err(e),
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut merged = BacktestMany {
        series: Vec::new(),
        skipped: Vec::new(),
        pooled: BTreeMap::new(),
    };
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for one in per_series {
        match one {
            Ok(s) => {
                for w in &s.backtest.windows {
                    for (k, v) in &w.metrics {
                        values.entry(k.clone()).or_default().push(*v);
                    }
                }
                merged.series.push(s);
            }
            Err(skipped) => merged.skipped.push(skipped),
        }
    }
    merged.pooled = values
        .into_iter()
        .filter_map(|(k, v)| Summary::of(&v).map(|s| (k, s)))
        .collect();
    Ok(merged)
}

/// Least-squares coefficients of the exogenous columns `exog` for `y` (with an intercept,
/// which stays in the series): the normal equations of the centred data, solved by Gaussian
/// elimination with partial pivoting; a column without variation (or collinear with earlier
/// ones) gets 0. Empty without exogenous columns.
pub fn exog_coefficients(y: &[f64], exog: &[Vec<f64>]) -> Vec<f64> {
    let k = exog.len();
    let n = y.len();
    if k == 0 || n < 2 {
        return vec![0.0; k];
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let my = mean(y);
    let mx: Vec<f64> = exog.iter().map(|c| mean(c)).collect();
    let mut a = vec![vec![0.0; k + 1]; k];
    for i in 0..k {
        for j in 0..k {
            a[i][j] = (0..n)
                .map(|t| (exog[i][t] - mx[i]) * (exog[j][t] - mx[j]))
                .sum();
        }
        a[i][k] = (0..n).map(|t| (exog[i][t] - mx[i]) * (y[t] - my)).sum();
    }
    let scale = (0..k)
        .map(|i| a[i][i])
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut solved = vec![false; k];
    for col in 0..k {
        let pivot = (col..k).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()));
        let Some(p) = pivot.filter(|&p| a[p][col].abs() > 1e-10 * scale) else {
            continue;
        };
        a.swap(col, p);
        solved[col] = true;
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let factor = row[col] / pivot_row[col];
                for (cell, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *cell -= factor * p;
                }
            }
        }
    }
    (0..k)
        .map(|i| if solved[i] { a[i][k] / a[i][i] } else { 0.0 })
        .map(|b| if b.is_finite() { b } else { 0.0 })
        .collect()
}

fn exog_effect(coefficients: &[f64], exog: &[Vec<f64>], t: usize) -> f64 {
    coefficients.iter().zip(exog).map(|(b, c)| b * c[t]).sum()
}

fn without_exog_effect(y: &[f64], coefficients: &[f64], exog: &[Vec<f64>]) -> Vec<f64> {
    if coefficients.is_empty() {
        return y.to_vec();
    }
    (0..y.len())
        .map(|t| y[t] - exog_effect(coefficients, exog, t))
        .collect()
}

/// `f` with the effect of the future exogenous values added to the mean and every bound.
fn with_exog_effect(f: Forecast, coefficients: &[f64], exog: &[Vec<f64>]) -> Forecast {
    if coefficients.is_empty() || exog.len() != coefficients.len() {
        return f;
    }
    let effect: Vec<f64> = (0..f.len())
        .map(|t| exog_effect(coefficients, exog, t))
        .collect();
    let shift = |v: Vec<f64>| -> Vec<f64> { v.iter().zip(&effect).map(|(a, e)| a + e).collect() };
    Forecast {
        mean: shift(f.mean),
        lower80: f.lower80.map(shift),
        upper80: f.upper80.map(shift),
        lower95: f.lower95.map(shift),
        upper95: f.upper95.map(shift),
    }
}
