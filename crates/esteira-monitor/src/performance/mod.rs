//! Model performance over delayed ground truth.
//!
//! - [`join`]: ground truth ([`GroundTruth`](esteira_store::predictions::GroundTruth)) paired
//!   with the logged predictions
//!   ([`PredictionRecord`](esteira_serving::log::PredictionRecord)), by request (tabular
//!   models) or by series and time (forecasts), with what could not be paired counted.
//! - [`evaluate`]: error metrics of the pairs per time window, per series and per horizon
//!   step (MAE, RMSE, MAPE, sMAPE, bias, MASE, accuracy); [`mase_scale`] for MASE.
//! - [`AlarmBand`]: mean ± k·σ of a metric's reference values, and whether a new value lies
//!   outside.

mod band;
mod join;
mod metrics;

pub use band::{AlarmBand, BandVerdict};
pub use join::{JoinOptions, Joined, Outcome, Pair, join, join_with};
pub use metrics::{
    Metrics, MetricsOptions, Report, WindowMetrics, WindowTime, evaluate, mase_scale,
};
