//! Errors of the API: a status and a message that names the input at fault
//! and the fix, sent as `{"error": message, "status": code}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::storage::{self, ErrorKind};

/// An API error.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// For 405: the methods the path takes (the `Allow` header).
    pub(crate) allow: Vec<String>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, naming the input at fault and the fix.
    pub(crate) error: String,
    /// The HTTP status, repeated for clients that lose it.
    pub(crate) status: u16,
}

/// The API's result.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), allow: Vec::new() }
    }

    /// 400: the request is wrong.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: something named does not exist.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: a stale lease, or a state that forbids the operation.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 500, for what should not happen.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), "{}", self.message);
        }
        let body = ErrorBody { error: self.message, status: self.status.as_u16() };
        let mut response = (self.status, Json(body)).into_response();
        if let Ok(allow) = axum::http::HeaderValue::from_str(&self.allow.join(", "))
            && !self.allow.is_empty()
        {
            response.headers_mut().insert("allow", allow);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<storage::Error> for ApiError {
    fn from(e: storage::Error) -> Self {
        let status = match (&e, e.kind()) {
            (storage::Error::TooLarge { .. }, _) => StatusCode::PAYLOAD_TOO_LARGE,
            (_, ErrorKind::BadInput) => StatusCode::BAD_REQUEST,
            (_, ErrorKind::NotFound) => StatusCode::NOT_FOUND,
            (_, ErrorKind::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl From<anyhow::Error> for ApiError {
    /// Errors of the CLI's shared helpers: a store error keeps its class, a
    /// "does not exist" is 404, the rest are bad input (the helpers only
    /// `bail!` on what they were given).
    fn from(e: anyhow::Error) -> Self {
        let message = format!("{e:#}");
        if let Some(s) = e.chain().find_map(|c| c.downcast_ref::<storage::Error>()) {
            return Self { message, ..ApiError::from_kind(s) };
        }
        Self::bad_request(message)
    }
}

impl From<crate::cli::Error> for ApiError {
    /// Errors of the CLI's shared helpers: a store error keeps its class, a
    /// "does not exist" is 404, the rest are bad input (the helpers only
    /// fail on what they were given).
    fn from(e: crate::cli::Error) -> Self {
        let message = format!("{e:#}");
        match (e.store_error(), e.code()) {
            (Some(s), _) => Self { message, ..ApiError::from_kind(s) },
            (None, crate::cli::exit::NOT_FOUND) => Self::not_found(message),
            _ => Self::bad_request(message),
        }
    }
}

impl ApiError {
    fn from_kind(e: &storage::Error) -> Self {
        let status = match e.kind() {
            ErrorKind::BadInput => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}
