//! The API error: a public code and a message, rendered as MLflow's JSON error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use esteira_core::ErrorCode;

/// An error answered to an API client as `{"error_code": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The public code.
    pub code: ErrorCode,
    /// What went wrong, naming the field and the reason.
    pub message: String,
}

/// Result of a handler or service function.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with the code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// `INVALID_PARAMETER_VALUE`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }
}

/// The HTTP status of each public error code. Exhaustive on purpose: a new code must be
/// given its status here.
pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::InvalidParameterValue
        | ErrorCode::BadRequest
        | ErrorCode::ResourceAlreadyExists
        | ErrorCode::InvalidState => StatusCode::BAD_REQUEST,
        ErrorCode::ResourceDoesNotExist | ErrorCode::EndpointNotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code == ErrorCode::InternalError {
            tracing::error!(message = %self.message, "Request failed with an internal error.");
        }
        let body = serde_json::json!({
            "error_code": self.code.as_str(),
            "message": self.message,
        });
        (status(self.code), axum::Json(body)).into_response()
    }
}

impl From<esteira_core::Error> for ApiError {
    fn from(e: esteira_core::Error) -> Self {
        ApiError::new(e.code, e.message)
    }
}

impl From<esteira_store::Error> for ApiError {
    fn from(e: esteira_store::Error) -> Self {
        ApiError::new(e.code(), e.message())
    }
}

impl From<esteira_pipeline::Error> for ApiError {
    fn from(e: esteira_pipeline::Error) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<esteira_monitor::MonitorError> for ApiError {
    fn from(e: esteira_monitor::MonitorError) -> Self {
        ApiError::new(e.code(), e.message())
    }
}

impl From<esteira_artifacts::Error> for ApiError {
    fn from(e: esteira_artifacts::Error) -> Self {
        use esteira_artifacts::Error as A;
        let code = match &e {
            A::InvalidPath { .. } | A::InvalidUrl { .. } => ErrorCode::InvalidParameterValue,
            A::NotFound { .. } => ErrorCode::ResourceDoesNotExist,
            _ => ErrorCode::InternalError,
        };
        ApiError::new(code, e.to_string())
    }
}
