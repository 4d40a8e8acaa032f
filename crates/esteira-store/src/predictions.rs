//! The prediction log's index and the ground truth of served endpoints.
//!
//! The predictions themselves are Parquet files in the artifact store (written by the
//! serving crate); this store only indexes them by endpoint and time so that a time window
//! can be read without listing the artifact store. Ground truth (the observed value of a
//! prediction, arriving later) is kept here, matched to predictions by request id or by
//! forecast series and time.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::error::invalid;

/// One Parquet file of logged predictions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionFile {
    /// The endpoint whose predictions the file holds.
    pub endpoint: String,
    /// The file's artifact path (unique).
    pub path: String,
    /// How many predictions it holds.
    pub rows: i64,
    /// The earliest prediction time in it, milliseconds since the epoch.
    pub first_time: i64,
    /// The latest prediction time in it, milliseconds since the epoch.
    pub last_time: i64,
}

impl PredictionFile {
    /// Checks the fields: a non-empty endpoint and path, at least one row, and
    /// `first_time <= last_time`.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        if self.endpoint.trim().is_empty() {
            return Err(invalid("prediction file: 'endpoint' must not be empty"));
        }
        if self.path.trim().is_empty() {
            return Err(invalid("prediction file: 'path' must not be empty"));
        }
        if self.rows < 1 {
            return Err(invalid(format!(
                "prediction file {}: 'rows' must be at least 1, got {}",
                self.path, self.rows
            )));
        }
        if self.first_time > self.last_time {
            return Err(invalid(format!(
                "prediction file {}: 'first_time' {} is after 'last_time' {}",
                self.path, self.first_time, self.last_time
            )));
        }
        Ok(())
    }
}

/// The observed value for a prediction: matched by `request_id`, or (forecasts) by
/// `series` and `time`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The endpoint the prediction came from.
    pub endpoint: String,
    /// The request the value answers.
    pub request_id: Option<String>,
    /// The forecast series the value belongs to.
    pub series: Option<String>,
    /// The forecast time step the value belongs to, as the forecast wrote it.
    pub time: Option<String>,
    /// The observed value (a number, a label, ...); never JSON `null`.
    pub value: serde_json::Value,
    /// When the value was received, milliseconds since the epoch.
    pub received_ms: i64,
}

impl GroundTruth {
    /// Checks the fields: a non-empty endpoint; a non-empty `request_id`, or both a
    /// non-empty `series` and `time`; a `series` never without its `time` (nor the
    /// reverse); a value that is not `null`.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if self.endpoint.trim().is_empty() {
            return Err(invalid("ground truth: 'endpoint' must not be empty"));
        }
        match (present(&self.series), present(&self.time)) {
            (true, false) => {
                return Err(invalid(
                    "ground truth: 'time' is required with 'series' (a forecast value is matched by both)",
                ));
            }
            (false, true) => {
                return Err(invalid(
                    "ground truth: 'series' is required with 'time' (a forecast value is matched by both)",
                ));
            }
            (false, false) if !present(&self.request_id) => {
                return Err(invalid(
                    "ground truth: 'request_id' is required (or 'series' and 'time' for a forecast)",
                ));
            }
            _ => {}
        }
        if self.value.is_null() {
            return Err(invalid("ground truth: 'value' must not be null"));
        }
        Ok(())
    }
}

/// The prediction log's index and the ground truth.
///
/// Time windows are half-open: `from_ms <= t < to_ms`.
#[async_trait]
pub trait PredictionStore: Send + Sync {
    /// Indexes a prediction file. Adding a path that is already indexed changes nothing (so
    /// a retried write is harmless).
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming the field (see [`PredictionFile::validate`]).
    async fn add_prediction_file(&self, file: &PredictionFile) -> Result<()>;
    /// The files of `endpoint` holding predictions made in the window (those whose
    /// `[first_time, last_time]` meets it), by `first_time` then path.
    async fn list_prediction_files(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PredictionFile>>;
    /// Stores ground truth values, all or none. A value given twice is kept twice (the
    /// later one is listed after the earlier).
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming the record's index and the field (see
    /// [`GroundTruth::validate`]); nothing is stored then.
    async fn add_ground_truth(&self, records: &[GroundTruth]) -> Result<()>;
    /// The ground truth of `endpoint` received in the window, by `received_ms` then in the
    /// order added.
    async fn list_ground_truth(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<GroundTruth>>;
}
