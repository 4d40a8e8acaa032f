//! The public error codes and the error every user-visible failure becomes.

use serde::{Deserialize, Serialize};

/// A stable, public error code. The names are MLflow's, so that the `mlflow` client can
/// branch on them; `PayloadTooLarge` and `Unauthenticated` have no MLflow equivalent with a
/// distinct HTTP status and keep Esteira's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// A bug or an unavailable back end; the message says which.
    InternalError,
    /// A request field has a wrong value or type.
    InvalidParameterValue,
    /// The request could not be read at all (malformed JSON, wrong content type).
    BadRequest,
    /// The named resource does not exist.
    ResourceDoesNotExist,
    /// A resource with that name or key already exists.
    ResourceAlreadyExists,
    /// The resource is in a state that forbids the operation (e.g. a deleted experiment).
    InvalidState,
    /// No route serves this path and method.
    EndpointNotFound,
    /// A missing or wrong bearer token.
    Unauthenticated,
    /// The request body exceeds the configured limit.
    PayloadTooLarge,
    /// The request names a content type the endpoint does not accept.
    UnsupportedMediaType,
    /// The work did not finish within its time limit.
    DeadlineExceeded,
}

impl ErrorCode {
    /// The code as it appears in JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user-visible failure: a stable code and a message naming the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

/// Result with the core [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// `INVALID_PARAMETER_VALUE` with the message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }

    /// `RESOURCE_DOES_NOT_EXIST` with the message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }

    /// `RESOURCE_ALREADY_EXISTS` with the message.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceAlreadyExists, message)
    }

    /// `INVALID_STATE` with the message.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }

    /// `INTERNAL_ERROR` with the message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }
}

impl From<crate::search::SearchError> for Error {
    fn from(e: crate::search::SearchError) -> Self {
        Error::invalid(e.to_string())
    }
}
