//! The store's error type.

use esteira_core::ErrorCode;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure the user caused or can see (missing entity, bad value, ...).
    #[error(transparent)]
    Domain(#[from] esteira_core::Error),
    /// The database failed or is unreachable. The cause is part of the message and not
    /// repeated as a source.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A migration could not be applied.
    #[error("migration {version} ({name}) failed: {cause}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The migration's name.
        name: String,
        /// The database error.
        cause: sqlx::Error,
    },
    /// The store URL is not one this crate can open.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    /// The public error code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Domain(e) => e.code,
            Error::Database(_) | Error::Migration { .. } => ErrorCode::InternalError,
            Error::InvalidUrl { .. } => ErrorCode::InvalidParameterValue,
        }
    }

    /// The message for the user.
    pub fn message(&self) -> String {
        match self {
            Error::Domain(e) => e.message.clone(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<esteira_core::search::SearchError> for Error {
    fn from(e: esteira_core::search::SearchError) -> Self {
        Error::Domain(e.into())
    }
}

/// Result with the store [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn not_found(message: impl Into<String>) -> Error {
    Error::Domain(esteira_core::Error::not_found(message))
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::Domain(esteira_core::Error::invalid(message))
}
