//! The monitoring crate's error.

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

/// The crate's result.
pub type Result<T, E = MonitorError> = std::result::Result<T, E>;
