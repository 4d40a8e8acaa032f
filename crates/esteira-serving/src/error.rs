//! The serving crate's error type.

use esteira_core::ErrorCode;

/// A serving failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or does not match the model's signature; `field` names the
    /// key or column at fault.
    #[error("{field}: {reason}")]
    BadInput {
        /// The JSON key, column or parameter at fault.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The body's content type is not JSON or CSV.
    #[error("unsupported content type {0:?}; use application/json or text/csv")]
    UnsupportedMediaType(String),
    /// The model could not be loaded.
    #[error("cannot load model {uri}: {reason}")]
    Load {
        /// Where it was loaded from.
        uri: String,
        /// Why it failed.
        reason: String,
    },
    /// The model failed while predicting.
    #[error("prediction failed: {0}")]
    Predict(String),
}

impl Error {
    /// A [`Error::BadInput`].
    pub fn bad_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::BadInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The public error code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadInput { .. } => ErrorCode::BadRequest,
            Error::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Error::Load { .. } | Error::Predict(_) => ErrorCode::InternalError,
        }
    }
}

/// A serving result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
