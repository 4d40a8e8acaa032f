//! The pipeline crate's error type.

use std::fmt;

use esteira_core::ErrorCode;

/// A problem in a pipeline file, located in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecProblem {
    /// The file, as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The offending key, dotted (`steps.train.inputs.data`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.key, self.message
        )
    }
}

/// A pipeline failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file has errors; every one found is listed.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Spec(Vec<SpecProblem>),
    /// A run-time argument (a `--param`, `--from`, a trigger name...) is wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument's name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A pipeline, run, step or trigger does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] esteira_store::Error),
    /// The artifact store failed.
    #[error(transparent)]
    Artifacts(#[from] esteira_artifacts::Error),
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// The public error code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Spec(_) | Error::Invalid { .. } => ErrorCode::InvalidParameterValue,
            Error::NotFound(_) => ErrorCode::ResourceDoesNotExist,
            Error::Store(e) => e.code(),
            Error::Artifacts(e) => match e {
                esteira_artifacts::Error::InvalidPath { .. } => ErrorCode::InvalidParameterValue,
                esteira_artifacts::Error::NotFound { .. } => ErrorCode::ResourceDoesNotExist,
                _ => ErrorCode::InternalError,
            },
            Error::Io { .. } => ErrorCode::InternalError,
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// An [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A pipeline result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
