//! The error type of the artifact store.

/// Everything that can go wrong in this crate.
///
/// How a server would usually map them: [`Error::InvalidPath`], [`Error::InvalidUpload`] and
/// [`Error::Body`] are the client's fault (400); [`Error::NotFound`] and [`Error::UploadNotFound`]
/// are 404; [`Error::InvalidUrl`] is a configuration error found at start-up; [`Error::Io`] and
/// [`Error::Backend`] are the storage's fault (500/503).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The artifact path was rejected (traversal, absolute path, bad characters, a symbolic link
    /// leaving a local root, an operation that needs a file but was given the root, ...).
    #[error("invalid artifact path {path:?}: {reason}")]
    InvalidPath {
        /// The path as it was given.
        path: String,
        /// Why it was rejected, in words.
        reason: String,
    },
    /// No artifact exists at the path (or it is a directory where a file was expected).
    #[error("artifact not found: {path:?}")]
    NotFound {
        /// The artifact path that was asked for.
        path: String,
    },
    /// The artifact store URL could not be used.
    #[error("invalid artifact store url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL (any password in it is masked).
        url: String,
        /// Why it was rejected, in words.
        reason: String,
    },
    /// A multipart upload request was malformed: a bad upload id, a part number out of range,
    /// a part list that is empty, unordered or names a part never uploaded, or an upload id
    /// that belongs to another artifact path.
    #[error("invalid multipart upload {upload_id:?}: {reason}")]
    InvalidUpload {
        /// The upload id as it was given.
        upload_id: String,
        /// Why the request was rejected, in words.
        reason: String,
    },
    /// The multipart upload does not exist (never created, already completed or aborted).
    #[error("multipart upload not found: {upload_id:?}")]
    UploadNotFound {
        /// The upload id as it was given.
        upload_id: String,
    },
    /// Reading the body handed to an upload failed; nothing was stored.
    #[error("error reading the upload body: {0}")]
    Body(#[source] std::io::Error),
    /// A local file-system operation failed.
    #[error("artifact storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The object store back end failed.
    #[error("artifact storage error: {0}")]
    Backend(#[from] object_store::Error),
}

impl Error {
    pub(crate) fn invalid_path(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidPath {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_url(url: &str, reason: impl Into<String>) -> Self {
        Self::InvalidUrl {
            url: mask_password(url),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_upload(upload_id: &str, reason: impl Into<String>) -> Self {
        Self::InvalidUpload {
            upload_id: upload_id.to_string(),
            reason: reason.into(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Replaces a password in a URL by `***`, so that errors can be logged.
fn mask_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            if parsed.set_password(Some("***")).is_ok() {
                parsed.to_string()
            } else {
                "<url with credentials>".to_string()
            }
        }
        _ => raw.to_string(),
    }
}
