//! The monitoring crate's error.

use esteira_core::ErrorCode;

/// A monitoring failure.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A statistic cannot be computed on these samples (too few values, a constant or
    /// all-null column, an empty window); reported per column as "not computed".
    #[error("not computed: {0}")]
    NotComputed(String),
    /// A setting is invalid.
    #[error("{field}: {reason}")]
    Config {
        /// The setting, as the user wrote it.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Input data cannot be read or has the wrong shape.
    #[error("{source_name}: {reason}")]
    Input {
        /// The file, column or source at fault.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A retrain could not be started.
    #[error("cannot fire pipeline '{pipeline}': {reason}")]
    Retrain {
        /// The pipeline.
        pipeline: String,
        /// Why.
        reason: String,
    },
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] esteira_store::Error),
    /// The prediction log could not be read.
    #[error(transparent)]
    Log(#[from] esteira_serving::log::LogError),
}

impl From<esteira_ml::dataset::DatasetError> for MonitorError {
    fn from(e: esteira_ml::dataset::DatasetError) -> Self {
        MonitorError::Input {
            source_name: "dataset".into(),
            reason: e.to_string(),
        }
    }
}

impl MonitorError {
    /// The public error code: bad settings or input are `INVALID_PARAMETER_VALUE`, a
    /// statistic that cannot be computed or a retrain that cannot start `INVALID_STATE`,
    /// store errors keep theirs, an unreadable prediction log is `INTERNAL_ERROR`.
    pub fn code(&self) -> ErrorCode {
        match self {
            MonitorError::Config { .. } | MonitorError::Input { .. } => {
                ErrorCode::InvalidParameterValue
            }
            MonitorError::NotComputed(_) | MonitorError::Retrain { .. } => ErrorCode::InvalidState,
            MonitorError::Store(e) => e.code(),
            MonitorError::Log(_) => ErrorCode::InternalError,
        }
    }

    /// The message for the user.
    pub fn message(&self) -> String {
        match self {
            MonitorError::Store(e) => e.message(),
            other => other.to_string(),
        }
    }
}

/// The crate's result.
pub type Result<T, E = MonitorError> = std::result::Result<T, E>;
